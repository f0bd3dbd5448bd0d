# Shared by the scripts in this folder: install what the build needs when it
# is missing. Each language's installer lives in scripts/lib-<lang>.sh.

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for lib in "$here"/lib-*.sh; do
    [ -e "$lib" ] && source "$lib"
done

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

# Every guest toolchain: Rust for wasm32-wasip2, componentize-py (Python),
# componentize-js (JavaScript), clang + wasi-libc (C).
ensure_guest_toolchains() {
    ensure_wasm_target
    ensure_python_tools
    ensure_js_tools
    ensure_c_tools
}
