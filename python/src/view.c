/* view.c - read views (mf_txn_*): File.view(), a mapping that answers as of
 * one committed batch, and File.snapshot(), several objects from one view.
 *
 * A view keeps its file entered (pymf_file_enter) until it ends, so a
 * close() meanwhile waits for it. Its reads hold the GIL: one view is one
 * reader, and the GIL keeps two threads from sharing it at once. */
#include "pymapfile.h"

#include <stdlib.h>
#include <string.h>

/* Bounds the views snapshot() begins while writers keep replacing what it
 * reads (each try takes microseconds). */
#define SNAPSHOT_TRIES 64

typedef struct {
    PyObject_HEAD
    pymf_File *file;
    mf_txn *txn;      /* NULL once ended */
    uint64_t batch;
} pymf_View;

static PyObject *ended_error(void)
{
    PyErr_SetString(PyExc_ValueError, "the read view has ended");
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Snapshots                                                                */
/* ------------------------------------------------------------------------ */

/* What one try of a snapshot holds: names in, objects and records out. */
typedef struct snap {
    size_t n;
    const char **names;
    void **objs;
    const mf_class **classes;
    mf_record_info *infos;
} snap;

static void snap_free_objs(snap *s, size_t from)
{
    for (size_t i = from; i < s->n; i++) {
        mf_object_free(s->classes[i], s->objs[i]);
        s->objs[i] = NULL;
    }
}

/* Every name from one view; runs without the GIL. 0, or an MF_E* code
 * (MF_ESNAPSHOT: a writer overtook the view, try a new one). */
static int snap_read(mf_file *mf, snap *s, uint64_t *batch)
{
    mf_txn *txn;
    int rc = mf_txn_begin(mf, &txn);
    if (rc)
        return rc;
    *batch = mf_txn_batch(txn);
    for (size_t i = 0; i < s->n && rc == 0; i++) {
        rc = mf_txn_get(txn, s->names[i], &s->objs[i], &s->classes[i]);
        if (rc == 0 && (rc = mf_txn_stat(txn, s->names[i], &s->infos[i])) != 0)
            snap_free_objs(s, i);
        if (rc)
            snap_free_objs(s, 0);
    }
    mf_txn_end(txn);
    return rc;
}

static int snap_alloc(snap *s, PyObject *list)
{
    s->n = (size_t)PyList_GET_SIZE(list);
    size_t n = s->n ? s->n : 1;
    s->names = PyMem_Calloc(n, sizeof *s->names);
    s->objs = PyMem_Calloc(n, sizeof *s->objs);
    s->classes = PyMem_Calloc(n, sizeof *s->classes);
    s->infos = PyMem_Calloc(n, sizeof *s->infos);
    if (!s->names || !s->objs || !s->classes || !s->infos) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < s->n; i++)
        if (!(s->names[i] = pymf_name_arg(PyList_GET_ITEM(list, (Py_ssize_t)i))))
            return -1;
    return 0;
}

static void snap_release(snap *s)
{
    PyMem_Free(s->names);
    PyMem_Free(s->objs);
    PyMem_Free(s->classes);
    PyMem_Free(s->infos);
}

/* The dict name -> value, each Object carrying its record as of the view. */
static PyObject *snap_dict(pymf_File *f, snap *s, PyObject *list)
{
    PyObject *d = PyDict_New();
    for (size_t i = 0; i < s->n; i++) {
        PyObject *rec = d ? pymf_record_dict(&s->infos[i]) : NULL;
        PyObject *v = rec ? pymf_object_wrap(s->objs[i], s->classes[i], f->registry, rec) : NULL;
        if (!rec)
            mf_object_free(s->classes[i], s->objs[i]);
        s->objs[i] = NULL;
        Py_XDECREF(rec);
        if (!v || PyDict_SetItem(d, PyList_GET_ITEM(list, (Py_ssize_t)i), v) < 0) {
            Py_XDECREF(v);
            Py_CLEAR(d);
            snap_free_objs(s, i + 1);
            return NULL;
        }
        Py_DECREF(v);
    }
    return d;
}

PyObject *pymf_file_snapshot(pymf_File *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"names", NULL};
    PyObject *names = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:snapshot", kwlist, &names))
        return NULL;
    if (PyUnicode_Check(names)) {
        PyErr_SetString(PyExc_TypeError, "snapshot() takes a list of names, not one str");
        return NULL;
    }
    PyObject *list = names == Py_None ? pymf_names_list(self, NULL) : PySequence_List(names);
    if (!list)
        return NULL;
    snap s = {0};
    PyObject *r = NULL;
    if (snap_alloc(&s, list) == 0 && pymf_file_enter(self) == 0) {
        mf_file *mf = self->mf;
        uint64_t batch = 0;
        int rc = MF_ESNAPSHOT, tries = 0;
        Py_BEGIN_ALLOW_THREADS
        for (; rc == MF_ESNAPSHOT && tries < SNAPSHOT_TRIES; tries++)
            rc = snap_read(mf, &s, &batch);
        Py_END_ALLOW_THREADS
        if (rc == MF_ESNAPSHOT)
            pymf_raise_detail(MF_EBUSY, self->cpath, NULL,
                              "writers replaced the records on each of %d read views", tries);
        else if (rc)
            pymf_raise(rc, self->cpath, s.n == 1 ? s.names[0] : NULL);
        else
            r = snap_dict(self, &s, list);
        pymf_file_leave(self);
    }
    snap_release(&s);
    Py_DECREF(list);
    return r;
}

