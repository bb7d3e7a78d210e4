/*
 * registry.c - class name -> codec.
 *
 * A registry is an ordered list of sources: the in-process set first, then
 * the plugin directories (MAPFILE_PLUGIN_PATH, mf_registry_add_path(), the
 * install dir found beside libmapfile: plugindir.c). Directories are
 * scanned and plugins dlopen'ed lazily, always in that order, so the first
 * definition of a name that a walk meets is the winner. Winners are cached in a small hash map; the map
 * is dropped whenever the order can change (a new in-process class or a new
 * directory) and refilled by later walks.
 *
 * Plugins are hostile input: every field of the descriptor and of each
 * class is checked before the class becomes visible, and a plugin with any
 * bad class is refused whole and unloaded.
 */
#include "internal.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define IN_PROCESS "in-process"
/* Bounds a class list whose NULL terminator is missing. */
#define MAX_PLUGIN_CLASSES 4096
/* The smallest class and descriptor we accept: everything ABI 1.0 defines.
 * Members added later are read only through MF_CLASS_HAS(), which checks the
 * class's own struct_size, so a 1.0 plugin's shorter struct is never read
 * past its end. */
#define CLASS_MIN_SIZE offsetof(mf_class, arrays)
#define PLUGIN_MIN_SIZE sizeof(mf_plugin)
/* The prefix that holds the ABI numbers, which must be readable even when
 * the rest of the descriptor is from another ABI. */
#define PLUGIN_ABI_SIZE (offsetof(mf_plugin, abi_minor) + sizeof(uint16_t))

enum plugin_state { PL_UNTRIED, PL_LOADED, PL_FAILED };
enum dir_kind { DIR_ENV, DIR_API, DIR_INSTALL, DIR_BUILD };

typedef struct rplugin {
    char *path;            /* "in-process" for the in-process set */
    char *real;            /* realpath, so one file is loaded once */
    char *name;            /* copy of the descriptor's name, or NULL */
    void *handle;
    int state;
    int error;
    char *error_msg;
    uint16_t abi_major, abi_minor;
    const mf_class **defs; /* the classes, in declaration order */
    mf_registry_class *view; /* what mf_registry_list() shows */
    size_t nclasses, cap;
} rplugin;

typedef struct rdir {
    char *path;
    int kind;
    int scanned;
    int missing; /* could not be opened: said in "no codec" messages */
    rplugin **plugins;
    size_t nplugins;
} rdir;

typedef struct slot {
    const mf_class *cls; /* NULL: empty */
    const rplugin *from;
} slot;

struct mf_registry {
    pthread_mutex_t lock;
    rplugin inproc;
    rdir *dirs;
    size_t ndirs, dcap;
    size_t nfront; /* env + api dirs; added dirs are inserted here */
    slot *map;     /* winners found so far, by class name */
    size_t map_cap, map_len;
    char *path_str;
    const char **dir_list;
    mf_registry_dir *dir_view;
    mf_registry_plugin *list;
};

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */


static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* A message that may be cut at the buffer's end but never overflows. */
typedef struct sbuf {
    char *p;
    size_t cap, len;
} sbuf;

