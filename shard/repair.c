/*
 * repair.c - see repair.h.
 *
 * sisa_repair_plan reads everything the store has (salt, store journal, manifest, ledger, every
 * shard's journal and files, and the dataset when a shard must be rebuilt) and decides, for each
 * problem, whether it can be repaired and how. Nothing is written until the whole plan is known
 * to be repairable. sisa_repair_run then works from the bottom up: shard files first (they
 * depend on nothing but the dataset, the salt and the deleted rows), then the ledger (its
 * records name the shards' final lineage and model), then the store journal (its certified
 * records hold the ledger's heads), then config.yaml.
 *
 * Which rows are deleted is known from the journal's request records (every request, finished
 * or not) or, when the journal is lost, from the ledger's records. A rebuilt shard never holds
 * one of them.
 */
#include "shard/repair.h"

#include "base/log.h"
#include "base/sha256.h"
#include "base/strutil.h"
#include "io/dsdigest.h"
#include "io/dsstream.h"
#include "io/store_io.h"
#include "shard/journal.h"
#include "shard/partition.h"
#include "shard/request.h"
#include "shard/train.h"
#include "shard/verify.h"
#include "sisa/error.h"
#include "base/mem.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What a shard needs (bits). */
enum {
    NEED_FOLDER = 1, /* its journal or folder is lost: rebuild the whole shard */
    NEED_DATA = 2,   /* its data file is damaged: rebuild the data file */
    NEED_TRAIN = 4,  /* retrain (after the above, or for damaged checkpoints) */
};

typedef struct {
    int need;
    int item;                /* index of its item, -1 when none */
    uint32_t first_bad;      /* the first damaged checkpoint's stage (0: none) */
    uint32_t bad_ckpts;      /* damaged checkpoints */
    char recorded_data[65];  /* the committed hash of data.h5 ("" when unknown) */
    char recorded_final[65]; /* the committed hash of the final checkpoint ("" when none) */
    char lineage[65];        /* final-stage lineage of the rows it holds ("" when unknown) */
    uint64_t rows;           /* rows it holds (when the lineage is known) */
    uint64_t deleted;        /* deleted rows the dataset assigns to it (rebuilt shards) */
    char old_files[512];     /* NEED_FOLDER: sisa's files in the folder, which are removed */
    sisa_shard_data *rebuilt;
} shard_plan;

typedef struct {
    sisa_request r;
    char head[65]; /* the ledger head of its certified record ("" when not certified) */
} req_entry;

struct sisa_repair_state {
    sisa_files files; /* the store journal, read-only (when not lost) */
    int journal_lost;
    int journal_item;
    int salt_ok, manifest_ok;
    req_entry *reqs; /* the journal's requests (or, with the journal lost, the ledger's) */
    uint64_t n_reqs, certified;
    int latest_state;
    /* the ledger as found: complete lines [line_start[i], line_end[i]) */
    int ledger_exists;
    char *ledger;
    size_t ledger_len;
    size_t *line_start, *line_end;
    uint64_t n_lines;
    size_t torn;          /* bytes after the last newline */
    uint64_t ledger_good; /* leading lines that are the records the journal certified */
    /* the ledger to write: lines [0, keep) as found, then records keep+1..upto rebuilt */
    int ledger_write;
    uint64_t ledger_keep, ledger_upto;
    int ledger_item;
    int config_write, config_item;
    shard_plan *shards;
    sisa_deletions del; /* every row named by the journal's requests or the ledger */
};

static const char *const store_keep[] = {"ledger", "lock", NULL};

/* ---- items ------------------------------------------------------------------------------- */

static int item_new(sisa_repair *rp, const char *file, int repairable)
{
    sisa_repair_item *it = sisa_realloc(rp->items, (rp->n_items + 1) * sizeof *it);
    if (!it) return SISA_ERR(SISA_ENOMEM, "out of memory");
    rp->items = it;
    it = &rp->items[rp->n_items];
    memset(it, 0, sizeof *it);
    snprintf(it->file, sizeof it->file, "%s", file);
    it->repairable = repairable;
    if (!repairable) rp->unrepairable++;
    return (int)rp->n_items++;
}

/* An item that cannot be repaired, with what to restore. */
static int cannot(sisa_repair *rp, const char *file, const char *problem, const char *restore)
{
    int i = item_new(rp, file, 0);
    if (i < 0) return i;
    snprintf(rp->items[i].problem, sizeof rp->items[i].problem, "%s", problem);
    snprintf(rp->items[i].action, sizeof rp->items[i].action, "%s", restore);
    return i;
}

/* Turn a repairable item into one that cannot be repaired (something it needs is missing). */
static void make_unrepairable(sisa_repair *rp, int i, const char *why)
{
    if (i < 0 || !rp->items[i].repairable) return;
    rp->items[i].repairable = 0;
    rp->unrepairable++;
    snprintf(rp->items[i].action, sizeof rp->items[i].action, "%s", why);
}

/* ---- small helpers ----------------------------------------------------------------------- */

static int path_in(char *out, size_t cap, const sisa_store *st, const char *rel)
{
    return sisa_path_resolve(out, cap, st->root, rel);
}

static int state_named(const char *name)
{
    for (int s = SISA_REQ_ACCEPTED; s <= SISA_REQ_CERTIFIED; s++)
        if (!strcmp(name, sisa_req_state_name(s))) return s;
    return 0;
}

