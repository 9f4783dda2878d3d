/* Cascaded biquads (scipy.signal's _sosfilt), several signals side by side.
 *
 * scipy filters one signal at a time, sample by sample through every section, with the
 * sections' state in memory: each step waits on the last. Here up to 8 signals
 * (channels) are interleaved a block of samples at a time, and the block goes through
 * four sections per pass with their state held in registers. The signals' and the
 * sections' dependency chains then overlap, and the group of signals fills SIMD lanes
 * (AVX2 or AVX-512 where the CPU has it, chosen at run time; with AVX-512, a group of 8
 * float64 signals is one vector of GCC's, whose state the compiler keeps in registers,
 * where the 8 signals' loops over AVX2 keep it in memory: 8.3 -> 5 ns a sample through
 * four sections).
 *
 * Every sample is computed by scipy's expressions in scipy's order, in the array's own
 * precision, without fused multiply-adds: the result is scipy's to the bit, and it does
 * not depend on the blocking, the grouping or the instruction set. (With AVX2, float64
 * blocks are interleaved and put back four samples of four signals at a time, by 4 x 4
 * transposes in registers: element by element, that took as long as four sections.)
 *
 * sosfilt(sos, x, zi[, out]): sos (sections x 6, a0 == 1), x (signals x samples, filtered
 * in place, or into out, of x's shape), zi (signals x sections x 2, the state, updated in
 * place); all C-contiguous and all float32 or all float64.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
/* (no-wrapv: Python builds extensions with -fwrapv, which costs the loops here 10-15 %) */
#pragma GCC optimize("fp-contract=off", "no-wrapv")
#elif defined(_MSC_VER)
#pragma fp_contract(off)
#endif

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define HAVE_AVX2_CLONE 1
#define HAVE_AVX512_CLONE 1
#define AVX2 __attribute__((target("avx2")))
#define AVX512 __attribute__((target("avx512f")))
#include <immintrin.h>
#else
#define HAVE_AVX2_CLONE 0
#define HAVE_AVX512_CLONE 0
#endif

#define BLOCK 128 /* samples interleaved at a time */

/* One section on one sample (scipy's transposed direct form II), or on a vector of samples
 * of several signals (the same operations lane by lane). */
#define SECTION(T, c, z0, z1, cur)                                                         \
    {                                                                                      \
        T xn = (c)[0] * (cur) + (z0);                                                      \
        (z0) = (c)[1] * (cur) - (c)[4] * xn + (z1);                                        \
        (z1) = (c)[2] * (cur) - (c)[5] * xn;                                               \
        (cur) = xn;                                                                        \
    }

#define ZI(w, k, i) zi[((w) * n_sections + s + (k)) * 2 + (i)]

/* K (1, 2 or 4) sections, from section s, over the block buf (nb samples x W elements of
 * type E, each L signals of type T: a number, L = 1, or a vector of L lanes). */
#define PASS(T, E, W, L, K)                                                                \
    {                                                                                      \
        T zs[K][2][W * L]; /* the state, signal by signal ... */                           \
        E z[K][2][W];      /* ... and as the elements hold it */                           \
        for (w = 0; w < W * L; w++)                                                        \
            for (k = 0; k < K; k++) {                                                      \
                zs[k][0][w] = ZI(w, k, 0);                                                 \
                zs[k][1][w] = ZI(w, k, 1);                                                 \
            }                                                                              \
        memcpy(z, zs, sizeof z);                                                           \
        for (j = 0; j < nb; j++)                                                           \
            for (w = 0; w < W; w++) {                                                      \
                E cur = buf[j][w];                                                         \
                for (k = 0; k < K; k++)                                                    \
                    SECTION(E, sos + 6 * (s + k), z[k][0][w], z[k][1][w], cur)             \
                buf[j][w] = cur;                                                           \
            }                                                                              \
        memcpy(zs, z, sizeof z);                                                           \
        for (w = 0; w < W * L; w++)                                                        \
            for (k = 0; k < K; k++) {                                                      \
                ZI(w, k, 0) = zs[k][0][w];                                                 \
                ZI(w, k, 1) = zs[k][1][w];                                                 \
            }                                                                              \
    }

