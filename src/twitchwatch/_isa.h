/* The run-time choice between a C extension's baseline, AVX2 and (where the module has
 * one: HAVE_AVX512_CLONE 1) AVX-512 code paths, shared by _biquads and _kernels: which one
 * runs (use_avx2, and use_avx512 with it, set by isa_init() to what the CPU has), isa() to
 * read or set it (the tests run each) and available() to list them. Include it once,
 * after Python.h and after defining HAVE_AVX2_CLONE (0 or 1). */
#ifndef TWITCHWATCH_ISA_H
#define TWITCHWATCH_ISA_H

#include <string.h>

#ifndef HAVE_AVX512_CLONE
#define HAVE_AVX512_CLONE 0
#endif

static int use_avx2 = 0;
#if HAVE_AVX512_CLONE
static int use_avx512 = 0;
#endif

/* Whether the CPU (and the OS, for AVX-512's registers) runs the path named. */
static int
isa_supported(const char *name)
{
#if HAVE_AVX2_CLONE
    __builtin_cpu_init();
    if (strcmp(name, "avx2") == 0)
        return __builtin_cpu_supports("avx2");
#endif
#if HAVE_AVX512_CLONE
    if (strcmp(name, "avx512") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512f");
#endif
    return strcmp(name, "baseline") == 0;
}

static void
isa_init(void)
{
    use_avx2 = isa_supported("avx2");
#if HAVE_AVX512_CLONE
    use_avx512 = isa_supported("avx512");
#endif
}

static PyObject *
set_isa(PyObject *self, PyObject *args)
{
    const char *name = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "|s:isa", &name))
        return NULL;
    if (name != NULL) {
        if (!isa_supported(name)) {
            PyErr_Format(PyExc_ValueError, "instruction set %s is not available here", name);
            return NULL;
        }
        use_avx2 = strcmp(name, "baseline") != 0;
#if HAVE_AVX512_CLONE
        use_avx512 = strcmp(name, "avx512") == 0;
#endif
    }
#if HAVE_AVX512_CLONE
    if (use_avx512)
        return PyUnicode_FromString("avx512");
#endif
    return PyUnicode_FromString(use_avx2 ? "avx2" : "baseline");
}

static PyObject *
available(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    if (isa_supported("avx512"))
        return Py_BuildValue("(sss)", "baseline", "avx2", "avx512");
    if (isa_supported("avx2"))
        return Py_BuildValue("(ss)", "baseline", "avx2");
    return Py_BuildValue("(s)", "baseline");
}

#endif