static int cmp_hash(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

static void sha_hex(char out[65], const void *data, size_t len)
{
    uint8_t d[SISA_SHA256_LEN];
    sisa_sha256(d, data, len);
    sisa_hex(out, d, SISA_SHA256_LEN);
}

static const char zero_head[65] =
    "0000000000000000000000000000000000000000000000000000000000000000";

/* sisa's own file names in a shard folder: the journal, data.h5, ckpt-NNN.h5 and temp files. */
static int is_shard_file(const char *name)
{
    if (!strcmp(name, "journal") || !strcmp(name, SISA_SHARD_DATA)) return 1;
    return sisa_fs_is_tmp_name(name) || sisa_ckpt_is_name(name);
}

static void list_append(char *out, size_t cap, const char *name)
{
    size_t used = strlen(out);
    if (used + strlen(name) + 8 >= cap) {
        if (!strstr(out, ", ...")) snprintf(out + used, cap - used, ", ...");
        return;
    }
    snprintf(out + used, cap - used, "%s%s", used ? ", " : "", name);
}

/* The final-stage lineage of shard k's rows and its final checkpoint's committed hash, from its
 * files (checked against its journal). */
static int shard_now(const sisa_store *st, uint32_t k, char lineage[65], char model[65],
                     uint64_t *rows)
{
    int err = SISA_OK;
    const uint32_t R = (uint32_t)st->cfg.sisa.slices;
    sisa_files f = {0};
    sisa_shard_data *idx = NULL;
    char(*lin)[65] = sisa_malloc(R * sizeof *lin);
    char name[32];
    SISA_CHECK(lin, SISA_ENOMEM, "out of memory");
    SISA_TRY(sisa_shard_files(st, k, &f, 0));
    SISA_TRY(sisa_shard_read_data(st, &f, k, 0, &idx));
    SISA_TRY(sisa_shard_lineages(idx, R, lin));
    memcpy(lineage, lin[R - 1], 65);
    sisa_ckpt_name(name, sizeof name, R);
    const char *h = sisa_files_hash(&f, name);
    snprintf(model, 65, "%s", h ? h : "");
    if (rows) *rows = idx->n;
done:
    sisa_free(lin);
    sisa_shard_data_free(idx);
    sisa_files_close(&f);
    return err;
}

/* ---- salt -------------------------------------------------------------------------------- */

static const char *const salt_restore =
    "cannot be rebuilt: it is the random key of the salted hashes that name every deleted row "
    "in the journal and the ledger. Restore STORE/salt from a backup of this store";

static int examine_salt(sisa_repair *rp)
{
    int err = SISA_OK;
    sisa_store *st = &rp->st;
    char path[SISA_PATH_MAX], *text = NULL;
    size_t len = 0;
    SISA_TRY(path_in(path, sizeof path, st, "salt"));
    if (!sisa_fs_exists(path)) {
        SISA_TRY(cannot(rp, "salt", "is missing", salt_restore));
        goto done;
    }
    SISA_TRY(sisa_fs_read_all(&text, &len, path, 256));
    if (sisa_store_parse_salt(st->salt, text, len) < 0) {
        SISA_TRY(cannot(rp, "salt", "is damaged: it is not 64 hex digits", salt_restore));
        goto done;
    }
    st->has_salt = 1;
    rp->priv->salt_ok = 1;
done:
    sisa_free(text);
    return err;
}

/* ---- store journal ------------------------------------------------------------------------- */

/* Every request of the journal with its state and certified head. */
static int load_requests(sisa_repair_state *p, const sisa_journal *j)
{
    int err = SISA_OK;
    sisa_request_summary sum;
    SISA_TRY(sisa_request_summarise(j, &sum));
    p->reqs = sisa_calloc(sum.requests ? sum.requests : 1, sizeof *p->reqs);
    SISA_CHECK(p->reqs, SISA_ENOMEM, "out of memory");
    for (size_t i = 0; i < j->n; i++) {
        const sisa_json *rec = j->recs[i];
        const char *op = NULL, *state = NULL, *head = NULL;
        if (!sisa_json_str(rec, "op", &op)) continue;
        if (!strcmp(op, "request")) {
            SISA_CHECK(p->n_reqs < sum.requests, SISA_EINTERNAL, "%s: requests miscounted",
                       j->path);
            SISA_TRY(sisa_request_from_json(&p->reqs[p->n_reqs].r, rec, j->path));
            p->n_reqs++;
        } else if (!strcmp(op, "state") && p->n_reqs && sisa_json_str(rec, "state", &state)) {
            req_entry *e = &p->reqs[p->n_reqs - 1];
            e->r.state = state_named(state);
            if (e->r.state == SISA_REQ_CERTIFIED && sisa_json_str(rec, "ledger_head", &head))
                snprintf(e->head, sizeof e->head, "%s", head);
        }
    }
    p->certified = sum.certified;
    p->latest_state = sum.latest_state;
done:
    return err;
}

static void free_requests(sisa_repair_state *p)
{
    for (uint64_t i = 0; i < p->n_reqs; i++) sisa_request_free(&p->reqs[i].r);
    sisa_free(p->reqs);
    p->reqs = NULL;
    p->n_reqs = p->certified = 0;
    p->latest_state = SISA_REQ_NONE;
}

static int examine_journal(sisa_repair *rp)
{
    int err = SISA_OK;
    sisa_repair_state *p = rp->priv;
    sisa_store *st = &rp->st;
    char path[SISA_PATH_MAX], why[700] = "", manifest[SISA_PATH_MAX], ledger[SISA_PATH_MAX];
    SISA_TRY(path_in(path, sizeof path, st, "journal"));
    SISA_TRY(path_in(manifest, sizeof manifest, st, "manifest"));
    SISA_TRY(path_in(ledger, sizeof ledger, st, "ledger"));
    if (!sisa_fs_exists(path)) {
        snprintf(why, sizeof why, "is missing");
    } else {
        int rc = sisa_files_open(&p->files, st->root, "journal", 0);
        if (rc == SISA_OK) rc = load_requests(p, &p->files.j);
        if (rc == SISA_ECORRUPT) {
            snprintf(why, sizeof why, "is damaged (%.600s)", sisa_error_message());
            sisa_error_clear();
        } else {
            SISA_TRY(rc);
        }
        if (!why[0] &&
            (!sisa_files_has(&p->files, "salt") || !sisa_files_has(&p->files, "manifest"))) {
            if (sisa_fs_exists(manifest) || sisa_fs_exists(ledger))
                snprintf(why, sizeof why,
                         "does not commit the store's %s, which exists: the journal was cut or "
                         "replaced",
                         sisa_fs_exists(manifest) ? "manifest" : "ledger");
            else
                SISA_FAIL(SISA_EUSAGE,
                          "store %s is not trained yet (its first 'sisa train' did not finish): "
                          "there is nothing to repair; run 'sisa train -c %s'",
                          st->root, st->cfg.source);
        }
    }
    if (why[0]) {
        p->journal_lost = 1;
        sisa_files_close(&p->files);
        free_requests(p);
        int i = item_new(rp, "journal", 1);
        SISA_TRY(i);
        p->journal_item = i;
        snprintf(rp->items[i].problem, sizeof rp->items[i].problem, "%s", why);
        goto done;
    }
    /* The journal vouches for the salt: a salt that parses but is not the one committed would
     * name other rows. */
    if (p->salt_ok) {
        int rc = sisa_files_locate(&p->files, "salt", path, sizeof path);
        if (rc == SISA_ECORRUPT) {
            sisa_error_clear();
            p->salt_ok = 0;
            st->has_salt = 0;
            SISA_TRY(cannot(rp, "salt",
                            "does not match its recorded SHA-256: it is damaged or was replaced",
                            salt_restore));
        } else {
            SISA_TRY(rc);
        }
    }
    int rc = sisa_files_has(&p->files, "config.yaml")
                 ? sisa_files_locate(&p->files, "config.yaml", path, sizeof path)
                 : SISA_ECORRUPT;
    if (rc == SISA_ECORRUPT) {
        sisa_error_clear();
        SISA_TRY(path_in(path, sizeof path, st, "config.yaml"));
        int i = item_new(rp, "config.yaml", 1);
        SISA_TRY(i);
        p->config_write = 1;
        p->config_item = i;
        snprintf(rp->items[i].problem, sizeof rp->items[i].problem, "%s",
                 !sisa_files_has(&p->files, "config.yaml") ? "is not committed by the journal"
                 : sisa_fs_exists(path)                    ? "does not match its recorded SHA-256"
                                                           : "is missing");
        snprintf(rp->items[i].action, sizeof rp->items[i].action,
                 "write it again from %.600s (its canonical form, as 'sisa config show' prints "
                 "it)",
                 st->cfg.source);
    } else {
        SISA_TRY(rc);
    }
done:
    return err;
}

/* ---- manifest ------------------------------------------------------------------------------ */

static const char *const manifest_restore =
    "cannot be rebuilt here: it holds the digest of the dataset the store was built from, which "
    "is how a rebuild knows the dataset is the same. Restore STORE/manifest from a backup of this "
    "store";

static int examine_manifest(sisa_repair *rp)
{
    int err = SISA_OK;
    sisa_repair_state *p = rp->priv;
    sisa_store *st = &rp->st;
    char path[SISA_PATH_MAX], problem[700], *text = NULL;
    size_t len = 0;
    SISA_TRY(path_in(path, sizeof path, st, "manifest"));
    if (!p->journal_lost) {
        /* The committed bytes (the file, or the temp file of a commit a crash cut short). */
        int rc = sisa_files_locate(&p->files, "manifest", path, sizeof path);
        if (rc == SISA_ECORRUPT) {
            sisa_error_clear();
            SISA_TRY(path_in(path, sizeof path, st, "manifest"));
            SISA_TRY(cannot(rp, "manifest",
                            sisa_fs_exists(path) ? "does not match its recorded SHA-256 "
                                                   "(damaged or modified)"
                                                 : "is missing",
                            manifest_restore));
            goto done;
        }
        SISA_TRY(rc);
    } else if (!sisa_fs_exists(path)) {
        SISA_TRY(cannot(rp, "manifest", "is missing", manifest_restore));
        goto done;
    }
    SISA_TRY(sisa_fs_read_all(&text, &len, path, 1 << 16));
    int rc = sisa_manifest_parse(&st->man, text, path);
    if (rc == SISA_ECORRUPT) {
        snprintf(problem, sizeof problem, "is damaged (%.600s)", sisa_error_message());
        sisa_error_clear();
        SISA_TRY(cannot(rp, "manifest", problem, manifest_restore));
        goto done;
    }
    SISA_TRY(rc);
    SISA_CHECK(!strcmp(st->man.config_hash, st->config_hash), SISA_ECONFIG,
               "%s: store %s was trained with another configuration (config hash %.12s, this "
               "file has %.12s); repair it with the config it was trained with",
               st->cfg.source, st->root, st->man.config_hash, st->config_hash);
    st->has_manifest = 1;
    p->manifest_ok = 1;
done:
    sisa_free(text);
    return err;
}

/* ---- ledger: reading ----------------------------------------------------------------------- */

static int read_ledger(sisa_repair *rp)
{
    int err = SISA_OK;
    sisa_repair_state *p = rp->priv;
    char path[SISA_PATH_MAX];
    SISA_TRY(path_in(path, sizeof path, &rp->st, "ledger"));
    p->ledger_exists = sisa_fs_exists(path);
    if (!p->ledger_exists) goto done;
    SISA_TRY(sisa_fs_read_all(&p->ledger, &p->ledger_len, path, (size_t)1 << 30));
    uint64_t n = 0;
    for (size_t i = 0; i < p->ledger_len; i++) n += p->ledger[i] == '\n';
    p->line_start = sisa_malloc((n ? n : 1) * sizeof *p->line_start);
    p->line_end = sisa_malloc((n ? n : 1) * sizeof *p->line_end);
    SISA_CHECK(p->line_start && p->line_end, SISA_ENOMEM, "out of memory");
    size_t pos = 0;
    for (size_t i = 0; i < p->ledger_len; i++) {
        if (p->ledger[i] != '\n') continue;
        p->line_start[p->n_lines] = pos;
        p->line_end[p->n_lines] = i;
        p->n_lines++;
        pos = i + 1;
    }
    p->torn = p->ledger_len - pos;
done:
    return err;
}

static void line_hash(const sisa_repair_state *p, uint64_t i, char out[65])
{
    sha_hex(out, p->ledger + p->line_start[i], p->line_end[i] - p->line_start[i]);
}

/* With the journal lost, the ledger is the only record of the deletions: every complete line
 * must be a record exactly as sisa writes it, chained to the one before. They become the
 * requests. Returns 0 and sets *bad (1-based line) when one is not. */
static int ledger_as_requests(sisa_repair *rp, uint64_t *bad, char *why, size_t cap)
{
    int err = SISA_OK;
    sisa_repair_state *p = rp->priv;
    sisa_json *rec = NULL;
    sisa_jw w;
    char prev[65], where[64];
    sisa_jw_init(&w);
    memcpy(prev, zero_head, 65);
    *bad = 0;
    p->reqs = sisa_calloc(p->n_lines ? p->n_lines : 1, sizeof *p->reqs);
    SISA_CHECK(p->reqs, SISA_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < p->n_lines; i++) {
        const char *line = p->ledger + p->line_start[i];
        const size_t n = p->line_end[i] - p->line_start[i];
        snprintf(where, sizeof where, "ledger:%llu", (unsigned long long)i + 1);
        req_entry *e = &p->reqs[p->n_reqs];
        int rc = sisa_json_parse(&rec, line, n, where);
        if (rc == SISA_OK) rc = sisa_request_from_json(&e->r, rec, where);
        sisa_json_free(rec);
        rec = NULL;
        if (rc == SISA_ECORRUPT) {
            *bad = i + 1;
            snprintf(why, cap, "%.500s", sisa_error_message());
            sisa_error_clear();
            goto done;
        }
        SISA_TRY(rc);
        p->n_reqs++;
        w.len = 0;
        sisa_ledger_record(&w, &e->r, prev);
        SISA_CHECK(!w.failed, SISA_ENOMEM, "out of memory");
        if (e->r.n != i + 1 || w.len != n || memcmp(w.buf, line, n) != 0) {
            *bad = i + 1;
            snprintf(why, cap,
                     e->r.n != i + 1 ? "it is not the record of request %llu"
                                     : "it is not the record sisa wrote (its chain or its "
                                       "fields differ from what request %llu's record must be)",
                     (unsigned long long)i + 1);
            goto done;
        }
        e->r.state = SISA_REQ_CERTIFIED;
        sha_hex(e->head, line, n);
        memcpy(prev, e->head, 65);
    }
    p->certified = p->n_reqs;
    p->latest_state = p->n_reqs ? SISA_REQ_CERTIFIED : SISA_REQ_NONE;
done:
    sisa_json_free(rec);
    sisa_jw_free(&w);
    return err;
}

/* ---- the rows every request deleted ------------------------------------------------------- */

static int collect_deletions(sisa_repair *rp)
{
    int err = SISA_OK;
    sisa_repair_state *p = rp->priv;
    uint64_t n = 0;
    for (uint64_t i = 0; i < p->n_reqs; i++) n += p->reqs[i].r.n_ids;
    p->del.ids = sisa_malloc((n ? n : 1) * 32);
    SISA_CHECK(p->del.ids, SISA_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < p->n_reqs; i++) {
        memcpy(p->del.ids[p->del.n_ids], p->reqs[i].r.ids, p->reqs[i].r.n_ids * 32);
        p->del.n_ids += p->reqs[i].r.n_ids;
    }
    if (p->del.n_ids) {
        qsort(p->del.ids, p->del.n_ids, 32, cmp_hash);
        uint64_t m = 1;
        for (uint64_t i = 1; i < p->del.n_ids; i++)
            if (memcmp(p->del.ids[i], p->del.ids[m - 1], 32) != 0)
                memcpy(p->del.ids[m++], p->del.ids[i], 32);
        p->del.n_ids = m;
    }
done:
    return err;
}

/* ---- shards -------------------------------------------------------------------------------- */

static int examine_shard(sisa_repair *rp, uint32_t k)
{
    int err = SISA_OK;
    sisa_store *st = &rp->st;
    shard_plan *sp = &rp->priv->shards[k];
    const uint32_t R = (uint32_t)st->cfg.sisa.slices;
    sisa_files f = {0};
    sisa_shard_data *idx = NULL;
    char(*lin)[65] = NULL;
    char dir[SISA_PATH_MAX], path[SISA_PATH_MAX], rel[64], why[700] = "", name[32];
    DIR *d = NULL;
    sp->item = -1;
    SISA_TRY(sisa_store_shard_dir(st, k, dir, sizeof dir));
    SISA_TRY(sisa_store_path(rel, sizeof rel, NULL, k, NULL));
    if (!sisa_fs_exists(dir)) {
        sp->need = NEED_FOLDER | NEED_TRAIN;
        SISA_TRY(sp->item = item_new(rp, rel, 1));
        snprintf(rp->items[sp->item].problem, sizeof rp->items[sp->item].problem, "is missing");
        goto done;
    }
    SISA_TRY(sisa_path_resolve(path, sizeof path, dir, "journal"));
    if (!sisa_fs_exists(path)) {
        snprintf(why, sizeof why, "is missing");
    } else {
        int rc = sisa_files_open(&f, dir, "journal", 0);
        if (rc == SISA_ECORRUPT) {
            snprintf(why, sizeof why, "is damaged (%.600s)", sisa_error_message());
            sisa_error_clear();
        } else {
            SISA_TRY(rc);
            if (!sisa_files_has(&f, SISA_SHARD_DATA))
                snprintf(why, sizeof why, "commits no data file: it was cut or replaced");
        }
    }
    if (why[0]) {
        sp->need = NEED_FOLDER | NEED_TRAIN;
        SISA_TRY(sisa_store_path(rel, sizeof rel, NULL, k, "journal"));
        SISA_TRY(sp->item = item_new(rp, rel, 1));
        snprintf(rp->items[sp->item].problem, sizeof rp->items[sp->item].problem, "%s", why);
        /* sisa's files in the folder cannot be checked without their journal. */
        d = opendir(dir);
        SISA_CHECK(d, SISA_EIO, "cannot list %s: %s", dir, strerror(errno));
        struct dirent *de;
        while ((de = readdir(d)) != NULL)
            if (is_shard_file(de->d_name) && strcmp(de->d_name, "journal"))
                list_append(sp->old_files, sizeof sp->old_files, de->d_name);
        goto done;
    }
    snprintf(sp->recorded_data, sizeof sp->recorded_data, "%s",
             sisa_files_hash(&f, SISA_SHARD_DATA));
    sisa_ckpt_name(name, sizeof name, R);
    snprintf(sp->recorded_final, sizeof sp->recorded_final, "%s",
             sisa_files_hash(&f, name) ? sisa_files_hash(&f, name) : "");
    int rc = sisa_files_locate(&f, SISA_SHARD_DATA, path, sizeof path);
    if (rc == SISA_OK) {
        rc = sisa_shard_read_data(st, &f, k, 0, &idx);
        if (rc == SISA_ECORRUPT)
            snprintf(why, sizeof why, "cannot be read (%.600s)", sisa_error_message());
    } else if (rc == SISA_ECORRUPT) {
        SISA_TRY(sisa_path_resolve(path, sizeof path, dir, SISA_SHARD_DATA));
        snprintf(why, sizeof why, "%s",
                 sisa_fs_exists(path) ? "does not match its recorded SHA-256 (damaged or modified)"
                                      : "is missing (its journal commits it)");
    }
    if (rc == SISA_ECORRUPT) {
        sisa_error_clear();
        sp->need = NEED_DATA | NEED_TRAIN;
        SISA_TRY(sisa_store_path(rel, sizeof rel, NULL, k, SISA_SHARD_DATA));
        SISA_TRY(sp->item = item_new(rp, rel, 1));
        snprintf(rp->items[sp->item].problem, sizeof rp->items[sp->item].problem, "%s", why);
    } else {
        SISA_TRY(rc);
        lin = sisa_malloc(R * sizeof *lin);
        SISA_CHECK(lin, SISA_ENOMEM, "out of memory");
        SISA_TRY(sisa_shard_lineages(idx, R, lin));
        memcpy(sp->lineage, lin[R - 1], 65);
        sp->rows = idx->n;
    }
    /* Checkpoints: each committed one must match its hash (sisa_shard_train retrains from the
     * newest intact one). */
    for (uint32_t r = 1; r <= R; r++) {
        sisa_ckpt_name(name, sizeof name, r);
        if (!sisa_files_has(&f, name)) continue;
        rc = sisa_files_locate(&f, name, path, sizeof path);
        if (rc != SISA_ECORRUPT) {
            SISA_TRY(rc);
            continue;
        }
        sisa_error_clear();
        if (!sp->first_bad) {
            sp->first_bad = r;
            SISA_TRY(sisa_path_resolve(path, sizeof path, dir, name));
            snprintf(why, sizeof why, "%s",
                     sisa_fs_exists(path)
                         ? "does not match its recorded SHA-256 (damaged or modified)"
                         : "is missing (its journal commits it)");
        }
        sp->bad_ckpts++;
    }
    if (sp->first_bad && sp->item < 0) {
        sp->need |= NEED_TRAIN;
        sisa_ckpt_name(name, sizeof name, sp->first_bad);
        SISA_TRY(sisa_store_path(rel, sizeof rel, NULL, k, name));
        SISA_TRY(sp->item = item_new(rp, rel, 1));
        snprintf(rp->items[sp->item].problem, sizeof rp->items[sp->item].problem, "%s%s", why,
                 sp->bad_ckpts > 1 ? " (and later checkpoints too)" : "");
    }
done:
    if (d) closedir(d);
    sisa_free(lin);
    sisa_shard_data_free(idx);
    sisa_files_close(&f);
    return err;
}

/* The last request touching shard k among requests [0, upto), or -1. */
static int64_t last_touching(const sisa_repair_state *p, uint32_t k, uint64_t upto,
                             const sisa_req_shard **out)
{
    for (uint64_t i = upto; i-- > 0;)
        for (uint32_t s = 0; s < p->reqs[i].r.n_shards; s++)
            if (p->reqs[i].r.shards[s].shard == k) {
                *out = &p->reqs[i].r.shards[s];
                return (int64_t)i;
            }
    return -1;
}

/* The lineage and model hashes "after" request i (0-based) for shard k, as its ledger record
 * holds them: from the record itself when the journal is lost (the requests are the ledger's),
 * else from the ledger's line when it is one of the intact ones. Returns 1 when known. */
static int recorded_after(const sisa_repair_state *p, uint64_t i, uint32_t k, char lineage[65],
                          char model[65])
{
    sisa_json *rec = NULL;
    sisa_request r = {0};
    int found = 0;
    const sisa_request *src = NULL;
    if (p->journal_lost) {
        src = &p->reqs[i].r;
    } else {
        if (i >= p->ledger_good) return 0;
        const char *line = p->ledger + p->line_start[i];
        if (sisa_json_parse(&rec, line, p->line_end[i] - p->line_start[i], "ledger") < 0 ||
            sisa_request_from_json(&r, rec, "ledger") < 0) {
            sisa_error_clear();
            sisa_json_free(rec);
            return 0;
        }
        src = &r;
    }
    for (uint32_t s = 0; s < src->n_shards && !found; s++) {
        if (src->shards[s].shard != k) continue;
        memcpy(lineage, src->shards[s].lineage_after, 65);
        memcpy(model, src->shards[s].model_after, 65);
        found = 1;
    }
    sisa_request_free(&r);
    sisa_json_free(rec);
    return found;
}

/* Shards whose files are intact but disagree with the record of the last request that touched
 * them (its lineage or model after): their files are not the ones the deletion left (restored
 * from an older copy?), and they may hold deleted rows. With the journal, the records are
 * certain: such a shard is rebuilt. Without it, the lost journal may have held a request the
 * ledger does not, whose rows the shard no longer holds: rebuilding would bring them back, so
 * nothing is done. A shard that an unfinished request touches is in the middle of it: left. */
static int check_against_records(sisa_repair *rp)
{
    int err = SISA_OK;
    sisa_repair_state *p = rp->priv;
    const uint32_t S = (uint32_t)rp->st.cfg.sisa.shards;
    char problem[700], rel[32], lineage[65], model[65], dir[SISA_PATH_MAX];
    DIR *d = NULL;
    for (uint32_t k = 0; k < S; k++) {
        shard_plan *sp = &p->shards[k];
        const sisa_req_shard *last = NULL;
        if (sp->need & (NEED_FOLDER | NEED_DATA)) continue;
        int64_t i = last_touching(p, k, p->n_reqs, &last);
        if (i < 0 || (uint64_t)i >= p->certified) continue;
        if (!recorded_after(p, (uint64_t)i, k, lineage, model)) continue;
        const int lineage_ok = !strcmp(sp->lineage, lineage);
        const int model_ok = sp->first_bad || !strcmp(sp->recorded_final, model);
        if (lineage_ok && model_ok) continue;
        snprintf(problem, sizeof problem,
                 "does not match the ledger's record of request %llu: its %s is %.12s..., the "
                 "record has %.12s...",
                 (unsigned long long)(i + 1), lineage_ok ? "final model" : "rows' lineage",
                 lineage_ok ? sp->recorded_final : sp->lineage, lineage_ok ? model : lineage);
        SISA_TRY(sisa_store_path(rel, sizeof rel, NULL, k, NULL));
        if (p->journal_lost) {
            SISA_TRY(cannot(rp, rel, problem,
                            "the lost journal may have held a deletion request the ledger does "
                            "not (an unfinished one), whose rows this shard no longer holds: "
                            "rebuilding it would bring them back. Restore STORE/journal from a "
                            "backup of this store"));
            continue;
        }
        if (sp->item < 0) SISA_TRY(sp->item = item_new(rp, rel, 1));
        snprintf(rp->items[sp->item].file, sizeof rp->items[sp->item].file, "%s", rel);
        snprintf(rp->items[sp->item].problem, sizeof rp->items[sp->item].problem,
                 "%s: its files are not the ones the deletion left", problem);
        sp->need = NEED_FOLDER | NEED_TRAIN;
        sp->lineage[0] = sp->recorded_final[0] = '\0';
        SISA_TRY(sisa_store_shard_dir(&rp->st, k, dir, sizeof dir));
        d = opendir(dir);
        SISA_CHECK(d, SISA_EIO, "cannot list %s: %s", dir, strerror(errno));
        struct dirent *de;
        while ((de = readdir(d)) != NULL)
            if (is_shard_file(de->d_name) && strcmp(de->d_name, "journal"))
                list_append(sp->old_files, sizeof sp->old_files, de->d_name);
        closedir(d);
        d = NULL;
    }
done:
    if (d) closedir(d);
    return err;
}

/* With the journal lost: do the shards hold as many rows as the dataset minus the deleted ones?
 * A lost, unfinished request may have rewritten a shard that no ledger record names. */
static int check_row_count(sisa_repair *rp)
{
    int err = SISA_OK;
    sisa_repair_state *p = rp->priv;
    const uint32_t S = (uint32_t)rp->st.cfg.sisa.shards;
    uint64_t held = 0;
    char problem[512];
    if (!p->journal_lost || !p->manifest_ok) goto done;
    for (uint32_t k = 0; k < S; k++) {
        if (!p->shards[k].lineage[0]) goto done; /* rebuilt from the dataset: exact by making */
        held += p->shards[k].rows;
    }
    const uint64_t want = rp->st.man.rows - rp->st.man.deleted_rows;
    if (held == want) goto done;
    snprintf(problem, sizeof problem,
             "hold %llu rows, but the manifest's %llu rows minus the %llu the ledger deleted "
             "leave %llu",
             (unsigned long long)held, (unsigned long long)rp->st.man.rows,
             (unsigned long long)rp->st.man.deleted_rows, (unsigned long long)want);
    SISA_TRY(cannot(rp, "shards", problem,
                    "the lost journal may have held a deletion request the ledger does not (an "
                    "unfinished one): rebuilding would bring its rows back. Restore STORE/journal "
                    "from a backup of this store"));
done:
    return err;
}

/* ---- the dataset ---------------------------------------------------------------------------- */

/* Shards rebuilt from the dataset need it to be the one the store was built from (its digest),
 * and every deleted row's salted hash must name one of its rows (else the salt is not the
 * store's). Then the rows each such shard must hold are read. */
static int examine_dataset(sisa_repair *rp)
{
    int err = SISA_OK;
    sisa_repair_state *p = rp->priv;
    sisa_store *st = &rp->st;
    const uint32_t S = (uint32_t)st->cfg.sisa.shards;
    const char *path = st->cfg.data.train;
    unsigned char *want = NULL, *found = NULL;
    sisa_shard_data **out = NULL;
    sisa_dataset_stream *ds = NULL;
    char digest[65], problem[768], restore[1024], why[512];
    uint32_t n = 0;
    char(*lin)[65] = NULL;
    want = sisa_calloc(S, 1);
    SISA_CHECK(want, SISA_ENOMEM, "out of memory");
    for (uint32_t k = 0; k < S; k++) {
        want[k] = (p->shards[k].need & (NEED_FOLDER | NEED_DATA)) != 0;
        n += want[k];
    }
    if (!n) goto done;
    why[0] = '\0';
    if (!p->manifest_ok || !p->salt_ok)
        snprintf(why, sizeof why, "cannot be rebuilt until the store's %s is restored",
                 !p->manifest_ok ? "manifest" : "salt");
    snprintf(restore, sizeof restore,
             "restore the dataset this store was built from (the manifest names %.800s, digest "
             "%.16s...) at data.train: %u shard file(s) are rebuilt from it",
             st->man.dataset, st->man.dataset_digest, n);
    if (!why[0] && !sisa_fs_exists(path)) {
        snprintf(problem, sizeof problem, "(%.700s) is gone", path);
        SISA_TRY(cannot(rp, "data.train", problem, restore));
        snprintf(why, sizeof why, "cannot be rebuilt until data.train is restored");
    }
    if (!why[0]) {
        int rc = sisa_dataset_digest(path, st->man.digest_version, digest);
        if (rc == SISA_ECORRUPT) {
            snprintf(problem, sizeof problem, "cannot be read (%.600s)", sisa_error_message());
            sisa_error_clear();
            SISA_TRY(cannot(rp, "data.train", problem, restore));
            snprintf(why, sizeof why, "cannot be rebuilt until data.train is restored");
        } else {
            SISA_TRY(rc);
            if (strcmp(digest, st->man.dataset_digest) != 0) {
                snprintf(problem, sizeof problem,
                         "(%.600s) has changed since the store was built (its digest is "
                         "%.16s..., the manifest has %.16s...)",
                         path, digest, st->man.dataset_digest);
                SISA_TRY(cannot(rp, "data.train", problem, restore));
                snprintf(why, sizeof why, "cannot be rebuilt until data.train is restored");
            }
        }
    }
    if (!why[0]) {
        /* Every deleted row must be a row of the dataset under this salt. */
        sisa_dataset_header hdr;
        SISA_TRY(sisa_dataset_stream_open(&ds, path, &hdr));
        const uint64_t *id = sisa_dataset_stream_id(ds);
        const uint64_t *group = sisa_dataset_stream_group(ds);
        const uint8_t *risk = sisa_dataset_stream_risk(ds);
        SISA_TRY(sisa_partition_check_columns(&st->cfg, path, hdr.n, group, risk));
        found = sisa_calloc(p->del.n_ids ? p->del.n_ids : 1, 1);
        SISA_CHECK(found, SISA_ENOMEM, "out of memory");
        for (uint64_t i = 0; i < hdr.n && p->del.n_ids; i++) {
            uint8_t h[32];
            sisa_store_hash_id(st, id[i], h);
            const uint8_t(*hit)[32] = bsearch(h, p->del.ids, p->del.n_ids, 32, cmp_hash);
            if (!hit) continue;
            found[hit - (const uint8_t(*)[32])p->del.ids] = 1;
            uint32_t k, s;
            sisa_partition_assign(&st->cfg, id[i], group ? group[i] : 0, risk ? risk[i] : 0, &k,
                                  &s);
            p->shards[k].deleted++;
        }
        uint64_t missing = 0;
        for (uint64_t i = 0; i < p->del.n_ids; i++) missing += !found[i];
        sisa_dataset_stream_close(ds);
        ds = NULL;
        if (missing) {
            snprintf(problem, sizeof problem,
                     "does not name the deleted rows: %llu of the %llu rows the journal and the "
                     "ledger name match no row of %.600s under it",
                     (unsigned long long)missing, (unsigned long long)p->del.n_ids, path);
            SISA_TRY(cannot(rp, "salt", problem, salt_restore));
            snprintf(why, sizeof why, "cannot be rebuilt until the store's salt is restored");
        }
    }
    if (why[0]) {
        for (uint32_t k = 0; k < S; k++)
            if (want[k]) make_unrepairable(rp, p->shards[k].item, why);
        goto done;
    }
    out = sisa_calloc(S, sizeof *out);
    lin = sisa_malloc((size_t)st->cfg.sisa.slices * sizeof *lin);
    SISA_CHECK(out && lin, SISA_ENOMEM, "out of memory");
    SISA_TRY(sisa_verify_rebuild(out, st, want, &p->del));
    for (uint32_t k = 0; k < S; k++) {
        if (!want[k]) continue;
        shard_plan *sp = &p->shards[k];
        sp->rebuilt = out[k];
        out[k] = NULL;
        SISA_TRY(sisa_shard_lineages(sp->rebuilt, (uint32_t)st->cfg.sisa.slices, lin));
        memcpy(sp->lineage, lin[st->cfg.sisa.slices - 1], 65);
        sp->rows = sp->rebuilt->n;
    }
done:
    if (out)
        for (uint32_t k = 0; k < S; k++) sisa_shard_data_free(out[k]);
    sisa_free(out);
    sisa_free(lin);
    sisa_free(found);
    sisa_free(want);
    sisa_dataset_stream_close(ds);
    return err;
}

static int examine_context(sisa_repair *rp)
{
    int err = SISA_OK;
    sisa_repair_state *p = rp->priv;
    sisa_store *st = &rp->st;
    char restore[1280];
    int train = 0;
    for (uint32_t k = 0; k < (uint32_t)st->cfg.sisa.shards; k++)
        train |= (p->shards[k].need & NEED_TRAIN) != 0;
    if (!train || !p->manifest_ok || !strcmp(st->man.context, st->context)) goto done;
    snprintf(restore, sizeof restore,
             "retraining reproduces the store's bits only under its own context: run sisa repair "
             "with the sisa build and OpenBLAS core the store was trained with (store: %.550s; "
             "here: %.550s)",
             st->man.context, st->context);
    SISA_TRY(cannot(rp, "determinism context", "differs from the store's", restore));
done:
    return err;
}

/* ---- ledger: planning ------------------------------------------------------------------------ */

/* Record i (0-based) of the ledger rebuilt from the journal: request i's body with the hashes
 * after it, which are the hashes before the next request touching the shard, or the shard's
 * current ones. `from_disk`: current hashes read from the shard's files (after the repair of the
 * shards); else from the plan, and *unknown is set when a shard's model is known only after it
 * is retrained. */
static int regen_record(sisa_repair *rp, uint64_t i, int from_disk, sisa_jw *w, int *unknown)
{
    int err = SISA_OK;
    sisa_repair_state *p = rp->priv;
    sisa_request r = p->reqs[i].r;
    sisa_req_shard *sh = sisa_malloc((r.n_shards ? r.n_shards : 1) * sizeof *sh);
    SISA_CHECK(sh, SISA_ENOMEM, "out of memory");
    if (r.n_shards) memcpy(sh, r.shards, r.n_shards * sizeof *sh);
    r.shards = sh;
    *unknown = 0;
    for (uint32_t s = 0; s < r.n_shards; s++) {
        const uint32_t k = sh[s].shard;
        const sisa_req_shard *next = NULL;
        for (uint64_t j = i + 1; j < p->n_reqs && !next; j++)
            for (uint32_t t = 0; t < p->reqs[j].r.n_shards && !next; t++)
                if (p->reqs[j].r.shards[t].shard == k) next = &p->reqs[j].r.shards[t];
        if (next) {
            memcpy(sh[s].lineage_after, next->lineage_before, 65);
            memcpy(sh[s].model_after, next->model_before, 65);
        } else if (from_disk) {
            SISA_TRY(shard_now(&rp->st, k, sh[s].lineage_after, sh[s].model_after, NULL));
        } else {
            SISA_CHECK(k < (uint32_t)rp->st.cfg.sisa.shards, SISA_ECORRUPT,
                       "the journal's request %llu names shard %u, but the store has %d",
                       (unsigned long long)r.n, k, rp->st.cfg.sisa.shards);
            const shard_plan *sp = &p->shards[k];
            if (!sp->lineage[0] || (sp->need & NEED_FOLDER)) {
                *unknown = 1;
                continue;
            }
            memcpy(sh[s].lineage_after, sp->lineage, 65);
            memcpy(sh[s].model_after, sp->recorded_final, 65);
        }
    }
    sisa_ledger_record(w, &r, i ? p->reqs[i - 1].head : zero_head);
    SISA_CHECK(!w->failed, SISA_ENOMEM, "out of memory");
done:
    sisa_free(sh);
    return err;
}

/* How many leading ledger lines are the records the journal certified (their hashes are the
 * heads its certified records hold). */
static void ledger_good_prefix(sisa_repair_state *p)
{
    char h[65];
    p->ledger_good = 0;
    while (p->ledger_good < p->n_lines && p->ledger_good < p->certified) {
        line_hash(p, p->ledger_good, h);
        if (strcmp(h, p->reqs[p->ledger_good].head) != 0) break;
        p->ledger_good++;
    }
}

static int plan_ledger(sisa_repair *rp)
{
    int err = SISA_OK;
    sisa_repair_state *p = rp->priv;
    const uint64_t C = p->certified, L = p->n_lines, good = p->ledger_good;
    const int appending = p->latest_state == SISA_REQ_PUBLISHED;
    char problem[768], action[1280], h[65];
    sisa_jw w;
    sisa_jw_init(&w);
    int unknown = 0, keep_extra = 0;
    if (appending && good == C && L == C + 1) {
        /* The crash window between appending the record of the newest request and journaling
         * it as certified: keep the record when it is exactly what sisa would append. */
        SISA_TRY(regen_record(rp, C, 0, &w, &unknown));
        keep_extra = unknown || (w.len == p->line_end[C] - p->line_start[C] &&
                                 !memcmp(w.buf, p->ledger + p->line_start[C], w.len));
    }
    const int torn_ok = p->torn == 0 || (appending && L == C);
    if ((p->ledger_exists || C == 0) && good == C && (L == C || keep_extra) && torn_ok) goto done;
    if (good == C && L > C + (uint64_t)(appending ? 1 : 0)) {
        snprintf(problem, sizeof problem,
                 "holds %llu record(s), but the journal certifies %llu deletion request(s)",
                 (unsigned long long)L, (unsigned long long)C);
        snprintf(action, sizeof action,
                 "the records after request %llu were added outside sisa, or the journal was cut "
                 "or replaced; which is not known here. Restore STORE/journal from a backup if "
                 "it was cut; if the records were added by hand, remove them",
                 (unsigned long long)C);
        SISA_TRY(cannot(rp, "ledger", problem, action));
        goto done;
    }
    p->ledger_write = 1;
    p->ledger_keep = good;
    p->ledger_upto = C;
    if (!p->ledger_exists)
        snprintf(problem, sizeof problem,
                 "is missing, but the journal certifies %llu deletion request(s)",
                 (unsigned long long)C);
    else if (good == C && L == C + 1)
        snprintf(problem, sizeof problem,
                 "ends with a record of unfinished request %llu that is not the one the journal "
                 "describes",
                 (unsigned long long)C + 1);
    else if (good == L && L < C)
        snprintf(problem, sizeof problem,
                 "holds %llu of the %llu record(s) the journal certifies: it was cut",
                 (unsigned long long)L, (unsigned long long)C);
    else if (good < L && good < C)
        snprintf(problem, sizeof problem,
                 "record %llu does not hash to the head the journal certified for request "
                 "%llu: it was edited or damaged",
                 (unsigned long long)good + 1, (unsigned long long)good + 1);
    else
        snprintf(problem, sizeof problem, "ends with an incomplete record (%zu byte(s))", p->torn);
    if (p->torn && (good < C || L > C))
        snprintf(problem + strlen(problem), sizeof problem - strlen(problem),
                 "; it ends with %zu byte(s) of an incomplete record", p->torn);
    if (good == C)
        snprintf(action, sizeof action,
                 "keep its %llu certified record(s) and drop what follows them (the next "
                 "writing command appends the record of the unfinished request again)",
                 (unsigned long long)C);
    else if (good == 0)
        snprintf(action, sizeof action,
                 "rebuild its %llu record(s) from the journal's request records, each checked "
                 "against the head the journal certified",
                 (unsigned long long)C);
    else
        snprintf(action, sizeof action,
                 "keep records 1-%llu and rebuild records %llu-%llu from the journal's request "
                 "records, each checked against the head the journal certified",
                 (unsigned long long)good, (unsigned long long)good + 1, (unsigned long long)C);
    int it = item_new(rp, "ledger", 1);
    SISA_TRY(it);
    p->ledger_item = it;
    snprintf(rp->items[it].problem, sizeof rp->items[it].problem, "%s", problem);
    snprintf(rp->items[it].action, sizeof rp->items[it].action, "%s", action);
    /* Check now what can be checked before anything changes (records whose hashes after need
     * a shard retrained first are checked when they are written). */
    for (uint64_t i = good; i < C; i++) {
        w.len = 0;
        SISA_TRY(regen_record(rp, i, 0, &w, &unknown));
        if (unknown) continue;
        sha_hex(h, w.buf, w.len);
        if (!strcmp(h, p->reqs[i].head)) continue;
        snprintf(action, sizeof action,
                 "record %llu rebuilt from the journal hashes to %.16s..., not to the head "
                 "%.16s... the journal certified: the journal and the shards' files disagree "
                 "about it. Restore STORE/ledger from a backup of this store",
                 (unsigned long long)i + 1, h, p->reqs[i].head);
        make_unrepairable(rp, it, action);
        break;
    }
done:
    sisa_jw_free(&w);
    return err;
}

/* With the journal lost: the ledger's records become the requests, if they can. */
static int plan_journal_lost(sisa_repair *rp)
{
    int err = SISA_OK;
    sisa_repair_state *p = rp->priv;
    sisa_store *st = &rp->st;
    const int it = p->journal_item;
    char why[600], action[1280], cfgpath[SISA_PATH_MAX];
    uint64_t bad = 0, rows = 0;
    if (!p->manifest_ok || !p->salt_ok) {
        snprintf(action, sizeof action, "cannot be rebuilt until the store's %s is restored",
                 !p->manifest_ok ? "manifest" : "salt");
        make_unrepairable(rp, it, action);
        goto done;
    }
    if (p->n_lines == 0) {
        if (st->man.deletions == 0 && p->torn == 0) {
            snprintf(rp->items[it].action, sizeof rp->items[it].action,
                     "rebuild it from the store's files (salt, config.yaml, manifest); the store "
                     "has processed no deletion request");
            goto done;
        }
        snprintf(action, sizeof action,
                 "cannot be rebuilt: the ledger is %s too, and the manifest counts %llu deletion "
                 "request(s), so which rows were deleted cannot be known. Restore STORE/journal "
                 "or STORE/ledger from a backup of this store",
                 p->ledger_exists ? "empty" : "missing", (unsigned long long)st->man.deletions);
        make_unrepairable(rp, it, action);
        goto done;
    }
    SISA_TRY(ledger_as_requests(rp, &bad, why, sizeof why));
    if (bad) {
        snprintf(action, sizeof action,
                 "cannot be rebuilt: the ledger is the only record of the deletions left, and "
                 "its line %llu is damaged (%.400s). Restore STORE/journal or STORE/ledger from a "
                 "backup of this store",
                 (unsigned long long)bad, why);
        make_unrepairable(rp, it, action);
        goto done;
    }
    for (uint64_t i = 0; i < p->n_reqs; i++) rows += p->reqs[i].r.rows;
    if (p->n_reqs != st->man.deletions || rows != st->man.deleted_rows) {
        snprintf(action, sizeof action,
                 "cannot be rebuilt: the manifest counts %llu deletion request(s) of %llu "
                 "row(s), the ledger %llu of %llu: the lost journal held a request the ledger "
                 "does not. Restore STORE/journal from a backup of this store",
                 (unsigned long long)st->man.deletions, (unsigned long long)st->man.deleted_rows,
                 (unsigned long long)p->n_reqs, (unsigned long long)rows);
        make_unrepairable(rp, it, action);
        goto done;
    }
    SISA_TRY(path_in(cfgpath, sizeof cfgpath, st, "config.yaml"));
    const int have_config = sisa_fs_exists(cfgpath);
    snprintf(rp->items[it].action, sizeof rp->items[it].action,
             "rebuild it from the store's files (salt, %smanifest) and the ledger's %llu "
             "record(s)%s%s",
             have_config ? "config.yaml, " : "", (unsigned long long)p->n_reqs,
             p->torn ? ", dropping the ledger's incomplete last record (a request whose journal "
                       "records are lost)"
                     : "",
             have_config ? "" : "; config.yaml is missing too: write it again from the config");
    if (p->torn) {
        p->ledger_write = 1;
        p->ledger_keep = p->ledger_upto = p->n_lines;
    }
done:
    return err;
}

/* ---- the plan -------------------------------------------------------------------------------- */

/* The dataset's name in messages: its file name. */
static const char *dataset_name(const sisa_store *st)
{
    const char *slash = strrchr(st->cfg.data.train, '/');
    return slash ? slash + 1 : st->cfg.data.train;
}

static void plan_shard_actions(sisa_repair *rp)
{
    sisa_repair_state *p = rp->priv;
    const uint32_t S = (uint32_t)rp->st.cfg.sisa.shards, R = (uint32_t)rp->st.cfg.sisa.slices;
    for (uint32_t k = 0; k < S; k++) {
        shard_plan *sp = &p->shards[k];
        if (sp->item < 0 || !rp->items[sp->item].repairable) continue;
        char *a = rp->items[sp->item].action;
        const size_t cap = sizeof rp->items[sp->item].action;
        if (sp->need & NEED_FOLDER) {
            int n = snprintf(a, cap, "rebuild shard %u from %.300s without its %llu deleted row(s)",
                             k, dataset_name(&rp->st), (unsigned long long)sp->deleted);
            if (sp->old_files[0] && n > 0 && (size_t)n < cap)
                n += snprintf(a + n, cap - (size_t)n,
                              ", after removing sisa's old files in its folder (%s): they may "
                              "hold deleted rows",
                              sp->old_files);
            if (n > 0 && (size_t)n < cap) snprintf(a + n, cap - (size_t)n, "; retrain it");
        } else if (sp->need & NEED_DATA) {
            snprintf(a, cap,
                     "rebuild it from %.300s without the shard's %llu deleted row(s); retrain "
                     "the stages that no longer match it",
                     dataset_name(&rp->st), (unsigned long long)sp->deleted);
        } else if (sp->first_bad > 1) {
            snprintf(a, cap, "retrain stages %u-%u of shard %u from its checkpoint of stage %u",
                     sp->first_bad, R, k, sp->first_bad - 1);
        } else {
            snprintf(a, cap, "retrain stages 1-%u of shard %u from initialisation", R, k);
        }
    }
}

int sisa_repair_plan(sisa_repair *rp, const sisa_config *cfg, sisa_repair_mode mode,
                     double wait_seconds)
{
    int err = SISA_OK;
    sisa_store *st = &rp->st;
    sisa_folder_kind kind;
    char detail[1200];
    memset(rp, 0, sizeof *rp);
    st->lock_fd = -1;
    rp->mode = mode;
    rp->priv = sisa_calloc(1, sizeof *rp->priv);
    SISA_CHECK(rp->priv, SISA_ENOMEM, "out of memory");
    sisa_repair_state *p = rp->priv;
    p->journal_item = p->ledger_item = p->config_item = -1;
    st->cfg = *cfg;
    const char *src = cfg->source[0] ? cfg->source : "CONFIG";
    SISA_CHECK(sisa_strlcpy(st->root, cfg->store, sizeof st->root) == 0, SISA_EUSAGE,
               "store path too long");
    sisa_config_hash(cfg, st->config_hash);
    sisa_store_context(st->context, sizeof st->context);
    const uint32_t S = (uint32_t)cfg->sisa.shards;
    p->shards = sisa_calloc(S, sizeof *p->shards);
    SISA_CHECK(p->shards, SISA_ENOMEM, "out of memory");

    SISA_TRY(sisa_store_probe(st->root, &kind, detail, sizeof detail));
    SISA_CHECK(kind != SISA_FOLDER_MISSING && kind != SISA_FOLDER_EMPTY, SISA_EUSAGE,
               "%s is not a sisa store (%s): there is nothing to repair; 'sisa train -c %s' "
               "creates it",
               st->root, kind == SISA_FOLDER_MISSING ? "no such folder" : "the folder is empty",
               src);
    SISA_CHECK(kind != SISA_FOLDER_FOREIGN, SISA_ECONFIG,
               "%s: store %s is not a sisa store: %s. sisa repair works only on a folder sisa "
               "made, and never removes files it did not write",
               src, st->root, detail);
    if (mode == SISA_REPAIR_WRITE) {
        SISA_TRY(sisa_store_lock(st, wait_seconds));
        st->exclusive = 1;
    } else if (mode == SISA_REPAIR_DRY) {
        long pid = 0;
        if (sisa_store_writer(st->root, &pid))
            snprintf(rp->note, sizeof rp->note,
                     "another sisa command (pid %ld) is changing the store now: this plan may be "
                     "out of date",
                     pid);
    }

    SISA_TRY(examine_salt(rp));
    SISA_TRY(examine_journal(rp));
    SISA_TRY(examine_manifest(rp));
    SISA_TRY(read_ledger(rp));
    if (p->journal_lost)
        SISA_TRY(plan_journal_lost(rp));
    else
        ledger_good_prefix(p);
    SISA_TRY(collect_deletions(rp));
    for (uint32_t k = 0; k < S; k++) SISA_TRY(examine_shard(rp, k));
    SISA_TRY(check_against_records(rp));
    SISA_TRY(check_row_count(rp));
    SISA_TRY(examine_dataset(rp));
    SISA_TRY(examine_context(rp));
    if (!p->journal_lost) SISA_TRY(plan_ledger(rp));
    plan_shard_actions(rp);
    if (!p->journal_lost && p->latest_state >= SISA_REQ_ACCEPTED &&
        p->latest_state < SISA_REQ_CERTIFIED) {
        size_t used = strlen(rp->note);
        snprintf(rp->note + used, sizeof rp->note - used,
                 "%sdeletion request %llu is unfinished (%s): repair leaves it as it is (its "
                 "rows are kept out of every shard it rebuilds); the next writing command (sisa "
                 "unlearn or sisa train) finishes it",
                 used ? "; " : "", (unsigned long long)p->n_reqs,
                 sisa_req_state_name(p->latest_state));
    }
done:
    return err;
}

/* ---- the run --------------------------------------------------------------------------------- */

static int remove_file(const char *dir, const char *name)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX];
    struct stat sb;
    SISA_TRY(sisa_path_resolve(path, sizeof path, dir, name));
    if (lstat(path, &sb) != 0 || S_ISDIR(sb.st_mode)) goto done;
    SISA_CHECK(unlink(path) == 0 || errno == ENOENT, SISA_EIO, "cannot remove %s: %s", path,
               strerror(errno));