/* The nb samples of W signals from x (rows n_samples apart) interleaved sample-major into
 * buf (to = 1), or put back from it into x (to = 0), from sample j on. */
#define DEFINE_COPY(T, SUFFIX, ATTR)                                                       \
    ATTR static inline void copy_##T##SUFFIX(T *x, Py_ssize_t n_samples, T *buf, Py_ssize_t W, \
                                              Py_ssize_t j, Py_ssize_t nb, int to)          \
    {                                                                                      \
        Py_ssize_t w;                                                                      \
        for (; j < nb; j++)                                                                \
            for (w = 0; w < W; w++) {                                                      \
                if (to)                                                                    \
                    buf[j * W + w] = x[w * n_samples + j];                                 \
                else                                                                       \
                    x[w * n_samples + j] = buf[j * W + w];                                 \
            }                                                                              \
    }

DEFINE_COPY(float, , )
DEFINE_COPY(double, , )
#if HAVE_AVX2_CLONE
#define copy_float_avx2 copy_float

/* copy_double, four samples of four signals at a time (a 4 x 4 transpose in registers,
 * the same either way), then the samples left element by element. */
AVX2 static inline void
copy_double_avx2(double *x, Py_ssize_t n_samples, double *buf, Py_ssize_t W, Py_ssize_t j,
                 Py_ssize_t nb, int to)
{
    Py_ssize_t w;
    int q;
    for (; W % 4 == 0 && j + 4 <= nb; j += 4)
        for (w = 0; w < W; w += 4) {
            double *xs = x + w * n_samples + j, *bs = buf + j * W + w;
            __m256d r[4], t[4];
            for (q = 0; q < 4; q++)
                r[q] = to ? _mm256_loadu_pd(xs + q * n_samples) : _mm256_loadu_pd(bs + q * W);
            t[0] = _mm256_unpacklo_pd(r[0], r[1]), t[1] = _mm256_unpackhi_pd(r[0], r[1]);
            t[2] = _mm256_unpacklo_pd(r[2], r[3]), t[3] = _mm256_unpackhi_pd(r[2], r[3]);
            r[0] = _mm256_permute2f128_pd(t[0], t[2], 0x20);
            r[1] = _mm256_permute2f128_pd(t[1], t[3], 0x20);
            r[2] = _mm256_permute2f128_pd(t[0], t[2], 0x31);
            r[3] = _mm256_permute2f128_pd(t[1], t[3], 0x31);
            for (q = 0; q < 4; q++)
                _mm256_storeu_pd(to ? bs + q * W : xs + q * n_samples, r[q]);
        }
    copy_double(x, n_samples, buf, W, j, nb, to);
}
#endif

/* N signals (the rows of x from the one given), as W = N / L elements of type E (above):
 * each block of samples is interleaved sample-major, goes through all sections, and is
 * put in y (which may be x). */
#define DEFINE_GROUP(T, N, SUFFIX, ATTR, E, L)                                             \
    ATTR static void group_##T##_##N##SUFFIX(const T *sos, Py_ssize_t n_sections,         \
                                              const T *x, T *y, Py_ssize_t n_samples,      \
                                              T *zi)                                       \
    {                                                                                      \
        E buf[BLOCK][N / L];                                                               \
        Py_ssize_t n0, nb, j, w, s, k;                                                     \
        for (n0 = 0; n0 < n_samples; n0 += BLOCK) {                                        \
            nb = n_samples - n0 < BLOCK ? n_samples - n0 : BLOCK;                          \
            copy_##T##SUFFIX((T *)x + n0, n_samples, (T *)buf, N, 0, nb, 1);               \
            for (s = 0; s + 4 <= n_sections; s += 4)                                       \
                PASS(T, E, N / L, L, 4)                                                    \
            if (s + 2 <= n_sections) {                                                     \
                PASS(T, E, N / L, L, 2)                                                    \
                s += 2;                                                                    \
            }                                                                              \
            if (s < n_sections)                                                            \
                PASS(T, E, N / L, L, 1)                                                    \
            copy_##T##SUFFIX(y + n0, n_samples, (T *)buf, N, 0, nb, 0);                    \
        }                                                                                  \
    }

