/*
 * dist.c - MPI for sisa (see dist.h).
 *
 * sisa works on a duplicate of MPI_COMM_WORLD with MPI_ERRORS_RETURN, so a failing call returns
 * a code that SISA_MPI turns into a message, instead of aborting the job from inside MPI. Large
 * buffers move in pieces of at most 1 GiB, because MPI counts are ints.
 */
#include "dist/dist.h"

#include "sisa/error.h"
#include "base/mem.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PIECE ((size_t)1 << 30)

struct sisa_dist {
    int rank, size;
    int active; /* MPI_Init was called by us */
    int broken; /* an MPI call failed: finalize must abort */
    int heap;   /* allocated (the out-of-memory fallback is static) */
    int agreed; /* the last agreement ended in an error that every rank now holds */
    MPI_Comm comm;
};

void sisa_dist_library_version(char *out, size_t cap)
{
    char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0, major = 0, minor = 0;
    /* Both calls are allowed before MPI_Init (MPI-3.1 §8.1.1). */
    if (MPI_Get_library_version(lib, &len) != MPI_SUCCESS) snprintf(lib, sizeof lib, "unknown");
    MPI_Get_version(&major, &minor);
    char *comma = strchr(lib, ',');
    if (comma) *comma = '\0';
    char *nl = strchr(lib, '\n');
    if (nl) *nl = '\0';
    snprintf(out, cap, "%s (MPI %d.%d)", lib, major, minor);
}

static int mpi_fail(sisa_dist *d, int rc, const char *what, const char *file, int line)
{
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "code %d", rc);
    d->broken = 1;
    return sisa_error_set(SISA_EIO, file, line, "MPI: %s failed on rank %d: %s", what, d->rank,
                          msg);
}

#define SISA_MPI(call, what)                                                                       \
    do {                                                                                           \
        int mpi_rc_ = (call);                                                                      \
        if (mpi_rc_ != MPI_SUCCESS) {                                                              \
            err = mpi_fail(d, mpi_rc_, (what), __FILE__, __LINE__);                                \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

static int launched_by_mpi(void)
{
    const char *force = getenv("SISA_MPI");
    if (force && *force) return strcmp(force, "0") != 0;
    static const char *const markers[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK",
                                          "PMI_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++)
        if (getenv(markers[i])) return 1;
    return 0;
}

int sisa_dist_init(sisa_dist **out, int *argc, char ***argv)
{
    static sisa_dist fallback;
    int err = SISA_OK;
    sisa_dist *d = sisa_calloc(1, sizeof *d);
    if (!d) {
        d = &fallback;
        memset(d, 0, sizeof *d);
    } else {
        d->heap = 1;
    }
    *out = d;
    d->rank = 0;
    d->size = 1;
    d->comm = MPI_COMM_NULL;
    SISA_CHECK(d->heap, SISA_ENOMEM, "out of memory");
    if (!launched_by_mpi()) return SISA_OK;
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        int rc = MPI_Init(argc, argv);
        if (rc != MPI_SUCCESS) SISA_FAIL(SISA_EIO, "MPI_Init failed (code %d)", rc);
        d->active = 1;
    }
    SISA_MPI(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN),
             "setting the error handler");
    SISA_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &d->comm), "MPI_Comm_dup");
    SISA_MPI(MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN), "setting the error handler");
    SISA_MPI(MPI_Comm_rank(d->comm, &d->rank), "MPI_Comm_rank");
    SISA_MPI(MPI_Comm_size(d->comm, &d->size), "MPI_Comm_size");
done:
    return err;
}

int sisa_dist_single(sisa_dist **out)
{
    sisa_dist *d = sisa_calloc(1, sizeof *d);
    *out = d;
    if (!d) return SISA_ERR(SISA_ENOMEM, "out of memory");
    d->heap = 1;
    d->rank = 0;
    d->size = 1;
    d->comm = MPI_COMM_NULL;
    return SISA_OK;
}

int sisa_dist_from_comm(sisa_dist **out, const void *mpi_comm)
{
    int err = SISA_OK;
    SISA_TRY(sisa_dist_single(out));
    sisa_dist *d = *out;
    int inited = 0, finished = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finished);
    SISA_CHECK(mpi_comm && inited && !finished, SISA_EUSAGE,
               "a job from an MPI communicator needs MPI initialised and a communicator");
    MPI_Comm given = *(const MPI_Comm *)mpi_comm;
    SISA_MPI(MPI_Comm_dup(given, &d->comm), "MPI_Comm_dup");
    SISA_MPI(MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN), "setting the error handler");
    SISA_MPI(MPI_Comm_rank(d->comm, &d->rank), "MPI_Comm_rank");
    SISA_MPI(MPI_Comm_size(d->comm, &d->size), "MPI_Comm_size");
done:
    return err;
}

void sisa_dist_free(sisa_dist *d)
{
    if (!d) return;
    int finished = 0;
    if (d->comm != MPI_COMM_NULL) {
        MPI_Finalized(&finished);
        if (!finished) MPI_Comm_free(&d->comm);
    }
    if (d->heap) sisa_free(d);
}

