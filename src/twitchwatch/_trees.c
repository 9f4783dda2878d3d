/* The tree walk of classify.TreeEnsemble: the leaf each (row, tree) pair ends in.
 *
 * numpy steps all pairs down together, a few array operations per level; here each pair
 * walks its own path. The same comparisons (x <= threshold, NaN going where the node
 * sends missing values), so the same leaves; the leaf values are summed in numpy as
 * before.
 *
 * leaves(X, root, feature, threshold, missing_left, left, right, leaf, out): X (rows x
 * features, float64), root (trees), feature/left/right (nodes, int64), threshold (nodes,
 * float64), missing_left/leaf (nodes, bool), out (rows x trees, int64): the leaf nodes.
 * All C-contiguous; the indices are trusted to be in range (classify checks the model).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

typedef struct {
    Py_buffer view;
    int held;
} arg;

static int
take(PyObject *obj, arg *a, int ndim, char kind, Py_ssize_t itemsize, int writable,
     const char *name)
{
    const char *f;
    if (PyObject_GetBuffer(obj, &a->view,
                           PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    a->held = 1;
    f = a->view.format ? a->view.format : "B";
    if (f[0] == '@' || f[0] == '=' || f[0] == '<')
        f++;
    if (a->view.ndim != ndim || a->view.itemsize != itemsize || f[1] != '\0'
        || (kind == 'i' ? strchr("lqn", f[0]) == NULL : f[0] != kind)) {
        PyErr_Format(PyExc_TypeError, "%s: expected a %d-D array of %s", name, ndim,
                     kind == 'i' ? "int64" : kind == 'd' ? "float64" : "bool");
        return -1;
    }
    return 0;
}

static PyObject *
leaves(PyObject *self, PyObject *args)
{
    static const char *names[] = {"X", "root", "feature", "threshold", "missing_left",
                                  "left", "right", "leaf", "out"};
    static const int ndims[] = {2, 1, 1, 1, 1, 1, 1, 1, 2};
    static const char kinds[] = {'d', 'i', 'i', 'd', '?', 'i', 'i', '?', 'i'};
    static const Py_ssize_t sizes[] = {8, 8, 8, 8, 1, 8, 8, 1, 8};
    PyObject *obj[9], *out = NULL;
    arg a[9] = {{{0}, 0}};
    int i;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOOOOOOOO:leaves", &obj[0], &obj[1], &obj[2], &obj[3],
                          &obj[4], &obj[5], &obj[6], &obj[7], &obj[8]))
        return NULL;
    for (i = 0; i < 9; i++)
        if (take(obj[i], &a[i], ndims[i], kinds[i], sizes[i], i == 8, names[i]) < 0)
            goto done;
    {
        const double *X = a[0].view.buf, *threshold = a[3].view.buf;
        const int64_t *root = a[1].view.buf, *feature = a[2].view.buf;
        const int64_t *left = a[5].view.buf, *right = a[6].view.buf;
        const char *missing_left = a[4].view.buf, *leaf = a[7].view.buf;
        int64_t *o = a[8].view.buf;
        Py_ssize_t rows = a[0].view.shape[0], n_features = a[0].view.shape[1];
        Py_ssize_t trees = a[1].view.shape[0], nodes = a[2].view.shape[0], r, t, steps;
        int looped = 0;
        if (a[8].view.shape[0] != rows || a[8].view.shape[1] != trees
            || a[3].view.shape[0] != nodes || a[4].view.shape[0] != nodes
            || a[5].view.shape[0] != nodes || a[6].view.shape[0] != nodes
            || a[7].view.shape[0] != nodes) {
            PyErr_SetString(PyExc_ValueError, "the node arrays differ in length, or out is not rows x trees");
            goto done;
        }
        Py_BEGIN_ALLOW_THREADS
        for (r = 0; r < rows && !looped; r++) {
            const double *x = X + r * n_features;
            for (t = 0; t < trees; t++) {
                int64_t node = root[t];
                for (steps = 0; !leaf[node]; steps++) {
                    double v = x[feature[node]];
                    int go_left = v != v ? missing_left[node] : v <= threshold[node];
                    if (steps > nodes) { /* a cycle: a damaged model */
                        looped = 1;
                        break;
                    }
                    node = go_left ? left[node] : right[node];
                }
                o[r * trees + t] = node;
            }
        }
        Py_END_ALLOW_THREADS
        if (looped) {
            PyErr_SetString(PyExc_ValueError, "a tree path never reaches a leaf");
            goto done;
        }
        Py_INCREF(Py_None);
        out = Py_None;
    }
done:
    for (i = 0; i < 9; i++)
        if (a[i].held)
            PyBuffer_Release(&a[i].view);
    return out;
}

static PyMethodDef methods[] = {
    {"leaves", leaves, METH_VARARGS,
     "leaves(X, root, feature, threshold, missing_left, left, right, leaf, out): the leaf\n"
     "node of every (row, tree) pair into out (rows x trees)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_trees", "The tree walk of classify.TreeEnsemble.", -1, methods,
    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC
PyInit__trees(void)
{
    return PyModule_Create(&module);
}
