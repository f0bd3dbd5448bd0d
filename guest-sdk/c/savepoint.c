/* savepoint.c: the glue between the WIT bindings (bindings/node.h) and the
 * node's node_run(). See savepoint.h. */
#include "savepoint.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"

/* In json.c: a malloc'd copy of s with invalid UTF-8 replaced by U+FFFD
 * (the host rejects strings that are not UTF-8). */
char *sp__utf8_fix(const char *s, size_t len, size_t *out_len);

/* ---- results ------------------------------------------------------------- */

static char *vformat(const char *fmt, va_list ap) {
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt ? fmt : "", ap);
    if (n < 0) n = 0;
    char *out = malloc((size_t)n + 1);
    if (!out) abort();
    vsnprintf(out, (size_t)n + 1, fmt ? fmt : "", again);
    va_end(again);
    return out;
}

static char *copy_string(const char *s) {
    return s ? sp__utf8_fix(s, strlen(s), NULL) : NULL;
}

static const char *kind_name(sp_result_kind kind) {
    switch (kind) {
    case SP_RESULT_UPDATE: return "an update";
    case SP_RESULT_INTERRUPT: return "an interrupt";
    case SP_RESULT_SLEEP: return "a sleep";
    case SP_RESULT_WAIT_SIGNAL: return "a signal wait";
    case SP_RESULT_RETRYABLE: return "a retryable failure";
    case SP_RESULT_FATAL: return "a fatal failure";
    default: return "an unset sp_result";
    }
}

sp_result sp_update(sp_json *update, const char *goto_route) {
    sp_result r = {SP_RESULT_UPDATE, update ? update : sp_json_new_object(), copy_string(goto_route), 0, false, NULL, 0};
    return r;
}

sp_result sp_send(sp_result update, const char *node, sp_json *input) {
    if (update.kind == SP_RESULT_RETRYABLE || update.kind == SP_RESULT_FATAL) {
        sp_json_free(input);
        return update;
    }
    if (update.kind != SP_RESULT_UPDATE || !node || !*node) {
        sp_result failure =
            update.kind != SP_RESULT_UPDATE
                ? sp_fatal("sp_send adds a send to an update (sp_update), not to %s", kind_name(update.kind))
                : sp_fatal("sp_send needs a node name, not %s", node ? "\"\"" : "NULL");
        sp_result_free(&update);
        sp_json_free(input);
        return failure;
    }
    sp_result_send *sends = realloc(update.sends, (update.send_count + 1) * sizeof *sends);
    if (!sends) abort();
    sends[update.send_count].node = copy_string(node);
    sends[update.send_count].input = input ? input : sp_json_new_object();
    update.sends = sends;
    update.send_count++;
    return update;
}

sp_result sp_interrupt(sp_json *payload, int64_t timeout_ms) {
    sp_result r = {SP_RESULT_INTERRUPT, payload ? payload : sp_json_new_null(), NULL,
                   timeout_ms < 0 ? 0 : (uint64_t)timeout_ms, timeout_ms >= 0, NULL, 0};
    return r;
}

sp_result sp_sleep(uint64_t ms, sp_json *update) {
    sp_result r = {SP_RESULT_SLEEP, update ? update : sp_json_new_object(), NULL, ms, false, NULL, 0};
    return r;
}

sp_result sp_wait_signal(const char *name, int64_t timeout_ms) {
    if (!name || !*name) return sp_fatal("sp_wait_signal needs a signal name, not %s", name ? "\"\"" : "NULL");
    sp_result r = {SP_RESULT_WAIT_SIGNAL, NULL, copy_string(name), timeout_ms < 0 ? 0 : (uint64_t)timeout_ms,
                   timeout_ms >= 0, NULL, 0};
    return r;
}

sp_result sp_retryable(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sp_result r = {SP_RESULT_RETRYABLE, NULL, vformat(fmt, ap), 0, false, NULL, 0};
    va_end(ap);
    return r;
}

sp_result sp_fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sp_result r = {SP_RESULT_FATAL, NULL, vformat(fmt, ap), 0, false, NULL, 0};
    va_end(ap);
    return r;
}

void sp_result_free(sp_result *r) {
    if (!r) return;
    sp_json_free(r->json);
    free(r->text);
    for (size_t i = 0; i < r->send_count; i++) {
        free(r->sends[i].node);
        sp_json_free(r->sends[i].input);
    }
    free(r->sends);
    memset(r, 0, sizeof *r);
}

