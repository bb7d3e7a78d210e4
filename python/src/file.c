/* file.c - mapfile.File: opening, closing and the type; its methods live in
 * read.c (mapping protocol, stat, raw, check), view.c (read views and
 * snapshots), write.c (puts, batches), wait.c (wait, watch).
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

/* ------------------------------------------------------------------------ */
/* Helpers shared by the File methods                                       */
/* ------------------------------------------------------------------------ */

PyObject *pymf_closed_error(void)
{
    PyErr_SetString(PyExc_ValueError, "I/O operation on a closed map file");
    return NULL;
}

int pymf_file_is_open(const pymf_File *f) { return f->mf && !f->closed; }

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
    if (!pymf_file_is_open(f)) {
        pymf_closed_error();
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
const char *pymf_name_arg(PyObject *name)
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
        opts->wait_ms = waiting ? pymf_slice_ms(deadline) : 0;
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
    f->add_lock = PyThread_allocate_lock();
    if (!f->add_lock) {
        Py_DECREF(f);
        PyErr_NoMemory();
        return NULL;
    }
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
    if (self->add_lock)
        PyThread_free_lock(self->add_lock);
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
    if (!pymf_file_is_open(self))
        return pymf_closed_error();
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
     "close($self, /)\n--\n\n"
     "Close the file (again is a no-op). Objects already decoded stay valid.\n"
     "A wait() in another thread ends with ValueError within 0.1 s."},
    {"__enter__", (PyCFunction)file_enter_ctx, METH_NOARGS,
     "__enter__($self, /)\n--\n\nReturns the file."},
    {"__exit__", (PyCFunction)file_exit_ctx, METH_VARARGS,
     "__exit__($self, /, *exc)\n--\n\nCloses the file; exceptions propagate."},
    {"get", (PyCFunction)(void (*)(void))pymf_file_get, METH_FASTCALL,
     "get($self, name, default=None, /)\n--\n\nf[name], or default when there is no such record."},
    {"keys", (PyCFunction)(void (*)(void))pymf_file_keys, METH_VARARGS | METH_KEYWORDS,
     "keys($self, /, prefix=None)\n--\n\n"
     "Returns list[str]. Record names in insertion order, optionally only those\n"
     "starting with prefix (a prefix ending in '/' lists one folder)."},
    {"items", (PyCFunction)(void (*)(void))pymf_file_items, METH_VARARGS | METH_KEYWORDS,
     "items($self, /, prefix=None)\n--\n\n"
     "Returns list[tuple[str, value]]. (name, f[name]) for keys(prefix); "
     "records removed meanwhile are skipped.\nEach get is separate: use snapshot() for one "
     "consistent batch."},
    {"values", (PyCFunction)(void (*)(void))pymf_file_values, METH_VARARGS | METH_KEYWORDS,
     "values($self, /, prefix=None)\n--\n\nReturns list. f[name] for keys(prefix)."},
    {"stat", (PyCFunction)pymf_file_stat, METH_O,
     "stat($self, name, /)\n--\n\n"
     "Returns dict. The record's name, class, version, size, checksum, generation,\n"
     "updates, update_time_ns, update_time (seconds since the epoch) and batch,\n"
     "without copying the payload. NotFoundError if missing."},
    {"info", (PyCFunction)pymf_file_info, METH_NOARGS,
     "info($self, /)\n--\n\n"
     "Returns dict. The whole file: path, title, format_version, capacity, max_size,\n"
     "heap_size, heap_used, heap_free, records, generation, batch, recoveries,\n"
     "writer ('free', 'held' or 'dead'), writable, retired, best_buffer,\n"
     "writer_pid, repair_pending, committed (the last committed batch), file_id\n"
     "(new for every file created: tells a restarted producer's file apart)\n"
     "and created_ns."},
    {"raw", (PyCFunction)pymf_file_raw, METH_O,
     "raw($self, name, /)\n--\n\n"
     "Returns bytes. The record's payload as stored (checked against its checksum),\n"
     "without decoding it: no codec is needed."},
    {"emulated", (PyCFunction)pymf_file_emulated, METH_O,
     "emulated($self, name, /)\n--\n\n"
     "Returns dict. The record decoded without its codec, with the schema its\n"
     "producer stored in the file (codecs written by `mapf gen` store one): what\n"
     "to_dict() of the decoded object gives, read-only. CodecError (MF_ENOCODEC)\n"
     "when the file holds no schema for its class and version."},
    {"snapshot", (PyCFunction)(void (*)(void))pymf_file_snapshot, METH_VARARGS | METH_KEYWORDS,
     "snapshot($self, /, names=None)\n--\n\n"
     "Returns dict[str, value]. Decode several records as one consistent "
     "snapshot (mf_get_snapshot):\nevery object is from the same batch, never a mix of two\n"
     "updates. None means every record. Each mapfile.Object carries .record,\nits stat() "
     "as of the payload decoded (generation, batch, ...).\nBusyError if writers never let "
     "it finish."},
    {"view", (PyCFunction)pymf_file_view, METH_NOARGS,
     "view($self, /)\n--\n\n"
     "Returns View. Begin a read view: a read-only mapping that answers as of one\n"
     "committed batch (see help(mapfile.View)). Use it as a context manager."},
    {"batch", (PyCFunction)pymf_file_batch, METH_NOARGS,
     "batch($self, /)\n--\n\n"
     "Returns Batch. Collect puts and removals of any names, published at once by\n"
     "commit() (see help(mapfile.Batch)). Use it as a context manager."},
    {"check", (PyCFunction)pymf_file_check, METH_NOARGS,
     "check($self, /)\n--\n\n"
     "Verify the whole file like `mapf check` (mf_check_file): the "
     "header,\nthe index, every record's versions and checksum, the heap. Safe on a live\n"
     "file. Returns {'problems': [str, ...] ([] when sound), 'heap_checked': bool\n"
     "(False when a live writer never paused, or a repair is pending),\n'writer': "
     "'free'|'held'|'dead', 'writer_pid': int, 'repair_pending': bool\n(a writer died "
     "mid-change; the next writer repairs it)}."},
    {"wait", (PyCFunction)(void (*)(void))pymf_file_wait, METH_VARARGS | METH_KEYWORDS,
     "wait($self, /, timeout=None)\n--\n\n"
     "Returns bool. Sleep until the file changes after the open or the last "
     "wait() that\nreturned True; True then, False after timeout seconds (None: forever).\n"
     "Uses the file's futex, not polling. Releases the GIL, so other threads run;\n"
     "Ctrl-C (KeyboardInterrupt) interrupts it within 0.1 s."},
    {"watch", (PyCFunction)(void (*)(void))pymf_file_watch, METH_VARARGS | METH_KEYWORDS,
     "watch($self, /, prefix=None, timeout=None)\n--\n\nReturns Iterator[list[str]]. "
     "for names in f.watch(): ... yields the names of the records added or\n"
     "updated since the previous step (first: every record present), only\n"
     "those starting with prefix. Stops after timeout seconds without a\n"
     "change (None: never). Waits like wait()."},
    {"put", (PyCFunction)(void (*)(void))pymf_file_put, METH_FASTCALL,
     "put($self, name, value, /)\n--\n\n"
     "Store value now: a str as class 'text', a bytes-like object as "
     "'blob',\na mapfile.Object with its own class. Same as f[name] = value.\n"
     "ReadOnlyError on a file opened with mode 'r'."},
    {"put_raw", (PyCFunction)(void (*)(void))pymf_file_put_raw, METH_VARARGS | METH_KEYWORDS,
     "put_raw($self, /, name, class_name, version, data)\n--\n\n"
     "Store already-encoded bytes as a record "
     "of class_name at class\nversion `version`; no codec is needed (bridges, copies: "
     "with stat()\nand raw() of another file)."},
    {"add", (PyCFunction)(void (*)(void))pymf_file_add, METH_FASTCALL,
     "add($self, name, value, /)\n--\n\n"
     "Remember value under name for update() (nothing is written yet).\n"
     "The file keeps a reference to it (and a buffer export of a bytes-like\nvalue) until "
     "del f[name], clear() or close()."},
    {"update", (PyCFunction)(void (*)(void))pymf_file_update, METH_VARARGS | METH_KEYWORDS,
     "update($self, /, name=None)\n--\n\n"
     "Encode and publish the added value `name`, or every added value "
     "as\none batch (all visible at once, or none) when name is None."},
    {"clear", (PyCFunction)pymf_file_remove_all, METH_NOARGS,
     "clear($self, /)\n--\n\nRemove every record and forget every added value."},
    {NULL, NULL, 0, NULL},
};

