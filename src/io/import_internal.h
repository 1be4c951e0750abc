/*
 * import_internal.h - what the importers (idx.c, csv.c, libsvm.c, h5import.c) share.
 */
#ifndef SISA_IO_IMPORT_INTERNAL_H
#define SISA_IO_IMPORT_INTERNAL_H

#include "sisa/dataset.h"
#include "sisa/error.h"
#include "sisa/import.h"

#include <stdint.h>
#include <zlib.h>

/* Writer options from import options; `source` is copied by the writer. */
void sisa_import_writer_opts(sisa_writer_opts *wo, const sisa_import_opts *o, const char *source);

/* Check the options every importer shares (output given, scale positive, ...). */
int sisa_import_check_common(const sisa_import_opts *o);

/* Generated IDs are id_offset + row: refuse an offset that would overflow for n rows (n >= 1).
 * `unit` names the rows in the message ("rows", "samples"). */
int sisa_import_check_id_offset(const sisa_import_opts *o, uint64_t n, const char *unit);

/* Without --num-classes (and without --remap-labels) the classes are inferred as the largest
 * label + 1: a label at or above SISA_INFER_CLASSES_MAX is refused as a probable mistake.
 * Returns SISA_EUSAGE with "WHERE: label L would make L+1 classes ...: did a label go wrong?
 * pass --num-classes N ...", WHERE formatted from `fmt` (the file and the line or row). */
int sisa_import_label_typo(int64_t label, const char *fmt, ...) SISA_PRINTF(2, 3);

/* What the source attribute calls input `path`: "standard input" for o->stdin_copy. */
const char *sisa_import_input_name(const sisa_import_opts *o, const char *path);

/* An import whose input is standard input ('-'): it is copied to a temporary file
 * (sisa_fs_spool_stdin), imported from there by `import` (path = the copy), and the copy removed;
 * with import NULL it is sisa_import_idx with the '-' of --images or --labels replaced by the
 * copy. Messages name the copy, DIR/stdin. */
int sisa_import_spooled(sisa_dataset_summary *out, const sisa_import_opts *o,
                        int (*import)(sisa_dataset_summary *, const char *,
                                      const sisa_import_opts *));

/* Labels come from `given` (the value of `option`, e.g. "--label COLUMN", naming a `thing` such
 * as "label column") exactly when the data are labelled: SISA_EUSAGE when it is missing, or given
 * with --unlabelled. */
int sisa_import_check_labels(const sisa_import_opts *o, const char *given, const char *option,
                             const char *thing);
/* --risk-cuts, parsed (src/io/risk.c): no cut points when the risk values are tiers already. */
#define SISA_RISK_MAX_CUTS 15
typedef struct sisa_risk_map {
    int n_cuts;
    double cuts[SISA_RISK_MAX_CUTS]; /* strictly increasing, in (0, 1] */
} sisa_risk_map;
int sisa_risk_map_init(sisa_risk_map *m, const sisa_import_opts *o);
/* Append " risk=COLUMN[ risk_cuts=...]" to an import's source attribute when --risk is given. */
void sisa_import_risk_source(char *source, size_t cap, const sisa_import_opts *o);
/* The tier of risk value v: 0, or -1 with the reason in `why` (the caller adds where). */
int sisa_risk_tier(const sisa_risk_map *m, double v, uint8_t *tier, char *why, size_t cap);

/* IDs must be unique: SISA_ECORRUPT naming `path`, the first repeated ID and both its rows. */
int sisa_ids_check_unique(const uint64_t *id, uint64_t n, const char *path);

/* `sisa import h5`'s parent: check the summary its sandboxed child sent for the temp file `tmp`
 * it filled (plausible counts and ranges, the size it reported is the file's) before publishing
 * it. SISA_ECORRUPT naming `path` (the input) otherwise. */
int sisa_import_h5_accept(const sisa_dataset_summary *s, const char *tmp, const char *path,
                          int unlabelled);

/* A buffered reader over a gzipped or plain file (zlib detects which), with exact error
 * reporting: zlib's own message for corrupt or truncated gzip streams. */
typedef struct sisa_gzin {
    gzFile gz;
    const char *path; /* borrowed */
    int is_gzip;
} sisa_gzin;

int sisa_gzin_open(sisa_gzin *in, const char *path);
/* Read exactly `len` bytes. A short read is SISA_ECORRUPT "PATH: truncated: expected N more
 * bytes of WHAT". */
int sisa_gzin_read_exact(sisa_gzin *in, void *buf, size_t len, const char *what);
/* Read up to `len` bytes; *got is 0 at end of file. Corruption is an error. */
int sisa_gzin_read(sisa_gzin *in, void *buf, size_t len, size_t *got);
/* Back to the first byte (libsvm's second pass). */
int sisa_gzin_rewind(sisa_gzin *in);
void sisa_gzin_close(sisa_gzin *in);

/* Line reader on top of sisa_gzin: returns lines without the trailing "\n" or "\r\n".
 * *line points into an internal buffer valid until the next call; it is NUL-terminated and
 * writable (parsers may split it in place). Returns 1 with a line, 0 at end of file, negative
 * on error. Lines longer than 64 MiB are an error. A missing final newline is fine. */
typedef struct sisa_lines {
    sisa_gzin in;
    char *buf;
    size_t cap, len, pos;
    char *line;
    uint64_t lineno; /* 1-based number of the line last returned */
    int eof;
} sisa_lines;

int sisa_lines_open(sisa_lines *l, const char *path);
int sisa_lines_next(sisa_lines *l, char **line, size_t *len);
int sisa_lines_rewind(sisa_lines *l);
void sisa_lines_close(sisa_lines *l);

#endif
