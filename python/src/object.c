/* object.c - mapfile.Object, a decoded object that keeps its class, and
 * mapfile.Method, one of its methods bound to it. Methods run through the
 * same libffi tables as mf_call: the arguments are converted from the
 * signature string and checked before anything is called. */
#include "pymapfile.h"

#include <mapfile/builtin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Wrapping                                                                 */
/* ------------------------------------------------------------------------ */

/* text and blob have Python types of their own. The class pointers are
 * compared by name: they are the core's built-ins in every registry. */
static PyObject *builtin_value(void *obj, const mf_class *cls, int *handled)
{
    *handled = 1;
    if (strcmp(cls->name, MF_TEXT_CLASS) == 0) {
        const char *s = obj;
        return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
    }
    if (strcmp(cls->name, MF_BLOB_CLASS) == 0) {
        const mf_blob *b = obj;
        if (b->size > (uint64_t)PY_SSIZE_T_MAX)
            return PyErr_NoMemory();
        return PyBytes_FromStringAndSize((const char *)b->data, (Py_ssize_t)b->size);
    }
    *handled = 0;
    return NULL;
}

PyObject *pymf_object_wrap(void *obj, const mf_class *cls, PyObject *registry,
                           PyObject *record)
{
    int handled;
    PyObject *v = builtin_value(obj, cls, &handled);
    if (handled) {
        mf_object_free(cls, obj);
        return v;
    }
    pymf_Object *o = PyObject_New(pymf_Object, &pymf_ObjectType);
    if (!o) {
        mf_object_free(cls, obj);
        return NULL;
    }
    o->obj = obj;
    o->cls = cls;
    o->registry = Py_XNewRef(registry);
    o->record = Py_NewRef(record ? record : Py_None);
    o->weakreflist = NULL;
    return (PyObject *)o;
}

static void object_dealloc(pymf_Object *self)
{
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    mf_object_free(self->cls, self->obj);
    Py_XDECREF(self->record);
    /* Last: the registry may unload the codec that just freed the object. */
    Py_XDECREF(self->registry);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ------------------------------------------------------------------------ */
/* Methods                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    pymf_Object *owner;
    const mf_method_info *info; /* owned by the registry the owner keeps */
} pymf_Method;

/* The method table of the object's class; 0 entries if it has none. */
static int methods_of(const pymf_Object *o, const mf_method_info **out)
{
    int n = mf_class_methods(o->cls, out);
    if (n < 0) {
        *out = NULL;
        return 0;
    }
    return n;
}

static const mf_method_info *find_method(const pymf_Object *o, const char *name)
{
    const mf_method_info *m;
    int n = methods_of(o, &m);
    for (int i = 0; i < n; i++)
        if (strcmp(m[i].name, name) == 0)
            return &m[i];
    return NULL;
}

static PyObject *method_new(pymf_Object *owner, const mf_method_info *info)
{
    pymf_Method *m = PyObject_New(pymf_Method, &pymf_MethodType);
    if (!m)
        return NULL;
    m->owner = (pymf_Object *)Py_NewRef(owner);
    m->info = info;
    return (PyObject *)m;
}

static void method_dealloc(pymf_Method *self)
{
    Py_DECREF(self->owner);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The parameter letters after "R(o": "" for "d(o)", "i" for "d(o,i)". The
 * registry validated the signature, so it has this shape. */
static void param_letters(const char *sig, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = sig + 3; *p == ',' && p[1] && n + 1 < cap; p += 2)
        out[n++] = p[1];
    out[n] = '\0';
}

static const char *python_type(char t)
{
    switch (t) {
    case 'i': return "int (i, int64)";
    case 'u': return "int (u, uint64)";
    case 'd': return "float (d, double)";
    case 's': return "str (s)";
    default: return "?";
    }
}

static PyObject *arg_error(const pymf_Method *m, int rc, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return pymf_raise_detail(rc, NULL, NULL, "%s.%s: %s (signature %s)", m->owner->cls->name,
                             m->info->name, what, m->info->signature);
}

