/* Single passes for a few multi-pass numpy expressions of the pipeline, each giving
 * numpy's result exactly (the same IEEE operations on the same values, integer sums).
 *
 * square_cumsum(x, out, clip, scale): per row, the running sum (int64) of
 *   rint(min(x * x, clip) * scale), x float32 squared in float64 (exact): the detector's
 *   fixed-point window sums (detect.Detector._window_sums); scale must be a power of two
 *   and clip * scale below 2^52.
 * hum_offsets(y, block, coef, ahead, grid, stride, sub, peak): per row of y (float64,
 *   finite) and each block of ``block`` samples k, how far each sample stands off the hum
 *   that block's fit predicts, |rint(h * grid) * (1 / grid) - y| with h = coef[k, 0] *
 *   ahead[0] + ... + coef[k, w-1] * ahead[w-1] summed in that order (coef: per row, blocks
 *   x w; ahead: w x block; grid a power of two): the largest of each block into peak, and
 *   every ``stride``-th into sub (per row, blocks x ceil(block / stride)): the hum guard's
 *   test for samples past the hum, and its residual's sigma (dsp.HumGuard.around).
 * group_sums(x, step, out): per row of x (float64), the sum of each group of ``step``
 *   samples (2 <= step <= 8) as dsp.LowBand._sums makes it: x1 + x2 + ... one after another,
 *   then x0 + that.
 * envelopes(cs, h, hf, thresholds, counts, fast, strong, seed, active): per row of the
 *   running sums cs (int64), the window sums around each centre j, slow = cs[j + 2h + 1] -
 *   cs[j] and fast = cs[j + h + hf + 1] - cs[j + h - hf] (into fast), and the comparisons
 *   with the thresholds of the block j falls in (thresholds: per row, blocks x (high, low,
 *   slow); counts: the centres of each block): strong = fast > low, seed = fast > high,
 *   active = strong | slow > slow's (detect.Detector._judge).
 * extents(fast, strong, ch, start, stop, rel2, a, z): per run [start, stop) of row ch of
 *   fast (int64) and strong (bool), the first and last column (into a and z, z one past it)
 *   where strong holds and fast >= max(fast over the run) * rel2, compared in float64 as
 *   numpy compares int64 with float64; False when a run keeps none (a and z then partly
 *   unset): the bursts inside the detector's runs (detect.Detector._extents).
 * ragged(buf, rows, a, z, out, which): the segments buf[rows[i], a[i]:z[i]] (buf float32)
 *   laid end to end in out (float64), and in which the segment each value belongs to
 *   (detect._ragged).
 * hann_angles(size, turn, out): for segments of size[i] samples laid end to end in out
 *   (float64), j * turn / max(size[i] - 1, 1) at the j-th sample of each: the Hann window's
 *   angles as detect.Detector._spectra makes them (float64(j) * turn, then / that).
 * into_frames(x, window, size, start, frames): for segments of size[i] samples laid end to
 *   end in x and window (float64), frames[start[i] + j] = x * window at the j-th sample of
 *   each: the windowed segments in their FFT frames (detect.Detector._spectra).
 * sign_changes(which, sign, out): out[which[i]] += 1 (out float64) wherever which[i] ==
 *   which[i - 1] and sign[i] != sign[i - 1] (which int64 in [0, len(out)), sign bool): per
 *   segment, how often the sign flips within it (detect._changes).
 * top_two(x, values, counts): per row of x (float32, finite, not empty), its largest value
 *   and the largest below it (-inf if none) into values[0, row] (float64, zeros as +0), and
 *   how many samples equal each into counts[0, row]; the same of -x into values[1, row] and
 *   counts[1, row]: the signal checks' extremes (quality.SignalStats.add).
 * moments(x, counts, sums, m2): per row of x (float32), how many samples are finite, their
 *   sum and the sum of their squared deviations from their mean (two passes), in float64:
 *   the signal checks' spread (quality.SignalStats.add). Unlike the others, not numpy's
 *   result to the bit: the sums go in another order.
 * edf_samples(raw, first, record_bytes, bps, spr, lo, shift, gain, out): one signal of EDF
 *   (bps 2: int16) or BDF (bps 3: int24) data records in raw, its samples in each record
 *   starting ``first`` bytes in and ``spr`` of them a record, from sample ``lo`` on:
 *   float32((value + shift) * gain) in float64, edflib's scaling as formats.edf makes it.
 *
 * square_cumsum, hum_offsets, envelopes, top_two, moments and edf_samples have an AVX2 path, chosen at run time where the
 * CPU has it (isa() tells which runs and sets it, for the tests): four values a vector, the
 * same operations on each (the running sums are integer, so their order does not matter).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) /* (64-bit lane extracts) */
#define HAVE_AVX2_CLONE 1
#define AVX2 __attribute__((target("avx2")))
#include <immintrin.h>
#else
#define HAVE_AVX2_CLONE 0
#endif

#include "_isa.h" /* use_avx2, isa_init(), isa(), available() */

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#elif defined(_MSC_VER)
#pragma fp_contract(off)
#endif

