/*
 * savepoint.h: write savepoint workflow nodes in C.
 *
 * A node is a WebAssembly component that the savepoint host calls once per
 * step with the run's state (wit/node.wit). With this SDK a node is one
 * SP_NODE(...) line and one function:
 *
 *     #include "savepoint.h"
 *
 *     SP_NODE("counter", "1.0.0", "Adds `by` (default 1) to `count`.", NULL);
 *
 *     sp_result node_run(const sp_context *ctx, const sp_json *state) {
 *         int64_t count = sp_json_int_or(sp_json_get(state, "count"), 0);
 *         int64_t by = sp_json_int_or(sp_json_get(ctx->config, "by"), 1);
 *         sp_log_info("%s: count %lld -> %lld", ctx->node, (long long)count,
 *                     (long long)(count + by));
 *         return sp_update(sp_json_set(sp_json_new_object(), "count",
 *                                      sp_json_new_int(count + by)), NULL);
 *     }
 *
 * and `guest-sdk/c/build NODE_DIR OUT.wasm` compiles every .c file of the
 * folder with this SDK into the component the host loads.
 *
 * What node_run returns (an sp_result, built by one of these):
 *
 *   sp_update(update, goto)   the step succeeded: merge `update` (a JSON
 *                             object; NULL = {}) into the state with the
 *                             workflow's reducers, commit, and move on along
 *                             `next` (goto NULL) or the declared route `goto`.
 *   sp_send(update, node, input)
 *                             the update plus one send (fan-out): the next
 *                             step runs `node` once more with `input` (a JSON
 *                             object; NULL = {}) as its whole state, in place
 *                             of `next` or `goto`; that call sees
 *                             ctx->send_index. Once per element of a list:
 *                                 r = sp_update(u, NULL);
 *                                 for (...) r = sp_send(r, "work", item);
 *                             The sent calls run in parallel; their updates
 *                             merge in the order of the sends. At most the
 *                             workflow's `max_fanout` (default 1000).
 *   sp_interrupt(payload, timeout_ms)
 *                             park the run until someone answers with
 *                             `savepoint resume ID --input JSON`; this node
 *                             then runs again with ctx->resume set. Nothing
 *                             is committed. SP_FOREVER: no deadline; past a
 *                             deadline the node runs again with
 *                             ctx->interrupt_timed_out set.
 *   sp_sleep(ms, update)      commit `update` (object; NULL = {}), park the run
 *                             durably, then call this node again with
 *                             ctx->wakes one higher (polling).
 *   sp_wait_signal(name, timeout_ms)
 *                             park the run until a signal `name` arrives
 *                             (`savepoint signal ID NAME --data JSON`; one
 *                             sent before the wait counts too); this node
 *                             then runs again with ctx->signal set. Nothing
 *                             is committed. SP_FOREVER: no deadline; past a
 *                             deadline the node runs again with ctx->signal
 *                             NULL and ctx->interrupt_timed_out set.
 *   sp_retryable(fmt, ...)    a transient failure: the workflow's `retry`
 *                             policy applies (ctx->attempt grows).
 *   sp_fatal(fmt, ...)        a permanent failure: the run fails at this node.
 *
 * A crash (abort(), a null dereference that traps, ...) fails the step too;
 * the host records that the node trapped. Write a message to stderr first.
 *
 * Ownership (see json.h for the JSON rules):
 *   - `state`, `ctx` and everything reachable from them (ctx->config,
 *     ctx->resume, ctx->signal, the strings) are borrowed for the duration of
 *     node_run; the SDK frees them after it returns. To put a part of the
 *     state into the update, sp_json_clone() it.
 *   - sp_update / sp_interrupt / sp_sleep / sp_send take ownership of the
 *     JSON value passed in (sp_send also of the result); strings (goto, node
 *     and signal names, messages) are copied.
 *   - The SDK frees the returned sp_result once it has handed it to the host.
 *
 * Errors the SDK reports for you as fatal failures: a state or config that is
 * not valid JSON, an update that is not an object, a node_run that returns an
 * uninitialised result.
 */
#ifndef SAVEPOINT_H
#define SAVEPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A named message delivered to the run (wit: `signal`). */
typedef struct sp_signal {
    const char *name;    /* the name it was sent under, e.g. "go" */
    const sp_json *data; /* what it carries (a JSON null when sent without data) */
} sp_signal;

/* ctx->send_index of an ordinary call (one not made for a send). */
#define SP_NO_SEND (-1)

