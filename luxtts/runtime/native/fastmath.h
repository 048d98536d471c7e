/* Scalar helpers shared by luxtts.runtime.native's kernels, written branch-free so that loops calling them
 * vectorise. */

#ifndef LUXTTS_FASTMATH_H
#define LUXTTS_FASTMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float bits_to_float(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t float_to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* a * b + c, fused (one rounding) where the CPU has FMA: half the instructions of a polynomial step. These
 * sources build in ISO C mode, which contracts nothing by itself, so the scalar loops and any vector twin round
 * at the same steps. */
#ifdef __FMA__
#define MULADD(a, b, c) fmaf((a), (b), (c))
#else
#define MULADD(a, b, c) ((a) * (b) + (c))
#endif

/* exp(a) for a in [-87.3, 0] (NaN maps to some finite value; the caller's slope term carries the NaN). */
static inline float exp_nonpositive(float a) {
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693359375f;
    const float ln2_lo = -2.12194440e-4f;
    const float round_magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer in the low bits */
    a = a < -87.3f ? -87.3f : a;
    float shifted = MULADD(a, log2e, round_magic);
    float k = shifted - round_magic;
    uint32_t k_bits = float_to_bits(shifted) - float_to_bits(round_magic); /* k as a two's complement integer */
    float r = MULADD(-k, ln2_hi, a);
    r = MULADD(-k, ln2_lo, r); /* |r| <= ln2 / 2 */
    /* exp(r) on [-ln2/2, ln2/2]: a degree-6 least-squares fit on Chebyshev nodes (2.8e-9 relative in exact
     * arithmetic; the Taylor series needs degree 7 for 2e-8) */
    float p = 1.394978293e-03f;
    p = MULADD(p, r, 8.375970820e-03f);
    p = MULADD(p, r, 4.166620004e-02f);
    p = MULADD(p, r, 1.666640526e-01f);
    p = MULADD(p, r, 5.000000114e-01f);
    p = MULADD(p, r, 1.000000040e+00f);
    p = MULADD(p, r, 1.0f);
    uint32_t scale_bits = ((k_bits + 127u) & 0xffu) << 23;
    return p * bits_to_float(scale_bits);
}

/* float32 -> bfloat16 bits, rounded to nearest even (NaN and infinity keep their class) */
static inline uint16_t float_to_bf16(float f) {
    uint32_t u = float_to_bits(f);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float bf16_to_float(uint16_t h) { return bits_to_float((uint32_t)h << 16); }

/* softplus(z) - slope * z, for the Swoosh kernels (swoosh.c, and qlinear.c's feed-forward epilogue).
 *
 * softplus(z) = max(z, 0) + log1p(exp(-|z|)). exp is evaluated on (-87.3, 0] only, so 2^k never leaves the
 * normal range; below -87.3 log1p(exp(.)) is under 1.2e-38, beside a result of at least 87. log1p(e) for e in
 * (0, 1] is 2 atanh(e / (2 + e)), a polynomial in s = e / (2 + e) <= 1/3 that needs no special cases.
 * Every operation is branch-free so that the compiler can vectorise the loop; NaN in gives NaN out through
 * the slope term, +/-inf give what softplus(z) - slope * z gives in float32.
 */
/* log1p(e) for e in (0, 1]: s q(s^2) with s = e / (2 + e) <= 1/3, q a degree-4 least-squares fit of
 * 2 atanh(s) / s on s^2 in [0, 1/9] (4e-9 relative in exact arithmetic; the series needs 8 terms). */
static inline float log1p_unit(float e) {
    float s = e / (2.0f + e);
    float u = s * s;
    float q = 2.818164760e-01f;
    q = MULADD(q, u, 2.796005892e-01f);
    q = MULADD(q, u, 4.002493471e-01f);
    q = MULADD(q, u, 6.666631443e-01f);
    q = MULADD(q, u, 2.000000008e+00f);
    return s * q;
}

static inline float swoosh_tail_one(float z, float slope) {
    float positive = z > 0.0f ? z : 0.0f;
    float magnitude = z > 0.0f ? z : -z;
    float tail = log1p_unit(exp_nonpositive(-magnitude));
    return (positive + tail) - slope * z;
}

#endif
