/*
 * test_journal.c - the records that make deletions provable: the JSON reader and writer,
 * journals (append-only, torn tails), journaled folders (commit, verify, repair) and the
 * hash-chained ledger.
 */
#include "testutil.h"

#include "base/json.h"
#include "base/mem.h"
#include "base/sha256.h"
#include "shard/journal.h"
#include "shard/request.h"
#include "shard/store.h"
#include "shard/train.h"
#include "sisa/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_json_reader(void **state)
{
    (void)state;
    const char *text =
        "{\"a\": [1, 2, {\"b\": \"x\\u00e9\\ud83d\\ude00\\n\"}], \"n\": 18446744073709551615,"
        " \"t\": true, \"z\": null, \"f\": -1.5e3}";
    sisa_json *j = NULL;
    assert_int_equal(sisa_json_parse(&j, text, strlen(text), "t"), 0);
    const sisa_json *a = sisa_json_get(j, "a");
    assert_non_null(a);
    assert_int_equal(a->type, SISA_JSON_ARRAY);
    assert_int_equal(a->count, 3);
    const char *b = NULL;
    assert_true(sisa_json_str(a->kid->next->next, "b", &b));
    assert_string_equal(b, "x\xc3\xa9\xf0\x9f\x98\x80\n");
    uint64_t n = 0;
    assert_true(sisa_json_u64(j, "n", &n));
    assert_true(n == UINT64_MAX);
    assert_int_equal(sisa_json_get(j, "t")->boolean, 1);
    assert_int_equal(sisa_json_get(j, "z")->type, SISA_JSON_NULL);
    assert_false(sisa_json_u64(j, "f", &n)); /* not a non-negative integer */
    assert_false(sisa_json_str(j, "missing", &b));
    sisa_json_free(j);

    const char *bad[] = {"",         "{",        "{\"a\" 1}",   "[1,]",      "{\"a\":1}x",
                         "\"\\q\"",  "\"a\tb\"", "[01x]",       "\"\\u12\"", "tru",
                         "{\"a\":}", "[1 2]",    "\"\\u0000\"", "nul"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(sisa_json_parse(&j, bad[i], strlen(bad[i]), "bad"), SISA_ECORRUPT);
        tu_assert_contains(sisa_error_message(), "bad: offset ");
    }
    /* NUL bytes inside the given length are not JSON, also right after a number. */
    static const char nul_after_number[] = "{\"n\": 12\0\0}";
    assert_int_equal(sisa_json_parse(&j, nul_after_number, sizeof nul_after_number - 1, "nul"),
                     SISA_ECORRUPT);
    /* Nesting is bounded, so hostile input cannot exhaust the stack. */
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    assert_int_equal(sisa_json_parse(&j, deep, sizeof deep, "deep"), SISA_ECORRUPT);
    tu_assert_contains(sisa_error_message(), "nested too deeply");
    /* A number's text is at most 64 characters (sisa writes 64-bit integers): 64 digits
     * parse, 65 are refused naming where the number starts. */
    char num[80];
    memcpy(num, "[1, ", 4);
    memset(num + 4, '7', 65);
    memcpy(num + 69, "]", 2);
    assert_int_equal(sisa_json_parse(&j, num, 68, "num"), SISA_ECORRUPT); /* 64 digits, no ] */
    tu_assert_contains(sisa_error_message(), "unterminated");
    num[68] = ']';
    assert_int_equal(sisa_json_parse(&j, num, 69, "num"), 0);
    sisa_json_free(j);
    num[68] = '7';
    assert_int_equal(sisa_json_parse(&j, num, 70, "num"), SISA_ECORRUPT);
    assert_string_equal(sisa_error_message(), "num: offset 4: number longer than 64 characters");
}