static void sb_add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(sbuf *b, const char *fmt, ...)
{
    if (b->len + 1 >= b->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    b->len += (size_t)n;
    if (b->len >= b->cap) {
        b->len = b->cap - 1;
        if (b->cap > 4)
            memcpy(b->p + b->cap - 4, "...", 4);
    }
}

/* The characters of a class name, [A-Za-z0-9_.:-], as a table: every put
 * checks its class name, and a table lookup per byte is a third of the
 * comparisons' cost. */
#define CLASS_CHARS_DIGITS ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, \
    ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1
#define CLASS_CHARS_LOWER ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, \
    ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, \
    ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, \
    ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1
#define CLASS_CHARS_UPPER ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, \
    ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, \
    ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, \
    ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1
static const unsigned char class_char[256] = {
    CLASS_CHARS_DIGITS, CLASS_CHARS_LOWER, CLASS_CHARS_UPPER,
    ['_'] = 1, ['.'] = 1, [':'] = 1, ['-'] = 1};

int mf__check_class_name(const char *name)
{
    char q[MF__QUOTE_MAX * 4 + 8];
    if (!name)
        return mf__fail(MF_ENAME, "class name is NULL");
    size_t n = 0;
    for (; name[n]; n++) {
        unsigned char c = (unsigned char)name[n];
        if (n >= MF_CLASS_NAME_MAX)
            return mf__fail(MF_ENAME, "class name '%s' is longer than %d bytes",
                            mf__quote(q, sizeof q, name), MF_CLASS_NAME_MAX);
        if (!class_char[c])
            return mf__fail(MF_ENAME,
                            "class name '%s' has a character outside "
                            "[A-Za-z0-9_.:-] at byte %zu",
                            mf__quote(q, sizeof q, name), n);
    }
    if (n == 0)
        return mf__fail(MF_ENAME, "class name is empty");
    return 0;
}

void mf_object_free(const mf_class *cls, void *obj)
{
    if (cls && obj && cls->destroy)
        cls->destroy(obj);
}

/* ------------------------------------------------------------------------ */
/* Winner map: class name -> first definition in search order               */
/* ------------------------------------------------------------------------ */

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static const slot *map_get(const mf_registry *reg, const char *name)
{
    if (!reg->map_cap)
        return NULL;
    size_t mask = reg->map_cap - 1;
    for (size_t i = hash_name(name) & mask;; i = (i + 1) & mask) {
        const slot *s = &reg->map[i];
        if (!s->cls)
            return NULL;
        if (strcmp(s->cls->name, name) == 0)
            return s;
    }
}

/* Insert unless present (an earlier definition always wins). A failed
 * growth only costs a slower lookup later, so it is not an error. */
static void map_put(mf_registry *reg, const mf_class *cls, const rplugin *from)
{
    if ((reg->map_len + 1) * 2 > reg->map_cap) {
        size_t ncap = reg->map_cap ? reg->map_cap * 2 : 32;
        slot *nm = calloc(ncap, sizeof *nm);
        if (!nm)
            return;
        for (size_t i = 0; i < reg->map_cap; i++) {
            if (!reg->map[i].cls)
                continue;
            size_t j = hash_name(reg->map[i].cls->name) & (ncap - 1);
            while (nm[j].cls)
                j = (j + 1) & (ncap - 1);
            nm[j] = reg->map[i];
        }
        free(reg->map);
        reg->map = nm;
        reg->map_cap = ncap;
    }
    size_t mask = reg->map_cap - 1;
    size_t i = hash_name(cls->name) & mask;
    for (; reg->map[i].cls; i = (i + 1) & mask)
        if (strcmp(reg->map[i].cls->name, cls->name) == 0)
            return;
    reg->map[i].cls = cls;
    reg->map[i].from = from;
    reg->map_len++;
}

static void map_clear(mf_registry *reg)
{
    if (reg->map)
        memset(reg->map, 0, reg->map_cap * sizeof *reg->map);
    reg->map_len = 0;
}

/* ------------------------------------------------------------------------ */
/* Plugins                                                                  */
/* ------------------------------------------------------------------------ */

static int plugin_add_class(rplugin *p, const mf_class *cls)
{
    if (p->nclasses == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 8;
        const mf_class **d = realloc(p->defs, ncap * sizeof *d);
        if (!d)
            return MF_ENOMEM;
        p->defs = d;
        mf_registry_class *v = realloc(p->view, ncap * sizeof *v);
        if (!v)
            return MF_ENOMEM;
        p->view = v;
        p->cap = ncap;
    }
    p->defs[p->nclasses] = cls;
    p->view[p->nclasses] = (mf_registry_class){cls->name, cls->version,
                                               cls->min_version, cls, 0, NULL};
    p->nclasses++;
    return 0;
}

static const mf_class *plugin_class(const rplugin *p, const char *name)
{
    for (size_t i = 0; i < p->nclasses; i++)
        if (strcmp(p->defs[i]->name, name) == 0)
            return p->defs[i];
    return NULL;
}

static void plugin_fail(rplugin *p, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void plugin_fail(rplugin *p, int err, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->state = PL_FAILED;
    p->error = err;
    free(p->error_msg);
    p->error_msg = xstrdup(msg);
}

/* Structural checks of one class; the method table is checked later by
 * mf__methods_prepare. @p fn_err is the code for a malformed class. */
static int check_class(const mf_class *c, int fn_err, char *msg, size_t cap)
{
    char q[MF__QUOTE_MAX * 4 + 8];
    if (c->struct_size < CLASS_MIN_SIZE) {
        snprintf(msg, cap, "class struct_size %u is smaller than %zu (ABI %d.%d)",
                 c->struct_size, (size_t)CLASS_MIN_SIZE, MF_ABI_MAJOR, MF_ABI_MINOR);
        return fn_err;
    }
    if (!c->name) {
        snprintf(msg, cap, "a class has a NULL name");
        return MF_ENAME;
    }
    if (mf__check_class_name(c->name) != 0) {
        snprintf(msg, cap, "invalid class name '%s' (1 to %d bytes of "
                 "[A-Za-z0-9_.:-])", mf__quote(q, sizeof q, c->name), MF_CLASS_NAME_MAX);
        return MF_ENAME;
    }
    const char *missing = !c->stream_out ? "stream_out"
                          : !c->stream_in ? "stream_in"
                          : !c->destroy   ? "destroy"
                                          : NULL;
    if (missing) {
        snprintf(msg, cap, "class '%s' has no %s function", c->name, missing);
        return fn_err;
    }
    if (c->version < c->min_version) {
        snprintf(msg, cap, "class '%s' has version %u below its min_version %u",
                 c->name, c->version, c->min_version);
        return fn_err;
    }
    return 0;
}

/* Validate the descriptor and every class, then prepare the methods; on any
 * failure the plugin is recorded as failed and unloaded. */
static void plugin_accept(rplugin *p, const mf_plugin *d)
{
    char msg[768];
    const mf_class *const *cl = d->classes;
    size_t n = 0;
    if (!cl) {
        plugin_fail(p, MF_EPLUGIN, "plugin %s: its class list is NULL", p->path);
        return;
    }
    while (n < MAX_PLUGIN_CLASSES && cl[n])
        n++;
    if (n == MAX_PLUGIN_CLASSES) {
        plugin_fail(p, MF_EPLUGIN, "plugin %s: more than %d classes (is the "
                    "list NULL-terminated?)", p->path, MAX_PLUGIN_CLASSES);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = check_class(cl[i], MF_EPLUGIN, msg, sizeof msg);
        if (rc) {
            plugin_fail(p, rc, "plugin %s: %s", p->path, msg);
            return;
        }
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(cl[i]->name, cl[j]->name) == 0) {
                plugin_fail(p, MF_EDUPLICATE, "plugin %s: class '%s' is "
                            "defined twice", p->path, cl[i]->name);
                return;
            }
    /* Classes accepted so far sit in p->defs; plugin_unload forgets
     * their methods if a later one fails. */
    for (size_t i = 0; i < n; i++) {
        int rc = mf__methods_prepare(cl[i]);
        if (rc == 0 && (rc = plugin_add_class(p, cl[i])) != 0) {
            mf__methods_forget(cl[i]);
            mf__fail(rc, "out of memory");
        }
        if (rc) {
            plugin_fail(p, rc, "plugin %s: %s", p->path, mf__detail());
            return;
        }
    }
    p->state = PL_LOADED;
}

static void plugin_unload(rplugin *p)
{
    for (size_t i = 0; i < p->nclasses; i++)
        mf__methods_forget(p->defs[i]);
    p->nclasses = 0;
    if (p->handle)
        dlclose(p->handle);
    p->handle = NULL;
}

static void plugin_load(rplugin *p)
{
    p->state = PL_FAILED;
    dlerror();
    p->handle = dlopen(p->path, RTLD_NOW | RTLD_LOCAL);
    if (!p->handle) {
        const char *why = dlerror();
        plugin_fail(p, MF_EPLUGIN, "plugin %s: cannot load: %s", p->path,
                    why ? why : "unknown dlopen error");
        return;
    }
    void *sym = dlsym(p->handle, MF_PLUGIN_ENTRY_NAME);
    if (!sym) {
        plugin_fail(p, MF_EPLUGIN, "plugin %s: no entry symbol '%s' (declare "
                    "the plugin with MF_DEFINE_PLUGIN)", p->path,
                    MF_PLUGIN_ENTRY_NAME);
        plugin_unload(p);
        return;
    }
    mf_plugin_entry_fn entry;
    /* ISO C has no object-to-function pointer cast; POSIX guarantees the
     * bits of dlsym's result are the function's address. */
    memcpy(&entry, &sym, sizeof entry);
    const mf_plugin *d = entry();
    if (!d) {
        plugin_fail(p, MF_EPLUGIN, "plugin %s: %s() returned NULL", p->path,
                    MF_PLUGIN_ENTRY_NAME);
    } else if (d->struct_size < PLUGIN_ABI_SIZE) {
        plugin_fail(p, MF_EPLUGIN, "plugin %s: descriptor struct_size %u is "
                    "too small to hold an ABI version", p->path, d->struct_size);
    } else {
        p->abi_major = d->abi_major;
        p->abi_minor = d->abi_minor;
        if (d->abi_major != MF_ABI_MAJOR || d->abi_minor > MF_ABI_MINOR) {
            plugin_fail(p, MF_EABI, "plugin %s: plugin ABI %u.%u, host ABI "
                        "%d.%d: %s", p->path, d->abi_major, d->abi_minor,
                        MF_ABI_MAJOR, MF_ABI_MINOR,
                        d->abi_major != MF_ABI_MAJOR
                            ? "rebuild the plugin against this mapfile SDK"
                            : "the plugin needs a newer libmapfile");
        } else if (d->struct_size < PLUGIN_MIN_SIZE) {
            plugin_fail(p, MF_EPLUGIN, "plugin %s: descriptor struct_size %u "
                        "is smaller than %zu (ABI %u.%u)", p->path,
                        d->struct_size, (size_t)PLUGIN_MIN_SIZE, d->abi_major,
                        d->abi_minor);
        } else {
            if (d->name) {
                char q[MF__QUOTE_MAX * 4 + 8];
                p->name = xstrdup(mf__quote(q, sizeof q, d->name));
            }
            plugin_accept(p, d);
        }
    }
    if (p->state != PL_LOADED) {
        free(p->name);
        p->name = NULL;
        plugin_unload(p);
    }
}

static void plugin_free(rplugin *p)
{
    plugin_unload(p);
    free(p->path);
    free(p->real);
    free(p->name);
    free(p->error_msg);
    free(p->defs);
    free(p->view);
    free(p);
}

/* ------------------------------------------------------------------------ */
/* Directories                                                              */
/* ------------------------------------------------------------------------ */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_known_file(const mf_registry *reg, const char *real)
{
    for (size_t i = 0; i < reg->ndirs; i++)
        for (size_t j = 0; j < reg->dirs[i].nplugins; j++)
            if (strcmp(reg->dirs[i].plugins[j]->real, real) == 0)
                return 1;
    return 0;
}

static int dir_add_plugin(mf_registry *reg, rdir *d, const char *name)
{
    char path[PATH_MAX], real[PATH_MAX];
    struct stat st;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", d->path, name) >= sizeof path)
        return 0;
    /* Only regular files (or links to them); a directory named x.so is
     * not a plugin. */
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || !realpath(path, real))
        return 0;
    if (is_known_file(reg, real))
        return 0;
    rplugin **np = realloc(d->plugins, (d->nplugins + 1) * sizeof *np);
    if (!np)
        return MF_ENOMEM;
    d->plugins = np;
    rplugin *p = calloc(1, sizeof *p);
    if (!p || !(p->path = xstrdup(path)) || !(p->real = xstrdup(real))) {
        if (p)
            free(p->path);
        free(p);
        return MF_ENOMEM;
    }
    d->plugins[d->nplugins++] = p;
    return 0;
}

/* List a directory's *.so files in name order; loads nothing. */
static int dir_scan(mf_registry *reg, rdir *d)
{
    DIR *dp = opendir(d->path);
    if (!dp) {
        d->missing = 1;
        d->scanned = 1;
        return 0;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(dp)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 4 || strcmp(de->d_name + len - 3, ".so") != 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **nn = realloc(names, ncap * sizeof *nn);
            if (!nn) {
                rc = MF_ENOMEM;
                break;
            }
            names = nn;
            cap = ncap;
        }
        if (!(names[n] = xstrdup(de->d_name))) {
            rc = MF_ENOMEM;
            break;
        }
        n++;
    }
    closedir(dp);
    if (rc == 0) {
        if (n > 1)
            qsort(names, n, sizeof *names, cmp_names);
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = dir_add_plugin(reg, d, names[i]);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (rc) {
        for (size_t i = 0; i < d->nplugins; i++)
            plugin_free(d->plugins[i]);
        free(d->plugins);
        d->plugins = NULL;
        d->nplugins = 0;
        return mf__fail(rc, "out of memory while scanning %s", d->path);
    }
    d->scanned = 1;
    return 0;
}

static int dir_known(const mf_registry *reg, const char *path)
{
    for (size_t i = 0; i < reg->ndirs; i++)
        if (strcmp(reg->dirs[i].path, path) == 0)
            return 1;
    return 0;
}

static int rebuild_path_string(mf_registry *reg)
{
    size_t len = 1;
    for (size_t i = 0; i < reg->ndirs; i++)
        len += strlen(reg->dirs[i].path) + 1;
    char *s = malloc(len);
    if (!s)
        return MF_ENOMEM;
    s[0] = '\0';
    char *o = s;
    for (size_t i = 0; i < reg->ndirs; i++) {
        if (i)
            *o++ = ':';
        size_t n = strlen(reg->dirs[i].path);
        memcpy(o, reg->dirs[i].path, n + 1);
        o += n;
    }
    free(reg->path_str);
    reg->path_str = s;
    return 0;
}

/* Insert a directory at position @p at; a duplicate is silently ignored
 * (its plugins would only shadow themselves). */
static int dir_insert(mf_registry *reg, size_t at, const char *path, int kind)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    char *p = malloc(n + 1);
    if (!p)
        return MF_ENOMEM;
    memcpy(p, path, n);
    p[n] = '\0';
    if (dir_known(reg, p)) {
        free(p);
        return 0;
    }
    if (reg->ndirs == reg->dcap) {
        size_t ncap = reg->dcap ? reg->dcap * 2 : 8;
        rdir *nd = realloc(reg->dirs, ncap * sizeof *nd);
        if (!nd) {
            free(p);
            return MF_ENOMEM;
        }
        reg->dirs = nd;
        reg->dcap = ncap;
    }
    memmove(&reg->dirs[at + 1], &reg->dirs[at], (reg->ndirs - at) * sizeof *reg->dirs);
    reg->dirs[at] = (rdir){p, kind, 0, 0, NULL, 0};
    reg->ndirs++;
    if (kind == DIR_ENV || kind == DIR_API)
        reg->nfront++;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Creation                                                                 */
/* ------------------------------------------------------------------------ */

/* In-process registration without the public entry checks' locking. */
static int add_inproc(mf_registry *reg, const mf_class *cls)
{
    char msg[768];
    if (!cls)
        return mf__fail(MF_EINVAL, "class is NULL");
    int rc = check_class(cls, MF_EINVAL, msg, sizeof msg);
    if (rc)
        return mf__fail(rc, "in-process class: %s", msg);
    if (plugin_class(&reg->inproc, cls->name))
        return mf__fail(MF_EDUPLICATE, "class '%s' is already registered "
                        "in-process", cls->name);
    rc = mf__methods_prepare(cls);
    if (rc)
        return rc;
    rc = plugin_add_class(&reg->inproc, cls);
    if (rc) {
        mf__methods_forget(cls);
        return mf__fail(rc, "out of memory");
    }
    /* An in-process class outranks every plugin: drop cached winners. */
    map_clear(reg);
    return 0;
}

static int add_env_dirs(mf_registry *reg)
{
    const char *env = secure_getenv("MAPFILE_PLUGIN_PATH");
    if (!env)
        return 0;
    char *copy = xstrdup(env);
    if (!copy)
        return MF_ENOMEM;
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ":", &save); tok && rc == 0;
         tok = strtok_r(NULL, ":", &save))
        rc = dir_insert(reg, reg->nfront, tok, DIR_ENV);
    free(copy);
    return rc;
}

