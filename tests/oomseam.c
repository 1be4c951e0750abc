/*
 * oomseam.c - the allocation seam (src/base/mem.c) with its fault switch in the environment
 * (SISA_OOM_FAIL_AT, SISA_OOM_COUNT_OUT: see mem.c), for the CLI out-of-memory test only
 * (tests/test_oom.c). CTest links it into `sisa_oomcli`, the CLI's sources in front of libsisa:
 * the executable defines every function of base/mem.h itself, so the archive's own mem.o is never
 * linked in, and the installed `sisa` has no switch.
 */
#define SISA_MEM_FAULT_ENV 1
#include "../src/base/mem.c"
