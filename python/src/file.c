/* file.c - mapfile.File: an open map file with the mapping protocol for
 * reading, snapshots, waits that release the GIL, and writes.
 *
 * Calls that may block or take long (open with a wait, wait, gets,
 * snapshots, raw copies, check, writes) release the GIL. Such a call counts
 * itself in `users`; close() from another thread then only marks the file
 * closed, and the last call to finish closes the handle. */
#include "pymapfile.h"

#include <mapfile/builtin.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Bounds the snapshot retries when writers keep changing the records
 * between the stats that date the snapshot (each try is microseconds). */
#define SNAPSHOT_TRIES 64

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */

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
static int slice_ms(double deadline)
{
    if (deadline < 0)
        return PYMF_SLICE_MS;
    double left = deadline - pymf_now();
    if (left <= 0)
        return 0;
    return left * 1000.0 < PYMF_SLICE_MS ? (int)ceil(left * 1000.0) : PYMF_SLICE_MS;
}

static PyObject *closed_error(void)
{
    PyErr_SetString(PyExc_ValueError, "I/O operation on a closed map file");
    return NULL;
}

static int is_open(const pymf_File *f) { return f->mf && !f->closed; }

/* Closes the handle and lets go of the added objects (after the close, so
 * the file never points at a freed object). */
static void release(pymf_File *f)
{
    mf_file *mf = f->mf;
    f->mf = NULL;
    if (mf)
        mf_close(mf);
    Py_CLEAR(f->added);
}

int pymf_file_enter(pymf_File *f)
{
    if (!is_open(f)) {
        closed_error();
        return -1;
    }
    f->users++;
    return 0;
}

void pymf_file_leave(pymf_File *f)
{
    f->users--;
    if (f->closed && f->users == 0)
        release(f);
}

/* A record name as UTF-8 without NULs; NULL with an exception set. */
static const char *name_arg(PyObject *name)
{
    if (!PyUnicode_Check(name)) {
        PyErr_Format(PyExc_TypeError, "record names are str, not %s", Py_TYPE(name)->tp_name);
        return NULL;
    }
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(name, &len);
    if (s && (size_t)len != strlen(s)) {
        pymf_raise_detail(MF_ENAME, NULL, NULL, "a record name cannot contain a NUL character");
        return NULL;
    }
    return s;
}

/* ------------------------------------------------------------------------ */
/* Dicts of stat() and info()                                               */
/* ------------------------------------------------------------------------ */

/* Sets d[key] = v and drops v; -1 on failure (v NULL included). */
static int put_item(PyObject *d, const char *key, PyObject *v)
{
    if (!v)
        return -1;
    int rc = PyDict_SetItemString(d, key, v);
    Py_DECREF(v);
    return rc;
}

