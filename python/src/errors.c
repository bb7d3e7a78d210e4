/* errors.c - mapfile.Error and its subclasses, one per error family, each
 * carrying the MF_ code, its name and the library's detail message. */
#include "pymapfile.h"

#include <errno.h>

#include <stdarg.h>

/* One exception class of the module. */
typedef struct family {
    const char *name;     /* attribute name in the module */
    const char *doc;
    PyObject **builtin;   /* a second base (KeyError, ...) or NULL */
    PyObject *type;       /* created at init */
} family;

static PyObject *error_base;

enum {
    F_NOTFOUND, F_FILE, F_FORMAT, F_CODEC, F_NOMETHOD, F_ARGUMENT, F_READONLY,
    F_FULL, F_BUSY, F_TIMEOUT, F_INVALID, F_COUNT
};

static family families[F_COUNT] = {
    [F_NOTFOUND] = {"NotFoundError",
                    "No record with that name (MF_ENOTFOUND). Also a KeyError, so\n"
                    "``f[name]`` behaves like a dict.", &PyExc_KeyError, NULL},
    [F_FILE] = {"FileError",
                "The map file cannot be opened or created: it does not exist\n"
                "(MF_ENOENT), exists already (MF_EEXIST), permission denied\n"
                "(MF_EACCES), a system call failed (MF_ESYS), or it was replaced\n"
                "(MF_EREPLACED). Also an OSError.", &PyExc_OSError, NULL},
    [F_FORMAT] = {"FormatError",
                  "The file is not a sound map file: not a map file\n"
                  "(MF_ENOTMAPFILE), an unsupported format version (MF_EVERSION),\n"
                  "corrupt (MF_ECORRUPT), a record's checksum does not match\n"
                  "(MF_ECHECKSUM), or its writer lock was made by another C library\n"
                  "(MF_ELOCKABI). `mapf check` says more.", NULL, NULL},
    [F_CODEC] = {"CodecError",
                 "A codec is missing or failed: no codec for the class\n"
                 "(MF_ENOCODEC), the codec refused the payload (MF_ECODEC), a class\n"
                 "version it cannot read (MF_ECLASSVERSION), a plugin that does not\n"
                 "load (MF_EPLUGIN, MF_EABI), a duplicate class (MF_EDUPLICATE) or an\n"
                 "object of another codec (MF_ECLASS).", NULL, NULL},
    [F_NOMETHOD] = {"NoMethodError",
                    "The class has no method or hook of that name (MF_ENOMETHOD).\n"
                    "Also an AttributeError.", &PyExc_AttributeError, NULL},
    [F_ARGUMENT] = {"ArgumentError",
                    "Arguments do not match a method's signature (MF_EARGS); the\n"
                    "message names the signature. Also a TypeError.",
                    &PyExc_TypeError, NULL},
    [F_READONLY] = {"ReadOnlyError",
                    "A write to a file opened read-only (MF_EREADONLY).", NULL, NULL},
    [F_FULL] = {"FullError",
                "The file reached its maximum size (MF_EFULL); what was stored\n"
                "before is intact.", NULL, NULL},
    [F_BUSY] = {"BusyError",
                "Writers changed the records on every one of many tries (MF_EBUSY,\n"
                "MF_ESNAPSHOT): try again.", NULL, NULL},
    [F_TIMEOUT] = {"TimeoutError",
                   "A wait for the file to appear ran out (MF_ETIMEDOUT). Also the\n"
                   "built-in TimeoutError.", &PyExc_TimeoutError, NULL},
    [F_INVALID] = {"InvalidError",
                   "An invalid argument (MF_EINVAL), name (MF_ENAME) or size\n"
                   "(MF_ETOOSMALL). Also a ValueError.", &PyExc_ValueError, NULL},
};

static int family_of(int rc)
{
    switch (rc) {
    case MF_ENOTFOUND:
        return F_NOTFOUND;
    case MF_ENOENT: case MF_EEXIST: case MF_EACCES: case MF_ESYS: case MF_EREPLACED:
        return F_FILE;
    case MF_ENOTMAPFILE: case MF_EVERSION: case MF_ECORRUPT: case MF_ECHECKSUM:
    case MF_ELOCKABI:
        return F_FORMAT;
    case MF_ENOCODEC: case MF_ECODEC: case MF_ECLASSVERSION: case MF_EPLUGIN:
    case MF_EABI: case MF_EDUPLICATE: case MF_ECLASS:
        return F_CODEC;
    case MF_ENOMETHOD:
        return F_NOMETHOD;
    case MF_EARGS: case MF_ESIGNATURE:
        return F_ARGUMENT;
    case MF_EREADONLY:
        return F_READONLY;
    case MF_EFULL:
        return F_FULL;
    case MF_EBUSY: case MF_ESNAPSHOT:
        return F_BUSY;
    case MF_ETIMEDOUT:
        return F_TIMEOUT;
    case MF_EINVAL: case MF_ENAME: case MF_ETOOSMALL:
        return F_INVALID;
    default: /* MF_ENOMEM and codes this module does not know yet */
        return -1;
    }
}