/* The installed plugins (beside libmapfile.so), or for a test binary of
 * the build tree linked statically, the build's (plugindir.c). */
static int add_default_dir(mf_registry *reg)
{
    char *dir = NULL;
    int from_build = 0;
    int rc = mf__default_plugin_dir(&dir, &from_build);
    if (rc == 0 && dir)
        rc = dir_insert(reg, reg->ndirs, dir, from_build ? DIR_BUILD : DIR_INSTALL);
    free(dir);
    return rc;
}

int mf_registry_create(mf_registry **out)
{
    if (!out)
        return MF_EINVAL;
    *out = NULL;
    mf_registry *reg = calloc(1, sizeof *reg);
    if (!reg)
        return mf__fail(MF_ENOMEM, "out of memory");
    if (pthread_mutex_init(&reg->lock, NULL) != 0) {
        free(reg);
        return mf__fail(MF_ENOMEM, "cannot create the registry lock");
    }
    reg->inproc.path = (char *)IN_PROCESS;
    reg->inproc.state = PL_LOADED;
    reg->inproc.abi_major = MF_ABI_MAJOR;
    reg->inproc.abi_minor = MF_ABI_MINOR;
    int rc = add_env_dirs(reg);
    if (rc == 0)
        rc = add_default_dir(reg);
    if (rc == 0)
        rc = rebuild_path_string(reg);
    if (rc == 0)
        rc = add_inproc(reg, &mf__text_class);
    if (rc == 0)
        rc = add_inproc(reg, &mf__blob_class);
    if (rc) {
        mf_registry_free(reg);
        return rc == MF_ENOMEM ? mf__fail(rc, "out of memory creating a registry")
                               : rc;
    }
    *out = reg;
    return 0;
}

