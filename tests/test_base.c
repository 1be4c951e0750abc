/*
 * test_base.c - src/base: errors, SHA-256, checksums, strict parsing, atomic files, sandbox.
 */
#include "testutil.h"

#include "base/check64.h"
#include "base/fs.h"
#include "base/rng.h"
#include "base/sandbox.h"
#include "base/sha256.h"
#include "base/strutil.h"
#include "sisa/error.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void sha_hex(const void *data, size_t len, char out[65])
{
    uint8_t d[32];
    sisa_sha256(d, data, len);
    sisa_hex(out, d, 32);
}

/* FIPS 180-4 example vectors (NIST CSRC "SHA256.pdf" / "SHA2_Additional.pdf"). */
static void test_sha256_vectors(void **state)
{
    (void)state;
    char hex[65];
    sha_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha_hex(m448, strlen(m448), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

    /* One million 'a', fed in uneven pieces: exercises block carry-over. */
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    sisa_sha256_ctx c;
    sisa_sha256_init(&c);
    size_t off = 0, step = 1;
    while (off < 1000000) {
        size_t n = step < 1000000 - off ? step : 1000000 - off;
        sisa_sha256_update(&c, a + off, n);
        off += n;
        step = step * 3 % 1000 + 1;
    }
    uint8_t d[32];
    sisa_sha256_final(&c, d);
    sisa_hex(hex, d, 32);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

/* The one hex reader is sisa_hex's inverse and takes nothing else: no upper case, no short or
 * odd digits. */
static void test_unhex(void **state)
{
    (void)state;
    uint8_t bytes[4] = {0x00, 0x9f, 0xa0, 0xff}, back[4];
    char hex[9];
    sisa_hex(hex, bytes, 4);
    assert_string_equal(hex, "009fa0ff");
    assert_int_equal(sisa_unhex(back, hex, 4), 0);
    assert_memory_equal(back, bytes, 4);
    assert_int_equal(sisa_unhex(back, "009FA0FF", 4), -1);
    assert_int_equal(sisa_unhex(back, "009fa0f", 4), -1); /* the NUL is not a digit */
    assert_int_equal(sisa_unhex(back, "0x9fa0ff", 4), -1);
    assert_int_equal(sisa_unhex(back, "009fa0fg", 4), -1);
    assert_int_equal(sisa_unhex(back, "", 0), 0);
}

/* The SHA-NI and portable compressions agree on every length across several blocks, fed whole
 * and in pieces (skipped where the CPU lacks SHA-NI: then only the portable one exists). */
static void test_sha256_implementations(void **state)
{
    (void)state;
    if (!sisa_sha256_accel()) {
        print_message("  (no SHA extensions on this CPU: one implementation only)\n");
        return;
    }
    uint8_t buf[700];
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < sizeof buf; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
    for (size_t len = 0; len <= sizeof buf; len += (len < 140 ? 1 : 37)) {
        char fast[65], slow[65], pieces[65];
        sha_hex(buf, len, fast);
        sisa_sha256_ctx c;
        sisa_sha256_init(&c);
        for (size_t off = 0; off < len; off += 29)
            sisa_sha256_update(&c, buf + off, len - off < 29 ? len - off : 29);
        uint8_t d[32];
        sisa_sha256_final(&c, d);
        sisa_hex(pieces, d, 32);
        sisa_sha256_use_accel(0);
        sha_hex(buf, len, slow);
        sisa_sha256_use_accel(1);
        assert_string_equal(fast, slow);
        assert_string_equal(pieces, slow);
    }
}

/* Several messages hashed together (sisa_sha256_update_multi) give each message's own hash, on
 * both implementations: 1 to 4 messages, equal lengths of 0 to several blocks, after prefixes
 * that leave the same or different partial blocks buffered, and fed in pieces. */
static void test_sha256_multi(void **state)
{
    (void)state;
    enum { CAP = 1500 };
    static uint8_t buf[4][CAP + 200];
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int m = 0; m < 4; m++)
        for (size_t i = 0; i < sizeof buf[m]; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[m][i] = (uint8_t)x;
        }
    const int accel_modes = sisa_sha256_accel() ? 2 : 1;
    size_t checked = 0;
    for (int mode = 0; mode < accel_modes; mode++) {
        sisa_sha256_use_accel(mode == 0);
        for (int n = 1; n <= 4; n++)
            for (size_t len = 0; len <= CAP; len += (len < 200 ? 1 : 61))
                for (size_t pre = 0; pre < 130; pre += 43) {
                    /* Prefixes: equal for all (pre), or unequal mod 64 (pre + m). */
                    for (int unequal = 0; unequal < 2; unequal++) {
                        sisa_sha256_ctx c[4], *cp[4];
                        const void *p[4];
                        size_t plen[4];
                        for (int m = 0; m < n; m++) {
                            plen[m] = pre + (unequal ? (size_t)m : 0);
                            sisa_sha256_init(&c[m]);
                            sisa_sha256_update(&c[m], buf[m] + CAP, plen[m]);
                            cp[m] = &c[m];
                        }
                        /* The message in two pieces of equal length across the contexts. */
                        size_t cut = len / 3;
                        for (int m = 0; m < n; m++) p[m] = buf[m];
                        sisa_sha256_update_multi(cp, p, cut, n);
                        for (int m = 0; m < n; m++) p[m] = buf[m] + cut;
                        sisa_sha256_update_multi(cp, p, len - cut, n);
                        for (int m = 0; m < n; m++) {
                            uint8_t got[32], want[32];
                            sisa_sha256_final(&c[m], got);
                            sisa_sha256_ctx one;
                            sisa_sha256_init(&one);
                            sisa_sha256_update(&one, buf[m] + CAP, plen[m]);
                            sisa_sha256_update(&one, buf[m], len);
                            sisa_sha256_final(&one, want);
                            assert_memory_equal(got, want, 32);
                            checked++;
                        }
                    }
                }
    }
    sisa_sha256_use_accel(1);
    /* And the accelerated result equals the portable one on a multi-block message. */
    if (accel_modes == 2) {
        char fast[65], slow[65];
        sisa_sha256_ctx c[4], *cp[4] = {&c[0], &c[1], &c[2], &c[3]};
        const void *p[4] = {buf[0], buf[1], buf[2], buf[3]};
        for (int m = 0; m < 4; m++) sisa_sha256_init(&c[m]);
        sisa_sha256_update_multi(cp, p, CAP, 4);
        uint8_t d[32];
        sisa_sha256_final(&c[3], d);
        sisa_hex(fast, d, 32);
        sisa_sha256_use_accel(0);
        sha_hex(buf[3], CAP, slow);
        sisa_sha256_use_accel(1);
        assert_string_equal(fast, slow);
    }
    assert_true(checked > 1000);
}

static uint64_t check_split(const uint8_t *data, size_t len, size_t step)
{
    sisa_check64 c;
    sisa_check64_init(&c);
    for (size_t off = 0; off < len; off += step)
        sisa_check64_update(&c, data + off, step < len - off ? step : len - off);
    return sisa_check64_final(&c);
}

static void test_check64(void **state)
{
    (void)state;
    uint8_t buf[1000];
    for (int i = 0; i < 1000; i++) buf[i] = (uint8_t)(i * 7 + 3);
    uint64_t whole = check_split(buf, sizeof buf, sizeof buf);
    assert_int_equal(whole, check_split(buf, sizeof buf, 1));
    assert_int_equal(whole, check_split(buf, sizeof buf, 31));
    assert_int_equal(whole, check_split(buf, sizeof buf, 33));
    /* Every single-bit flip changes the sum. */
    for (int i = 0; i < 1000; i += 37) {
        for (int b = 0; b < 8; b++) {
            buf[i] ^= (uint8_t)(1u << b);
            assert_true(check_split(buf, sizeof buf, 64) != whole);
            buf[i] ^= (uint8_t)(1u << b);
        }
    }
    /* Length matters even for zero bytes. */
    uint8_t z[64] = {0};
    assert_true(check_split(z, 32, 32) != check_split(z, 64, 64));
    assert_true(check_split(z, 3, 3) != check_split(z, 4, 4));
}

static void test_parse_integers(void **state)
{
    (void)state;
    int64_t i;
    uint64_t u;
    assert_int_equal(sisa_parse_i64("42", &i), SISA_PARSE_OK);
    assert_int_equal(i, 42);
    assert_int_equal(sisa_parse_i64("-9223372036854775808", &i), SISA_PARSE_OK);
    assert_true(i == INT64_MIN);
    assert_int_equal(sisa_parse_i64("9223372036854775808", &i), SISA_PARSE_RANGE);
    assert_int_equal(sisa_parse_u64("18446744073709551615", &u), SISA_PARSE_OK);
    assert_true(u == UINT64_MAX);
    assert_int_equal(sisa_parse_u64("18446744073709551616", &u), SISA_PARSE_RANGE);
    const char *bad[] = {"", "-", "+1", " 1", "1 ", "0x10", "1e3", "1.0", "1_000", "--1", "abc"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        assert_int_equal(sisa_parse_i64(bad[k], &i), SISA_PARSE_SYNTAX);
    assert_int_equal(sisa_parse_u64("-1", &u), SISA_PARSE_SYNTAX);
}

static void test_parse_floats(void **state)
{
    (void)state;
    double v;
    assert_int_equal(sisa_parse_f64("0.001", &v), SISA_PARSE_OK);
    assert_true(v == 0.001);
    assert_int_equal(sisa_parse_f64("-1.5e-3", &v), SISA_PARSE_OK);
    assert_true(v == -1.5e-3);
    assert_int_equal(sisa_parse_f64("3", &v), SISA_PARSE_OK);
    assert_true(v == 3.0);
    assert_int_equal(sisa_parse_f64(".5", &v), SISA_PARSE_OK);
    assert_true(v == 0.5);
    assert_int_equal(sisa_parse_f64("1e-400", &v), SISA_PARSE_OK); /* underflow to 0 is fine */
    assert_int_equal(sisa_parse_f64("1e400", &v), SISA_PARSE_RANGE);
    const char *nonfinite[] = {"nan", "NaN", "-inf", "inf", "Infinity", "-Infinity"};
    for (size_t k = 0; k < sizeof nonfinite / sizeof nonfinite[0]; k++)
        assert_int_equal(sisa_parse_f64(nonfinite[k], &v), SISA_PARSE_NONFINITE);
    const char *bad[] = {"", ".", "e5", "1e", "0x1p3", " 1", "1 ", "1,5", "1.2.3", "nope", "+1"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        assert_int_equal(sisa_parse_f64(bad[k], &v), SISA_PARSE_SYNTAX);
}

static void test_edit_distance(void **state)
{
    (void)state;
    assert_int_equal(sisa_edit_distance("lr", "lr"), 0);
    assert_int_equal(sisa_edit_distance("lrr", "lr"), 1);
    assert_int_equal(sisa_edit_distance("shards", "shard"), 1);
    assert_int_equal(sisa_edit_distance("kitten", "sitting"), 3);
    assert_int_equal(sisa_edit_distance("", "abc"), 3);
}

/* A path of `n` bytes: "/" then components of 9 letters, ending in `leaf`. */
static char *long_path(size_t n, const char *leaf)
{
    char *p = malloc(n + 1);
    size_t tail = strlen(leaf);
    for (size_t i = 0; i < n - tail; i++) p[i] = i % 10 == 0 ? '/' : (char)('a' + i % 10);
    memcpy(p + n - tail, leaf, tail + 1);
    return p;
}

static int ends_with(const char *s, const char *end)
{
    size_t a = strlen(s), b = strlen(end);
    return a >= b && !strcmp(s + a - b, end);
}

static int valid_utf8(const unsigned char *s)
{
    while (*s) {
        int n = *s < 0x80 ? 0 : (*s & 0xE0) == 0xC0 ? 1 : (*s & 0xF0) == 0xE0 ? 2 : 3;
        if (*s >= 0x80 && (*s & 0xC0) == 0x80) return 0;
        s++;
        for (int i = 0; i < n; i++, s++)
            if ((*s & 0xC0) != 0x80) return 0;
    }
    return 1;
}

/* Messages longer than the slot are shortened in the middle, never at the end: the reason, which
 * comes last, always survives, and so does the start (what failed) and a prefix. */
static void check_long_messages(void)
{
    const size_t max = SISA_ERROR_MAX - 1;
    const char *m = NULL;
    /* One path of 4 000 bytes and a reason: the path loses its middle. */
    char *a = long_path(4000, "/store/shards/0003/ckpt-007.h5");
    char *b = long_path(3000, "/other/data.h5");
    SISA_ERR(SISA_EIO, "cannot open %s: %s", a, "No such file or directory");
    m = sisa_error_message();
    assert_true(strlen(m) <= max && strlen(m) > max - 8);
    assert_true(!strncmp(m, "cannot open /bcdefghij/bcdefghij/", 33));
    assert_true(ends_with(m, "/store/shards/0003/ckpt-007.h5: No such file or directory"));
    assert_non_null(strstr(m, "..."));
    /* Two long paths: both keep their ends; the sentence between them stays. */
    SISA_ERR(SISA_EIO, "cannot rename %s to %s: %s", a, b, "Read-only file system");
    m = sisa_error_message();
    assert_true(strlen(m) <= max);
    assert_true(!strncmp(m, "cannot rename /bcdefghij/", 25));
    assert_non_null(strstr(m, "/ckpt-007.h5 to /"));
    assert_true(ends_with(m, "/other/data.h5: Read-only file system"));
    /* A prefix with a long path: the prefix's start and the whole message stay. */
    SISA_ERR(SISA_ECORRUPT, "row 17: %s", "not a number");
    sisa_error_prefix("reading %s", b);
    m = sisa_error_message();
    assert_true(strlen(m) <= max);
    assert_true(!strncmp(m, "reading /bcdefghij/", 19));
    assert_true(ends_with(m, "/other/data.h5: row 17: not a number"));
    /* No word long enough to shorten: the message loses its own middle. */
    char words[3000];
    for (size_t i = 0; i < 2980; i += 2) memcpy(words + i, "w ", 2);
    snprintf(words + 2980, sizeof words - 2980, "THE REASON");
    SISA_ERR(SISA_EIO, "start %s", words);
    m = sisa_error_message();
    assert_true(strlen(m) <= max);
    assert_true(!strncmp(m, "start w w", 9));
    assert_true(ends_with(m, "w w THE REASON"));
    /* One word and nothing else: its start and end stay. */
    memset(words, 'x', 2990);
    memcpy(words, "BEGIN", 5);
    memcpy(words + 2985, "END", 4);
    SISA_ERR(SISA_EIO, "%s", words);
    m = sisa_error_message();
    assert_true(strlen(m) <= max && !strncmp(m, "BEGIN", 5) && ends_with(m, "xEND"));
    /* UTF-8 is never cut inside a character. */
    char utf[4001];
    for (size_t i = 0; i < 4000; i += 2) memcpy(utf + i, "\xc3\xa9", 2);
    utf[4000] = '\0';
    SISA_ERR(SISA_EIO, "/%s: %s", utf, "reason");
    m = sisa_error_message();
    assert_true(strlen(m) <= max && valid_utf8((const unsigned char *)m));
    assert_true(ends_with(m, "\xc3\xa9: reason"));
    /* Longer than the formatting buffer (20 KiB): formatted on the heap, end kept. */
    char *huge = long_path(30000, "/leaf.h5");
    SISA_ERR(SISA_EIO, "cannot create %s: %s", huge, "File name too long");
    m = sisa_error_message();
    assert_true(strlen(m) <= max && ends_with(m, "/leaf.h5: File name too long"));
    /* A message that fits is kept as it is, to the byte. */
    char *fits = long_path(max - 6, "/x"); /* with ": gone", exactly max bytes */
    SISA_ERR(SISA_EIO, "%s: gone", fits);
    m = sisa_error_message();
    assert_int_equal(strlen(m), max);
    assert_true(!strncmp(m, fits, max - 6) && ends_with(m, "/x: gone"));
    free(fits);
    free(huge);
    free(a);
    free(b);
}

static void test_errors(void **state)
{
    (void)state;
    sisa_error_clear();
    assert_int_equal(sisa_error_code(), SISA_OK);
    assert_string_equal(sisa_error_message(), "");
    assert_int_equal(sisa_error_prefix("ignored"), SISA_OK);
    int rc = SISA_ERR(SISA_ECORRUPT, "%s: bad %d", "f.h5", 7);
    assert_int_equal(rc, SISA_ECORRUPT);
    assert_string_equal(sisa_error_message(), "f.h5: bad 7");
    sisa_error_prefix("importing %s", "x");
    assert_string_equal(sisa_error_message(), "importing x: f.h5: bad 7");
    tu_assert_contains(sisa_error_origin(), "test_base.c:");
    check_long_messages();

    assert_int_equal(sisa_exit_code(SISA_OK), 0);
    assert_int_equal(sisa_exit_code(SISA_EIO), 1);
    assert_int_equal(sisa_exit_code(SISA_ECORRUPT), 1);
    assert_int_equal(sisa_exit_code(SISA_ENOMEM), 1);
    assert_int_equal(sisa_exit_code(SISA_EUSAGE), 2);
    assert_int_equal(sisa_exit_code(SISA_ECONFIG), 2);
    assert_int_equal(sisa_exit_code(SISA_EEXIST), 2);
    assert_int_equal(sisa_exit_code(SISA_EREJECT), 3);
    assert_int_equal(sisa_exit_code(SISA_EINTR), 130);
    sisa_error_clear();
}

static void test_atomic_publish(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_scratch("publish"));
    const char *target = tu_path(dir, "out.bin");

    assert_int_equal(sisa_fs_write_atomic(target, "first", 5, 0), SISA_OK);
    size_t len;
    char *got = tu_read_file(target, &len);
    assert_string_equal(got, "first");
    free(got);

    /* No clobbering without replace: the old content stays, no temp file is left. */
    assert_int_equal(sisa_fs_write_atomic(target, "second", 6, 0), SISA_EEXIST);
    tu_assert_contains(sisa_error_message(), "already exists");
    got = tu_read_file(target, &len);
    assert_string_equal(got, "first");
    free(got);
    assert_int_equal(tu_count_entries(dir), 1);

    assert_int_equal(sisa_fs_write_atomic(target, "second", 6, 1), SISA_OK);
    got = tu_read_file(target, &len);
    assert_string_equal(got, "second");
    free(got);
    assert_int_equal(tu_count_entries(dir), 1);

    /* A temp file is created next to its target with a recognisable name. */
    char tmp[4096];
    assert_int_equal(sisa_fs_tmp_create(tmp, sizeof tmp, target), SISA_OK);
    tu_assert_contains(tmp, "/.out.bin.sisa-tmp-");
    assert_true(tu_exists(tmp));
    unlink(tmp);

    /* Writing into a folder that does not exist fails cleanly. */
    assert_int_equal(sisa_fs_write_atomic(tu_path(dir, "missing/x"), "a", 1, 0), SISA_EIO);
    tu_assert_contains(sisa_error_message(), "missing");
}

static void test_stale_tmp_cleanup(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_scratch("stale"));
    /* A leftover of a writer that no longer runs (PID far beyond pid_max) ... */
    tu_write_text(tu_path(dir, ".data.h5.sisa-tmp-2147483646-1000"), "partial");
    /* ... one of a live writer (this process) ... */
    char live[128];
    snprintf(live, sizeof live, ".data.h5.sisa-tmp-%ld-7001", (long)getpid());
    tu_write_text(tu_path(dir, live), "in progress");
    /* ... and an unrelated file. */
    tu_write_text(tu_path(dir, "data.h5"), "published");
    assert_int_equal(sisa_fs_clean_stale_tmps(tu_path(dir, "data.h5")), 1);
    assert_false(tu_exists(tu_path(dir, ".data.h5.sisa-tmp-2147483646-1000")));
    assert_true(tu_exists(tu_path(dir, live)));
    assert_true(tu_exists(tu_path(dir, "data.h5")));
}

static void test_read_all_limit(void **state)
{
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_scratch("readall"));
    const char *p = tu_path(dir, "f.txt");
    tu_write_text(p, "0123456789");
    char *buf;
    size_t len;
    assert_int_equal(sisa_fs_read_all(&buf, &len, p, 10), SISA_OK);
    assert_int_equal(len, 10);
    assert_string_equal(buf, "0123456789");
    free(buf);
    assert_int_equal(sisa_fs_read_all(&buf, &len, p, 9), SISA_ECORRUPT);
    tu_assert_contains(sisa_error_message(), "limit");
    assert_int_equal(sisa_fs_read_all(&buf, &len, tu_path(dir, "nope"), 9), SISA_EIO);
    tu_assert_contains(sisa_error_message(), "nope");
    assert_int_equal(sisa_fs_read_all(&buf, &len, dir, 9), SISA_EIO);
    tu_assert_contains(sisa_error_message(), "folder");
}