done:
    return err;
}

/* A shard whose journal or folder is lost: remove sisa's files there (never anything else),
 * the journal last, then commit the rebuilt rows through a new journal. */
static int rebuild_folder(sisa_repair *rp, uint32_t k)
{
    int err = SISA_OK;
    shard_plan *sp = &rp->priv->shards[k];
    char dir[SISA_PATH_MAX], journal[SISA_PATH_MAX];
    sisa_files f = {0};
    DIR *d = NULL;
    SISA_TRY(sisa_store_shard_dir(&rp->st, k, dir, sizeof dir));
    SISA_TRY(sisa_path_resolve(journal, sizeof journal, dir, "journal"));
    if (sisa_fs_exists(dir)) {
        d = opendir(dir);
        SISA_CHECK(d, SISA_EIO, "cannot list %s: %s", dir, strerror(errno));
        struct dirent *de;
        while ((de = readdir(d)) != NULL)
            if (is_shard_file(de->d_name) && strcmp(de->d_name, "journal"))
                SISA_TRY(remove_file(dir, de->d_name));
        closedir(d);
        d = NULL;
        SISA_TRY(remove_file(dir, "journal"));
        SISA_TRY(sisa_fs_fsync_parent(journal));
    }
    SISA_TRY(sisa_shard_files(&rp->st, k, &f, 1));
    SISA_TRY(sisa_shard_commit_data(&rp->st, &f, sp->rebuilt));
done:
    if (d) closedir(d);
    sisa_files_close(&f);
    return err;
}

