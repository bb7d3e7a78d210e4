/*
 * call.c - calling a class's methods by name through libffi.
 *
 * Signatures are parsed and libffi call interfaces prepared once, when a
 * registry accepts a class. They live in a process-wide table keyed by the
 * class pointer and reference-counted, because one class (a built-in, or a
 * plugin dlopen'ed by two registries) can sit in several registries.
 *
 * mf_call is the hot path: it allocates nothing and parses nothing. Its
 * table lookup is usually a thread-local hit, validated by a generation
 * counter that changes whenever the table's shape does.
 */
#include "internal.h"

#include <ffi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parameters of one method including the object; bounds the stack arrays
 * mf_call uses instead of allocating. */
#define MAX_PARAMS 16
/* Bounds a method table whose terminator is missing. */
#define MAX_METHODS 1024
#define METHOD_NAME_MAX 127
#define NBUCKETS 256

typedef struct pmethod {
    const char *name;
    void (*fn)(void);
    ffi_cif cif;
    ffi_type *atypes[MAX_PARAMS];
    char ret;
    unsigned nargs;            /* not counting the object */
    char args[MAX_PARAMS - 1]; /* type letters of the arguments */
} pmethod;

typedef struct centry {
    const mf_class *cls;
    unsigned refs;
    size_t n;
    pmethod *m;
    mf_method_info *info;
    struct centry *next;
} centry;

static pthread_rwlock_t table_lock = PTHREAD_RWLOCK_INITIALIZER;
static centry *buckets[NBUCKETS];
/* Bumped (under the write lock) whenever an entry is added or removed. */
static _Atomic uint64_t table_gen = 1;

/* Last lookup of this thread; trusted only while table_gen is unchanged,
 * and then only for the caller's own class, which the caller keeps
 * registered for as long as it calls methods on it. */
static _Thread_local struct {
    const mf_class *cls;
    centry *e;
    uint64_t gen;
} last;

static size_t bucket_of(const mf_class *cls)
{
    uintptr_t h = (uintptr_t)cls;
    h ^= h >> 17;
    h *= (uintptr_t)0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 8) % NBUCKETS;
}

static centry *find_locked(const mf_class *cls)
{
    for (centry *e = buckets[bucket_of(cls)]; e; e = e->next)
        if (e->cls == cls)
            return e;
    return NULL;
}

static centry *lookup(const mf_class *cls)
{
    uint64_t g = atomic_load_explicit(&table_gen, memory_order_acquire);
    if (last.cls == cls && last.gen == g)
        return last.e;
    pthread_rwlock_rdlock(&table_lock);
    centry *e = find_locked(cls);
    g = atomic_load_explicit(&table_gen, memory_order_relaxed);
    pthread_rwlock_unlock(&table_lock);
    if (e) {
        last.cls = cls;
        last.e = e;
        last.gen = g;
    }
    return e;
}

/* ------------------------------------------------------------------------ */
/* Validation                                                               */
/* ------------------------------------------------------------------------ */


static int is_ident(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (n >= METHOD_NAME_MAX || !(alpha || (n > 0 && c >= '0' && c <= '9')))
            return 0;
    }
    return n > 0;
}

static ffi_type *ffi_of(char t)
{
    switch (t) {
    case 'v':
        return &ffi_type_void;
    case 'i':
        return &ffi_type_sint64;
    case 'u':
        return &ffi_type_uint64;
    case 'd':
        return &ffi_type_double;
    default: /* 's' and 'o' are pointers */
        return &ffi_type_pointer;
    }
}

