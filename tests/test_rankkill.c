/*
 * test_rankkill.c - a rank of `mpirun -n 3` dies (kill -9) during `sisa train` and during
 * `sisa unlearn`: the job ends, and the next command on the store, at 1, 2 or 3 ranks, brings it
 * to the bits of an undisturbed run.
 *
 * The reference: `sisa train` (one process) of 600 rows into S = 3 shards x R = 4 slices (a tiny
 * MLP), then `sisa unlearn` of three IDs, one in each shard, in slices 0, 1 and 2, so that every
 * rank of three has a shard to retrain. The same two commands under `mpirun -n 3`, undisturbed,
 * must give the reference, and tell how many journal records (lines of the store's journal, the
 * shards' journals and the ledger) each command writes: T for train, U for unlearn.
 *
 * The moment of each kill is chosen by the store, not by a clock: the test polls the journals
 * until the command has written K records, stops every rank of the job (SIGSTOP), counts the
 * records again (the number printed), kills one chosen rank with SIGKILL and lets the others go
 * on (SIGCONT). Open MPI must then abort the job: mpirun exits with a failure within 120 s (else
 * the test fails as a hang), and no process of the job is left. K runs over 1 .. T-1 (train) and
 * 1 .. U-1 (unlearn) in even steps; the rank killed and the rank count of the recovery cycle so
 * that every pair of (rank killed, ranks of the recovery) in {0, 1, 2} x {1, 2, 3} occurs.
 *
 * Recovery is what a user does: after a killed train, train again (compared with the trained
 * reference) and unlearn; after a killed unlearn, the unlearn again (its open finishes the
 * interrupted request). The store is then compared with the reference as test_crash does
 * (tests/storecmp.h): every shard file but the journals byte for byte, no temp file, the
 * manifest and the ledger (without times; the salted IDs checked under each store's salt).
 *
 * A rank that fails with an error while the others succeed (the failure agreed collectively,
 * one message, exit 1 on every rank) is test_mpi.c's test_failure_on_one_rank.
 */
#include "storecmp.h"
#include "testutil.h"

#include "io/store_io.h"
#include "sisa/dataset.h"
#include "sisa/error.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N_ROWS  600
#define N_FEAT  8
#define N_CLASS 3
#define SHARDS  3
#define SLICES  4
#define RANKS   3
#define N_DEL   3
#define POINTS  6 /* kills in each command */

static char dir[2048];
static uint64_t del_id[N_DEL];
static char del_list[128];
static int train_records, unlearn_records; /* T and U */
static tu_run *R;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static void sh(const char *fmt, ...) SISA_PRINTF(1, 2);
static void sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (system(cmd) != 0) fail_msg("command failed: %s", cmd);
}

static const char *at(const char *name)
{
    return tu_path(dir, name);
}

/* STORE := a copy of FROM (FROM NULL: no store at all). */
static void reset_store(const char *store, const char *from)
{
    if (from)
        sh("rm -rf '%s/%s' && cp -a '%s/%s' '%s/%s'", dir, store, dir, from, dir, store);
    else
        sh("rm -rf '%s/%s'", dir, store);
}

static void write_data(const char *path)
{
    sisa_writer_opts o;
    memset(&o, 0, sizeof o);
    o.num_classes = N_CLASS;
    o.replace = 1;
    o.source = "test_rankkill";
    sisa_dataset_writer *w = NULL;
    assert_int_equal(sisa_dataset_writer_open(&w, path, N_FEAT, &o), 0);
    uint64_t s = 3;
    for (uint64_t i = 0; i < N_ROWS; i++) {
        float x[N_FEAT];
        int64_t y = (int64_t)(i % N_CLASS);
        uint64_t id = 5000 + 5 * i + (i % 4);
        for (int j = 0; j < N_FEAT; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            x[j] = (j % N_CLASS == y ? 1.0f : 0.0f) + (float)((s >> 40) & 0xffff) / 65536.0f;
        }
        assert_int_equal(sisa_dataset_writer_append(w, x, &y, &id, NULL, 1), 0);
    }
    assert_int_equal(sisa_dataset_writer_commit(w, NULL), 0);
}

/* STORE.yaml for store STORE (relative paths: every store names the same dataset). */
static const char *cfg(const char *store)
{
    static char bufs[4][2300];
    static int next;
    char *b = bufs[next++ & 3];
    snprintf(b, 2300, "%s/%s.yaml", dir, store);
    return b;
}

