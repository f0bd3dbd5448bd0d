# shellcheck shell=bash
# Shared by the scripts that build C nodes (scripts/test, scripts/build-plugins,
# guest-sdk/c/build): install the C toolchain for WebAssembly when it is missing.
#
# C nodes compile with Debian's clang 14 and wasi-libc, and link into a
# component with the `wasm-component-ld` of rustup's wasm32-wasip2 target.

# The Debian packages the C toolchain needs.
C_TOOL_PACKAGES=(clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32)

# True when clang 14, wasm-ld 14, wasi-libc and the wasm32 compiler-rt
# builtins are all installed.
c_tools_present() {
    command -v clang-14 >/dev/null 2>&1 &&
        [ -x /usr/lib/llvm-14/bin/wasm-ld ] &&
        [ -f /usr/include/wasm32-wasi/stdlib.h ] &&
        [ -f /usr/lib/wasm32-wasi/libc.a ] &&
        compgen -G '/usr/lib/llvm-14/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a' >/dev/null
}

# The path of rustup's wasm-component-ld (printed; empty when not found).
wasm_component_ld_path() {
    local sysroot host
    command -v rustc >/dev/null 2>&1 || return 0
    sysroot="$(rustc --print sysroot)"
    host="$(rustc -vV | sed -n 's/^host: //p')"
    if [ -x "$sysroot/lib/rustlib/$host/bin/wasm-component-ld" ]; then
        echo "$sysroot/lib/rustlib/$host/bin/wasm-component-ld"
    fi
}

# Install what is missing, quietly: the Debian packages (apt-get update only
# when an install is needed) and rustup's wasm32-wasip2 target (which ships
# wasm-component-ld).
ensure_c_tools() {
    if ! c_tools_present; then
        local sudo=()
        if [ "$(id -u)" != 0 ]; then
            if command -v sudo >/dev/null 2>&1; then
                sudo=(sudo)
            else
                echo "error: the C toolchain is missing; install it as root:" >&2
                echo "  apt-get install -y ${C_TOOL_PACKAGES[*]}" >&2
                return 1
            fi
        fi
        echo "installing the C toolchain for WebAssembly (once): ${C_TOOL_PACKAGES[*]}" >&2
        local log
        if ! log="$({ "${sudo[@]}" apt-get update -qq &&
            "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                --no-install-recommends "${C_TOOL_PACKAGES[@]}"; } 2>&1)"; then
            echo "$log" >&2
            echo "error: apt-get install ${C_TOOL_PACKAGES[*]} failed" >&2
            return 1
        fi
    fi
    if [ -z "$(wasm_component_ld_path)" ]; then
        if command -v rustup >/dev/null 2>&1; then
            echo "installing the wasm32-wasip2 Rust target for wasm-component-ld (once)" >&2
            rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
        fi
        if [ -z "$(wasm_component_ld_path)" ]; then
            echo "error: wasm-component-ld not found; install Rust from https://rustup.rs" >&2
            echo "  and run: rustup target add wasm32-wasip2" >&2
            return 1
        fi
    fi
}