/* A shard whose data file is damaged: commit the rebuilt rows in its place. *same: the new file
 * has the recorded hash. */
static int rebuild_data(sisa_repair *rp, uint32_t k, int *same)
{
    int err = SISA_OK;
    shard_plan *sp = &rp->priv->shards[k];
    sisa_files f = {0};
    SISA_TRY(sisa_shard_files(&rp->st, k, &f, 1));
    SISA_TRY(sisa_shard_commit_data(&rp->st, &f, sp->rebuilt));
    const char *h = sisa_files_hash(&f, SISA_SHARD_DATA);
    *same = h && !strcmp(h, sp->recorded_data);
done:
    sisa_files_close(&f);
    return err;
}

/* Retrain shard k and say what happened in its item. */
static int retrain(sisa_repair *rp, uint32_t k, int data_same)
{
    int err = SISA_OK;
    sisa_repair_state *p = rp->priv;
    shard_plan *sp = &p->shards[k];
    const uint32_t R = (uint32_t)rp->st.cfg.sisa.slices;
    sisa_shard_report rep;
    char lineage[65], model[65], rec_lineage[65], rec_model[65], tail[400] = "";
    uint64_t rows = 0;
    SISA_TRY(sisa_shard_train(&rp->st, k, &rep));
    SISA_TRY(shard_now(&rp->st, k, lineage, model, &rows));
    /* The model it ends with, against the one recorded before the damage. */
    const sisa_req_shard *last = NULL;
    int64_t i = last_touching(p, k, p->n_reqs, &last);
    int have = i >= 0 && (uint64_t)i < p->certified &&
               recorded_after(p, (uint64_t)i, k, rec_lineage, rec_model);
    if (!have && sp->recorded_final[0] && !(sp->need & NEED_FOLDER)) {
        memcpy(rec_model, sp->recorded_final, 65);
        have = 1;
    }
    if (rep.empty)
        snprintf(tail, sizeof tail, "; every row of it is deleted: it has no model");
    else if (have && !strcmp(model, rec_model))
        snprintf(tail, sizeof tail, "; its final model is bit for bit the one recorded before");
    else if (have)
        snprintf(tail, sizeof tail,
                 "; its final model (%.12s...) is NOT the one recorded before (%.12s...)", model,
                 rec_model);
    char *a = rp->items[sp->item].action;
    const size_t cap = sizeof rp->items[sp->item].action;
    char stages[160], from[64];
    if (rep.resumed_from)
        snprintf(from, sizeof from, "its intact checkpoint of stage %u", rep.resumed_from);
    else
        snprintf(from, sizeof from, "initialisation");
    if (rep.stages_trained == 1)
        snprintf(stages, sizeof stages, "retrained stage %u from %s", R, from);
    else if (rep.stages_trained)
        snprintf(stages, sizeof stages, "retrained stages %u-%u from %s", rep.resumed_from + 1, R,
                 from);
    else
        snprintf(stages, sizeof stages, "its checkpoints still match it: nothing to retrain");
    if (sp->need & NEED_FOLDER) {
        int n = snprintf(a, cap,
                         "rebuilt shard %u from %.300s without its %llu deleted row(s) (%llu "
                         "rows left)",
                         k, dataset_name(&rp->st), (unsigned long long)sp->deleted,
                         (unsigned long long)rows);
        if (sp->old_files[0] && n > 0 && (size_t)n < cap)
            n += snprintf(a + n, cap - (size_t)n, ", removed sisa's old files there (%s)",
                          sp->old_files);
        if (n > 0 && (size_t)n < cap) snprintf(a + n, cap - (size_t)n, ", %s%s", stages, tail);
    } else if (sp->need & NEED_DATA) {
        snprintf(a, cap,
                 "rebuilt it from %.300s without the shard's %llu deleted row(s) (%llu rows "
                 "left): %s the recorded file; %s%s",
                 dataset_name(&rp->st), (unsigned long long)sp->deleted, (unsigned long long)rows,
                 data_same ? "identical to" : "not byte for byte", stages, tail);
    } else {
        snprintf(a, cap, "shard %u: %s%s", k, stages, tail);
    }
    rp->items[sp->item].done = 1;
done:
    return err;
}