/* A 1-D or 2-D buffer whose items are contiguous within a row; 0 or -1 (error set). */
static int
rows_of(PyObject *obj, Py_buffer *v, char kind, Py_ssize_t itemsize, int writable,
        const char *name)
{
    const char *f;
    if (PyObject_GetBuffer(obj, v, PyBUF_STRIDES | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    f = v->format ? v->format : "B";
    if (f[0] == '@' || f[0] == '=' || f[0] == '<')
        f++;
    if (v->ndim < 1 || v->ndim > 2 || v->itemsize != itemsize || f[1] != '\0'
        || (kind == 'i' ? strchr("lq", f[0]) == NULL : f[0] != kind)
        || (v->shape[v->ndim - 1] > 1 && v->strides[v->ndim - 1] != itemsize)) {
        PyErr_Format(PyExc_TypeError, "%s: expected a 1-D or 2-D %s array, contiguous along its rows", name,
                     kind == 'i' ? "int64" : kind == 'f' ? "float32" : kind == '?' ? "bool" : "float64");
        PyBuffer_Release(v);
        return -1;
    }
    return 0;
}

#define TWO52 4503599627370496.0

/* One row of square_cumsum from ``sum`` on. */
static void
square_cumsum_row(const float *x, int64_t *out, Py_ssize_t n, double clip, double scale, int64_t sum)
{
    Py_ssize_t j;
    for (j = 0; j < n; j++) {
        double v = (double)x[j] * (double)x[j];
        if (v > clip) /* (NaN stays NaN, as np.minimum keeps it) */
            v = clip;
        v *= scale;
        /* rint: below 2^52, adding and taking away 2^52 rounds to the nearest integer,
         * ties to even, as rint does (a library call otherwise, without SSE4.1); the
         * values are squares (>= 0) and clip * scale is far below 2^52 */
        sum += (int64_t)(v < TWO52 ? (v + TWO52) - TWO52 : nearbyint(v));
        out[j] = sum;
    }
}

#if HAVE_AVX2_CLONE
/* square_cumsum_row, four values a vector: the rounded value is the bits of v + 2^52 less
 * those of 2^52 (v + 2^52 lies in [2^52, 2^53), where the bits count whole numbers); the
 * running sum within the vector by two shifted adds. A vector with a value not below 2^52
 * (NaN) goes the scalar way. */
AVX2 static void
square_cumsum_avx2(const float *x, int64_t *out, Py_ssize_t n, double clip, double scale)
{
    const __m256d vclip = _mm256_set1_pd(clip), vscale = _mm256_set1_pd(scale), two52 = _mm256_set1_pd(TWO52);
    const __m256i zero = _mm256_setzero_si256();
    int64_t sum = 0;
    Py_ssize_t j;
    for (j = 0; j + 4 <= n; j += 4) {
        __m256d v = _mm256_cvtps_pd(_mm_loadu_ps(x + j));
        __m256i k;
        v = _mm256_mul_pd(v, v);
        v = _mm256_mul_pd(_mm256_min_pd(vclip, v), vscale); /* (min_pd gives its second operand for NaN) */
        if (_mm256_movemask_pd(_mm256_cmp_pd(v, two52, _CMP_LT_OQ)) != 0xF) {
            square_cumsum_row(x + j, out + j, 4, clip, scale, sum);
            sum = out[j + 3];
            continue;
        }
        k = _mm256_sub_epi64(_mm256_castpd_si256(_mm256_add_pd(v, two52)), _mm256_castpd_si256(two52));
        k = _mm256_add_epi64(k, _mm256_blend_epi32(_mm256_permute4x64_epi64(k, 0x90), zero, 0x03));
        k = _mm256_add_epi64(k, _mm256_blend_epi32(_mm256_permute4x64_epi64(k, 0x40), zero, 0x0F));
        /* (the sum so far as a scalar: the only dependence from one vector to the next) */
        _mm256_storeu_si256((__m256i *)(out + j), _mm256_add_epi64(k, _mm256_set1_epi64x(sum)));
        sum += _mm256_extract_epi64(k, 3);
    }
    square_cumsum_row(x + j, out + j, n - j, clip, scale, sum);
}
#endif

static PyObject *
square_cumsum(PyObject *self, PyObject *args)
{
    PyObject *x_obj, *o_obj;
    Py_buffer x, o;
    double clip, scale;
    Py_ssize_t rows, n, xs, os, r;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOdd:square_cumsum", &x_obj, &o_obj, &clip, &scale))
        return NULL;
    if (rows_of(x_obj, &x, 'f', 4, 0, "x") < 0)
        return NULL;
    if (rows_of(o_obj, &o, 'i', 8, 1, "out") < 0) {
        PyBuffer_Release(&x);
        return NULL;
    }
    if (x.ndim != o.ndim || x.shape[0] != o.shape[0] || (x.ndim == 2 && x.shape[1] != o.shape[1])) {
        PyErr_SetString(PyExc_ValueError, "out must have x's shape");
        PyBuffer_Release(&x);
        PyBuffer_Release(&o);
        return NULL;
    }
    rows = x.ndim == 2 ? x.shape[0] : 1;
    n = x.shape[x.ndim - 1];
    xs = x.ndim == 2 ? x.strides[0] : 0;
    os = o.ndim == 2 ? o.strides[0] : 0;
    Py_BEGIN_ALLOW_THREADS
    for (r = 0; r < rows; r++) {
        const float *xr = (const float *)((const char *)x.buf + r * xs);
        int64_t *orow = (int64_t *)((char *)o.buf + r * os);
#if HAVE_AVX2_CLONE
        if (use_avx2) {
            square_cumsum_avx2(xr, orow, n, clip, scale);
            continue;
        }
#endif
        square_cumsum_row(xr, orow, n, clip, scale, 0);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&x);
    PyBuffer_Release(&o);
    Py_RETURN_NONE;
}

/* Per row of y: the blocks of ``block`` (or groups of ``step``) samples in out; 0 or -1. */
static int
blocked(PyObject *y_obj, Py_buffer *y, Py_ssize_t block, PyObject *o_obj, Py_buffer *o,
        const char *name)
{
    if (rows_of(y_obj, y, 'd', 8, 0, "x") < 0)
        return -1;
    if (rows_of(o_obj, o, 'd', 8, 1, "out") < 0) {
        PyBuffer_Release(y);
        return -1;
    }
    if (block < 1 || y->ndim != o->ndim || (y->ndim == 2 && o->shape[0] != y->shape[0])
        || y->shape[y->ndim - 1] != o->shape[o->ndim - 1] * block) {
        PyErr_Format(PyExc_ValueError, "%s: x must hold out's blocks exactly, row by row", name);
        PyBuffer_Release(y);
        PyBuffer_Release(o);
        return -1;
    }
    return 0;
}

#define ROUNDER 6755399441055744.0 /* 1.5 x 2^52: (v + it) - it is rint(v) for |v| < 2^51 */

/* One block of hum_offsets from sample j on: the offsets into o, their largest returned. */
static double
hum_offsets_block(const double *y, const double *c, const double *a, Py_ssize_t width,
                  Py_ssize_t block, double grid, double *o, Py_ssize_t j, double m)
{
    const double inv = 1.0 / grid;
    for (; j < block; j++) {
        double h = c[0] * a[j], v;
        Py_ssize_t i;
        for (i = 1; i < width; i++)
            h = h + c[i] * a[i * block + j];
        v = h * grid;
        v = fabs(v) < 2251799813685248.0 ? (v + ROUNDER) - ROUNDER : nearbyint(v);
        v = fabs(v * inv - y[j]);
        o[j] = v;
        m = v > m ? v : m;
    }
    return m;
}

#if HAVE_AVX2_CLONE
/* hum_offsets_block, four samples a vector (the same operations in the same order). */
AVX2 static double
hum_offsets_avx2(const double *y, const double *c, const double *a, Py_ssize_t width,
                 Py_ssize_t block, double grid, double *o)
{
    const __m256d vgrid = _mm256_set1_pd(grid), vinv = _mm256_set1_pd(1.0 / grid), sign = _mm256_set1_pd(-0.0);
    __m256d vm = _mm256_setzero_pd();
    double lanes[4], m;
    Py_ssize_t j, i;
    for (j = 0; j + 4 <= block; j += 4) {
        __m256d h = _mm256_mul_pd(_mm256_set1_pd(c[0]), _mm256_loadu_pd(a + j)), v;
        for (i = 1; i < width; i++)
            h = _mm256_add_pd(h, _mm256_mul_pd(_mm256_set1_pd(c[i]), _mm256_loadu_pd(a + i * block + j)));
        v = _mm256_round_pd(_mm256_mul_pd(h, vgrid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        v = _mm256_andnot_pd(sign, _mm256_sub_pd(_mm256_mul_pd(v, vinv), _mm256_loadu_pd(y + j)));
        _mm256_storeu_pd(o + j, v);
        vm = _mm256_max_pd(vm, v);
    }
    _mm256_storeu_pd(lanes, vm);
    m = lanes[0] > lanes[1] ? lanes[0] : lanes[1];
    m = lanes[2] > m ? lanes[2] : m;
    m = lanes[3] > m ? lanes[3] : m;
    return hum_offsets_block(y, c, a, width, block, grid, o, j, m);
}
#endif

static PyObject *
hum_offsets(PyObject *self, PyObject *args)
{
    PyObject *y_obj, *c_obj, *a_obj, *s_obj, *p_obj;
    Py_buffer y, c, a, sb, p;
    Py_ssize_t block, stride, width, rows, blocks, nsub, r, k, j;
    double grid, *tmp;
    int ok;
    (void)self;
    if (!PyArg_ParseTuple(args, "OnOOdnOO:hum_offsets", &y_obj, &block, &c_obj, &a_obj, &grid, &stride, &s_obj, &p_obj))
        return NULL;
    if (blocked(y_obj, &y, block, p_obj, &p, "hum_offsets") < 0)
        return NULL;
    if (rows_of(c_obj, &c, 'd', 8, 0, "coef") < 0) {
        PyBuffer_Release(&y);
        PyBuffer_Release(&p);
        return NULL;
    }
    if (rows_of(a_obj, &a, 'd', 8, 0, "ahead") < 0) {
        PyBuffer_Release(&y);
        PyBuffer_Release(&p);
        PyBuffer_Release(&c);
        return NULL;
    }
    if (rows_of(s_obj, &sb, 'd', 8, 1, "sub") < 0) {
        PyBuffer_Release(&y);
        PyBuffer_Release(&p);
        PyBuffer_Release(&c);
        PyBuffer_Release(&a);
        return NULL;
    }
    rows = y.ndim == 2 ? y.shape[0] : 1;
    blocks = p.shape[p.ndim - 1];
    width = a.ndim == 2 ? a.shape[0] : 0;
    nsub = stride > 0 ? (block + stride - 1) / stride : 0;
    ok = stride > 0 && a.ndim == 2 && width > 0 && a.shape[1] == block && a.strides[0] == block * 8
         && c.ndim == y.ndim && (c.ndim == 1 || c.shape[0] == rows) && c.shape[c.ndim - 1] == blocks * width
         && sb.ndim == y.ndim && (sb.ndim == 1 || sb.shape[0] == rows) && sb.shape[sb.ndim - 1] == blocks * nsub;
    tmp = ok ? (double *)PyMem_RawMalloc(block * sizeof(double)) : NULL;
    if (!ok)
        PyErr_SetString(PyExc_ValueError, "hum_offsets: ahead must be width x block (contiguous), coef per row "
                                          "blocks x width, sub per row blocks x ceil(block / stride)");
    else if (tmp == NULL)
        PyErr_NoMemory();
    else {
        Py_BEGIN_ALLOW_THREADS
        for (r = 0; r < rows; r++) {
            const double *yr = (const double *)((const char *)y.buf + r * (y.ndim == 2 ? y.strides[0] : 0));
            const double *cr = (const double *)((const char *)c.buf + r * (c.ndim == 2 ? c.strides[0] : 0));
            double *srow = (double *)((char *)sb.buf + r * (sb.ndim == 2 ? sb.strides[0] : 0));
            double *prow = (double *)((char *)p.buf + r * (p.ndim == 2 ? p.strides[0] : 0));
            for (k = 0; k < blocks; k++) {
                double *o = stride == 1 ? srow + k * nsub : tmp;
#if HAVE_AVX2_CLONE
                if (use_avx2)
                    prow[k] = hum_offsets_avx2(yr + k * block, cr + k * width, (const double *)a.buf, width,
                                               block, grid, o);
                else
#endif
                    prow[k] = hum_offsets_block(yr + k * block, cr + k * width, (const double *)a.buf, width,
                                                block, grid, o, 0, 0.0);
                if (stride > 1)
                    for (j = 0; j < nsub; j++)
                        srow[k * nsub + j] = tmp[j * stride];
            }
        }
        Py_END_ALLOW_THREADS
    }
    PyMem_RawFree(tmp);
    PyBuffer_Release(&y);
    PyBuffer_Release(&p);
    PyBuffer_Release(&c);
    PyBuffer_Release(&a);
    PyBuffer_Release(&sb);
    if (!ok || tmp == NULL)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
group_sums(PyObject *self, PyObject *args)
{
    PyObject *x_obj, *o_obj;
    Py_buffer x, o;
    Py_ssize_t step, rows, groups, r, k, j;
    (void)self;
    if (!PyArg_ParseTuple(args, "OnO:group_sums", &x_obj, &step, &o_obj))
        return NULL;
    if (step < 2 || step > 8) {
        PyErr_SetString(PyExc_ValueError, "group_sums: step must be 2 to 8");
        return NULL;
    }
    if (blocked(x_obj, &x, step, o_obj, &o, "group_sums") < 0)
        return NULL;
    rows = x.ndim == 2 ? x.shape[0] : 1;
    groups = o.shape[o.ndim - 1];
    Py_BEGIN_ALLOW_THREADS
    for (r = 0; r < rows; r++) {
        const double *xr = (const double *)((const char *)x.buf + r * (x.ndim == 2 ? x.strides[0] : 0));
        double *orow = (double *)((char *)o.buf + r * (o.ndim == 2 ? o.strides[0] : 0));
        for (k = 0; k < groups; k++) {
            const double *g = xr + k * step;
            double rest = g[1];
            for (j = 2; j < step; j++)
                rest += g[j];
            orow[k] = g[0] + rest;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&x);
    PyBuffer_Release(&o);
    Py_RETURN_NONE;
}

/* Row r of a 2-D buffer (or the 1-D one). */
#define ROW(v, T, r) ((T *)((char *)(v).buf + (r) * ((v).ndim == 2 ? (v).strides[0] : 0)))

/* envelopes' centres [j, e) of one row, all judged by the thresholds t (high, low, slow). */
static void
envelopes_run(const int64_t *cs, Py_ssize_t h, Py_ssize_t hf, const int64_t *t, Py_ssize_t j, Py_ssize_t e,
              int64_t *fast, char *strong, char *seed, char *active)
{
    const int64_t high = t[0], low = t[1], slow_t = t[2];
    const int64_t *f1 = cs + h + hf + 1, *f0 = cs + h - hf, *s1 = cs + 2 * h + 1;
    for (; j < e; j++) { /* (no branches) */
        int64_t f = f1[j] - f0[j];
        fast[j] = f;
        strong[j] = (char)(f > low);
        seed[j] = (char)(f > high);
        active[j] = (char)((f > low) | (s1[j] - cs[j] > slow_t));
    }
}

#if HAVE_AVX2_CLONE
/* envelopes_run, four centres a vector: each comparison's four lanes as a 4-bit mask,
 * spread to four bytes of 0 or 1 by a table. */
AVX2 static void
envelopes_avx2(const int64_t *cs, Py_ssize_t h, Py_ssize_t hf, const int64_t *t, Py_ssize_t j, Py_ssize_t e,
               int64_t *fast, char *strong, char *seed, char *active)
{
    static const uint32_t spread[16] = {
        0x00000000, 0x00000001, 0x00000100, 0x00000101, 0x00010000, 0x00010001, 0x00010100, 0x00010101,
        0x01000000, 0x01000001, 0x01000100, 0x01000101, 0x01010000, 0x01010001, 0x01010100, 0x01010101};
    const __m256i high = _mm256_set1_epi64x(t[0]), low = _mm256_set1_epi64x(t[1]), slow_t = _mm256_set1_epi64x(t[2]);
    const int64_t *f1 = cs + h + hf + 1, *f0 = cs + h - hf, *s1 = cs + 2 * h + 1;
    for (; j + 4 <= e; j += 4) {
        __m256i f = _mm256_sub_epi64(_mm256_loadu_si256((const __m256i *)(f1 + j)),
                                     _mm256_loadu_si256((const __m256i *)(f0 + j)));
        __m256i slow = _mm256_sub_epi64(_mm256_loadu_si256((const __m256i *)(s1 + j)),
                                        _mm256_loadu_si256((const __m256i *)(cs + j)));
        int is_strong = _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(f, low)));
        int is_seed = _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(f, high)));
        int is_slow = _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(slow, slow_t)));
        _mm256_storeu_si256((__m256i *)(fast + j), f);
        memcpy(strong + j, &spread[is_strong], 4);
        memcpy(seed + j, &spread[is_seed], 4);
        memcpy(active + j, &spread[is_strong | is_slow], 4);
    }
    envelopes_run(cs, h, hf, t, j, e, fast, strong, seed, active);
}
#endif