static void test_json_writer_round_trip(void **state)
{
    (void)state;
    sisa_jw w;
    sisa_jw_init(&w);
    sisa_jw_raw(&w, "{");
    sisa_jw_key(&w, "path", 1);
    sisa_jw_str(&w, "a \"quoted\" \\ path\twith\ncontrol\x01 chars");
    sisa_jw_key(&w, "n", 0);
    sisa_jw_u64(&w, 12345678901234567890ull);
    sisa_jw_raw(&w, "}");
    assert_false(w.failed);
    sisa_json *j = NULL;
    assert_int_equal(sisa_json_parse(&j, w.buf, w.len, "w"), 0);
    const char *p = NULL;
    uint64_t n = 0;
    assert_true(sisa_json_str(j, "path", &p));
    assert_string_equal(p, "a \"quoted\" \\ path\twith\ncontrol\x01 chars");
    assert_true(sisa_json_u64(j, "n", &n));
    assert_true(n == 12345678901234567890ull);
    sisa_json_free(j);
    sisa_jw_free(&w);

    /* Valid UTF-8 passes through; a byte of another encoding, a surrogate or an overlong form
     * becomes U+FFFD (one per byte), so that the output stays JSON. */
    sisa_jw_init(&w);
    sisa_jw_str(&w, "caf\xc3\xa9 c\xe9.yaml \xed\xa0\x80 \xc0\xaf \xf0\x9f\x98\x80");
    assert_false(w.failed);
    assert_string_equal(w.buf, "\"caf\xc3\xa9 c\\ufffd.yaml \\ufffd\\ufffd\\ufffd "
                               "\\ufffd\\ufffd \xf0\x9f\x98\x80\"");
    sisa_jw_free(&w);
}

static void test_journal_torn_tail(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_scratch("journal"));
    const char *path = tu_path(dir, "journal");
    sisa_journal j;
    assert_int_equal(sisa_journal_open(&j, path, 1), 0);
    assert_int_equal(sisa_journal_append(&j, "{\"op\": \"a\", \"n\": 1}"), 0);
    assert_int_equal(sisa_journal_append(&j, "{\"op\": \"b\", \"n\": 2}"), 0);
    /* Records are JSON objects: anything else is refused before it reaches the file. */
    assert_int_equal(sisa_journal_append(&j, "[1]"), SISA_EINTERNAL);
    assert_int_equal(sisa_journal_append(&j, "{\"op\": "), SISA_ECORRUPT);
    sisa_journal_close(&j);
    assert_int_equal(sisa_journal_open(&j, path, 0), 0);
    assert_int_equal(j.n, 2);
    sisa_journal_close(&j);

    /* A line that is not an object (written by something else) makes the journal corrupt. */
    FILE *fp = fopen(path, "a");
    fputs("[1]\n", fp);
    fclose(fp);
    assert_int_equal(sisa_journal_open(&j, path, 0), SISA_ECORRUPT);
    tu_assert_contains(sisa_error_message(), "journal:3: a journal record must be a JSON object");

    /* A record cut by a crash (no newline) is dropped by readers and truncated by writers. */
    tu_write_text(path, "{\"op\": \"a\"}\n{\"op\": \"b\"}\n{\"op\": \"c\", \"n");
    assert_int_equal(sisa_journal_open(&j, path, 0), 0);
    assert_int_equal(j.n, 2);
    sisa_journal_close(&j);
    size_t len;
    char *text = tu_read_file(path, &len);
    assert_true(strstr(text, "\"c\"") != NULL); /* readers change nothing */
    free(text);
    assert_int_equal(sisa_journal_open(&j, path, 1), 0);
    assert_int_equal(j.n, 2);
    assert_int_equal(sisa_journal_append(&j, "{\"op\": \"d\"}"), 0);
    sisa_journal_close(&j);
    text = tu_read_file(path, &len);
    assert_string_equal(text, "{\"op\": \"a\"}\n{\"op\": \"b\"}\n{\"op\": \"d\"}\n");
    free(text);
}