static int write_ledger(sisa_repair *rp)
{
    int err = SISA_OK;
    sisa_repair_state *p = rp->priv;
    char path[SISA_PATH_MAX], h[65];
    char *buf = NULL;
    size_t len = 0, cap = 0;
    sisa_jw w;
    sisa_jw_init(&w);
    int unknown = 0;
    const size_t kept = p->ledger_keep ? p->line_end[p->ledger_keep - 1] + 1 : 0;
    cap = kept + 1024;
    buf = sisa_malloc(cap);
    SISA_CHECK(buf, SISA_ENOMEM, "out of memory");
    memcpy(buf, p->ledger ? p->ledger : "", kept);
    len = kept;
    for (uint64_t i = p->ledger_keep; i < p->ledger_upto; i++) {
        w.len = 0;
        SISA_TRY(regen_record(rp, i, 1, &w, &unknown));
        sha_hex(h, w.buf, w.len);
        SISA_CHECK(!strcmp(h, p->reqs[i].head), SISA_ECORRUPT,
                   "%s/ledger: record %llu rebuilt from the journal hashes to %.16s..., not to "
                   "the head %.16s... the journal certified; the ledger was not changed. Restore "
                   "STORE/ledger from a backup of this store",
                   rp->st.root, (unsigned long long)i + 1, h, p->reqs[i].head);
        if (len + w.len + 1 > cap) {
            cap = 2 * (len + w.len + 1);
            char *nb = sisa_realloc(buf, cap);
            SISA_CHECK(nb, SISA_ENOMEM, "out of memory");
            buf = nb;
        }
        memcpy(buf + len, w.buf, w.len);
        len += w.len;
        buf[len++] = '\n';
    }
    SISA_TRY(path_in(path, sizeof path, &rp->st, "ledger"));
    SISA_TRY(sisa_fs_write_atomic(path, buf, len, 1));
    if (p->ledger_item >= 0) {
        sisa_repair_item *it = &rp->items[p->ledger_item];
        if (p->ledger_upto > p->ledger_keep)
            snprintf(it->action, sizeof it->action,
                     "kept %llu record(s), rebuilt record(s) %llu-%llu from the journal's request "
                     "records: each hashes to the head the journal certified",
                     (unsigned long long)p->ledger_keep, (unsigned long long)p->ledger_keep + 1,
                     (unsigned long long)p->ledger_upto);
        else
            snprintf(it->action, sizeof it->action,
                     "kept its %llu certified record(s), dropped what followed them",
                     (unsigned long long)p->ledger_keep);
        it->done = 1;
    }
done:
    sisa_free(buf);
    sisa_jw_free(&w);
    return err;
}

