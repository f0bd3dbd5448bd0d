#!/usr/bin/env bash
# Build this node into a WebAssembly component and drop it into the plugins
# folder ($SAVEPOINT_PLUGINS, or the folder `savepoint new` was given).
set -euo pipefail
cd "$(dirname "$0")"
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi
cargo build --quiet --release --target wasm32-wasip2
plugins="${SAVEPOINT_PLUGINS:-@PLUGINS@}"
mkdir -p "$plugins"
cp "target/wasm32-wasip2/release/$(echo "@NAME@" | tr - _).wasm" "$plugins/@NAME@.wasm"
echo "built $plugins/@NAME@.wasm"
