/* The tree walk of classify.TreeEnsemble: the leaf each (row, tree) pair ends in.
 *
 * numpy steps all pairs down together, a few array operations per level; here each row
 * walks four trees at a time, each step without a branch: a leaf's children are itself,
 * so a walk of the four trees' greatest depth ends every path at its leaf (the trees are
 * taken shallowest first, so that the four are of about one depth). The same comparisons
 * (x <= threshold, NaN going where the node sends missing values), so the same leaves;
 * class_sums then adds up the leaf values per class as numpy's sum over the trees does
 * (one tree after another).
 *
 * leaves(X, root, feature, threshold, missing_left, left, right, leaf, out): X (rows x
 * features, float64), root (trees), feature/left/right (nodes, int64), threshold (nodes,
 * float64), missing_left/leaf (nodes, bool), out (rows x trees, int64): the leaf nodes.
 * class_sums(node, value, out): node (rows x trees, int64: leaves' output), value (nodes,
 * float64), out (rows x classes, float64): per row and class c, the values of the leaves
 * of trees c, c + classes, c + 2 classes, ... added one after another from the first.
 * All C-contiguous; the indices are trusted to be in range (classify checks the model).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>

/* The depth of each tree (the longest path from its root to a leaf); -1 when a tree's
 * paths do not all end at a leaf within ``nodes`` steps (a damaged model). */
static int
depths(const int64_t *root, Py_ssize_t trees, const int64_t *left, const int64_t *right,
       const char *leaf, Py_ssize_t nodes, Py_ssize_t *depth)
{
    Py_ssize_t t, top, pushed, *stack = malloc(sizeof(Py_ssize_t) * 2 * (nodes + 1));
    if (stack == NULL)
        return -2;
    for (t = 0; t < trees; t++) {
        depth[t] = 0;
        stack[0] = root[t], stack[1] = 0, top = 1, pushed = 1;
        while (top > 0) {
            Py_ssize_t n, d;
            top--;
            n = stack[2 * top], d = stack[2 * top + 1];
            if (d > depth[t])
                depth[t] = d;
            if (leaf[n])
                continue;
            if ((pushed += 2) > nodes + 1 || d >= nodes) {
                free(stack);
                return -1;
            }
            stack[2 * top] = left[n], stack[2 * top + 1] = d + 1;
            stack[2 * top + 2] = right[n], stack[2 * top + 3] = d + 1;
            top += 2;
        }
    }
    free(stack);
    return 0;
}

#define ROWS 32 /* rows walked through each group of trees at a time */

/* One step down from node n for the row x (or y): left or right, without a branch. */
#define STEP_OF(x, n)                                                                      \
    {                                                                                      \
        double v = (x)[feature[n]];                                                        \
        int64_t go = (v <= threshold[n]) | ((v != v) & (missing_left[n] != 0));            \
        n = right[n] + go * (left[n] - right[n]);                                          \
    }
