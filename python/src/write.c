/* write.c - File methods that write: put (text, blobs, objects), put_raw,
 * add/update, removal. */
#include "pymapfile.h"

#include <mapfile/builtin.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
int pymf_value_to_c(pymf_File *f, PyObject *value, const char **cls, const void **obj,
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
    const char *cname = pymf_name_arg(name), *cls;
    const void *obj;
    PyObject *keeper;
    if (!cname || !pymf_file_is_open(f))
        return cname ? pymf_closed_error() : NULL;
    if (pymf_value_to_c(f, value, &cls, &obj, &keeper) < 0)
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

PyObject *pymf_file_put(pymf_File *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "put(name, value)");
        return NULL;
    }
    return put_value(self, args[0], args[1]);
}

/* A class version: an int from 0 to 2**32 - 1 ("I" would wrap -1 and
 * 2**32 silently into another version). */
static int version_arg(PyObject *o, void *out)
{
    if (!PyLong_Check(o)) {
        PyErr_Format(PyExc_TypeError, "version must be an int, not %.80s",
                     Py_TYPE(o)->tp_name);
        return 0;
    }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (v == -1 && PyErr_Occurred())
        return 0;
    if (overflow || v < 0 || v > (long long)UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "version must be from 0 to 4294967295");
        return 0;
    }
    *(unsigned int *)out = (unsigned int)v;
    return 1;
}

PyObject *pymf_file_put_raw(pymf_File *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"name", "class_name", "version", "data", NULL};
    PyObject *name;
    const char *cls;
    unsigned int version;
    Py_buffer data;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OsO&y*:put_raw", kwlist, &name, &cls,
                                     version_arg, &version, &data))
        return NULL;
    const char *cname = pymf_name_arg(name);
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

PyObject *pymf_file_add(pymf_File *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "add(name, value)");
        return NULL;
    }
    const char *cname = pymf_name_arg(args[0]), *cls;
    const void *obj;
    PyObject *keeper;
    if (!cname)
        return NULL;
    if (!pymf_file_is_open(self))
        return pymf_closed_error();
    if (pymf_value_to_c(self, args[1], &cls, &obj, &keeper) < 0)
        return NULL;
    if (pymf_file_enter(self) < 0) {
        Py_DECREF(keeper);
        return NULL;
    }
    /* It may wait for the handle's producer lock (another thread's long
     * put or update): without the GIL. The add lock keeps two adds of one
     * name from registering one object and keeping the other alive. */
    mf_file *mf = self->mf;
    PyThread_type_lock lock = self->add_lock;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(lock, WAIT_LOCK);
    rc = mf_add(mf, cname, cls, obj);
    Py_END_ALLOW_THREADS
    if (rc == 0) {
        /* Replacing the entry drops the previous keeper: the file points at
         * the new object now, and an update() running meanwhile holds its
         * own refs. */
        rc = PyDict_SetItem(self->added, args[0], keeper) < 0 ? 1 : 0;
    }
    PyThread_release_lock(lock);
    pymf_file_leave(self);
    Py_DECREF(keeper);
    if (rc < 0)
        return pymf_raise(rc, self->cpath, cname);
    return rc ? NULL : Py_NewRef(Py_None);
}

PyObject *pymf_file_update(pymf_File *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"name", NULL};
    PyObject *name = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:update", kwlist, &name))
        return NULL;
    const char *cname = name == Py_None ? NULL : pymf_name_arg(name);
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
    const char *cname = pymf_name_arg(name);
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

