# shellcheck shell=bash
# Shared by the scripts in this folder: the toolchain that builds JavaScript
# nodes (guest-sdk/js: componentize-js and rolldown, pinned in its
# package.json and package-lock.json). Source it from the repository root.
#
# In a savepoint checkout the toolchain is installed into guest-sdk/js/node_modules.
# A node project's vendored copy of the SDK (made by `savepoint new`) shares one
# install per user and pinned lock file, in
# ${XDG_CACHE_HOME:-$HOME/.cache}/savepoint/js/<componentize-js version>-<lock digest>,
# which its node_modules links to: a project does not carry 150 MB of tools.

# True when $1/node_modules holds the pinned componentize-js ($2) and rolldown.
_js_tools_ok() {
    [[ -x "$1/node_modules/.bin/componentize-js" && -d "$1/node_modules/rolldown" ]] &&
        grep -q "\"version\": \"$2\"" "$1/node_modules/@bytecodealliance/componentize-js/package.json" 2>/dev/null
}

# Make guest-sdk/js/node_modules hold the pinned toolchain: `npm ci` when it is
# missing or another version, quietly.
ensure_js_tools() {
    local js
    js="$(cd "$(dirname "${BASH_SOURCE[0]}")/../guest-sdk/js" && pwd)"
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        echo "error: node and npm not found; install Node.js (>= 20.19) with npm" >&2
        exit 1
    fi
    local pinned
    pinned="$(sed -n 's/.*"@bytecodealliance\/componentize-js": "\(.*\)".*/\1/p' "$js/package.json")"
    _js_tools_ok "$js" "$pinned" && return 0
    if [[ -f "$js/../../host/cli/Cargo.toml" ]]; then
        echo "installing the JavaScript node toolchain (componentize-js $pinned) into guest-sdk/js/node_modules (once)" >&2
        (cd "$js" && npm ci --silent --no-audit --no-fund >&2)
        return
    fi
    # A vendored SDK: the per-user install for this lock file, made once (in a
    # temporary folder renamed into place, so parallel builds do not collide).
    local digest cache
    digest="$(sha256sum "$js/package-lock.json" | cut -c1-12)"
    cache="${XDG_CACHE_HOME:-$HOME/.cache}/savepoint/js/$pinned-$digest"
    if ! _js_tools_ok "$cache" "$pinned"; then
        echo "installing the JavaScript node toolchain (componentize-js $pinned) into $cache (once)" >&2
        mkdir -p "$(dirname "$cache")"
        local tmp
        tmp="$(mktemp -d "$cache.XXXXXX")"
        cp "$js/package.json" "$js/package-lock.json" "$tmp/"
        if ! (cd "$tmp" && npm ci --silent --no-audit --no-fund >&2); then
            rm -rf "$tmp"
            echo "error: npm ci failed in $tmp" >&2
            exit 1
        fi
        chmod 755 "$tmp"
        rm -rf "$cache"
        mv -T "$tmp" "$cache" 2>/dev/null || rm -rf "$tmp" # a parallel build won
    fi
    ln -sfn "$cache/node_modules" "$js/node_modules"
}