void mf_registry_free(mf_registry *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->inproc.nclasses; i++)
        mf__methods_forget(reg->inproc.defs[i]);
    free(reg->inproc.defs);
    free(reg->inproc.view);
    /* Unload in reverse order of search, like a stack of dlopens. */
    for (size_t i = reg->ndirs; i-- > 0;) {
        rdir *d = &reg->dirs[i];
        for (size_t j = d->nplugins; j-- > 0;)
            plugin_free(d->plugins[j]);
        free(d->plugins);
        free(d->path);
    }
    free(reg->dirs);
    free(reg->map);
    free(reg->path_str);
    free(reg->dir_list);
    free(reg->dir_view);
    free(reg->list);
    pthread_mutex_destroy(&reg->lock);
    free(reg);
}

static mf_registry *default_reg;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_init(void)
{
    if (mf_registry_create(&default_reg) != 0)
        default_reg = NULL;
}

mf_registry *mf_registry_default(void)
{
    pthread_once(&default_once, default_init);
    return default_reg;
}

int mf_registry_add_path(mf_registry *reg, const char *dir)
{
    mf__clear_detail();
    if (!reg || !dir || !*dir)
        return mf__fail(MF_EINVAL, "plugin directory is NULL or empty");
    pthread_mutex_lock(&reg->lock);
    int rc = dir_insert(reg, reg->nfront, dir, DIR_API);
    if (rc == 0)
        rc = rebuild_path_string(reg);
    /* A new directory may come before ones already searched. */
    map_clear(reg);
    pthread_mutex_unlock(&reg->lock);
    return rc ? mf__fail(rc, "out of memory") : 0;
}