/* Release the first ``got`` views of ``v``: None when ``ok``, else NULL (the error is set). */
static PyObject *
release(Py_buffer *v, Py_ssize_t got, int ok)
{
    while (got-- > 0)
        PyBuffer_Release(&v[got]);
    if (!ok)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
envelopes(PyObject *self, PyObject *args)
{
    PyObject *obj[7];
    Py_buffer v[7]; /* cs, thresholds, counts, fast, strong, seed, active */
    static const char kinds[] = "iiii???", *names[] = {"cs", "thresholds", "counts", "fast",
                                                       "strong", "seed", "active"};
    Py_ssize_t h, hf, rows, n, blocks, total, r, k, j, got = 0;
    int ok = 1;
    (void)self;
    if (!PyArg_ParseTuple(args, "OnnOOOOOO:envelopes", &obj[0], &h, &hf, &obj[1], &obj[2], &obj[3],
                          &obj[4], &obj[5], &obj[6]))
        return NULL;
    for (; got < 7; got++)
        if (rows_of(obj[got], &v[got], kinds[got], got < 4 ? 8 : 1, got >= 3,
                    names[got]) < 0) {
            ok = 0;
            break;
        }
    if (ok) {
        rows = v[0].ndim == 2 ? v[0].shape[0] : 1;
        n = v[3].shape[v[3].ndim - 1];
        blocks = v[2].shape[v[2].ndim - 1];
        for (k = 0, total = 0; k < blocks; k++)
            total += ((const int64_t *)v[2].buf)[k];
        for (k = 0; k < 7; k++)
            if (k != 2 && (v[k].ndim != v[0].ndim || (v[k].ndim == 2 && v[k].shape[0] != rows)))
                ok = 0;
        for (k = 4; k < 7; k++)
            ok &= v[k].shape[v[k].ndim - 1] == n;
        if (!ok || h < hf || hf < 0 || v[2].ndim != 1 || total != n || v[0].shape[v[0].ndim - 1] != n + 2 * h + 1
            || v[1].shape[v[1].ndim - 1] != 3 * blocks) {
            PyErr_SetString(PyExc_ValueError, "envelopes: the arrays' shapes do not fit together");
            ok = 0;
        }
    }
    if (ok) {
        Py_BEGIN_ALLOW_THREADS
        for (r = 0; r < rows; r++) {
            const int64_t *cs = ROW(v[0], const int64_t, r), *t = ROW(v[1], const int64_t, r);
            const int64_t *counts = (const int64_t *)v[2].buf;
            int64_t *fast = ROW(v[3], int64_t, r);
            char *strong = ROW(v[4], char, r), *seed = ROW(v[5], char, r), *active = ROW(v[6], char, r);
            for (k = 0, j = 0; k < blocks; j += counts[k], k++, t += 3) {
#if HAVE_AVX2_CLONE
                if (use_avx2) {
                    envelopes_avx2(cs, h, hf, t, j, j + counts[k], fast, strong, seed, active);
                    continue;
                }
#endif
                envelopes_run(cs, h, hf, t, j, j + counts[k], fast, strong, seed, active);
            }
        }
        Py_END_ALLOW_THREADS
    }
    return release(v, got, ok);
}

static PyObject *
extents(PyObject *self, PyObject *args)
{
    PyObject *obj[7];
    Py_buffer v[7]; /* fast, strong, ch, start, stop, a, z */
    static const char kinds[] = "i?iiiii", *names[] = {"fast", "strong", "ch", "start", "stop", "a", "z"};
    double rel2;
    Py_ssize_t rows, cols, n = 0, i, got = 0;
    int ok = 1, kept = 1;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOOOOdOO:extents", &obj[0], &obj[1], &obj[2], &obj[3], &obj[4], &rel2, &obj[5],
                          &obj[6]))
        return NULL;
    for (; got < 7; got++)
        if (rows_of(obj[got], &v[got], kinds[got], got == 1 ? 1 : 8, got >= 5, names[got]) < 0) {
            ok = 0;
            break;
        }
    if (ok) {
        rows = v[0].ndim == 2 ? v[0].shape[0] : 1;
        cols = v[0].shape[v[0].ndim - 1];
        n = v[2].shape[0];
        ok = v[1].ndim == v[0].ndim && (v[1].ndim == 1 || v[1].shape[0] == rows) && v[1].shape[v[1].ndim - 1] == cols;
        for (i = 2; i < 7; i++)
            ok &= v[i].ndim == 1 && v[i].shape[0] == n;
        for (i = 0; ok && i < n; i++) {
            int64_t c = ((const int64_t *)v[2].buf)[i], a = ((const int64_t *)v[3].buf)[i];
            int64_t e = ((const int64_t *)v[4].buf)[i];
            ok = c >= 0 && c < rows && a >= 0 && a < e && e <= cols;
        }
        if (!ok)
            PyErr_SetString(PyExc_ValueError, "extents: a run lies outside the buffers (or the shapes differ)");
    }
    if (ok) {
        Py_BEGIN_ALLOW_THREADS
        for (i = 0; i < n && kept; i++) {
            const int64_t c = ((const int64_t *)v[2].buf)[i], a = ((const int64_t *)v[3].buf)[i];
            const int64_t e = ((const int64_t *)v[4].buf)[i];
            const int64_t *f = ROW(v[0], const int64_t, c);
            const char *strong = ROW(v[1], const char, c);
            int64_t peak = f[a], j, k;
            double least;
            for (j = a + 1; j < e; j++)
                peak = f[j] > peak ? f[j] : peak;
            least = (double)peak * rel2;
            for (j = a; j < e && !(strong[j] && (double)f[j] >= least); j++)
                ;
            for (k = e - 1; k >= j && !(strong[k] && (double)f[k] >= least); k--)
                ;
            kept = j < e;
            ((int64_t *)v[5].buf)[i] = j;
            ((int64_t *)v[6].buf)[i] = k + 1;
        }
        Py_END_ALLOW_THREADS
    }
    while (got-- > 0)
        PyBuffer_Release(&v[got]);
    if (!ok)
        return NULL;
    return PyBool_FromLong(kept);
}