static void expect_physical(const char *path, const char *expect)
{
    char out[4096];
    int rc = sisa_path_physical(out, sizeof out, path);
    if (rc) fail_msg("%s: %s", path, sisa_error_message());
    if (strcmp(out, expect)) fail_msg("%s resolves to %s, not %s", path, out, expect);
}

/* sisa_path_physical: links followed where they are, ".." applied to the folder reached, what
 * does not exist kept as written. */
static void check_physical_paths(void)
{
    char dir[4096], d[4096], p[4400], e[4400], cwd[4096];
    snprintf(dir, sizeof dir, "%s", tu_scratch("physical"));
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0); /* the physical name of dir, without realpath() */
    assert_non_null(getcwd(d, sizeof d));
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(mkdir(tu_path(dir, "a"), 0777), 0);
    assert_int_equal(mkdir(tu_path(dir, "a/b"), 0777), 0);
    assert_int_equal(symlink("a/b", tu_path(dir, "lb")), 0);           /* relative target */
    assert_int_equal(symlink(tu_path(d, "a"), tu_path(dir, "la")), 0); /* absolute target */
    assert_int_equal(symlink("lb", tu_path(dir, "llb")), 0);           /* a link to a link */
    assert_int_equal(symlink("gone/x", tu_path(dir, "dangling")), 0);
    assert_int_equal(symlink("self", tu_path(dir, "self")), 0);
    struct {
        const char *in, *out; /* relative to dir and d */
    } cases[] = {
        {"lb/..", "a"},
        {"lb/../b/./c.h5", "a/b/c.h5"},
        {"llb/../../x", "x"},
        {"la/b/../../lb//f", "a/b/f"},
        {"new/../lb/..", "a"},
        {"new/deeper/../f", "new/f"},
        {"dangling/y", "gone/x/y"},
        {"a/b/../../../", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, cases[i].in);
        snprintf(e, sizeof e, "%s%s%s", d, *cases[i].out ? "/" : "", cases[i].out);
        if (!*cases[i].out) *strrchr(e, '/') = '\0';
        expect_physical(p, e);
    }
    expect_physical("/", "/");
    expect_physical("/..//./", "/");
    /* Relative to the current folder. */
    assert_int_equal(chdir(tu_path(dir, "lb")), 0);
    snprintf(e, sizeof e, "%s/a/x", d);
    char out[4096];
    int rc = sisa_path_physical(out, sizeof out, "../x");
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, SISA_OK);
    assert_string_equal(out, e);
    /* Loops and lengths are errors, not hangs or overflows. */
    snprintf(p, sizeof p, "%s/self/x", dir);
    assert_int_equal(sisa_path_physical(out, sizeof out, p), SISA_EUSAGE);
    tu_assert_contains(sisa_error_message(), "too many levels of symbolic links");
    char small[16];
    assert_int_equal(sisa_path_physical(small, sizeof small, "/abcdefgh/ijklmnop"), SISA_EUSAGE);
    char *longp = malloc(3 * 4096);
    for (int i = 0; i < 3 * 4096 - 1; i++) longp[i] = i % 100 ? 'z' : '/';
    longp[3 * 4096 - 1] = '\0';
    assert_int_equal(sisa_path_physical(out, sizeof out, longp), SISA_EUSAGE);
    for (int i = 0; i + 3 < 3 * 4096; i += 3) memcpy(longp + i, "/..", 3);
    longp[3 * 4096 - 3] = '\0'; /* 12 285 bytes that resolve to "/" */
    assert_int_equal(sisa_path_physical(out, sizeof out, longp), SISA_OK);
    assert_string_equal(out, "/");
    free(longp);
}

