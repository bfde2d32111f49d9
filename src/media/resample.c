/* Pillow-exact resize (see resample.h). The coefficient computation reproduces
 * Resample.c's precompute_coeffs / normalize_coeffs_8bpc operation for operation, in
 * double, so that the fixed-point kernels equal Pillow's; the kernels then only add
 * integer products, in any order. Written from the algorithm described in Pillow's source,
 * not copied. */
#include "media/resample.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define VLM_RESAMPLE_X86 1
#endif

/* Pillow computes filters in double; contracting a*b+c into an FMA would change last bits.
 * The build's ISO C mode (-std=c17) makes GCC keep them separate (-ffp-contract=off). */

#define PRECISION_BITS (32 - 8 - 2)

/* ---------------------------------------------------------------- filters (Pillow's) */

static double box_filter(double x) {
    return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0;
}

static double bilinear_filter(double x) {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static double hamming_filter(double x) {
    if (x < 0.0) x = -x;
    if (x == 0.0) return 1.0;
    if (x >= 1.0) return 0.0;
    x = x * M_PI;
    /* The float literals are Pillow's: 0.54f and 0.46f widened to double. */
    return sin(x) / x * (0.54f + 0.46f * cos(x));
}

static double bicubic_filter(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static double sinc_filter(double x) {
    if (x == 0.0) return 1.0;
    x = x * M_PI;
    return sin(x) / x;
}

static double lanczos_filter(double x) {
    if (-3.0 <= x && x < 3.0) return sinc_filter(x) * sinc_filter(x / 3);
    return 0.0;
}

typedef struct filter_def {
    double (*fn)(double);
    double support;
} filter_def;

static const filter_def *filter_for(vlm_resample_filter f) {
    static const filter_def box = {box_filter, 0.5}, bilinear = {bilinear_filter, 1.0},
                            hamming = {hamming_filter, 1.0}, bicubic = {bicubic_filter, 2.0},
                            lanczos = {lanczos_filter, 3.0};
    switch (f) {
    case VLM_RESAMPLE_BOX:
        return &box;
    case VLM_RESAMPLE_BILINEAR:
        return &bilinear;
    case VLM_RESAMPLE_HAMMING:
        return &hamming;
    case VLM_RESAMPLE_BICUBIC:
        return &bicubic;
    case VLM_RESAMPLE_LANCZOS:
        return &lanczos;
    default:
        return NULL;
    }
}

/* ---------------------------------------------------------------- coefficients */

/* One axis: for output i, taps bounds[2i] (first input index) .. + bounds[2i+1] (count),
 * fixed-point weights k[i * ksize + t]. */
typedef struct axis_coeffs {
    int ksize;
    int *bounds; /* [out_size][2] */
    int32_t *k;  /* [out_size][ksize] */
} axis_coeffs;

static void axis_free(axis_coeffs *a) {
    free(a->bounds);
    free(a->k);
    memset(a, 0, sizeof *a);
}

/* Mirrors precompute_coeffs + normalize_coeffs_8bpc. in0/in1 are Pillow's float box
 * edges. Returns false on allocation failure. */
static bool axis_build(int in_size, float in0, float in1, int out_size, const filter_def *f,
                       axis_coeffs *a) {
    memset(a, 0, sizeof *a);
    double scale = (double)(in1 - in0) / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = f->support * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *w = malloc((size_t)ksize * sizeof(double));
    a->bounds = malloc((size_t)out_size * 2 * sizeof(int));
    size_t nk;
    if (!vlm_size_mul((size_t)out_size, (size_t)ksize, &nk)) nk = SIZE_MAX;
    a->k = nk != SIZE_MAX ? calloc(nk, sizeof(int32_t)) : NULL;
    if (!w || !a->bounds || !a->k) {
        free(w);
        axis_free(a);
        return false;
    }
    a->ksize = ksize;
    double inv_filterscale = 1.0 / filterscale;
    for (int xx = 0; xx < out_size; xx++) {
        double center = in0 + (xx + 0.5) * scale;
        double ww = 0.0;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            double v = f->fn((x + xmin - center + 0.5) * inv_filterscale);
            w[x] = v;
            ww += v;
        }
        if (ww != 0.0)
            for (int x = 0; x < xmax; x++)
                w[x] /= ww;
        int32_t *k = a->k + (size_t)xx * ksize;
        for (int x = 0; x < xmax; x++) {
            double v = w[x] * (1 << PRECISION_BITS);
            k[x] = w[x] < 0 ? (int32_t)(-0.5 + v) : (int32_t)(0.5 + v);
        }
        a->bounds[2 * xx] = xmin;
        a->bounds[2 * xx + 1] = xmax < 0 ? 0 : xmax;
    }
    free(w);
    return true;
}

static inline uint8_t clip8(int32_t acc) {
    int32_t v = acc >> PRECISION_BITS; /* arithmetic shift, as Pillow */
    return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

/* ---------------------------------------------------------------- kernels */

static int cpu_has_avx2(void) {
#ifdef VLM_RESAMPLE_X86
    return __builtin_cpu_supports("avx2");
#else
    return 0;
#endif
}

/* Makes every output use exactly ksize taps (when the input has that many): a window that
 * would run past the end starts earlier and gets leading zero weights. Adding zero
 * products changes no sum, and a constant trip count lets the compiler unroll. */
static void axis_fix_taps(axis_coeffs *a, int in_size, int out_size) {
    const int K = a->ksize;
    if (in_size < K) return;
    for (int xx = 0; xx < out_size; xx++) {
        int xmin = a->bounds[2 * xx], n = a->bounds[2 * xx + 1];
        int start = xmin + K > in_size ? in_size - K : xmin;
        int shift = xmin - start;
        int32_t *k = a->k + (size_t)xx * K;
        if (shift > 0) {
            memmove(k + shift, k, (size_t)n * sizeof(int32_t));
            memset(k, 0, (size_t)shift * sizeof(int32_t));
        }
        for (int t = shift + n; t < K; t++)
            k[t] = 0;
        a->bounds[2 * xx] = start;
        a->bounds[2 * xx + 1] = K;
    }
}

/* Horizontal pass for one row: out[3 * xx + c] from the input row. K > 0 is a compile-time
 * tap count (after axis_fix_taps); K == 0 reads each output's own count. */
static inline __attribute__((always_inline)) void horizontal_row_k(uint8_t *restrict out,
                                                                   const uint8_t *restrict in,
                                                                   int out_w, const axis_coeffs *a,
                                                                   const int K) {
    const int ksize = a->ksize;
    for (int xx = 0; xx < out_w; xx++) {
        const int xmin = a->bounds[2 * xx], n = K ? K : a->bounds[2 * xx + 1];
        const int32_t *k = a->k + (size_t)xx * ksize;
        const uint8_t *p = in + (size_t)xmin * 3;
        int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
#pragma GCC unroll 16
        for (int t = 0; t < n; t++) {
            s0 += p[3 * t + 0] * k[t];
            s1 += p[3 * t + 1] * k[t];
            s2 += p[3 * t + 2] * k[t];
        }
        out[3 * xx + 0] = clip8(s0);
        out[3 * xx + 1] = clip8(s1);
        out[3 * xx + 2] = clip8(s2);
    }
}

static void horizontal_row(uint8_t *restrict out, const uint8_t *restrict in, int out_w,
                           const axis_coeffs *a, int fixed) {
    switch (fixed ? a->ksize : 0) {
    case 3:
        horizontal_row_k(out, in, out_w, a, 3);
        break;
    case 5:
        horizontal_row_k(out, in, out_w, a, 5);
        break;
    case 7:
        horizontal_row_k(out, in, out_w, a, 7);
        break;
    case 9:
        horizontal_row_k(out, in, out_w, a, 9);
        break;
    default:
        horizontal_row_k(out, in, out_w, a, 0);
        break;
    }
}

#ifdef VLM_RESAMPLE_X86
/* Coefficients of output pairs laid out for horizontal_row_avx2: for pair j and tap t, eight
 * int32 = k[2j][t] x4, k[2j+1][t] x4 (one 256-bit multiplier per tap and pair). */
static int32_t *pair_coeffs(const axis_coeffs *a, int out_w) {
    const int K = a->ksize, pairs = out_w / 2;
    int32_t *kx = malloc(((size_t)pairs * K * 8 + 1) * sizeof(int32_t));
    if (!kx) return NULL;
    for (int j = 0; j < pairs; j++)
        for (int t = 0; t < K; t++)
            for (int l = 0; l < 8; l++)
                kx[((size_t)j * K + t) * 8 + l] = a->k[(size_t)(2 * j + l / 4) * K + t];
    return kx;
}

/* AVX2 horizontal pass (fixed taps only): the row is widened to RGBX, and each tap adds
 * pixel * weight for two output pixels at once, one per 128-bit lane, channels in the
 * four int32 slots. Products and sums are the exact int32 ones of the scalar kernel. */
__attribute__((target("avx2"))) static void
horizontal_row_avx2(uint8_t *restrict out, const uint8_t *restrict in, int in_w, int out_w,
                    const axis_coeffs *a, const int32_t *kx, uint8_t *restrict rgbx) {
    for (int x = 0; x < in_w; x++) {
        rgbx[4 * x + 0] = in[3 * x + 0];
        rgbx[4 * x + 1] = in[3 * x + 1];
        rgbx[4 * x + 2] = in[3 * x + 2];
        rgbx[4 * x + 3] = 0;
    }
    const int K = a->ksize;
    const __m256i half = _mm256_set1_epi32(1 << (PRECISION_BITS - 1));
    const __m128i pick = _mm_setr_epi8(0, 1, 2, 4, 5, 6, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    int xx = 0;
    for (; xx + 2 <= out_w; xx += 2) {
        const uint8_t *p0 = rgbx + 4 * (size_t)a->bounds[2 * xx];
        const uint8_t *p1 = rgbx + 4 * (size_t)a->bounds[2 * xx + 2];
        const int32_t *kk = kx + (size_t)(xx / 2) * K * 8;
        __m256i acc = half;
        for (int t = 0; t < K; t++) {
            int32_t v0, v1;
            memcpy(&v0, p0 + 4 * t, 4);
            memcpy(&v1, p1 + 4 * t, 4);
            const __m256i px = _mm256_cvtepu8_epi32(_mm_setr_epi32(v0, v1, 0, 0));
            const __m256i k = _mm256_loadu_si256((const __m256i *)(kk + 8 * t));
            acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(px, k));
        }
        acc = _mm256_srai_epi32(acc, PRECISION_BITS);
        __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        __m128i b = _mm_shuffle_epi8(_mm_packus_epi16(w, w), pick);
        uint8_t tmp[16];
        _mm_storeu_si128((__m128i *)tmp, b);
        memcpy(out + 3 * (size_t)xx, tmp, 6);
    }
    for (; xx < out_w; xx++) { /* the odd last pixel */
        const uint8_t *p = rgbx + 4 * (size_t)a->bounds[2 * xx];
        const int32_t *k = a->k + (size_t)xx * K;
        int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
        for (int t = 0; t < K; t++) {
            s0 += p[4 * t + 0] * k[t];
            s1 += p[4 * t + 1] * k[t];
            s2 += p[4 * t + 2] * k[t];
        }
        out[3 * xx + 0] = clip8(s0);
        out[3 * xx + 1] = clip8(s1);
        out[3 * xx + 2] = clip8(s2);
    }
}
#endif

/* Vertical pass for one output row: every byte of the row is one lane (channels do not
 * mix), taps over input rows. Portable version; `acc` is scratch of `n` int32. */
static void vertical_row_scalar(uint8_t *restrict out, const uint8_t *in, size_t in_stride,
                                size_t n, int ymin, int taps, const int32_t *k,
                                int32_t *restrict acc) {
    for (size_t i = 0; i < n; i++)
        acc[i] = 1 << (PRECISION_BITS - 1);
    for (int t = 0; t < taps; t++) {
        const uint8_t *restrict row = in + (size_t)(ymin + t) * in_stride;
        const int32_t kt = k[t];
        for (size_t i = 0; i < n; i++)
            acc[i] += row[i] * kt;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = clip8(acc[i]);
}

#ifdef VLM_RESAMPLE_X86
/* AVX2: 32 bytes at a time, accumulators in registers, exact int32 products (vpmulld);
 * the saturating packs of (acc >> 22) clamp to 0..255 exactly as clip8. */
__attribute__((target("avx2"))) static void
vertical_row_avx2(uint8_t *restrict out, const uint8_t *in, size_t in_stride, size_t n, int ymin,
                  int taps, const int32_t *k, int32_t *restrict acc) {
    const __m256i half = _mm256_set1_epi32(1 << (PRECISION_BITS - 1));
    const uint8_t *base = in + (size_t)ymin * in_stride;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i a0 = half, a1 = half, a2 = half, a3 = half;
        for (int t = 0; t < taps; t++) {
            const uint8_t *row = base + (size_t)t * in_stride + i;
            const __m256i kt = _mm256_set1_epi32(k[t]);
            const __m128i lo = _mm_loadu_si128((const __m128i *)row);
            const __m128i hi = _mm_loadu_si128((const __m128i *)(row + 16));
            a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(lo), kt));
            a1 = _mm256_add_epi32(
                a1, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)), kt));
            a2 = _mm256_add_epi32(a2, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(hi), kt));
            a3 = _mm256_add_epi32(
                a3, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8)), kt));
        }
        a0 = _mm256_srai_epi32(a0, PRECISION_BITS);
        a1 = _mm256_srai_epi32(a1, PRECISION_BITS);
        a2 = _mm256_srai_epi32(a2, PRECISION_BITS);
        a3 = _mm256_srai_epi32(a3, PRECISION_BITS);
        /* packs work per 128-bit lane: (a0,a1) -> [a0l a1l | a0h a1h]; fix the order after */
        __m256i w01 = _mm256_packs_epi32(a0, a1), w23 = _mm256_packs_epi32(a2, a3);
        __m256i b = _mm256_packus_epi16(w01, w23); /* [a0l a1l a2l a3l | a0h a1h a2h a3h] */
        b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(out + i), b);
    }
    if (i < n) vertical_row_scalar(out + i, in + i, in_stride, n - i, ymin, taps, k, acc);
}
#endif

