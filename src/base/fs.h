/*
 * fs.h - files and paths: atomic publication, fsync discipline, bounded reads.
 *
 * Every artifact that matters is written to a temp file in the destination's folder, fsynced,
 * renamed over (or linked to) its final name, and the folder is fsynced; see
 * docs/formats.md "Atomic writes". A reader therefore sees either the old file or the complete
 * new one, never a prefix. Temp files are named ".NAME.sisa-tmp-PID-N" so that a crashed
 * writer's leftovers are recognisable.
 *
 * fsync failures are never retried: Linux may drop the dirty pages of a failed fsync, after
 * which a second fsync "succeeds" without the data.
 */
#ifndef SISA_BASE_FS_H
#define SISA_BASE_FS_H

#include <stddef.h>

#define SISA_PATH_MAX 4096

/* Private by default (docs/guarantees.md "File modes"): every file sisa creates (store files,
 * journals, the ledger, datasets, predictions, certificates) is opened with SISA_FILE_MODE and
 * every folder with SISA_DIR_MODE, both further narrowed by the umask. Stores hold personal
 * data and the salt that pseudonymises deleted IDs: sharing one is a deliberate act (chmod). */
#define SISA_FILE_MODE 0600
#define SISA_DIR_MODE  0700

/* Create a new, empty temp file next to `final_path` and write its path to `out`. The file is
 * created with O_EXCL and mode SISA_FILE_MODE & ~umask; whatever is later written into it (HDF5
 * included) and published under the final name keeps that mode. */
int sisa_fs_tmp_create(char *out, size_t cap, const char *final_path);
/* 1 when `name` (a file name, no folder) is one that sisa_fs_tmp_create makes. */
int sisa_fs_is_tmp_name(const char *name);

/* Remove temp files left next to `final_path` by writers that no longer run (their PID, part of
 * the temp name, is gone). Returns how many were removed; never fails. */
int sisa_fs_clean_stale_tmps(const char *final_path);

/* fsync a file by path; fsync the folder containing `path`. */
int sisa_fs_fsync_file(const char *path);
int sisa_fs_fsync_parent(const char *path);

/* Publish a finished temp file: fsync it, move it to `final_path`, fsync the folder.
 * With replace == 0 an existing `final_path` is never clobbered (SISA_EEXIST).
 * On failure the temp file is left in place for the caller to remove. */
int sisa_fs_publish(const char *tmp_path, const char *final_path, int replace);

/* Write `len` bytes atomically to `path` (temp file + sisa_fs_publish). */
int sisa_fs_write_atomic(const char *path, const void *data, size_t len, int replace);

/* Read a whole regular file, refusing files larger than `max_bytes`. The buffer is
 * NUL-terminated (not counted in *len) and belongs to the caller (sisa_free()). */
int sisa_fs_read_all(char **out, size_t *len, const char *path, size_t max_bytes);

/* 1 if `path` exists (any type), 0 if not. */
int sisa_fs_exists(const char *path);
/* Remove a file; a missing file is not an error. Never fails loudly: used on cleanup paths. */
void sisa_fs_remove_quiet(const char *path);
/* Remove a folder that sisa created, with everything in it (symbolic links are removed, never
 * followed). Only for folders whose whole content sisa wrote (scratch stores). Returns 0, or -1
 * with errno when the folder itself could not be removed; a missing folder is not an error. */
int sisa_fs_remove_tree(const char *path);
/* Copy standard input, to its end, into `path` (a new file). SISA_EUSAGE, naming the command
 * `what`, when standard input is a terminal (nothing was piped in) or turns out empty. */
int sisa_fs_copy_stdin(const char *path, const char *what);
/* '-' where a file is read whole or twice and no store is involved: standard input copied into
 * FILE = DIR/stdin, DIR a fresh folder sisa-WHAT-XXXXXX in $TMPDIR (when it is an existing
 * folder) or /tmp. The caller removes DIR with sisa_fs_remove_tree; on an error nothing is left
 * and dir is "". */
int sisa_fs_spool_stdin(const char *what, char *dir, size_t dir_cap, char *file, size_t file_cap);
/* mkdir -p: every folder it creates (parents included) gets SISA_DIR_MODE & ~umask; folders
 * that exist keep their mode. */
int sisa_fs_mkdir_p(const char *path);

/* Path helpers. All return SISA_EUSAGE when the result would not fit in `cap`. */
int sisa_path_dirname(char *out, size_t cap, const char *path);
/* `rel` if absolute, else dir/rel. */
int sisa_path_resolve(char *out, size_t cap, const char *dir, const char *rel);
/* Make `path` absolute against the current directory, lexically normalised (no symlink
 * resolution). */
int sisa_path_absolute(char *out, size_t cap, const char *path);
/* Lexically normalise an absolute path in place: drop "." and empty components, apply "..". */
void sisa_path_normalise(char *path);
/* The physical absolute path of `path` (relative paths are taken against the current folder),
 * resolved as the kernel resolves it: every symbolic link is followed, and "." and ".." apply
 * to the folder actually reached, so a ".." after a link to a folder leads to the parent of the
 * link's target. Components that do not exist (yet) are kept as written, a ".." after one
 * removing it (like `realpath -m`). Two spellings of one existing file or folder give the same
 * result. SISA_EUSAGE when the result or an intermediate one is longer than SISA_PATH_MAX - 1
 * bytes or links nest more than 40 deep. */
int sisa_path_physical(char *out, size_t cap, const char *path);
/* 1 when absolute, normalised path `inner` is `outer` or inside it. */
int sisa_path_within(const char *inner, const char *outer);

#endif
