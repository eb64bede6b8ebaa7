// Element-wise and row kernels of Hindcast with run-time instruction-set dispatch.
//
// Every kernel exists in a baseline x86-64 (SSE2) build and, on x86-64, an AVX2 build of the same
// C source; one is chosen once per process (`hc_simd_level`). Contract: both builds perform the
// same IEEE float operations in the same order (no FMA contraction, reductions with a fixed
// number of partial sums that does not depend on the vector width), so every kernel returns
// bit-identical results on every path. Non-x86 builds have the baseline path only.
//
// The arithmetic of each kernel is that of the Swift kernel it replaces (HindcastKernels and
// HindcastModel's InferenceKernels); see those for the formulas.
#ifndef HINDCAST_SIMD_H
#define HINDCAST_SIMD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Instruction-set paths.
enum {
  HC_SIMD_BASELINE = 0,
  HC_SIMD_AVX2 = 1,
};

/// The path the kernels use. Chosen on first use: the environment variable HINDCAST_SIMD
/// ("baseline" or "avx2") when set to a path this processor supports, else the best supported.
int hc_simd_level(void);
/// The best path this processor supports.
int hc_simd_best_level(void);
/// 1 when the processor runs AVX2 and FMA instructions (the instructions of OpenBLAS's Haswell
/// kernels, which `BLASCore` pins), else 0.
int hc_cpu_supports_avx2_fma(void);
/// 1 when HINDCAST_SIMD is set to something other than a supported path name (then ignored).
int hc_simd_environment_rejected(void);
/// Forces a path (for tests); returns 0 when this processor cannot run it (nothing changes).
/// Not thread-safe with respect to kernels running concurrently.
int hc_simd_set_level(int level);

/// Reductions of `Reduce` (eight partial sums, lanes summed in order, then the tail in order).
float hc_sum(const float *x, int64_t count);
float hc_sum_of_squares(const float *x, float center, int64_t count);
float hc_dot(const float *a, const float *b, int64_t count);
float hc_maximum(const float *x, int64_t count);

/// `GELU.forward` / `GELU.backward` (FastMath.exp, degree 6).
void hc_gelu_forward(float *out, const float *x, int64_t count);
void hc_gelu_backward(float *dx, const float *x, const float *dout, int64_t count, int accumulate);

/// `Softmax.inPlace`: returns max + logf(sum).
float hc_softmax_in_place(float *row, int64_t valid, int64_t count);

/// The attention backward's softmax step over a (t, t) block: for each row r,
/// ds[r][j] = p[r][j] * (ds[r][j] - dot(p[r][0...r], ds[r][0...r])) for j <= r, 0 after.
void hc_softmax_backward_rows(const float *p, float *ds, int64_t t);

/// `LayerNorm.forward` / `LayerNorm.backward`.
void hc_layer_norm_forward(
  float *out, float *mean, float *rstd, const float *x, const float *weight, const float *bias,
  int64_t rows, int64_t width, float epsilon);
void hc_layer_norm_backward(
  float *dx, float *dweight, float *dbias, const float *dout, const float *x, const float *weight,
  const float *mean, const float *rstd, int64_t rows, int64_t width);

/// `RotaryTable.rotate`: one head vector x (2 half) by cos/sin (half); the inverse when `inverse`.
void hc_rotate(float *x, const float *cosines, const float *sines, int64_t half, int inverse);

/// InferenceKernels (decode path; exp with a degree-7 polynomial): GELU in place, softmax in
/// place over `valid` entries, and one LayerNorm row.
void hc_inference_gelu(float *x, int64_t count);
void hc_inference_softmax(float *row, int64_t valid);
void hc_inference_layer_norm(
  float *out, const float *x, const float *weight, const float *bias, int64_t width, float epsilon);

/// dst (n) += src (n).
void hc_accumulate(float *dst, const float *src, int64_t count);

#ifdef __cplusplus
}
#endif

#endif
