/*
 * fuzz_json.c - the JSON reader (src/base/json.c) that journals, the ledger and certificates
 * go through.
 *
 * Properties: the parser returns a tree or a clean error; a tree written back with sisa's JSON
 * writer parses again, and writing that copy gives the same bytes (what sisa writes, it reads).
 */
#include "fuzz.h"

#include "base/json.h"
#include "sisa/error.h"

#include <string.h>

static void write_tree(sisa_jw *w, const sisa_json *j)
{
    switch (j->type) {
    case SISA_JSON_NULL:
        sisa_jw_raw(w, "null");
        break;
    case SISA_JSON_BOOL:
        sisa_jw_raw(w, j->boolean ? "true" : "false");
        break;
    case SISA_JSON_NUMBER:
        sisa_jw_raw(w, j->str);
        break;
    case SISA_JSON_STRING:
        sisa_jw_str(w, j->str);
        break;
    case SISA_JSON_ARRAY:
    case SISA_JSON_OBJECT: {
        int obj = j->type == SISA_JSON_OBJECT;
        size_t n = 0;
        sisa_jw_raw(w, obj ? "{" : "[");
        for (const sisa_json *k = j->kid; k; k = k->next, n++) {
            if (obj)
                sisa_jw_key(w, k->key, n == 0);
            else if (n)
                sisa_jw_raw(w, ", ");
            write_tree(w, k);
        }
        if (n != j->count) fz_fail("a container counts %zu elements but holds %zu", j->count, n);
        sisa_jw_raw(w, obj ? "}" : "]");
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Write `j` and parse the text again; abort when sisa's own JSON does not parse. */
static sisa_json *round_trip(const sisa_json *j, sisa_jw *w)
{
    sisa_json *again = NULL;
    sisa_jw_init(w);
    write_tree(w, j);
    if (w->failed) fz_fail("writing the tree back ran out of memory");
    if (sisa_json_parse(&again, w->buf, w->len, "written") < 0)
        fz_fail("sisa's own JSON does not parse: %s\n%s", sisa_error_message(), w->buf);
    return again;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sisa_json *j = NULL;
    sisa_jw w1, w2, w3;
    fz_init();
    int rc = sisa_json_parse(&j, (const char *)data, size, "fuzz.json");
    fz_check(rc, "fuzz.json", FZ_NAMES_FILE);
    if (rc < 0) {
        if (j) fz_fail("a failed parse returned a tree");
        return 0;
    }
    /* The first writing may change the text (a byte that is not UTF-8 becomes U+FFFD); from
     * then on it is stable. */
    sisa_json *j2 = round_trip(j, &w1);
    sisa_json *j3 = round_trip(j2, &w2);
    sisa_json *j4 = round_trip(j3, &w3);
    if (w2.len != w3.len || memcmp(w2.buf, w3.buf, w2.len) != 0)
        fz_fail("writing a parsed copy changed it:\n%s\n%s", w2.buf, w3.buf);
    sisa_jw_free(&w1);
    sisa_jw_free(&w2);
    sisa_jw_free(&w3);
    sisa_json_free(j4);
    sisa_json_free(j3);
    sisa_json_free(j2);
    sisa_json_free(j);
    return 0;
}
