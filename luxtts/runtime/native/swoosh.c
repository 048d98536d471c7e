/* The Swoosh tail softplus(z) - slope * z in one pass over float32 memory, for luxtts.runtime.native.
 *
 * softplus(z) = max(z, 0) + log1p(exp(-|z|)). exp is evaluated on (-87.3, 0] only, so 2^k never leaves the
 * normal range; below -87.3 log1p(exp(.)) is under 1.2e-38, beside a result of at least 87. log1p(e) for e in
 * (0, 1] is 2 atanh(e / (2 + e)), an odd series in s = e / (2 + e) <= 1/3 that needs no special cases.
 * Every operation is branch-free so that the compiler can vectorise the loop; NaN in gives NaN out through
 * the slope term, +/-inf give what softplus(z) - slope * z gives in float32.
 */

#include <stddef.h>
#include <stdint.h>

#include "fastmath.h"

#define LUXTTS_NATIVE_VERSION 3

int luxtts_native_version(void) { return LUXTTS_NATIVE_VERSION; }

/* log1p(e) for e in (0, 1]. */
static inline float log1p_unit(float e) {
    float s = e / (2.0f + e);
    float s2 = s * s;
    float q = 2.0f / 15.0f;
    q = q * s2 + 2.0f / 13.0f;
    q = q * s2 + 2.0f / 11.0f;
    q = q * s2 + 2.0f / 9.0f;
    q = q * s2 + 2.0f / 7.0f;
    q = q * s2 + 2.0f / 5.0f;
    q = q * s2 + 2.0f / 3.0f;
    q = q * s2 + 2.0f;
    return s * q;
}

static inline float swoosh_tail_one(float z, float slope) {
    float positive = z > 0.0f ? z : 0.0f;
    float magnitude = z > 0.0f ? z : -z;
    float tail = log1p_unit(exp_nonpositive(-magnitude));
    return (positive + tail) - slope * z;
}

/* out[i] = softplus(in[i]) - slope * in[i]; in and out may be the same array. threads: torch's intra-op count.
 * The serial loop is its own simd loop: an OpenMP parallel loop whose if clause is false ran unvectorised
 * (GCC 12: 8 ns an element against 0.72 vectorised). */
void luxtts_swoosh_tail(const float *in, float *out, int64_t n, float slope, int threads) {
    if (threads > 1 && n >= 65536) {
#pragma omp parallel for simd schedule(static) num_threads(threads)
        for (int64_t i = 0; i < n; i++) out[i] = swoosh_tail_one(in[i], slope);
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) out[i] = swoosh_tail_one(in[i], slope);
    }
}
