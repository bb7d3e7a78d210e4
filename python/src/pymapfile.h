/* pymapfile.h - internals shared by the files of the `mapfile` CPython
 * extension. Public names of the module are set in module.c; everything
 * here is `pymf_` and stays inside the one shared object. */
#ifndef PYMAPFILE_H
#define PYMAPFILE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <mapfile/mapfile.h>

/* Waits are cut into slices this long so that Ctrl-C (a pending signal)
 * is noticed between them while the GIL is released. */
#define PYMF_SLICE_MS 100

/* ---- errors.c ------------------------------------------------------------ */

/* Creates the exception classes and adds them to the module. */
int pymf_errors_init(PyObject *module);
/* Raises the exception of error family @p rc, with mf_errdetail() (read at
 * once, before anything else can overwrite it). @p path and @p name (either
 * may be NULL) go in front of the message. Returns NULL. */
PyObject *pymf_raise(int rc, const char *path, const char *name);
/* As pymf_raise with a detail of our own instead of mf_errdetail(). */
PyObject *pymf_raise_detail(int rc, const char *path, const char *name,
                            const char *fmt, ...);
/* The exception class for an MF_E* code. */
PyObject *pymf_error_type(int rc);

/* ---- registry.c: a codec registry shared by a file and its objects ------- */

typedef struct {
    PyObject_HEAD
    mf_registry *reg;
} pymf_Registry;

extern PyTypeObject pymf_RegistryType;
/* A new registry with the directories of plugin_path (None, a str of
 * os.pathsep-separated directories, or an iterable of paths). Returns NULL
 * with an exception set; Py_None means "use the default registry". */
PyObject *pymf_registry_from(PyObject *plugin_path);
/* The C registry behind @p r (pymf_Registry or NULL for the default). */
mf_registry *pymf_registry_get(PyObject *r);

/* ---- object.c: decoded objects and their methods --------------------------- */

typedef struct {
    PyObject_HEAD
    void *obj;            /* owned; destroyed with cls */
    const mf_class *cls;  /* valid while registry lives */
    PyObject *registry;   /* keeps the codec loaded; NULL: default registry */
    PyObject *record;     /* stat dict of the decoded payload, or None */
    PyObject *weakreflist;
} pymf_Object;

extern PyTypeObject pymf_ObjectType;
extern PyTypeObject pymf_MethodType;
/* Wraps a decoded object (taking ownership of obj): text becomes str, blob
 * becomes bytes (and obj is freed), anything else a pymf_Object. @p record
 * may be NULL. On failure obj is freed too. */
PyObject *pymf_object_wrap(void *obj, const mf_class *cls, PyObject *registry,
                           PyObject *record);

/* ---- array.c: typed arrays of an object (buffer protocol) ------------------- */

extern PyTypeObject pymf_ArrayType;
/* A dict name -> Array of every array the object's class declares (empty
 * if the class has no arrays hook). */
PyObject *pymf_arrays_of(pymf_Object *owner);
/* An mf_writer reserve hook growing a malloc'd buffer (free w.buf). */
int pymf_writer_grow(mf_writer *w, size_t need);
/* json.loads(text): new reference, or NULL with an exception. */
PyObject *pymf_json_loads(PyObject *text);

/* ---- file.c: open map files ------------------------------------------ */

typedef struct {
    PyObject_HEAD
    mf_file *mf;          /* NULL once released */
    PyObject *registry;   /* pymf_Registry or NULL (default registry) */
    PyObject *path;       /* str, as given */
    char *cpath;          /* file-system encoded path, for messages */
    int mode;             /* MF_READ, MF_UPDATE, MF_RECREATE */
    int closed;           /* close() was called */
    unsigned users;       /* calls, views and batches that hold the handle */
    uint64_t seen;        /* generation wait() compares against */
    PyObject *added;      /* dict name -> what keeps an added object alive */
    PyThread_type_lock add_lock; /* add(): mf_add and the dict entry as one
                                    step, though mf_add runs without the GIL */
    PyObject *weakreflist;
} pymf_File;

extern PyTypeObject pymf_FileType;
PyObject *pymf_open(PyObject *module, PyObject *args, PyObject *kwargs);
/* Marks a use of the handle that may outlive the GIL (a call that releases
 * it, an open view or batch); raises ValueError on a closed file.
 * pymf_file_leave ends it and finishes a close() made meanwhile. */
