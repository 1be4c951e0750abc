/*
 * fpenv.h - switching subnormal flushing on and off (private to src/model, its tests and
 * benchmarks).
 *
 * Training always runs with sisa_model_fp_setup() (model.h), which turns flushing on. Turning
 * it off exists for two reasons only: tests check that the mode reported is the mode in force,
 * and bench_train measures what IEEE subnormal arithmetic costs. Nothing that produces an
 * artifact calls this.
 */
#ifndef SISA_MODEL_FPENV_H
#define SISA_MODEL_FPENV_H

/* Turn FTZ+DAZ on (1) or off (0) for this thread. Returns 1 when the request took effect, 0
 * when this CPU has no such control (then the mode stays "ieee"). */
int sisa_model_fp_set_flush(int on);

#endif