#define DEFINE_GROUPS(T, SUFFIX, ATTR)                                                     \
    DEFINE_GROUP(T, 8, SUFFIX, ATTR, T, 1)                                                 \
    DEFINE_GROUP(T, 4, SUFFIX, ATTR, T, 1)                                                 \
    DEFINE_GROUP(T, 2, SUFFIX, ATTR, T, 1)                                                 \
    DEFINE_GROUP(T, 1, SUFFIX, ATTR, T, 1)

/* All signals: groups of 8, then one of 4, 2 and 1 for the rest. */
#define DEFINE_FILTER(T, SUFFIX, ATTR)                                                     \
    ATTR static void filter_##T##SUFFIX(const T *sos, Py_ssize_t n_sections, const T *x,   \
                                         T *y, Py_ssize_t n_signals, Py_ssize_t n_samples, \
                                         T *zi)                                            \
    {                                                                                      \
        Py_ssize_t i = 0, step = 2 * n_sections;                                           \
        for (; i + 8 <= n_signals; i += 8)                                                 \
            group_##T##_8##SUFFIX(sos, n_sections, x + i * n_samples, y + i * n_samples,   \
                                  n_samples, zi + i * step);                               \
        if (i + 4 <= n_signals) {                                                          \
            group_##T##_4##SUFFIX(sos, n_sections, x + i * n_samples, y + i * n_samples,   \
                                  n_samples, zi + i * step);                               \
            i += 4;                                                                        \
        }                                                                                  \
        if (i + 2 <= n_signals) {                                                          \
            group_##T##_2##SUFFIX(sos, n_sections, x + i * n_samples, y + i * n_samples,   \
                                  n_samples, zi + i * step);                               \
            i += 2;                                                                        \
        }                                                                                  \
        if (i < n_signals)                                                                 \
            group_##T##_1##SUFFIX(sos, n_sections, x + i * n_samples, y + i * n_samples,   \
                                  n_samples, zi + i * step);                               \
    }

DEFINE_GROUPS(float, , )
DEFINE_FILTER(float, , )
DEFINE_GROUPS(double, , )
DEFINE_FILTER(double, , )
#if HAVE_AVX2_CLONE
DEFINE_GROUPS(float, _avx2, AVX2)
DEFINE_FILTER(float, _avx2, AVX2)
DEFINE_GROUPS(double, _avx2, AVX2)
DEFINE_FILTER(double, _avx2, AVX2)

/* AVX-512: float64 groups of 8 as one vector each; the smaller groups and float32 as AVX2's. */
typedef double v8d __attribute__((vector_size(64), may_alias));
#define copy_double_avx512 copy_double_avx2
DEFINE_GROUP(double, 8, _avx512, AVX512, v8d, 8)
#define group_double_4_avx512 group_double_4_avx2
#define group_double_2_avx512 group_double_2_avx2
#define group_double_1_avx512 group_double_1_avx2
DEFINE_FILTER(double, _avx512, AVX512)
#endif

#include "_isa.h" /* use_avx2, use_avx512, isa_init(), isa(), available() */