/* Converts one Python argument to the type letter t. */
static int convert_arg(const pymf_Method *m, size_t i, char t, PyObject *a, mf_value *v)
{
    const char *given = Py_TYPE(a)->tp_name;
    switch (t) {
    case 'i':
    case 'u':
        if (!PyIndex_Check(a)) {
            arg_error(m, MF_EARGS, "argument %zu must be %s, not %s", i + 1, python_type(t), given);
            return -1;
        }
        if (t == 'i') {
            v->type = MF_T_I64;
            v->v.i = PyLong_AsLongLong(a);
        } else {
            v->type = MF_T_U64;
            PyObject *n = PyNumber_Index(a);
            v->v.u = n ? PyLong_AsUnsignedLongLong(n) : 0;
            Py_XDECREF(n);
        }
        if (PyErr_Occurred()) {
            if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
                PyErr_Clear();
                arg_error(m, MF_EARGS, "argument %zu does not fit %s", i + 1, python_type(t));
            }
            return -1;
        }
        return 0;
    case 'd':
        /* float, int, and numbers that convert (numpy scalars); not str. */
        if (!PyFloat_Check(a) && !PyIndex_Check(a) &&
            !(Py_TYPE(a)->tp_as_number && Py_TYPE(a)->tp_as_number->nb_float)) {
            arg_error(m, MF_EARGS, "argument %zu must be %s, not %s", i + 1, python_type(t), given);
            return -1;
        }
        v->type = MF_T_F64;
        v->v.d = PyFloat_AsDouble(a);
        return v->v.d == -1.0 && PyErr_Occurred() ? -1 : 0;
    case 's': {
        if (!PyUnicode_Check(a)) {
            arg_error(m, MF_EARGS, "argument %zu must be %s, not %s", i + 1, python_type(t), given);
            return -1;
        }
        Py_ssize_t len;
        const char *s = PyUnicode_AsUTF8AndSize(a, &len);
        if (!s)
            return -1;
        if ((size_t)len != strlen(s)) {
            arg_error(m, MF_EARGS, "argument %zu contains a NUL character", i + 1);
            return -1;
        }
        v->type = MF_T_STR;
        v->v.s = s;
        return 0;
    }
    default:
        arg_error(m, MF_ESIGNATURE, "parameter type '%c' is not supported", t);
        return -1;
    }
}

static PyObject *return_value(const mf_value *r)
{
    switch (r->type) {
    case MF_T_I64:
        return PyLong_FromLongLong(r->v.i);
    case MF_T_U64:
        return PyLong_FromUnsignedLongLong(r->v.u);
    case MF_T_F64:
        return PyFloat_FromDouble(r->v.d);
    case MF_T_STR:
        if (!r->v.s)
            Py_RETURN_NONE;
        return PyUnicode_DecodeUTF8(r->v.s, (Py_ssize_t)strlen(r->v.s), "replace");
    default:
        Py_RETURN_NONE;
    }
}

/* At most 15 parameters after the object (the core's limit). */
#define MAX_ARGS 15

static PyObject *method_call(pymf_Method *self, PyObject *args, PyObject *kwargs)
{
    if (kwargs && PyDict_GET_SIZE(kwargs) > 0)
        return arg_error(self, MF_EARGS, "takes no keyword arguments");
    char letters[MAX_ARGS + 1];
    param_letters(self->info->signature, letters, sizeof letters);
    size_t want = strlen(letters), given = (size_t)PyTuple_GET_SIZE(args);
    if (given != want)
        return arg_error(self, MF_EARGS, "takes %zu argument%s, %zu given", want,
                         want == 1 ? "" : "s", given);
    mf_value av[MAX_ARGS];
    for (size_t i = 0; i < want; i++)
        if (convert_arg(self, i, letters[i], PyTuple_GET_ITEM(args, i), &av[i]) < 0)
            return NULL;
    mf_value ret;
    int rc = mf_call(self->owner->cls, self->owner->obj, self->info->name, av, want, &ret);
    if (rc)
        return pymf_raise(rc, NULL, NULL);
    return return_value(&ret);
}

static PyObject *method_repr(pymf_Method *self)
{
    return PyUnicode_FromFormat("<mapfile.Method %s.%s %s>", self->owner->cls->name,
                                self->info->name, self->info->signature);
}