static void write_config(const char *store)
{
    char text[1024];
    snprintf(text, sizeof text,
             "data: {train: D.h5}\n"
             "store: %s\n"
             "seed: 9\n"
             "sisa: {shards: %d, slices: %d}\n"
             "model: {type: mlp, hidden: [8]}\n"
             "train: {optimizer: adam, lr: 0.01, batch_size: 16, epochs: 2}\n",
             store, SHARDS, SLICES);
    tu_write_text(cfg(store), text);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* sisa with P ranks (0: one process, no mpirun), which must succeed. */
static void run_ok(int p, const char *const *args, const char *what)
{
    tu_sisa_ranks(R, p, args);
    if (R->status != 0)
        fail_msg("%s: sisa %s (%d ranks) failed with status %d:\n%s%s", what, args[0], p ? p : 1,
                 R->status, R->out, R->err);
}

static void train_ok(int p, const char *store, const char *what)
{
    run_ok(p, ARGS("train", "-c", cfg(store)), what);
}

static void unlearn_ok(int p, const char *store, const char *what)
{
    run_ok(p, ARGS("unlearn", "-c", cfg(store), "--ids", del_list), what);
}

static void compare(const char *store, const char *ref, const char *what)
{
    char a[2400], b[2400];
    snprintf(a, sizeof a, "%s/%s", dir, store);
    snprintf(b, sizeof b, "%s/%s", dir, ref);
    sc_compare_store(a, b, SHARDS, del_id, N_DEL, what);
}

/* ---- the store's journal records ------------------------------------------------------------ */

/* The journals and the ledger of store w. */
static void record_file(int i, char *path, size_t cap)
{
    if (i == 0)
        snprintf(path, cap, "%s/w/journal", dir);
    else if (i == 1)
        snprintf(path, cap, "%s/w/ledger", dir);
    else
        snprintf(path, cap, "%s/w/shards/%04d/journal", dir, i - 2);
}

/* A number that changes whenever one of them grows or appears. */
static long long records_signature(void)
{
    long long sig = 0;
    for (int i = 0; i < SHARDS + 2; i++) {
        char path[2400];
        struct stat st;
        record_file(i, path, sizeof path);
        if (stat(path, &st) == 0) sig += 1 + (long long)st.st_size * 16;
    }
    return sig;
}

/* Their records (complete lines). */
static int count_records(void)
{
    int n = 0;
    for (int i = 0; i < SHARDS + 2; i++) {
        char path[2400], buf[65536];
        record_file(i, path, sizeof path);
        int fd = open(path, O_RDONLY);
        if (fd < 0) continue;
        ssize_t got;
        while ((got = read(fd, buf, sizeof buf)) > 0)
            for (ssize_t k = 0; k < got; k++) n += buf[k] == '\n';
        close(fd);
    }
    return n;
}

/* ---- the job's processes --------------------------------------------------------------------- */

/* mpirun -n RANKS sisa ARGS in a session of its own, output to `log`; leak checks off in the
 * ranks under the sanitizer build (testutil.h, tu_sisa_ranks). */
static pid_t spawn(const char *const *args, const char *log)
{
    const char *argv[32];
    int n = 0;
    char np[16];
    snprintf(np, sizeof np, "%d", RANKS);
    argv[n++] = tu_env("SISA_MPIEXEC");
    argv[n++] = "-n";
    argv[n++] = np;
    argv[n++] = tu_env("SISA_BIN");
    for (int i = 0; args[i]; i++) argv[n++] = args[i];
    argv[n] = NULL;
    const char *asan = getenv("ASAN_OPTIONS");
    char opts[1024];
    snprintf(opts, sizeof opts, "%s%sdetect_leaks=0", asan ? asan : "", asan && *asan ? ":" : "");
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        setenv("ASAN_OPTIONS", opts, 1);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    assert_true(pid > 0);
    return pid;
}

/* The MPI rank of process `pid` (OMPI_COMM_WORLD_RANK in its environment), -1 if none. */
static int rank_of(pid_t pid)
{
    char path[64], buf[65536];
    snprintf(path, sizeof path, "/proc/%ld/environ", (long)pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = '\0';
    static const char key[] = "OMPI_COMM_WORLD_RANK=";
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1)
        if (!strncmp(buf + i, key, sizeof key - 1)) return atoi(buf + i + sizeof key - 1);
    return -1;
}

/* The ranks of mpirun `mp` by rank number (0 where not found); how many were found. */
static int find_ranks(pid_t mp, pid_t ranks[RANKS])
{
    pid_t members[32];
    int n = sc_session_members(mp, members, 32), found = 0;
    for (int r = 0; r < RANKS; r++) ranks[r] = 0;
    for (int i = 0; i < n; i++) {
        char st, comm[64];
        pid_t pp, ss;
        if (!sc_proc_stat(members[i], &st, &pp, &ss, comm, sizeof comm) || pp != mp ||
            strcmp(comm, "sisa") != 0)
            continue;
        int r = rank_of(members[i]);
        if (r >= 0 && r < RANKS && !ranks[r]) {
            ranks[r] = members[i];
            found++;
        }
    }
    return found;
}

/* Wait for mpirun `pid` (at most `limit` s; then kill its session and fail as a hang), then for
 * every process of its session to be gone. Its wait status. */
static int wait_job(pid_t pid, double limit, const char *what)
{
    int status = 0;
    double deadline = now() + limit;
    for (;;) {
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid) break;
        if (done < 0 && errno != EINTR) fail_msg("%s: waitpid: %s", what, strerror(errno));
        if (now() > deadline) {
            pid_t left[32];
            int n = sc_session_members(pid, left, 32);
            for (int k = 0; k < n; k++) kill(left[k], SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("%s: the job did not end within %.0f s of the kill (a hang)", what, limit);
        }
        sleep_s(0.002);
    }
    pid_t left[32];
    int n;
    deadline = now() + 60;
    while ((n = sc_session_members(pid, left, 32)) > 0 && now() < deadline) sleep_s(0.01);
    if (n) {
        for (int k = 0; k < n; k++) kill(left[k], SIGKILL);
        fail_msg("%s: %d process(es) of the job still ran 60 s after mpirun ended", what, n);
    }
    return status;
}

/* ---- setup: the reference ------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    R = malloc(sizeof *R);
    assert_non_null(R);
    snprintf(dir, sizeof dir, "%s", tu_scratch("rankkill"));
    write_data(at("D.h5"));
    write_config("trained");
    write_config("ref");
    write_config("w");

    train_ok(0, "trained", "reference train");
    /* The deletion: in shard k, a row of slice k (every rank retrains a shard). */
    char got[SHARDS] = {0};
    for (int k = 0; k < SHARDS; k++) {
        char path[2400];
        snprintf(path, sizeof path, "%s/trained/shards/%04d/data.h5", dir, k);
        sisa_shard_data *idx = NULL;
        assert_int_equal(sisa_shard_data_read_index(&idx, path), 0);
        for (uint64_t i = 0; i < idx->n && !got[k]; i++)
            if (idx->slice[i] == k) {
                del_id[k] = idx->id[i];
                got[k] = 1;
            }
        sisa_shard_data_free(idx);
        assert_true(got[k]);
    }
    snprintf(del_list, sizeof del_list, "%llu,%llu,%llu", (unsigned long long)del_id[0],
             (unsigned long long)del_id[1], (unsigned long long)del_id[2]);
    reset_store("ref", "trained");
    unlearn_ok(0, "ref", "reference unlearn");

    /* Undisturbed under mpirun -n 3: the same bits, and the records each command writes. */
    reset_store("w", NULL);
    train_ok(RANKS, "w", "train under mpirun -n 3");
    compare("w", "trained", "train under mpirun -n 3");
    train_records = count_records();
    unlearn_ok(RANKS, "w", "unlearn under mpirun -n 3");
    compare("w", "ref", "unlearn under mpirun -n 3");
    unlearn_records = count_records() - train_records;
    assert_true(train_records >= POINTS + 1 && unlearn_records >= POINTS + 1);
    print_message("reference: train writes %d journal records, unlearn of %s (one row in each "
                  "shard) %d; mpirun -n 3 gives the same bits\n",
                  train_records, del_list, unlearn_records);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(R);
    return 0;
}