void sisa_dist_finalize(sisa_dist *d, int exit_code)
{
    if (!d) return;
    if (d->active) {
        if (d->broken) {
            /* Ranks may be waiting in a collective that will never complete. */
            fflush(NULL);
            MPI_Abort(MPI_COMM_WORLD, exit_code ? exit_code : 1);
        }
        if (d->comm != MPI_COMM_NULL) MPI_Comm_free(&d->comm);
        MPI_Finalize();
    }
    if (d->heap) sisa_free(d);
}

int sisa_dist_rank(const sisa_dist *d)
{
    return d->rank;
}

int sisa_dist_size(const sisa_dist *d)
{
    return d->size;
}

int sisa_dist_active(const sisa_dist *d)
{
    return d->active;
}

int sisa_dist_agree(sisa_dist *d, int local)
{
    int err = SISA_OK;
    if (d->size == 1) return local;
    /* [0]: the lowest failing rank (size when none); [1]: failures; [2]: ranks whose failure is
     * not yet an agreed one (0 when every rank is passing on the error of an earlier
     * agreement, which must not be prefixed twice). */
    int mine[3] = {local < 0 ? d->rank : d->size, local < 0, !(local < 0 && d->agreed)};
    int first = d->size, counts[2] = {0, 0};
    SISA_MPI(MPI_Allreduce(&mine[0], &first, 1, MPI_INT, MPI_MIN, d->comm), "agreeing on results");
    SISA_MPI(MPI_Allreduce(&mine[1], counts, 2, MPI_INT, MPI_SUM, d->comm), "agreeing on results");
    if (first == d->size) {
        d->agreed = 0;
        return SISA_OK;
    }
    if (counts[0] == d->size && counts[1] == 0) return local;
    struct {
        int code;
        char msg[SISA_ERROR_MAX];
    } pkt;
    memset(&pkt, 0, sizeof pkt);
    if (d->rank == first) {
        pkt.code = local;
        snprintf(pkt.msg, sizeof pkt.msg, "%s", sisa_error_message());
    }
    SISA_MPI(MPI_Bcast(&pkt, (int)sizeof pkt, MPI_BYTE, first, d->comm),
             "sharing an error message");
    if (counts[0] > 1) {
        /* A stop request or an interrupt reaches every rank: that is not a failure. */
        int stop = pkt.code == SISA_ESTOPPED || pkt.code == SISA_EINTR;
        err = SISA_ERR(pkt.code, "rank %d: %s (and %d more rank%s %s)", first, pkt.msg,
                       counts[0] - 1, counts[0] > 2 ? "s" : "", stop ? "stopped" : "failed");
    } else
        err = SISA_ERR(pkt.code, "rank %d: %s", first, pkt.msg);
    d->agreed = 1;
done:
    return err;
}

int sisa_dist_bcast(sisa_dist *d, void *buf, size_t len, int root)
{
    int err = SISA_OK;
    if (d->size == 1) return SISA_OK;
    for (size_t off = 0; off < len; off += PIECE) {
        size_t n = len - off < PIECE ? len - off : PIECE;
        SISA_MPI(MPI_Bcast((char *)buf + off, (int)n, MPI_BYTE, root, d->comm), "MPI_Bcast");
    }
done:
    return err;
}

int sisa_dist_sum_u64(sisa_dist *d, uint64_t *v, int n)
{
    int err = SISA_OK;
    if (d->size == 1) return SISA_OK;
    SISA_MPI(MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_UINT64_T, MPI_SUM, d->comm), "MPI_Allreduce");
done:
    return err;
}

int sisa_dist_max_f64(sisa_dist *d, double *v, int n)
{
    int err = SISA_OK;
    if (d->size == 1) return SISA_OK;
    SISA_MPI(MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_MAX, d->comm), "MPI_Allreduce");
done:
    return err;
}

int sisa_dist_gather_f64(sisa_dist *d, const double *v, int n, double *all, int root)
{
    int err = SISA_OK;
    if (d->size == 1) {
        memcpy(all, v, (size_t)n * sizeof *v);
        return SISA_OK;
    }
    SISA_MPI(MPI_Gather(v, n, MPI_DOUBLE, all, n, MPI_DOUBLE, root, d->comm), "MPI_Gather");
done:
    return err;
}

int sisa_dist_send(sisa_dist *d, const void *buf, size_t len, int dest, int tag)
{
    int err = SISA_OK;
    /* Pieces of one message keep their order: MPI does not overtake on one (source, tag). */
    for (size_t off = 0; off < len; off += PIECE) {
        size_t n = len - off < PIECE ? len - off : PIECE;
        SISA_MPI(MPI_Send((const char *)buf + off, (int)n, MPI_BYTE, dest, tag, d->comm),
                 "MPI_Send");
    }
done:
    return err;
}

int sisa_dist_recv(sisa_dist *d, void *buf, size_t len, int src, int tag)
{
    int err = SISA_OK;
    for (size_t off = 0; off < len; off += PIECE) {
        size_t n = len - off < PIECE ? len - off : PIECE;
        MPI_Status st;
        SISA_MPI(MPI_Recv((char *)buf + off, (int)n, MPI_BYTE, src, tag, d->comm, &st), "MPI_Recv");
        int got = 0;
        SISA_MPI(MPI_Get_count(&st, MPI_BYTE, &got), "MPI_Get_count");
        SISA_CHECK((size_t)got == n, SISA_EINTERNAL,
                   "rank %d sent %d bytes where %zu were expected (tag %d)", src, got, n, tag);
    }
done:
    return err;
}
