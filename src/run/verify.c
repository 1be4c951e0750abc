/*
 * verify.c - sisa verify over the job's ranks (run/run.h): prove that every shard touched by a
 * deletion equals training it from scratch without the deleted rows, and write a deletion
 * certificate.
 *
 * Rank 0 opens the store, as a writer when the certificate goes into STORE/certificates (so
 * that an interrupted request is finished first), else as a reader that writes nothing into the
 * store and checks at the end that nobody changed it meanwhile. A store trained under another
 * determinism context is refused (bits can only be compared under the same build and OpenBLAS
 * core). Rank 0 checks and reads the ledger, and decides where the rows
 * come from: the original dataset when its digest is the manifest's, else the store's own data
 * files. The touched shards are spread over the ranks by size (shard/schedule.h); each rank
 * rebuilds its shards' rows, compares them with the store's and trains them from scratch in a
 * scratch store of its own (shard/verify.h). Results travel to rank 0 in shard order, which
 * writes the certificate atomically and prints the verdict. The certificate names rows and data
 * subjects only by their salted hashes, like the ledger. A certificate depends on nothing but
 * the store, the ledger and the data: the same for any rank count, apart from its time.
 */

#include "run/run.h"
#include "run/print.h"

#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/sha256.h"
#include "io/dsdigest.h"
#include "shard/journal.h"
#include "shard/ledger.h"
#include "shard/request.h"
#include "shard/schedule.h"
#include "shard/store.h"
#include "shard/train.h"
#include "shard/verify.h"
#include "sisa/error.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* What rank 0 decided, broadcast as bytes. */
typedef struct {
    uint64_t none;       /* 1: no certified deletion request */
    uint64_t from_store; /* 1: rows rebuilt from the store's data files, not the dataset */
    uint64_t n_ids, n_shards;
    char reason[SISA_PATH_MAX + 256]; /* why the dataset was not used */
} verify_plan;

/* Rank 0: `path` (an output file) must not be inside the store, which a reader never writes. */
static int check_outside(const sisa_store *st, const char *path, const char *what)
{
    int err = SISA_OK;
    char abs[SISA_PATH_MAX], root[SISA_PATH_MAX];
    if (!strcmp(path, "-")) return SISA_OK; /* standard output */
    SISA_TRY(sisa_path_absolute(abs, sizeof abs, path));
    SISA_TRY(sisa_path_absolute(root, sizeof root, st->root));
    size_t rl = strlen(root);
    SISA_CHECK(!(strncmp(abs, root, rl) == 0 && (abs[rl] == '\0' || abs[rl] == '/')), SISA_EUSAGE,
               "sisa verify: %s %s is inside store %s; omit %s to write the certificate into "
               "STORE/certificates, or name a file outside the store",
               what, path, st->root, what);
done:
    return err;
}

/* Rank 0, readers: the deletion requests as the open saw them, unfinished ones excepted. A
 * reader cannot finish a request, and verifying shards that one is changing means nothing. */
static int check_settled(const sisa_store *st)
{
    int err = SISA_OK;
    sisa_files f = {0};
    sisa_request_summary sum;
    SISA_TRY(sisa_store_files(st, &f, 0));
    SISA_TRY(sisa_request_summarise(&f.j, &sum));
    SISA_CHECK(sum.requests == st->requests && sum.certified == st->certified &&
                   sum.certified == sum.requests,
               SISA_EBUSY,
               "store %s has an unfinished deletion request (%llu of %llu certified): verify "
               "checks certified requests only, on a store nobody is changing. Run it again "
               "once the request is finished (the next writing sisa command finishes it), or "
               "run sisa verify without -o, which finishes it first",
               st->root, (unsigned long long)sum.certified, (unsigned long long)sum.requests);
done:
    sisa_files_close(&f);
    return err;
}

