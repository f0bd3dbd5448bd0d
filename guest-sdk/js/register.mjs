// Let Node.js resolve `import ... from "savepoint"` to this SDK, so that a
// node's unit tests run its handler natively (no WebAssembly):
//
//     node --import <guest-sdk>/js/register.mjs --test
//
// Outside a component, `log` writes to standard error.

import { register } from "node:module";

register("./resolve.mjs", import.meta.url);
