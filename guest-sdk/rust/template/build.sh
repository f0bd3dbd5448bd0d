#!/usr/bin/env bash
# Build this node into a WebAssembly component and drop it into the plugins
# folder: $SAVEPOINT_PLUGINS, or ./plugins of the folder you run this from
# (savepoint's own default, so run it where you run savepoint).
#
# Every node project of a user builds in one target folder ($CARGO_TARGET_DIR,
# default ~/.cache/savepoint/target): the SDK's dependencies (wit-bindgen,
# serde) compile once, not once per project.
set -euo pipefail
plugins="${SAVEPOINT_PLUGINS:-plugins}"
mkdir -p "$plugins"
# The folder as the user named it is what the last line prints; `dest` survives the cd.
dest="$(cd "$plugins" && pwd)"
cd "$(dirname "${BASH_SOURCE[0]}")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/savepoint/target}"
if ! command -v cargo >/dev/null; then
    echo "error: cargo not found; install Rust from https://rustup.rs" >&2
    exit 1
fi
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-wasip2; then
    echo "installing the wasm32-wasip2 Rust target (once)" >&2
    rustup target add wasm32-wasip2
fi
cargo build --quiet --release --target wasm32-wasip2
cp "$CARGO_TARGET_DIR/wasm32-wasip2/release/@CRATE@.wasm" "$dest/@NAME@.wasm"
echo "built $plugins/@NAME@.wasm"
