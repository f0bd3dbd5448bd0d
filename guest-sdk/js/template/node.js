// @NAME@: a savepoint node in JavaScript. `./build.sh` turns it into a
// WebAssembly component; the types and docs of "savepoint" are in
// vendor/savepoint/guest-sdk/js/savepoint.d.ts.
//
// It reads `state.name` (a string; "world" when absent), logs
// `greeting NAME`, waits `delay_ms`, and returns
// `{"message": "<greeting>, <name>!"}`.

import { node, update, Fatal, log } from "savepoint";

/** The config's JSON Schema, for `savepoint validate` and `savepoint plugins`. */
const configSchema = {
    type: "object",
    properties: {
        greeting: {
            type: "string",
            default: "Hello",
            description: "The word to greet with.",
        },
        delay_ms: {
            type: "integer",
            minimum: 0,
            default: 0,
            description: "How long to wait before answering, in milliseconds.",
        },
    },
    additionalProperties: false,
};

export const { describe, run, call } = node(
    {
        name: "@NAME@",
        version: "0.1.0",
        description: "Greets `state.name` (a template: change me).",
        configSchema,
        // ctx.config is the node's `config` table over these defaults.
        defaults: { greeting: "Hello", delay_ms: 0 },
    },
    async (ctx, state) => {
        const { greeting, delay_ms } = ctx.config;
        if (typeof greeting !== "string") {
            throw new Fatal("config.greeting must be a string");
        }
        if (!Number.isSafeInteger(delay_ms) || delay_ms < 0) {
            throw new Fatal("config.delay_ms must be an integer >= 0");
        }
        const name = Object.hasOwn(state, "name") ? state.name : "world";
        if (typeof name !== "string") {
            // A permanent problem: the run fails at this node (Retryable: retry).
            throw new Fatal("state.name must be a string");
        }
        log.info(`greeting ${name}`);
        if (delay_ms > 0) {
            await new Promise((resolve) => setTimeout(resolve, delay_ms));
        }
        // A partial update, merged into the run's state by the workflow's reducers.
        return update({ message: `${greeting}, ${name}!` });
    },
);