static void test_files_commit_verify_remove(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_scratch("files"));
    sisa_files f = {0};
    assert_int_equal(sisa_files_open(&f, dir, "journal", 1), 0);
    assert_int_equal(sisa_files_write(&f, "a.txt", "alpha", 5), 0);
    assert_int_equal(sisa_files_write(&f, "b.txt", "beta", 4), 0);
    char sha[65];
    sisa_file_sha256(tu_path(dir, "a.txt"), sha);
    assert_string_equal(sisa_files_hash(&f, "a.txt"), sha);
    assert_int_equal(sisa_files_verify(&f, "a.txt"), 0);
    sisa_files_close(&f);

    /* A reader sees the same, from the journal alone. */
    assert_int_equal(sisa_files_open(&f, dir, "journal", 0), 0);
    assert_true(sisa_files_has(&f, "a.txt") && sisa_files_has(&f, "b.txt"));
    assert_false(sisa_files_has(&f, "c.txt"));
    sisa_files_close(&f);

    /* One changed byte is caught. */
    tu_write_text(tu_path(dir, "b.txt"), "bets");
    assert_int_equal(sisa_files_open(&f, dir, "journal", 0), 0);
    assert_int_equal(sisa_files_verify(&f, "b.txt"), SISA_ECORRUPT);
    tu_assert_contains(sisa_error_message(), "b.txt does not match its recorded SHA-256");
    assert_int_equal(sisa_files_verify(&f, "c.txt"), SISA_ECORRUPT);
    tu_assert_contains(sisa_error_message(), "c.txt is not a committed file");
    sisa_files_close(&f);

    /* Removal is journaled first; a removed name is no longer committed. */
    assert_int_equal(sisa_files_open(&f, dir, "journal", 1), 0);
    assert_int_equal(sisa_files_remove(&f, "a.txt"), 0);
    assert_false(tu_exists(tu_path(dir, "a.txt")));
    assert_false(sisa_files_has(&f, "a.txt"));
    assert_int_equal(sisa_files_remove(&f, "never.txt"), 0); /* a no-op */
    sisa_files_close(&f);
}

static void test_files_repair(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_scratch("repair"));
    sisa_files f = {0};
    assert_int_equal(sisa_files_open(&f, dir, "journal", 1), 0);
    assert_int_equal(sisa_files_write(&f, "kept.txt", "kept", 4), 0);
    sisa_files_close(&f);

    /* A commit that reached the journal but not the rename: its temp file holds the bytes. */
    tu_write_text(tu_path(dir, ".new.txt.sisa-tmp-1-1"), "new contents");
    char sha[65];
    sisa_file_sha256(tu_path(dir, ".new.txt.sisa-tmp-1-1"), sha);
    char rec[256];
    snprintf(rec, sizeof rec,
             "{\"op\": \"put\", \"file\": \"new.txt\", \"tmp\": \".new.txt.sisa-tmp-1-1\", "
             "\"sha256\": \"%s\"}\n",
             sha);
    FILE *fp = fopen(tu_path(dir, "journal"), "a");
    fputs(rec, fp);
    /* A removal that reached the journal but not the unlink. */
    fputs("{\"op\": \"del\", \"file\": \"kept.txt\"}\n", fp);
    fclose(fp);
    /* Files the journal never heard of, a file we keep, and a subfolder. */
    tu_write_text(tu_path(dir, "stray.h5"), "uncommitted");
    tu_write_text(tu_path(dir, ".x.sisa-tmp-9-9"), "temp");
    tu_write_text(tu_path(dir, "lock"), "");
    mkdir(tu_path(dir, "sub"), 0777);

    assert_int_equal(sisa_files_open(&f, dir, "journal", 1), 0);
    const char *const keep[] = {"lock", NULL};
    assert_int_equal(sisa_files_repair(&f, keep), 3);
    assert_int_equal(sisa_files_verify(&f, "new.txt"), 0);
    assert_false(tu_exists(tu_path(dir, ".new.txt.sisa-tmp-1-1")));
    assert_false(tu_exists(tu_path(dir, "kept.txt")));
    /* A file the journal never named is not sisa's: it stays, and is listed as foreign. */
    assert_true(tu_exists(tu_path(dir, "stray.h5")));
    char foreign[256];
    size_t n_foreign = 0;
    assert_int_equal(sisa_files_foreign(&f, keep, foreign, sizeof foreign, &n_foreign), 0);
    assert_int_equal(n_foreign, 2); /* stray.h5 and the subfolder */
    tu_assert_contains(foreign, "stray.h5");
    tu_assert_contains(foreign, "sub");
    assert_false(tu_exists(tu_path(dir, ".x.sisa-tmp-9-9")));
    assert_true(tu_exists(tu_path(dir, "lock")));
    assert_true(tu_exists(tu_path(dir, "sub")));
    /* Repair is idempotent. */
    assert_int_equal(sisa_files_repair(&f, keep), 0);
    sisa_files_close(&f);
}