static int
get(PyObject *obj, Py_buffer *view, int ndim, int flags, const char *name)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | flags) < 0)
        return -1;
    if (view->ndim != ndim) {
        PyErr_Format(PyExc_ValueError, "%s must be %d-D, got %d-D", name, ndim, view->ndim);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* 'd' (float64), 'f' (float32) or 0 (anything else). */
static char
kind(const Py_buffer *view)
{
    const char *f = view->format ? view->format : "B";
    if (f[0] == '@' || f[0] == '=' || f[0] == '<')
        f++;
    if (f[0] == 'd' && f[1] == '\0' && view->itemsize == sizeof(double))
        return 'd';
    if (f[0] == 'f' && f[1] == '\0' && view->itemsize == sizeof(float))
        return 'f';
    return 0;
}

static PyObject *
sosfilt(PyObject *self, PyObject *args)
{
    PyObject *sos_obj, *x_obj, *zi_obj, *y_obj = NULL, *out = NULL;
    Py_buffer sos, x, zi, y;
    Py_ssize_t n_sections, n_signals, n_samples;
    char k;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOO|O:sosfilt", &sos_obj, &x_obj, &zi_obj, &y_obj))
        return NULL;
    if (get(sos_obj, &sos, 2, 0, "sos") < 0)
        return NULL;
    if (get(x_obj, &x, 2, y_obj == NULL ? PyBUF_WRITABLE : 0, "x") < 0)
        goto free_sos;
    if (get(zi_obj, &zi, 3, PyBUF_WRITABLE, "zi") < 0)
        goto free_x;
    if (get(y_obj == NULL ? x_obj : y_obj, &y, 2, PyBUF_WRITABLE, "out") < 0)
        goto free_zi;
    n_sections = sos.shape[0], n_signals = x.shape[0], n_samples = x.shape[1];
    k = kind(&x);
    if (k == 0 || kind(&sos) != k || kind(&zi) != k || kind(&y) != k) {
        PyErr_SetString(PyExc_TypeError, "sos, x, zi and out must be all float32 or all float64");
        goto free_all;
    }
    if (sos.shape[1] != 6 || zi.shape[0] != n_signals || zi.shape[1] != n_sections
        || zi.shape[2] != 2 || y.shape[0] != n_signals || y.shape[1] != n_samples) {
        PyErr_SetString(PyExc_ValueError,
                        "sos must be sections x 6, zi signals x sections x 2, out x's shape");
        goto free_all;
    }
    Py_BEGIN_ALLOW_THREADS
#if HAVE_AVX2_CLONE
    if (use_avx512 && k == 'd')
        filter_double_avx512(sos.buf, n_sections, x.buf, y.buf, n_signals, n_samples, zi.buf);
    else if (use_avx2 && k == 'd')
        filter_double_avx2(sos.buf, n_sections, x.buf, y.buf, n_signals, n_samples, zi.buf);
    else if (use_avx2)
        filter_float_avx2(sos.buf, n_sections, x.buf, y.buf, n_signals, n_samples, zi.buf);
    else
#endif
    if (k == 'd')
        filter_double(sos.buf, n_sections, x.buf, y.buf, n_signals, n_samples, zi.buf);
    else
        filter_float(sos.buf, n_sections, x.buf, y.buf, n_signals, n_samples, zi.buf);
    Py_END_ALLOW_THREADS
    Py_INCREF(Py_None);
    out = Py_None;
free_all:
    PyBuffer_Release(&y);
free_zi:
    PyBuffer_Release(&zi);
free_x:
    PyBuffer_Release(&x);
free_sos:
    PyBuffer_Release(&sos);
    return out;
}

static PyMethodDef methods[] = {
    {"sosfilt", sosfilt, METH_VARARGS,
     "sosfilt(sos, x, zi[, out]): x (signals x samples) through the sections sos, in place\n"
     "or into out, the state zi (signals x sections x 2) updated in place; scipy's _sosfilt\n"
     "to the bit."},
    {"isa", set_isa, METH_VARARGS,
     "isa([name]): the instruction set in use ('avx512', 'avx2' or 'baseline'); with a name, use\n"
     "it."},
    {"available", available, METH_NOARGS, "available(): the instruction sets this CPU can run."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_biquads", "Cascaded biquads, several signals side by side.", -1,
    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC
PyInit__biquads(void)
{
    isa_init();
    return PyModule_Create(&module);
}
