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

# Make sure `componentize-py` (the pinned version) is on PATH: install it with
# pip when it is missing or another version. Quiet when nothing is to do.
ensure_python_tools() {
    local want="componentize-py==$SAVEPOINT_COMPONENTIZE_PY_VERSION"
    _componentize_py_ok && return 0

    local python
    python="$(command -v python3 || command -v python || true)"
    if [[ -z "$python" ]]; then
        echo "error: python3 not found; Python nodes need Python 3.10+ and pip" >&2
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
    if ! _componentize_py_ok; then
        local user_bin
        user_bin="$("$python" -m site --user-base 2>/dev/null)/bin"
        if [[ -x "$user_bin/componentize-py" ]]; then
            export PATH="$user_bin:$PATH"
        fi
    fi
    if ! _componentize_py_ok; then
        echo "error: installed $want, but \`componentize-py --version\` says:" \
            "$(componentize-py --version 2>&1 || true)" >&2
        return 1
    fi
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
    local want="schemathesis==$SAVEPOINT_SCHEMATHESIS_VERSION"
    _schemathesis_ok && return 0
    local python
    python="$(command -v python3 || command -v python || true)"
    if [[ -z "$python" ]]; then
        echo "error: python3 not found; the API's schema test needs Python 3.10+ and pip" >&2
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
    if command -v pyenv >/dev/null 2>&1; then
        pyenv rehash >/dev/null 2>&1 || true
    fi
    hash -r
    if ! _schemathesis_ok; then
        local user_bin
        user_bin="$("$python" -m site --user-base 2>/dev/null)/bin"
        if [[ -x "$user_bin/schemathesis" ]]; then
            export PATH="$user_bin:$PATH"
        fi
    fi
    if ! _schemathesis_ok; then
        echo "error: installed $want, but \`schemathesis --version\` says:" \
            "$(schemathesis --version 2>&1 || true)" >&2
        return 1
    fi
}