PyObject *pymf_record_dict(const mf_record_info *ri)
{
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    if (put_item(d, "name", PyUnicode_DecodeUTF8(ri->name, (Py_ssize_t)strlen(ri->name),
                                                 "replace")) < 0 ||
        put_item(d, "class", PyUnicode_FromString(ri->class_name)) < 0 ||
        put_item(d, "version", PyLong_FromUnsignedLong(ri->class_version)) < 0 ||
        put_item(d, "size", PyLong_FromUnsignedLongLong(ri->size)) < 0 ||
        put_item(d, "checksum", PyLong_FromUnsignedLongLong(ri->checksum)) < 0 ||
        put_item(d, "generation", PyLong_FromUnsignedLongLong(ri->generation)) < 0 ||
        put_item(d, "updates", PyLong_FromUnsignedLongLong(ri->update_count)) < 0 ||
        put_item(d, "update_time_ns", PyLong_FromUnsignedLongLong(ri->update_time_ns)) < 0 ||
        put_item(d, "update_time", PyFloat_FromDouble((double)ri->update_time_ns * 1e-9)) < 0 ||
        put_item(d, "batch", PyLong_FromUnsignedLongLong(ri->batch)) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

static const char *writer_state(int s)
{
    return s == MF_WRITER_FREE ? "free" : s == MF_WRITER_HELD ? "held" : "dead";
}

static PyObject *info_dict(const mf_file_info *fi)
{
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    if (put_item(d, "path", PyUnicode_DecodeFSDefault(fi->path)) < 0 ||
        put_item(d, "title", PyUnicode_DecodeUTF8(fi->title, (Py_ssize_t)strlen(fi->title),
                                                  "replace")) < 0 ||
        put_item(d, "format_version", PyLong_FromUnsignedLong(fi->format_version)) < 0 ||
        put_item(d, "capacity", PyLong_FromUnsignedLongLong(fi->capacity)) < 0 ||
        put_item(d, "max_size", PyLong_FromUnsignedLongLong(fi->max_size)) < 0 ||
        put_item(d, "heap_size", PyLong_FromUnsignedLongLong(fi->heap_size)) < 0 ||
        put_item(d, "heap_used", PyLong_FromUnsignedLongLong(fi->heap_used)) < 0 ||
        put_item(d, "heap_free", PyLong_FromUnsignedLongLong(fi->heap_free)) < 0 ||
        put_item(d, "records", PyLong_FromUnsignedLongLong(fi->records)) < 0 ||
        put_item(d, "generation", PyLong_FromUnsignedLongLong(fi->generation)) < 0 ||
        put_item(d, "batch", PyLong_FromUnsignedLongLong(fi->batch)) < 0 ||
        put_item(d, "recoveries", PyLong_FromUnsignedLongLong(fi->recoveries)) < 0 ||
        put_item(d, "writer", PyUnicode_FromString(writer_state(fi->writer_state))) < 0 ||
        put_item(d, "writable", PyBool_FromLong(fi->writable)) < 0 ||
        put_item(d, "retired", PyBool_FromLong(fi->retired)) < 0 ||
        put_item(d, "best_buffer", PyLong_FromUnsignedLongLong(fi->best_buffer)) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* ------------------------------------------------------------------------ */
/* Opening                                                                  */
/* ------------------------------------------------------------------------ */

static int mode_arg(const char *s, int *mode)
{
    if (strcmp(s, "r") == 0)
        *mode = MF_READ;
    else if (strcmp(s, "w") == 0)
        *mode = MF_UPDATE;
    else if (strcmp(s, "recreate") == 0)
        *mode = MF_RECREATE;
    else {
        PyErr_Format(PyExc_ValueError, "mode must be 'r', 'w' or 'recreate', not '%s'", s);
        return -1;
    }
    return 0;
}

/* A size in bytes: None (the default) or an int >= 0. */
static int size_arg(PyObject *arg, unsigned long long *out)
{
    if (arg == Py_None)
        return 0;
    if (!PyLong_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "sizes are int bytes, not %s", Py_TYPE(arg)->tp_name);
        return -1;
    }
    *out = PyLong_AsUnsignedLongLong(arg);
    return *out == (unsigned long long)-1 && PyErr_Occurred() ? -1 : 0;
}

/* mf_open in slices while the file does not exist yet, so that Ctrl-C is
 * seen; wait < 0 waits forever. Returns the last mf_open code, or 1 with an
 * exception set (a signal). */
static int open_waiting(mf_file **mf, const char *path, int mode, mf_open_options *opts,
                        double wait)
{
    double deadline = wait < 0 ? -1 : pymf_now() + wait;
    int waiting = wait != 0 && mode == MF_READ;
    for (;;) {
        int rc;
        opts->wait_ms = waiting ? slice_ms(deadline) : 0;
        Py_BEGIN_ALLOW_THREADS
        rc = mf_open(mf, path, mode, opts);
        Py_END_ALLOW_THREADS
        if (rc != MF_ETIMEDOUT || !waiting)
            return rc;
        if (PyErr_CheckSignals() < 0)
            return 1;
        if (deadline >= 0 && pymf_now() >= deadline)
            return rc;
    }
}

static pymf_File *file_alloc(PyObject *path)
{
    pymf_File *f = PyObject_New(pymf_File, &pymf_FileType);
    if (!f)
        return NULL;
    f->mf = NULL;
    f->registry = NULL;
    f->path = NULL;
    f->cpath = NULL;
    f->mode = 0;
    f->closed = 0;
    f->users = 0;
    f->seen = 0;
    f->weakreflist = NULL;
    f->added = PyDict_New();
    PyObject *fs = PyOS_FSPath(path);
    if (fs && PyBytes_Check(fs))
        Py_SETREF(fs, PyUnicode_DecodeFSDefaultAndSize(PyBytes_AS_STRING(fs),
                                                       PyBytes_GET_SIZE(fs)));
    f->path = fs;
    PyObject *bytes = NULL;
    if (fs && PyUnicode_FSConverter(fs, &bytes)) {
        f->cpath = strdup(PyBytes_AS_STRING(bytes));
        Py_DECREF(bytes);
        if (!f->cpath)
            PyErr_NoMemory();
    }
    if (!f->added || !f->cpath) {
        Py_DECREF(f);
        return NULL;
    }
    return f;
}

PyObject *pymf_open(PyObject *module, PyObject *args, PyObject *kwargs)
{
    (void)module;
    static char *kwlist[] = {"path", "mode", "wait", "plugin_path", "title",
                             "initial_size", "max_size", NULL};
    PyObject *path, *wait_arg = Py_None, *plugin_path = Py_None;
    PyObject *initial_arg = Py_None, *max_arg = Py_None;
    const char *mode_s = "r", *title = NULL;
    unsigned long long initial_size = 0, max_size = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|sOO$zOO:open", kwlist, &path, &mode_s,
                                     &wait_arg, &plugin_path, &title, &initial_arg, &max_arg) ||
        size_arg(initial_arg, &initial_size) < 0 || size_arg(max_arg, &max_size) < 0)
        return NULL;
    int mode;
    double wait = 0;
    if (mode_arg(mode_s, &mode) < 0 ||
        (wait_arg != Py_None && pymf_timeout_arg(wait_arg, &wait, "wait") < 0))
        return NULL;
    if (wait_arg != Py_None && mode != MF_READ) {
        PyErr_SetString(PyExc_ValueError, "wait= applies to mode 'r' only ('w' creates the file)");
        return NULL;
    }
    pymf_File *f = file_alloc(path);
    if (!f)
        return NULL;
    f->mode = mode;
    PyObject *reg = pymf_registry_from(plugin_path);
    if (!reg) {
        Py_DECREF(f);
        return NULL;
    }
    f->registry = reg == Py_None ? NULL : reg;
    if (reg == Py_None)
        Py_DECREF(reg);

    mf_open_options opts = MF_OPEN_OPTIONS_INIT;
    opts.registry = pymf_registry_get(f->registry);
    if (title)
        opts.title = title;
    if (initial_size)
        opts.initial_size = initial_size;
    opts.max_size = max_size;
    int rc = open_waiting(&f->mf, f->cpath, mode, &opts, wait);
    if (rc == 1) {
        Py_DECREF(f);
        return NULL;
    }
    if (rc == MF_ETIMEDOUT) {
        pymf_raise_detail(rc, f->cpath, NULL, "the file did not appear within %g s", wait);
        Py_DECREF(f);
        return NULL;
    }
    if (rc) {
        pymf_raise(rc, f->cpath, NULL);
        Py_DECREF(f);
        return NULL;
    }
    /* seen = 0 returns the current generation at once: wait() then sleeps
     * until the next change after the open. */
    mf_wait(f->mf, &f->seen, 0);
    return (PyObject *)f;
}

static void file_dealloc(pymf_File *self)
{
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    release(self);
    free(self->cpath);
    Py_XDECREF(self->path);
    Py_XDECREF(self->registry); /* last: the objects above used its codecs */
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *file_close(pymf_File *self, PyObject *unused)
{
    (void)unused;
    if (!self->closed) {
        self->closed = 1;
        if (self->users == 0)
            release(self);
    }
    Py_RETURN_NONE;
}

static PyObject *file_enter_ctx(pymf_File *self, PyObject *unused)
{
    (void)unused;
    if (!is_open(self))
        return closed_error();
    return Py_NewRef((PyObject *)self);
}

static PyObject *file_exit_ctx(pymf_File *self, PyObject *args)
{
    (void)args;
    PyObject *r = file_close(self, NULL);
    Py_XDECREF(r);
    Py_RETURN_FALSE;
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                  */
/* ------------------------------------------------------------------------ */

/* f[name]: the decoded object (str for text, bytes for blob). */
static PyObject *get_value(pymf_File *f, PyObject *name)
{
    const char *cname = name_arg(name);
    if (!cname || pymf_file_enter(f) < 0)
        return NULL;
    void *obj = NULL;
    const mf_class *cls = NULL;
    mf_file *mf = f->mf;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mf_get(mf, cname, &obj, &cls);
    Py_END_ALLOW_THREADS
    PyObject *r = rc ? pymf_raise(rc, f->cpath, cname)
                     : pymf_object_wrap(obj, cls, f->registry, NULL);
    pymf_file_leave(f);
    return r;
}

static PyObject *file_subscript(pymf_File *self, PyObject *name)
{
    return get_value(self, name);
}

static PyObject *file_get(pymf_File *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "get(name, default=None)");
        return NULL;
    }
    PyObject *v = get_value(self, args[0]);
    if (!v && PyErr_ExceptionMatches(pymf_error_type(MF_ENOTFOUND))) {
        PyErr_Clear();
        return Py_NewRef(nargs == 2 ? args[1] : Py_None);
    }
    return v;
}

static int file_contains(pymf_File *self, PyObject *name)
{
    if (!is_open(self)) {
        closed_error();
        return -1;
    }
    if (!PyUnicode_Check(name))
        return 0;
    const char *cname = name_arg(name);
    if (!cname) {
        PyErr_Clear();
        return 0; /* a name with a NUL is in no file */
    }
    mf_record_info ri;
    int rc = mf_stat(self->mf, cname, &ri);
    if (rc == 0)
        return 1;
    if (rc == MF_ENOTFOUND || rc == MF_ENAME)
        return 0;
    pymf_raise(rc, self->cpath, cname);
    return -1;
}

static Py_ssize_t file_length(pymf_File *self)
{
    if (!is_open(self)) {
        closed_error();
        return -1;
    }
    mf_file_info fi;
    int rc = mf_file_stat(self->mf, &fi);
    if (rc) {
        pymf_raise(rc, self->cpath, NULL);
        return -1;
    }
    return fi.records > (uint64_t)PY_SSIZE_T_MAX ? PY_SSIZE_T_MAX : (Py_ssize_t)fi.records;
}

/* The names under prefix, in insertion order. */
static PyObject *names_list(pymf_File *f, const char *prefix)
{
    if (!is_open(f))
        return closed_error();
    PyObject *list = PyList_New(0);
    if (!list || (prefix && strlen(prefix) > MF_NAME_MAX))
        return list; /* no name is that long */
    mf_iter it;
    mf_record_info ri;
    mf_iter_init(&it, f->mf, prefix);
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
        return pymf_raise(rc, f->cpath, NULL);
    }
    return list;
}