/* ---- the kills ------------------------------------------------------------------------------- */

typedef struct {
    int kills;      /* kills that landed on a live rank */
    int early;      /* runs that ended before their K-th record */
    double seconds; /* longest time from a kill to the end of mpirun */
} kill_stats;

/* One kill: the command (train or unlearn) under mpirun -n 3, rank `victim` killed once the
 * command has written `k` records, then recovery with `rp` ranks (0: one process). */
static void kill_point(int in_train, int k, int victim, int rp, kill_stats *ks)
{
    char what[256], log[2400];
    snprintf(log, sizeof log, "%s/kill.log", dir);
    snprintf(what, sizeof what, "%s under mpirun -n 3, kill -9 of rank %d after %d of %d records",
             in_train ? "train" : "unlearn", victim, k, in_train ? train_records : unlearn_records);
    reset_store("w", in_train ? NULL : "trained");
    const int base = count_records();
    pid_t pid = in_train ? spawn(ARGS("train", "-c", cfg("w")), log)
                         : spawn(ARGS("unlearn", "-c", cfg("w"), "--ids", del_list), log);
    long long sig = records_signature();
    int status = 0, ended = 0, at_kill = -1, landed = 0;
    double deadline = now() + 120;
    for (;;) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            ended = 1;
            break;
        }
        long long s = records_signature();
        if (s != sig) {
            sig = s;
            if (count_records() - base >= k) break;
        }
        if (now() > deadline) {
            kill(-pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("%s: the command wrote only %d records in 120 s", what,
                     count_records() - base);
        }
        sleep_s(0.0001);
    }
    double killed_at = now();
    if (!ended) {
        /* Freeze the job, count, kill the victim, let the others go on. */
        pid_t ranks[RANKS];
        int found = find_ranks(pid, ranks);
        for (int r = 0; r < RANKS; r++)
            if (ranks[r]) kill(ranks[r], SIGSTOP);
        at_kill = count_records() - base;
        char st = '?', comm[64];
        pid_t pp, ss;
        if (ranks[victim] && sc_proc_stat(ranks[victim], &st, &pp, &ss, comm, sizeof comm) &&
            st != 'Z' && kill(ranks[victim], SIGKILL) == 0)
            landed = 1;
        for (int r = 0; r < RANKS; r++)
            if (ranks[r] && r != victim) kill(ranks[r], SIGCONT);
        if (!landed && found < RANKS)
            print_message("%s: only %d ranks were running\n", what, found);
        status = wait_job(pid, 120, what);
        if (now() - killed_at > ks->seconds) ks->seconds = now() - killed_at;
    } else {
        /* No process of the job may outlive mpirun. */
        (void)wait_job(pid, 60, what);
    }
    if (landed) {
        ks->kills++;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            char *text = tu_read_file(log, NULL);
            fail_msg(
                "%s (%d records at the kill): mpirun exited 0 although rank %d was killed:\n%s",
                what, at_kill, victim, text);
        }
    } else {
        ks->early++;
    }
    char how[64];
    if (WIFEXITED(status))
        snprintf(how, sizeof how, "exit %d", WEXITSTATUS(status));
    else
        snprintf(how, sizeof how, "signal %d", WTERMSIG(status));
    print_message("%s: %s (%d records at the kill), mpirun %s; recovered with %d rank(s)\n", what,
                  landed ? "killed" : "the rank had ended", at_kill, how, rp ? rp : 1);

    char step[400];
    if (in_train) {
        snprintf(step, sizeof step, "%s, then train at %d rank(s)", what, rp ? rp : 1);
        train_ok(rp, "w", step);
        compare("w", "trained", step);
        snprintf(step, sizeof step, "%s, then train and unlearn at %d rank(s)", what, rp ? rp : 1);
        unlearn_ok(rp, "w", step);
    } else {
        snprintf(step, sizeof step, "%s, then unlearn at %d rank(s)", what, rp ? rp : 1);
        unlearn_ok(rp, "w", step);
    }
    compare("w", "ref", step);
}

