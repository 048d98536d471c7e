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

#include "fastmath.h"

#define MASKED_SCORE (-1000.0f) /* as luxtts.model.attention: exp(-1000 - max) is 0, never NaN */
#define PARALLEL_MIN 65536      /* elements below which one thread does the block */

static inline float f32_load(float x) { return x; }
static inline float f32_store(float x) { return x; }

/* One row: its scores (bfloat16 or float32, as ELEM), the position term, the mask and the softmax, the sums in
 * float32 in scratch; written back in ELEM. */
#define ROW_SOFTMAX(NAME, ELEM, LOAD, STORE)                                                                     \
    static void NAME(ELEM *row, const ELEM *p, const ELEM *pos, int64_t pos_len, int64_t offset,                 \
                     const uint8_t *mask, int64_t t, int64_t dp, float *scratch) {                               \
        _Pragma("omp simd")                                                                                      \
        for (int64_t j = 0; j < t; j++) scratch[j] = LOAD(row[j]);                                               \
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

ROW_SOFTMAX(row_softmax_bf16, uint16_t, bf16_to_float, float_to_bf16)
ROW_SOFTMAX(row_softmax_f32, float, f32_load, f32_store)

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
