#!/usr/bin/env bash
# Run the node's unit tests (*.test.js) under Node.js, with "savepoint"
# resolved to the vendored SDK.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
exec node --import ./vendor/savepoint/guest-sdk/js/register.mjs --test "$@"
