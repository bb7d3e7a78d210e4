/* registry.c - a private codec registry (open(..., plugin_path=...)) as a
 * Python object, so that a file and every object decoded through it can
 * share it: the registry, and the plugins it dlopen'ed, live until the last
 * of them is gone. Without plugin_path the process-wide default registry is
 * used and nothing is kept. */
#include "pymapfile.h"

static void registry_dealloc(pymf_Registry *self)
{
    mf_registry_free(self->reg);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyTypeObject pymf_RegistryType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mapfile._Registry",
    .tp_basicsize = sizeof(pymf_Registry),
    .tp_dealloc = (destructor)registry_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A private codec registry shared by a file and its objects.",
};

static int add_dir(pymf_Registry *r, PyObject *dir)
{
    PyObject *bytes = NULL;
    if (!PyUnicode_FSConverter(dir, &bytes))
        return -1;
    int rc = mf_registry_add_path(r->reg, PyBytes_AS_STRING(bytes));
    Py_DECREF(bytes);
    if (rc) {
        pymf_raise(rc, NULL, NULL);
        return -1;
    }
    return 0;
}

/* A list of directories: a str is split on os.pathsep, like
 * MAPFILE_PLUGIN_PATH; anything else is iterated. */
static PyObject *dir_list(PyObject *plugin_path)
{
    if (PyUnicode_Check(plugin_path)) {
        PyObject *sep = PyUnicode_FromString(":");
        PyObject *parts = sep ? PyUnicode_Split(plugin_path, sep, -1) : NULL;
        Py_XDECREF(sep);
        return parts;
    }
    if (PyBytes_Check(plugin_path) || PyObject_HasAttrString(plugin_path, "__fspath__"))
        return Py_BuildValue("[O]", plugin_path);
    return PySequence_List(plugin_path);
}

PyObject *pymf_registry_from(PyObject *plugin_path)
{
    if (plugin_path == Py_None)
        return Py_NewRef(Py_None);
    PyObject *dirs = dir_list(plugin_path);
    if (!dirs)
        return NULL;
    pymf_Registry *r = PyObject_New(pymf_Registry, &pymf_RegistryType);
    if (!r) {
        Py_DECREF(dirs);
        return NULL;
    }
    r->reg = NULL;
    int rc = mf_registry_create(&r->reg);
    if (rc) {
        Py_DECREF(dirs);
        Py_DECREF(r);
        return pymf_raise(rc, NULL, NULL);
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(dirs); i++) {
        PyObject *d = PyList_GET_ITEM(dirs, i);
        if (PyUnicode_Check(d) && PyUnicode_GET_LENGTH(d) == 0)
            continue; /* "a::b" or a trailing ':' */
        if (add_dir(r, d) < 0) {
            Py_DECREF(dirs);
            Py_DECREF(r);
            return NULL;
        }
    }
    Py_DECREF(dirs);
    return (PyObject *)r;
}

mf_registry *pymf_registry_get(PyObject *r)
{
    return r ? ((pymf_Registry *)r)->reg : mf_registry_default();
}
