/*
 * In-situ GEMM timer: an LD_PRELOAD shim that wraps cblas_sgemm and cblas_sgemv, times every
 * call with CLOCK_MONOTONIC, and prints the totals to stderr when the process exits. An
 * independent cross-check of `hindcast bench`'s GemmTimer figures (and usable on PyTorch
 * processes linked to OpenBLAS); not part of the build.
 *
 *   gcc -O2 -shared -fPIC -o /tmp/gemm_timer.so benchmarks/gemm_timer.c -ldl
 *   LD_PRELOAD=/tmp/gemm_timer.so .build/release/hindcast bench --only train --no-gemm-replay
 *
 * The whole process is counted (warm-up steps included). Not thread-safe: time only processes
 * that call BLAS from one thread.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <time.h>

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float,
                         float *, int);
typedef void (*sgemv_fn)(int, int, int, int, float, const float *, int, const float *, int, float, float *,
                         int);

static double gemm_seconds, gemv_seconds;
static long gemm_calls, gemv_calls;
static double gemm_flops;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc) {
  static sgemm_fn real;
  if (!real) real = (sgemm_fn)dlsym(RTLD_NEXT, "cblas_sgemm");
  double start = now();
  real(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  gemm_seconds += now() - start;
  gemm_calls += 1;
  gemm_flops += 2.0 * m * n * k;
}

void cblas_sgemv(int order, int ta, int m, int n, float alpha, const float *a, int lda, const float *x,
                 int incx, float beta, float *y, int incy) {
  static sgemv_fn real;
  if (!real) real = (sgemv_fn)dlsym(RTLD_NEXT, "cblas_sgemv");
  double start = now();
  real(order, ta, m, n, alpha, a, lda, x, incx, beta, y, incy);
  gemv_seconds += now() - start;
  gemv_calls += 1;
}

__attribute__((destructor)) static void report(void) {
  fprintf(stderr, "gemm_timer: sgemm %ld calls, %.3f s, %.1f GFLOP, %.1f GFLOP/s; sgemv %ld calls, %.3f s\n",
          gemm_calls, gemm_seconds, gemm_flops / 1e9, gemm_flops / 1e9 / (gemm_seconds > 0 ? gemm_seconds : 1),
          gemv_calls, gemv_seconds);
}