static char *config_text(const sisa_config *cfg)
{
    size_t need = sisa_config_dump(cfg, NULL, 0) + 1;
    char *dump = sisa_malloc(need);
    if (dump) sisa_config_dump(cfg, dump, need);
    return dump;
}

/* A put record for a file that is already in place (the journal is being rebuilt): the same
 * record sisa_files_commit writes, naming a temp file that no longer exists. */
static int put_record(sisa_journal *j, const sisa_store *st, const char *name)
{
    int err = SISA_OK;
    char path[SISA_PATH_MAX], sha[65], tmp[96];
    sisa_jw w;
    sisa_jw_init(&w);
    SISA_TRY(path_in(path, sizeof path, st, name));
    SISA_TRY(sisa_file_sha256(path, sha));
    snprintf(tmp, sizeof tmp, ".%s.sisa-tmp-0-0", name);
    sisa_jw_raw(&w, "{");
    sisa_jw_key(&w, "op", 1);
    sisa_jw_str(&w, "put");
    sisa_jw_key(&w, "file", 0);
    sisa_jw_str(&w, name);
    sisa_jw_key(&w, "tmp", 0);
    sisa_jw_str(&w, tmp);
    sisa_jw_key(&w, "sha256", 0);
    sisa_jw_str(&w, sha);
    sisa_jw_raw(&w, "}");
    SISA_CHECK(!w.failed, SISA_ENOMEM, "out of memory");
    SISA_TRY(sisa_journal_append(j, w.buf));
done:
    sisa_jw_free(&w);
    return err;
}