static void vertical_row(uint8_t *restrict out, const uint8_t *in, size_t in_stride, size_t n,
                         int ymin, int taps, const int32_t *k, int32_t *restrict acc,
                         int use_avx2) {
#ifdef VLM_RESAMPLE_X86
    if (use_avx2) {
        vertical_row_avx2(out, in, in_stride, n, ymin, taps, k, acc);
        return;
    }
#endif
    (void)use_avx2;
    vertical_row_scalar(out, in, in_stride, n, ymin, taps, k, acc);
}

/* The OpenMP team size for a request (0 = OpenMP's default). */
static int thread_count(int requested) {
    int n = requested > 0 ? requested : omp_get_max_threads();
    return n < 1 ? 1 : n;
}

/* Resamples the region box of `in` (whole rows/cols when a pass is skipped) to out_w x
 * out_h with a convolution filter, Pillow's ImagingResampleInner. */
static vlm_status resample_conv(const vlm_image *in, int out_w, int out_h, const float box[4],
                                const filter_def *f, int nthreads, int simd, vlm_image *out,
                                vlm_error *err) {
    memset(out, 0, sizeof *out);
    int need_h = out_w != in->width || box[0] != 0 || box[2] != out_w;
    int need_v = out_h != in->height || box[1] != 0 || box[3] != out_h;
    axis_coeffs ah = {0}, av = {0};
    vlm_image tmp = {0};
    vlm_status s = VLM_OK;
    if (!axis_build(in->height, box[1], box[3], out_h, f, &av)) goto oom;
    /* Only rows [first, last) of the input feed the vertical pass. */
    int first = av.bounds[0];
    int last = av.bounds[2 * (out_h - 1)] + av.bounds[2 * (out_h - 1) + 1];
    const vlm_image *src = in;
    if (need_h) {
        if (!axis_build(in->width, box[0], box[2], out_w, f, &ah)) goto oom;
        axis_fix_taps(&ah, in->width, out_w);
        const int fixed = in->width >= ah.ksize;
        if (last - first < 1) {
            s = vlm_err(err, VLM_ERR_INTERNAL, "image resize: empty source row range");
            goto done;
        }
        s = vlm_image_alloc(&tmp, out_w, last - first, err);
        if (s != VLM_OK) goto done;
        const int rows = last - first;
        int32_t *kx = NULL;
#ifdef VLM_RESAMPLE_X86
        if (fixed && simd && cpu_has_avx2()) kx = pair_coeffs(&ah, out_w);
#endif
        int failed = 0;
#pragma omp parallel num_threads(nthreads) if (rows > 16 && nthreads > 1)
        {
            uint8_t *rgbx = kx ? malloc((size_t)in->width * 4) : NULL;
            if (kx && !rgbx) {
#pragma omp atomic write
                failed = 1;
            }
#pragma omp for schedule(static)
            for (int y = 0; y < rows; y++) {
                uint8_t *dst = tmp.data + (size_t)y * tmp.stride;
                const uint8_t *row = in->data + (size_t)(y + first) * in->stride;
#ifdef VLM_RESAMPLE_X86
                if (rgbx) {
                    horizontal_row_avx2(dst, row, in->width, out_w, &ah, kx, rgbx);
                    continue;
                }
#endif
                horizontal_row(dst, row, out_w, &ah, fixed);
            }
            free(rgbx);
        }
        free(kx);
        if (failed) goto oom;
        for (int y = 0; y < out_h; y++)
            av.bounds[2 * y] -= first;
        src = &tmp;
    }
    if (need_v) {
        s = vlm_image_alloc(out, src->width, out_h, err);
        if (s != VLM_OK) goto done;
        const size_t n = (size_t)src->width * 3;
        const int use_avx2 = simd && cpu_has_avx2();
        int failed = 0;
#pragma omp parallel num_threads(nthreads) if (out_h > 16 && nthreads > 1)
        {
            int32_t *acc = malloc(n * sizeof(int32_t));
            if (!acc) {
#pragma omp atomic write
                failed = 1;
            }
#pragma omp for schedule(static)
            for (int y = 0; y < out_h; y++) {
                if (!acc) continue;
                vertical_row(out->data + (size_t)y * out->stride, src->data, src->stride, n,
                             av.bounds[2 * y], av.bounds[2 * y + 1], av.k + (size_t)y * av.ksize,
                             acc, use_avx2);
            }
            free(acc);
        }
        if (failed) {
            vlm_image_free(out);
            goto oom;
        }
        vlm_image_free(&tmp);
    } else if (need_h) {
        *out = tmp; /* horizontal only: the intermediate is the result */
        memset(&tmp, 0, sizeof tmp);
    } else {
        s = vlm_image_copy(in, out, err);
    }
    goto done;
oom:
    s = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "image resize %dx%d -> %dx%d: out of memory", in->width,
                in->height, out_w, out_h);
