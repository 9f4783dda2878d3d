/* The run-time choice between a C extension's baseline and AVX2 code paths, shared by
 * _biquads and _kernels: which one runs (use_avx2, set by isa_init() to what the CPU has),
 * isa() to read or set it (the tests run both) and available() to list them. Include it
 * once, after Python.h and after defining HAVE_AVX2_CLONE (0 or 1). */
#ifndef TWITCHWATCH_ISA_H
#define TWITCHWATCH_ISA_H

#include <string.h>

static int use_avx2 = 0;

static void
isa_init(void)
{
#if HAVE_AVX2_CLONE
    __builtin_cpu_init();
    use_avx2 = __builtin_cpu_supports("avx2");
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
        if (strcmp(name, "baseline") == 0)
            use_avx2 = 0;
#if HAVE_AVX2_CLONE
        else if (strcmp(name, "avx2") == 0 && __builtin_cpu_supports("avx2"))
            use_avx2 = 1;
#endif
        else {
            PyErr_Format(PyExc_ValueError, "instruction set %s is not available here", name);
            return NULL;
        }
    }
    return PyUnicode_FromString(use_avx2 ? "avx2" : "baseline");
}

static PyObject *
available(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
#if HAVE_AVX2_CLONE
    if (__builtin_cpu_supports("avx2"))
        return Py_BuildValue("(ss)", "baseline", "avx2");
#endif
    return Py_BuildValue("(s)", "baseline");
}

#endif