static int prefix_arg(PyObject *args, PyObject *kwargs, const char *fn, const char **prefix)
{
    static char *kwlist[] = {"prefix", NULL};
    char fmt[32];
    snprintf(fmt, sizeof fmt, "|z:%s", fn);
    *prefix = NULL;
    return PyArg_ParseTupleAndKeywords(args, kwargs, fmt, kwlist, prefix) ? 0 : -1;
}

static PyObject *file_keys(pymf_File *self, PyObject *args, PyObject *kwargs)
{
    const char *prefix;
    if (prefix_arg(args, kwargs, "keys", &prefix) < 0)
        return NULL;
    return names_list(self, prefix);
}

static PyObject *file_iter(pymf_File *self)
{
    PyObject *list = names_list(self, NULL);
    PyObject *it = list ? PyObject_GetIter(list) : NULL;
    Py_XDECREF(list);
    return it;
}

/* items() and values(): records removed since the listing are skipped. */
static PyObject *collect(pymf_File *f, PyObject *args, PyObject *kwargs, const char *fn,
                         int pairs)
{
    const char *prefix;
    if (prefix_arg(args, kwargs, fn, &prefix) < 0)
        return NULL;
    PyObject *names = names_list(f, prefix);
    PyObject *out = names ? PyList_New(0) : NULL;
    for (Py_ssize_t i = 0; out && i < PyList_GET_SIZE(names); i++) {
        PyObject *name = PyList_GET_ITEM(names, i);
        PyObject *v = get_value(f, name);
        if (!v && PyErr_ExceptionMatches(pymf_error_type(MF_ENOTFOUND))) {
            PyErr_Clear();
            continue;
        }
        PyObject *item = v && pairs ? PyTuple_Pack(2, name, v) : Py_XNewRef(v);
        Py_XDECREF(v);
        if (!item || PyList_Append(out, item) < 0)
            Py_CLEAR(out);
        Py_XDECREF(item);
    }
    Py_XDECREF(names);
    return out;
}