/* Rank 0: read the ledger, size the touched shards, and choose where the rows come from. */
static int plan_on_root(const sisa_store *st, sisa_deletions *del, verify_plan *vp, uint64_t **cost,
                        const char *cert_path, int force)
{
    int err = SISA_OK;
    const uint32_t S = (uint32_t)st->cfg.sisa.shards;
    char path[SISA_PATH_MAX], digest[65];
    sisa_files f = {0};
    sisa_shard_data *idx = NULL;

    SISA_CHECK(!cert_path || force || !strcmp(cert_path, "-") || !sisa_fs_exists(cert_path),
               SISA_EEXIST, "%s exists; use --force to replace it", cert_path);
    SISA_TRY(sisa_path_resolve(path, sizeof path, st->root, "ledger"));
    SISA_TRY(sisa_deletions_read(del, path, S));
    SISA_CHECK(del->n_requests == st->man.deletions, SISA_ECORRUPT,
               "%s holds %llu certified request(s), but the manifest of store %s counts %llu "
               "deletion request(s): the ledger was cut or edited (see sisa audit)",
               path, (unsigned long long)del->n_requests, st->root,
               (unsigned long long)st->man.deletions);
    if (!del->n_requests) {
        vp->none = 1;
        goto done;
    }
    vp->n_ids = del->n_ids;
    vp->n_shards = del->n_shards;

    /* Costs for the schedule: the store's row counts (1 when the file cannot be read: the rank
     * that verifies the shard reports why). */
    *cost = sisa_calloc(del->n_shards, sizeof **cost);
    SISA_CHECK(*cost, SISA_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < del->n_shards; i++) {
        (*cost)[i] = 1;
        SISA_TRY(sisa_shard_files(st, del->shards[i], &f, 0));
        int rc = sisa_files_has(&f, "data.h5")
                     ? sisa_shard_read_data(st, &f, del->shards[i], 0, &idx)
                     : SISA_OK;
        if (rc == SISA_ECORRUPT)
            sisa_error_clear();
        else
            SISA_TRY(rc);
        if (idx && idx->n) (*cost)[i] = idx->n;
        sisa_shard_data_free(idx);
        idx = NULL;
        sisa_files_close(&f);
    }

    /* The original dataset, if it is still the one the store was trained on. */
    const char *ds = st->cfg.data.train;
    if (!sisa_fs_exists(ds)) {
        vp->from_store = 1;
        snprintf(vp->reason, sizeof vp->reason, "the dataset %s is missing", ds);
    } else {
        int rc = sisa_dataset_digest(ds, st->man.digest_version, digest);
        if (rc == SISA_ECORRUPT || rc == SISA_EIO) {
            vp->from_store = 1;
            snprintf(vp->reason, sizeof vp->reason, "the dataset cannot be read: %s",
                     sisa_error_message());
            sisa_error_clear();
        } else {
            SISA_TRY(rc);
            if (strcmp(digest, st->man.dataset_digest) != 0) {
                vp->from_store = 1;
                snprintf(vp->reason, sizeof vp->reason,
                         "the dataset %s has changed since the store was trained (digest "
                         "%.12s, the manifest records %.12s)",
                         ds, digest, st->man.dataset_digest);
            }
        }
    }
    if (vp->from_store)
        sisa_warn("%s: rebuilding the shards' rows from the store's own data files instead (this "
                  "proves no deleted row is left and the models are exact for the stored rows, "
                  "but not that the stored rows are the dataset's)",
                  vp->reason);
done:
    sisa_shard_data_free(idx);
    sisa_files_close(&f);
    return err;
}

/* Collective: every rank gets rank 0's deletions and costs. */
static int share_plan(sisa_dist *d, verify_plan *vp, sisa_deletions *del, uint64_t **cost)
{
    int err = SISA_OK;
    const int rank = sisa_dist_rank(d);
    SISA_TRY(sisa_dist_bcast(d, vp, sizeof *vp, 0));
    if (vp->none || sisa_dist_size(d) == 1) goto done;
    if (rank != 0) {
        del->n_ids = vp->n_ids;
        del->n_shards = (uint32_t)vp->n_shards;
        del->ids = sisa_malloc((del->n_ids ? del->n_ids : 1) * 32);
        del->shards = sisa_malloc((del->n_shards ? del->n_shards : 1) * sizeof *del->shards);
        *cost = sisa_malloc((del->n_shards ? del->n_shards : 1) * sizeof **cost);
        err = del->ids && del->shards && *cost ? SISA_OK : SISA_ERR(SISA_ENOMEM, "out of memory");
    }
    SISA_TRY(sisa_dist_agree(d, err));
    SISA_TRY(sisa_dist_bcast(d, del->ids, del->n_ids * 32, 0));
    SISA_TRY(sisa_dist_bcast(d, del->shards, del->n_shards * sizeof *del->shards, 0));
    SISA_TRY(sisa_dist_bcast(d, *cost, del->n_shards * sizeof **cost, 0));
done:
    return err;
}

