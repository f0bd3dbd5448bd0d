/* json.c: see json.h. No dependencies beyond the C library. */
#include "json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct member {
    char *key;
    size_t key_len;
    sp_json *value;
} member;

struct sp_json {
    sp_json_type type;
    union {
        bool b;
        int64_t i;
        double d;
        struct { char *ptr; size_t len; } s;
        struct { sp_json **items; size_t len, cap; } a;
        struct { member *items; size_t len, cap; } o;
    } u;
};

#define MAX_DEPTH 500

/* ---- memory -------------------------------------------------------------- */

static void *xrealloc(void *p, size_t size) {
    p = realloc(p, size ? size : 1);
    if (!p) {
        fputs("savepoint json: out of memory\n", stderr);
        abort();
    }
    return p;
}

static char *copy_bytes(const char *s, size_t len) {
    char *p = xrealloc(NULL, len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

static sp_json *new_value(sp_json_type type) {
    sp_json *v = xrealloc(NULL, sizeof *v);
    memset(v, 0, sizeof *v);
    v->type = type;
    return v;
}

/* A growing byte buffer, for strings being parsed and for serializing. */
typedef struct buf { char *p; size_t len, cap; } buf;

static void buf_add(buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->len + n + 1) cap *= 2;
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_char(buf *b, char c) { buf_add(b, &c, 1); }

/* ---- UTF-8 --------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t k = 2; k < len; k++)
        if ((s[k] & 0xC0) != 0x80) return 0;
    return len;
}

static void utf8_put(buf *b, uint32_t cp) {
    char out[4];
    size_t n;
    if (cp < 0x80) { out[0] = (char)cp; n = 1; }
    else if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3F)); n = 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12)); out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        out[0] = (char)(0xF0 | (cp >> 18)); out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
    }
    buf_add(b, out, n);
}

/* ---- parse --------------------------------------------------------------- */

typedef struct parser {
    const char *start, *p, *end;
    int depth;
    char *error;
    size_t error_size;
    bool failed;
} parser;

static sp_json *fail(parser *ps, const char *what) {
    if (!ps->failed && ps->error && ps->error_size)
        snprintf(ps->error, ps->error_size, "%s at byte %zu", what, (size_t)(ps->p - ps->start));
    ps->failed = true;
    return NULL;
}

static void skip_ws(parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static bool literal(parser *ps, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) return false;
    ps->p += n;
    return true;
}

static int hex4(parser *ps) {
    if (ps->end - ps->p < 4) return -1;
    int v = 0;
    for (int k = 0; k < 4; k++) {
        char c = *ps->p++;
        v <<= 4;
        if (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
        else return -1;
    }
    return v;
}

/* Parses a string after its opening quote into b. */
static bool parse_string_into(parser *ps, buf *b) {
    buf_add(b, "", 0);
    for (;;) {
        if (ps->p >= ps->end) return fail(ps, "unterminated string"), false;
        unsigned char c = (unsigned char)*ps->p;
        if (c == '"') { ps->p++; return true; }
        if (c < 0x20) return fail(ps, "control character in string"), false;
        if (c != '\\') {
            size_t n = utf8_len((const unsigned char *)ps->p, (size_t)(ps->end - ps->p));
            if (!n) return fail(ps, "invalid UTF-8"), false;
            buf_add(b, ps->p, n);
            ps->p += n;
            continue;
        }
        ps->p++;
        if (ps->p >= ps->end) return fail(ps, "unterminated string"), false;
        char e = *ps->p++;
        switch (e) {
        case '"': buf_char(b, '"'); break;
        case '\\': buf_char(b, '\\'); break;
        case '/': buf_char(b, '/'); break;
        case 'b': buf_char(b, '\b'); break;
        case 'f': buf_char(b, '\f'); break;
        case 'n': buf_char(b, '\n'); break;
        case 'r': buf_char(b, '\r'); break;
        case 't': buf_char(b, '\t'); break;
        case 'u': {
            int cp = hex4(ps);
            if (cp < 0) return fail(ps, "bad \\u escape"), false;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return fail(ps, "lone surrogate"), false;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                int lo = (literal(ps, "\\u")) ? hex4(ps) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF) return fail(ps, "lone surrogate"), false;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            utf8_put(b, (uint32_t)cp);
            break;
        }
        default:
            ps->p--;
            return fail(ps, "bad escape"), false;
        }
    }
}

static sp_json *parse_number(parser *ps) {
    const char *s = ps->p, *q = s;
    bool integral = true;
    if (q < ps->end && *q == '-') q++;
    if (q >= ps->end || *q < '0' || *q > '9') return fail(ps, "bad number");
    if (*q == '0') q++;
    else while (q < ps->end && *q >= '0' && *q <= '9') q++;
    if (q < ps->end && *q == '.') {
        integral = false;
        q++;
        if (q >= ps->end || *q < '0' || *q > '9') return ps->p = q, fail(ps, "bad number");
        while (q < ps->end && *q >= '0' && *q <= '9') q++;
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        integral = false;
        q++;
        if (q < ps->end && (*q == '+' || *q == '-')) q++;
        if (q >= ps->end || *q < '0' || *q > '9') return ps->p = q, fail(ps, "bad number");
        while (q < ps->end && *q >= '0' && *q <= '9') q++;
    }
    ps->p = q;
    bool negative = *s == '-';
    if (integral && !(negative && q - s == 2 && s[1] == '0')) { /* "-0" stays a double */
        /* Accumulate as a negative number: its range holds INT64_MIN. */
        int64_t v = 0;
        bool overflow = false;
        for (const char *d = s + negative; d < q; d++) {
            int digit = *d - '0';
            if (v < (INT64_MIN + digit) / 10) { overflow = true; break; }
            v = v * 10 - digit;
        }
        if (!overflow && (negative || v != INT64_MIN)) {
            sp_json *out = new_value(SP_JSON_INT);
            out->u.i = negative ? v : -v;
            return out;
        }
    }
    char *text = copy_bytes(s, (size_t)(q - s));
    sp_json *out = new_value(SP_JSON_DOUBLE);
    out->u.d = strtod(text, NULL);
    free(text);
    return out;
}

static sp_json *parse_value(parser *ps);

/* Appends a member without looking for its key; takes `key` (malloc'd). */
static void append_member(sp_json *o, char *key, size_t key_len, sp_json *value) {
    if (o->u.o.len == o->u.o.cap) {
        o->u.o.cap = o->u.o.cap ? o->u.o.cap * 2 : 4;
        o->u.o.items = xrealloc(o->u.o.items, o->u.o.cap * sizeof(member));
    }
    o->u.o.items[o->u.o.len++] = (member){key, key_len, value};
}

typedef struct ranked { member *m; size_t index; } ranked;

static int by_key_then_index(const void *pa, const void *pb) {
    const ranked *a = pa, *b = pb;
    size_t n = a->m->key_len < b->m->key_len ? a->m->key_len : b->m->key_len;
    int c = memcmp(a->m->key, b->m->key, n);
    if (c) return c;
    if (a->m->key_len != b->m->key_len) return a->m->key_len < b->m->key_len ? -1 : 1;
    return a->index < b->index ? -1 : 1;
}

static bool same_key(const member *a, const member *b) {
    return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

/* A parsed object with a key given twice keeps the key's first position and
 * its last value (as sp_json_set does). O(n log n). */
static void dedupe(sp_json *o) {
    size_t n = o->u.o.len, kept = 0;
    if (n < 2) return;
    ranked *r = xrealloc(NULL, n * sizeof *r);
    for (size_t i = 0; i < n; i++) r[i] = (ranked){&o->u.o.items[i], i};
    qsort(r, n, sizeof *r, by_key_then_index);
    bool any = false;
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && same_key(r[i].m, r[j].m); j++) {}
        if (j - i < 2) continue;
        any = true;
        sp_json *last = r[j - 1].m->value; /* the first keeps its place, takes the last value */
        r[j - 1].m->value = r[i].m->value;
        r[i].m->value = last;
        for (size_t k = i + 1; k < j; k++) {
            free(r[k].m->key);
            sp_json_free(r[k].m->value);
            r[k].m->key = NULL;
        }
    }
    free(r);
    if (!any) return;
    for (size_t i = 0; i < n; i++)
        if (o->u.o.items[i].key) o->u.o.items[kept++] = o->u.o.items[i];
    o->u.o.len = kept;
}

static sp_json *parse_container(parser *ps, bool is_object) {
    if (++ps->depth > MAX_DEPTH) return fail(ps, "nesting too deep");
    sp_json *out = is_object ? sp_json_new_object() : sp_json_new_array();
    char close = is_object ? '}' : ']';
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) { ps->p++; ps->depth--; return out; }
    for (;;) {
        buf key = {0};
        if (is_object) {
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != '"') { fail(ps, "expected a key"); goto error; }
            ps->p++;
            if (!parse_string_into(ps, &key)) goto error;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') { free(key.p); fail(ps, "expected ':'"); goto error; }
            ps->p++;
        }
        sp_json *item = parse_value(ps);
        if (!item) { free(key.p); goto error; }
        if (is_object) append_member(out, key.p, key.len, item); /* takes key.p */
        else sp_json_push(out, item);
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') { ps->p++; skip_ws(ps); continue; }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            ps->depth--;
            if (is_object) dedupe(out);
            return out;
        }
        fail(ps, is_object ? "expected ',' or '}'" : "expected ',' or ']'");
        goto error;
    }
