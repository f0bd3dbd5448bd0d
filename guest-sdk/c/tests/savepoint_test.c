/* Native unit tests of savepoint.c, the glue between the WIT bindings and
 * node_run(): `guest-sdk/c/tests/run` (needs a host C compiler). The test
 * calls exports_node_run() as the bindings would, with a WIT context it
 * builds, and reads the WIT outcome it gets back; the host imports are stubs.
 * Under AddressSanitizer a leaked or doubly freed send fails the run. */
#include "../savepoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"

static int failures;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                               \
        }                                                                             \
    } while (0)

/* ---- stubs for what the component provides ------------------------------ */

void __wasm_import_savepoint_node_host_log(int32_t level, uint8_t *ptr, size_t len) {
    (void)level;
    (void)ptr;
    (void)len;
}

int64_t __wasm_import_savepoint_node_host_lease_epoch(void) { return 7; }

void __component_type_object_force_link_node(void) {}

SP_NODE("test", "0.0.0", "The node of savepoint_test.c.", NULL);

/* node_run calls the test's current handler, and keeps what it saw. */
static sp_result (*handler)(const sp_context *ctx, const sp_json *state);
static struct {
    int64_t send_index;
    bool has_signal;
    char signal_name[32];
    char *signal_data; /* serialized */
    char key[64];
} seen;

sp_result node_run(const sp_context *ctx, const sp_json *state) {
    seen.send_index = ctx->send_index;
    seen.has_signal = ctx->signal != NULL;
    free(seen.signal_data);
    seen.signal_data = NULL;
    if (ctx->signal) {
        snprintf(seen.signal_name, sizeof seen.signal_name, "%s", ctx->signal->name);
        seen.signal_data = sp_json_serialize(ctx->signal->data, NULL);
    }
    snprintf(seen.key, sizeof seen.key, "%s", ctx->idempotency_key);
    return handler(ctx, state);
}

/* ---- calling the export --------------------------------------------------- */

static void dup(node_string_t *out, const char *s) { node_string_dup(out, s); }

/* A WIT context as the bindings hand it over (exports_node_run owns it). */
static node_context_t wit_context(const char *signal_name, const char *signal_data, int64_t send_index) {
    node_context_t ctx;
    memset(&ctx, 0, sizeof ctx);
    dup(&ctx.thread, "th");
    dup(&ctx.node, "n");
    ctx.step = 2;
    ctx.attempt = 1;
    dup(&ctx.config, "{}");
    dup(&ctx.idempotency_key, send_index == SP_NO_SEND ? "th/2/n" : "th/2/n/3");
    if (signal_name) {
        ctx.signal.is_some = true;
        dup(&ctx.signal.val.name, signal_name);
        dup(&ctx.signal.val.data, signal_data);
    }
    if (send_index != SP_NO_SEND) {
        ctx.send_index.is_some = true;
        ctx.send_index.val = (uint32_t)send_index;
    }
    return ctx;
}

/* Calls the export; true for an outcome (*out), false for a failure (*err). */
static bool call(node_context_t ctx, node_outcome_t *out, node_failure_t *err) {
    node_json_t state;
    dup(&state, "{\"items\":[1,2]}");
    return exports_node_run(&ctx, &state, out, err);
}

static bool str_is(const node_string_t *s, const char *want) {
    return s->len == strlen(want) && memcmp(s->ptr, want, s->len) == 0;
}

/* Expects a fatal failure whose message is `want`. */
static void check_fatal(sp_result (*h)(const sp_context *, const sp_json *), const char *want) {
    node_outcome_t out;
    node_failure_t err;
    handler = h;
    bool ok = call(wit_context(NULL, NULL, SP_NO_SEND), &out, &err);
    CHECK(!ok);
    if (ok) {
        node_outcome_free(&out);
        return;
    }
    CHECK(err.tag == SAVEPOINT_NODE_TYPES_FAILURE_FATAL);
    if (!str_is(&err.val.fatal, want)) {
        fprintf(stderr, "fatal message %.*s, expected %s\n", (int)err.val.fatal.len, (const char *)err.val.fatal.ptr,
                want);
        failures++;
    }
    node_failure_free(&err);
}

/* ---- handlers -------------------------------------------------------------- */

/* One send per element of state.items, to "work", with {"item": element}. */
static sp_result fan_out(const sp_context *ctx, const sp_json *state) {
    const sp_json *items = sp_json_get(state, "items");
    sp_result r = sp_update(sp_json_set(sp_json_new_object(), "n", sp_json_new_int(2)), "ignored");
    for (size_t i = 0; i < sp_json_array_size(items); i++)
        r = sp_send(r, "work", sp_json_set(sp_json_new_object(), "item", sp_json_clone(sp_json_at(items, i))));
    return sp_send(r, "other", NULL);
}

