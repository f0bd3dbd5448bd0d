#!/usr/bin/env bash
# Build this node into a WebAssembly component and drop it into the plugins
# folder: $SAVEPOINT_PLUGINS, or ./plugins of the folder you run this from
# (savepoint's own default, so run it where you run savepoint).
set -euo pipefail
plugins="${SAVEPOINT_PLUGINS:-plugins}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

SAVEPOINT_BUILD_QUIET=1 "$here/vendor/savepoint/guest-sdk/python/build" "$here" "$here/build/@NAME@.wasm"
mkdir -p "$plugins"
cp "$here/build/@NAME@.wasm" "$plugins/@NAME@.wasm"
echo "built $plugins/@NAME@.wasm"