static PyObject *file_items(pymf_File *self, PyObject *args, PyObject *kwargs)
{
    return collect(self, args, kwargs, "items", 1);
}

static PyObject *file_values(pymf_File *self, PyObject *args, PyObject *kwargs)
{
    return collect(self, args, kwargs, "values", 0);
}

static PyObject *file_stat(pymf_File *self, PyObject *name)
{
    const char *cname = name_arg(name);
    if (!cname)
        return NULL;
    if (!is_open(self))
        return closed_error();
    mf_record_info ri;
    int rc = mf_stat(self->mf, cname, &ri);
    return rc ? pymf_raise(rc, self->cpath, cname) : pymf_record_dict(&ri);
}

static PyObject *file_info(pymf_File *self, PyObject *unused)
{
    (void)unused;
    if (!is_open(self))
        return closed_error();
    mf_file_info fi;
    int rc = mf_file_stat(self->mf, &fi);
    return rc ? pymf_raise(rc, self->cpath, NULL) : info_dict(&fi);
}

/* The payload straight into a bytes object, resized if the record grew
 * between the stat and the copy. */
static PyObject *file_raw(pymf_File *self, PyObject *name)
{
    const char *cname = name_arg(name);
    if (!cname || pymf_file_enter(self) < 0)
        return NULL;
    mf_record_info ri;
    int rc = mf_stat(self->mf, cname, &ri);
    PyObject *bytes = NULL;
    for (int tries = 0; rc == 0 && tries < SNAPSHOT_TRIES; tries++) {
        if (ri.size > (uint64_t)PY_SSIZE_T_MAX) {
            pymf_file_leave(self);
            return PyErr_NoMemory();
        }
        if (!bytes)
            bytes = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)ri.size);
        else if (_PyBytes_Resize(&bytes, (Py_ssize_t)ri.size) < 0)
            bytes = NULL;
        if (!bytes) {
            pymf_file_leave(self);
            return NULL;
        }
        mf_file *mf = self->mf;
        char *buf = PyBytes_AS_STRING(bytes);
        size_t cap = (size_t)ri.size;
        Py_BEGIN_ALLOW_THREADS
        rc = mf_get_raw(mf, cname, buf, cap, &ri);
        Py_END_ALLOW_THREADS
        if (rc != MF_ETOOSMALL)
            break;
    }
    if (rc == 0 && _PyBytes_Resize(&bytes, (Py_ssize_t)ri.size) < 0)
        bytes = NULL;
    else if (rc)
        Py_CLEAR(bytes);
    PyObject *r = rc ? pymf_raise(rc, self->cpath, cname) : bytes;
    pymf_file_leave(self);
    return r;
}

/* ---- snapshot ------------------------------------------------------------- */

typedef struct snap {
    Py_ssize_t n;
    const char **names;
    mf_record_info *before, *after;
    void **objs;
    const mf_class **classes;
} snap;

static void snap_free(snap *s)
{
    PyMem_Free(s->names);
    PyMem_Free(s->before);
    PyMem_Free(s->after);
    PyMem_Free(s->objs);
    PyMem_Free(s->classes);
}

static int snap_alloc(snap *s, PyObject *list)
{
    s->n = PyList_GET_SIZE(list);
    size_t n = (size_t)s->n ? (size_t)s->n : 1;
    s->names = PyMem_Calloc(n, sizeof *s->names);
    s->before = PyMem_Calloc(n, sizeof *s->before);
    s->after = PyMem_Calloc(n, sizeof *s->after);
    s->objs = PyMem_Calloc(n, sizeof *s->objs);
    s->classes = PyMem_Calloc(n, sizeof *s->classes);
    if (!s->names || !s->before || !s->after || !s->objs || !s->classes) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < s->n; i++)
        if (!(s->names[i] = name_arg(PyList_GET_ITEM(list, i))))
            return -1;
    return 0;
}

static int stat_all(pymf_File *f, snap *s, mf_record_info *out)
{
    for (Py_ssize_t i = 0; i < s->n; i++) {
        int rc = mf_stat(f->mf, s->names[i], &out[i]);
        if (rc) {
            pymf_raise(rc, f->cpath, s->names[i]);
            return -1;
        }
    }
    return 0;
}

static int same_payloads(const snap *s)
{
    for (Py_ssize_t i = 0; i < s->n; i++)
        if (s->before[i].generation != s->after[i].generation ||
            s->before[i].checksum != s->after[i].checksum ||
            s->before[i].update_time_ns != s->after[i].update_time_ns ||
            s->before[i].batch != s->after[i].batch)
            return 0;
    return 1;
}

