/*
 * storecmp.h - what the crash tests (test_crash.c, test_rankkill.c) share: a store compared with
 * an undisturbed reference, and the processes of a job found through /proc.
 *
 * A store equals its reference when: no temp file is anywhere in it; its top level holds only
 * sisa's files; every file under shards/ except the journals is the same, byte for byte; the
 * manifests are the same without the store's identity (store_id, location); and the ledgers are
 * the same once every record's "time" is removed and its "ids" are checked to be the salted
 * hashes of the deleted IDs under each store's own salt (a store trained anew draws a new salt).
 */
#ifndef SISA_TEST_STORECMP_H
#define SISA_TEST_STORECMP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* out := a/b, failing the test when it does not fit. */
void sc_join(char *out, size_t cap, const char *a, const char *b);
/* Append " text" to a buffer, quietly cut at its end. */
void sc_add_word(char *buf, size_t cap, const char *text);
/* Sorted names in a folder (0 when it does not exist), without `skip`. */
int sc_list_names(const char *path, char (*names)[256], int max, const char *skip);
/* Fail when a temp file is anywhere under `root`. */
void sc_check_no_tmp(const char *root, const char *what);
/* Fail unless files a and b both exist and hold the same bytes. */
void sc_same_bytes(const char *a, const char *b, const char *what);
/* Fail unless the store at path `store` equals the one at `ref` (see the top of the file):
 * `shards` shards, one deletion request of the `n_ids` IDs in `ids` in each ledger. */
void sc_compare_store(const char *store, const char *ref, int shards, const uint64_t *ids,
                      int n_ids, const char *what);

/* Fields of /proc/PID/stat: state, parent, session, command name. 0 when the process is gone. */
int sc_proc_stat(pid_t pid, char *state, pid_t *ppid, pid_t *sid, char *comm, size_t cap);
/* Live processes of session `sid` (zombies are dead); their PIDs into `pids`. */
int sc_session_members(pid_t sid, pid_t *pids, int max);

#endif
