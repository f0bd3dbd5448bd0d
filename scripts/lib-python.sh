# shellcheck shell=bash
# Shared by the scripts that build Python nodes (sourced by scripts/test,
# scripts/build-plugins and guest-sdk/python/build): install the Python
# toolchain when it is missing.

# The componentize-py release every Python node is built with. Change it here
# only: a different version may embed another CPython and another runtime.
SAVEPOINT_COMPONENTIZE_PY_VERSION="0.25.1"

# True when `componentize-py` on PATH is the pinned version.
_componentize_py_ok() {
    local version
    version="$(componentize-py --version 2>/dev/null)" || return 1
    [[ "$version" == "componentize-py $SAVEPOINT_COMPONENTIZE_PY_VERSION" ]]
}

# Install the pip package `want` (NAME==VERSION) that puts the command `tool` on
# PATH, for `purpose`, then check it with the function `ok`: for a system Python
# that refuses (PEP 668), for this user; pyenv shims and the user's bin folder made
# reachable.
_pip_install_tool() {
    local want="$1" tool="$2" ok="$3" purpose="$4"
    local python
    python="$(command -v python3 || command -v python || true)"
    if [[ -z "$python" ]]; then
        echo "error: python3 not found; $purpose needs Python 3.10+ and pip" >&2
        return 1
    fi
    echo "installing $want (once)" >&2
    local pip=(env PIP_ROOT_USER_ACTION=ignore "$python" -m pip install --quiet --disable-pip-version-check "$want")
    if ! "${pip[@]}" >&2; then
        # A system Python that refuses (PEP 668): install for this user.
        "${pip[@]}" --user --break-system-packages >&2 || {
            echo "error: could not install $want with pip" >&2
            return 1
        }
    fi
    # pyenv shims and user installs: make the new script reachable.
    if command -v pyenv >/dev/null 2>&1; then
        pyenv rehash >/dev/null 2>&1 || true
    fi
    hash -r
    if ! "$ok"; then
        local user_bin
        user_bin="$("$python" -m site --user-base 2>/dev/null)/bin"
        if [[ -x "$user_bin/$tool" ]]; then
            export PATH="$user_bin:$PATH"
        fi
    fi
    if ! "$ok"; then
        echo "error: installed $want, but \`$tool --version\` says:" \
            "$("$tool" --version 2>&1 || true)" >&2
        return 1
    fi
}

# Make sure `componentize-py` (the pinned version) is on PATH: install it with
# pip when it is missing or another version. Quiet when nothing is to do.
ensure_python_tools() {
    _componentize_py_ok && return 0
    _pip_install_tool "componentize-py==$SAVEPOINT_COMPONENTIZE_PY_VERSION" \
        componentize-py _componentize_py_ok "Python nodes"
}

# The schemathesis release the API's schema test (tests/e2e/api/schema.rs) runs:
# its config file's keys and its checks change between releases.
SAVEPOINT_SCHEMATHESIS_VERSION="4.32.5"

# True when `schemathesis` on PATH is the pinned version.
_schemathesis_ok() {
    local version
    version="$(schemathesis --version 2>/dev/null)" || return 1
    [[ "$version" == *" $SAVEPOINT_SCHEMATHESIS_VERSION" ]]
}

# Make sure `schemathesis` (the pinned version) is on PATH, for the e2e test that
# runs it against `savepoint serve`: install it with pip when it is missing or
# another version. Quiet when nothing is to do.
ensure_schemathesis() {
    _schemathesis_ok && return 0
    _pip_install_tool "schemathesis==$SAVEPOINT_SCHEMATHESIS_VERSION" \
        schemathesis _schemathesis_ok "the API's schema test"
}