/* Parse "R(o,X,...)" into @p m; on error say why in @p why. */
static int parse_signature(const char *sig, pmethod *m, const char **why)
{
    if (!sig || !*sig) {
        *why = "it is empty";
        return -1;
    }
    if (!strchr("viuds", sig[0])) {
        *why = "the return type must be one of v, i, u, d, s";
        return -1;
    }
    if (sig[1] != '(' || sig[2] != 'o') {
        *why = "the return type must be followed by '(o': the object comes first";
        return -1;
    }
    const char *p = sig + 3;
    unsigned n = 0;
    while (*p == ',') {
        if (!p[1] || !strchr("iuds", p[1])) {
            *why = "each parameter after the object must be one of i, u, d, s";
            return -1;
        }
        if (n + 1 >= MAX_PARAMS) {
            *why = "too many parameters (at most 15 after the object)";
            return -1;
        }
        m->args[n++] = p[1];
        p += 2;
    }
    if (p[0] != ')' || p[1] != '\0') {
        *why = "expected ',X' or a closing ')' ending the signature";
        return -1;
    }
    m->ret = sig[0];
    m->nargs = n;
    m->atypes[0] = &ffi_type_pointer;
    for (unsigned i = 0; i < n; i++)
        m->atypes[i + 1] = ffi_of(m->args[i]);
    if (ffi_prep_cif(&m->cif, FFI_DEFAULT_ABI, n + 1, ffi_of(m->ret),
                     m->atypes) != FFI_OK) {
        *why = "libffi cannot prepare a call for it";
        return -1;
    }
    return 0;
}

static void entry_free(centry *e)
{
    if (!e)
        return;
    free(e->m);
    free(e->info);
    free(e);
}

/* Validate every method of @p cls and prepare its calls. */
static int entry_build(const mf_class *cls, centry **out)
{
    char q[300], qs[300];
    const mf_method *ms = cls->methods;
    size_t n = 0;
    while (ms && n < MAX_METHODS && ms[n].name)
        n++;
    if (n == MAX_METHODS)
        return mf__fail(MF_ESIGNATURE, "class '%s': more than %d methods (is "
                        "the table terminated by a NULL name?)", cls->name,
                        MAX_METHODS);
    centry *e = calloc(1, sizeof *e);
    if (!e || (n && (!(e->m = calloc(n, sizeof *e->m)) ||
                     !(e->info = calloc(n, sizeof *e->info))))) {
        entry_free(e);
        return mf__fail(MF_ENOMEM, "out of memory");
    }
    e->cls = cls;
    e->refs = 1;
    e->n = n;
    for (size_t i = 0; i < n; i++) {
        const mf_method *src = &ms[i];
        pmethod *m = &e->m[i];
        const char *why = NULL;
        if (src->struct_size < sizeof(mf_method))
            why = "its struct_size is too small (use MF_METHOD)";
        else if (!is_ident(src->name))
            why = "its name is not an identifier of 1 to 127 bytes";
        else if (!src->fn)
            why = "its function is NULL";
        for (size_t j = 0; !why && j < i; j++)
            if (strcmp(e->m[j].name, src->name) == 0)
                why = "its name is used twice";
        if (why) {
            entry_free(e);
            return mf__fail(MF_ESIGNATURE, "class '%s': method '%s': %s",
                            cls->name, mf__quote(q, sizeof q, src->name), why);
        }
        if (parse_signature(src->signature, m, &why) != 0) {
            entry_free(e);
            return mf__fail(MF_ESIGNATURE, "class '%s': method '%s': bad "
                            "signature '%s': %s", cls->name, src->name,
                            mf__quote(qs, sizeof qs, src->signature), why);
        }
        m->name = src->name;
        m->fn = src->fn;
        e->info[i] = (mf_method_info){src->name, src->signature};
    }
    *out = e;
    return 0;
}

int mf__methods_prepare(const mf_class *cls)
{
    if (!cls)
        return mf__fail(MF_EINVAL, "class is NULL");
    pthread_rwlock_wrlock(&table_lock);
    centry *e = find_locked(cls);
    if (e)
        e->refs++;
    pthread_rwlock_unlock(&table_lock);
    if (e)
        return 0;
    /* Build outside the lock; a racing prepare of the same class is
     * resolved below by keeping whichever entry got in first. */
    centry *ne = NULL;
    int rc = entry_build(cls, &ne);
    if (rc)
        return rc;
    pthread_rwlock_wrlock(&table_lock);
    e = find_locked(cls);
    if (e) {
        e->refs++;
    } else {
        size_t b = bucket_of(cls);
        ne->next = buckets[b];
        buckets[b] = ne;
        atomic_fetch_add_explicit(&table_gen, 1, memory_order_release);
        ne = NULL;
    }
    pthread_rwlock_unlock(&table_lock);
    entry_free(ne);
    return 0;
}