static void free_objs(snap *s, Py_ssize_t from)
{
    for (Py_ssize_t i = from; i < s->n; i++) {
        mf_object_free(s->classes[i], s->objs[i]);
        s->objs[i] = NULL;
    }
}

/* One mf_get_snapshot between two rounds of stats: when no record changed
 * across the whole window, the objects are exactly the payloads the stats
 * describe, so each can carry its record (generation, batch). Returns 1
 * done, 0 retry, -1 error. */
static int snap_try(pymf_File *f, snap *s)
{
    if (stat_all(f, s, s->before) < 0)
        return -1;
    mf_file *mf = f->mf;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mf_get_snapshot(mf, s->names, (size_t)s->n, s->objs, s->classes, NULL);
    Py_END_ALLOW_THREADS
    if (rc) {
        pymf_raise(rc, f->cpath, s->n == 1 ? s->names[0] : NULL);
        return -1;
    }
    if (stat_all(f, s, s->after) < 0) {
        free_objs(s, 0);
        return -1;
    }
    if (same_payloads(s))
        return 1;
    free_objs(s, 0);
    return 0;
}

static PyObject *snap_dict(pymf_File *f, snap *s, PyObject *list)
{
    PyObject *d = PyDict_New();
    for (Py_ssize_t i = 0; i < s->n; i++) {
        PyObject *rec = d ? pymf_record_dict(&s->before[i]) : NULL;
        PyObject *v = rec ? pymf_object_wrap(s->objs[i], s->classes[i], f->registry, rec) : NULL;
        if (!rec)
            mf_object_free(s->classes[i], s->objs[i]);
        s->objs[i] = NULL;
        Py_XDECREF(rec);
        if (!v || PyDict_SetItem(d, PyList_GET_ITEM(list, i), v) < 0) {
            Py_XDECREF(v);
            Py_CLEAR(d);
            free_objs(s, i + 1);
            return NULL;
        }
        Py_DECREF(v);
    }
    return d;
}

static PyObject *file_snapshot(pymf_File *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"names", NULL};
    PyObject *names = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:snapshot", kwlist, &names))
        return NULL;
    if (PyUnicode_Check(names)) {
        PyErr_SetString(PyExc_TypeError, "snapshot() takes a list of names, not one str");
        return NULL;
    }
    PyObject *list = names == Py_None ? names_list(self, NULL) : PySequence_List(names);
    if (!list)
        return NULL;
    snap s = {0};
    PyObject *r = NULL;
    if (snap_alloc(&s, list) == 0 && pymf_file_enter(self) == 0) {
        int done = s.n == 0;
        for (int tries = 0; !done && tries < SNAPSHOT_TRIES; tries++)
            if ((done = snap_try(self, &s)) < 0)
                break;
        if (done > 0)
            r = snap_dict(self, &s, list);
        else if (done == 0)
            pymf_raise_detail(MF_EBUSY, self->cpath, NULL,
                              "writers changed the records on each of %d tries",
                              SNAPSHOT_TRIES);
        pymf_file_leave(self);
    }
    snap_free(&s);
    Py_DECREF(list);
    return r;
}

/* ---- check ----------------------------------------------------------------- */

typedef struct problems {
    char **msgs;
    size_t n, cap;
    int nomem;
} problems;

/* Runs without the GIL: collects plain C strings. */
static void collect_problem(void *ud, const char *msg)
{
    problems *p = ud;
    if (p->nomem)
        return;
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        char **m = realloc(p->msgs, cap * sizeof *m);
        if (!m) {
            p->nomem = 1;
            return;
        }
        p->msgs = m;
        p->cap = cap;
    }
    if (!(p->msgs[p->n] = strdup(msg)))
        p->nomem = 1;
    else
        p->n++;
}

static PyObject *file_check(pymf_File *self, PyObject *unused)
{
    (void)unused;
    if (pymf_file_enter(self) < 0)
        return NULL;
    problems p = {0};
    unsigned count = 0;
    mf_file *mf = self->mf;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mf_check(mf, collect_problem, &p, &count);
    Py_END_ALLOW_THREADS
    PyObject *list = rc ? pymf_raise(rc, self->cpath, NULL)
                        : p.nomem ? PyErr_NoMemory() : PyList_New((Py_ssize_t)p.n);
    for (size_t i = 0; i < p.n; i++) {
        PyObject *s = list ? PyUnicode_DecodeUTF8(p.msgs[i], (Py_ssize_t)strlen(p.msgs[i]),
                                                  "replace") : NULL;
        if (list && !s)
            Py_CLEAR(list);
        if (list)
            PyList_SET_ITEM(list, (Py_ssize_t)i, s);
        free(p.msgs[i]);
    }
    free(p.msgs);
    pymf_file_leave(self);
    return list;
}

/* ---- waiting --------------------------------------------------------------- */