/* STORE/journal from the store's files and the ledger's records, written to a temp file and
 * renamed into place; then config.yaml, when it is missing, through the new journal. */
static int write_journal(sisa_repair *rp)
{
    int err = SISA_OK;
    sisa_repair_state *p = rp->priv;
    sisa_store *st = &rp->st;
    char path[SISA_PATH_MAX], tmp[SISA_PATH_MAX] = "", cfgpath[SISA_PATH_MAX];
    sisa_journal j = {.fd = -1};
    sisa_files f = {0};
    char *dump = NULL;
    SISA_TRY(path_in(path, sizeof path, st, "journal"));
    SISA_TRY(path_in(cfgpath, sizeof cfgpath, st, "config.yaml"));
    const int have_config = sisa_fs_exists(cfgpath);
    SISA_TRY(sisa_fs_tmp_create(tmp, sizeof tmp, path));
    SISA_TRY(sisa_journal_open(&j, tmp, 1));
    SISA_TRY(put_record(&j, st, "salt"));
    if (have_config) SISA_TRY(put_record(&j, st, "config.yaml"));
    SISA_TRY(put_record(&j, st, "manifest"));
    for (uint64_t i = 0; i < p->n_reqs; i++) {
        sisa_request *r = &p->reqs[i].r;
        SISA_TRY(sisa_request_accept(&j, r));
        for (int s = SISA_REQ_FENCED; s < SISA_REQ_CERTIFIED; s++)
            SISA_TRY(sisa_request_set_state(&j, r, s, NULL));
        SISA_TRY(sisa_request_set_state(&j, r, SISA_REQ_CERTIFIED, p->reqs[i].head));
    }
    sisa_journal_close(&j);
    SISA_TRY(sisa_fs_publish(tmp, path, 1));
    tmp[0] = '\0';
    if (!have_config) {
        dump = config_text(&st->cfg);
        SISA_CHECK(dump, SISA_ENOMEM, "out of memory");
        SISA_TRY(sisa_files_open(&f, st->root, "journal", 1));
        SISA_TRY(sisa_files_write(&f, "config.yaml", dump, strlen(dump)));
    }
    sisa_repair_item *it = &rp->items[p->journal_item];
    snprintf(it->action, sizeof it->action,
             "rebuilt it from the store's files (salt, %smanifest) and the ledger's %llu "
             "record(s)%s%s",
             have_config ? "config.yaml, " : "", (unsigned long long)p->n_reqs,
             p->torn ? "; dropped the ledger's incomplete last record" : "",
             have_config ? "" : "; config.yaml was missing too: wrote it again from the config");
    it->done = 1;
done:
    sisa_journal_close(&j);
    sisa_files_close(&f);
    if (tmp[0]) sisa_fs_remove_quiet(tmp);
    sisa_free(dump);
    return err;
}