static PyObject *method_get_name(pymf_Method *self, void *closure)
{
    (void)closure;
    return PyUnicode_FromString(self->info->name);
}

static PyObject *method_get_signature(pymf_Method *self, void *closure)
{
    (void)closure;
    return PyUnicode_FromString(self->info->signature);
}

static const char *return_name(char t)
{
    switch (t) {
    case 'i': case 'u': return "int";
    case 'd': return "float";
    case 's': return "str | None";
    default: return "None";
    }
}

/* help(obj.mean): "mean() -> float\n\nsignature d(o) ..." */
static PyObject *method_get_doc(pymf_Method *self, void *closure)
{
    (void)closure;
    char letters[MAX_ARGS + 1], params[MAX_ARGS * 8 + 1] = "";
    param_letters(self->info->signature, letters, sizeof letters);
    size_t o = 0;
    for (size_t i = 0; letters[i]; i++) {
        const char *t = letters[i] == 'd' ? "float" : letters[i] == 's' ? "str" : "int";
        int k = snprintf(params + o, sizeof params - o, "%s%s", i ? ", " : "", t);
        if (k > 0 && (size_t)k < sizeof params - o)
            o += (size_t)k;
    }
    return PyUnicode_FromFormat(
        "%s(%s) -> %s\n\nMethod of class '%s', signature %s, called through the class's\n"
        "method table (mf_call). Arguments are checked against the signature\n"
        "(mapfile.ArgumentError, a TypeError, if they do not match).",
        self->info->name, params, return_name(self->info->signature[0]), self->owner->cls->name,
        self->info->signature);
}

static PyObject *method_get_self(pymf_Method *self, void *closure)
{
    (void)closure;
    return Py_NewRef((PyObject *)self->owner);
}