static PyObject *
ragged(PyObject *self, PyObject *args)
{
    PyObject *obj[6];
    Py_buffer v[6]; /* buf, rows, a, z, out, which */
    static const char kinds[] = "fiiidi", *names[] = {"buf", "rows", "a", "z", "out", "which"};
    Py_ssize_t n_rows, width, n = 0, total = 0, i, got = 0;
    int ok = 1;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOOOOO:ragged", &obj[0], &obj[1], &obj[2], &obj[3], &obj[4], &obj[5]))
        return NULL;
    for (; got < 6; got++)
        if (rows_of(obj[got], &v[got], kinds[got], got == 0 ? 4 : 8, got >= 4, names[got]) < 0) {
            ok = 0;
            break;
        }
    if (ok) {
        n_rows = v[0].ndim == 2 ? v[0].shape[0] : 1;
        width = v[0].shape[v[0].ndim - 1];
        n = v[1].shape[0];
        for (i = 1; i < 6; i++)
            ok &= v[i].ndim == 1 && (i >= 4 || v[i].shape[0] == n);
        for (i = 0; ok && i < n; i++) {
            int64_t r = ((const int64_t *)v[1].buf)[i], a = ((const int64_t *)v[2].buf)[i];
            int64_t e = ((const int64_t *)v[3].buf)[i];
            ok = r >= 0 && r < n_rows && a >= 0 && a <= e && e <= width;
            total += e - a;
        }
        ok &= v[4].shape[0] == total && v[5].shape[0] == total;
        if (!ok)
            PyErr_SetString(PyExc_ValueError, "ragged: a segment lies outside buf, or out and which do not hold them");
    }
    if (ok) {
        double *out = (double *)v[4].buf;
        int64_t *which = (int64_t *)v[5].buf;
        Py_BEGIN_ALLOW_THREADS
        for (i = 0; i < n; i++) {
            int64_t a = ((const int64_t *)v[2].buf)[i], e = ((const int64_t *)v[3].buf)[i], j;
            const float *row = ROW(v[0], const float, ((const int64_t *)v[1].buf)[i]);
            for (j = a; j < e; j++, out++, which++) {
                *out = (double)row[j];
                *which = i;
            }
        }
        Py_END_ALLOW_THREADS
    }
    return release(v, got, ok);
}