int sisa_repair_run(sisa_repair *rp)
{
    int err = SISA_OK;
    sisa_repair_state *p = rp->priv;
    sisa_store *st = &rp->st;
    const uint32_t S = (uint32_t)st->cfg.sisa.shards;
    sisa_files f = {0};
    char *dump = NULL;
    SISA_CHECK(rp->mode == SISA_REPAIR_WRITE && !rp->unrepairable, SISA_EINTERNAL,
               "sisa_repair_run: the plan is not one to run");
    if (!rp->n_items) goto done;
    SISA_TRY(sisa_store_activity_begin(st, "repair", 0, 1));
    if (!p->journal_lost) {
        /* As every writer does first: finish or undo commits a crash left in flight. */
        SISA_TRY(sisa_files_open(&f, st->root, "journal", 1));
        SISA_TRY(sisa_files_repair(&f, store_keep));
        sisa_files_close(&f);
    }
    /* 1. Shard files, from the dataset minus every deleted row; then retraining. */
    for (uint32_t k = 0; k < S; k++) {
        shard_plan *sp = &p->shards[k];
        int same = 0;
        if (sp->need & NEED_FOLDER) SISA_TRY(rebuild_folder(rp, k));
        if (!(sp->need & NEED_FOLDER) && (sp->need & NEED_DATA))
            SISA_TRY(rebuild_data(rp, k, &same));
        if (sp->need & NEED_TRAIN) SISA_TRY(retrain(rp, k, same));
        sisa_shard_data_free(sp->rebuilt);
        sp->rebuilt = NULL;
    }
    /* 2. The ledger: its records name the shards' final state. */
    if (p->ledger_write) SISA_TRY(write_ledger(rp));
    /* 3. The store journal: its certified records hold the ledger's heads. */
    if (p->journal_lost) SISA_TRY(write_journal(rp));
    /* 4. config.yaml. */
    if (p->config_write) {
        dump = config_text(&st->cfg);
        SISA_CHECK(dump, SISA_ENOMEM, "out of memory");
        SISA_TRY(sisa_files_open(&f, st->root, "journal", 1));
        SISA_TRY(sisa_files_write(&f, "config.yaml", dump, strlen(dump)));
        snprintf(rp->items[p->config_item].action, sizeof rp->items[p->config_item].action,
                 "wrote it again from %.600s", st->cfg.source);
        rp->items[p->config_item].done = 1;
    }
done:
    sisa_files_close(&f);
    sisa_free(dump);
    return err;
}

int sisa_repair_check(sisa_repair *rp, char *why, size_t cap)
{
    int err = SISA_OK;
    sisa_repair chk;
    sisa_store opened;
    memset(&opened, 0, sizeof opened);
    opened.lock_fd = -1;
    why[0] = '\0';
    SISA_TRY(sisa_repair_plan(&chk, &rp->st.cfg, SISA_REPAIR_CHECK, 0));
    if (chk.n_items) {
        snprintf(why, cap, "%s %s", chk.items[0].file, chk.items[0].problem);
        goto done;
    }
    /* And as every command opens it. */
    int rc = sisa_store_open(&opened, &rp->st.cfg, SISA_STORE_READ, 0);
    if (rc == SISA_ECORRUPT) {
        snprintf(why, cap, "%s", sisa_error_message());
        sisa_error_clear();
        goto done;
    }
    SISA_TRY(rc);
    err = 1;
done:
    sisa_store_close(&opened);
    sisa_repair_free(&chk);
    return err;
}

void sisa_repair_free(sisa_repair *rp)
{
    sisa_repair_state *p = rp->priv;
    if (p) {
        sisa_files_close(&p->files);
        free_requests(p);
        sisa_free(p->ledger);
        sisa_free(p->line_start);
        sisa_free(p->line_end);
        if (p->shards)
            for (uint32_t k = 0; k < (uint32_t)rp->st.cfg.sisa.shards; k++)
                sisa_shard_data_free(p->shards[k].rebuilt);
        sisa_free(p->shards);
        sisa_deletions_free(&p->del);
        sisa_free(p);
    }
    sisa_free(rp->items);
    rp->items = NULL;
    rp->n_items = 0;
    rp->priv = NULL;
    sisa_store_close(&rp->st);
}