static PyGetSetDef method_getset[] = {
    {"__name__", (getter)method_get_name, NULL, "method name", NULL},
    {"name", (getter)method_get_name, NULL, "method name", NULL},
    {"signature", (getter)method_get_signature, NULL, "signature string, e.g. 'd(o,i)'", NULL},
    {"__doc__", (getter)method_get_doc, NULL, NULL, NULL},
    {"__self__", (getter)method_get_self, NULL, "the object the method is bound to", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject pymf_MethodType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mapfile.Method",
    .tp_basicsize = sizeof(pymf_Method),
    .tp_dealloc = (destructor)method_dealloc,
    .tp_repr = (reprfunc)method_repr,
    .tp_call = (ternaryfunc)method_call,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A method of a decoded object, bound to it. Call it like a function.",
    .tp_getset = method_getset,
};

/* ------------------------------------------------------------------------ */
/* Object                                                                   */
/* ------------------------------------------------------------------------ */

static PyObject *object_getattro(pymf_Object *self, PyObject *name)
{
    PyObject *v = PyObject_GenericGetAttr((PyObject *)self, name);
    if (v || !PyErr_ExceptionMatches(PyExc_AttributeError) || !PyUnicode_Check(name))
        return v;
    /* A name that is no method name (not UTF-8, or with a NUL) is an
     * AttributeError, so hasattr() says False. */
    Py_ssize_t len = 0;
    const char *s = PyUnicode_AsUTF8AndSize(name, &len);
    if (!s || strlen(s) != (size_t)len) {
        PyErr_Clear();
        PyErr_Format(PyExc_AttributeError, "'%.100s' object has no attribute %R",
                     Py_TYPE(self)->tp_name, name);
        return NULL;
    }
    const mf_method_info *m = find_method(self, s);
    if (!m && s[0] == '_')
        return NULL; /* keep the AttributeError of dunder probes */
    if (!m) {
        /* mf_call's detail lists the methods the class has. */
        PyErr_Clear();
        mf_value ret;
        int rc = mf_call(self->cls, self->obj, s, NULL, 0, &ret);
        return pymf_raise(rc ? rc : MF_ENOMETHOD, NULL, NULL);
    }
    PyErr_Clear();
    return method_new(self, m);
}

static PyObject *object_dir(pymf_Object *self, PyObject *unused)
{
    (void)unused;
    PyObject *base = PyObject_GetAttrString((PyObject *)&PyBaseObject_Type, "__dir__");
    PyObject *names = base ? PyObject_CallOneArg(base, (PyObject *)self) : NULL;
    Py_XDECREF(base);
    PyObject *list = names ? PySequence_List(names) : NULL;
    Py_XDECREF(names);
    if (!list)
        return NULL;
    const mf_method_info *m;
    int n = methods_of(self, &m);
    for (int i = 0; i < n; i++) {
        PyObject *s = PyUnicode_FromString(m[i].name);
        if (!s || PyList_Append(list, s) < 0) {
            Py_XDECREF(s);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(s);
    }
    return list;
}

static PyObject *object_call_method(pymf_Object *self, PyObject *args)
{
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    if (n < 1 || !PyUnicode_Check(PyTuple_GET_ITEM(args, 0))) {
        PyErr_SetString(PyExc_TypeError, "call(name, *args): name must be a str");
        return NULL;
    }
    Py_ssize_t len = 0;
    const char *name = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(args, 0), &len);
    if (!name)
        return NULL;
    if (strlen(name) != (size_t)len) {
        PyErr_SetString(PyExc_ValueError, "call(name, *args): name contains a NUL");
        return NULL;
    }
    const mf_method_info *m = find_method(self, name);
    if (!m) {
        /* mf_call says which methods there are. */
        mf_value ret;
        int rc = mf_call(self->cls, self->obj, name, NULL, 0, &ret);
        return pymf_raise(rc ? rc : MF_ENOMETHOD, NULL, NULL);
    }
    PyObject *bound = method_new(self, m);
    PyObject *rest = bound ? PyTuple_GetSlice(args, 1, n) : NULL;
    PyObject *r = rest ? PyObject_Call(bound, rest, NULL) : NULL;
    Py_XDECREF(rest);
    Py_XDECREF(bound);
    return r;
}

int pymf_writer_grow(mf_writer *w, size_t need)
{
    size_t cap = w->cap ? w->cap : 256;
    while (cap - w->len < need) {
        if (cap > SIZE_MAX / 2)
            return -1;
        cap *= 2;
    }
    unsigned char *b = realloc(w->buf, cap);
    if (!b)
        return -1;
    w->buf = b;
    w->cap = cap;
    return 0;
}

static PyObject *object_to_json(pymf_Object *self, PyObject *unused)
{
    (void)unused;
    if (!self->cls->to_json)
        return pymf_raise_detail(MF_ENOMETHOD, NULL, NULL, "class '%s' has no to_json hook",
                                 self->cls->name);
    mf_writer w = {NULL, 0, 0, 0, pymf_writer_grow, NULL};
    int rc = self->cls->to_json(self->obj, &w);
    PyObject *r = NULL;
    if (rc != 0 || w.err)
        pymf_raise_detail(MF_ECODEC, NULL, NULL, "to_json of class '%s' failed (wire error %d)",
                          self->cls->name, w.err);
    else
        r = PyUnicode_DecodeUTF8((const char *)w.buf, (Py_ssize_t)w.len, "replace");
    free(w.buf);
    return r;
}

PyObject *pymf_json_loads(PyObject *text)
{
    static PyObject *loads;
    if (!loads) {
        PyObject *json = PyImport_ImportModule("json");
        loads = json ? PyObject_GetAttrString(json, "loads") : NULL;
        Py_XDECREF(json);
        if (!loads)
            return NULL;
    }
    return PyObject_CallOneArg(loads, text);
}

static PyObject *object_to_dict(pymf_Object *self, PyObject *unused)
{
    PyObject *text = object_to_json(self, unused);
    PyObject *d = text ? pymf_json_loads(text) : NULL;
    Py_XDECREF(text);
    return d;
}

/* print() output, or the repr for classes without it. */
static PyObject *object_str(pymf_Object *self)
{
    if (!self->cls->print)
        return PyObject_Repr((PyObject *)self);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (!out)
        return PyErr_NoMemory();
    self->cls->print(self->obj, out);
    int bad = fclose(out) != 0;
    PyObject *r = bad ? PyErr_NoMemory()
                      : PyUnicode_DecodeUTF8(buf, (Py_ssize_t)len, "replace");
    free(buf);
    return r;
}

static PyObject *object_repr(pymf_Object *self)
{
    return PyUnicode_FromFormat("<mapfile.Object of class '%s' at %p>", self->cls->name,
                                (void *)self);
}

static PyObject *object_get_class_name(pymf_Object *self, void *closure)
{
    (void)closure;
    return PyUnicode_FromString(self->cls->name);
}

static PyObject *object_get_class_version(pymf_Object *self, void *closure)
{
    (void)closure;
    return PyLong_FromUnsignedLong(self->cls->version);
}

static PyObject *object_get_record(pymf_Object *self, void *closure)
{
    (void)closure;
    return Py_NewRef(self->record);
}

static PyObject *object_get_arrays(pymf_Object *self, void *closure)
{
    (void)closure;
    return pymf_arrays_of(self);
}

static PyObject *object_get_methods(pymf_Object *self, void *closure)
{
    (void)closure;
    const mf_method_info *m;
    int n = methods_of(self, &m);
    PyObject *d = PyDict_New();
    for (int i = 0; d && i < n; i++) {
        PyObject *sig = PyUnicode_FromString(m[i].signature);
        if (!sig || PyDict_SetItemString(d, m[i].name, sig) < 0)
            Py_CLEAR(d);
        Py_XDECREF(sig);
    }
    return d;
}

static PyGetSetDef object_getset[] = {
    {"class_name", (getter)object_get_class_name, NULL,
     "Name of the object's class, e.g. 'hist1d'.", NULL},
    {"class_version", (getter)object_get_class_version, NULL,
     "Version the codec that decoded the object writes.", NULL},
    {"record", (getter)object_get_record, NULL,
     "The stat() dict of the payload this object was decoded from (name,\n"
     "generation, batch, ...) for objects from File.snapshot(); None for\n"
     "objects from f[name].", NULL},
    {"arrays", (getter)object_get_arrays, NULL,
     "dict name -> mapfile.Array of the typed arrays the class declares\n"
     "(its arrays hook), e.g. 'bins'. Each Array exports the object's own\n"
     "memory through the buffer protocol: numpy.asarray(a) and memoryview(a)\n"
     "are views, not copies, and keep the object alive. Writes through them\n"
     "change this local copy only (put() it to publish). Empty when the class\n"
     "declares none.", NULL},
    {"methods", (getter)object_get_methods, NULL,
     "dict name -> signature of the class's methods, callable as attributes.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef object_methods[] = {
    {"to_json", (PyCFunction)object_to_json, METH_NOARGS,
     "to_json($self, /)\n--\n\nReturns str. The object as JSON, from the class's to_json hook\n"
     "(mapfile.NoMethodError if it has none)."},
    {"to_dict", (PyCFunction)object_to_dict, METH_NOARGS,
     "to_dict($self, /)\n--\n\nReturns dict. json.loads(self.to_json())."},
    {"call", (PyCFunction)object_call_method, METH_VARARGS,
     "call($self, name, /, *args)\n--\n\nCall method `name` (for names an attribute hides)."},
    {"__dir__", (PyCFunction)object_dir, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

PyTypeObject pymf_ObjectType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mapfile.Object",
    .tp_basicsize = sizeof(pymf_Object),
    .tp_dealloc = (destructor)object_dealloc,
    .tp_repr = (reprfunc)object_repr,
    .tp_str = (reprfunc)object_str,
    .tp_getattro = (getattrofunc)object_getattro,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc =
        "An object decoded from a map file by its class's codec: a fresh local\n"
        "copy, rebuilt by this process's own copy of the codec.\n\n"
        "Its class's methods are attributes: h.mean(), h.bin_content(5). They\n"
        "run through the class's method table (like `mapf call`), with the\n"
        "arguments checked against the signature. str(obj) is the class's print\n"
        "output; obj.arrays the typed arrays without a copy; obj.to_json() and\n"
        "obj.to_dict() the class's JSON. Objects cannot be created from Python:\n"
        "they come from File.__getitem__, items(), values() and snapshot().",
    .tp_weaklistoffset = offsetof(pymf_Object, weakreflist),
    .tp_methods = object_methods,
    .tp_getset = object_getset,
};
