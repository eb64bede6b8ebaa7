// Run-time dispatch of the kernels in kernels.inc (see include/hindcast_simd.h for the contract).
//
// Floating-point contraction is off for the whole file: an FMA rounds once where a multiply and an
// add round twice, so letting the compiler fuse in one path and not the other would make the
// paths differ. The AVX2 path is compiled with target("avx2") only (no "fma").
#pragma STDC FP_CONTRACT OFF

#include "hindcast_simd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define HC_X86 1
#else
#define HC_X86 0
#endif

#define HC_FN(name) hc_baseline_##name
#define HC_ATTR
#include "kernels.inc"
#undef HC_FN
#undef HC_ATTR

#if HC_X86
#define HC_FN(name) hc_avx2_##name
#define HC_ATTR __attribute__((target("avx2")))
#include "kernels.inc"
#undef HC_FN
#undef HC_ATTR
#endif

static int hc_level_cache = -1;
static int hc_rejected_cache = 0;

int hc_simd_best_level(void) {
#if HC_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) return HC_SIMD_AVX2;
#endif
  return HC_SIMD_BASELINE;
}

int hc_cpu_supports_avx2_fma(void) {
#if HC_X86
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return 0;
#endif
}

static int hc_choose_level(void) {
  const int best = hc_simd_best_level();
  const char *requested = getenv("HINDCAST_SIMD");
  if (requested == NULL || requested[0] == '\0') return best;
  int level = -1;
  if (strcmp(requested, "baseline") == 0) level = HC_SIMD_BASELINE;
  if (strcmp(requested, "avx2") == 0) level = HC_SIMD_AVX2;
  if (level < 0 || level > best) {
    __atomic_store_n(&hc_rejected_cache, 1, __ATOMIC_RELAXED);
    return best;
  }
  return level;
}

int hc_simd_level(void) {
  int level = __atomic_load_n(&hc_level_cache, __ATOMIC_RELAXED);
  if (level < 0) {
    // Racing first calls compute the same value.
    level = hc_choose_level();
    __atomic_store_n(&hc_level_cache, level, __ATOMIC_RELAXED);
  }
  return level;
}

int hc_simd_environment_rejected(void) {
  (void)hc_simd_level();
  return __atomic_load_n(&hc_rejected_cache, __ATOMIC_RELAXED);
}

int hc_simd_set_level(int level) {
  if (level < HC_SIMD_BASELINE || level > hc_simd_best_level()) return 0;
  __atomic_store_n(&hc_level_cache, level, __ATOMIC_RELAXED);
  return 1;
}

#if HC_X86
#define HC_DISPATCH(name, ...)                                                    \
  (hc_simd_level() == HC_SIMD_AVX2 ? hc_avx2_##name(__VA_ARGS__) : hc_baseline_##name(__VA_ARGS__))
#else
#define HC_DISPATCH(name, ...) hc_baseline_##name(__VA_ARGS__)
#endif

float hc_sum(const float *x, int64_t count) { return HC_DISPATCH(sum, x, count); }

float hc_sum_of_squares(const float *x, float center, int64_t count) {
  return HC_DISPATCH(sum_of_squares, x, center, count);
}

float hc_dot(const float *a, const float *b, int64_t count) { return HC_DISPATCH(dot, a, b, count); }

float hc_maximum(const float *x, int64_t count) { return HC_DISPATCH(maximum, x, count); }

void hc_gelu_forward(float *out, const float *x, int64_t count) {
  HC_DISPATCH(gelu_forward, out, x, count);
}

void hc_gelu_backward(float *dx, const float *x, const float *dout, int64_t count, int accumulate) {
  HC_DISPATCH(gelu_backward, dx, x, dout, count, accumulate);
}

float hc_softmax_in_place(float *row, int64_t valid, int64_t count) {
  return HC_DISPATCH(softmax_in_place, row, valid, count);
}

void hc_softmax_backward_rows(const float *p, float *ds, int64_t t) {
  HC_DISPATCH(softmax_backward_rows, p, ds, t);
}

void hc_layer_norm_forward(
  float *out, float *mean, float *rstd, const float *x, const float *weight, const float *bias,
  int64_t rows, int64_t width, float epsilon) {
  HC_DISPATCH(layer_norm_forward, out, mean, rstd, x, weight, bias, rows, width, epsilon);
}

void hc_layer_norm_backward(
  float *dx, float *dweight, float *dbias, const float *dout, const float *x, const float *weight,
  const float *mean, const float *rstd, int64_t rows, int64_t width) {
  HC_DISPATCH(layer_norm_backward, dx, dweight, dbias, dout, x, weight, mean, rstd, rows, width);
}

void hc_rotate(float *x, const float *cosines, const float *sines, int64_t half, int inverse) {
  HC_DISPATCH(rotate, x, cosines, sines, half, inverse);
}

void hc_inference_gelu(float *x, int64_t count) { HC_DISPATCH(inference_gelu, x, count); }

void hc_inference_softmax(float *row, int64_t valid) { HC_DISPATCH(inference_softmax, row, valid); }

void hc_inference_layer_norm(
  float *out, const float *x, const float *weight, const float *bias, int64_t width, float epsilon) {
  HC_DISPATCH(inference_layer_norm, out, x, weight, bias, width, epsilon);
}

void hc_accumulate(float *dst, const float *src, int64_t count) {
  HC_DISPATCH(accumulate, dst, src, count);
}