/* The segments' sizes (int64, each >= 0) against the length of the values they lay end to
 * end: their total, or -1 when it differs from ``n`` (error set). */
static Py_ssize_t
segments_total(const Py_buffer *size, Py_ssize_t n, const char *name)
{
    Py_ssize_t i, total = 0;
    for (i = 0; i < size->shape[0]; i++) {
        int64_t s = ((const int64_t *)size->buf)[i];
        if (s < 0)
            break;
        total += s;
    }
    if (i < size->shape[0] || total != n) {
        PyErr_Format(PyExc_ValueError, "%s: the segments' sizes do not add up to the values", name);
        return -1;
    }
    return total;
}

static PyObject *
hann_angles(PyObject *self, PyObject *args)
{
    PyObject *s_obj, *o_obj;
    Py_buffer sz, o;
    double turn;
    Py_ssize_t i;
    (void)self;
    if (!PyArg_ParseTuple(args, "OdO:hann_angles", &s_obj, &turn, &o_obj))
        return NULL;
    if (rows_of(s_obj, &sz, 'i', 8, 0, "size") < 0)
        return NULL;
    if (rows_of(o_obj, &o, 'd', 8, 1, "out") < 0) {
        PyBuffer_Release(&sz);
        return NULL;
    }
    if (sz.ndim != 1 || o.ndim != 1 || segments_total(&sz, o.shape[0], "hann_angles") < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "hann_angles: size and out must be 1-D");
        PyBuffer_Release(&sz);
        PyBuffer_Release(&o);
        return NULL;
    }
    {
        double *out = (double *)o.buf;
        Py_BEGIN_ALLOW_THREADS
        for (i = 0; i < sz.shape[0]; i++) {
            int64_t n = ((const int64_t *)sz.buf)[i], j;
            double span = (double)(n - 1 > 1 ? n - 1 : 1);
            for (j = 0; j < n; j++)
                *out++ = (double)j * turn / span;
        }
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&sz);
    PyBuffer_Release(&o);
    Py_RETURN_NONE;
}

static PyObject *
into_frames(PyObject *self, PyObject *args)
{
    PyObject *obj[5];
    Py_buffer v[5]; /* x, window, size, start, frames */
    static const char kinds[] = "ddiid", *names[] = {"x", "window", "size", "start", "frames"};
    Py_ssize_t n = 0, i, got = 0;
    int ok = 1;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOOOO:into_frames", &obj[0], &obj[1], &obj[2], &obj[3], &obj[4]))
        return NULL;
    for (; got < 5; got++)
        if (rows_of(obj[got], &v[got], kinds[got], 8, got == 4, names[got]) < 0) {
            ok = 0;
            break;
        }
    if (ok) {
        for (i = 0; i < 5; i++)
            ok &= v[i].ndim == 1;
        ok = ok && v[1].shape[0] == v[0].shape[0] && v[3].shape[0] == v[2].shape[0];
        if (!ok)
            PyErr_SetString(PyExc_ValueError, "into_frames: x and window, size and start must be alike (1-D)");
        else if (segments_total(&v[2], v[0].shape[0], "into_frames") < 0)
            ok = 0;
        for (i = 0, n = v[2].shape[0]; ok && i < n; i++) {
            int64_t s = ((const int64_t *)v[3].buf)[i];
            ok = s >= 0 && s + ((const int64_t *)v[2].buf)[i] <= v[4].shape[0];
            if (!ok)
                PyErr_SetString(PyExc_ValueError, "into_frames: a segment lies outside frames");
        }
    }
    if (ok) {
        const double *x = (const double *)v[0].buf, *w = (const double *)v[1].buf;
        double *frames = (double *)v[4].buf;
        Py_BEGIN_ALLOW_THREADS
        for (i = 0; i < n; i++) {
            int64_t size = ((const int64_t *)v[2].buf)[i], j;
            double *f = frames + ((const int64_t *)v[3].buf)[i];
            for (j = 0; j < size; j++)
                f[j] = *x++ * *w++;
        }
        Py_END_ALLOW_THREADS
    }
    return release(v, got, ok);
}

static PyObject *
sign_changes(PyObject *self, PyObject *args)
{
    PyObject *w_obj, *s_obj, *o_obj;
    Py_buffer w, sg, o;
    Py_ssize_t n, m, i;
    int ok = 1;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOO:sign_changes", &w_obj, &s_obj, &o_obj))
        return NULL;
    if (rows_of(w_obj, &w, 'i', 8, 0, "which") < 0)
        return NULL;
    if (rows_of(s_obj, &sg, '?', 1, 0, "sign") < 0) {
        PyBuffer_Release(&w);
        return NULL;
    }
    if (rows_of(o_obj, &o, 'd', 8, 1, "out") < 0) {
        PyBuffer_Release(&w);
        PyBuffer_Release(&sg);
        return NULL;
    }
    n = w.shape[0], m = o.shape[0];
    ok = w.ndim == 1 && sg.ndim == 1 && o.ndim == 1 && sg.shape[0] == n;
    if (ok && n > 0) {
        const int64_t *which = (const int64_t *)w.buf;
        int64_t lo = which[0], hi = which[0];
        for (i = 1; i < n; i++) {
            lo = which[i] < lo ? which[i] : lo;
            hi = which[i] > hi ? which[i] : hi;
        }
        ok = lo >= 0 && hi < m;
    }
    if (!ok)
        PyErr_SetString(PyExc_ValueError, "sign_changes: which and sign must be alike, which within out");
    else if (n > 0) { /* flips counted per run of one segment, added to it when the run ends */
        const int64_t *which = (const int64_t *)w.buf;
        const char *sign = (const char *)sg.buf;
        double *out = (double *)o.buf;
        int64_t now = which[0], flips = 0;
        for (i = 1; i < n; i++) {
            if (which[i] != now) {
                out[now] += (double)flips;
                now = which[i], flips = 0;
                continue;
            }
            flips += (sign[i] != 0) != (sign[i - 1] != 0);
        }
        out[now] += (double)flips;
    }
    PyBuffer_Release(&w);
    PyBuffer_Release(&sg);
    PyBuffer_Release(&o);
    if (!ok)
        return NULL;
    Py_RETURN_NONE;
}

