/* wait.c - waiting in slices that release the GIL and notice signals:
 * File.wait(), and File.watch(), an iterator that sleeps in mf_wait and
 * yields the names of the records added or updated since its previous step,
 * found by comparing each record's generation. */
#include "pymapfile.h"

#include <mapfile/builtin.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double pymf_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int pymf_timeout_arg(PyObject *arg, double *out, const char *what)
{
    if (arg == Py_None) {
        *out = -1;
        return 0;
    }
    double v = PyFloat_AsDouble(arg);
    if (v == -1.0 && PyErr_Occurred()) {
        PyErr_Format(PyExc_TypeError, "%s must be a number of seconds or None", what);
        return -1;
    }
    if (isnan(v) || (v < 0 && v != -1)) {
        PyErr_Format(PyExc_ValueError, "%s must be >= 0 seconds, -1 (forever) or None", what);
        return -1;
    }
    *out = v;
    return 0;
}

/* Milliseconds of the next slice of a wait ending at deadline (< 0: no
 * end): at most PYMF_SLICE_MS, 0 once the deadline has passed. */
int pymf_slice_ms(double deadline)
{
    if (deadline < 0)
        return PYMF_SLICE_MS;
    double left = deadline - pymf_now();
    if (left <= 0)
        return 0;
    return left * 1000.0 < PYMF_SLICE_MS ? (int)ceil(left * 1000.0) : PYMF_SLICE_MS;
}

/* ---- waiting --------------------------------------------------------------- */

int pymf_wait_slices(pymf_File *f, uint64_t *seen, double timeout)
{
    double deadline = timeout < 0 ? -1 : pymf_now() + timeout;
    mf_file *mf = f->mf;
    uint64_t s = *seen;
    for (;;) {
        int ms = pymf_slice_ms(deadline), rc;
        Py_BEGIN_ALLOW_THREADS
        rc = mf_wait(mf, &s, ms);
        Py_END_ALLOW_THREADS
        if (rc == 0) {
            *seen = s;
            return 1;
        }
        if (rc != MF_ETIMEDOUT) {
            pymf_raise(rc, f->cpath, NULL);
            return -1;
        }
        if (PyErr_CheckSignals() < 0)
            return -1;
        if (f->closed) {
            PyErr_SetString(PyExc_ValueError, "the map file was closed while waiting");
            return -1;
        }
        if (ms == 0)
            return 0;
    }
}

PyObject *pymf_file_wait(pymf_File *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"timeout", NULL};
    PyObject *t = Py_None;
    double timeout;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:wait", kwlist, &t) ||
        pymf_timeout_arg(t, &timeout, "timeout") < 0 || pymf_file_enter(self) < 0)
        return NULL;
    /* A private copy: several threads may wait on one file. */
    uint64_t seen = self->seen;
    int r = pymf_wait_slices(self, &seen, timeout);
    if (r > 0)
        self->seen = seen;
    pymf_file_leave(self);
    return r < 0 ? NULL : PyBool_FromLong(r);
}

PyObject *pymf_file_watch(pymf_File *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"prefix", "timeout", NULL};
    PyObject *prefix = Py_None, *t = Py_None;
    double timeout;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OO:watch", kwlist, &prefix, &t) ||
        pymf_timeout_arg(t, &timeout, "timeout") < 0)
        return NULL;
    if (prefix != Py_None && !PyUnicode_Check(prefix)) {
        PyErr_SetString(PyExc_TypeError, "prefix must be a str or None");
        return NULL;
    }
    if (!pymf_file_is_open(self))
        return pymf_closed_error();
    return pymf_watch_new(self, prefix, timeout);
}


/* ---- watch ---------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    pymf_File *file;
    PyObject *prefix;  /* str or None */
    double timeout;    /* per step, seconds; < 0 forever */
    uint64_t seen;     /* file generation at the last scan */
    uint64_t file_id;  /* the file scanned last (a producer's RECREATE makes
                          a new one, whose generations start over) */
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
    w->file_id = 0;
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
    /* A replaced file (this look follows it): every record is new to us,
     * whatever generation it has. */
    mf_file_info fi;
    int src = mf_file_stat(f->mf, &fi);
    if (src < 0) {
        pymf_raise(src, f->cpath, NULL);
        goto fail;
    }
    if (fi.file_id != w->file_id) {
        w->file_id = fi.file_id;
        PyDict_Clear(w->gens);
    }
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