static void test_paths(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(sisa_path_dirname(out, sizeof out, "a/b/c.yaml"), SISA_OK);
    assert_string_equal(out, "a/b");
    assert_int_equal(sisa_path_dirname(out, sizeof out, "c.yaml"), SISA_OK);
    assert_string_equal(out, ".");
    assert_int_equal(sisa_path_dirname(out, sizeof out, "/c.yaml"), SISA_OK);
    assert_string_equal(out, "/");
    assert_int_equal(sisa_path_resolve(out, sizeof out, "cfg", "../data/x.h5"), SISA_OK);
    assert_string_equal(out, "cfg/../data/x.h5");
    assert_int_equal(sisa_path_resolve(out, sizeof out, "cfg", "/abs/x.h5"), SISA_OK);
    assert_string_equal(out, "/abs/x.h5");
    char small[8];
    assert_int_equal(sisa_path_resolve(small, sizeof small, "folder", "file"), SISA_EUSAGE);
    char abs[4096];
    assert_int_equal(sisa_path_absolute(abs, sizeof abs, "rel/x"), SISA_OK);
    assert_true(abs[0] == '/');
    tu_assert_contains(abs, "/rel/x");
    check_physical_paths();
}

static int child_ok(void *arg, void *result)
{
    *(int *)arg = 1; /* a write the parent must not see: the child has its own memory */
    ((double *)result)[0] = 2.5;
    ((double *)result)[1] = -1.0;
    return SISA_OK;
}

