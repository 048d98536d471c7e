/* For the kernels that write activations (qlinear.c): a per-thread scratch buffer kept between calls, and the
 * running range (min, max, any NaN) of the values a thread stores.
 *
 * Scratch: a buffer of a few hundred KB to a few MB freshly allocated per call is often handed back to the
 * system when freed (glibc maps large blocks, and trims the heap's top), and then every call pays a page fault
 * per 4 KiB to touch it again: in a two-pass kernel over a 1364 x 512 activation that was 1.3 ms of 2.4,
 * measured (docs/speed.md, round 7). Each calling thread keeps its largest buffer instead.
 *
 * Range: GCC implements `omp simd reduction(min/max)` through arrays on the stack, a store and a load per
 * vector; the range is kept in registers here, 16 lanes wide, and reduced once per thread. */

#ifndef LUXTTS_SCRATCH_H
#define LUXTTS_SCRATCH_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

/* at least `bytes` bytes, 64-byte aligned, this thread's until its next call; NULL when they cannot be had */
static inline void *thread_scratch(size_t bytes) {
    static __thread void *buffer = NULL;
    static __thread size_t size = 0;
    if (bytes > size) {
        free(buffer);
        buffer = NULL, size = 0;
        if (posix_memalign(&buffer, 64, bytes) != 0) return buffer = NULL;
        size = bytes;
    }
    return buffer;
}

typedef struct {
#ifdef __AVX512F__
    __m512 low, high;
    __mmask16 nan;
#else
    float low, high;
    int nan;
#endif
} running_range_t;

static inline running_range_t range_start(void) {
    running_range_t r;
#ifdef __AVX512F__
    r.low = _mm512_set1_ps(INFINITY), r.high = _mm512_set1_ps(-INFINITY), r.nan = 0;
#else
    r.low = INFINITY, r.high = -INFINITY, r.nan = 0;
#endif
    return r;
}

/* add v[0 .. n - 1] to the range */
static inline void range_note(running_range_t *r, const float *v, int64_t n) {
#ifdef __AVX512F__
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 mask = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m512 x = _mm512_maskz_loadu_ps(mask, v + i);
        r->nan |= _mm512_mask_cmp_ps_mask(mask, x, x, _CMP_UNORD_Q);
        r->low = _mm512_mask_min_ps(r->low, mask, r->low, x);
        r->high = _mm512_mask_max_ps(r->high, mask, r->high, x);
    }
#else
    for (int64_t i = 0; i < n; i++) {
        r->low = v[i] < r->low ? v[i] : r->low;
        r->high = v[i] > r->high ? v[i] : r->high;
        r->nan |= v[i] != v[i];
    }
#endif
}

/* What one thread saw: the extremes of the values it noted, and whether one was NaN. */
typedef struct {
    float low, high;
    int nan;
} range_t;

static inline range_t range_end(const running_range_t *r) {
    range_t seen;
#ifdef __AVX512F__
    seen.low = _mm512_reduce_min_ps(r->low), seen.high = _mm512_reduce_max_ps(r->high), seen.nan = r->nan != 0;
#else
    seen.low = r->low, seen.high = r->high, seen.nan = r->nan;
#endif
    return seen;
}

/* the range of count values, noted in one pass */
static inline range_t range_of(const float *v, int64_t count) {
    running_range_t r = range_start();
    range_note(&r, v, count);
    return range_end(&r);
}

/* the threads' ranges together */
static inline range_t range_combine(const range_t *each, int count) {
    range_t all = {INFINITY, -INFINITY, 0};
    for (int t = 0; t < count; t++) {
        all.low = each[t].low < all.low ? each[t].low : all.low;
        all.high = each[t].high > all.high ? each[t].high : all.high;
        all.nan |= each[t].nan;
    }
    return all;
}

#endif
