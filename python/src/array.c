/* array.c - mapfile.Array: one typed array inside a decoded object, as the
 * class's `arrays` hook (ABI 1.1) describes it, exported through the buffer
 * protocol. numpy.asarray() and memoryview() of it read the object's own
 * memory; the Array holds the object, and every exported view holds the
 * Array, so the memory lives as long as any view of it.
 *
 * The hook's answer comes from plugin code: every description is checked
 * (type letter, dimensions, sizes that cannot overflow, a data pointer)
 * before Python sees it. */
#include "pymapfile.h"

#include <string.h>

/* Bounds the arrays one object may declare, and a name's length. */
#define MAX_ARRAYS 256
#define MAX_NAME 64

typedef struct {
    PyObject_HEAD
    pymf_Object *owner;
    PyObject *name;
    void *data;
    char format[2];
    int ndim;
    Py_ssize_t itemsize, len;
    Py_ssize_t shape[MF_ARRAY_MAX_DIMS], strides[MF_ARRAY_MAX_DIMS];
} pymf_Array;

static PyObject *invalid(const pymf_Object *o, size_t i, const char *why)
{
    return pymf_raise_detail(MF_ECODEC, NULL, NULL,
                             "the arrays hook of class '%s' described array %zu badly: %s",
                             o->cls->name, i, why);
}

static int name_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (n >= MAX_NAME || (unsigned char)s[n] < 0x21 || (unsigned char)s[n] > 0x7e)
            return 0;
    return n > 0;
}

/* Checks one description and fills a new Array from it. */
static PyObject *array_from(pymf_Object *o, size_t i, const mf_array *d)
{
    size_t item = mf_elem_size(d->type);
    if (!d->name || !name_ok(d->name))
        return invalid(o, i, "a missing or unprintable name");
    if (!item)
        return invalid(o, i, "an unknown element type");
    if (d->ndim < 1 || d->ndim > MF_ARRAY_MAX_DIMS)
        return invalid(o, i, "ndim out of 1..4");
    size_t count = 1;
    for (uint32_t k = 0; k < d->ndim; k++) {
        if (d->shape[k] && count > (size_t)PY_SSIZE_T_MAX / item / d->shape[k])
            return invalid(o, i, "the size overflows");
        count *= d->shape[k];
    }
    if (count && !d->data)
        return invalid(o, i, "no data pointer");
    pymf_Array *a = PyObject_New(pymf_Array, &pymf_ArrayType);
    if (!a)
        return NULL;
    a->owner = (pymf_Object *)Py_NewRef(o);
    a->name = PyUnicode_FromString(d->name);
    a->data = d->data;
    a->format[0] = d->type;
    a->format[1] = '\0';
    a->ndim = (int)d->ndim;
    a->itemsize = (Py_ssize_t)item;
    a->len = (Py_ssize_t)(count * item);
    Py_ssize_t stride = a->itemsize;
    for (int k = a->ndim - 1; k >= 0; k--) {
        a->shape[k] = (Py_ssize_t)d->shape[k];
        a->strides[k] = stride;
        stride *= a->shape[k] ? a->shape[k] : 1;
    }
    if (!a->name)
        Py_CLEAR(a);
    return (PyObject *)a;
}

/* Asks the hook, with more room if it has more arrays than the first try
 * could hold. Returns how many descriptions are in *out (malloc'd), or -1. */
static int describe(pymf_Object *o, mf_array **out)
{
    size_t cap = 8;
    for (int tries = 0; tries < 2; tries++) {
        mf_array *d = PyMem_Calloc(cap, sizeof *d);
        if (!d) {
            PyErr_NoMemory();
            return -1;
        }
        int n = o->cls->arrays(o->obj, d, cap);
        if (n < 0 || n > MAX_ARRAYS) {
            PyMem_Free(d);
            pymf_raise_detail(MF_ECODEC, NULL, NULL,
                              "the arrays hook of class '%s' returned %d", o->cls->name, n);
            return -1;
        }
        if ((size_t)n <= cap) {
            *out = d;
            return n;
        }
        PyMem_Free(d);
        cap = (size_t)n;
    }
    pymf_raise_detail(MF_ECODEC, NULL, NULL,
                      "the arrays hook of class '%s' kept asking for more room", o->cls->name);
    return -1;
}

PyObject *pymf_arrays_of(pymf_Object *o)
{
    PyObject *dict = PyDict_New();
    if (!dict || !MF_CLASS_HAS(o->cls, arrays))
        return dict;
    mf_array *d = NULL;
    int n = describe(o, &d);
    if (n < 0) {
        Py_DECREF(dict);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        PyObject *a = array_from(o, (size_t)i, &d[i]);
        if (!a || PyDict_SetItem(dict, ((pymf_Array *)a)->name, a) < 0) {
            Py_XDECREF(a);
            Py_CLEAR(dict);
            break;
        }
        Py_DECREF(a);
    }
    PyMem_Free(d);
    return dict;
}

