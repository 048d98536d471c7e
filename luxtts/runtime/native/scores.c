/* The last steps of an int8 model's attention weights, in one pass per query row, for luxtts.runtime.native.
 *
 * For a block of query rows the scores q . k arrive in bfloat16 from a matrix product; what remains is the
 * relative-position term p . pos[T - 1 - row + key] (pos_head_dim wide, 4 in the published models), the key
 * mask and the softmax. torch does those as a 4-deep matrix product into a (rows, T + rows - 1) table, a strided
 * add, a masked fill and a softmax: four passes over the block (two roundings to bfloat16 on the way in
 * bfloat16). Here each row is read once, its terms summed in float32 in an L1-sized scratch row, normalised,
 * and written back once. float32 blocks (float32 models) take the same path.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __AVX512BF16__
#include <immintrin.h>
#endif

#include "fastmath.h"

#define MASKED_SCORE (-1000.0f) /* as luxtts.model.attention: exp(-1000 - max) is 0, never NaN */
#define PARALLEL_MIN 65536      /* elements below which one thread does the block */

static inline float f32_load(float x) { return x; }
static inline float f32_store(float x) { return x; }

/* One row whose scores are in scratch (float32): the position term, the mask and the softmax, summed in float32;
 * written to row in ELEM. */
#define SCRATCH_SOFTMAX(NAME, ELEM, LOAD, STORE)                                                                 \
    static void NAME(ELEM *row, const ELEM *p, const ELEM *pos, int64_t pos_len, int64_t offset,                 \
                     const uint8_t *mask, int64_t t, int64_t dp, float *scratch) {                               \
        for (int64_t d = 0; d < dp; d++) {                                                                       \
            float weight = LOAD(p[d]);                                                                           \
            const ELEM *column = pos + d * pos_len + offset;                                                     \
            _Pragma("omp simd")                                                                                  \
            for (int64_t j = 0; j < t; j++) scratch[j] += weight * LOAD(column[j]);                              \
        }                                                                                                        \
        float top = -3.4e38f;                                                                                    \
        if (mask) {                                                                                              \
            _Pragma("omp simd reduction(max : top)")                                                             \
            for (int64_t j = 0; j < t; j++) {                                                                    \
                float s = mask[j] ? MASKED_SCORE : scratch[j];                                                   \
                scratch[j] = s;                                                                                  \
                top = s > top ? s : top;                                                                         \
            }                                                                                                    \
        } else {                                                                                                 \
            _Pragma("omp simd reduction(max : top)")                                                             \
            for (int64_t j = 0; j < t; j++) top = scratch[j] > top ? scratch[j] : top;                           \
        }                                                                                                        \
        float sum = 0.0f;                                                                                        \
        _Pragma("omp simd reduction(+ : sum)")                                                                   \
        for (int64_t j = 0; j < t; j++) {                                                                        \
            float a = scratch[j] - top;                                                                          \
            float e = a < -87.3f ? 0.0f : exp_nonpositive(a); /* below that exp is under float32's normal range */ \
            scratch[j] = e;                                                                                      \
            sum += e;                                                                                            \
        }                                                                                                        \
        float scale = 1.0f / sum;                                                                                \
        _Pragma("omp simd")                                                                                      \
        for (int64_t j = 0; j < t; j++) row[j] = STORE(scratch[j] * scale);                                      \
    }

SCRATCH_SOFTMAX(scratch_softmax_bf16, uint16_t, bf16_to_float, float_to_bf16)
SCRATCH_SOFTMAX(scratch_softmax_f32, float, f32_load, f32_store)

/* One row: its scores (bfloat16 or float32, as ELEM) read into scratch, then as above. */
#define ROW_SOFTMAX(NAME, SOFTMAX, ELEM, LOAD)                                                                   \
    static void NAME(ELEM *row, const ELEM *p, const ELEM *pos, int64_t pos_len, int64_t offset,                 \
                     const uint8_t *mask, int64_t t, int64_t dp, float *scratch) {                               \
        _Pragma("omp simd")                                                                                      \
        for (int64_t j = 0; j < t; j++) scratch[j] = LOAD(row[j]);                                               \
        SOFTMAX(row, p, pos, pos_len, offset, mask, t, dp, scratch);                                             \
    }

