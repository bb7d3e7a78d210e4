/* read.c - File methods that read: the mapping protocol, stat(), info(),
 * raw(), emulated() and check(). */
#include "pymapfile.h"

#include <mapfile/builtin.h>
#include <mapfile/schema.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Bounds the copies raw() retries when the record keeps growing between
 * its stat and the copy. */
#define RAW_TRIES 64

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
        put_item(d, "best_buffer", PyLong_FromUnsignedLongLong(fi->best_buffer)) < 0 ||
        put_item(d, "writer_pid", PyLong_FromUnsignedLong(fi->writer_pid)) < 0 ||
        put_item(d, "repair_pending", PyBool_FromLong(fi->repair_pending)) < 0 ||
        put_item(d, "committed", PyLong_FromUnsignedLongLong(fi->committed)) < 0 ||
        put_item(d, "file_id", PyLong_FromUnsignedLongLong(fi->file_id)) < 0 ||
        put_item(d, "created_ns", PyLong_FromUnsignedLongLong(fi->created_ns)) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                  */
/* ------------------------------------------------------------------------ */

/* f[name]: the decoded object (str for text, bytes for blob). */
PyObject *pymf_get_value(pymf_File *f, PyObject *name)
{
    const char *cname = pymf_name_arg(name);
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

PyObject *pymf_file_subscript(pymf_File *self, PyObject *name)
{
    return pymf_get_value(self, name);
}

PyObject *pymf_file_get(pymf_File *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "get(name, default=None)");
        return NULL;
    }
    PyObject *v = pymf_get_value(self, args[0]);
    if (!v && PyErr_ExceptionMatches(pymf_error_type(MF_ENOTFOUND))) {
        PyErr_Clear();
        return Py_NewRef(nargs == 2 ? args[1] : Py_None);
    }
    return v;
}

int pymf_file_contains(pymf_File *self, PyObject *name)
{
    if (!pymf_file_is_open(self)) {
        pymf_closed_error();
        return -1;
    }
    if (!PyUnicode_Check(name))
        return 0;
    const char *cname = pymf_name_arg(name);
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

Py_ssize_t pymf_file_length(pymf_File *self)
{
    if (!pymf_file_is_open(self)) {
        pymf_closed_error();
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
PyObject *pymf_names_list(pymf_File *f, const char *prefix)
{
    if (!pymf_file_is_open(f))
        return pymf_closed_error();
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

PyObject *pymf_file_keys(pymf_File *self, PyObject *args, PyObject *kwargs)
{
    const char *prefix;
    if (prefix_arg(args, kwargs, "keys", &prefix) < 0)
        return NULL;
    return pymf_names_list(self, prefix);
}

PyObject *pymf_file_iter(pymf_File *self)
{
    PyObject *list = pymf_names_list(self, NULL);
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
    PyObject *names = pymf_names_list(f, prefix);
    PyObject *out = names ? PyList_New(0) : NULL;
    for (Py_ssize_t i = 0; out && i < PyList_GET_SIZE(names); i++) {
        PyObject *name = PyList_GET_ITEM(names, i);
        PyObject *v = pymf_get_value(f, name);
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

PyObject *pymf_file_items(pymf_File *self, PyObject *args, PyObject *kwargs)
{
    return collect(self, args, kwargs, "items", 1);
}

PyObject *pymf_file_values(pymf_File *self, PyObject *args, PyObject *kwargs)
{
    return collect(self, args, kwargs, "values", 0);
}

PyObject *pymf_file_stat(pymf_File *self, PyObject *name)
{
    const char *cname = pymf_name_arg(name);
    if (!cname)
        return NULL;
    if (!pymf_file_is_open(self))
        return pymf_closed_error();
    mf_record_info ri;
    int rc = mf_stat(self->mf, cname, &ri);
    return rc ? pymf_raise(rc, self->cpath, cname) : pymf_record_dict(&ri);
}

PyObject *pymf_file_info(pymf_File *self, PyObject *unused)
{
    (void)unused;
    if (!pymf_file_is_open(self))
        return pymf_closed_error();
    mf_file_info fi;
    int rc = mf_file_stat(self->mf, &fi);
    return rc ? pymf_raise(rc, self->cpath, NULL) : info_dict(&fi);
}

/* The payload straight into a bytes object, resized if the record grew
 * between the stat and the copy. */
PyObject *pymf_file_raw(pymf_File *self, PyObject *name)
{
    const char *cname = pymf_name_arg(name);
    if (!cname || pymf_file_enter(self) < 0)
        return NULL;
    mf_record_info ri;
    int rc = mf_stat(self->mf, cname, &ri);
    PyObject *bytes = NULL;
    for (int tries = 0; rc == 0 && tries < RAW_TRIES; tries++) {
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

/* The record decoded without its codec, with the schema its producer
 * stored in the file (mf_get_emulated_json): a dict, as to_dict() of the
 * codec's object would be. */
PyObject *pymf_file_emulated(pymf_File *self, PyObject *name)
{
    const char *cname = pymf_name_arg(name);
    if (!cname || pymf_file_enter(self) < 0)
        return NULL;
    mf_writer w = {NULL, 0, 0, 0, pymf_writer_grow, NULL};
    mf_file *mf = self->mf;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mf_get_emulated_json(mf, cname, &w, NULL);
    Py_END_ALLOW_THREADS
    PyObject *r = NULL;
    if (rc) {
        pymf_raise(rc, self->cpath, cname);
    } else {
        PyObject *text = PyUnicode_DecodeUTF8((const char *)w.buf, (Py_ssize_t)w.len,
                                              "replace");
        r = text ? pymf_json_loads(text) : NULL;
        Py_XDECREF(text);
    }
    free(w.buf);
    pymf_file_leave(self);
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

/* {"problems": [...], "heap_checked": ..., ...} from one mf_check_file. */
static PyObject *check_dict(const problems *p, const mf_check_result *res)
{
    PyObject *list = PyList_New((Py_ssize_t)p->n);
    for (size_t i = 0; list && i < p->n; i++) {
        PyObject *s = PyUnicode_DecodeUTF8(p->msgs[i], (Py_ssize_t)strlen(p->msgs[i]),
                                           "replace");
        if (!s)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, (Py_ssize_t)i, s);
    }
    PyObject *d = list ? PyDict_New() : NULL;
    if (d && (put_item(d, "problems", Py_NewRef(list)) < 0 ||
              put_item(d, "heap_checked", PyBool_FromLong(res->heap_checked)) < 0 ||
              put_item(d, "writer", PyUnicode_FromString(writer_state(res->writer_state))) < 0 ||
              put_item(d, "writer_pid", PyLong_FromUnsignedLong(res->writer_pid)) < 0 ||
              put_item(d, "repair_pending", PyBool_FromLong(res->repair_pending)) < 0))
        Py_CLEAR(d);
    Py_XDECREF(list);
    return d;
}

PyObject *pymf_file_check(pymf_File *self, PyObject *unused)
{
    (void)unused;
    if (pymf_file_enter(self) < 0)
        return NULL;
    problems p = {0};
    mf_check_result res;
    memset(&res, 0, sizeof res);
    res.struct_size = sizeof res;
    mf_file *mf = self->mf;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mf_check_file(mf, collect_problem, &p, &res);
    Py_END_ALLOW_THREADS
    PyObject *r = rc ? pymf_raise(rc, self->cpath, NULL)
                     : p.nomem ? PyErr_NoMemory() : check_dict(&p, &res);
    for (size_t i = 0; i < p.n; i++)
        free(p.msgs[i]);
    free(p.msgs);
    pymf_file_leave(self);
    return r;
}

