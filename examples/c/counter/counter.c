/*
 * counter: the conformance counter (guest-sdk/CONFORMANCE.md) in C.
 *
 * State: `count` (integer; missing = 0). Config keys (all optional): by,
 * delay_ms, trace, mode, goto, question, sleep_ms, fail_attempts, message,
 * signal, timeout_ms.
 * Every call logs `<node>: <mode> call, attempt <attempt>`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "savepoint.h"

SP_NODE("counter", "0.1.0",
        "Adds `by` (default 1) to the state's `count`; `mode` exercises every "
        "outcome (the conformance counter).",
        NULL);

typedef struct config {
    int64_t by, delay_ms, sleep_ms, fail_attempts; /* fail_attempts < 0: unlimited */
    int64_t timeout_ms;                            /* SP_FOREVER when not set */
    bool trace;
    const char *mode, *go, *question, *message, *signal;
} config;

/* Reads the config into *out. A key of the wrong type: false, and a fatal
 * failure naming it in *error. */
static bool read_config(const sp_json *c, config *out, sp_result *error) {
    static const struct { const char *key; sp_json_type type; const char *what; } keys[] = {
        {"by", SP_JSON_INT, "an integer"},         {"delay_ms", SP_JSON_INT, "an integer"},
        {"trace", SP_JSON_BOOL, "a boolean"},      {"mode", SP_JSON_STRING, "a string"},
        {"goto", SP_JSON_STRING, "a string"},      {"question", SP_JSON_STRING, "a string"},
        {"sleep_ms", SP_JSON_INT, "an integer"},   {"fail_attempts", SP_JSON_INT, "an integer"},
        {"message", SP_JSON_STRING, "a string"},   {"signal", SP_JSON_STRING, "a string"},
        {"timeout_ms", SP_JSON_INT, "an integer"},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const sp_json *v = sp_json_get(c, keys[i].key);
        if (v && sp_json_type_of(v) != keys[i].type) {
            *error = sp_fatal("config.%s must be %s, not %s", keys[i].key, keys[i].what,
                              sp_json_type_name(v));
            return false;
        }
    }
    out->by = sp_json_int_or(sp_json_get(c, "by"), 1);
    out->delay_ms = sp_json_int_or(sp_json_get(c, "delay_ms"), 0);
    out->trace = sp_json_bool_or(sp_json_get(c, "trace"), false);
    out->mode = sp_json_string_or(sp_json_get(c, "mode"), "count");
    out->go = sp_json_string_or(sp_json_get(c, "goto"), NULL);
    out->question = sp_json_string_or(sp_json_get(c, "question"), "continue?");
    out->sleep_ms = sp_json_int_or(sp_json_get(c, "sleep_ms"), 100);
    out->fail_attempts = sp_json_int_or(sp_json_get(c, "fail_attempts"), -1);
    out->message = sp_json_string_or(sp_json_get(c, "message"), "counter failed");
    out->signal = sp_json_string_or(sp_json_get(c, "signal"), "go");
    out->timeout_ms = sp_json_int_or(sp_json_get(c, "timeout_ms"), SP_FOREVER);
    if (out->timeout_ms < 0) out->timeout_ms = SP_FOREVER;
    return true;
}

/* The "count" update: {"count": count + by} plus "trace" when configured.
 * NULL (and *error set) when the sum overflows. */
static sp_json *count_update(const sp_context *ctx, const config *cfg, int64_t count,
                             sp_result *error) {
    int64_t sum;
    if (__builtin_add_overflow(count, cfg->by, &sum)) {
        *error = sp_fatal("count %lld + %lld overflows", (long long)count, (long long)cfg->by);
        return NULL;
    }
    sp_json *update = sp_json_set(sp_json_new_object(), "count", sp_json_new_int(sum));
    if (cfg->trace)
        sp_json_set(update, "trace", sp_json_push(sp_json_new_array(), sp_json_new_string(ctx->node)));
    return update;
}

static sp_json *context_json(const sp_context *ctx) {
    sp_json *c = sp_json_new_object();
    sp_json_set(c, "thread", sp_json_new_string(ctx->thread));
    sp_json_set(c, "node", sp_json_new_string(ctx->node));
    sp_json_set(c, "step", sp_json_new_int((int64_t)ctx->step));
    sp_json_set(c, "attempt", sp_json_new_int(ctx->attempt));
    sp_json_set(c, "config", sp_json_clone(ctx->config));
    sp_json_set(c, "resume", ctx->resume ? sp_json_clone(ctx->resume) : sp_json_new_null());
    sp_json_set(c, "idempotency_key", sp_json_new_string(ctx->idempotency_key));
    sp_json_set(c, "interrupt_timed_out", sp_json_new_bool(ctx->interrupt_timed_out));
    sp_json_set(c, "wakes", sp_json_new_int(ctx->wakes));
    sp_json_set(c, "lease_epoch", sp_json_new_int((int64_t)ctx->lease_epoch));
    return c;
}

