// Decode-shaped products through cblas_sgemm: one call over all output columns against the
// column chunks KVCache.multiplyByTransposed issues (32 columns when rows * 32 * K <= 10^6), per
// second of process CPU time, and whether the two give the same bits.
//
//   clang -O2 benchmarks/chunked_sgemm.c -I/usr/include/x86_64-linux-gnu/openblas-pthread \
//     -lopenblas -o /tmp/chunked_sgemm && /tmp/chunked_sgemm
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(void) {
  const int m = 32, repeats = 2000;
  // (N, K) of the small preset's qkv, proj, fc and fc-proj layers.
  const int shapes[4][2] = {{384, 128}, {128, 128}, {512, 128}, {128, 512}};
  openblas_set_num_threads(1);
  float *a = malloc(sizeof(float) * m * 512), *w = malloc(sizeof(float) * 512 * 512);
  float *whole = malloc(sizeof(float) * m * 512), *chunked = malloc(sizeof(float) * m * 512);
  if (!a || !w || !whole || !chunked) return 1;
  for (int i = 0; i < m * 512; i++) a[i] = (float)(i % 97) / 97.0f - 0.5f;
  for (int i = 0; i < 512 * 512; i++) w[i] = (float)(i % 89) / 89.0f - 0.5f;
  for (int s = 0; s < 4; s++) {
    const int n = shapes[s][0], k = shapes[s][1];
    const int chunk = m * 32 * k <= 1000000 ? 32 : (m * 16 * k <= 1000000 ? 16 : n);
    const double t0 = cpu_seconds();
    for (int r = 0; r < repeats; r++)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, a, k, w, k, 0, whole, n);
    const double t1 = cpu_seconds();
    for (int r = 0; r < repeats; r++)
      for (int first = 0; first < n; first += chunk)
        cblas_sgemm(
          CblasRowMajor, CblasNoTrans, CblasTrans, m, chunk, k, 1, a, k, w + first * k, k, 0,
          chunked + first, n);
    const double t2 = cpu_seconds();
    const double flops = 2.0 * m * n * k * repeats;
    printf(
      "%dx%dx%d NT: one call %.1f GFLOP/cpu-s, chunks of %d %.1f GFLOP/cpu-s, same bits: %s\n", m, n, k,
      flops / (t1 - t0) / 1e9, chunk, flops / (t2 - t1) / 1e9,
      memcmp(whole, chunked, sizeof(float) * m * n) == 0 ? "yes" : "no");
  }
  return 0;
}