error:
    sp_json_free(out);
    return NULL;
}

static sp_json *parse_value(parser *ps) {
    skip_ws(ps);
    if (ps->p >= ps->end) return fail(ps, "unexpected end of input");
    switch (*ps->p) {
    case '{': return parse_container(ps, true);
    case '[': return parse_container(ps, false);
    case '"': {
        buf b = {0};
        ps->p++;
        if (!parse_string_into(ps, &b)) { free(b.p); return NULL; }
        sp_json *out = new_value(SP_JSON_STRING);
        out->u.s.ptr = b.p;
        out->u.s.len = b.len;
        return out;
    }
    case 't': if (literal(ps, "true")) return sp_json_new_bool(true); break;
    case 'f': if (literal(ps, "false")) return sp_json_new_bool(false); break;
    case 'n': if (literal(ps, "null")) return sp_json_new_null(); break;
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) return parse_number(ps);
    }
    return fail(ps, "unexpected character");
}

sp_json *sp_json_parse(const char *text, size_t len, char *error, size_t error_size) {
    parser ps = {text, text, text + len, 0, error, error_size, false};
    if (!text) return fail(&ps, "no text");
    sp_json *out = parse_value(&ps);
    if (!out) return NULL;
    skip_ws(&ps);
    if (ps.p != ps.end) {
        sp_json_free(out);
        return fail(&ps, "trailing characters");
    }
    return out;
}