static int child_fails(void *arg, void *result)
{
    (void)arg;
    (void)result;
    return SISA_ERR(SISA_ECORRUPT, "in.h5: X has rank 3");
}

static int child_crashes(void *arg, void *result)
{
    (void)arg;
    (void)result;
    raise(SIGSEGV);
    return SISA_OK;
}

/* Write ends of pipes open before sisa_sandbox_run: this process may have inherited some (from
 * ctest, a shell), which are not the report pipe; writing to one whose reader is gone would end
 * the child on SIGPIPE. */
static char inherited_pipe[1024];

static int is_write_pipe(int fd)
{
    struct stat st;
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && (fl & O_ACCMODE) == O_WRONLY;
}

static void note_inherited_pipes(void)
{
    for (int fd = 3; fd < 1024; fd++) inherited_pipe[fd] = (char)is_write_pipe(fd);
}

/* A child taken over by what it parsed writes anything on its report pipe (found here as the
 * one pipe open for writing that the parent did not have before) and ends as it likes. */
static void hijacked_report(const void *bytes, size_t len, size_t repeat, int status)
{
    for (int fd = 3; fd < 1024; fd++) {
        if (inherited_pipe[fd] || !is_write_pipe(fd)) continue;
        for (size_t i = 0; i < repeat; i++)
            if (write(fd, bytes, len) != (ssize_t)len) break;
    }
    _exit(status);
}

