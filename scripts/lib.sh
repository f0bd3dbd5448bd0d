# Shared by the scripts in this folder: install what the build needs when it
# is missing.

ensure_wasm_target() {
    if ! command -v cargo >/dev/null; then
        echo "error: cargo not found; install Rust from https://rustup.rs" >&2
        exit 1
    fi
    if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
        echo "installing the wasm32-wasip2 Rust target (once)" >&2
        rustup target add wasm32-wasip2
    fi
}

ensure_rust_components() {
    for component in rustfmt clippy; do
        if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
            rustup component add "$component"
        fi
    done
}
