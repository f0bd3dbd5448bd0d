// @NAME@: a savepoint node in JavaScript. `./build.sh` turns it into a
// WebAssembly component; the types and docs of "savepoint" are in
// @SDK@/js/savepoint.d.ts.

import { node, update, Fatal, log } from "savepoint";

export const { describe, run, call } = node(
    {
        name: "@NAME@",
        version: "0.1.0",
        description: "Greets `state.name` (change this to say what @NAME@ does).",
        // ctx.config is the node's `config` table over these defaults.
        defaults: { greeting: "Hello" },
    },
    (ctx, state) => {
        if (typeof state.name !== "string") {
            // A permanent problem: the run fails at this node (Retryable: retry).
            throw new Fatal("state.name is missing (a string)");
        }
        log.info(`${ctx.node}: greeting ${state.name} (attempt ${ctx.attempt})`);
        // A partial update, merged into the run's state by the workflow's reducers.
        return update({ greeting: `${ctx.config.greeting}, ${state.name}!` });
    },
);