static int child_floods(void *arg, void *result)
{
    (void)arg;
    (void)result;
    static char junk[4096];
    memset(junk, 0, sizeof junk);               /* code 0, then far too many result bytes */
    hijacked_report(junk, sizeof junk, 256, 0); /* 1 MiB: more than a pipe holds */
    return SISA_OK;
}

static int child_bogus_code(void *arg, void *result)
{
    (void)arg;
    (void)result;
    char rep[16];
    int code = -12345;
    memcpy(rep, &code, sizeof code);
    memcpy(rep + sizeof code, "boom", 5);
    hijacked_report(rep, sizeof code + 5, 1, 1);
    return SISA_OK;
}

static int child_escapes(void *arg, void *result)
{
    (void)arg;
    (void)result;
    char rep[32];
    int code = SISA_ECORRUPT;
    memcpy(rep, &code, sizeof code);
    memcpy(rep + sizeof code, "\x1b]0;owned\x07in.h5: bad", 20);
    hijacked_report(rep, sizeof code + 20, 1, 1);
    return SISA_OK;
}

/* What the parent accepts from a child that parsed a hostile file: nothing that breaks the
 * report's protocol. A flood of bytes must not make the parent wait for ever (an alarm fails
 * the test if it does), an unknown code is not passed on, and the message reaches the terminal
 * without control bytes. */