/* ---- the type ------------------------------------------------------------ */

static void array_dealloc(pymf_Array *self)
{
    Py_XDECREF(self->name);
    Py_DECREF(self->owner);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int array_getbuffer(pymf_Array *self, Py_buffer *view, int flags)
{
    int nd = (flags & PyBUF_ND) == PyBUF_ND;
    /* C order only: a Fortran-order request of a real 2-D array fails. */
    if ((flags & PyBUF_F_CONTIGUOUS) == PyBUF_F_CONTIGUOUS && self->ndim > 1) {
        PyErr_SetString(PyExc_BufferError, "mapfile.Array is C-contiguous, not Fortran");
        return -1;
    }
    view->buf = self->data;
    view->obj = Py_NewRef((PyObject *)self);
    view->len = self->len;
    view->readonly = 0;
    view->itemsize = self->itemsize;
    view->format = (flags & PyBUF_FORMAT) ? self->format : NULL;
    view->ndim = nd ? self->ndim : 1;
    view->shape = nd ? self->shape : NULL;
    view->strides = (flags & PyBUF_STRIDES) == PyBUF_STRIDES ? self->strides : NULL;
    view->suboffsets = NULL;
    view->internal = NULL;
    return 0;
}

static PyBufferProcs array_as_buffer = {
    .bf_getbuffer = (getbufferproc)array_getbuffer,
};

static Py_ssize_t array_length(pymf_Array *self) { return self->shape[0]; }

static PySequenceMethods array_as_sequence = {
    .sq_length = (lenfunc)array_length,
};

static PyObject *array_shape(pymf_Array *self, void *closure)
{
    (void)closure;
    PyObject *t = PyTuple_New(self->ndim);
    for (int k = 0; t && k < self->ndim; k++) {
        PyObject *v = PyLong_FromSsize_t(self->shape[k]);
        if (!v) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, k, v);
    }
    return t;
}

static PyObject *array_name(pymf_Array *self, void *closure)
{
    (void)closure;
    return Py_NewRef(self->name);
}

static PyObject *array_format(pymf_Array *self, void *closure)
{
    (void)closure;
    return PyUnicode_FromString(self->format);
}

static PyObject *array_nbytes(pymf_Array *self, void *closure)
{
    (void)closure;
    return PyLong_FromSsize_t(self->len);
}

static PyObject *array_owner(pymf_Array *self, void *closure)
{
    (void)closure;
    return Py_NewRef((PyObject *)self->owner);
}

static PyObject *array_tolist(pymf_Array *self, PyObject *unused)
{
    (void)unused;
    PyObject *mv = PyMemoryView_FromObject((PyObject *)self);
    PyObject *list = mv ? PyObject_CallMethod(mv, "tolist", NULL) : NULL;
    Py_XDECREF(mv);
    return list;
}

static PyObject *array_repr(pymf_Array *self)
{
    PyObject *shape = array_shape(self, NULL);
    PyObject *r = shape ? PyUnicode_FromFormat("<mapfile.Array %R of class '%s': %s %R>",
                                               self->name, self->owner->cls->name,
                                               self->format, shape)
                        : NULL;
    Py_XDECREF(shape);
    return r;
}

static PyGetSetDef array_getset[] = {
    {"name", (getter)array_name, NULL, "the array's name, e.g. 'bins'", NULL},
    {"format", (getter)array_format, NULL, "struct-module element type: 'd' is float64", NULL},
    {"shape", (getter)array_shape, NULL, "elements per dimension (C order)", NULL},
    {"nbytes", (getter)array_nbytes, NULL, "size in bytes", NULL},
    {"owner", (getter)array_owner, NULL, "the mapfile.Object the memory belongs to", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef array_methods[] = {
    {"tolist", (PyCFunction)array_tolist, METH_NOARGS,
     "tolist($self, /)\n--\n\nReturns list. A copy as (nested) Python lists."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject pymf_ArrayType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mapfile.Array",
    .tp_basicsize = sizeof(pymf_Array),
    .tp_dealloc = (destructor)array_dealloc,
    .tp_repr = (reprfunc)array_repr,
    .tp_as_sequence = &array_as_sequence,
    .tp_as_buffer = &array_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc =
        "A typed array inside a decoded object, exported without a copy through\n"
        "the buffer protocol (C order, native byte order, writable):\n"
        "numpy.asarray(obj.arrays['bins']) is a view of the object's memory. The\n"
        "Array keeps its object alive, and every view keeps the Array alive.",
    .tp_methods = array_methods,
    .tp_getset = array_getset,
};