int pymf_file_ass_subscript(pymf_File *self, PyObject *name, PyObject *value)
{
    if (!value)
        return remove_value(self, name);
    PyObject *r = put_value(self, name, value);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

PyObject *pymf_file_remove_all(pymf_File *self, PyObject *unused)
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
/* Batches (mf_batch_*)                                                     */
/* ------------------------------------------------------------------------ */

/* An open batch keeps its file entered until it commits or aborts. */
typedef struct {
    PyObject_HEAD
    pymf_File *file;
    mf_batch *b; /* NULL once committed or aborted, or while busy */
    int busy;    /* a put is encoding into it without the GIL */
} pymf_Batch;

PyObject *pymf_file_batch(pymf_File *self, PyObject *unused)
{
    (void)unused;
    if (pymf_file_enter(self) < 0)
        return NULL;
    mf_batch *b;
    int rc = mf_batch_begin(self->mf, &b);
    if (rc) {
        pymf_raise(rc, self->cpath, NULL);
        pymf_file_leave(self);
        return NULL;
    }
    pymf_Batch *o = PyObject_New(pymf_Batch, &pymf_BatchType);
    if (!o) {
        mf_batch_abort(b);
        pymf_file_leave(self);
        return NULL;
    }
    o->file = (pymf_File *)Py_NewRef((PyObject *)self);
    o->b = b;
    o->busy = 0;
    return (PyObject *)o;
}

static PyObject *batch_done_error(void)
{
    PyErr_SetString(PyExc_ValueError, "the batch was already committed or aborted");
    return NULL;
}

/* -1 (with the error) unless the batch can take a change now. */
static int batch_unusable(const pymf_Batch *self)
{
    if (self->busy) {
        PyErr_SetString(PyExc_ValueError, "the batch is in use by another thread");
        return -1;
    }
    if (!self->b) {
        batch_done_error();
        return -1;
    }
    return 0;
}

static void batch_finish(pymf_Batch *self, int commit, int *rc)
{
    mf_batch *b = self->b;
    self->b = NULL;
    if (commit) {
        Py_BEGIN_ALLOW_THREADS
        *rc = mf_batch_commit(b);
        Py_END_ALLOW_THREADS
    } else {
        mf_batch_abort(b);
    }
}

static void batch_dealloc(pymf_Batch *self)
{
    if (self->b) {
        int rc;
        batch_finish(self, 0, &rc);
        pymf_file_leave(self->file);
    }
    Py_XDECREF(self->file);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The batch copies what it is given (mf_batch_put encodes at once), so
 * nothing needs to stay alive after the call. */
static PyObject *batch_put_value(pymf_Batch *self, PyObject *name, PyObject *value)
{
    const char *cname = pymf_name_arg(name), *cls;
    const void *obj;
    PyObject *keeper;
    if (!cname || batch_unusable(self) < 0)
        return NULL;
    if (pymf_value_to_c(self->file, value, &cls, &obj, &keeper) < 0)
        return NULL;
    /* Encoding may wait for the handle's producer lock (another thread's
     * long put): without the GIL, and with the batch set aside meanwhile. */
    mf_batch *b = self->b;
    self->b = NULL;
    self->busy = 1;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mf_batch_put(b, cname, cls, obj);
    Py_END_ALLOW_THREADS
    self->b = b;
    self->busy = 0;
    Py_DECREF(keeper);
    return rc ? pymf_raise(rc, self->file->cpath, cname) : Py_NewRef(Py_None);
}

static PyObject *batch_put(pymf_Batch *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "put(name, value)");
        return NULL;
    }
    return batch_put_value(self, args[0], args[1]);
}

static PyObject *batch_put_raw(pymf_Batch *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"name", "class_name", "version", "data", NULL};
    PyObject *name;
    const char *cls;
    unsigned int version;
    Py_buffer data;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OsO&y*:put_raw", kwlist, &name, &cls,
                                     version_arg, &version, &data))
        return NULL;
    const char *cname = pymf_name_arg(name);
    PyObject *r = NULL;
    if (cname && batch_unusable(self) < 0)
        ;
    else if (cname) {
        int rc = mf_batch_put_raw(self->b, cname, cls, version, data.buf, (size_t)data.len);
        r = rc ? pymf_raise(rc, self->file->cpath, cname) : Py_NewRef(Py_None);
    }
    PyBuffer_Release(&data);
    return r;
}

static int batch_remove_name(pymf_Batch *self, PyObject *name)
{
    const char *cname = pymf_name_arg(name);
    if (!cname || batch_unusable(self) < 0)
        return -1;
    int rc = mf_batch_remove(self->b, cname);
    if (rc) {
        pymf_raise(rc, self->file->cpath, cname);
        return -1;
    }
    return 0;
}

static PyObject *batch_remove(pymf_Batch *self, PyObject *name)
{
    return batch_remove_name(self, name) < 0 ? NULL : Py_NewRef(Py_None);
}