/* ---- the certificate ----------------------------------------------------------------------- */

static void cert_key(sisa_jw *w, const char *key, int first)
{
    sisa_jw_raw(w, first ? "\n  " : ",\n  ");
    sisa_jw_key(w, key, 1);
}

static void cert_build(sisa_jw *w, const sisa_store *st, const sisa_deletions *del,
                       const verify_plan *vp, const sisa_verify_shard *res, int pass)
{
    char when[32], store[SISA_PATH_MAX];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (sisa_path_absolute(store, sizeof store, st->root) < 0) {
        sisa_error_clear();
        snprintf(store, sizeof store, "%s", st->root);
    }
    sisa_jw_raw(w, "{");
    cert_key(w, "sisa_certificate", 1);
    sisa_jw_u64(w, 1);
    cert_key(w, "time", 0);
    sisa_jw_str(w, when);
    cert_key(w, "store", 0);
    sisa_jw_str(w, store);
    cert_key(w, "config_hash", 0);
    sisa_jw_str(w, st->config_hash);
    cert_key(w, "requests", 0);
    sisa_jw_raw(w, "[");
    for (uint64_t i = 0; i < del->n_requests; i++) {
        if (i) sisa_jw_raw(w, ", ");
        sisa_jw_u64(w, del->requests[i]);
    }
    sisa_jw_raw(w, "]");
    cert_key(w, "ids", 0);
    sisa_hashes_write(w, (const uint8_t(*)[32])del->ids, del->n_ids);
    cert_key(w, "groups", 0);
    sisa_hashes_write(w, (const uint8_t(*)[32])del->groups, del->n_groups);
    cert_key(w, "shards", 0);
    sisa_jw_raw(w, "[");
    for (uint32_t i = 0; i < del->n_shards; i++) {
        const sisa_verify_shard *r = &res[i];
        sisa_jw_raw(w, i ? ",\n    {" : "\n    {");
        sisa_jw_key(w, "shard", 1);
        sisa_jw_u64(w, r->shard);
        sisa_jw_key(w, "rows", 0);
        sisa_jw_u64(w, r->rows);
        sisa_jw_key(w, "lineage", 0);
        sisa_jw_str(w, r->lineage);
        sisa_jw_key(w, "model", 0);
        sisa_jw_str(w, r->model);
        sisa_jw_key(w, "data_match", 0);
        sisa_jw_raw(w, r->data_match ? "true" : "false");
        sisa_jw_key(w, "checkpoints_match", 0);
        sisa_jw_raw(w, r->checkpoints_match ? "true" : "false");
        sisa_jw_key(w, "detail", 0);
        sisa_jw_str(w, r->detail);
        sisa_jw_raw(w, "}");
    }
    sisa_jw_raw(w, del->n_shards ? "\n  ]" : "]");
    cert_key(w, "context", 0);
    sisa_jw_str(w, st->man.context);
    cert_key(w, "ledger_head", 0);
    sisa_jw_str(w, del->head);
    cert_key(w, "dataset", 0);
    sisa_jw_str(w, st->cfg.data.train);
    cert_key(w, "data_source", 0);
    sisa_jw_str(w, vp->from_store ? "store" : "dataset");
    cert_key(w, "data_source_reason", 0);
    sisa_jw_str(w, vp->from_store ? vp->reason : "");
    cert_key(w, "verdict", 0);
    sisa_jw_str(w, pass ? "pass" : "fail");
    sisa_jw_raw(w, "\n}\n");
}