void mf__methods_forget(const mf_class *cls)
{
    centry *gone = NULL;
    pthread_rwlock_wrlock(&table_lock);
    centry **pp = &buckets[bucket_of(cls)];
    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->cls != cls)
            continue;
        if (--(*pp)->refs == 0) {
            gone = *pp;
            *pp = gone->next;
            atomic_fetch_add_explicit(&table_gen, 1, memory_order_release);
        }
        break;
    }
    pthread_rwlock_unlock(&table_lock);
    entry_free(gone);
}

int mf_class_methods(const mf_class *cls, const mf_method_info **out)
{
    centry *e = cls ? lookup(cls) : NULL;
    if (!e)
        return mf__fail(MF_ENOCODEC, "class was not obtained from a registry");
    if (out)
        *out = e->info;
    return (int)e->n;
}

/* ------------------------------------------------------------------------ */
/* Calling                                                                  */
/* ------------------------------------------------------------------------ */

static const char *type_name(int t)
{
    switch (t) {
    case MF_T_VOID:
        return "v (void)";
    case MF_T_I64:
        return "i (int64)";
    case MF_T_U64:
        return "u (uint64)";
    case MF_T_F64:
        return "d (double)";
    case MF_T_STR:
        return "s (string)";
    case MF_T_OBJ:
        return "o (object)";
    default:
        return "an unknown type";
    }
}

static int fail_no_method(const centry *e, const char *method)
{
    char q[300], names[512];
    size_t o = 0;
    names[0] = '\0';
    for (size_t i = 0; i < e->n && o + 1 < sizeof names; i++) {
        int k = snprintf(names + o, sizeof names - o, "%s%s", i ? ", " : "",
                         e->m[i].name);
        if (k < 0)
            break;
        o += (size_t)k;
    }
    return mf__fail(MF_ENOMETHOD, "class '%s' has no method '%s' (methods: %s)",
                    e->cls->name, mf__quote(q, sizeof q, method),
                    e->n ? names : "none");
}

int mf_call(const mf_class *cls, void *obj, const char *method,
            const mf_value *args, size_t nargs, mf_value *ret)
{
    mf__clear_detail();
    if (!cls || !obj || !method || (nargs && !args))
        return mf__fail(MF_EINVAL, "mf_call: class, object, method and "
                        "arguments must not be NULL");
    centry *e = lookup(cls);
    if (!e)
        return mf__fail(MF_EINVAL, "mf_call: the class was not obtained from "
                        "a registry");
    pmethod *m = NULL;
    /* The first-byte test skips most strcmp calls: this loop is on the
     * hot path. */
    for (size_t i = 0; i < e->n; i++)
        if (e->m[i].name[0] == method[0] && strcmp(e->m[i].name, method) == 0) {
            m = &e->m[i];
            break;
        }
    if (!m)
        return fail_no_method(e, method);
    if (nargs != m->nargs)
        return mf__fail(MF_EARGS, "%s.%s takes %u argument%s after the object "
                        "(signature %s), given %zu", cls->name, m->name,
                        m->nargs, m->nargs == 1 ? "" : "s",
                        e->info[m - e->m].signature, nargs);
    void *av[MAX_PARAMS];
    av[0] = &obj;
    for (size_t i = 0; i < nargs; i++) {
        if ((int)args[i].type != m->args[i])
            return mf__fail(MF_EARGS, "%s.%s argument %zu: expected %s, given "
                            "%s", cls->name, m->name, i + 1,
                            type_name(m->args[i]), type_name(args[i].type));
        if (m->args[i] == 's' && !args[i].v.s)
            return mf__fail(MF_EARGS, "%s.%s argument %zu: the string is NULL",
                            cls->name, m->name, i + 1);
        /* libffi only reads through these; the cast drops const for its
         * void ** parameter. */
        av[i + 1] = (void *)&args[i].v;
    }
    union {
        ffi_arg a; /* libffi widens small integer returns to ffi_arg */
        int64_t i;
        uint64_t u;
        double d;
        const char *s;
    } rv;
    rv.u = 0;
    ffi_call(&m->cif, m->fn, &rv, av);
    if (ret) {
        ret->type = (mf_type)m->ret;
        switch (m->ret) {
        case 'i':
            ret->v.i = rv.i;
            break;
        case 'u':
            ret->v.u = rv.u;
            break;
        case 'd':
            ret->v.d = rv.d;
            break;
        case 's':
            ret->v.s = rv.s;
            break;
        default:
            ret->v.u = 0;
            break;
        }
    }
    return 0;
}