static int batch_ass_subscript(pymf_Batch *self, PyObject *name, PyObject *value)
{
    if (!value)
        return batch_remove_name(self, name);
    PyObject *r = batch_put_value(self, name, value);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

static PyObject *batch_commit(pymf_Batch *self, PyObject *unused)
{
    (void)unused;
    if (batch_unusable(self) < 0)
        return NULL;
    int rc = 0;
    batch_finish(self, 1, &rc);
    PyObject *r = rc ? pymf_raise(rc, self->file->cpath, NULL) : Py_NewRef(Py_None);
    pymf_file_leave(self->file);
    return r;
}

static PyObject *batch_abort(pymf_Batch *self, PyObject *unused)
{
    (void)unused;
    if (self->busy) {
        batch_unusable(self); /* says the batch is in use */
        return NULL;
    }
    if (self->b) {
        int rc;
        batch_finish(self, 0, &rc);
        pymf_file_leave(self->file);
    }
    Py_RETURN_NONE;
}

static PyObject *batch_enter(pymf_Batch *self, PyObject *unused)
{
    (void)unused;
    if (batch_unusable(self) < 0)
        return NULL;
    return Py_NewRef((PyObject *)self);
}

/* Commits when the block ends normally, aborts when it raises. */
static PyObject *batch_exit(pymf_Batch *self, PyObject *args)
{
    PyObject *type = PyTuple_GET_SIZE(args) > 0 ? PyTuple_GET_ITEM(args, 0) : Py_None;
    if (!self->b && !self->busy)
        Py_RETURN_FALSE;
    PyObject *r = type == Py_None ? batch_commit(self, NULL) : batch_abort(self, NULL);
    if (!r)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_FALSE;
}

static PyObject *batch_repr(pymf_Batch *self)
{
    return PyUnicode_FromFormat("<mapfile.Batch of %R%s>", self->file->path,
                                self->b ? "" : " done");
}

static PyMethodDef batch_methods[] = {
    {"put", (PyCFunction)(void (*)(void))batch_put, METH_FASTCALL,
     "put($self, name, value, /)\n--\n\n"
     "Encode value now (as File.put) as the batch's change of name."},
    {"put_raw", (PyCFunction)(void (*)(void))batch_put_raw, METH_VARARGS | METH_KEYWORDS,
     "put_raw($self, /, name, class_name, version, data)\n--\n\n"
     "Already-encoded bytes, as File.put_raw."},
    {"remove", (PyCFunction)batch_remove, METH_O,
     "remove($self, name, /)\n--\n\n"
     "Remove name in this batch (a name the file lacks is no error)."},
    {"commit", (PyCFunction)batch_commit, METH_NOARGS,
     "commit($self, /)\n--\n\n"
     "Publish every change at once (one store). On failure nothing of it is\n"
     "published and the error of the first failed put or remove is raised."},
    {"abort", (PyCFunction)batch_abort, METH_NOARGS, "abort($self, /)\n--\n\nDrop every change."},
    {"__enter__", (PyCFunction)batch_enter, METH_NOARGS,
     "__enter__($self, /)\n--\n\nReturns the batch."},
    {"__exit__", (PyCFunction)batch_exit, METH_VARARGS,
     "__exit__($self, /, *exc)\n--\n\n"
     "Commits the batch, or aborts it when the block raised; exceptions\n"
     "propagate."},
    {NULL, NULL, 0, NULL},
};

static PyMappingMethods batch_as_mapping = {
    .mp_ass_subscript = (objobjargproc)batch_ass_subscript,
};

PyTypeObject pymf_BatchType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mapfile.Batch",
    .tp_basicsize = sizeof(pymf_Batch),
    .tp_dealloc = (destructor)batch_dealloc,
    .tp_repr = (reprfunc)batch_repr,
    .tp_as_mapping = &batch_as_mapping,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc =
        "Changes published all at once, from File.batch(): b[name] = value, put,\n"
        "put_raw, del b[name] / remove, then commit() (or abort()). As a context\n"
        "manager it commits when the block ends and aborts when it raises:\n\n"
        "    with f.batch() as b:\n"
        "        b['det/a'] = h1\n"
        "        b['det/b'] = h2\n"
        "        del b['old']\n\n"
        "Values are encoded when given; the file is untouched until the commit,\n"
        "and readers see all of the batch or none of it.",
    .tp_methods = batch_methods,
};