done:
    axis_free(&ah);
    axis_free(&av);
    vlm_image_free(&tmp);
    return s;
}

/* NEAREST, Pillow's ImagingScaleAffine: source coordinates advance by repeated double
 * addition from box + step/2 and are truncated; pixels that map outside stay zero. */
static vlm_status resample_nearest(const vlm_image *in, int out_w, int out_h, const float box[4],
                                   vlm_image *out, vlm_error *err) {
    vlm_status s = vlm_image_alloc(out, out_w, out_h, err);
    if (s != VLM_OK) return s;
    int *xin = malloc((size_t)out_w * sizeof(int));
    if (!xin) {
        vlm_image_free(out);
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "image resize: out of memory");
    }
    const double a0 = (double)(box[2] - box[0]) / out_w;
    const double a4 = (double)(box[3] - box[1]) / out_h;
    double xo = (double)box[0] + a0 * 0.5;
    for (int x = 0; x < out_w; x++) {
        int xi = xo < 0.0 ? -1 : (int)xo;
        xin[x] = (xi >= 0 && xi < in->width) ? xi : -1;
        xo += a0;
    }
    double yo = (double)box[1] + a4 * 0.5;
    for (int y = 0; y < out_h; y++) {
        int yi = yo < 0.0 ? -1 : (int)yo;
        uint8_t *dst = out->data + (size_t)y * out->stride;
        if (yi < 0 || yi >= in->height) {
            memset(dst, 0, (size_t)out_w * 3);
        } else {
            const uint8_t *row = in->data + (size_t)yi * in->stride;
            for (int x = 0; x < out_w; x++) {
                if (xin[x] < 0) {
                    dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = 0;
                } else {
                    const uint8_t *p = row + (size_t)xin[x] * 3;
                    dst[3 * x] = p[0];
                    dst[3 * x + 1] = p[1];
                    dst[3 * x + 2] = p[2];
                }
            }
        }
        yo += a4;
    }
    free(xin);
    return VLM_OK;
}