static void test_sandbox_hijacked(void **state)
{
    (void)state;
    alarm(60);
    note_inherited_pipes();
    assert_int_equal(sisa_sandbox_run(child_floods, NULL, NULL, 0, "reading in.h5", 0),
                     SISA_EINTERNAL);
    tu_assert_contains(sisa_error_message(), "reading in.h5 sent a report of 1048572 bytes");
    assert_int_equal(sisa_sandbox_run(child_bogus_code, NULL, NULL, 0, "reading in.h5", 0),
                     SISA_EINTERNAL);
    tu_assert_contains(sisa_error_message(), "reading in.h5 ended without a report");
    assert_int_equal(sisa_sandbox_run(child_escapes, NULL, NULL, 0, "reading in.h5", 0),
                     SISA_ECORRUPT);
    assert_string_equal(sisa_error_message(), "?]0;owned?in.h5: bad");
    alarm(0);
}

static void test_sandbox(void **state)
{
    (void)state;
    int flag = 0;
    double result[2] = {0, 0};
    assert_int_equal(sisa_sandbox_run(child_ok, &flag, result, sizeof result, "test work", 0),
                     SISA_OK);
    assert_int_equal(flag, 0);
    assert_true(result[0] == 2.5 && result[1] == -1.0);
    assert_int_equal(sisa_sandbox_run(child_fails, NULL, NULL, 0, "test work", 0), SISA_ECORRUPT);
    assert_string_equal(sisa_error_message(), "in.h5: X has rank 3");
    assert_int_equal(sisa_sandbox_run(child_crashes, NULL, NULL, 0, "reading in.h5", 0),
                     SISA_ECORRUPT);
    tu_assert_contains(sisa_error_message(), "reading in.h5 crashed (signal 11");
}

