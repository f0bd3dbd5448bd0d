# shellcheck shell=bash
# Shared by the scripts in this folder: what the dashboard's browser test
# (tests/e2e/browser.rs, driving tests/browser/dashboard.mjs) needs: Debian's
# chromium, and playwright-core from npm (pinned in tests/browser/package.json
# and package-lock.json). playwright-core never downloads a browser of its own:
# the test points it at /usr/bin/chromium. Source it from the repository root.

# Install chromium (apt-get, as root) when /usr/bin/chromium is missing, and
# tests/browser/node_modules (`npm ci`) when it is missing or its playwright-core
# is not the pinned version.
ensure_browser_tools() {
    local browser
    browser="$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/browser" && pwd)"
    if [[ ! -x /usr/bin/chromium ]]; then
        if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
            echo "error: /usr/bin/chromium not found; install Debian's chromium package (apt-get install chromium)" >&2
            exit 1
        fi
        echo "installing chromium for the browser test (once)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null ||
            { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
    fi
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        echo "error: node and npm not found; install Node.js (>= 20) with npm" >&2
        exit 1
    fi
    local pinned
    pinned="$(sed -n 's/.*"playwright-core": "\(.*\)".*/\1/p' "$browser/package.json")"
    if ! grep -q "\"version\": \"$pinned\"" "$browser/node_modules/playwright-core/package.json" 2>/dev/null; then
        echo "installing playwright-core $pinned into tests/browser/node_modules (once)" >&2
        (cd "$browser" && npm ci --silent --no-audit --no-fund >&2)
    fi
}