/* Ranks of the recovery: 0 (one process, no mpirun), 2 or 3. */
static const int recovery_ranks[3] = {0, 2, 3};

static void sweep(int in_train)
{
    const int total = in_train ? train_records : unlearn_records;
    kill_stats ks = {0};
    double t0 = now();
    for (int i = 0; i < POINTS; i++) {
        const int k = 1 + i * (total - 2) / (POINTS - 1); /* 1 .. total - 1 */
        const int victim = i % RANKS;
        const int rp = recovery_ranks[(i + i / RANKS + (in_train ? 0 : 2)) % 3];
        kill_point(in_train, k, victim, rp, &ks);
    }
    print_message("%s: %d kills of a rank of mpirun -n 3 (%d runs ended first), every job ended "
                  "(at most %.1f s after its kill), every store recovered to the reference, in "
                  "%.1f s\n",
                  in_train ? "train" : "unlearn", ks.kills, ks.early, ks.seconds, now() - t0);
    /* Most kills must land: a sweep of runs that all ended first tests nothing. */
    assert_true(ks.kills >= POINTS - 1);
}

static void test_kill_rank_in_train(void **state)
{
    (void)state;
    sweep(1);
}

static void test_kill_rank_in_unlearn(void **state)
{
    (void)state;
    sweep(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_rank_in_train),
        cmocka_unit_test(test_kill_rank_in_unlearn),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