PyObject *pymf_error_type(int rc)
{
    int f = family_of(rc);
    return f < 0 ? error_base : families[f].type;
}

static const char error_doc[] =
    "Base class of every error of the mapfile module.\n\n"
    "Attributes:\n"
    "  code    the library's negative MF_E* code (int)\n"
    "  errname its name, e.g. 'MF_ENOTFOUND'\n"
    "  detail  the library's detail message naming the record, class,\n"
    "          plugin file or search path at fault (may be '')\n"
    "  path    the map file concerned, or None\n"
    "  name    the record concerned, or None\n\n"
    "Subclasses group the codes by family; several also derive from the\n"
    "built-in exception a Python user would catch (KeyError, OSError,\n"
    "TypeError, ...).";

int pymf_errors_init(PyObject *module)
{
    /* str(e) is the message: KeyError's __str__ (the repr of its argument)
     * must not win for NotFoundError, so Error states BaseException's. */
    PyObject *dict = PyDict_New();
    PyObject *str = dict ? PyObject_GetAttrString(PyExc_BaseException, "__str__") : NULL;
    if (!str || PyDict_SetItemString(dict, "__str__", str) < 0)
        goto fail;
    error_base = PyErr_NewExceptionWithDoc("mapfile.Error", error_doc, PyExc_Exception, dict);
    if (!error_base || PyModule_AddObjectRef(module, "Error", error_base) < 0)
        goto fail;
    for (int i = 0; i < F_COUNT; i++) {
        family *fa = &families[i];
        char qual[64];
        snprintf(qual, sizeof qual, "mapfile.%s", fa->name);
        PyObject *bases = fa->builtin ? PyTuple_Pack(2, error_base, *fa->builtin)
                                      : PyTuple_Pack(1, error_base);
        if (!bases)
            goto fail;
        fa->type = PyErr_NewExceptionWithDoc(qual, fa->doc, bases, NULL);
        Py_DECREF(bases);
        if (!fa->type || PyModule_AddObjectRef(module, fa->name, fa->type) < 0)
            goto fail;
    }
    Py_DECREF(str);
    Py_DECREF(dict);
    return 0;
fail:
    Py_XDECREF(str);
    Py_XDECREF(dict);
    return -1;
}

static int set_attr_str(PyObject *exc, const char *attr, const char *v)
{
    PyObject *o = v ? PyUnicode_DecodeUTF8(v, (Py_ssize_t)strlen(v), "replace") : Py_NewRef(Py_None);
    if (!o)
        return -1;
    int rc = PyObject_SetAttrString(exc, attr, o);
    Py_DECREF(o);
    return rc;
}

/* Raises type(rc) with "path: name: message: detail". */
static PyObject *raise_with(int rc, const char *path, const char *name, const char *detail)
{
    PyObject *type = pymf_error_type(rc);
    /* The library's details usually name the file and record already. */
    const char *p = path && !strstr(detail, path) ? path : NULL;
    const char *n = name && !strstr(detail, name) ? name : NULL;
    PyObject *msg = PyUnicode_FromFormat("%s%s%s%s%s%s%s", p ? p : "", p ? ": " : "",
                                         n ? n : "", n ? ": " : "", mf_strerror(rc),
                                         detail[0] ? ": " : "", detail);
    if (!msg)
        return NULL;
    PyObject *exc = PyObject_CallOneArg(type, msg);
    Py_DECREF(msg);
    if (!exc)
        return NULL;
    PyObject *code = PyLong_FromLong(rc);
    int bad = !code || PyObject_SetAttrString(exc, "code", code) < 0 ||
              set_attr_str(exc, "errname", mf_err_name(rc)) < 0 ||
              set_attr_str(exc, "detail", detail) < 0 || set_attr_str(exc, "path", path) < 0 ||
              set_attr_str(exc, "name", name) < 0;
    Py_XDECREF(code);
    /* A FileError is an OSError: its errno and filename say what the
     * library's code says, for code that checks e.errno == errno.ENOENT. */
    int os_errno = rc == MF_ENOENT ? ENOENT : rc == MF_EEXIST ? EEXIST
                 : rc == MF_EACCES ? EACCES : 0;
    if (!bad && os_errno) {
        PyObject *e = PyLong_FromLong(os_errno);
        bad = !e || PyObject_SetAttrString(exc, "errno", e) < 0 ||
              set_attr_str(exc, "strerror", mf_strerror(rc)) < 0 ||
              set_attr_str(exc, "filename", path) < 0;
        Py_XDECREF(e);
    }
    if (!bad)
        PyErr_SetObject(type, exc);
    Py_DECREF(exc);
    return NULL;
}

PyObject *pymf_raise(int rc, const char *path, const char *name)
{
    char detail[2048];
    snprintf(detail, sizeof detail, "%s", mf_errdetail());
    return raise_with(rc, path, name, detail);
}

PyObject *pymf_raise_detail(int rc, const char *path, const char *name, const char *fmt, ...)
{
    char detail[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return raise_with(rc, path, name, detail);
}
