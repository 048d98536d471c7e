/* int8 linear layers on AVX-512 VNNI, for luxtts.runtime.quantize.
 *
 * An int8 model spends over half its time in these products, most of them on 256-row blocks of the
 * feed-forward modules, where fbgemm's dynamic linear ran at 55-70% of what the cores' vpdpbusd can do: it
 * repacks the activation and walks its own blocking for every call. Here the weights are packed once, at
 * load, into panels of 64 output channels by groups of 4 input channels (the operand layout of vpdpbusd), and
 * each call quantizes its rows straight into a uint8 scratch that the tiles read in place: 6 rows x 64 channels
 * of int32 sums live in 24 registers for the whole reduction, one broadcast of 4 activation bytes feeding 4
 * products.
 *
 * The numbers are fbgemm's, bit for bit (tested): the activation is quantized as its quantizer does
 * (round(fma(x, 1/scale, zero_point)), clipped), the integer sums are exact, and the float result is formed
 * as fbgemm forms it, fma(float(sum - zero_point * column_sum), activation_scale * weight_scale, bias), with
 * any residual added after, as torch adds it to fbgemm's output.
 */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fastmath.h"
#include "scratch.h"
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#include <immintrin.h>
#define LUXTTS_HAS_VNNI 1
#endif
#include <omp.h>

/* rows and output channels of one register tile; channels per panel of the packed weight */
#define TILE_ROWS 6
#define PANEL 64
/* at most this many tiles of rows per unit of work: 384 rows, whose activation bytes stay in L2 across the panels */
#define TILES_PER_BLOCK 64

int luxtts_qlinear_supported(void) {
#ifdef LUXTTS_HAS_VNNI
    return 1;
#else
    return 0;
#endif
}

int64_t luxtts_qlinear_panel(void) { return PANEL; }

/* The (scale, zero point) fbgemm's dynamic linear picks for an input whose finite extremes are low and high:
 * luxtts.runtime.quantize.input_qparams step for step (that function says why each step is there), in the same
 * precisions: the range and the zero point in double, the stretch of a too-small scale in float. */
void luxtts_input_qparams(float low, float high, int reduce_range, double *scale_out, int32_t *zero_out) {
    const int32_t qmin = 0, qmax = reduce_range ? 127 : 255;
    const float smallest = 6.1e-5f, levels = (float)(qmax - qmin);
    float lo = 0.0f < low ? 0.0f : low;
    float hi = 0.0f > high ? 0.0f : high;
    double scale = ((double)hi - (double)lo) / (qmax - qmin);
    volatile float scale32 = (float)scale; /* rounded to float here, whatever the compiler keeps in registers */
    volatile float one = 1.0f;
    if (scale32 == 0.0f || (scale32 < 1e-30 && !isfinite(one / scale32))) scale = 0.1;
    if (scale < (double)smallest) {
        if (lo == 0.0f) {
            hi = smallest * levels;
        } else if (hi == 0.0f) {
            lo = -smallest * levels;
        } else {
            float stretch = smallest / (float)scale;
            lo = lo * stretch;
            hi = hi * stretch;
        }
        scale = (double)smallest;
    }
    double lo_q = (double)lo / scale, hi_q = (double)hi / scale;
    double zero = fabs((double)qmin) - fabs(lo_q) < fabs((double)qmax) - fabs(hi_q) ? qmin - lo_q : qmax - hi_q;
    zero = nearbyint(zero); /* half to even, as Python's round */
    *scale_out = scale;
    *zero_out = (int32_t)(zero < qmin ? qmin : zero > qmax ? qmax : zero);
}

#ifdef LUXTTS_HAS_VNNI
/* rows of x (rows x k float32) -> q (rows x kp uint8); the padding columns get the zero point, whose weights are 0 */
static void quantize_rows(const float *x, int64_t r0, int64_t r1, int64_t k, uint8_t *q, int64_t kp, float inverse,
                          int32_t zero) {
    const __m512 inv = _mm512_set1_ps(inverse), zero_f = _mm512_set1_ps((float)zero);
    const __m512 int32_float_max = _mm512_set1_ps(2147483520.0f);
    const __m512i lowest = _mm512_setzero_si512(), highest = _mm512_set1_epi32(255);
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = x + r * k;
        uint8_t *qr = q + r * kp;
        for (int64_t c = 0; c < k; c += 16) {
            __mmask16 mask = k - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (k - c)) - 1);
            __m512 t = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, xr + c), inv, zero_f);
            __m512i i = _mm512_cvtps_epi32(_mm512_min_ps(t, int32_float_max));
            i = _mm512_min_epi32(_mm512_max_epi32(i, lowest), highest);
            _mm512_mask_cvtepi32_storeu_epi8(qr + c, mask, i);
        }
        memset(qr + k, zero, (size_t)(kp - k));
    }
}

static inline __mmask16 lanes_left(int64_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1);
}