/* top_two of one row: hi[0..1] the largest two distinct values, lo[0..1] the smallest two,
 * with their counts (the first pass: the extremes; the second: their counts and the next
 * value inward; the third: its count). */
static void
top_two_row(const float *x, Py_ssize_t n, float *hi, float *lo, int64_t *n_hi, int64_t *n_lo)
{
    float a = x[0], b = x[0], a2 = -INFINITY, b2 = INFINITY;
    int64_t na = 0, nb = 0, na2 = 0, nb2 = 0;
    Py_ssize_t j;
    for (j = 1; j < n; j++) {
        a = x[j] > a ? x[j] : a;
        b = x[j] < b ? x[j] : b;
    }
    for (j = 0; j < n; j++) {
        na += x[j] == a;
        nb += x[j] == b;
        a2 = x[j] != a && x[j] > a2 ? x[j] : a2;
        b2 = x[j] != b && x[j] < b2 ? x[j] : b2;
    }
    for (j = 0; j < n; j++) {
        na2 += x[j] == a2;
        nb2 += x[j] == b2;
    }
    hi[0] = a, hi[1] = a2, lo[0] = b, lo[1] = b2;
    n_hi[0] = na, n_hi[1] = na2, n_lo[0] = nb, n_lo[1] = nb2;
}

#if HAVE_AVX2_CLONE
/* Eight counts of int32 lanes as one int64 sum. */
AVX2 static int64_t
lanes_sum(__m256i v)
{
    int32_t c[8];
    int64_t total = 0;
    int i;
    _mm256_storeu_si256((__m256i *)c, v);
    for (i = 0; i < 8; i++)
        total += c[i];
    return total;
}

/* One value of eight lanes by op (max or min); the lanes' extremes are equal values. */
#define LANES_REDUCE(v, op, out)                                                                \
    do {                                                                                        \
        float l_[8];                                                                            \
        int i_;                                                                                 \
        _mm256_storeu_ps(l_, (v));                                                              \
        (out) = l_[0];                                                                          \
        for (i_ = 1; i_ < 8; i_++)                                                              \
            (out) = op((out), l_[i_]);                                                          \
    } while (0)
#define MAX_OF(p, q) ((q) > (p) ? (q) : (p))
#define MIN_OF(p, q) ((q) < (p) ? (q) : (p))

/* top_two_row, eight samples a vector (the samples after the last whole eight, and the
 * lanes, combined as the scalar code does: equal values, the same counts; counts in int32
 * lanes, at most 2^28 samples a call). */
AVX2 static void
top_two_avx2(const float *x, Py_ssize_t n, float *hi, float *lo, int64_t *n_hi, int64_t *n_lo)
{
    Py_ssize_t m = n & ~(Py_ssize_t)7, j;
    __m256 va, vb, va2 = _mm256_set1_ps(-INFINITY), vb2 = _mm256_set1_ps(INFINITY), a_, b_, a2_, b2_;
    __m256i na = _mm256_setzero_si256(), nb = na, na2 = na, nb2 = na;
    float a, b, a2, b2;
    if (m == 0 || n > (1 << 28)) {
        top_two_row(x, n, hi, lo, n_hi, n_lo);
        return;
    }
    va = vb = _mm256_loadu_ps(x);
    for (j = 8; j < m; j += 8) {
        __m256 v = _mm256_loadu_ps(x + j);
        va = _mm256_max_ps(va, v);
        vb = _mm256_min_ps(vb, v);
    }
    LANES_REDUCE(va, MAX_OF, a);
    LANES_REDUCE(vb, MIN_OF, b);
    for (j = m; j < n; j++) {
        a = MAX_OF(a, x[j]);
        b = MIN_OF(b, x[j]);
    }
    a_ = _mm256_set1_ps(a), b_ = _mm256_set1_ps(b);
    for (j = 0; j < m; j += 8) { /* a lane equal to the extreme is left out by blending in -inf (+inf) */
        __m256 v = _mm256_loadu_ps(x + j), at_a = _mm256_cmp_ps(v, a_, _CMP_EQ_OQ), at_b = _mm256_cmp_ps(v, b_, _CMP_EQ_OQ);
        na = _mm256_sub_epi32(na, _mm256_castps_si256(at_a));
        nb = _mm256_sub_epi32(nb, _mm256_castps_si256(at_b));
        va2 = _mm256_max_ps(va2, _mm256_blendv_ps(v, _mm256_set1_ps(-INFINITY), at_a));
        vb2 = _mm256_min_ps(vb2, _mm256_blendv_ps(v, _mm256_set1_ps(INFINITY), at_b));
    }
    LANES_REDUCE(va2, MAX_OF, a2);
    LANES_REDUCE(vb2, MIN_OF, b2);
    n_hi[0] = lanes_sum(na), n_lo[0] = lanes_sum(nb);
    for (j = m; j < n; j++) {
        n_hi[0] += x[j] == a;
        n_lo[0] += x[j] == b;
        a2 = x[j] != a && x[j] > a2 ? x[j] : a2;
        b2 = x[j] != b && x[j] < b2 ? x[j] : b2;
    }
    a2_ = _mm256_set1_ps(a2), b2_ = _mm256_set1_ps(b2);
    for (j = 0; j < m; j += 8) {
        __m256 v = _mm256_loadu_ps(x + j);
        na2 = _mm256_sub_epi32(na2, _mm256_castps_si256(_mm256_cmp_ps(v, a2_, _CMP_EQ_OQ)));
        nb2 = _mm256_sub_epi32(nb2, _mm256_castps_si256(_mm256_cmp_ps(v, b2_, _CMP_EQ_OQ)));
    }
    n_hi[1] = lanes_sum(na2), n_lo[1] = lanes_sum(nb2);
    for (j = m; j < n; j++) {
        n_hi[1] += x[j] == a2;
        n_lo[1] += x[j] == b2;
    }
    hi[0] = a, hi[1] = a2, lo[0] = b, lo[1] = b2;
}
#endif