/* ------------------------------------------------------------------------ */
/* View                                                                     */
/* ------------------------------------------------------------------------ */

PyObject *pymf_file_view(pymf_File *self, PyObject *unused)
{
    (void)unused;
    if (pymf_file_enter(self) < 0)
        return NULL;
    pymf_View *v = PyObject_New(pymf_View, &pymf_ViewType);
    if (!v) {
        pymf_file_leave(self);
        return NULL;
    }
    v->file = (pymf_File *)Py_NewRef((PyObject *)self);
    v->txn = NULL;
    mf_txn *txn;
    int rc = mf_txn_begin(self->mf, &txn);
    if (rc) {
        pymf_raise(rc, self->cpath, NULL);
        pymf_file_leave(self);
        Py_DECREF(v);
        return NULL;
    }
    v->txn = txn;
    v->batch = mf_txn_batch(v->txn);
    return (PyObject *)v;
}

/* Ends the txn and lets the file go (it may close now). */
static void view_end_txn(pymf_View *v)
{
    if (!v->txn)
        return;
    mf_txn_end(v->txn);
    v->txn = NULL;
    pymf_file_leave(v->file);
}

static void view_dealloc(pymf_View *self)
{
    view_end_txn(self);
    Py_XDECREF(self->file);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *view_end(pymf_View *self, PyObject *unused)
{
    (void)unused;
    view_end_txn(self);
    Py_RETURN_NONE;
}

static PyObject *view_enter(pymf_View *self, PyObject *unused)
{
    (void)unused;
    if (!self->txn)
        return ended_error();
    return Py_NewRef((PyObject *)self);
}

static PyObject *view_exit(pymf_View *self, PyObject *args)
{
    (void)args;
    view_end_txn(self);
    Py_RETURN_FALSE;
}

static PyObject *view_subscript(pymf_View *self, PyObject *name)
{
    const char *cname = pymf_name_arg(name);
    if (!cname)
        return NULL;
    if (!self->txn)
        return ended_error();
    void *obj;
    const mf_class *cls;
    mf_record_info ri;
    int rc = mf_txn_get(self->txn, cname, &obj, &cls);
    if (rc == 0 && (rc = mf_txn_stat(self->txn, cname, &ri)) != 0)
        mf_object_free(cls, obj);
    if (rc)
        return pymf_raise(rc, self->file->cpath, cname);
    PyObject *rec = pymf_record_dict(&ri);
    if (!rec) {
        mf_object_free(cls, obj);
        return NULL;
    }
    PyObject *r = pymf_object_wrap(obj, cls, self->file->registry, rec);
    Py_DECREF(rec);
    return r;
}

static PyObject *view_get(pymf_View *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "get(name, default=None)");
        return NULL;
    }
    PyObject *v = view_subscript(self, args[0]);
    if (!v && PyErr_ExceptionMatches(pymf_error_type(MF_ENOTFOUND))) {
        PyErr_Clear();
        return Py_NewRef(nargs == 2 ? args[1] : Py_None);
    }
    return v;
}

static PyObject *view_stat(pymf_View *self, PyObject *name)
{
    const char *cname = pymf_name_arg(name);
    if (!cname)
        return NULL;
    if (!self->txn)
        return ended_error();
    mf_record_info ri;
    int rc = mf_txn_stat(self->txn, cname, &ri);
    return rc ? pymf_raise(rc, self->file->cpath, cname) : pymf_record_dict(&ri);
}

static int view_contains(pymf_View *self, PyObject *name)
{
    if (!self->txn) {
        ended_error();
        return -1;
    }
    if (!PyUnicode_Check(name))
        return 0;
    const char *cname = pymf_name_arg(name);
    if (!cname) {
        PyErr_Clear();
        return 0;
    }
    mf_record_info ri;
    int rc = mf_txn_stat(self->txn, cname, &ri);
    if (rc == 0)
        return 1;
    if (rc == MF_ENOTFOUND || rc == MF_ENAME)
        return 0;
    pymf_raise(rc, self->file->cpath, cname);
    return -1;
}

static PyObject *view_raw(pymf_View *self, PyObject *name)
{
    const char *cname = pymf_name_arg(name);
    if (!cname)
        return NULL;
    if (!self->txn)
        return ended_error();
    void *data;
    mf_record_info ri;
    int rc = mf_txn_get_raw_alloc(self->txn, cname, &data, &ri);
    if (rc)
        return pymf_raise(rc, self->file->cpath, cname);
    PyObject *b = ri.size > (uint64_t)PY_SSIZE_T_MAX
                      ? PyErr_NoMemory()
                      : PyBytes_FromStringAndSize(data, (Py_ssize_t)ri.size);
    free(data);
    return b;
}

