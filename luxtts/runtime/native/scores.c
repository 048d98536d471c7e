/* The last steps of an int8 model's attention weights, in one pass per query row, for luxtts.runtime.native.
 *
 * For a block of query rows the scores q . k arrive in bfloat16 from a matrix product; what remains is the
 * relative-position term p . pos[T - 1 - row + key] (pos_head_dim wide, 4 in the published models), the key
 * mask and the softmax. torch does those as a 4-deep matrix product into a (rows, T + rows - 1) table, a strided
 * add, a masked fill and a softmax: four passes over the block, two roundings to bfloat16 on the way. Here each
 * row is read once, its terms summed in float32 in an L1-sized scratch row, normalised, and written back in
 * bfloat16 once.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fastmath.h"

#define MASKED_SCORE (-1000.0f) /* as luxtts.model.attention: exp(-1000 - max) is 0, never NaN */
#define PARALLEL_MIN 65536      /* elements below which one thread does the block */

static void row_softmax(uint16_t *row, const uint16_t *p, const uint16_t *pos, int64_t pos_len, int64_t offset,
                        const uint8_t *mask, int64_t t, int64_t dp, float *scratch) {
#pragma omp simd
    for (int64_t j = 0; j < t; j++) scratch[j] = bf16_to_float(row[j]);
    for (int64_t d = 0; d < dp; d++) {
        float weight = bf16_to_float(p[d]);
        const uint16_t *column = pos + d * pos_len + offset;
#pragma omp simd
        for (int64_t j = 0; j < t; j++) scratch[j] += weight * bf16_to_float(column[j]);
    }
    float top = -3.4e38f;
    if (mask) {
#pragma omp simd reduction(max : top)
        for (int64_t j = 0; j < t; j++) {
            float s = mask[j] ? MASKED_SCORE : scratch[j];
            scratch[j] = s;
            top = s > top ? s : top;
        }
    } else {
#pragma omp simd reduction(max : top)
        for (int64_t j = 0; j < t; j++) top = scratch[j] > top ? scratch[j] : top;
    }
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < t; j++) {
        float a = scratch[j] - top;
        float e = a < -87.3f ? 0.0f : exp_nonpositive(a); /* below that exp is under float32's normal range */
        scratch[j] = e;
        sum += e;
    }
    float scale = 1.0f / sum;
#pragma omp simd
    for (int64_t j = 0; j < t; j++) row[j] = float_to_bf16(scratch[j] * scale);
}

/* block (rows, t) bfloat16 scores of queries first_row .. first_row + rows - 1, replaced by their softmax weights
 * after adding sum_d p[r, d] * pos[d, t - 1 - (first_row + r) + j] and masking keys where mask[j] (NULL: none).
 * p: (rows, dp) bfloat16 with rows p_stride apart; pos: (dp, pos_len) bfloat16, pos_len >= 2 t - 1.
 * Returns 0, or -1 if the scratch rows could not be allocated (the block is then unchanged or partly done). */
int luxtts_rel_softmax_bf16(uint16_t *block, const uint16_t *p, int64_t p_stride, const uint16_t *pos,
                            int64_t pos_len, const uint8_t *mask, int64_t rows, int64_t t, int64_t first_row,
                            int64_t dp, int threads) {
    int failed = 0;
    int team = (threads > 1 && rows * t >= PARALLEL_MIN) ? threads : 1;
#pragma omp parallel num_threads(team) if (team > 1) reduction(| : failed)
    {
        float *scratch = malloc((size_t)(t > 0 ? t : 1) * sizeof(float));
        /* every thread reaches the loop (its end is a barrier), one without scratch only notes the failure */
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            if (scratch)
                row_softmax(block + r * t, p + r * p_stride, pos, pos_len, t - 1 - (first_row + r), mask, t, dp,
                            scratch);
            else
                failed = 1;
        }
        free(scratch);
    }
    return failed ? -1 : 0;
}