#define STEP(n) STEP_OF(x, n)
#define STEPY(n) STEP_OF(y, n)

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
        Py_ssize_t trees = a[1].view.shape[0], nodes = a[2].view.shape[0], r0, r, g, i, d;
        Py_ssize_t *depth, *order, *count;
        int bad;
        if (a[8].view.shape[0] != rows || a[8].view.shape[1] != trees
            || a[3].view.shape[0] != nodes || a[4].view.shape[0] != nodes
            || a[5].view.shape[0] != nodes || a[6].view.shape[0] != nodes
            || a[7].view.shape[0] != nodes) {
            PyErr_SetString(PyExc_ValueError, "the node arrays differ in length, or out is not rows x trees");
            goto done;
        }
        depth = malloc(sizeof(Py_ssize_t) * (3 * trees + nodes + 2));
        if (depth == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        order = depth + trees, count = order + trees;
        bad = depths(root, trees, left, right, leaf, nodes, depth);
        if (bad) {
            free(depth);
            if (bad == -2)
                PyErr_NoMemory();
            else
                PyErr_SetString(PyExc_ValueError, "a tree path never reaches a leaf");
            goto done;
        }
        /* the trees by depth, shallowest first (a counting sort: depths are below nodes) */
        for (d = 0; d <= nodes; d++)
            count[d] = 0;
        for (i = 0; i < trees; i++)
            count[depth[i] + 1]++;
        for (d = 1; d <= nodes; d++)
            count[d] += count[d - 1];
        for (i = 0; i < trees; i++)
            order[count[depth[i]]++] = i;
        Py_BEGIN_ALLOW_THREADS
        for (r0 = 0; r0 < rows; r0 += ROWS) { /* a block of rows through four trees at a time:
                                               * the trees' nodes stay in the cache */
            Py_ssize_t r1 = r0 + ROWS < rows ? r0 + ROWS : rows;
            for (g = 0; g + 4 <= trees; g += 4) {
                Py_ssize_t t0 = order[g], t1 = order[g + 1], t2 = order[g + 2], t3 = order[g + 3];
                for (r = r0; r + 2 <= r1; r += 2) { /* two rows: eight independent paths */
                    const double *x = X + r * n_features, *y = x + n_features;
                    int64_t n0 = root[t0], n1 = root[t1], n2 = root[t2], n3 = root[t3];
                    int64_t m0 = n0, m1 = n1, m2 = n2, m3 = n3;
                    for (d = depth[t3]; d > 0; d--) {
                        STEP(n0)
                        STEP(n1)
                        STEP(n2)
                        STEP(n3)
                        STEPY(m0)
                        STEPY(m1)
                        STEPY(m2)
                        STEPY(m3)
                    }
                    o[r * trees + t0] = n0, o[r * trees + t1] = n1;
                    o[r * trees + t2] = n2, o[r * trees + t3] = n3;
                    o[(r + 1) * trees + t0] = m0, o[(r + 1) * trees + t1] = m1;
                    o[(r + 1) * trees + t2] = m2, o[(r + 1) * trees + t3] = m3;
                }
                for (; r < r1; r++) {
                    const double *x = X + r * n_features;
                    int64_t n0 = root[t0], n1 = root[t1], n2 = root[t2], n3 = root[t3];
                    for (d = depth[t3]; d > 0; d--) {
                        STEP(n0)
                        STEP(n1)
                        STEP(n2)
                        STEP(n3)
                    }
                    o[r * trees + t0] = n0, o[r * trees + t1] = n1;
                    o[r * trees + t2] = n2, o[r * trees + t3] = n3;
                }
            }
            for (; g < trees; g++)
                for (r = r0; r < r1; r++) {
                    const double *x = X + r * n_features;
                    int64_t n0 = root[order[g]];
                    for (d = depth[order[g]]; d > 0; d--)
                        STEP(n0)
                    o[r * trees + order[g]] = n0;
                }
        }
        Py_END_ALLOW_THREADS
        free(depth);
        Py_INCREF(Py_None);
        out = Py_None;
    }
done:
    for (i = 0; i < 9; i++)
        if (a[i].held)
            PyBuffer_Release(&a[i].view);
    return out;
}

static PyObject *
class_sums(PyObject *self, PyObject *args)
{
    static const char *names[] = {"node", "value", "out"};
    static const int ndims[] = {2, 1, 2};
    static const char kinds[] = {'i', 'd', 'd'};
    PyObject *obj[3], *out = NULL;
    arg a[3] = {{{0}, 0}};
    int i;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOO:class_sums", &obj[0], &obj[1], &obj[2]))
        return NULL;
    for (i = 0; i < 3; i++)
        if (take(obj[i], &a[i], ndims[i], kinds[i], 8, i == 2, names[i]) < 0)
            goto done;
    {
        const int64_t *node = a[0].view.buf;
        const double *value = a[1].view.buf;
        double *o = a[2].view.buf;
        Py_ssize_t rows = a[0].view.shape[0], trees = a[0].view.shape[1], k = a[2].view.shape[1], r, c, j;
        if (a[2].view.shape[0] != rows || k < 1 || trees % k != 0 || trees == 0) {
            PyErr_SetString(PyExc_ValueError, "class_sums: out must be rows x classes, the trees a whole number a class");
            goto done;
        }
        for (r = 0; r < rows; r++) {
            const int64_t *nr = node + r * trees;
            for (c = 0; c < k; c++) {
                double sum = value[nr[c]];
                for (j = c + k; j < trees; j += k)
                    sum += value[nr[j]];
                o[r * k + c] = sum;
            }
        }
        Py_INCREF(Py_None);
        out = Py_None;
    }
done:
    for (i = 0; i < 3; i++)
        if (a[i].held)
            PyBuffer_Release(&a[i].view);
    return out;
}

static PyMethodDef methods[] = {
    {"leaves", leaves, METH_VARARGS,
     "leaves(X, root, feature, threshold, missing_left, left, right, leaf, out): the leaf\n"
     "node of every (row, tree) pair into out (rows x trees)."},
    {"class_sums", class_sums, METH_VARARGS,
     "class_sums(node, value, out): per row and class c, the leaf values of trees c, c + k, ...\n"
     "added one after another (k: out's columns), as numpy sums them."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_trees", "The tree walk of classify.TreeEnsemble.", -1, methods,
    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC
PyInit__trees(void)
{
    return PyModule_Create(&module);
}