static PyObject *view_keys(pymf_View *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"prefix", NULL};
    const char *prefix = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|z:keys", kwlist, &prefix))
        return NULL;
    if (!self->txn)
        return ended_error();
    PyObject *list = PyList_New(0);
    if (!list || (prefix && strlen(prefix) > MF_NAME_MAX))
        return list;
    mf_iter it;
    mf_record_info ri;
    mf_txn_iter_init(&it, self->txn, prefix);
    int rc;
    while ((rc = mf_iter_next(&it, &ri)) == 1) {
        PyObject *s = PyUnicode_DecodeUTF8(ri.name, (Py_ssize_t)strlen(ri.name), "replace");
        if (!s || PyList_Append(list, s) < 0) {
            Py_XDECREF(s);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(s);
    }
    if (rc < 0) {
        Py_DECREF(list);
        return pymf_raise(rc, self->file->cpath, NULL);
    }
    return list;
}

static PyObject *view_iter(pymf_View *self)
{
    PyObject *empty = PyTuple_New(0);
    PyObject *list = empty ? view_keys(self, empty, NULL) : NULL;
    Py_XDECREF(empty);
    PyObject *it = list ? PyObject_GetIter(list) : NULL;
    Py_XDECREF(list);
    return it;
}

static Py_ssize_t view_length(pymf_View *self)
{
    PyObject *empty = PyTuple_New(0);
    PyObject *list = empty ? view_keys(self, empty, NULL) : NULL;
    Py_XDECREF(empty);
    Py_ssize_t n = list ? PyList_GET_SIZE(list) : -1;
    Py_XDECREF(list);
    return n;
}

static PyObject *view_get_batch(pymf_View *self, void *closure)
{
    (void)closure;
    return PyLong_FromUnsignedLongLong(self->batch);
}

static PyObject *view_get_ended(pymf_View *self, void *closure)
{
    (void)closure;
    return PyBool_FromLong(self->txn == NULL);
}

static PyObject *view_repr(pymf_View *self)
{
    return PyUnicode_FromFormat("<mapfile.View of %R at batch %llu%s>", self->file->path,
                                (unsigned long long)self->batch, self->txn ? "" : " ended");
}

static PyGetSetDef view_getset[] = {
    {"batch", (getter)view_get_batch, NULL,
     "the committed batch the view reads (0 for a file never written)", NULL},
    {"ended", (getter)view_get_ended, NULL, "True after end()", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef view_methods[] = {
    {"end", (PyCFunction)view_end, METH_NOARGS,
     "end($self, /)\n--\n\n"
     "End the view (again is a no-op)."},
    {"__enter__", (PyCFunction)view_enter, METH_NOARGS,
     "__enter__($self, /)\n--\n\nReturns the view."},
    {"__exit__", (PyCFunction)view_exit, METH_VARARGS,
     "__exit__($self, /, *exc)\n--\n\nEnds the view; exceptions propagate."},
    {"get", (PyCFunction)(void (*)(void))view_get, METH_FASTCALL,
     "get($self, name, default=None, /)\n--\n\n"
     "view[name], or default when the view has no such record."},
    {"keys", (PyCFunction)(void (*)(void))view_keys, METH_VARARGS | METH_KEYWORDS,
     "keys($self, /, prefix=None)\n--\n\n"
     "Returns list[str]. The view's record names, in insertion order."},
    {"stat", (PyCFunction)view_stat, METH_O,
     "stat($self, name, /)\n--\n\n"
     "Returns dict. File.stat() as of the view."},
    {"raw", (PyCFunction)view_raw, METH_O,
     "raw($self, name, /)\n--\n\n"
     "Returns bytes. File.raw() as of the view."},
    {NULL, NULL, 0, NULL},
};

static PyMappingMethods view_as_mapping = {
    .mp_length = (lenfunc)view_length,
    .mp_subscript = (binaryfunc)view_subscript,
};

static PySequenceMethods view_as_sequence = {
    .sq_contains = (objobjproc)view_contains,
};

PyTypeObject pymf_ViewType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mapfile.View",
    .tp_basicsize = sizeof(pymf_View),
    .tp_dealloc = (destructor)view_dealloc,
    .tp_repr = (reprfunc)view_repr,
    .tp_as_sequence = &view_as_sequence,
    .tp_as_mapping = &view_as_mapping,
    .tp_iter = (getiterfunc)view_iter,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc =
        "A read view from File.view(): a read-only mapping (view[name], get,\n"
        "keys, stat, raw, in, len, iteration) that answers as of the batch that\n"
        "was the latest committed when it began (.batch), like a read\n"
        "transaction, without slowing any writer. Writers keep no old versions\n"
        "for it: a read whose answer a writer has replaced since raises\n"
        "BusyError (MF_ESNAPSHOT); begin a new view then. Objects read through a\n"
        "view carry .record, their stat as of the view. A context manager that\n"
        "ends the view; an open view keeps its file from closing.",
    .tp_methods = view_methods,
    .tp_getset = view_getset,
};