sp_result node_run(const sp_context *ctx, const sp_json *state) {
    config cfg;
    sp_result error = {0};
    bool config_ok = read_config(ctx->config, &cfg, &error);
    /* The log line comes first, so that every call logs it. */
    sp_log_info("%s: %s call, attempt %u", ctx->node,
                sp_json_string_or(sp_json_get(ctx->config, "mode"), "count"), (unsigned)ctx->attempt);
    if (!config_ok) return error;

    if (cfg.delay_ms > 0) {
        struct timespec t = {cfg.delay_ms / 1000, (long)(cfg.delay_ms % 1000) * 1000000L};
        nanosleep(&t, NULL);
    }

    const char *mode = cfg.mode;

    if (strcmp(mode, "fatal") == 0) return sp_fatal("%s", cfg.message);
    if (strcmp(mode, "panic") == 0) {
        fprintf(stderr, "%s\n", cfg.message);
        abort();
    }
    if (strcmp(mode, "interrupt") == 0 && !ctx->resume)
        return sp_interrupt(sp_json_set(sp_json_new_object(), "question", sp_json_new_string(cfg.question)),
                            SP_FOREVER);
    if (strcmp(mode, "sleep") == 0 && ctx->wakes == 0)
        return sp_sleep((uint64_t)(cfg.sleep_ms < 0 ? 0 : cfg.sleep_ms),
                        sp_json_set(sp_json_new_object(), "slept", sp_json_new_bool(true)));
    if (strcmp(mode, "retryable") == 0 && (cfg.fail_attempts < 0 || ctx->attempt <= cfg.fail_attempts))
        return sp_retryable("%s", cfg.message);
    if (strcmp(mode, "signal") == 0 && !ctx->signal && !ctx->interrupt_timed_out)
        return sp_wait_signal(cfg.signal, cfg.timeout_ms);
    if (strcmp(mode, "item") == 0) {
        sp_json *seen = sp_json_new_object();
        sp_json_set(seen, "item", sp_json_clone(sp_json_get(state, "item")));
        sp_json_set(seen, "send_index",
                    ctx->send_index == SP_NO_SEND ? sp_json_new_null() : sp_json_new_int(ctx->send_index));
        sp_json_set(seen, "idempotency_key", sp_json_new_string(ctx->idempotency_key));
        return sp_update(sp_json_set(sp_json_new_object(), "seen", sp_json_push(sp_json_new_array(), seen)), NULL);
    }

    const char *route = NULL;
    if (strcmp(mode, "goto") == 0) {
        if (!cfg.go) return sp_fatal("mode \"goto\" needs config.goto");
        route = cfg.go;
    } else if (strcmp(mode, "fanout") == 0) {
        if (!cfg.go) return sp_fatal("mode \"fanout\" needs config.goto");
        const sp_json *items = sp_json_get(state, "items");
        if (items && sp_json_type_of(items) != SP_JSON_ARRAY)
            return sp_fatal("state.items must be an array, not %s", sp_json_type_name(items));
    } else if (strcmp(mode, "count") != 0 && strcmp(mode, "echo") != 0 && strcmp(mode, "context") != 0 &&
               strcmp(mode, "interrupt") != 0 && strcmp(mode, "sleep") != 0 &&
               strcmp(mode, "retryable") != 0 && strcmp(mode, "signal") != 0) {
        return sp_fatal("unknown mode \"%s\"", mode);
    }

    int64_t count = 0;
    const sp_json *c = sp_json_get(state, "count");
    if (c && !sp_json_as_int(c, &count))
        return sp_fatal("state.count must be an integer, not %s", sp_json_type_name(c));

    sp_json *update = count_update(ctx, &cfg, count, &error);
    if (!update) return error;
    if (strcmp(mode, "echo") == 0)
        sp_json_set(update, "echo", sp_json_clone(sp_json_get(state, "payload")));
    else if (strcmp(mode, "context") == 0)
        sp_json_set(update, "ctx", context_json(ctx));
    else if (strcmp(mode, "interrupt") == 0)
        sp_json_set(update, "answer", sp_json_clone(ctx->resume));
    else if (strcmp(mode, "sleep") == 0)
        sp_json_set(update, "wakes", sp_json_new_int(ctx->wakes));
    else if (strcmp(mode, "signal") == 0) {
        sp_json *signal = sp_json_new_null();
        if (ctx->signal) {
            sp_json_free(signal);
            signal = sp_json_new_object();
            sp_json_set(signal, "name", sp_json_new_string(ctx->signal->name));
            sp_json_set(signal, "data", sp_json_clone(ctx->signal->data));
        }
        sp_json_set(update, "signal", signal);
        sp_json_set(update, "timed_out", sp_json_new_bool(ctx->interrupt_timed_out));
    } else if (strcmp(mode, "fanout") == 0) {
        const sp_json *items = sp_json_get(state, "items");
        sp_result r = sp_update(update, NULL);
        for (size_t i = 0; i < sp_json_array_size(items); i++)
            r = sp_send(r, cfg.go, sp_json_set(sp_json_new_object(), "item", sp_json_clone(sp_json_at(items, i))));
        return r;
    }
    return sp_update(update, route);
}