int pymf_wait_slices(pymf_File *f, uint64_t *seen, double timeout)
{
    double deadline = timeout < 0 ? -1 : pymf_now() + timeout;
    mf_file *mf = f->mf;
    uint64_t s = *seen;
    for (;;) {
        int ms = slice_ms(deadline), rc;
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

static PyObject *file_wait(pymf_File *self, PyObject *args, PyObject *kwargs)
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

static PyObject *file_watch(pymf_File *self, PyObject *args, PyObject *kwargs)
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
    if (!is_open(self))
        return closed_error();
    return pymf_watch_new(self, prefix, timeout);
}

/* ------------------------------------------------------------------------ */
/* Writing                                                                  */
/* ------------------------------------------------------------------------ */

/* A bytes-like value held for as long as the file may encode it. */
typedef struct held_buffer {
    Py_buffer view;
    mf_blob blob;
} held_buffer;

static void held_buffer_free(PyObject *capsule)
{
    held_buffer *h = PyCapsule_GetPointer(capsule, "mapfile.blob");
    if (h) {
        PyBuffer_Release(&h->view);
        PyMem_Free(h);
    }
}

/* What a value is in C: its class, the object, and a Python object that
 * keeps the object valid (a new reference in *keeper). */
static int value_to_c(pymf_File *f, PyObject *value, const char **cls, const void **obj,
                      PyObject **keeper)
{
    if (PyObject_TypeCheck(value, &pymf_ObjectType)) {
        pymf_Object *o = (pymf_Object *)value;
        const mf_class *mine = NULL;
        int rc = mf_registry_find(pymf_registry_get(f->registry), o->cls->name, &mine);
        if (rc == 0 && mine != o->cls)
            rc = MF_ECLASS;
        if (rc) {
            pymf_raise_detail(rc, f->cpath, NULL,
                              "the object of class '%s' was decoded by another codec than "
                              "the one this file's registry has for that class",
                              o->cls->name);
            return -1;
        }
        *cls = o->cls->name;
        *obj = o->obj;
        *keeper = Py_NewRef(value);
        return 0;
    }
    if (PyUnicode_Check(value)) {
        PyObject *utf8 = PyUnicode_AsUTF8String(value);
        if (!utf8)
            return -1;
        if (strlen(PyBytes_AS_STRING(utf8)) != (size_t)PyBytes_GET_SIZE(utf8)) {
            Py_DECREF(utf8);
            pymf_raise_detail(MF_EINVAL, f->cpath, NULL, "text cannot contain a NUL character "
                              "(store bytes as a blob instead)");
            return -1;
        }
        *cls = "text";
        *obj = PyBytes_AS_STRING(utf8);
        *keeper = utf8;
        return 0;
    }
    if (PyObject_CheckBuffer(value)) {
        held_buffer *h = PyMem_Calloc(1, sizeof *h);
        if (!h) {
            PyErr_NoMemory();
            return -1;
        }
        if (PyObject_GetBuffer(value, &h->view, PyBUF_SIMPLE) < 0) {
            PyMem_Free(h);
            return -1;
        }
        h->blob.size = (uint64_t)h->view.len;
        h->blob.data = h->view.buf;
        PyObject *cap = PyCapsule_New(h, "mapfile.blob", held_buffer_free);
        if (!cap) {
            PyBuffer_Release(&h->view);
            PyMem_Free(h);
            return -1;
        }
        *cls = "blob";
        *obj = &h->blob;
        *keeper = cap;
        return 0;
    }
    PyErr_Format(PyExc_TypeError, "a value is a str (text), a bytes-like object (blob) or a "
                 "mapfile.Object, not %s", Py_TYPE(value)->tp_name);
    return -1;
}

static PyObject *put_value(pymf_File *f, PyObject *name, PyObject *value)
{
    const char *cname = name_arg(name), *cls;
    const void *obj;
    PyObject *keeper;
    if (!cname || !is_open(f))
        return cname ? closed_error() : NULL;
    if (value_to_c(f, value, &cls, &obj, &keeper) < 0)
        return NULL;
    if (pymf_file_enter(f) < 0) {
        Py_DECREF(keeper);
        return NULL;
    }
    mf_file *mf = f->mf;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mf_put(mf, cname, cls, obj);
    Py_END_ALLOW_THREADS
    PyObject *r = rc ? pymf_raise(rc, f->cpath, cname) : Py_NewRef(Py_None);
    pymf_file_leave(f);
    Py_DECREF(keeper);
    return r;
}

static PyObject *file_put(pymf_File *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "put(name, value)");
        return NULL;
    }
    return put_value(self, args[0], args[1]);
}

static PyObject *file_put_raw(pymf_File *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"name", "class_name", "version", "data", NULL};
    PyObject *name;
    const char *cls;
    unsigned int version;
    Py_buffer data;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OsIy*:put_raw", kwlist, &name, &cls,
                                     &version, &data))
        return NULL;
    const char *cname = name_arg(name);
    PyObject *r = NULL;
    if (cname && pymf_file_enter(self) == 0) {
        mf_file *mf = self->mf;
        int rc;
        Py_BEGIN_ALLOW_THREADS
        rc = mf_put_raw(mf, cname, cls, version, data.buf, (size_t)data.len);
        Py_END_ALLOW_THREADS
        r = rc ? pymf_raise(rc, self->cpath, cname) : Py_NewRef(Py_None);
        pymf_file_leave(self);
    }
    PyBuffer_Release(&data);
    return r;
}

static PyObject *file_add(pymf_File *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "add(name, value)");
        return NULL;
    }
    const char *cname = name_arg(args[0]), *cls;
    const void *obj;
    PyObject *keeper;
    if (!cname)
        return NULL;
    if (!is_open(self))
        return closed_error();
    if (value_to_c(self, args[1], &cls, &obj, &keeper) < 0)
        return NULL;
    int rc = mf_add(self->mf, cname, cls, obj);
    if (rc) {
        Py_DECREF(keeper);
        return pymf_raise(rc, self->cpath, cname);
    }
    /* Replacing the entry drops the previous keeper: the file points at the
     * new object now, and an update() running meanwhile holds its own refs. */
    rc = PyDict_SetItem(self->added, args[0], keeper);
    Py_DECREF(keeper);
    return rc < 0 ? NULL : Py_NewRef(Py_None);
}