int mf_registry_add_class(mf_registry *reg, const mf_class *cls)
{
    mf__clear_detail();
    if (!reg)
        return mf__fail(MF_EINVAL, "registry is NULL");
    pthread_mutex_lock(&reg->lock);
    int rc = add_inproc(reg, cls);
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

/* The checks plugin_load makes of a dlopen'ed descriptor, for one linked
 * into the program; @p n gets the number of classes. */
static int check_linked_plugin(const mf_plugin *d, size_t *n)
{
    char msg[768];
    const char *who = d->struct_size >= PLUGIN_MIN_SIZE && d->name ? d->name : "?";
    if (d->struct_size < PLUGIN_ABI_SIZE)
        return mf__fail(MF_EINVAL, "linked plugin: descriptor struct_size %u is "
                        "too small to hold an ABI version", d->struct_size);
    if (d->abi_major != MF_ABI_MAJOR || d->abi_minor > MF_ABI_MINOR)
        return mf__fail(MF_EABI, "linked plugin: ABI %u.%u, host ABI %d.%d: "
                        "rebuild it against this mapfile SDK", d->abi_major,
                        d->abi_minor, MF_ABI_MAJOR, MF_ABI_MINOR);
    if (d->struct_size < PLUGIN_MIN_SIZE || !d->classes)
        return mf__fail(MF_EINVAL, "linked plugin: descriptor struct_size %u "
                        "(at least %zu) or NULL class list", d->struct_size,
                        (size_t)PLUGIN_MIN_SIZE);
    size_t k = 0;
    while (k < MAX_PLUGIN_CLASSES && d->classes[k])
        k++;
    if (k == MAX_PLUGIN_CLASSES)
        return mf__fail(MF_EINVAL, "linked plugin '%s': more than %d classes "
                        "(is the list NULL-terminated?)", who, MAX_PLUGIN_CLASSES);
    for (size_t i = 0; i < k; i++) {
        int rc = check_class(d->classes[i], MF_EINVAL, msg, sizeof msg);
        if (rc)
            return mf__fail(rc, "linked plugin '%s': %s", who, msg);
    }
    *n = k;
    return 0;
}

/* Undo the last @p n in-process registrations (a failed add_plugin). */
static void drop_inproc(mf_registry *reg, size_t n)
{
    while (n-- > 0 && reg->inproc.nclasses > 0)
        mf__methods_forget(reg->inproc.defs[--reg->inproc.nclasses]);
    map_clear(reg);
}

int mf_registry_add_plugin(mf_registry *reg, const mf_plugin *plugin)
{
    mf__clear_detail();
    if (!reg || !plugin)
        return mf__fail(MF_EINVAL, "registry or plugin is NULL");
    size_t n = 0;
    int rc = check_linked_plugin(plugin, &n);
    if (rc)
        return rc;
    pthread_mutex_lock(&reg->lock);
    size_t added = 0;
    for (; added < n && rc == 0; added++)
        rc = add_inproc(reg, plugin->classes[added]);
    if (rc) {
        /* add_inproc registered nothing for the class that failed */
        char why[1024];
        snprintf(why, sizeof why, "%s", mf__detail());
        drop_inproc(reg, added - 1);
        mf__fail(rc, "linked plugin '%s': %s (none of its classes is "
                 "registered)", plugin->name ? plugin->name : "?", why);
    }
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Finding                                                                  */
/* ------------------------------------------------------------------------ */

/* Walk the search order, scanning and loading as needed, until @p name is
 * found; everything before the match has then been tried. */
static int walk_find(mf_registry *reg, const char *name, const mf_class **out)
{
    const mf_class *c = plugin_class(&reg->inproc, name);
    if (c) {
        map_put(reg, c, &reg->inproc);
        *out = c;
        return 0;
    }
    for (size_t i = 0; i < reg->ndirs; i++) {
        rdir *d = &reg->dirs[i];
        if (!d->scanned) {
            int rc = dir_scan(reg, d);
            if (rc)
                return rc;
        }
        for (size_t j = 0; j < d->nplugins; j++) {
            rplugin *p = d->plugins[j];
            if (p->state == PL_UNTRIED)
                plugin_load(p);
            if (p->state == PL_LOADED && (c = plugin_class(p, name))) {
                map_put(reg, c, p);
                *out = c;
                return 0;
            }
        }
    }
    return MF_ENOCODEC;
}

static const char *kind_label(int kind)
{
    switch (kind) {
    case DIR_ENV:
        return "MAPFILE_PLUGIN_PATH";
    case DIR_API:
        return "mf_registry_add_path";
    case DIR_INSTALL:
        return "install dir";
    default:
        return "build dir";
    }
}

int mf_registry_dirs(mf_registry *reg, const mf_registry_dir **dirs,
                     size_t *count)
{
    mf__clear_detail();
    if (!reg || !dirs || !count)
        return mf__fail(MF_EINVAL, "registry or output is NULL");
    pthread_mutex_lock(&reg->lock);
    int rc = 0;
    /* +1: realloc of 0 bytes may return NULL */
    mf_registry_dir *v = realloc(reg->dir_view, (reg->ndirs + 1) * sizeof *v);
    if (!v) {
        rc = mf__fail(MF_ENOMEM, "out of memory");
    } else {
        reg->dir_view = v;
        for (size_t i = 0; i < reg->ndirs; i++)
            v[i] = (mf_registry_dir){reg->dirs[i].path, kind_label(reg->dirs[i].kind)};
        *dirs = v;
        *count = reg->ndirs;
    }
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

static int fail_no_codec(const mf_registry *reg, const char *name)
{
    char msg[1024];
    sbuf b = {msg, sizeof msg, 0};
    sb_add(&b, "no codec for class '%s': searched %s", name, IN_PROCESS);
    for (size_t i = 0; i < reg->ndirs; i++) {
        const rdir *d = &reg->dirs[i];
        sb_add(&b, ", %s%s", d->path, d->missing ? " [missing]" : "");
        if (i + 1 == reg->ndirs || reg->dirs[i + 1].kind != d->kind)
            sb_add(&b, " (%s)", kind_label(d->kind));
    }
    sb_add(&b, "; put a plugin providing it in one of these directories or "
           "add its directory to MAPFILE_PLUGIN_PATH");
    size_t nfail = 0;
    for (size_t i = 0; i < reg->ndirs; i++)
        for (size_t j = 0; j < reg->dirs[i].nplugins; j++)
            nfail += reg->dirs[i].plugins[j]->state == PL_FAILED;
    if (nfail)
        sb_add(&b, "; %zu plugin%s failed to load ('mapf plugins' says why):",
               nfail, nfail == 1 ? "" : "s");
    for (size_t i = 0; i < reg->ndirs; i++)
        for (size_t j = 0; j < reg->dirs[i].nplugins; j++) {
            const rplugin *p = reg->dirs[i].plugins[j];
            if (p->state == PL_FAILED)
                sb_add(&b, " %s (%s)", strrchr(p->path, '/') + 1,
                       mf_err_name(p->error));
        }
    return mf__fail(MF_ENOCODEC, "%s", msg);
}

int mf_registry_find(mf_registry *reg, const char *class_name,
                     const mf_class **out)
{
    mf__clear_detail();
    if (!reg || !out)
        return mf__fail(MF_EINVAL, "registry or output is NULL");
    *out = NULL;
    int rc = mf__check_class_name(class_name);
    if (rc)
        return rc;
    pthread_mutex_lock(&reg->lock);
    const slot *s = map_get(reg, class_name);
    if (s) {
        *out = s->cls;
    } else {
        rc = walk_find(reg, class_name, out);
        if (rc == MF_ENOCODEC)
            fail_no_codec(reg, class_name);
        else if (rc == 0)
            mf__clear_detail(); /* plugin failures on the way are not ours */
    }
    pthread_mutex_unlock(&reg->lock);
    return rc;
}

const char *mf__registry_path_string(mf_registry *reg)
{
    return reg && reg->path_str ? reg->path_str : "";
}

const char *mf__registry_class_origin(mf_registry *reg, const mf_class *cls)
{
    const char *where = "(not from this registry)";
    if (!reg || !cls)
        return where;
    pthread_mutex_lock(&reg->lock);
    for (size_t k = 0; k < reg->inproc.nclasses; k++)
        if (reg->inproc.defs[k] == cls)
            where = IN_PROCESS;
    for (size_t i = 0; i < reg->ndirs; i++)
        for (size_t j = 0; j < reg->dirs[i].nplugins; j++) {
            const rplugin *p = reg->dirs[i].plugins[j];
            for (size_t k = 0; k < p->nclasses; k++)
                if (p->defs[k] == cls)
                    where = p->path;
        }
    pthread_mutex_unlock(&reg->lock);
    return where;
}

/* ------------------------------------------------------------------------ */
/* Listing                                                                  */
/* ------------------------------------------------------------------------ */

static void mark_shadows(mf_registry *reg, rplugin *p)
{
    for (size_t k = 0; k < p->nclasses; k++) {
        const slot *s = map_get(reg, p->defs[k]->name);
        mf_registry_class *v = &p->view[k];
        /* A failed map growth leaves no slot: treat as a winner. */
        int lost = s && s->cls != p->defs[k];
        v->shadowed = lost;
        v->shadowed_by = lost ? s->from->path : NULL;
        v->cls = lost ? NULL : p->defs[k];
    }
}

static void fill_entry(mf_registry_plugin *e, const rplugin *p)
{
    *e = (mf_registry_plugin){p->path, p->name, p->state == PL_LOADED,
                              p->state == PL_FAILED ? p->error : 0,
                              p->state == PL_FAILED ? p->error_msg : NULL,
                              p->abi_major, p->abi_minor, p->nclasses, p->view};
}

int mf_registry_list(mf_registry *reg, const mf_registry_plugin **plugins,
                     size_t *count, const char *const **dirs)
{
    mf__clear_detail();
    if (!reg || !plugins || !count)
        return mf__fail(MF_EINVAL, "registry or output is NULL");
    pthread_mutex_lock(&reg->lock);
    int rc = 0;
    size_t total = 1;
    for (size_t i = 0; i < reg->ndirs && rc == 0; i++) {
        rdir *d = &reg->dirs[i];
        if (!d->scanned)
            rc = dir_scan(reg, d);
        for (size_t j = 0; j < d->nplugins && rc == 0; j++)
            if (d->plugins[j]->state == PL_UNTRIED)
                plugin_load(d->plugins[j]);
        total += d->nplugins;
    }
    mf_registry_plugin *list = NULL;
    const char **dl = NULL;
    if (rc == 0) {
        list = realloc(reg->list, total * sizeof *list);
        if (list)
            reg->list = list;
        dl = realloc(reg->dir_list, (reg->ndirs + 1) * sizeof *dl);
        if (dl)
            reg->dir_list = dl;
        if (!list || !dl)
            rc = mf__fail(MF_ENOMEM, "out of memory");
    }
    if (rc == 0) {
        /* Everything is loaded now, so rebuilding the winners in search
         * order makes the map complete and decides every shadow. */
        map_clear(reg);
        for (size_t k = 0; k < reg->inproc.nclasses; k++)
            map_put(reg, reg->inproc.defs[k], &reg->inproc);
        for (size_t i = 0; i < reg->ndirs; i++)
            for (size_t j = 0; j < reg->dirs[i].nplugins; j++) {
                rplugin *p = reg->dirs[i].plugins[j];
                for (size_t k = 0; k < p->nclasses; k++)
                    map_put(reg, p->defs[k], p);
            }
        size_t n = 0;
        mark_shadows(reg, &reg->inproc);
        fill_entry(&list[n++], &reg->inproc);
        for (size_t i = 0; i < reg->ndirs; i++) {
            dl[i] = reg->dirs[i].path;
            for (size_t j = 0; j < reg->dirs[i].nplugins; j++) {
                mark_shadows(reg, reg->dirs[i].plugins[j]);
                fill_entry(&list[n++], reg->dirs[i].plugins[j]);
            }
        }
        dl[reg->ndirs] = NULL;
        *plugins = list;
        *count = n;
        if (dirs)
            *dirs = dl;
    }
    pthread_mutex_unlock(&reg->lock);
    return rc;
}