ROW_SOFTMAX(row_softmax_bf16, scratch_softmax_bf16, uint16_t, bf16_to_float)
ROW_SOFTMAX(row_softmax_f32, scratch_softmax_f32, float, f32_load)

/* The whole block, its rows shared among the threads. */
#define BLOCK_SOFTMAX(NAME, ROW, ELEM)                                                                            \
    int NAME(ELEM *block, const ELEM *p, int64_t p_stride, const ELEM *pos, int64_t pos_len, const uint8_t *mask,  \
             int64_t rows, int64_t t, int64_t first_row, int64_t dp, int threads) {                               \
        int failed = 0;                                                                                           \
        int team = (threads > 1 && rows * t >= PARALLEL_MIN) ? threads : 1;                                       \
        _Pragma("omp parallel num_threads(team) if (team > 1) reduction(| : failed)")                             \
        {                                                                                                         \
            float *scratch = malloc((size_t)(t > 0 ? t : 1) * sizeof(float));                                    \
            /* every thread reaches the loop (its end is a barrier); one without scratch notes the failure */     \
            _Pragma("omp for schedule(static)")                                                                   \
            for (int64_t r = 0; r < rows; r++) {                                                                  \
                if (scratch)                                                                                      \
                    ROW(block + r * t, p + r * p_stride, pos, pos_len, t - 1 - (first_row + r), mask, t, dp,     \
                        scratch);                                                                                 \
                else                                                                                              \
                    failed = 1;                                                                                   \
            }                                                                                                     \
            free(scratch);                                                                                        \
        }                                                                                                         \
        return failed ? -1 : 0;                                                                                   \
    }

/* block (rows, t) scores of queries first_row .. first_row + rows - 1, replaced by their softmax weights after
 * adding sum_d p[r, d] * pos[d, t - 1 - (first_row + r) + j] and masking keys where mask[j] (NULL: none).
 * p: (rows, dp) with rows p_stride elements apart; pos: (dp, pos_len), pos_len >= 2 t - 1; all of one dtype,
 * bfloat16 (_bf16) or float32 (_f32). Returns 0, or -1 if a scratch row could not be allocated (the block is
 * then partly done). */
BLOCK_SOFTMAX(luxtts_rel_softmax_bf16, row_softmax_bf16, uint16_t)
BLOCK_SOFTMAX(luxtts_rel_softmax_f32, row_softmax_f32, float)

#ifdef __AVX512BF16__
/* row_scores_two's last keys for one row, 16 at a time */
static void row_scores_tail(const uint16_t *q, const uint16_t *k_pairs, int64_t dq, int64_t t, int64_t j,
                            float *scratch) {
    const int64_t pairs = dq / 2;
    for (; j < t; j += 16) {
        const int64_t left = t - j < 16 ? t - j : 16;
        const __mmask32 pair_mask = (__mmask32)((((uint64_t)1) << (2 * left)) - 1);
        __m512 a = _mm512_setzero_ps();
        for (int64_t e = 0; e < pairs; e++) {
            int32_t pair;
            memcpy(&pair, q + 2 * e, sizeof pair);
            a = _mm512_dpbf16_ps(a, (__m512bh)_mm512_set1_epi32(pair),
                                 (__m512bh)_mm512_maskz_loadu_epi16(pair_mask, k_pairs + (e * t + j) * 2));
        }
        _mm512_mask_storeu_ps(scratch + j, (__mmask16)((1u << left) - 1), a);
    }
}

/* scratch0[j] = q0 . k_j and scratch1[j] = q1 . k_j for every key j, in float32 from bfloat16: k_pairs holds the
 * keys as (dq / 2, t, 2), the pair (k_j[2e], k_j[2e + 1]) at [e][j], so one vdpbf16ps adds a pair of a query's
 * channels times that pair of 16 keys' channels; each key vector is loaded once for both rows, and 4 groups of
 * 16 keys per row give eight independent sums. */