static PyObject *
top_two(PyObject *self, PyObject *args)
{
    PyObject *x_obj, *v_obj, *c_obj;
    Py_buffer x, v, c;
    Py_ssize_t rows, n, r;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOO:top_two", &x_obj, &v_obj, &c_obj))
        return NULL;
    if (rows_of(x_obj, &x, 'f', 4, 0, "x") < 0)
        return NULL;
    if (PyObject_GetBuffer(v_obj, &v, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&x);
        return NULL;
    }
    if (PyObject_GetBuffer(c_obj, &c, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&x);
        PyBuffer_Release(&v);
        return NULL;
    }
    rows = x.ndim == 2 ? x.shape[0] : 1;
    n = x.shape[x.ndim - 1];
    if (n < 1 || v.itemsize != 8 || c.itemsize != 8 || v.len != 4 * rows * 8 || c.len != 4 * rows * 8
        || strchr("d", v.format ? v.format[strlen(v.format) - 1] : 'B') == NULL
        || strchr("lq", c.format ? c.format[strlen(c.format) - 1] : 'B') == NULL) {
        PyErr_SetString(PyExc_ValueError,
                        "top_two: x must hold samples; values (float64) and counts (int64) 2 x rows x 2 each");
        PyBuffer_Release(&x);
        PyBuffer_Release(&v);
        PyBuffer_Release(&c);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    for (r = 0; r < rows; r++) {
        const float *xr = ROW(x, const float, r);
        double *hi = (double *)v.buf + 2 * r, *lo = (double *)v.buf + 2 * (rows + r);
        int64_t *n_hi = (int64_t *)c.buf + 2 * r, *n_lo = (int64_t *)c.buf + 2 * (rows + r);
        float h[2], l[2];
#if HAVE_AVX2_CLONE
        if (use_avx2)
            top_two_avx2(xr, n, h, l, n_hi, n_lo);
        else
#endif
            top_two_row(xr, n, h, l, n_hi, n_lo);
        /* (+ 0.0f: a zero as +0, whichever zero came first) */
        hi[0] = (double)(h[0] + 0.0f), hi[1] = (double)(h[1] + 0.0f);
        lo[0] = (double)(0.0f - l[0]), lo[1] = (double)(0.0f - l[1]);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&x);
    PyBuffer_Release(&v);
    PyBuffer_Release(&c);
    Py_RETURN_NONE;
}

/* moments' first pass over one row: the sum of its finite samples, their number in *k. */
static double
finite_sum(const float *x, Py_ssize_t n, int64_t *k)
{
    double sum = 0.0;
    Py_ssize_t j;
    for (j = 0; j < n; j++)
        if (isfinite(x[j])) {
            sum += x[j];
            ++*k;
        }
    return sum;
}

/* moments' second pass: the sum of (x - mean)^2 over the finite samples (in float64 a
 * finite sample's square is finite, a non-finite one's is not). */
static double
squared_deviations(const float *x, Py_ssize_t n, double mean)
{
    double sum = 0.0;
    Py_ssize_t j;
    for (j = 0; j < n; j++) {
        double d = (double)x[j] - mean;
        d *= d;
        if (d < INFINITY)
            sum += d;
    }
    return sum;
}

#if HAVE_AVX2_CLONE
/* The four lanes of a float64 vector added up. */
AVX2 static double
lanes_total(__m256d v)
{
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}

/* finite_sum, sixteen samples a step into four float64 vectors (a non-finite sample masked
 * to 0 and not counted; counts in int32 lanes, below 2^31 each for rows under 2^34). */
AVX2 static double
finite_sum_avx2(const float *x, Py_ssize_t n, int64_t *k)
{
    const __m256 inf = _mm256_set1_ps(INFINITY), sign = _mm256_set1_ps(-0.0f);
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
    __m256i count = _mm256_setzero_si256();
    Py_ssize_t j;
    for (j = 0; j + 16 <= n; j += 16) {
        __m256 a = _mm256_loadu_ps(x + j), b = _mm256_loadu_ps(x + j + 8);
        __m256 ok_a = _mm256_cmp_ps(_mm256_andnot_ps(sign, a), inf, _CMP_LT_OQ);
        __m256 ok_b = _mm256_cmp_ps(_mm256_andnot_ps(sign, b), inf, _CMP_LT_OQ);
        count = _mm256_sub_epi32(count, _mm256_add_epi32(_mm256_castps_si256(ok_a), _mm256_castps_si256(ok_b)));
        a = _mm256_and_ps(a, ok_a), b = _mm256_and_ps(b, ok_b);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(a)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(a, 1)));
        s2 = _mm256_add_pd(s2, _mm256_cvtps_pd(_mm256_castps256_ps128(b)));
        s3 = _mm256_add_pd(s3, _mm256_cvtps_pd(_mm256_extractf128_ps(b, 1)));
    }
    *k += lanes_sum(count);
    return lanes_total(_mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3))) + finite_sum(x + j, n - j, k);
}

/* (x[0..3] - mean)^2 in float64, 0 for a non-finite sample. */
AVX2 static inline __m256d
squared_finite(const float *x, __m256d mean)
{
    __m256d d = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x)), mean);
    d = _mm256_mul_pd(d, d);
    return _mm256_and_pd(d, _mm256_cmp_pd(d, _mm256_set1_pd(INFINITY), _CMP_LT_OQ));
}

/* squared_deviations, sixteen samples a step into four float64 vectors. */
AVX2 static double
squared_deviations_avx2(const float *x, Py_ssize_t n, double mean)
{
    const __m256d vmean = _mm256_set1_pd(mean);
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
    Py_ssize_t j;
    for (j = 0; j + 16 <= n; j += 16) {
        s0 = _mm256_add_pd(s0, squared_finite(x + j, vmean));
        s1 = _mm256_add_pd(s1, squared_finite(x + j + 4, vmean));
        s2 = _mm256_add_pd(s2, squared_finite(x + j + 8, vmean));
        s3 = _mm256_add_pd(s3, squared_finite(x + j + 12, vmean));
    }
    return lanes_total(_mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3)))
           + squared_deviations(x + j, n - j, mean);
}
#endif

static PyObject *
moments(PyObject *self, PyObject *args)
{
    PyObject *x_obj, *k_obj, *s_obj, *q_obj;
    Py_buffer x, k, s, q;
    Py_ssize_t rows, n, r;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOOO:moments", &x_obj, &k_obj, &s_obj, &q_obj))
        return NULL;
    if (rows_of(x_obj, &x, 'f', 4, 0, "x") < 0)
        return NULL;
    if (rows_of(k_obj, &k, 'i', 8, 1, "counts") < 0) {
        PyBuffer_Release(&x);
        return NULL;
    }
    if (rows_of(s_obj, &s, 'd', 8, 1, "sums") < 0) {
        PyBuffer_Release(&x);
        PyBuffer_Release(&k);
        return NULL;
    }
    if (rows_of(q_obj, &q, 'd', 8, 1, "m2") < 0) {
        PyBuffer_Release(&x);
        PyBuffer_Release(&k);
        PyBuffer_Release(&s);
        return NULL;
    }
    rows = x.ndim == 2 ? x.shape[0] : 1;
    n = x.shape[x.ndim - 1];
    if (k.ndim != 1 || s.ndim != 1 || q.ndim != 1 || k.shape[0] != rows || s.shape[0] != rows
        || q.shape[0] != rows) {
        PyErr_SetString(PyExc_ValueError, "moments: counts, sums and m2 must hold one value a row of x");
        PyBuffer_Release(&x);
        PyBuffer_Release(&k);
        PyBuffer_Release(&s);
        PyBuffer_Release(&q);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    for (r = 0; r < rows; r++) {
        const float *xr = ROW(x, const float, r);
        int64_t *count = (int64_t *)k.buf + r;
        double *sum = (double *)s.buf + r, *m2 = (double *)q.buf + r, mean;
        *count = 0;
#if HAVE_AVX2_CLONE
        if (use_avx2 && n < (Py_ssize_t)1 << 34) {
            *sum = finite_sum_avx2(xr, n, count);
            mean = *sum / (*count > 0 ? *count : 1);
            *m2 = squared_deviations_avx2(xr, n, mean);
            continue;
        }
#endif
        *sum = finite_sum(xr, n, count);
        mean = *sum / (*count > 0 ? *count : 1);
        *m2 = squared_deviations(xr, n, mean);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&x);
    PyBuffer_Release(&k);
    PyBuffer_Release(&s);
    PyBuffer_Release(&q);
    Py_RETURN_NONE;
}

/* edf_samples' scaling of one value. */
#define EDF_SCALED(v) ((float)(((double)(v) + shift) * gain))

#if HAVE_AVX2_CLONE
/* n samples of one record from p (bps bytes each) into out, four a vector where the 16
 * bytes read for them lie before ``end``; the number done. Each value is placed in the
 * top bytes of a 32-bit lane and shifted down with its sign, then scaled as EDF_SCALED. */
AVX2 static Py_ssize_t
edf_run_avx2(const unsigned char *p, const unsigned char *end, Py_ssize_t bps, Py_ssize_t n, double shift,
             double gain, float *out)
{
    const __m128i place = bps == 2 ? _mm_setr_epi8(-1, -1, 0, 1, -1, -1, 2, 3, -1, -1, 4, 5, -1, -1, 6, 7)
                                   : _mm_setr_epi8(-1, 0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11);
    const __m256d vshift = _mm256_set1_pd(shift), vgain = _mm256_set1_pd(gain);
    const int down = bps == 2 ? 16 : 8;
    Py_ssize_t j;
    for (j = 0; j + 4 <= n && p + 16 <= end; j += 4, p += 4 * bps) {
        __m128i v = _mm_srai_epi32(_mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)p), place), down);
        __m256d d = _mm256_mul_pd(_mm256_add_pd(_mm256_cvtepi32_pd(v), vshift), vgain);
        _mm_storeu_ps(out + j, _mm256_cvtpd_ps(d));
    }
    return j;
}
#endif

