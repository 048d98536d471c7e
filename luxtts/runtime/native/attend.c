/* Attention-weighted sums of narrow value heads from bfloat16 weights, for luxtts.runtime.native.
 *
 * An int8 model keeps its attention weights in bfloat16 (luxtts.runtime.attention). Each layer's weights,
 * (heads, T, T), are written once and read by two value attentions whose heads are 12 values wide: a product
 * with so thin an operand that the general GEMM behind torch.matmul runs far below the CPU's bfloat16 rate,
 * and, the weights having left the cache since they were written, waits on memory. Here each pair of query
 * rows streams its weights once against the head's value rows (transposed, so that keys run along memory),
 * with one float32 accumulator per row and channel in a register: AVX-512 BF16 multiplies pairs of keys per
 * lane (vdpbf16ps), and the lanes are added up at the end of the row. The sums come out in float32 (torch
 * rounds them to bfloat16 first), straight into the (B, T, H * d) layout the output projection reads.
 */

#include <stddef.h>
#include <stdint.h>
#ifdef __AVX512BF16__
#include <immintrin.h>
#endif

#include "fastmath.h"

/* query rows per unit of work shared out among the threads */
#define ROW_BLOCK 16

#ifdef __AVX512BF16__
/* one row of one head, any width d: the odd last row of a block */
static void attend_row_scalar(const uint16_t *w, const uint16_t *vt, float *out, int64_t r, int64_t s, int64_t d,
                              int64_t out_stride) {
    const uint16_t *wr = w + r * s;
    for (int64_t c = 0; c < d; c++) {
        const uint16_t *vc = vt + c * s;
        float acc = 0.0f;
        for (int64_t j = 0; j < s; j++) acc += bf16_to_float(wr[j]) * bf16_to_float(vc[j]);
        out[r * out_stride + c] = acc;
    }
}

/* the channels spelled out, so that every accumulator is a named register rather than an array on the stack */
#define CHANNELS_8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define CHANNELS_12(X) CHANNELS_8(X) X(8) X(9) X(10) X(11)
#define DECLARE(c) __m512 p##c = _mm512_setzero_ps(), q##c = _mm512_setzero_ps();
#define STEP_WITH(c, load)                                         \
    {                                                              \
        __m512bh v = (__m512bh)(load);                             \
        p##c = _mm512_dpbf16_ps(p##c, x0, v);                      \
        q##c = _mm512_dpbf16_ps(q##c, x1, v);                      \
    }
#define STEP_FULL(c) STEP_WITH(c, _mm512_loadu_si512(vt + (c) * s + j))
#define STEP_TAIL(c) STEP_WITH(c, _mm512_maskz_loadu_epi16(tail, vt + (c) * s + j))
#define STORE(c)                                                   \
    out[r * out_stride + (c)] = _mm512_reduce_add_ps(p##c);        \
    out[(r + 1) * out_stride + (c)] = _mm512_reduce_add_ps(q##c);

/* rows r0..r1 of one head whose values are WIDTH wide (12: the published models; 8: the golden test models) */
#define ATTEND_ROWS(WIDTH)                                                                                      \
    static void attend_rows_##WIDTH(const uint16_t *w, const uint16_t *vt, float *out, int64_t r0, int64_t r1,  \
                                    int64_t s, int64_t out_stride) {                                            \
        int64_t full = s & ~(int64_t)31;                                                                        \
        __mmask32 tail = (__mmask32)((((uint64_t)1) << (s - full)) - 1);                                        \
        int64_t r = r0;                                                                                         \
        for (; r + 1 < r1; r += 2) {                                                                            \
            const uint16_t *w0 = w + r * s, *w1 = w0 + s;                                                       \
            CHANNELS_##WIDTH(DECLARE)                                                                           \
            int64_t j = 0;                                                                                      \
            for (; j < full; j += 32) {                                                                         \
                __m512bh x0 = (__m512bh)_mm512_loadu_si512(w0 + j), x1 = (__m512bh)_mm512_loadu_si512(w1 + j);  \
                CHANNELS_##WIDTH(STEP_FULL)                                                                     \
            }                                                                                                   \
            if (j < s) { /* the last keys, the lanes past them zero */                                          \
                __m512bh x0 = (__m512bh)_mm512_maskz_loadu_epi16(tail, w0 + j);                                 \
                __m512bh x1 = (__m512bh)_mm512_maskz_loadu_epi16(tail, w1 + j);                                 \
                CHANNELS_##WIDTH(STEP_TAIL)                                                                     \
            }                                                                                                   \
            CHANNELS_##WIDTH(STORE)                                                                             \
        }                                                                                                       \
        if (r < r1) attend_row_scalar(w, vt, out, r, s, WIDTH, out_stride);                                     \
    }
ATTEND_ROWS(8)
ATTEND_ROWS(12)
#endif

/* Whether this build computes value heads d wide (otherwise the caller keeps torch's product). */
int luxtts_attend_supports(int64_t d) {
#ifdef __AVX512BF16__
    return d == 8 || d == 12;
#else
    (void)d;
    return 0;
#endif
}

/* out[b, t, h * d + c] = sum_j w[b, h, t, j] * vt[b, h, c, j]: bfloat16 weights (B, H, T, S) and transposed values
 * (B, H, d, S), both contiguous, into float32 out (B, T, H * d). Returns 0, or -1 (nothing written) where
 * luxtts_attend_supports(d) is false. */
int luxtts_attend_bf16(const uint16_t *w, const uint16_t *vt, float *out, int64_t batch, int64_t heads, int64_t t,
                       int64_t s, int64_t d, int threads) {
    if (!luxtts_attend_supports(d)) return -1;
#ifdef __AVX512BF16__
    int64_t blocks = (t + ROW_BLOCK - 1) / ROW_BLOCK;
    int64_t jobs = batch * heads * blocks;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int64_t job = 0; job < jobs; job++) {
        int64_t bh = job / blocks, block = job % blocks;
        int64_t b = bh / heads, h = bh % heads;
        int64_t r0 = block * ROW_BLOCK, r1 = r0 + ROW_BLOCK < t ? r0 + ROW_BLOCK : t;
        const uint16_t *wh = w + bh * t * s;
        const uint16_t *vh = vt + bh * d * s;
        float *oh = out + b * t * heads * d + h * d;
        if (d == 12)
            attend_rows_12(wh, vh, oh, r0, r1, s, heads * d);
        else
            attend_rows_8(wh, vh, oh, r0, r1, s, heads * d);
    }
#else
    (void)w, (void)vt, (void)out, (void)batch, (void)heads, (void)t, (void)s, (void)threads;
#endif
    return 0;
}
