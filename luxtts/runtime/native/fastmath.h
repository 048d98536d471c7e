/* Scalar helpers shared by luxtts.runtime.native's kernels, written branch-free so that loops calling them
 * vectorise. */

#ifndef LUXTTS_FASTMATH_H
#define LUXTTS_FASTMATH_H

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

/* exp(a) for a in [-87.3, 0] (NaN maps to some finite value; the caller's slope term carries the NaN). */
static inline float exp_nonpositive(float a) {
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693359375f;
    const float ln2_lo = -2.12194440e-4f;
    const float round_magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer in the low bits */
    a = a < -87.3f ? -87.3f : a;
    float shifted = a * log2e + round_magic;
    float k = shifted - round_magic;
    uint32_t k_bits = float_to_bits(shifted) - float_to_bits(round_magic); /* k as a two's complement integer */
    float r = a - k * ln2_hi;
    r = r - k * ln2_lo; /* |r| <= ln2 / 2 */
    /* exp(r) on [-ln2/2, ln2/2]: Taylor terms to r^7 (truncation below 2e-8 relative) */
    float p = 1.98412698e-4f;
    p = p * r + 1.38888889e-3f;
    p = p * r + 8.33333333e-3f;
    p = p * r + 4.16666667e-2f;
    p = p * r + 1.66666667e-1f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
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

#endif
