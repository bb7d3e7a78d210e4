/* watch.c - File.watch(): an iterator that sleeps in mf_wait (GIL
 * released) and yields the names of the records added or updated since its
 * previous step, found by comparing each record's generation. */
#include "pymapfile.h"

#include <string.h>

typedef struct {
    PyObject_HEAD
    pymf_File *file;
    PyObject *prefix;  /* str or None */
    double timeout;    /* per step, seconds; < 0 forever */
    uint64_t seen;     /* file generation at the last scan */
    PyObject *gens;    /* name -> generation at the last scan; NULL at first */
    int done;
} pymf_Watch;

PyObject *pymf_watch_new(pymf_File *f, PyObject *prefix, double timeout)
{
    pymf_Watch *w = PyObject_New(pymf_Watch, &pymf_WatchType);
    if (!w)
        return NULL;
    w->file = (pymf_File *)Py_NewRef((PyObject *)f);
    w->prefix = Py_NewRef(prefix);
    w->timeout = timeout;
    w->seen = 0;
    w->gens = NULL;
    w->done = 0;
    return (PyObject *)w;
}

static void watch_dealloc(pymf_Watch *self)
{
    Py_XDECREF(self->gens);
    Py_DECREF(self->prefix);
    Py_DECREF(self->file);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Appends name to changed when its generation differs from the last scan;
 * records it in now. */
static int note(pymf_Watch *w, PyObject *now, PyObject *changed, const mf_record_info *ri)
{
    PyObject *name = PyUnicode_DecodeUTF8(ri->name, (Py_ssize_t)strlen(ri->name), "replace");
    PyObject *gen = name ? PyLong_FromUnsignedLongLong(ri->generation) : NULL;
    int rc = -1;
    if (gen && PyDict_SetItem(now, name, gen) == 0) {
        PyObject *old = PyDict_GetItemWithError(w->gens, name);
        int same = old ? PyObject_RichCompareBool(old, gen, Py_EQ) : 0;
        if (same >= 0 && !PyErr_Occurred())
            rc = same ? 0 : PyList_Append(changed, name);
    }
    Py_XDECREF(gen);
    Py_XDECREF(name);
    return rc;
}

/* The names added or updated since the last scan. */
static PyObject *scan(pymf_Watch *w)
{
    pymf_File *f = w->file;
    if (!f->mf || f->closed) {
        PyErr_SetString(PyExc_ValueError, "I/O operation on a closed map file");
        return NULL;
    }
    const char *prefix = w->prefix == Py_None ? NULL : PyUnicode_AsUTF8(w->prefix);
    if (w->prefix != Py_None && !prefix)
        return NULL;
    PyObject *now = PyDict_New(), *changed = PyList_New(0);
    if (!now || !changed)
        goto fail;
    if (!prefix || strlen(prefix) <= MF_NAME_MAX) {
        mf_iter it;
        mf_record_info ri;
        int rc;
        mf_iter_init(&it, f->mf, prefix);
        while ((rc = mf_iter_next(&it, &ri)) == 1)
            if (note(w, now, changed, &ri) < 0)
                goto fail;
        if (rc < 0) {
            pymf_raise(rc, f->cpath, NULL);
            goto fail;
        }
    }
    Py_SETREF(w->gens, now);
    return changed;
fail:
    Py_XDECREF(now);
    Py_XDECREF(changed);
    return NULL;
}

static PyObject *watch_next(pymf_Watch *self)
{
    if (self->done)
        return NULL;
    if (!self->gens) {
        if (!self->file->mf || self->file->closed) {
            PyErr_SetString(PyExc_ValueError, "I/O operation on a closed map file");
            return NULL;
        }
        self->gens = PyDict_New();
        if (!self->gens)
            return NULL;
        mf_wait(self->file->mf, &self->seen, 0); /* the current generation */
        PyObject *first = scan(self);
        if (!first || PyList_GET_SIZE(first) > 0)
            return first;
        Py_DECREF(first);
    }
    double deadline = self->timeout < 0 ? -1 : pymf_now() + self->timeout;
    for (;;) {
        double left = deadline < 0 ? -1 : deadline - pymf_now();
        if (deadline >= 0 && left < 0)
            left = 0;
        if (pymf_file_enter(self->file) < 0)
            return NULL;
        int r = pymf_wait_slices(self->file, &self->seen, left);
        pymf_file_leave(self->file);
        if (r < 0)
            return NULL;
        if (r == 0) {
            self->done = 1;
            return NULL; /* StopIteration: no change within the timeout */
        }
        PyObject *changed = scan(self);
        if (!changed || PyList_GET_SIZE(changed) > 0)
            return changed;
        Py_DECREF(changed); /* a change outside the prefix */
    }
}

PyTypeObject pymf_WatchType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mapfile.Watch",
    .tp_basicsize = sizeof(pymf_Watch),
    .tp_dealloc = (destructor)watch_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Iterator returned by File.watch(): each step is a list of the record\n"
              "names added or updated since the previous step.",
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)watch_next,
};
