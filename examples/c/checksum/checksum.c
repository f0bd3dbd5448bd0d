/*
 * checksum: CRC-32 and Adler-32 of the state's `text` (its UTF-8 bytes).
 *
 * Config (every key optional):
 *   algorithms  array of "crc32" / "adler32" (default: both)
 *   format      "hex" (default: 8 lowercase hex digits) or "int" (a number)
 *   field       the state key to read (default "text")
 *
 * Update: {"checksums": {"crc32": "cbf43926", "adler32": "091e01de"},
 *          "bytes": 9}    (for text "123456789")
 */
#include <stdio.h>
#include <string.h>

#include "savepoint.h"

SP_NODE("checksum", "0.1.0",
        "CRC-32 and Adler-32 of the state's `text` (UTF-8 bytes).",
        "{\"type\":\"object\",\"properties\":{"
        "\"algorithms\":{\"type\":\"array\",\"items\":{\"enum\":[\"crc32\",\"adler32\"]}},"
        "\"format\":{\"enum\":[\"hex\",\"int\"]},"
        "\"field\":{\"type\":\"string\"}},"
        "\"additionalProperties\":false}");

/* CRC-32 (IEEE 802.3, the one of zip and PNG): reflected polynomial
 * 0xEDB88320, initial value and final xor 0xFFFFFFFF. */
static uint32_t crc32(const unsigned char *p, size_t n) {
    static uint32_t table[256];
    if (!table[1]) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    }
    uint32_t crc = 0xFFFFFFFFu;
    while (n--) crc = table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}

/* Adler-32 (RFC 1950): two sums modulo 65521; reduce every 5552 bytes, the
 * most that cannot overflow 32 bits. */
static uint32_t adler32(const unsigned char *p, size_t n) {
    uint32_t a = 1, b = 0;
    while (n) {
        size_t chunk = n < 5552 ? n : 5552;
        n -= chunk;
        while (chunk--) {
            a += *p++;
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    return (b << 16) | a;
}

static const struct {
    const char *name;
    uint32_t (*fn)(const unsigned char *, size_t);
} algorithms[] = {{"crc32", crc32}, {"adler32", adler32}};

static int find_algorithm(const char *name) {
    for (int i = 0; i < 2; i++)
        if (name && strcmp(name, algorithms[i].name) == 0) return i;
    return -1;
}

sp_result node_run(const sp_context *ctx, const sp_json *state) {
    const sp_json *config = ctx->config;
    const char *field = sp_json_string_or(sp_json_get(config, "field"), "text");
    const char *format = sp_json_string_or(sp_json_get(config, "format"), "hex");
    if (strcmp(format, "hex") != 0 && strcmp(format, "int") != 0)
        return sp_fatal("config.format must be \"hex\" or \"int\", not \"%s\"", format);

    bool wanted[2] = {true, true};
    const sp_json *list = sp_json_get(config, "algorithms");
    if (list) {
        if (sp_json_type_of(list) != SP_JSON_ARRAY)
            return sp_fatal("config.algorithms must be an array, not %s", sp_json_type_name(list));
        wanted[0] = wanted[1] = false;
        for (size_t i = 0; i < sp_json_array_size(list); i++) {
            const char *name = sp_json_string(sp_json_at(list, i));
            int k = find_algorithm(name);
            if (k < 0) return sp_fatal("unknown algorithm %s (known: crc32, adler32)", name ? name : "(not a string)");
            wanted[k] = true;
        }
    }

    const sp_json *text = sp_json_get(state, field);
    if (!sp_json_string(text))
        return sp_fatal("state.%s must be a string, not %s", field, sp_json_type_name(text));
    const unsigned char *bytes = (const unsigned char *)sp_json_string(text);
    size_t len = sp_json_string_len(text);

    sp_json *sums = sp_json_new_object();
    for (int k = 0; k < 2; k++) {
        if (!wanted[k]) continue;
        uint32_t sum = algorithms[k].fn(bytes, len);
        char hex[9];
        snprintf(hex, sizeof hex, "%08x", (unsigned)sum);
        sp_json_set(sums, algorithms[k].name,
                    strcmp(format, "hex") == 0 ? sp_json_new_string(hex) : sp_json_new_int(sum));
        sp_log_info("%s: %s of %zu bytes = %s", ctx->node, algorithms[k].name, len, hex);
    }
    sp_json *update = sp_json_new_object();
    sp_json_set(update, "checksums", sums);
    sp_json_set(update, "bytes", sp_json_new_int((int64_t)len));
    return sp_update(update, NULL);
}
