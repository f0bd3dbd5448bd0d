/*
 * @NAME@: a savepoint node. It is called once per step with the run's state
 * and returns a partial update that the host merges into the state.
 *
 * The SDK's API (every outcome: update, goto, interrupt, sleep, retryable and
 * fatal failures) is documented in @SDK@/c/savepoint.h, the JSON helper in
 * @SDK@/c/json.h. Every *.c file of this folder is part of the node.
 */
#include "savepoint.h"

/* Name, version, description, and the config's JSON Schema (or NULL). */
SP_NODE("@NAME@", "0.1.0", "Greets `name` (change me).",
        "{\"type\":\"object\",\"properties\":{\"greeting\":{\"type\":\"string\"}}}");

/* `ctx` and `state` are borrowed: read them, never free them; clone what you
 * want to return. The JSON you hand to sp_update() belongs to the SDK. */
sp_result node_run(const sp_context *ctx, const sp_json *state) {
    const sp_json *greeting = sp_json_get(ctx->config, "greeting");
    if (greeting && !sp_json_string(greeting))
        return sp_fatal("config.greeting must be a string, not %s", sp_json_type_name(greeting));
    const char *name = sp_json_string_or(sp_json_get(state, "name"), "world");

    sp_log_info("%s: greeting %s at step %llu", ctx->node, name, (unsigned long long)ctx->step);

    sp_json *update = sp_json_new_object();
    sp_json_set(update, "message",
                sp_json_new_format("%s, %s!", sp_json_string_or(greeting, "Hello"), name));
    return sp_update(update, NULL); /* NULL: follow the node's `next` edge */
}