static PyMappingMethods file_as_mapping = {
    .mp_length = (lenfunc)pymf_file_length,
    .mp_subscript = (binaryfunc)pymf_file_subscript,
    .mp_ass_subscript = (objobjargproc)pymf_file_ass_subscript,
};

static PySequenceMethods file_as_sequence = {
    .sq_contains = (objobjproc)pymf_file_contains,
};

PyTypeObject pymf_FileType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mapfile.File",
    .tp_basicsize = sizeof(pymf_File),
    .tp_dealloc = (destructor)file_dealloc,
    .tp_repr = (reprfunc)file_repr,
    .tp_as_sequence = &file_as_sequence,
    .tp_as_mapping = &file_as_mapping,
    .tp_iter = (getiterfunc)pymf_file_iter,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc =
        "An open map file, from mapfile.open(). A mapping of record names to\n"
        "decoded values: len(f), name in f, f[name], f.keys(), f.items(),\n"
        "iteration over the names; f[name] = value and del f[name] write.\n\n"
        "f.view() is a read view of one committed batch, f.snapshot(names) several\n"
        "objects from one, f.batch() a set of writes published at once.\n\n"
        "Values: a 'text' record is a str, a 'blob' bytes, any other class a\n"
        "mapfile.Object rebuilt by that class's codec (a fresh local copy).\n"
        "Also a context manager that closes the file. Safe to share between\n"
        "threads; wait(), gets and writes release the GIL.",
    .tp_weaklistoffset = offsetof(pymf_File, weakreflist),
    .tp_methods = file_methods,
    .tp_getset = file_getset,
};