static sp_result wait_go(const sp_context *ctx, const sp_json *state) { return sp_wait_signal("go", 1500); }
static sp_result wait_forever(const sp_context *ctx, const sp_json *state) {
    return sp_wait_signal("go", SP_FOREVER);
}
static sp_result plain(const sp_context *ctx, const sp_json *state) { return sp_update(NULL, NULL); }
static sp_result send_array(const sp_context *ctx, const sp_json *state) {
    return sp_send(sp_update(NULL, NULL), "work", sp_json_new_array());
}
static sp_result send_to_sleep(const sp_context *ctx, const sp_json *state) {
    return sp_send(sp_sleep(5, NULL), "work", NULL);
}
static sp_result send_nameless(const sp_context *ctx, const sp_json *state) {
    return sp_send(sp_update(NULL, NULL), "", NULL);
}
static sp_result send_after_failure(const sp_context *ctx, const sp_json *state) {
    return sp_send(sp_retryable("later"), "work", sp_json_new_object());
}
static sp_result wait_nameless(const sp_context *ctx, const sp_json *state) { return sp_wait_signal(NULL, 5); }

int main(void) {
    node_outcome_t out;
    node_failure_t err;

    /* Sends: one per item, in order, then the one to "other" with {}. */
    handler = fan_out;
    CHECK(call(wit_context(NULL, NULL, SP_NO_SEND), &out, &err));
    CHECK(out.tag == SAVEPOINT_NODE_TYPES_OUTCOME_UPDATE);
    CHECK(str_is(&out.val.update.state, "{\"n\":2}"));
    CHECK(out.val.update.goto_.is_some && str_is(&out.val.update.goto_.val, "ignored"));
    CHECK(out.val.update.sends.len == 3);
    if (out.val.update.sends.len == 3) {
        savepoint_node_types_send_t *s = out.val.update.sends.ptr;
        CHECK(str_is(&s[0].node, "work") && str_is(&s[0].input, "{\"item\":1}"));
        CHECK(str_is(&s[1].node, "work") && str_is(&s[1].input, "{\"item\":2}"));
        CHECK(str_is(&s[2].node, "other") && str_is(&s[2].input, "{}"));
    }
    node_outcome_free(&out);

    /* An update without sends has an empty list. */
    handler = plain;
    CHECK(call(wit_context(NULL, NULL, SP_NO_SEND), &out, &err));
    CHECK(out.tag == SAVEPOINT_NODE_TYPES_OUTCOME_UPDATE && out.val.update.sends.len == 0);
    CHECK(!out.val.update.goto_.is_some);
    node_outcome_free(&out);

    /* The context: no signal and SP_NO_SEND for an ordinary call. */
    CHECK(seen.send_index == SP_NO_SEND && !seen.has_signal && strcmp(seen.key, "th/2/n") == 0);

    /* A call for a send, with a signal: both reach the context. */
    CHECK(call(wit_context("go", "{\"by\":2,\"who\":\"Zo\xc3\xab\"}", 3), &out, &err));
    node_outcome_free(&out);
    CHECK(seen.send_index == 3 && strcmp(seen.key, "th/2/n/3") == 0);
    CHECK(seen.has_signal && strcmp(seen.signal_name, "go") == 0);
    CHECK(seen.signal_data && strcmp(seen.signal_data, "{\"by\":2,\"who\":\"Zo\xc3\xab\"}") == 0);
    CHECK(call(wit_context("bare", "null", 0), &out, &err));
    node_outcome_free(&out);
    CHECK(seen.send_index == 0 && seen.has_signal && strcmp(seen.signal_data, "null") == 0);

    /* Signal waits, with and without a deadline. */
    handler = wait_go;
    CHECK(call(wit_context(NULL, NULL, SP_NO_SEND), &out, &err));
    CHECK(out.tag == SAVEPOINT_NODE_TYPES_OUTCOME_WAIT_SIGNAL);
    CHECK(str_is(&out.val.wait_signal.name, "go"));
    CHECK(out.val.wait_signal.timeout_ms.is_some && out.val.wait_signal.timeout_ms.val == 1500);
    node_outcome_free(&out);
    handler = wait_forever;
    CHECK(call(wit_context(NULL, NULL, SP_NO_SEND), &out, &err));
    CHECK(out.tag == SAVEPOINT_NODE_TYPES_OUTCOME_WAIT_SIGNAL && !out.val.wait_signal.timeout_ms.is_some);
    node_outcome_free(&out);

    /* Mistakes become fatal failures that say what is wrong. */
    check_fatal(send_array, "the input of the send to work must be a JSON object, not an array");
    check_fatal(send_to_sleep, "sp_send adds a send to an update (sp_update), not to a sleep");
    check_fatal(send_nameless, "sp_send needs a node name, not \"\"");
    check_fatal(wait_nameless, "sp_wait_signal needs a signal name, not NULL");
    /* A failure passes through sp_send unchanged. */
    handler = send_after_failure;
    CHECK(!call(wit_context(NULL, NULL, SP_NO_SEND), &out, &err));
    CHECK(err.tag == SAVEPOINT_NODE_TYPES_FAILURE_RETRYABLE && str_is(&err.val.retryable, "later"));
    node_failure_free(&err);

    /* A signal whose data is not JSON never reaches node_run. */
    handler = NULL;
    CHECK(!call(wit_context("go", "{oops", SP_NO_SEND), &out, &err));
    CHECK(err.tag == SAVEPOINT_NODE_TYPES_FAILURE_FATAL);
    const char prefix[] = "cannot read the signal's data: ";
    CHECK(err.val.fatal.len > sizeof prefix - 1 && memcmp(err.val.fatal.ptr, prefix, sizeof prefix - 1) == 0);
    node_failure_free(&err);
    free(seen.signal_data);

    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    puts("savepoint_test: ok");
    return 0;
}