/* Rank 0: write the certificate, print the summary, and turn a failed verdict into an error. */
static int report_on_root(FILE *out, const sisa_store *st, const sisa_deletions *del,
                          const verify_plan *vp, const sisa_verify_shard *res, const char *out_opt,
                          int json, sisa_run_verify_result *vr)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX];
    sisa_jw w;
    sisa_jw_init(&w);
    uint32_t failed = 0, first_bad = 0;
    for (uint32_t i = 0; i < del->n_shards; i++)
        if (!res[i].data_match || !res[i].checkpoints_match)
            if (!failed++) first_bad = i;

    /* The certificate is made in memory first: a failure leaves the store as it was (no
     * certificates folder made for nothing). */
    cert_build(&w, st, del, vp, res, failed == 0);
    SISA_CHECK(!w.failed, SISA_ENOMEM, "out of memory");
    const int to_stdout = out_opt && !strcmp(out_opt, "-");
    if (to_stdout) {
        /* -o -: the certificate alone on standard output; the summary goes to the log */
        snprintf(path, sizeof path, "standard output");
        SISA_CHECK(fputs(w.buf, out) >= 0 && fflush(out) == 0, SISA_EIO,
                   "cannot write the certificate to standard output: %s", strerror(errno));
    } else if (out_opt) {
        snprintf(path, sizeof path, "%s", out_opt);
        SISA_TRY(sisa_fs_write_atomic(path, w.buf, w.len, 1));
    } else {
        char dir[SISA_PATH_MAX], name[64];
        SISA_TRY(sisa_path_resolve(dir, sizeof dir, st->root, "certificates"));
        snprintf(name, sizeof name, "request-%llu.json",
                 (unsigned long long)del->requests[del->n_requests - 1]);
        SISA_TRY(sisa_path_resolve(path, sizeof path, dir, name));
        const int had_dir = sisa_fs_exists(dir);
        SISA_TRY(sisa_fs_mkdir_p(dir));
        err = sisa_fs_write_atomic(path, w.buf, w.len, 1);
        if (err < 0 && !had_dir) (void)rmdir(dir); /* the folder this run made, when empty */
        SISA_TRY(err);
    }
    vr->shards = del->n_shards;
    vr->failed = failed;
    snprintf(vr->certificate, sizeof vr->certificate, "%s", path);

    if (to_stdout) {
        sisa_info("verified %u shard(s): verdict %s", del->n_shards, failed ? "fail" : "pass");
    } else if (json) {
        fputs(w.buf, out);
        sisa_info("certificate written to %s", path);
    } else {
        fprintf(out, "verified %u shard(s) touched by %llu deletion request(s) (%llu row(s)",
                del->n_shards, (unsigned long long)del->n_requests, (unsigned long long)del->n_ids);
        if (del->n_groups)
            fprintf(out, ", %llu data subject(s)", (unsigned long long)del->n_groups);
        fprintf(out, ") against training from scratch, with the rows rebuilt from %s\n",
                vp->from_store ? "the store's own data files" : st->cfg.data.train);
        if (vp->from_store) fprintf(out, "  (%s)\n", vp->reason);
        for (uint32_t i = 0; i < del->n_shards; i++) {
            const sisa_verify_shard *r = &res[i];
            int ok = r->data_match && r->checkpoints_match;
            fprintf(out, "  shard %u: %llu row(s): %s%s\n", r->shard, (unsigned long long)r->rows,
                    ok ? "" : "FAIL: ", r->detail);
        }
        if (failed)
            fprintf(out, "verdict: fail (%u of %u shard(s) differ from training from scratch)\n",
                    failed, del->n_shards);
        else
            fprintf(out, "verdict: pass (every touched shard is bit for bit training from scratch "
                         "without the deleted rows)\n");
        fprintf(out, "certificate: %s\n", path);
    }
    fflush(out);
    if (failed)
        SISA_FAIL(SISA_ECORRUPT,
                  "verification failed for %u of %u touched shard(s): shard %u: %s (certificate: "
                  "%s)",
                  failed, del->n_shards, res[first_bad].shard, res[first_bad].detail, path);
done:
    sisa_jw_free(&w);
    return err;
}

/* Collective: open the store (a reader when the certificate goes outside it: then it checks
 * the context, the certificate's place and that no request is unfinished itself). A context
 * mismatch is explained in verify's terms. */