static void row_scores_two(const uint16_t *q0, const uint16_t *q1, const uint16_t *k_pairs, int64_t dq, int64_t t,
                           float *scratch0, float *scratch1) {
    const int64_t pairs = dq / 2;
    int64_t j = 0;
    for (; j + 64 <= t; j += 64) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (int64_t e = 0; e < pairs; e++) {
            int32_t pair0, pair1;
            memcpy(&pair0, q0 + 2 * e, sizeof pair0);
            memcpy(&pair1, q1 + 2 * e, sizeof pair1);
            const __m512bh x = (__m512bh)_mm512_set1_epi32(pair0), y = (__m512bh)_mm512_set1_epi32(pair1);
            const uint16_t *kk = k_pairs + (e * t + j) * 2;
            const __m512bh k0 = (__m512bh)_mm512_loadu_si512(kk), k1 = (__m512bh)_mm512_loadu_si512(kk + 32);
            const __m512bh k2 = (__m512bh)_mm512_loadu_si512(kk + 64), k3 = (__m512bh)_mm512_loadu_si512(kk + 96);
            a0 = _mm512_dpbf16_ps(a0, x, k0), b0 = _mm512_dpbf16_ps(b0, y, k0);
            a1 = _mm512_dpbf16_ps(a1, x, k1), b1 = _mm512_dpbf16_ps(b1, y, k1);
            a2 = _mm512_dpbf16_ps(a2, x, k2), b2 = _mm512_dpbf16_ps(b2, y, k2);
            a3 = _mm512_dpbf16_ps(a3, x, k3), b3 = _mm512_dpbf16_ps(b3, y, k3);
        }
        _mm512_storeu_ps(scratch0 + j, a0), _mm512_storeu_ps(scratch0 + j + 16, a1);
        _mm512_storeu_ps(scratch0 + j + 32, a2), _mm512_storeu_ps(scratch0 + j + 48, a3);
        _mm512_storeu_ps(scratch1 + j, b0), _mm512_storeu_ps(scratch1 + j + 16, b1);
        _mm512_storeu_ps(scratch1 + j + 32, b2), _mm512_storeu_ps(scratch1 + j + 48, b3);
    }
    if (j < t) {  /* the last keys, one row at a time */
        row_scores_tail(q0, k_pairs, dq, t, j, scratch0);
        row_scores_tail(q1, k_pairs, dq, t, j, scratch1);
    }
}
#endif

int luxtts_rel_attention_supported(void) {
#ifdef __AVX512BF16__
    return 1;
#else
    return 0;
#endif
}

/* block (rows, t) bfloat16 := the softmax weights of queries first_row .. first_row + rows - 1: the scores
 * q . k computed here in float32 (q: (rows, dq) bfloat16 rows q_stride elements apart; k_pairs: the (dq / 2, t,
 * 2) layout of row_scores_two; dq even), then as luxtts_rel_softmax_bf16 (p, pos, mask). Returns 0; -1 if a scratch
 * row could not be allocated; -2 without AVX-512 BF16. */
int luxtts_rel_attention_bf16(uint16_t *block, const uint16_t *q, int64_t q_stride, const uint16_t *k_pairs, int64_t dq,
                              const uint16_t *p, int64_t p_stride, const uint16_t *pos, int64_t pos_len,
                              const uint8_t *mask, int64_t rows, int64_t t, int64_t first_row, int64_t dp, int threads) {
#ifndef __AVX512BF16__
    (void)block; (void)q; (void)q_stride; (void)k_pairs; (void)dq; (void)p; (void)p_stride; (void)pos; (void)pos_len;
    (void)mask; (void)rows; (void)t; (void)first_row; (void)dp; (void)threads;
    return -2;
#else
    int failed = 0;
    int team = (threads > 1 && rows * t >= PARALLEL_MIN / 4) ? threads : 1;
#pragma omp parallel num_threads(team) if (team > 1) reduction(| : failed)
    {
        float *scratch = malloc((size_t)(t > 0 ? 2 * t : 2) * sizeof(float));
#pragma omp for schedule(static)
        for (int64_t pair = 0; pair < (rows + 1) / 2; pair++) {
            const int64_t r = 2 * pair;
            if (!scratch) {
                failed = 1;
                continue;
            }
            /* an odd last row goes as a pair with itself (its second copy unused) */
            const int64_t second = r + 1 < rows ? r + 1 : r;
            row_scores_two(q + r * q_stride, q + second * q_stride, k_pairs, dq, t, scratch, scratch + t);
            for (int64_t i = r; i < r + 2 && i < rows; i++)
                scratch_softmax_bf16(block + i * t, p + i * p_stride, pos, pos_len, t - 1 - (first_row + i), mask, t,
                                     dp, scratch + (i - r) * t);
        }
        free(scratch);
    }
    return failed ? -1 : 0;
#endif
}