static inline int32_t four_bytes(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

#define TILE_R(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define DECLARE(r)                                                                  \
    __m512i s##r##0 = _mm512_setzero_si512(), s##r##1 = s##r##0, s##r##2 = s##r##0, \
            s##r##3 = s##r##0;
#define PRODUCTS(r)                                                       \
    {                                                                     \
        __m512i a = _mm512_set1_epi32(four_bytes(q + (r) * kp + kk));     \
        s##r##0 = _mm512_dpbusd_epi32(s##r##0, a, w0);                    \
        s##r##1 = _mm512_dpbusd_epi32(s##r##1, a, w1);                    \
        s##r##2 = _mm512_dpbusd_epi32(s##r##2, a, w2);                    \
        s##r##3 = _mm512_dpbusd_epi32(s##r##3, a, w3);                    \
    }
#define STORE_PART(r, j)                                                                              \
    {                                                                                                 \
        __m512 f = _mm512_cvtepi32_ps(_mm512_sub_epi32(s##r##j, offset##j));                          \
        f = bias ? _mm512_fmadd_ps(f, scale##j, bias##j) : _mm512_mul_ps(f, scale##j);                \
        int64_t at = (row + (r)) * n + col + 16 * (j);                                                \
        if (residual) f = _mm512_add_ps(f, _mm512_maskz_loadu_ps(mask##j, residual + at));            \
        _mm512_mask_storeu_ps(out + at, mask##j, f);                                                  \
    }
#define STORE(r)                                                                        \
    if ((r) < rows) {                                                                   \
        STORE_PART(r, 0) STORE_PART(r, 1) STORE_PART(r, 2) STORE_PART(r, 3)             \
    }
#define LOAD_PARTS(name, source, load)                                                               \
    name##0 = load((source) + col), name##1 = load((source) + col + 16), name##2 = load((source) + col + 32), \
    name##3 = load((source) + col + 48)

/* rows row .. row + rows - 1 (rows <= TILE_ROWS; q holds TILE_ROWS readable rows) times one panel */
static void tile(const uint8_t *q, int64_t kp, const int8_t *panel, int rows, int64_t row, int64_t col, int64_t n,
                 const int32_t *offsets, const float *scales, const float *bias, const float *residual, float *out) {
    TILE_R(DECLARE)
    for (int64_t kk = 0; kk < kp; kk += 4) {
        const int8_t *w = panel + kk * PANEL;
        __m512i w0 = _mm512_loadu_si512(w), w1 = _mm512_loadu_si512(w + 64), w2 = _mm512_loadu_si512(w + 128),
                w3 = _mm512_loadu_si512(w + 192);
        TILE_R(PRODUCTS)
    }
    __m512i LOAD_PARTS(offset, offsets, _mm512_loadu_si512);
    __m512 LOAD_PARTS(scale, scales, _mm512_loadu_ps);
    __mmask16 mask0 = lanes_left(n - col), mask1 = lanes_left(n - col - 16), mask2 = lanes_left(n - col - 32),
              mask3 = lanes_left(n - col - 48);
    __m512 bias0 = _mm512_setzero_ps(), bias1 = bias0, bias2 = bias0, bias3 = bias0;
    if (bias) {  /* bias has n entries, not n rounded up to the panel */
        bias0 = _mm512_maskz_loadu_ps(mask0, bias + col), bias1 = _mm512_maskz_loadu_ps(mask1, bias + col + 16);
        bias2 = _mm512_maskz_loadu_ps(mask2, bias + col + 32), bias3 = _mm512_maskz_loadu_ps(mask3, bias + col + 48);
    }
    TILE_R(STORE)
}

/* The stored rows row .. row + rows - 1, channels col .. col + PANEL - 1 (those under n): Swoosh tail applied
 * in place where swoosh is set, their range noted, while they are still in L1. */
static void finish_tile(float *out, int64_t row, int rows, int64_t col, int64_t n, int swoosh, float slope,
                        running_range_t *range) {
    const int64_t width = n - col < PANEL ? n - col : PANEL;
    for (int r = 0; r < rows; r++) {
        float *o = out + (row + r) * n + col;
        if (swoosh) {
#pragma omp simd
            for (int64_t c = 0; c < width; c++) o[c] = swoosh_tail_one(o[c], slope);
        }
        range_note(range, o, width);
    }
}
#endif

#ifdef LUXTTS_HAS_VNNI
#define MAX_THREADS 256
#endif

/* out (m x n) = dequantized(quantized(x) . weights^T) [+ bias] [+ residual], as fbgemm's dynamic linear computes it.
 *
 * x: m x k float32, row-major. packed: the weights as NativeKernels.pack_int8 lays them out (panels of PANEL
 * channels, k rounded up to 4, n up to PANEL; padding 0). col_sums (n_padded): each channel's sum of weights;
 * w_scales (n_padded): their float32 scales; bias (n) or NULL; residual (m x n) or NULL.
 * x is quantized with the parameters luxtts_input_qparams picks for its extremes: given in extremes_in (low,
 * high) when the caller knows them, else found here. Where swoosh is set, out holds softplus(y) - slope * y
 * of the result y instead (after bias and residual). extremes_out, when not NULL, receives the extremes of what
 * out holds (NaN as its low and high when out holds a NaN).
 * Returns 0 when done, 1 without VNNI, 2 when the scratch cannot be allocated, 3 (out untouched) when x's
 * extremes are not finite (a NaN or an infinity in x), which fbgemm's own kernel is left to handle. */
int luxtts_qlinear(const float *x, int64_t m, int64_t k, const int8_t *packed, int64_t n, const int32_t *col_sums,
                   const float *w_scales, const float *bias, const float *residual, float *out,
                   const float *extremes_in, float *extremes_out, int swoosh, float slope, int reduce_range,
                   int threads) {
#ifndef LUXTTS_HAS_VNNI
    (void)x; (void)m; (void)k; (void)packed; (void)n; (void)col_sums; (void)w_scales; (void)bias; (void)residual;
    (void)out; (void)extremes_in; (void)extremes_out; (void)swoosh; (void)slope; (void)reduce_range; (void)threads;
    return 1;
#else
    if (m <= 0 || n <= 0) return 0;
    threads = threads < 1 ? 1 : threads > MAX_THREADS ? MAX_THREADS : threads;
    const int64_t kp = (k + 3) & ~(int64_t)3;
    const int64_t n_padded = (n + PANEL - 1) / PANEL * PANEL;
    const int64_t tiles = (m + TILE_ROWS - 1) / TILE_ROWS;
    const int64_t m_padded = tiles * TILE_ROWS;
    const int64_t panels = n_padded / PANEL;
    const int finish = swoosh || extremes_out != NULL;
    size_t q_bytes = ((size_t)(m_padded * kp) + 63) & ~(size_t)63;
    uint8_t *q = thread_scratch(q_bytes + (size_t)n_padded * 8);
    if (q == NULL) return 2;
    int32_t *offsets = (int32_t *)(q + q_bytes);
    float *scales = (float *)(offsets + n_padded);
    range_t inputs[MAX_THREADS], outputs[MAX_THREADS];
    int status = 0, team = 1;
    float a_scale = 0.0f;
    int32_t a_zero = 0;
#pragma omp parallel num_threads(threads)
    {
        const int id = omp_get_thread_num();
#pragma omp single
        team = omp_get_num_threads();
        if (extremes_in == NULL) {
            const int64_t total = m * k, share = (total + team - 1) / team;
            const int64_t first = share * id < total ? share * id : total;
            const int64_t last = first + share < total ? first + share : total;
            inputs[id] = range_of(x + first, last - first);
        }
#pragma omp barrier
#pragma omp single
        {
            range_t range = {0.0f, 0.0f, 0};
            if (extremes_in == NULL) {
                range = range_combine(inputs, team);
            } else {
                range.low = extremes_in[0], range.high = extremes_in[1];
            }
            if (range.nan || !isfinite(range.low) || !isfinite(range.high)) {
                status = 3;
            } else {
                double scale;
                luxtts_input_qparams(range.low, range.high, reduce_range, &scale, &a_zero);
                a_scale = (float)scale;
                for (int64_t j = 0; j < n_padded; j++) {
                    offsets[j] = a_zero * col_sums[j];
                    scales[j] = a_scale * w_scales[j];
                }
                memset(q + m * kp, a_zero, (size_t)((m_padded - m) * kp));
            }
        }
        if (status == 0) {
            const float inverse = 1.0f / a_scale;
#pragma omp for schedule(static)
            for (int64_t r = 0; r < m; r += 16)
                quantize_rows(x, r, r + 16 < m ? r + 16 : m, k, q, kp, inverse, a_zero);
            running_range_t range = range_start();
            /* One block: the threads share out its panels (and read only their own weights). More: blocks of
             * equal size (to a tile), as many for each thread, so each thread's static share is whole blocks
             * across all panels. Full blocks and a short last one left threads idle at the loop's end (465 rows
             * on two threads: blocks of 64 and 14 tiles, one thread idle for 4/5 of the loop). */
            const int64_t least = (tiles + TILES_PER_BLOCK - 1) / TILES_PER_BLOCK;
            const int64_t blocks = least == 1 ? 1 : (least + team - 1) / team * team;
#pragma omp for schedule(static)
            for (int64_t unit = 0; unit < blocks * panels; unit++) {
                const int64_t block = unit / panels, p = unit % panels;
                const int64_t last = (block + 1) * tiles / blocks;
                for (int64_t t = block * tiles / blocks; t < last; t++) {
                    const int64_t row = t * TILE_ROWS;
                    const int rows = (int)(m - row < TILE_ROWS ? m - row : TILE_ROWS);
                    tile(q + row * kp, kp, packed + p * kp * PANEL, rows, row, p * PANEL, n, offsets, scales, bias,
                         residual, out);
                    if (finish) finish_tile(out, row, rows, p * PANEL, n, swoosh, slope, &range);
                }
            }
            outputs[id] = range_end(&range);
        }
    }
    if (status == 0 && extremes_out != NULL) {
        range_t all = range_combine(outputs, team);
        extremes_out[0] = all.nan ? NAN : all.low;
        extremes_out[1] = all.nan ? NAN : all.high;
    }
    return status;
#endif
}