int pymf_file_enter(pymf_File *f);
void pymf_file_leave(pymf_File *f);
int pymf_file_is_open(const pymf_File *f);
PyObject *pymf_closed_error(void);
/* A record name as UTF-8 without NULs; NULL with an exception set. */
const char *pymf_name_arg(PyObject *name);

/* ---- read.c: the mapping protocol, stat, info, raw, check ------------- */

/* A stat dict for one record. */
PyObject *pymf_record_dict(const mf_record_info *ri);
PyObject *pymf_get_value(pymf_File *f, PyObject *name);
/* The names under prefix (NULL: all), in insertion order. */
PyObject *pymf_names_list(pymf_File *f, const char *prefix);
PyObject *pymf_file_subscript(pymf_File *self, PyObject *name);
PyObject *pymf_file_get(pymf_File *self, PyObject *const *args, Py_ssize_t nargs);
int pymf_file_contains(pymf_File *self, PyObject *name);
Py_ssize_t pymf_file_length(pymf_File *self);
PyObject *pymf_file_keys(pymf_File *self, PyObject *args, PyObject *kwargs);
PyObject *pymf_file_iter(pymf_File *self);
PyObject *pymf_file_items(pymf_File *self, PyObject *args, PyObject *kwargs);
PyObject *pymf_file_values(pymf_File *self, PyObject *args, PyObject *kwargs);
PyObject *pymf_file_stat(pymf_File *self, PyObject *name);
PyObject *pymf_file_info(pymf_File *self, PyObject *unused);
PyObject *pymf_file_raw(pymf_File *self, PyObject *name);
PyObject *pymf_file_emulated(pymf_File *self, PyObject *name);
PyObject *pymf_file_check(pymf_File *self, PyObject *unused);

/* ---- view.c: read views and snapshots ---------------------------------- */

extern PyTypeObject pymf_ViewType;
PyObject *pymf_file_view(pymf_File *self, PyObject *unused);
PyObject *pymf_file_snapshot(pymf_File *self, PyObject *args, PyObject *kwargs);

/* ---- write.c: puts, added values, removal, batches ---------------------- */

extern PyTypeObject pymf_BatchType;
/* What a value is in C: its class, the object, and a new reference in
 * *keeper to what keeps the object valid. */
int pymf_value_to_c(pymf_File *f, PyObject *value, const char **cls, const void **obj,
                    PyObject **keeper);
PyObject *pymf_file_put(pymf_File *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *pymf_file_put_raw(pymf_File *self, PyObject *args, PyObject *kwargs);
PyObject *pymf_file_add(pymf_File *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *pymf_file_update(pymf_File *self, PyObject *args, PyObject *kwargs);
int pymf_file_ass_subscript(pymf_File *self, PyObject *name, PyObject *value);
PyObject *pymf_file_remove_all(pymf_File *self, PyObject *unused);
PyObject *pymf_file_batch(pymf_File *self, PyObject *unused);

/* ---- wait.c: wait() and watch() ---------------------------------------- */

extern PyTypeObject pymf_WatchType;
/* Sleeps in mf_wait until the generation moves past *seen, for up to
 * timeout seconds (< 0: forever), releasing the GIL in slices and
 * checking for signals between them. Returns 1 changed, 0 timed out, -1
 * with an exception set. The caller has entered the file. */
int pymf_wait_slices(pymf_File *f, uint64_t *seen, double timeout);
PyObject *pymf_file_wait(pymf_File *self, PyObject *args, PyObject *kwargs);
PyObject *pymf_file_watch(pymf_File *self, PyObject *args, PyObject *kwargs);
PyObject *pymf_watch_new(pymf_File *f, PyObject *prefix, double timeout);
/* Milliseconds of the next slice of a wait ending at deadline (< 0: no
 * end): at most PYMF_SLICE_MS, 0 once the deadline has passed. */
int pymf_slice_ms(double deadline);

/* ---- util --------------------------------------------------------------- */

/* Seconds since an arbitrary start (CLOCK_MONOTONIC). */
double pymf_now(void);
/* A timeout argument: None -> -1 (forever), a number >= 0, or -1. Returns
 * 0 or -1 with ValueError/TypeError set. */
int pymf_timeout_arg(PyObject *arg, double *out, const char *what);

#endif