/* ---- serialize ----------------------------------------------------------- */

static void write_string(buf *b, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    buf_char(b, '"');
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t n = utf8_len((const unsigned char *)s + i, len - i);
            if (n) buf_add(b, s + i, n), i += n;
            else buf_add(b, "\xEF\xBF\xBD", 3), i++; /* U+FFFD */
            continue;
        }
        switch (c) {
        case '"': buf_add(b, "\\\"", 2); break;
        case '\\': buf_add(b, "\\\\", 2); break;
        case '\b': buf_add(b, "\\b", 2); break;
        case '\f': buf_add(b, "\\f", 2); break;
        case '\n': buf_add(b, "\\n", 2); break;
        case '\r': buf_add(b, "\\r", 2); break;
        case '\t': buf_add(b, "\\t", 2); break;
        default:
            if (c < 0x20) {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                buf_add(b, esc, 6);
            } else buf_char(b, (char)c);
        }
        i++;
    }
    buf_char(b, '"');
}

static void write_double(buf *b, double d) {
    char tmp[40];
    if (!isfinite(d)) { buf_add(b, "null", 4); return; }
    /* The shortest of 15..17 significant digits that reads back exactly. */
    for (int precision = 15; precision <= 17; precision++) {
        snprintf(tmp, sizeof tmp, "%.*g", precision, d);
        if (strtod(tmp, NULL) == d) break;
    }
    buf_add(b, tmp, strlen(tmp));
    if (!strpbrk(tmp, ".eE")) buf_add(b, ".0", 2); /* stay a double: 2.0, not 2 */
}

