/* Native unit tests of json.c: `guest-sdk/c/tests/run` (needs a host C compiler). */
#include "../json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond)                                                       \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                   \
        }                                                                 \
    } while (0)

/* Parse `in`, serialize, compare with `out` (NULL: same as in). */
static void round_trip(const char *in, const char *out) {
    char error[128] = "";
    sp_json *v = sp_json_parse(in, strlen(in), error, sizeof error);
    if (!v) {
        fprintf(stderr, "parse failed: %s: %s\n", in, error);
        failures++;
        return;
    }
    char *text = sp_json_serialize(v, NULL);
    if (strcmp(text, out ? out : in) != 0) {
        fprintf(stderr, "round trip of %s gave %s, expected %s\n", in, text, out ? out : in);
        failures++;
    }
    sp_json *again = sp_json_parse(text, strlen(text), NULL, 0);
    CHECK(sp_json_equal(v, again));
    sp_json *copy = sp_json_clone(v);
    CHECK(sp_json_equal(v, copy));
    sp_json_free(again);
    sp_json_free(copy);
    sp_json_free(v);
    free(text);
}

static void rejects(const char *in, const char *message) {
    char error[128] = "";
    sp_json *v = sp_json_parse(in, strlen(in), error, sizeof error);
    if (v || !strstr(error, message)) {
        fprintf(stderr, "parse of %s: expected error '%s', got '%s'\n", in, message, v ? "(a value)" : error);
        failures++;
    }
    sp_json_free(v);
}

int main(void) {
    round_trip("null", NULL);
    round_trip("[true,false,null]", NULL);
    round_trip("9007199254740991", NULL);
    round_trip("-9223372036854775808", NULL);
    round_trip("9223372036854775807", NULL);
    round_trip("9223372036854775808", "9.223372036854776e+18");
    round_trip("-3.5", NULL);
    round_trip("0.1", NULL);
    round_trip("2.0", NULL);
    round_trip("1e3", "1000.0");
    round_trip("-0", "-0.0");
    round_trip("1.7976931348623157e308", "1.7976931348623157e+308");
    round_trip(" { \"a\" : [ 1 , { \"b\" : { } } , [ ] ] } ", "{\"a\":[1,{\"b\":{}},[]]}");
    round_trip("{\"a\":1,\"a\":2}", "{\"a\":2}");
    round_trip("{\"b\":1,\"a\":2,\"b\":3,\"c\":4,\"b\":5,\"a\":6}", "{\"b\":5,\"a\":6,\"c\":4}");
    round_trip("\"h\\u00e9llo \\ud83d\\ude00 \\\" \\\\ \\/ \\b\\f\\n\\r\\t \\u0001\"",
               "\"h\xc3\xa9llo \xf0\x9f\x98\x80 \\\" \\\\ / \\b\\f\\n\\r\\t \\u0001\"");
    round_trip("\"\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8e\x89\"", NULL);
    round_trip("{\"k\\u0000x\":\"a\\u0000b\"}", NULL);

    rejects("", "unexpected end");
    rejects("[1,]", "unexpected character");
    rejects("{\"a\" 1}", "expected ':'");
    rejects("01", "trailing");
    rejects("1.", "bad number");
    rejects("\"\\ud800\"", "lone surrogate");
    rejects("\"\\udc00\"", "lone surrogate");
    rejects("\"\xff\"", "invalid UTF-8");
    rejects("\"\xed\xa0\x80\"", "invalid UTF-8");
    rejects("\"a\nb\"", "control character");
    rejects("[1] x", "trailing");
    rejects("tru", "unexpected character");
    char deep[1200];
    memset(deep, '[', 600);
    memset(deep + 600, ']', 600);
    deep[1200 - 1] = ']';
    sp_json *too_deep = sp_json_parse(deep, sizeof deep, NULL, 0);
    CHECK(!too_deep);

    /* Build, read, replace, remove. */
    sp_json *o = sp_json_new_object();
    sp_json_set(o, "n", sp_json_new_int(1));
    sp_json_set(o, "s", sp_json_new_string("a\"b\xff"));
    sp_json_set(o, "l", sp_json_push(sp_json_push(sp_json_new_array(), sp_json_new_double(0.5)), NULL));
    sp_json_set(o, "n", sp_json_new_int(2));
    CHECK(sp_json_int_or(sp_json_get(o, "n"), 0) == 2);
    CHECK(sp_json_int_or(sp_json_get(o, "x"), 7) == 7);
    CHECK(sp_json_int_or(sp_json_get(o, "s"), 7) == 7);
    CHECK(sp_json_type_of(sp_json_get(o, "missing")) == SP_JSON_MISSING);
    CHECK(sp_json_is_null(sp_json_at(sp_json_get(o, "l"), 1)));
    CHECK(sp_json_double_or(sp_json_at(sp_json_get(o, "l"), 0), 0) == 0.5);
    CHECK(strcmp(sp_json_member_key(o, 1), "s") == 0);
    char *text = sp_json_serialize(o, NULL);
    CHECK(strcmp(text, "{\"n\":2,\"s\":\"a\\\"b\xef\xbf\xbd\",\"l\":[0.5,null]}") == 0);
    free(text);
    CHECK(sp_json_remove(o, "n"));
    CHECK(!sp_json_remove(o, "n"));
    CHECK(sp_json_object_size(o) == 2);
    sp_json_set(NULL, "x", sp_json_new_int(1)); /* frees the value */
    sp_json_free(o);

    sp_json *f = sp_json_new_format("%s-%d", "x", 42);
    CHECK(strcmp(sp_json_string(f), "x-42") == 0 && sp_json_string_len(f) == 4);
    sp_json_free(f);

    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    puts("json_test: ok");
    return 0;
}
