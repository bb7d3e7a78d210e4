/* module.c - the `mapfile` module: its manual, open() and the types. */
#include "pymapfile.h"

static const char module_doc[] =
    "mapfile: live, named objects shared between processes through one\n"
    "memory-mapped file (libmapfile).\n"
    "\n"
    "A producer (in C, or Python) stores objects under names and updates them;\n"
    "readers in other processes open the same file read-only and get fresh\n"
    "local copies, rebuilt by their class's codec (a plugin found through\n"
    "MAPFILE_PLUGIN_PATH, the install or build directory, or plugin_path=).\n"
    "\n"
    "Reading\n"
    "    with mapfile.open('demo.map') as f:     # mode 'r': read-only\n"
    "        len(f), 'hpx' in f, f.keys('det/'), f.items()\n"
    "        h = f['hpx']                 # KeyError (NotFoundError) if missing\n"
    "        h.mean(), h.bin_content(5)   # the class's methods (mf_call)\n"
    "        bins = numpy.asarray(h.arrays['bins'])   # a view, no copy\n"
    "        h.to_dict(), str(h)          # JSON as a dict, the class's print\n"
    "        f.stat('hpx'), f.info(), f.raw('hpx')\n"
    "        snap = f.snapshot(['hpx', 'hprof'])      # one batch\n"
    "        with f.view() as v: v['hpx'], v.batch     # a read view\n"
    "\n"
    "Waiting (the GIL is released; Ctrl-C works)\n"
    "    while f.wait(timeout=5): ...     # True on a change, False on timeout\n"
    "    for names in f.watch(): ...      # names added or updated\n"
    "    mapfile.open(path, wait=10)      # for a file that is not there yet\n"
    "\n"
    "Writing (mode 'w' updates or creates, 'recreate' starts afresh)\n"
    "    f['notes/shift'] = 'beam on'     # str -> class 'text'\n"
    "    f['raw/adc'] = b'...'            # bytes-like -> class 'blob'\n"
    "    f['hpx'] = h                     # an Object, with its class\n"
    "    f.add('a', x); f.add('b', y); f.update()   # one batch\n"
    "    with f.batch() as b: b['a'] = x; del b['c']  # one batch\n"
    "    del f['hpx']\n"
    "\n"
    "Values: a 'text' record reads back as str, a 'blob' as bytes, anything\n"
    "else as a mapfile.Object.\n"
    "\n"
    "Errors: every failure raises mapfile.Error or a subclass for its family\n"
    "(NotFoundError, FileError, FormatError, CodecError, NoMethodError,\n"
    "ArgumentError, ReadOnlyError, FullError, BusyError, TimeoutError,\n"
    "InvalidError), carrying .code (the MF_E* value), .errname, .detail, .path\n"
    "and .name. Hostile or corrupt files raise FormatError or CodecError; they\n"
    "never crash the interpreter. (A file truncated by another process under a\n"
    "handle opened for writing is destroyed anyway: a write to it dies with\n"
    "SIGBUS, as in C. After os.fork(), use a handle that another thread was\n"
    "writing through at the fork only to read; open a new one to write.)\n";

static const char open_doc[] =
    "open(path, mode='r', wait=None, plugin_path=None, *, title=None,\n"
    "     initial_size=None, max_size=None)\n"
    "--\n"
    "\n"
    "Open a map file; returns a File.\n"
    "\n"
    "mode         'r' read-only (the file must exist), 'w' read-write (created\n"
    "             if missing), 'recreate' a new empty file atomically replacing\n"
    "             any old one (whose readers move to the new file).\n"
    "wait         mode 'r' only: seconds to wait for a file that does not\n"
    "             exist yet; None (default) does not wait, -1 waits forever.\n"
    "             The GIL is released and Ctrl-C interrupts the wait.\n"
    "plugin_path  directories searched for codec plugins before the install\n"
    "             directory: a str separated by ':' or a list of paths. The\n"
    "             file then has a registry of its own, shared with the objects\n"
    "             decoded through it. None uses the process-wide registry.\n"
    "title        stored in a file this call creates.\n"
    "initial_size, max_size  bytes of a created file (default 512 KiB) and\n"
    "             its growth limit (default 1 GiB).\n"
    "\n"
    "Raises FileError (missing file, permissions), FormatError (not a map\n"
    "file, another format version, corrupt), TimeoutError (wait ran out).";

static PyMethodDef module_methods[] = {
    {"open", (PyCFunction)(void (*)(void))pymf_open, METH_VARARGS | METH_KEYWORDS, open_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "mapfile",
    .m_doc = module_doc,
    .m_size = -1,
    .m_methods = module_methods,
};

static int add_type(PyObject *m, PyTypeObject *t, const char *name)
{
    if (PyType_Ready(t) < 0)
        return -1;
    return name ? PyModule_AddObjectRef(m, name, (PyObject *)t) : 0;
}

/* ERRORS: every MF_E* name -> its code, from the library's own table. */
static int add_error_codes(PyObject *m)
{
    PyObject *d = PyDict_New();
    if (!d)
        return -1;
#define PYMF_ERR_ITEM(name, val, msg)                                        \
    {                                                                        \
        PyObject *v = PyLong_FromLong(val);                                  \
        if (!v || PyDict_SetItemString(d, "MF_" #name, v) < 0) {             \
            Py_XDECREF(v);                                                   \
            Py_DECREF(d);                                                    \
            return -1;                                                       \
        }                                                                    \
        Py_DECREF(v);                                                        \
    }
    MF_ERRNO_MAP(PYMF_ERR_ITEM)
#undef PYMF_ERR_ITEM
    int rc = PyModule_AddObjectRef(m, "ERRORS", d);
    Py_DECREF(d);
    return rc;
}

PyMODINIT_FUNC PyInit_mapfile(void)
{
    PyObject *m = PyModule_Create(&module_def);
    if (!m)
        return NULL;
    char version[32];
    snprintf(version, sizeof version, "%d.%d.%d", MF_VERSION_MAJOR, MF_VERSION_MINOR,
             MF_VERSION_PATCH);
    if (add_type(m, &pymf_RegistryType, NULL) < 0 || add_type(m, &pymf_FileType, "File") < 0 ||
        add_type(m, &pymf_ObjectType, "Object") < 0 ||
        add_type(m, &pymf_MethodType, "Method") < 0 ||
        add_type(m, &pymf_ArrayType, "Array") < 0 || add_type(m, &pymf_WatchType, "Watch") < 0 ||
        add_type(m, &pymf_ViewType, "View") < 0 || add_type(m, &pymf_BatchType, "Batch") < 0 ||
        pymf_errors_init(m) < 0 || add_error_codes(m) < 0 ||
        PyModule_AddStringConstant(m, "__version__", version) < 0 ||
        PyModule_AddIntConstant(m, "FORMAT_VERSION", MF_FORMAT_VERSION) < 0 ||
        PyModule_AddIntConstant(m, "NAME_MAX", MF_NAME_MAX) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
