#!/usr/bin/env bash
# Build this node (every *.c file of this folder) into a WebAssembly component
# and drop it into the plugins folder ($SAVEPOINT_PLUGINS, or the folder
# `savepoint new` was given).
set -euo pipefail
cd "$(dirname "$0")"
plugins="${SAVEPOINT_PLUGINS:-@PLUGINS@}"
mkdir -p "$plugins"
"@SDK@/c/build" . "$plugins/@NAME@.wasm"
echo "built $plugins/@NAME@.wasm"
