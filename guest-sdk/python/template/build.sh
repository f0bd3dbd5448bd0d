#!/usr/bin/env bash
# Build this node into a WebAssembly component and install it as
# $SAVEPOINT_PLUGINS/@NAME@.wasm (default @PLUGINS@/@NAME@.wasm).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
plugins="${SAVEPOINT_PLUGINS:-@PLUGINS@}"

"@SDK@/python/build" "$here" "$here/build/@NAME@.wasm"
mkdir -p "$plugins"
cp "$here/build/@NAME@.wasm" "$plugins/@NAME@.wasm"
echo "installed $plugins/@NAME@.wasm" >&2
