// Times the dispatched element-wise kernels of Sources/CHindcastSIMD on every path this
// processor runs, at training-step sizes, and checks that the paths agree bit for bit.
//
//   clang -O2 -ISources/CHindcastSIMD/include benchmarks/simd_kernels.c \
//     Sources/CHindcastSIMD/simd.c -lm -o /tmp/simd_kernels && /tmp/simd_kernels
//
// Per kernel and path: the best of 15 passes over 2^20 elements (ns per element), so other
// processes on a shared machine inflate the figures less than a mean would.
#include "hindcast_simd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

enum { N = 1 << 20, WIDTH = 256, ROWS = N / WIDTH, KERNELS = 5 };

int main(void) {
  static const char *names[KERNELS] = {
    "gelu forward", "gelu backward (accumulate)", "softmax rows of 256 (200 valid)",
    "layer norm forward (256 wide)", "layer norm backward (256 wide)"};
  float *x = malloc(sizeof(float) * N), *dout = malloc(sizeof(float) * N);
  float *out[2] = {malloc(sizeof(float) * N), malloc(sizeof(float) * N)};
  float *w = malloc(sizeof(float) * WIDTH), *b = malloc(sizeof(float) * WIDTH);
  float *dw = calloc(WIDTH, sizeof(float)), *db = calloc(WIDTH, sizeof(float));
  float *mean = malloc(sizeof(float) * ROWS), *rstd = malloc(sizeof(float) * ROWS);
  if (!x || !dout || !out[0] || !out[1] || !w || !b || !dw || !db || !mean || !rstd) return 1;
  for (int i = 0; i < N; i++) {
    x[i] = (float)(i % 1009) / 250.0f - 2.0f;
    dout[i] = (float)(i % 97) / 97.0f - 0.5f;
  }
  for (int i = 0; i < WIDTH; i++) {
    w[i] = 1.0f + (float)i / 512.0f;
    b[i] = (float)i / 1024.0f;
  }
  const int best = hc_simd_best_level();
  int mismatches = 0;
  printf("%-34s %12s %12s\n", "kernel (ns per element)", "baseline", best ? "avx2" : "-");
  for (int k = 0; k < KERNELS; k++) {
    double seconds[2] = {1e9, 1e9};
    for (int level = 0; level <= best; level++) {
      hc_simd_set_level(level);
      float *y = out[level];
      for (int pass = 0; pass < 15; pass++) {
        memcpy(y, dout, sizeof(float) * N);
        const double start = now();
        switch (k) {
        case 0: hc_gelu_forward(y, x, N); break;
        case 1: hc_gelu_backward(y, x, dout, N, 1); break;
        case 2:
          memcpy(y, x, sizeof(float) * N);
          for (int r = 0; r < N; r += WIDTH) hc_softmax_in_place(y + r, 200, WIDTH);
          break;
        case 3: hc_layer_norm_forward(y, mean, rstd, x, w, b, ROWS, WIDTH, 1e-5f); break;
        default: hc_layer_norm_backward(y, dw, db, dout, x, w, mean, rstd, ROWS, WIDTH); break;
        }
        const double elapsed = now() - start;
        if (elapsed < seconds[level]) seconds[level] = elapsed;
      }
    }
    // The layer-norm backward accumulates into dw/db across passes; compare only its dx, which
    // every pass recomputes from the same start.
    if (best && memcmp(out[0], out[1], sizeof(float) * N) != 0) {
      printf("MISMATCH between paths in %s\n", names[k]);
      mismatches++;
    }
    printf("%-34s %12.2f %12.2f\n", names[k], seconds[0] / N * 1e9, best ? seconds[1] / N * 1e9 : 0.0);
  }
  return mismatches != 0;
}