static void make_request(sisa_request *r, uint64_t n, int shards)
{
    memset(r, 0, sizeof *r);
    r->n = n;
    snprintf(r->time, sizeof r->time, "2026-11-28T10:00:0%dZ", (int)n);
    r->rows = 2;
    r->n_ids = 2;
    r->ids = calloc(2, 32);
    r->ids[0][0] = (uint8_t)n;
    r->ids[1][0] = (uint8_t)(n + 100);
    r->n_shards = (uint32_t)shards;
    r->shards = calloc((size_t)shards, sizeof *r->shards);
    for (int i = 0; i < shards; i++) {
        r->shards[i].shard = (uint32_t)i;
        r->shards[i].first_stage = 1;
        r->shards[i].rows = 1;
        memset(r->shards[i].lineage_before, 'a', 64);
        memset(r->shards[i].lineage_after, 'b', 64);
        memset(r->shards[i].model_before, 'c', 64);
        memset(r->shards[i].model_after, 'd', 64);
    }
}

static void test_ledger_chain(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_scratch("ledger"));
    const char *path = tu_path(dir, "ledger");
    char heads[4][65];
    for (uint64_t n = 1; n <= 3; n++) {
        sisa_request r;
        make_request(&r, n, (int)n);
        assert_int_equal(sisa_ledger_append(path, &r, heads[n]), 0);
        /* Appending the same request again (after a crash) adds nothing. */
        char again[65];
        assert_int_equal(sisa_ledger_append(path, &r, again), 0);
        assert_string_equal(again, heads[n]);
        sisa_request_free(&r);
    }
    sisa_ledger_info info;
    assert_int_equal(sisa_ledger_check(path, &info), 0);
    assert_int_equal(info.records, 3);
    assert_int_equal(info.last_request, 3);
    assert_string_equal(info.head, heads[3]);
    /* The head is the SHA-256 of the last line, and each prev the hash of the line before. */
    size_t len;
    char *text = tu_read_file(path, &len);
    char *l3 = text + len - 1; /* the start of the last line */
    while (l3 > text && l3[-1] != '\n') l3--;
    uint8_t d[32];
    char hex[65];
    sisa_sha256(d, l3, strlen(l3) - 1);
    sisa_hex(hex, d, 32);
    assert_string_equal(hex, heads[3]);
    char *prev = strstr(l3, "\"prev\": \"");
    assert_non_null(prev);
    assert_memory_equal(prev + 9, heads[2], 64);

    /* Tampering: one edited byte in the first record, a dropped record, swapped records. */
    char *copy = strdup(text);
    char *digit = strstr(copy, "\"rows\": 2");
    digit[8] = '3';
    tu_write_text(path, copy);
    assert_int_equal(sisa_ledger_check(path, &info), SISA_ECORRUPT);
    tu_assert_contains(sisa_error_message(), "ledger:2: its prev hash");
    char *nl1 = strchr(text, '\n'), *nl2 = strchr(nl1 + 1, '\n');
    tu_write_text(path, "");
    FILE *fp = fopen(path, "w");
    fwrite(text, 1, (size_t)(nl1 + 1 - text), fp);
    fwrite(nl2 + 1, 1, strlen(nl2 + 1), fp);
    fclose(fp);
    assert_int_equal(sisa_ledger_check(path, &info), SISA_ECORRUPT);
    tu_assert_contains(sisa_error_message(), "request 3 follows request 1");
    fp = fopen(path, "w");
    fwrite(nl1 + 1, 1, (size_t)(nl2 - nl1), fp);
    fwrite(text, 1, (size_t)(nl1 + 1 - text), fp);
    fwrite(nl2 + 1, 1, strlen(nl2 + 1), fp);
    fclose(fp);
    assert_int_equal(sisa_ledger_check(path, &info), SISA_ECORRUPT);
    tu_assert_contains(sisa_error_message(), "request 2 follows request 0");
    /* A cut last record. */
    fp = fopen(path, "w");
    fwrite(text, 1, len - 10, fp);
    fclose(fp);
    assert_int_equal(sisa_ledger_check(path, &info), SISA_ECORRUPT);
    tu_assert_contains(sisa_error_message(), "the last record is incomplete");
    /* Appending request 4 to it refuses and leaves the bytes as they are: the torn record is
     * request 3's, certified before, not one this append may drop. */
    sisa_request r4;
    make_request(&r4, 4, 4);
    char h4[65];
    assert_int_equal(sisa_ledger_append(path, &r4, h4), SISA_ECORRUPT);
    tu_assert_contains(sisa_error_message(), "follows request 2, not request 3's");
    size_t cut_len;
    char *cut = tu_read_file(path, &cut_len);
    assert_int_equal(cut_len, len - 10);
    assert_memory_equal(cut, text, cut_len);
    free(cut);
    /* Request 3 itself, appended again after a crash tore its record: dropped and rewritten. */
    sisa_request r3;
    make_request(&r3, 3, 3);
    char h3[65];
    assert_int_equal(sisa_ledger_append(path, &r3, h3), 0);
    assert_string_equal(h3, heads[3]);
    assert_int_equal(sisa_ledger_check(path, &info), 0);
    assert_int_equal(info.records, 3);
    sisa_request_free(&r3);
    sisa_request_free(&r4);
    free(copy);
    free(text);
}