static PyObject *file_update(pymf_File *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"name", NULL};
    PyObject *name = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:update", kwlist, &name))
        return NULL;
    const char *cname = name == Py_None ? NULL : name_arg(name);
    if (name != Py_None && !cname)
        return NULL;
    if (pymf_file_enter(self) < 0)
        return NULL;
    /* Our own references to every added object for the time without the
     * GIL, so another thread's del f[name] cannot free one mid-encode. */
    PyObject *hold = PyDict_Values(self->added);
    if (!hold) {
        pymf_file_leave(self);
        return NULL;
    }
    mf_file *mf = self->mf;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mf_update(mf, cname);
    Py_END_ALLOW_THREADS
    PyObject *r = rc ? pymf_raise(rc, self->cpath, cname) : Py_NewRef(Py_None);
    pymf_file_leave(self);
    Py_DECREF(hold);
    return r;
}

static int remove_value(pymf_File *f, PyObject *name)
{
    const char *cname = name_arg(name);
    if (!cname || pymf_file_enter(f) < 0)
        return -1;
    mf_file *mf = f->mf;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mf_remove(mf, cname);
    Py_END_ALLOW_THREADS
    if (rc)
        pymf_raise(rc, f->cpath, cname);
    /* mf_remove forgets an added object unless it refused the call. */
    if ((rc == 0 || rc == MF_ENOTFOUND) && f->added) {
        PyObject *saved_t, *saved_v, *saved_tb;
        PyErr_Fetch(&saved_t, &saved_v, &saved_tb);
        if (PyDict_DelItem(f->added, name) < 0)
            PyErr_Clear(); /* it was never added */
        PyErr_Restore(saved_t, saved_v, saved_tb);
    }
    pymf_file_leave(f);
    return rc ? -1 : 0;
}

