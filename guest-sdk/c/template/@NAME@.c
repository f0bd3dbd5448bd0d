/*
 * @NAME@: a savepoint node. It is called once per step with the run's state
 * and returns a partial update that the host merges into the state.
 *
 * It reads `state.name` (a string; "world" when absent), logs
 * `greeting NAME`, waits `delay_ms`, and returns
 * `{"message": "<greeting>, <name>!"}`.
 *
 * The SDK's API (every outcome: sp_update, goto, sp_send for fan-out,
 * sp_interrupt, sp_sleep, sp_wait_signal, retryable and fatal failures) is
 * documented in vendor/savepoint/guest-sdk/c/savepoint.h,
 * the JSON helper in json.h there. Every *.c file of this folder is part of
 * the node.
 */
#include <time.h>

#include "savepoint.h"

/* Name, version, description, and the config's JSON Schema (or NULL), which
 * `savepoint validate` and `savepoint plugins` read. */
SP_NODE("@NAME@", "0.1.0", "Greets `state.name` (a template: change me).",
        "{\"type\":\"object\",\"properties\":{"
        "\"greeting\":{\"type\":\"string\",\"default\":\"Hello\","
        "\"description\":\"The word to greet with.\"},"
        "\"delay_ms\":{\"type\":\"integer\",\"minimum\":0,\"default\":0,"
        "\"description\":\"How long to wait before answering, in milliseconds.\"}},"
        "\"additionalProperties\":false}");

/* `ctx` and `state` are borrowed: read them, never free them; clone what you
 * want to return. The JSON you hand to sp_update() belongs to the SDK. */
sp_result node_run(const sp_context *ctx, const sp_json *state) {
    const sp_json *greeting = sp_json_get(ctx->config, "greeting");
    if (greeting && sp_json_type_of(greeting) != SP_JSON_STRING)
        return sp_fatal("config.greeting must be a string");
    const sp_json *delay = sp_json_get(ctx->config, "delay_ms");
    if (delay && (sp_json_type_of(delay) != SP_JSON_INT || sp_json_int_or(delay, -1) < 0))
        return sp_fatal("config.delay_ms must be an integer >= 0");
    const sp_json *name = sp_json_get(state, "name");
    if (name && sp_json_type_of(name) != SP_JSON_STRING)
        /* A permanent problem: the run fails at this node (sp_retryable: retry). */
        return sp_fatal("state.name must be a string");
    const char *who = sp_json_string_or(name, "world");

    sp_log_info("greeting %s", who);
    int64_t delay_ms = sp_json_int_or(delay, 0);
    if (delay_ms > 0) {
        struct timespec wait = {delay_ms / 1000, (long)(delay_ms % 1000) * 1000000L};
        nanosleep(&wait, NULL);
    }

    /* A partial update, merged into the run's state by the workflow's reducers. */
    sp_json *update = sp_json_new_object();
    sp_json_set(update, "message",
                sp_json_new_format("%s, %s!", sp_json_string_or(greeting, "Hello"), who));
    return sp_update(update, NULL); /* NULL: follow the node's `next` edge */
}