/* One C-level Image.im.resize(size, filter, box) call (_imaging.c's _resize). */
static vlm_status resize_core(const vlm_image *in, int out_w, int out_h, vlm_resample_filter f,
                              const float box[4], int nthreads, int simd, vlm_image *out,
                              vlm_error *err) {
    /* An integral box of exactly the output size is a crop. */
    if (box[0] - (int)box[0] == 0 && box[2] - box[0] == out_w && box[1] - (int)box[1] == 0 &&
        box[3] - box[1] == out_h)
        return vlm_image_crop(in, (int)box[0], (int)box[1], out_w, out_h, out, err);
    if (f == VLM_RESAMPLE_NEAREST) return resample_nearest(in, out_w, out_h, box, out, err);
    return resample_conv(in, out_w, out_h, box, filter_for(f), nthreads, simd, out, err);
}

vlm_resize_params vlm_resize_params_default(vlm_resample_filter filter) {
    vlm_resize_params p;
    memset(&p, 0, sizeof p);
    p.filter = filter;
    p.compat = VLM_PILLOW_CURRENT;
    return p;
}

vlm_status vlm_image_resize(const vlm_image *in, int out_width, int out_height,
                            const vlm_resize_params *params, vlm_image *out, vlm_error *err) {
    memset(out, 0, sizeof *out);
    vlm_resize_params def = vlm_resize_params_default(VLM_RESAMPLE_BICUBIC);
    const vlm_resize_params *p = params ? params : &def;
    if (!in || !in->data || in->width < 1 || in->height < 1 || in->stride < (size_t)in->width * 3)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "image resize: not a valid input image");
    if (out_width < 1 || out_height < 1)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "image resize: output size %dx%d: height and width must be > 0", out_width,
                       out_height);
    if (p->filter != VLM_RESAMPLE_NEAREST && !filter_for(p->filter))
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "image resize: unknown filter %d",
                       (int)p->filter);
    float box[4] = {p->box[0], p->box[1], p->box[2], p->box[3]};
    if (box[0] == 0 && box[1] == 0 && box[2] == 0 && box[3] == 0) {
        box[2] = (float)in->width;
        box[3] = (float)in->height;
    }
    if (!(box[0] >= 0 && box[1] >= 0))
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "image resize: box offset can't be negative");
    if (!(box[2] <= in->width && box[3] <= in->height))
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "image resize: box can't exceed original image size");
    if (!(box[2] - box[0] >= 0 && box[3] - box[1] >= 0))
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "image resize: box can't be empty");
    const int nt = thread_count(p->n_threads);
    const int simd = !p->portable;
    /* Image.resize: same size and whole box is a copy. */
    if (out_width == in->width && out_height == in->height && box[0] == 0 && box[1] == 0 &&
        box[2] == in->width && box[3] == in->height)
        return vlm_image_copy(in, out, err);
    /* Pillow >= 12.2: very tall images that shrink vertically go vertical-first, as two
     * resize calls (the first leaves the width, the second the height). */
    if (p->compat == VLM_PILLOW_CURRENT && (int64_t)in->height > (int64_t)in->width * 100 &&
        out_height < in->height) {
        vlm_image mid;
        float box1[4] = {0, box[1], (float)in->width, box[3]};
        vlm_status s = resize_core(in, in->width, out_height, p->filter, box1, nt, simd, &mid, err);
        if (s != VLM_OK) return s;
        float box2[4] = {box[0], 0, box[2], (float)out_height};
        s = resize_core(&mid, out_width, out_height, p->filter, box2, nt, simd, out, err);
        vlm_image_free(&mid);
        return s;
    }
    return resize_core(in, out_width, out_height, p->filter, box, nt, simd, out, err);
}

const char *vlm_resample_filter_name(vlm_resample_filter filter) {
    switch (filter) {
    case VLM_RESAMPLE_NEAREST:
        return "nearest";
    case VLM_RESAMPLE_LANCZOS:
        return "lanczos";
    case VLM_RESAMPLE_BILINEAR:
        return "bilinear";
    case VLM_RESAMPLE_BICUBIC:
        return "bicubic";
    case VLM_RESAMPLE_BOX:
        return "box";
    case VLM_RESAMPLE_HAMMING:
        return "hamming";
    }
    return NULL;
}

vlm_status vlm_resample_filter_from_pil(int value, vlm_resample_filter *out, vlm_error *err) {
    if (value < 0 || value > 5)
        return vlm_err(err, VLM_ERR_UNSUPPORTED, "resample %d: not a PIL resampling filter (0..5)",
                       value);
    *out = (vlm_resample_filter)value;
    return VLM_OK;
}