static void write_value(buf *b, const sp_json *v) {
    char tmp[32];
    switch (sp_json_type_of(v)) {
    case SP_JSON_MISSING:
    case SP_JSON_NULL: buf_add(b, "null", 4); break;
    case SP_JSON_BOOL: v->u.b ? buf_add(b, "true", 4) : buf_add(b, "false", 5); break;
    case SP_JSON_INT:
        snprintf(tmp, sizeof tmp, "%lld", (long long)v->u.i);
        buf_add(b, tmp, strlen(tmp));
        break;
    case SP_JSON_DOUBLE: write_double(b, v->u.d); break;
    case SP_JSON_STRING: write_string(b, v->u.s.ptr, v->u.s.len); break;
    case SP_JSON_ARRAY:
        buf_char(b, '[');
        for (size_t i = 0; i < v->u.a.len; i++) {
            if (i) buf_char(b, ',');
            write_value(b, v->u.a.items[i]);
        }
        buf_char(b, ']');
        break;
    case SP_JSON_OBJECT:
        buf_char(b, '{');
        for (size_t i = 0; i < v->u.o.len; i++) {
            if (i) buf_char(b, ',');
            write_string(b, v->u.o.items[i].key, v->u.o.items[i].key_len);
            buf_char(b, ':');
            write_value(b, v->u.o.items[i].value);
        }
        buf_char(b, '}');
        break;
    }
}

char *sp_json_serialize(const sp_json *value, size_t *len) {
    buf b = {0};
    write_value(&b, value);
    if (len) *len = b.len;
    return b.p;
}

/* ---- free, clone, equal -------------------------------------------------- */

void sp_json_free(sp_json *v) {
    if (!v) return;
    if (v->type == SP_JSON_STRING) free(v->u.s.ptr);
    else if (v->type == SP_JSON_ARRAY) {
        for (size_t i = 0; i < v->u.a.len; i++) sp_json_free(v->u.a.items[i]);
        free(v->u.a.items);
    } else if (v->type == SP_JSON_OBJECT) {
        for (size_t i = 0; i < v->u.o.len; i++) {
            free(v->u.o.items[i].key);
            sp_json_free(v->u.o.items[i].value);
        }
        free(v->u.o.items);
    }
    free(v);
}

sp_json *sp_json_clone(const sp_json *v) {
    if (!v) return NULL;
    sp_json *out;
    switch (v->type) {
    case SP_JSON_STRING: return sp_json_new_string_n(v->u.s.ptr, v->u.s.len);
    case SP_JSON_ARRAY:
        out = sp_json_new_array();
        for (size_t i = 0; i < v->u.a.len; i++) sp_json_push(out, sp_json_clone(v->u.a.items[i]));
        return out;
    case SP_JSON_OBJECT:
        out = sp_json_new_object();
        out->u.o.cap = out->u.o.len = v->u.o.len;
        out->u.o.items = xrealloc(NULL, v->u.o.len * sizeof(member));
        for (size_t i = 0; i < v->u.o.len; i++) {
            const member *m = &v->u.o.items[i];
            out->u.o.items[i] = (member){copy_bytes(m->key, m->key_len), m->key_len, sp_json_clone(m->value)};
        }
        return out;
    default:
        out = new_value(v->type);
        out->u = v->u;
        return out;
    }
}

static const member *find(const sp_json *o, const char *key, size_t key_len) {
    if (sp_json_type_of(o) != SP_JSON_OBJECT) return NULL;
    for (size_t i = 0; i < o->u.o.len; i++)
        if (o->u.o.items[i].key_len == key_len && memcmp(o->u.o.items[i].key, key, key_len) == 0)
            return &o->u.o.items[i];
    return NULL;
}

