/*
 * journal.h - append-only, fsynced logs of JSON lines, and the committed files they describe.
 *
 * Every change to a store goes through a journal before it happens on disk. The store has one
 * (STORE/journal: its own files, deletion requests and their states), and every shard has one
 * (STORE/shards/KKKK/journal: the shard's data file and checkpoints), written only by the
 * process working on that shard, so ranks never share a journal.
 *
 * A file is committed in four steps: write a temp file and fsync it; hash it; append
 * {"op": "put", "file": NAME, "tmp": TEMP, "sha256": HASH, "size": BYTES[, "meta": {...}]} and
 * fsync the journal; rename the temp file to NAME and fsync the folder. A file is removed by
 * appending {"op": "del", "file": NAME} before unlinking it. The journal is therefore always ahead
 * of the disk, and after a crash at any point sisa_files_repair can finish or undo what was in
 * flight: a committed put whose rename did not happen is completed from its temp file, a deleted
 * file that still exists is removed, and so are temp files of commits that never reached the
 * journal. A file the journal never named is not sisa's and is never removed. Readers check a
 * file's bytes against its journaled SHA-256 before HDF5 opens it (sisa_files_verify).
 *
 * A crash can tear the last line of a journal; opening drops a final line without its newline
 * (and a writer truncates it away). Any other malformed line is corruption.
 */
#ifndef SISA_SHARD_JOURNAL_H
#define SISA_SHARD_JOURNAL_H

#include "base/fs.h"
#include "base/json.h"

#include <stddef.h>
#include <stdint.h>

typedef struct sisa_journal {
    char path[SISA_PATH_MAX];
    int fd;           /* open for appending, or -1 when read-only */
    sisa_json **recs; /* every record, in order */
    size_t n, cap;
} sisa_journal;

/* Read the journal at `path` (a missing file is an empty journal; created when writable). */
int sisa_journal_open(sisa_journal *j, const char *path, int writable);
void sisa_journal_close(sisa_journal *j);
/* Append one record (the text of a JSON object, no newline) and fsync before returning. Every
 * allocation it makes comes before the first byte is written: SISA_ENOMEM means that nothing
 * reached the file. */
int sisa_journal_append(sisa_journal *j, const char *json_object);

typedef struct sisa_files_entry {
    char name[64];
    char sha[65];
    char tmp[160];
    int live;              /* put and not deleted since */
    int64_t size;          /* bytes, -1 when the record predates sizes */
    const sisa_json *meta; /* the put record's "meta" object, or NULL (borrowed from the journal) */
} sisa_files_entry;

/* A folder whose files are committed through a journal in it. */
typedef struct sisa_files {
    char dir[SISA_PATH_MAX];
    sisa_journal j;
    sisa_files_entry *e;
    size_t n, cap;
    /* Index of e by name (open addressing: entry number + 1, 0 for a free slot; nslot a power
     * of two above 2 n), so that reading a journal of N records costs O(N), however many
     * names it holds. */
    size_t *slot, nslot;
} sisa_files;

/* Open `dir`'s journal (named `journal_name`). Writers also get the folder created. */
int sisa_files_open(sisa_files *f, const char *dir, const char *journal_name, int writable);
void sisa_files_close(sisa_files *f); /* safe on a zeroed or closed struct */

/* Writer only: bring the folder in line with the journal (see above). Only files sisa wrote are
 * touched: temp files, and files the journal names but no longer holds (removed ones). Files
 * named in `keep` (a NULL-terminated list; the journal itself is always kept), subfolders and
 * every file the journal never named are left alone. Returns how many files were removed or
 * completed, or a negative error. */
int sisa_files_repair(sisa_files *f, const char *const *keep);
/* Files and folders in the folder that the journal never named and `keep` does not list
 * (temp files excepted): not sisa's. Their count, and the first names, comma-separated, in
 * `out`. Reads only. */
int sisa_files_foreign(const sisa_files *f, const char *const *keep, char *out, size_t cap,
                       size_t *count);

/* The committed hash of `name`, or NULL when it is not a committed file. */
const char *sisa_files_hash(const sisa_files *f, const char *name);
/* 1 when `name` is committed. */
int sisa_files_has(const sisa_files *f, const char *name);
/* Check `name`'s bytes against its committed hash: SISA_ECORRUPT naming the file when it is
 * missing, not committed, or different (damaged or modified). */
int sisa_files_verify(const sisa_files *f, const char *name);

/* The cheap check of sisa status: `name` exists with its journaled size (a record without a
 * size falls back to sisa_files_verify). A changed byte of the same size is found by
 * sisa_files_verify (sisa audit, and every reader before it parses a file), not here. */
int sisa_files_check_size(const sisa_files *f, const char *name);

/* For readers, who never change the folder: the path holding `name`'s committed bytes, checked
 * against its hash. That is the file itself, or the temp file of a commit whose rename a crash
 * prevented (the next writer's sisa_files_repair completes it). Otherwise fails like
 * sisa_files_verify. */
int sisa_files_locate(const sisa_files *f, const char *name, char *out, size_t cap);

/* Commit a finished, closed temp file (in the same folder) as `name`. The commit owns the temp
 * file, also on failure: it removes it when the record never reached the journal, and otherwise
 * leaves it for sisa_files_repair (the journal may hold the record, and the temp file then holds
 * the committed bytes). Callers never remove it after this call. */
int sisa_files_commit(sisa_files *f, const char *tmp_path, const char *name);
/* The same, with `meta` (the text of a JSON object, or NULL) kept in the put record: what
 * readers need to know about the file without reading it (a shard data file's row counts and
 * lineages, a checkpoint's lineage). Put records also carry the file's size. */
int sisa_files_commit_meta(sisa_files *f, const char *tmp_path, const char *name, const char *meta);
/* The live entry of `name`, or NULL. Borrowed: valid until the folder is closed or changed. */
const sisa_files_entry *sisa_files_entry_of(const sisa_files *f, const char *name);
/* The same for a temp file its writer already fsynced and hashed while writing it: `sha` is the
 * SHA-256 (hex) of its bytes (io/store_io.h, sisa_shard_data_write_hashed). It saves reading the
 * file back; the journal records `sha`, so a wrong one makes every reader refuse the file. */
int sisa_files_commit_hashed(sisa_files *f, const char *tmp_path, const char *name,
                             const char *sha);
/* All of the above: `known` (or NULL) as for _hashed, `meta` (or NULL) as for _meta. */
int sisa_files_commit_ex(sisa_files *f, const char *tmp_path, const char *name, const char *known,
                         const char *meta);
/* Write `len` bytes as `name` through a temp file and commit them. */
int sisa_files_write(sisa_files *f, const char *name, const void *data, size_t len);
/* Journal the removal of `name`, then remove it. A name that is not committed is a no-op. */
int sisa_files_remove(sisa_files *f, const char *name);

/* SHA-256 (hex) of a file's bytes. */
int sisa_file_sha256(const char *path, char out[65]);

#endif
