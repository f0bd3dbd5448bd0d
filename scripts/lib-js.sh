# shellcheck shell=bash
# Shared by the scripts in this folder: the toolchain that builds JavaScript
# nodes (guest-sdk/js: componentize-js and rolldown, pinned in its
# package.json and package-lock.json). Source it from the repository root.

# Install guest-sdk/js/node_modules with `npm ci` when the pinned
# componentize-js (or the bundler) is missing or another version, quietly.
ensure_js_tools() {
    local js
    js="$(cd "$(dirname "${BASH_SOURCE[0]}")/../guest-sdk/js" && pwd)"
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        echo "error: node and npm not found; install Node.js (>= 20.19) with npm" >&2
        exit 1
    fi
    local pinned
    pinned="$(sed -n 's/.*"@bytecodealliance\/componentize-js": "\(.*\)".*/\1/p' "$js/package.json")"
    if [[ -x "$js/node_modules/.bin/componentize-js" && -d "$js/node_modules/rolldown" ]] &&
        grep -q "\"version\": \"$pinned\"" "$js/node_modules/@bytecodealliance/componentize-js/package.json" 2>/dev/null; then
        return 0
    fi
    echo "installing the JavaScript node toolchain (componentize-js $pinned) into guest-sdk/js/node_modules (once)" >&2
    (cd "$js" && npm ci --silent --no-audit --no-fund >&2)
}