/* Out of memory while reading a journaled folder, at every allocation the read makes in turn
 * (the N-th for N = 1, 2, ... until the read succeeds): each run ends in SISA_ENOMEM with a
 * message naming the journal, the struct is left closed and nothing leaks (ASan checks that). */
static void test_files_open_out_of_memory(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_scratch("files_oom"));
    sisa_files f = {0};
    assert_int_equal(sisa_files_open(&f, dir, "journal", 1), 0);
    assert_int_equal(sisa_files_write(&f, "a.txt", "alpha", 5), 0);
    assert_int_equal(sisa_files_write(&f, "b.txt", "beta", 4), 0);
    assert_int_equal(sisa_files_remove(&f, "a.txt"), 0);
    sisa_files_close(&f);

    unsigned long n = 1;
    for (;; n++) {
        sisa_mem_fail_at(n);
        int rc = sisa_files_open(&f, dir, "journal", 0);
        int failed = sisa_mem_failed();
        sisa_mem_fail_at(0);
        if (!failed) {
            assert_int_equal(rc, 0);
            break;
        }
        assert_int_equal(rc, SISA_ENOMEM);
        tu_assert_contains(sisa_error_message(), "out of memory");
        tu_assert_contains(sisa_error_message(), "journal");
        assert_null(f.e);
        assert_null(f.j.recs);
    }
    /* The read allocates (a buffer, records, JSON nodes), so the loop failed some of them. */
    assert_true(n > 5);
    assert_true(sisa_files_has(&f, "b.txt") && !sisa_files_has(&f, "a.txt"));
    sisa_files_close(&f);
}

/* A shard journal's summary of its data file is checked before it is believed: slice counts
 * that only add up to the row count by wrapping around 2^64 are refused. */
static void test_shard_summary_bounds(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_scratch("summary"));
    const char *lin = "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"";
    char rec[1024];
    static sisa_store st;
    st.cfg.sisa.slices = 2;
    const char *cases[][2] = {{"3", "[1, 2]"}, {"1", "[18446744073709551615, 2]"}, {"4", "[1, 2]"}};
    for (int i = 0; i < 3; i++) {
        snprintf(rec, sizeof rec,
                 "{\"op\": \"put\", \"file\": \"data.h5\", \"tmp\": \".data.h5.sisa-tmp-1-1\", "
                 "\"sha256\": %s, \"size\": 1, \"meta\": {\"rows\": %s, \"slice_rows\": %s, "
                 "\"lineages\": [%s, %s]}}\n",
                 lin, cases[i][0], cases[i][1], lin, lin);
        tu_write_text(tu_path(dir, "journal"), rec);
        sisa_files f = {0};
        assert_int_equal(sisa_files_open(&f, dir, "journal", 0), 0);
        sisa_shard_summary s;
        int rc = sisa_shard_summary_read(&st, &f, &s);
        if (i == 0) {
            assert_int_equal(rc, 1);
            assert_true(s.rows == 3 && s.slice_rows[0] == 1 && s.slice_rows[1] == 2);
        } else {
            assert_int_equal(rc, SISA_ECORRUPT);
            tu_assert_contains(sisa_error_message(), "journal: the record of data.h5 counts");
        }
        sisa_shard_summary_free(&s);
        sisa_files_close(&f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_reader),       cmocka_unit_test(test_json_writer_round_trip),
        cmocka_unit_test(test_journal_torn_tail), cmocka_unit_test(test_files_commit_verify_remove),
        cmocka_unit_test(test_files_repair),      cmocka_unit_test(test_files_open_out_of_memory),
        cmocka_unit_test(test_ledger_chain),      cmocka_unit_test(test_shard_summary_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