/* What the host tells the node about this call (wit: `context`). */
typedef struct sp_context {
    const char *thread;          /* the run id */
    const char *node;            /* this node's name in the workflow file */
    uint64_t step;               /* the step this call commits, from 1 */
    uint32_t attempt;            /* attempt at this step, from 1 */
    const sp_json *config;       /* the node's config: always an object */
    const sp_json *resume;       /* the resume input, or NULL when none */
    bool interrupt_timed_out;    /* an interrupt's or signal wait's deadline passed unanswered */
    uint32_t wakes;              /* sleeps in a row this node woke from */
    const char *idempotency_key; /* "<thread>/<step>/<node>" ("/<send_index>" for a send) */
    uint64_t lease_epoch;        /* fencing token: grows each time the run changes hands */
    const sp_signal *signal;     /* the signal this call receives after sp_wait_signal, or NULL */
    int64_t send_index;          /* a send's place among the previous step's sends, from 0;
                                    SP_NO_SEND for an ordinary call */
} sp_context;

/* What a node says about itself (wit: `node-info`): see SP_NODE. */
typedef struct sp_node_info {
    const char *name;
    const char *version;
    const char *description;
    const char *config_schema; /* a JSON Schema as text, or NULL */
} sp_node_info;

/* Declare the node, once, at the top level of one .c file:
 *     SP_NODE("name", "1.0.0", "What it does.", "{\"type\":\"object\"}");
 * The last argument is the config's JSON Schema text, or NULL. */
#define SP_NODE(name, version, description, config_schema) \
    const sp_node_info sp_node = {(name), (version), (description), (config_schema)}

extern const sp_node_info sp_node;

typedef enum sp_result_kind {
    SP_RESULT_UNSET = 0, /* a zeroed sp_result: reported as a fatal failure */
    SP_RESULT_UPDATE,
    SP_RESULT_INTERRUPT,
    SP_RESULT_SLEEP,
    SP_RESULT_WAIT_SIGNAL,
    SP_RESULT_RETRYABLE,
    SP_RESULT_FATAL,
} sp_result_kind;

/* One send of an update (see sp_send). */
typedef struct sp_result_send {
    char *node;
    sp_json *input;
} sp_result_send;

/* What node_run returns. Build it with the functions below rather than by
 * hand; its fields are owned by the result. */
typedef struct sp_result {
    sp_result_kind kind;
    sp_json *json;    /* update / interrupt payload / sleep update */
    char *text;       /* update: the goto route (or NULL); wait-signal: the name;
                         failures: the message */
    uint64_t ms;      /* interrupt or wait-signal timeout / sleep duration */
    bool has_timeout; /* interrupt, wait-signal: whether `ms` applies */
    sp_result_send *sends; /* update: the sends, in order */
    size_t send_count;
} sp_result;

/* The function every node implements. */
sp_result node_run(const sp_context *ctx, const sp_json *state);

/* No deadline, for sp_interrupt and sp_wait_signal. */
#define SP_FOREVER (-1)

sp_result sp_update(sp_json *update, const char *goto_route);
/* `update` plus a send of `input` to `node`. A failure passes through
 * unchanged (input is freed); any other result that is not an update
 * becomes a fatal failure that says so. */
sp_result sp_send(sp_result update, const char *node, sp_json *input);
sp_result sp_interrupt(sp_json *payload, int64_t timeout_ms);
sp_result sp_sleep(uint64_t ms, sp_json *update);
sp_result sp_wait_signal(const char *name, int64_t timeout_ms);

#if defined(__GNUC__) || defined(__clang__)
#define SP_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SP_PRINTF(a, b)
#endif

sp_result sp_retryable(const char *fmt, ...) SP_PRINTF(1, 2);
sp_result sp_fatal(const char *fmt, ...) SP_PRINTF(1, 2);

/* Free a result without returning it (e.g. one built and then discarded). */
void sp_result_free(sp_result *result);

/* Log lines: stored with the run, step, node and attempt; `savepoint logs`
 * shows them. printf-style, any length. */
typedef enum sp_level {
    SP_TRACE,
    SP_DEBUG,
    SP_INFO,
    SP_WARN,
    SP_ERROR,
} sp_level;

void sp_log(sp_level level, const char *fmt, ...) SP_PRINTF(2, 3);
#define sp_log_trace(...) sp_log(SP_TRACE, __VA_ARGS__)
#define sp_log_debug(...) sp_log(SP_DEBUG, __VA_ARGS__)
#define sp_log_info(...) sp_log(SP_INFO, __VA_ARGS__)
#define sp_log_warn(...) sp_log(SP_WARN, __VA_ARGS__)
#define sp_log_error(...) sp_log(SP_ERROR, __VA_ARGS__)

#ifdef __cplusplus
}
#endif

#endif