bool sp_json_equal(const sp_json *a, const sp_json *b) {
    sp_json_type ta = sp_json_type_of(a), tb = sp_json_type_of(b);
    if (sp_json_is_number(a) && sp_json_is_number(b)) {
        if (ta == SP_JSON_INT && tb == SP_JSON_INT) return a->u.i == b->u.i;
        return sp_json_double_or(a, 0) == sp_json_double_or(b, 0);
    }
    if (ta != tb) return false;
    switch (ta) {
    case SP_JSON_BOOL: return a->u.b == b->u.b;
    case SP_JSON_STRING: return a->u.s.len == b->u.s.len && memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len) == 0;
    case SP_JSON_ARRAY:
        if (a->u.a.len != b->u.a.len) return false;
        for (size_t i = 0; i < a->u.a.len; i++)
            if (!sp_json_equal(a->u.a.items[i], b->u.a.items[i])) return false;
        return true;
    case SP_JSON_OBJECT:
        if (a->u.o.len != b->u.o.len) return false;
        for (size_t i = 0; i < a->u.o.len; i++) {
            const member *m = find(b, a->u.o.items[i].key, a->u.o.items[i].key_len);
            if (!m || !sp_json_equal(a->u.o.items[i].value, m->value)) return false;
        }
        return true;
    default: return true; /* missing, null */
    }
}

/* ---- read ---------------------------------------------------------------- */

sp_json_type sp_json_type_of(const sp_json *v) { return v ? v->type : SP_JSON_MISSING; }

const char *sp_json_type_name(const sp_json *v) {
    static const char *names[] = {"missing", "null", "a boolean", "an integer", "a number",
                                  "a string", "an array", "an object"};
    return names[sp_json_type_of(v)];
}

bool sp_json_is_null(const sp_json *v) { return sp_json_type_of(v) == SP_JSON_NULL; }

bool sp_json_is_number(const sp_json *v) {
    return sp_json_type_of(v) == SP_JSON_INT || sp_json_type_of(v) == SP_JSON_DOUBLE;
}

bool sp_json_as_bool(const sp_json *v, bool *out) {
    if (sp_json_type_of(v) != SP_JSON_BOOL) return false;
    if (out) *out = v->u.b;
    return true;
}

bool sp_json_as_int(const sp_json *v, int64_t *out) {
    if (sp_json_type_of(v) != SP_JSON_INT) return false;
    if (out) *out = v->u.i;
    return true;
}

bool sp_json_as_double(const sp_json *v, double *out) {
    if (!sp_json_is_number(v)) return false;
    if (out) *out = v->type == SP_JSON_INT ? (double)v->u.i : v->u.d;
    return true;
}

bool sp_json_bool_or(const sp_json *v, bool fallback) { sp_json_as_bool(v, &fallback); return fallback; }
int64_t sp_json_int_or(const sp_json *v, int64_t fallback) { sp_json_as_int(v, &fallback); return fallback; }
double sp_json_double_or(const sp_json *v, double fallback) { sp_json_as_double(v, &fallback); return fallback; }

const char *sp_json_string_or(const sp_json *v, const char *fallback) {
    return sp_json_type_of(v) == SP_JSON_STRING ? v->u.s.ptr : fallback;
}

const char *sp_json_string(const sp_json *v) { return sp_json_string_or(v, NULL); }
size_t sp_json_string_len(const sp_json *v) { return sp_json_type_of(v) == SP_JSON_STRING ? v->u.s.len : 0; }

const sp_json *sp_json_get(const sp_json *o, const char *key) {
    const member *m = key ? find(o, key, strlen(key)) : NULL;
    return m ? m->value : NULL;
}

size_t sp_json_object_size(const sp_json *o) { return sp_json_type_of(o) == SP_JSON_OBJECT ? o->u.o.len : 0; }

const char *sp_json_member_key(const sp_json *o, size_t i) {
    return i < sp_json_object_size(o) ? o->u.o.items[i].key : NULL;
}

const sp_json *sp_json_member_value(const sp_json *o, size_t i) {
    return i < sp_json_object_size(o) ? o->u.o.items[i].value : NULL;
}

size_t sp_json_array_size(const sp_json *a) { return sp_json_type_of(a) == SP_JSON_ARRAY ? a->u.a.len : 0; }

const sp_json *sp_json_at(const sp_json *a, size_t i) {
    return i < sp_json_array_size(a) ? a->u.a.items[i] : NULL;
}