/* ---- logging ------------------------------------------------------------- */

void sp_log(sp_level level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *raw = vformat(fmt, ap);
    va_end(ap);
    size_t len;
    char *line = sp__utf8_fix(raw, strlen(raw), &len);
    free(raw);
    node_string_t message = {(uint8_t *)line, len};
    savepoint_node_host_level_t wit_level =
        level <= SP_ERROR ? (savepoint_node_host_level_t)level : SAVEPOINT_NODE_HOST_LEVEL_ERROR;
    savepoint_node_host_log(wit_level, &message);
    free(line);
}

/* ---- the exports --------------------------------------------------------- */

/* Strings handed to the host: malloc'd; the bindings free them after the
 * host has copied them (cabi_post_*). */
static node_string_t give(char *s, size_t len) {
    node_string_t out = {(uint8_t *)s, len};
    return out;
}

static node_string_t give_copy(const char *s) {
    size_t len;
    char *copy = sp__utf8_fix(s ? s : "", s ? strlen(s) : 0, &len);
    return give(copy, len);
}

void exports_node_describe(node_node_info_t *ret) {
    memset(ret, 0, sizeof *ret);
    ret->name = give_copy(sp_node.name);
    ret->version = give_copy(sp_node.version);
    ret->description = give_copy(sp_node.description);
    if (sp_node.config_schema) {
        ret->config_schema.is_some = true;
        ret->config_schema.val = give_copy(sp_node.config_schema);
    }
}

static char *c_string(const node_string_t *s) {
    char *out = malloc(s->len + 1);
    if (!out) abort();
    memcpy(out, s->ptr, s->len);
    out[s->len] = '\0';
    return out;
}

/* Parses a JSON input; NULL and a fatal *failure when it does not parse or
 * (object_only) is not an object. */
static sp_json *parse_input(const node_string_t *text, const char *what, bool object_only, sp_result *failure) {
    char error[160];
    sp_json *value = sp_json_parse((const char *)text->ptr, text->len, error, sizeof error);
    if (!value) {
        *failure = sp_fatal("cannot read the %s: %s", what, error);
    } else if (object_only && sp_json_type_of(value) != SP_JSON_OBJECT) {
        *failure = sp_fatal("the %s must be a JSON object, not %s", what, sp_json_type_name(value));
        sp_json_free(value);
        value = NULL;
    }
    return value;
}

/* A fatal failure when the update, the sleep update or a send's input is not
 * a JSON object; kind UNSET (zero) when all are. */
static sp_result check_objects(const sp_result *r) {
    sp_result ok = {0};
    const char *object_what = r->kind == SP_RESULT_UPDATE ? "update" : r->kind == SP_RESULT_SLEEP ? "sleep update" : NULL;
    if (object_what && sp_json_type_of(r->json) != SP_JSON_OBJECT)
        return sp_fatal("the %s must be a JSON object, not %s", object_what, sp_json_type_name(r->json));
    for (size_t i = 0; r->kind == SP_RESULT_UPDATE && i < r->send_count; i++) {
        if (sp_json_type_of(r->sends[i].input) != SP_JSON_OBJECT)
            return sp_fatal("the input of the send to %s must be a JSON object, not %s", r->sends[i].node,
                            sp_json_type_name(r->sends[i].input));
    }
    return ok;
}

