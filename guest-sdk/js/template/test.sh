#!/usr/bin/env bash
# Run the node's unit tests (*.test.js) under Node.js, with "savepoint"
# resolved to the SDK.
set -euo pipefail
cd "$(dirname "$0")"
exec node --import "@SDK@/js/register.mjs" --test "$@"