/* Random123's published known-answer vectors for Philox4x32-10. */
static void test_philox_kat(void **state)
{
    (void)state;
    static const struct {
        uint32_t ctr[4], key[2], out[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
         {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
         {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (size_t k = 0; k < sizeof kat / sizeof kat[0]; k++) {
        uint32_t out[4];
        sisa_philox4x32_10(kat[k].ctr, kat[k].key, out);
        for (int i = 0; i < 4; i++) assert_int_equal(out[i], kat[k].out[i]);
    }
}

static void test_rng_streams(void **state)
{
    (void)state;
    /* A stream is its counter: the same (seed, purpose) gives the same draws; any field of the
     * purpose changes them. */
    sisa_rng a, b;
    sisa_rng_init(&a, 42, SISA_RNG_ORDER, 3, 1, 0);
    sisa_rng_init(&b, 42, SISA_RNG_ORDER, 3, 1, 0);
    uint32_t first[9];
    for (int i = 0; i < 9; i++) {
        first[i] = sisa_rng_u32(&a);
        assert_int_equal(first[i], sisa_rng_u32(&b));
    }
    /* Draw 5 is word 1 of block 1 = Philox(ctr = {1, 3, 1, ORDER << 24}, key = 42). */
    uint32_t ctr[4] = {1, 3, 1, (uint32_t)SISA_RNG_ORDER << 24}, key[2] = {42, 0}, blk[4];
    sisa_philox4x32_10(ctr, key, blk);
    assert_int_equal(first[5], blk[1]);
    const uint32_t variants[][5] = {
        {43, SISA_RNG_ORDER, 3, 1, 0}, {42, SISA_RNG_INIT, 3, 1, 0},  {42, SISA_RNG_ORDER, 4, 1, 0},
        {42, SISA_RNG_ORDER, 3, 2, 0}, {42, SISA_RNG_ORDER, 3, 1, 1},
    };
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        sisa_rng_init(&b, variants[v][0], variants[v][1], variants[v][2], variants[v][3],
                      variants[v][4]);
        assert_true(sisa_rng_u32(&b) != first[0]);
    }
}

static void test_rng_below_and_shuffle(void **state)
{
    (void)state;
    sisa_rng r;
    sisa_rng_init(&r, 7, SISA_RNG_TEST, 0, 0, 0);
    /* below(n) stays in range and hits every value of a small range about equally. */
    unsigned counts[7] = {0};
    for (int i = 0; i < 70000; i++) {
        uint32_t v = sisa_rng_below(&r, 7);
        assert_true(v < 7);
        counts[v]++;
    }
    for (int k = 0; k < 7; k++) assert_true(counts[k] > 9400 && counts[k] < 10600);
    assert_int_equal(sisa_rng_below(&r, 1), 0);
    /* Uniform floats lie in [0, 1). */
    for (int i = 0; i < 1000; i++) {
        float u = sisa_rng_uniform(&r);
        assert_true(u >= 0.0f && u < 1.0f);
    }
    /* A shuffle is a permutation, and the same stream gives the same one. */
    uint32_t p[1000], q[1000];
    for (uint32_t i = 0; i < 1000; i++) p[i] = q[i] = i;
    sisa_rng r1, r2;
    sisa_rng_init(&r1, 9, SISA_RNG_ORDER, 0, 1, 2);
    sisa_rng_init(&r2, 9, SISA_RNG_ORDER, 0, 1, 2);
    sisa_rng_shuffle(&r1, p, 1000);
    sisa_rng_shuffle(&r2, q, 1000);
    assert_memory_equal(p, q, sizeof p);
    unsigned char seen[1000] = {0};
    int moved = 0;
    for (uint32_t i = 0; i < 1000; i++) {
        assert_true(p[i] < 1000 && !seen[p[i]]);
        seen[p[i]] = 1;
        moved += p[i] != i;
    }
    assert_true(moved > 900);
}

static void test_rng_assign(void **state)
{
    (void)state;
    /* Shard assignment by keyed hash: deterministic, spreads IDs evenly, depends on the seed,
     * and shard and slice hashes are independent words. */
    unsigned shard_counts[8] = {0};
    int same_seed_diff = 0, tag_diff = 0;
    for (uint64_t id = 0; id < 80000; id++) {
        uint64_t h = sisa_rng_assign(42, id, 0);
        assert_int_equal(h, sisa_rng_assign(42, id, 0));
        shard_counts[h % 8]++;
        same_seed_diff += h % 8 != sisa_rng_assign(43, id, 0) % 8;
        tag_diff += h != sisa_rng_assign(42, id, 1);
    }
    for (int k = 0; k < 8; k++) assert_true(shard_counts[k] > 9600 && shard_counts[k] < 10400);
    assert_true(same_seed_diff > 65000); /* about 7/8 of IDs move under another seed */
    assert_int_equal(tag_diff, 80000);
    uint32_t ctr[4] = {0x89abcdef, 0x01234567, 0, (uint32_t)SISA_RNG_ASSIGN << 24};
    uint32_t key[2] = {42, 0}, out[4];
    sisa_philox4x32_10(ctr, key, out);
    assert_true(sisa_rng_assign(42, 0x0123456789abcdefull, 1) ==
                ((uint64_t)out[2] | (uint64_t)out[3] << 32));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_unhex),
        cmocka_unit_test(test_sha256_implementations),
        cmocka_unit_test(test_sha256_multi),
        cmocka_unit_test(test_check64),
        cmocka_unit_test(test_parse_integers),
        cmocka_unit_test(test_parse_floats),
        cmocka_unit_test(test_edit_distance),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_atomic_publish),
        cmocka_unit_test(test_stale_tmp_cleanup),
        cmocka_unit_test(test_read_all_limit),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_sandbox),
        cmocka_unit_test(test_sandbox_hijacked),
        cmocka_unit_test(test_philox_kat),
        cmocka_unit_test(test_rng_streams),
        cmocka_unit_test(test_rng_below_and_shuffle),
        cmocka_unit_test(test_rng_assign),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
