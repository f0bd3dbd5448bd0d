/*
 * json.h: a small JSON (RFC 8259) tree for savepoint C nodes.
 *
 * Values are trees of `sp_json` nodes: null, booleans, integers (kept exact
 * as int64_t), doubles, strings (UTF-8, may contain NUL), arrays and objects
 * (members keep their order; a key appears at most once).
 *
 * Ownership, in three rules:
 *
 *   1. A value you create (sp_json_parse, sp_json_new_*, sp_json_clone) is
 *      yours: free it with sp_json_free(), or give it away.
 *   2. Giving it away: sp_json_set(), sp_json_push() and the sp_result
 *      constructors of savepoint.h (sp_update, sp_interrupt, sp_sleep) take
 *      ownership of the value passed to them. Do not use or free it after.
 *   3. A value you look up (sp_json_get, sp_json_at, sp_json_member_value,
 *      the state and ctx->config of a node) is borrowed: it lives as long as
 *      its parent, and you never free it. To keep a part of it or put it in
 *      another tree, sp_json_clone() it.
 *
 * Strings returned by accessors are borrowed the same way. sp_json_serialize()
 * returns a malloc'd string that the caller frees with free().
 *
 * Objects are arrays of members: a lookup is a linear scan (fine for the
 * tens of keys of a state or a config; index big maps yourself).
 *
 * Every function accepts NULL where a value is read (a missing value): the
 * getters then return NULL / the default, sp_json_type() returns
 * SP_JSON_MISSING. Running out of memory aborts (traps the call).
 */
#ifndef SAVEPOINT_JSON_H
#define SAVEPOINT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sp_json_type {
    SP_JSON_MISSING = 0, /* the NULL pointer: a key that is not there */
    SP_JSON_NULL,
    SP_JSON_BOOL,
    SP_JSON_INT,    /* an integer literal that fits int64_t */
    SP_JSON_DOUBLE, /* any other number (fraction, exponent, or too big) */
    SP_JSON_STRING,
    SP_JSON_ARRAY,
    SP_JSON_OBJECT,
} sp_json_type;

typedef struct sp_json sp_json;

/* ---- parse, serialize, free ---------------------------------------------- */

/* Parse `len` bytes of JSON text (a whole document; surrounding whitespace is
 * fine). Returns a new tree, or NULL with a message such as "expected ':' at
 * byte 12" written to `error` (`error_size` bytes, may be NULL/0). Nesting
 * deeper than 500 levels, invalid UTF-8 and lone surrogates are errors. */
sp_json *sp_json_parse(const char *text, size_t len, char *error, size_t error_size);

/* Compact JSON text of `value` (NUL-terminated; caller frees). Non-ASCII
 * characters are written as UTF-8, control characters, '"' and '\\' are
 * escaped; invalid UTF-8 in a string becomes U+FFFD; a NaN or infinite
 * double becomes null. A NULL value serializes as "null". `len` may be NULL. */
char *sp_json_serialize(const sp_json *value, size_t *len);

/* Free a tree you own (rule 1). NULL is fine. */
void sp_json_free(sp_json *value);

/* A deep copy, owned by the caller. NULL gives NULL. */
sp_json *sp_json_clone(const sp_json *value);

/* True when both trees are equal (objects: same keys and values, any order;
 * an int and a double are equal when they have the same value). */
bool sp_json_equal(const sp_json *a, const sp_json *b);

/* ---- read ---------------------------------------------------------------- */

sp_json_type sp_json_type_of(const sp_json *value);
/* "missing", "null", "a boolean", "an integer", "a number", "a string",
 * "an array", "an object": for error messages. */
const char *sp_json_type_name(const sp_json *value);

bool sp_json_is_null(const sp_json *value);   /* a JSON null (not missing) */
bool sp_json_is_number(const sp_json *value); /* an int or a double */

/* Typed reads: true and *out set when `value` has that type. A double with
 * an integral value is not an int; sp_json_as_double accepts ints too. */
bool sp_json_as_bool(const sp_json *value, bool *out);
bool sp_json_as_int(const sp_json *value, int64_t *out);
bool sp_json_as_double(const sp_json *value, double *out);

/* Typed reads with a default for a missing value or another type. */
bool sp_json_bool_or(const sp_json *value, bool fallback);
int64_t sp_json_int_or(const sp_json *value, int64_t fallback);
double sp_json_double_or(const sp_json *value, double fallback);
const char *sp_json_string_or(const sp_json *value, const char *fallback);

/* A string's bytes (NUL-terminated; it may also contain NULs: use the
 * length), or NULL when `value` is not a string. */
const char *sp_json_string(const sp_json *value);
size_t sp_json_string_len(const sp_json *value);

/* Objects: the member named `key` (NULL when absent or not an object). */
const sp_json *sp_json_get(const sp_json *object, const char *key);
/* Members in order: size, i-th key and value (i < size). */
size_t sp_json_object_size(const sp_json *object);
const char *sp_json_member_key(const sp_json *object, size_t i);
const sp_json *sp_json_member_value(const sp_json *object, size_t i);

/* Arrays: size and i-th item (NULL when out of range or not an array). */
size_t sp_json_array_size(const sp_json *array);
const sp_json *sp_json_at(const sp_json *array, size_t i);

/* ---- build (each returns a new value owned by the caller) ---------------- */

sp_json *sp_json_new_null(void);
sp_json *sp_json_new_bool(bool b);
sp_json *sp_json_new_int(int64_t i);
sp_json *sp_json_new_double(double d);
sp_json *sp_json_new_string(const char *s); /* copies s; NULL gives null */
sp_json *sp_json_new_string_n(const char *s, size_t len);
/* A string from a printf format: sp_json_new_format("%s, %s!", a, b). */
sp_json *sp_json_new_format(const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
sp_json *sp_json_new_array(void);
sp_json *sp_json_new_object(void);

/* Set object[key] = value, replacing an existing member in place. Takes
 * ownership of `value` (NULL stores null); copies `key`. Returns `object`,
 * so calls chain:
 *     sp_json *o = sp_json_set(sp_json_new_object(), "n", sp_json_new_int(1));
 * Setting on a non-object frees `value` and changes nothing. */
sp_json *sp_json_set(sp_json *object, const char *key, sp_json *value);

/* Append `value` to an array (takes ownership; NULL appends null). Returns
 * `array`. Pushing onto a non-array frees `value` and changes nothing. */
sp_json *sp_json_push(sp_json *array, sp_json *value);

/* Remove object[key] and free it. True when it was there. */
bool sp_json_remove(sp_json *object, const char *key);

#ifdef __cplusplus
}
#endif

#endif