/* ---- build --------------------------------------------------------------- */

sp_json *sp_json_new_null(void) { return new_value(SP_JSON_NULL); }
sp_json *sp_json_new_array(void) { return new_value(SP_JSON_ARRAY); }
sp_json *sp_json_new_object(void) { return new_value(SP_JSON_OBJECT); }

sp_json *sp_json_new_bool(bool b) {
    sp_json *v = new_value(SP_JSON_BOOL);
    v->u.b = b;
    return v;
}

sp_json *sp_json_new_int(int64_t i) {
    sp_json *v = new_value(SP_JSON_INT);
    v->u.i = i;
    return v;
}

sp_json *sp_json_new_double(double d) {
    sp_json *v = new_value(SP_JSON_DOUBLE);
    v->u.d = d;
    return v;
}

sp_json *sp_json_new_string_n(const char *s, size_t len) {
    sp_json *v = new_value(SP_JSON_STRING);
    v->u.s.ptr = copy_bytes(s ? s : "", s ? len : 0);
    v->u.s.len = s ? len : 0;
    return v;
}

sp_json *sp_json_new_string(const char *s) {
    return s ? sp_json_new_string_n(s, strlen(s)) : sp_json_new_null();
}

sp_json *sp_json_new_format(const char *fmt, ...) {
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    sp_json *v = new_value(SP_JSON_STRING);
    v->u.s.len = n > 0 ? (size_t)n : 0;
    v->u.s.ptr = xrealloc(NULL, v->u.s.len + 1);
    vsnprintf(v->u.s.ptr, v->u.s.len + 1, fmt, again);
    va_end(again);
    return v;
}

sp_json *sp_json_set(sp_json *o, const char *key, sp_json *value) {
    if (!value) value = sp_json_new_null();
    if (sp_json_type_of(o) != SP_JSON_OBJECT || !key) {
        sp_json_free(value);
        return o;
    }
    member *m = (member *)find(o, key, strlen(key));
    if (m) {
        sp_json_free(m->value);
        m->value = value;
        return o;
    }
    if (o->u.o.len == o->u.o.cap) {
        o->u.o.cap = o->u.o.cap ? o->u.o.cap * 2 : 4;
        o->u.o.items = xrealloc(o->u.o.items, o->u.o.cap * sizeof(member));
    }
    o->u.o.items[o->u.o.len++] = (member){copy_bytes(key, strlen(key)), strlen(key), value};
    return o;
}

sp_json *sp_json_push(sp_json *a, sp_json *value) {
    if (!value) value = sp_json_new_null();
    if (sp_json_type_of(a) != SP_JSON_ARRAY) {
        sp_json_free(value);
        return a;
    }
    if (a->u.a.len == a->u.a.cap) {
        a->u.a.cap = a->u.a.cap ? a->u.a.cap * 2 : 4;
        a->u.a.items = xrealloc(a->u.a.items, a->u.a.cap * sizeof(sp_json *));
    }
    a->u.a.items[a->u.a.len++] = value;
    return a;
}

bool sp_json_remove(sp_json *o, const char *key) {
    member *m = key ? (member *)find(o, key, strlen(key)) : NULL;
    if (!m) return false;
    free(m->key);
    sp_json_free(m->value);
    size_t i = (size_t)(m - o->u.o.items);
    memmove(m, m + 1, (o->u.o.len - i - 1) * sizeof(member));
    o->u.o.len--;
    return true;
}

/* ---- for savepoint.c ----------------------------------------------------- */

/* A malloc'd, NUL-terminated copy of s with invalid UTF-8 bytes replaced by
 * U+FFFD; *out_len (may be NULL) gets its length. */
char *sp__utf8_fix(const char *s, size_t len, size_t *out_len);
char *sp__utf8_fix(const char *s, size_t len, size_t *out_len) {
    buf b = {0};
    buf_add(&b, "", 0);
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_len((const unsigned char *)s + i, len - i);
        if (n) buf_add(&b, s + i, n), i += n;
        else buf_add(&b, "\xEF\xBF\xBD", 3), i++;
    }
    if (out_len) *out_len = b.len;
    return b.p;
}