static int file_ass_subscript(pymf_File *self, PyObject *name, PyObject *value)
{
    if (!value)
        return remove_value(self, name);
    PyObject *r = put_value(self, name, value);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

static PyObject *file_remove_all(pymf_File *self, PyObject *unused)
{
    (void)unused;
    if (pymf_file_enter(self) < 0)
        return NULL;
    mf_file *mf = self->mf;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mf_remove_all(mf);
    Py_END_ALLOW_THREADS
    PyObject *r = rc ? pymf_raise(rc, self->cpath, NULL) : Py_NewRef(Py_None);
    if (rc != MF_EREADONLY && self->added)
        PyDict_Clear(self->added);
    pymf_file_leave(self);
    return r;
}

/* ------------------------------------------------------------------------ */
/* The type                                                                 */
/* ------------------------------------------------------------------------ */

static PyObject *file_repr(pymf_File *self)
{
    static const char *modes[] = {[MF_READ] = "r", [MF_UPDATE] = "w", [MF_RECREATE] = "recreate"};
    return PyUnicode_FromFormat("<mapfile.File %R mode '%s'%s>", self->path,
                                modes[self->mode], self->closed ? " closed" : "");
}

static PyObject *file_get_path(pymf_File *self, void *closure)
{
    (void)closure;
    return Py_NewRef(self->path);
}

static PyObject *file_get_mode(pymf_File *self, void *closure)
{
    (void)closure;
    return PyUnicode_FromString(self->mode == MF_READ ? "r" : self->mode == MF_UPDATE ? "w"
                                                                                 : "recreate");
}

static PyObject *file_get_closed(pymf_File *self, void *closure)
{
    (void)closure;
    return PyBool_FromLong(self->closed);
}

static PyGetSetDef file_getset[] = {
    {"path", (getter)file_get_path, NULL, "the path the file was opened with", NULL},
    {"mode", (getter)file_get_mode, NULL, "'r', 'w' or 'recreate'", NULL},
    {"closed", (getter)file_get_closed, NULL, "True after close()", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef file_methods[] = {
    {"close", (PyCFunction)file_close, METH_NOARGS,
     "close()\n\nClose the file (again is a no-op). Objects already decoded stay valid.\n"
     "A wait() in another thread ends with ValueError within 0.1 s."},
    {"__enter__", (PyCFunction)file_enter_ctx, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)file_exit_ctx, METH_VARARGS, NULL},
    {"get", (PyCFunction)(void (*)(void))file_get, METH_FASTCALL,
     "get(name, default=None)\n\nf[name], or default when there is no such record."},
    {"keys", (PyCFunction)(void (*)(void))file_keys, METH_VARARGS | METH_KEYWORDS,
     "keys(prefix=None) -> list[str]\n\nRecord names in insertion order, optionally only those\n"
     "starting with prefix (a prefix ending in '/' lists one folder)."},
    {"items", (PyCFunction)(void (*)(void))file_items, METH_VARARGS | METH_KEYWORDS,
     "items(prefix=None) -> list[tuple[str, value]]\n\n(name, f[name]) for keys(prefix); "
     "records removed meanwhile are skipped.\nEach get is separate: use snapshot() for one "
     "consistent batch."},
    {"values", (PyCFunction)(void (*)(void))file_values, METH_VARARGS | METH_KEYWORDS,
     "values(prefix=None) -> list\n\nf[name] for keys(prefix)."},
    {"stat", (PyCFunction)file_stat, METH_O,
     "stat(name) -> dict\n\nThe record's name, class, version, size, checksum, generation,\n"
     "updates, update_time_ns, update_time (seconds since the epoch) and batch,\n"
     "without copying the payload. NotFoundError if missing."},
    {"info", (PyCFunction)file_info, METH_NOARGS,
     "info() -> dict\n\nThe whole file: path, title, format_version, capacity, max_size,\n"
     "heap_size, heap_used, heap_free, records, generation, batch, recoveries,\n"
     "writer ('free', 'held' or 'dead'), writable, retired, best_buffer."},
    {"raw", (PyCFunction)file_raw, METH_O,
     "raw(name) -> bytes\n\nThe record's payload as stored (checked against its checksum),\n"
     "without decoding it: no codec is needed."},
    {"snapshot", (PyCFunction)(void (*)(void))file_snapshot, METH_VARARGS | METH_KEYWORDS,
     "snapshot(names=None) -> dict[str, value]\n\nDecode several records as one consistent "
     "snapshot (mf_get_snapshot):\nevery object is from the same batch, never a mix of two\n"
     "updates. None means every record. Each mapfile.Object carries .record,\nits stat() "
     "as of the payload decoded (generation, batch, ...).\nBusyError if writers never let "
     "it finish."},
    {"check", (PyCFunction)file_check, METH_NOARGS,
     "check() -> list[str]\n\nVerify the whole file (header, heap, directory, every checksum);\n"
     "returns the problems found, [] when sound. Like `mapf check`."},
    {"wait", (PyCFunction)(void (*)(void))file_wait, METH_VARARGS | METH_KEYWORDS,
     "wait(timeout=None) -> bool\n\nSleep until the file changes after the open or the last "
     "wait() that\nreturned True; True then, False after timeout seconds (None: forever).\n"
     "Uses the file's futex, not polling. Releases the GIL, so other threads run;\n"
     "Ctrl-C (KeyboardInterrupt) interrupts it within 0.1 s."},
    {"watch", (PyCFunction)(void (*)(void))file_watch, METH_VARARGS | METH_KEYWORDS,
     "watch(prefix=None, timeout=None) -> Iterator[list[str]]\n\n"
     "for names in f.watch(): ... yields the names of the records added or\n"
     "updated since the previous step (first: every record present), only\n"
     "those starting with prefix. Stops after timeout seconds without a\n"
     "change (None: never). Waits like wait()."},
    {"put", (PyCFunction)(void (*)(void))file_put, METH_FASTCALL,
     "put(name, value)\n\nStore value now: a str as class 'text', a bytes-like object as "
     "'blob',\na mapfile.Object with its own class. Same as f[name] = value.\n"
     "ReadOnlyError on a file opened with mode 'r'."},
    {"put_raw", (PyCFunction)(void (*)(void))file_put_raw, METH_VARARGS | METH_KEYWORDS,
     "put_raw(name, class_name, version, data)\n\nStore already-encoded bytes as a record "
     "of class_name at class\nversion `version`; no codec is needed (bridges, copies: "
     "with stat()\nand raw() of another file)."},
    {"add", (PyCFunction)(void (*)(void))file_add, METH_FASTCALL,
     "add(name, value)\n\nRemember value under name for update() (nothing is written yet).\n"
     "The file keeps a reference to it (and a buffer export of a bytes-like\nvalue) until "
     "del f[name], clear() or close()."},
    {"update", (PyCFunction)(void (*)(void))file_update, METH_VARARGS | METH_KEYWORDS,
     "update(name=None)\n\nEncode and publish the added value `name`, or every added value "
     "as\none batch (all visible at once, or none) when name is None."},
    {"clear", (PyCFunction)file_remove_all, METH_NOARGS,
     "clear()\n\nRemove every record and forget every added value."},
    {NULL, NULL, 0, NULL},
};

static PyMappingMethods file_as_mapping = {
    .mp_length = (lenfunc)file_length,
    .mp_subscript = (binaryfunc)file_subscript,
    .mp_ass_subscript = (objobjargproc)file_ass_subscript,
};

static PySequenceMethods file_as_sequence = {
    .sq_contains = (objobjproc)file_contains,
};

PyTypeObject pymf_FileType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mapfile.File",
    .tp_basicsize = sizeof(pymf_File),
    .tp_dealloc = (destructor)file_dealloc,
    .tp_repr = (reprfunc)file_repr,
    .tp_as_sequence = &file_as_sequence,
    .tp_as_mapping = &file_as_mapping,
    .tp_iter = (getiterfunc)file_iter,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc =
        "An open map file, from mapfile.open(). A mapping of record names to\n"
        "decoded values: len(f), name in f, f[name], f.keys(), f.items(),\n"
        "iteration over the names; f[name] = value and del f[name] write.\n\n"
        "Values: a 'text' record is a str, a 'blob' bytes, any other class a\n"
        "mapfile.Object rebuilt by that class's codec (a fresh local copy).\n"
        "Also a context manager that closes the file. Safe to share between\n"
        "threads; wait(), gets and writes release the GIL.",
    .tp_weaklistoffset = offsetof(pymf_File, weakreflist),
    .tp_methods = file_methods,
    .tp_getset = file_getset,
};