static PyObject *
edf_samples(PyObject *self, PyObject *args)
{
    PyObject *raw_obj, *o_obj;
    Py_buffer raw, o;
    Py_ssize_t first, record_bytes, bps, spr, lo, n, j, last;
    double shift, gain;
    (void)self;
    if (!PyArg_ParseTuple(args, "OnnnnnddO:edf_samples", &raw_obj, &first, &record_bytes, &bps, &spr, &lo, &shift,
                          &gain, &o_obj))
        return NULL;
    if (PyObject_GetBuffer(raw_obj, &raw, PyBUF_SIMPLE) < 0)
        return NULL;
    if (rows_of(o_obj, &o, 'f', 4, 1, "out") < 0) {
        PyBuffer_Release(&raw);
        return NULL;
    }
    n = o.shape[o.ndim - 1];
    last = lo + n - 1; /* the last sample's bytes must lie inside raw */
    if (o.ndim != 1 || (bps != 2 && bps != 3) || spr < 1 || lo < 0 || first < 0 || record_bytes < spr * bps
        || (n > 0 && first + (last / spr) * record_bytes + (last % spr + 1) * bps > raw.len)) {
        PyErr_SetString(PyExc_ValueError, "edf_samples: the samples asked for lie outside raw (or bps is not 2 or 3)");
        PyBuffer_Release(&raw);
        PyBuffer_Release(&o);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    {
        const unsigned char *base = (const unsigned char *)raw.buf + first;
        const unsigned char *end = (const unsigned char *)raw.buf + raw.len;
        float *out = (float *)o.buf;
        Py_ssize_t rec = lo / spr, i = lo % spr;
        (void)end;
        for (j = 0; j < n; rec++, i = 0) {
            const unsigned char *p = base + rec * record_bytes + i * bps;
            Py_ssize_t e = j + (spr - i < n - j ? spr - i : n - j), done;
#if HAVE_AVX2_CLONE
            if (use_avx2) {
                done = edf_run_avx2(p, end, bps, e - j, shift, gain, out + j);
                j += done;
                p += done * bps;
            }
#endif
            if (bps == 2)
                for (; j < e; j++, p += 2)
                    out[j] = EDF_SCALED((int16_t)(uint16_t)(p[0] | p[1] << 8));
            else /* the three bytes as the top of an int32, then an arithmetic shift brings down the sign */
                for (; j < e; j++, p += 3)
                    out[j] = EDF_SCALED((int32_t)((uint32_t)p[0] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 24) >> 8);
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&raw);
    PyBuffer_Release(&o);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"square_cumsum", square_cumsum, METH_VARARGS,
     "square_cumsum(x, out, clip, scale): out = cumsum(rint(minimum(float64(x)**2, clip) * scale))\n"
     "along the rows of x (float32) into out (int64)."},
    {"hum_offsets", hum_offsets, METH_VARARGS,
     "hum_offsets(y, block, coef, ahead, grid, stride, sub, peak): |rint(coef_k . ahead * grid) / grid\n"
     "- y| for each block k of each row of y (float64): each block's largest into peak, every\n"
     "stride-th into sub."},
    {"group_sums", group_sums, METH_VARARGS,
     "group_sums(x, step, out): the sum of each group of step samples of each row of x (float64),\n"
     "x1 + ... + x(step-1) first, then x0 + that."},
    {"envelopes", envelopes, METH_VARARGS,
     "envelopes(cs, h, hf, thresholds, counts, fast, strong, seed, active): the fast window sums\n"
     "of the running sums cs into fast, and which centres pass the thresholds of their block."},
    {"extents", extents, METH_VARARGS,
     "extents(fast, strong, ch, start, stop, rel2, a, z): per run, the first and last column (z one\n"
     "past it) where strong holds and fast >= the run's peak * rel2; False when a run keeps none."},
    {"ragged", ragged, METH_VARARGS,
     "ragged(buf, rows, a, z, out, which): the segments buf[rows[i], a[i]:z[i]] (float32) end to end\n"
     "in out (float64), and the segment of each value in which."},
    {"hann_angles", hann_angles, METH_VARARGS,
     "hann_angles(size, turn, out): j * turn / max(size[i] - 1, 1) at the j-th of each segment of\n"
     "size[i] values laid end to end in out."},
    {"into_frames", into_frames, METH_VARARGS,
     "into_frames(x, window, size, start, frames): frames[start[i] + j] = x * window at the j-th of\n"
     "each segment of size[i] values laid end to end in x and window."},
    {"sign_changes", sign_changes, METH_VARARGS,
     "sign_changes(which, sign, out): out[which[i]] += 1 where which[i] == which[i - 1] and\n"
     "sign[i] != sign[i - 1]."},
    {"top_two", top_two, METH_VARARGS,
     "top_two(x, values, counts): per row of x (float32, finite), its two largest distinct values\n"
     "and their counts, and those of -x (values, counts: 2 x rows x 2)."},
    {"moments", moments, METH_VARARGS,
     "moments(x, counts, sums, m2): per row of x (float32), its finite samples' number, sum and sum\n"
     "of squared deviations from their mean (float64), non-finite samples left out."},
    {"edf_samples", edf_samples, METH_VARARGS,
     "edf_samples(raw, first, record_bytes, bps, spr, lo, shift, gain, out): one signal's samples\n"
     "of EDF (bps 2) or BDF (bps 3) data records, scaled as edflib does, into out (float32)."},
    {"isa", set_isa, METH_VARARGS,
     "isa([name]): the instruction set square_cumsum, hum_offsets, envelopes, top_two, moments and\n"
     "edf_samples use ('avx2' or 'baseline'); with a name, use it."},
    {"available", available, METH_NOARGS, "available(): the instruction sets this CPU can run."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kernels", "Single passes for a few multi-pass numpy expressions.", -1,
    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC
PyInit__kernels(void)
{
    isa_init();
    return PyModule_Create(&module);
}