static int verify_open(sisa_dist *d, sisa_store *st, sisa_config *cfg, const char *cfg_path,
                       const sisa_config *cfg_in, const sisa_run_verify_opts *o)
{
    int err = SISA_OK;
    const int rank = sisa_dist_rank(d);
    /* A certificate written outside the store makes verify a reader: it takes no lock and
     * writes nothing into the store (which may be read-only). Into STORE/certificates, it
     * writes: then it holds the store like any writer, and finishes an interrupted request
     * first. */
    const int reader = o->output != NULL;
    const sisa_run_open_opts oo = {o->wait, "verify", 0, cfg_in};
    err =
        sisa_run_open_store(d, st, cfg, cfg_path, reader ? SISA_STORE_READ : SISA_STORE_WRITE, &oo);
    if (err == SISA_OK && reader) {
        /* Writers' opens check the context; a reader that compares bits must too. */
        if (rank == 0) err = sisa_store_check_context(st);
        if (err == SISA_OK && rank == 0) err = check_outside(st, o->output, "-o");
        if (err == SISA_OK && rank == 0) err = check_settled(st);
        err = sisa_dist_agree(d, err);
    }
    if (err == SISA_EUSAGE && rank == 0 && st->has_manifest &&
        strcmp(st->man.context, st->context) != 0)
        err = SISA_ERR(
            SISA_EUSAGE,
            "sisa verify: store %s was trained under another determinism context than this "
            "process runs under, and bits can only be compared under the same sisa build, "
            "OpenBLAS core and threads, floating-point mode and CPU features.\n  store: %s\n  "
            "here:  %s\nRun sisa verify with the build and OPENBLAS_CORETYPE the store was "
            "trained with",
            st->root, st->man.context, st->context);
    return err;
}

/* The work of one verify over the ranks. */
typedef struct {
    uint32_t K;                  /* touched shards */
    uint32_t *owner;             /* (K) the rank that verifies the i-th touched shard */
    unsigned char *want;         /* (S) 1 for this rank's shards */
    uint32_t mine;               /* how many are this rank's */
    sisa_shard_data **rebuilt;   /* (S) their rebuilt rows */
    sisa_verify_shard *res;      /* (K) the verdicts, all on rank 0 in the end */
    char scratch[SISA_PATH_MAX]; /* this rank's scratch folder ("" without work) */
} verify_work;

/* Collective, step 2: who verifies which shard (LPT by cost); each rank with work makes its
 * own scratch folder. */
static int verify_assign(sisa_dist *d, const sisa_store *st, const sisa_deletions *del,
                         const uint64_t *cost, const char *scratch_opt, verify_work *w)
{
    int err = SISA_OK;
    const int rank = sisa_dist_rank(d), P = sisa_dist_size(d);
    const uint32_t K = del->n_shards, S = (uint32_t)st->cfg.sisa.shards;
    w->K = K;
    w->owner = sisa_calloc(K, sizeof *w->owner);
    w->want = sisa_calloc(S, 1);
    w->rebuilt = sisa_calloc(S, sizeof *w->rebuilt);
    w->res = sisa_calloc(K, sizeof *w->res);
    err = w->owner && w->want && w->rebuilt && w->res &&
                  sisa_schedule_lpt(cost, K, (uint32_t)P, w->owner) == 0
              ? SISA_OK
              : SISA_ERR(SISA_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < K && err == SISA_OK; i++)
        if (w->owner[i] == (uint32_t)rank) {
            w->want[del->shards[i]] = 1;
            w->mine++;
        }
    if (err == SISA_OK && w->mine)
        err = sisa_run_make_scratch(st, "verify", scratch_opt, w->scratch, sizeof w->scratch);
    SISA_TRY(sisa_dist_agree(d, err));
    if (!w->mine) sisa_info("no shard to verify here (%u shard(s) over %d ranks); waiting", K, P);
done:
    return err;
}

/* Step 3, this rank: rebuild, compare, train from scratch, compare, its shards in shard
 * order. */
static int verify_mine(const sisa_store *st, int rank, const sisa_deletions *del,
                       const verify_plan *vp, verify_work *w)
{
    int err = SISA_OK;
    if (w->mine && !vp->from_store) {
        sisa_info("rebuilding %u shard(s) from %s without the %llu deleted row(s)", w->mine,
                  st->cfg.data.train, (unsigned long long)del->n_ids);
        err = sisa_verify_rebuild(w->rebuilt, st, w->want, del);
    }
    for (uint32_t i = 0; i < w->K && err == SISA_OK; i++) {
        if (w->owner[i] != (uint32_t)rank) continue;
        const uint32_t k = del->shards[i];
        sisa_info("shard %u: training from scratch in %s", k, w->scratch);
        err = sisa_verify_shard_run(&w->res[i], st, k, w->rebuilt[k], del, w->scratch);
        sisa_shard_data_free(w->rebuilt[k]);
        w->rebuilt[k] = NULL;
    }
    return err;
}