/* Converts the node's result into the WIT outcome or failure; frees it. */
static bool answer(sp_result r, node_outcome_t *ret, node_failure_t *err) {
    sp_result failure = check_objects(&r);
    if (failure.kind) {
        sp_result_free(&r);
        r = failure;
    }
    memset(ret, 0, sizeof *ret);
    memset(err, 0, sizeof *err);
    size_t len;
    char *text;
    switch (r.kind) {
    case SP_RESULT_UPDATE:
        text = sp_json_serialize(r.json, &len);
        ret->tag = SAVEPOINT_NODE_TYPES_OUTCOME_UPDATE;
        ret->val.update.state = give(text, len);
        if (r.text) {
            ret->val.update.goto_.is_some = true;
            ret->val.update.goto_.val = give(r.text, strlen(r.text));
            r.text = NULL;
        }
        if (r.send_count) {
            savepoint_node_types_send_t *sends = calloc(r.send_count, sizeof *sends);
            if (!sends) abort();
            for (size_t i = 0; i < r.send_count; i++) {
                sends[i].node = give(r.sends[i].node, strlen(r.sends[i].node));
                r.sends[i].node = NULL;
                text = sp_json_serialize(r.sends[i].input, &len);
                sends[i].input = give(text, len);
            }
            ret->val.update.sends.ptr = sends;
            ret->val.update.sends.len = r.send_count;
        }
        sp_result_free(&r);
        return true;
    case SP_RESULT_INTERRUPT:
        text = sp_json_serialize(r.json, &len);
        ret->tag = SAVEPOINT_NODE_TYPES_OUTCOME_INTERRUPT;
        ret->val.interrupt.payload = give(text, len);
        ret->val.interrupt.timeout_ms.is_some = r.has_timeout;
        ret->val.interrupt.timeout_ms.val = r.ms;
        sp_result_free(&r);
        return true;
    case SP_RESULT_SLEEP:
        text = sp_json_serialize(r.json, &len);
        ret->tag = SAVEPOINT_NODE_TYPES_OUTCOME_SLEEP;
        ret->val.sleep.duration_ms = r.ms;
        ret->val.sleep.state = give(text, len);
        sp_result_free(&r);
        return true;
    case SP_RESULT_WAIT_SIGNAL:
        ret->tag = SAVEPOINT_NODE_TYPES_OUTCOME_WAIT_SIGNAL;
        ret->val.wait_signal.name = give(r.text, strlen(r.text));
        r.text = NULL;
        ret->val.wait_signal.timeout_ms.is_some = r.has_timeout;
        ret->val.wait_signal.timeout_ms.val = r.ms;
        sp_result_free(&r);
        return true;
    case SP_RESULT_RETRYABLE:
    case SP_RESULT_FATAL:
        text = sp__utf8_fix(r.text ? r.text : "", r.text ? strlen(r.text) : 0, &len);
        err->tag = r.kind == SP_RESULT_RETRYABLE ? SAVEPOINT_NODE_TYPES_FAILURE_RETRYABLE
                                                 : SAVEPOINT_NODE_TYPES_FAILURE_FATAL;
        if (r.kind == SP_RESULT_RETRYABLE) err->val.retryable = give(text, len);
        else err->val.fatal = give(text, len);
        sp_result_free(&r);
        return false;
    default:
        sp_result_free(&r);
        return answer(sp_fatal("node_run returned no result (an unset sp_result)"), ret, err);
    }
}

bool exports_node_run(node_context_t *wit_ctx, node_json_t *wit_state, node_outcome_t *ret, node_failure_t *err) {
    sp_result failure = {0};
    sp_json *config = parse_input(&wit_ctx->config, "config", true, &failure);
    sp_json *resume = NULL;
    if (config && wit_ctx->resume.is_some)
        resume = parse_input(&wit_ctx->resume.val, "resume value", false, &failure);
    sp_signal signal = {NULL, NULL};
    if (!failure.kind && wit_ctx->signal.is_some) {
        signal.name = c_string(&wit_ctx->signal.val.name);
        signal.data = parse_input(&wit_ctx->signal.val.data, "signal's data", false, &failure);
    }
    sp_json *state = failure.kind ? NULL : parse_input(wit_state, "state", true, &failure);
    char *thread = c_string(&wit_ctx->thread);
    char *node = c_string(&wit_ctx->node);
    char *key = c_string(&wit_ctx->idempotency_key);
    sp_context ctx = {thread, node, wit_ctx->step, wit_ctx->attempt, config, resume,
                      wit_ctx->interrupt_timed_out, wit_ctx->wakes, key,
                      savepoint_node_host_lease_epoch(),
                      signal.name ? &signal : NULL,
                      wit_ctx->send_index.is_some ? (int64_t)wit_ctx->send_index.val : SP_NO_SEND};
    /* The inputs are ours (the bindings hand over their ownership). */
    node_context_free(wit_ctx);
    node_json_free(wit_state);

    sp_result r = failure.kind ? failure : node_run(&ctx, state);

    sp_json_free(config);
    sp_json_free(resume);
    sp_json_free((sp_json *)signal.data);
    free((char *)signal.name);
    sp_json_free(state);
    free(thread);
    free(node);
    free(key);
    return answer(r, ret, err);
}