/* Collective, step 4: the results to rank 0 in shard order, whoever produced them. */
static int verify_collect(sisa_dist *d, verify_work *w)
{
    int err = SISA_OK;
    const int rank = sisa_dist_rank(d);
    for (uint32_t i = 0; i < w->K; i++) {
        if (w->owner[i] == 0) continue;
        if (rank == (int)w->owner[i])
            SISA_TRY(sisa_dist_send(d, &w->res[i], sizeof w->res[i], 0, (int)i));
        else if (rank == 0)
            SISA_TRY(sisa_dist_recv(d, &w->res[i], sizeof w->res[i], (int)w->owner[i], (int)i));
    }
done:
    return err;
}

int sisa_run_verify(sisa_dist *d, const char *cfg_path, const sisa_config *cfg_in,
                    const sisa_run_verify_opts *o, sisa_run_verify_result *vr)
{
    int err = SISA_OK;
    const char *out_opt = o->output;
    const int keep = o->keep_scratch, json = o->json, force = o->force;
    sisa_config cfg;
    sisa_store st = {.lock_fd = -1};
    sisa_deletions del = {0};
    verify_plan vp;
    verify_work w;
    uint64_t *cost = NULL;
    FILE *out = o->out, *null_out = NULL;
    memset(vr, 0, sizeof *vr);
    memset(&cfg, 0, sizeof cfg);
    memset(&w, 0, sizeof w);
    if (!out) out = null_out = fopen("/dev/null", "w");
    SISA_CHECK(out, SISA_EIO, "cannot open /dev/null");
    SISA_CHECK(!force || out_opt, SISA_EUSAGE, "sisa verify: --force applies to -o FILE only");
    memset(&vp, 0, sizeof vp);

    const int rank = sisa_dist_rank(d);
    SISA_TRY(verify_open(d, &st, &cfg, cfg_path, cfg_in, o));

    /* 1. Rank 0 reads the ledger and plans; everyone gets the plan. */
    if (rank == 0) err = plan_on_root(&st, &del, &vp, &cost, out_opt, force);
    SISA_TRY(sisa_dist_agree(d, err));
    SISA_TRY(share_plan(d, &vp, &del, &cost));
    if (vp.none) {
        vr->none = 1;
        if (rank == 0 && out && json) {
            fprintf(out, "{\"store\": ");
            sisa_json_string(out, st.root);
            fprintf(out, ", \"requests\": [], \"verdict\": \"none\"}\n");
            fflush(out);
        } else if (rank == 0 && out) {
            fprintf(out, "no deletions to verify: store %s has no certified deletion request\n",
                    st.root);
            fflush(out);
        }
        goto done;
    }
    SISA_TRY(verify_assign(d, &st, &del, cost, o->scratch, &w));
    SISA_TRY(sisa_dist_agree(d, verify_mine(&st, rank, &del, &vp, &w)));
    SISA_TRY(verify_collect(d, &w));
    if (w.scratch[0] && keep) {
        if (rank == 0 && !json) fprintf(out, "scratch store kept: %s\n", w.scratch);
        if (rank != 0 || json) sisa_info("scratch store kept: %s", w.scratch);
        w.scratch[0] = '\0';
    }
    /* A reader checks that nobody changed the store while it verified before it certifies. */
    if (rank == 0 && out_opt) {
        err = check_settled(&st);
        if (err == SISA_EBUSY)
            sisa_error_prefix("store %s changed while it was being verified; run sisa verify "
                              "again",
                              st.root);
    }
    SISA_TRY(sisa_dist_agree(d, err));
    if (rank == 0) err = report_on_root(out, &st, &del, &vp, w.res, out_opt, json, vr);
done:
    if (w.scratch[0] && keep)
        sisa_info("scratch store kept: %s", w.scratch);
    else if (w.scratch[0])
        sisa_run_remove_scratch(w.scratch);
    if (w.rebuilt)
        for (uint32_t k = 0; k < (uint32_t)cfg.sisa.shards; k++) sisa_shard_data_free(w.rebuilt[k]);
    sisa_free(w.rebuilt);
    sisa_free(w.res);
    sisa_free(w.want);
    sisa_free(w.owner);
    sisa_free(cost);
    sisa_deletions_free(&del);
    sisa_store_close(&st);
    if (null_out) fclose(null_out);
    return err;
}
