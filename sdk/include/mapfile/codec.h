/**
 * @file mapfile/codec.h
 * @brief Everything a codec author needs: the wire primitives, the class
 *        descriptor and the plugin ABI.
 *
 * A codec turns one kind of local object into bytes (`stream_out`) and bytes
 * back into a *new* local object (`stream_in`). The core stores the bytes in
 * the map file and never interprets them; a codec never sees the file.
 *
 * This header is self-contained and header-only: a plugin includes it, links
 * against nothing from mapfile, and exports one symbol, #MF_PLUGIN_ENTRY
 * (MF_DEFINE_PLUGIN() writes it). The same source also links statically into
 * a program (MF_CODEC_STATIC, mf_registry_add_plugin()).
 *
 * ## Wire format rules
 * - Integers and doubles are little-endian and fixed width
 *   (mf_w_u32(), mf_w_f64(), ...), or LEB128 varints (mf_w_varint()).
 * - Strings are a varint length followed by the bytes, without a NUL.
 * - Bulk arrays of doubles are a raw little-endian block; the caller writes
 *   the count first.
 *
 * ## Errors are sticky
 * Every mf_r_*() call on a reader that has run out of bytes, or that met a
 * malformed value, sets `r->err` and returns zero values from then on. A
 * codec can therefore read a whole object and check `mf_reader_failed()`
 * once at the end. Writers behave the same way when they cannot grow.
 *
 * ## ABI rules (see README.md of the codec template: share/mapfile/template
 * installed, sdk/template in the sources; `mapf new-codec NAME` copies it)
 * Structs that cross the host/plugin boundary start with `struct_size` and
 * only ever grow at the end. A plugin built against ABI 1.x loads in any host
 * that knows ABI 1.y with y >= x.
 */
#ifndef MAPFILE_CODEC_H
#define MAPFILE_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Plugin ABI major version: a host refuses plugins of any other major. */
#define MF_ABI_MAJOR 1
/** Plugin ABI minor version: a host refuses plugins with a newer minor.
 *  1.1 added the optional #mf_class hooks `arrays` and `to_root_json`. */
#define MF_ABI_MINOR 1

/** Longest class name in bytes, without the NUL. Allowed characters are
 *  letters, digits and `_ . : -`. */
#define MF_CLASS_NAME_MAX 127

/** Sticky error codes of a reader or writer (0 means no error). */
enum mf_wire_error {
    MF_WIRE_OK = 0,
    MF_WIRE_TRUNCATED = 1,  /**< read past the end of the payload */
    MF_WIRE_MALFORMED = 2,  /**< a value is out of range (bad varint, ...) */
    MF_WIRE_NOMEM = 3,      /**< the writer could not grow */
    MF_WIRE_TOO_LARGE = 4,  /**< a length field exceeds what the payload can hold */
    MF_WIRE_CODEC = 5       /**< the codec itself flagged bad content */
};

/* ------------------------------------------------------------------------ */
/* Writer                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct mf_writer mf_writer;

/**
 * A growable output buffer owned by the host. Codecs only call mf_w_*().
 * `reserve` is supplied by the host; it makes room for at least `need` more
 * bytes and returns 0, or returns non-zero when it cannot.
 */
struct mf_writer {
    unsigned char *buf; /**< start of the buffer (host-owned) */
    size_t len;         /**< bytes written so far */
    size_t cap;         /**< bytes available at buf */
    int err;            /**< sticky #mf_wire_error */
    int (*reserve)(mf_writer *w, size_t need); /**< host growth hook */
    void *host;         /**< host data for reserve */
};

/** Make room for @p n more bytes; returns a pointer to them or NULL (sticky). */
static inline unsigned char *mf_w_room(mf_writer *w, size_t n)
{
    if (w->err)
        return NULL;
    if (n > SIZE_MAX - w->len) {
        w->err = MF_WIRE_TOO_LARGE;
        return NULL;
    }
    if (w->cap - w->len < n) {
        if (!w->reserve || w->reserve(w, n) != 0 || w->cap - w->len < n) {
            w->err = MF_WIRE_NOMEM;
            return NULL;
        }
    }
    return w->buf + w->len;
}

/** Append @p n raw bytes. */
static inline void mf_w_bytes(mf_writer *w, const void *p, size_t n)
{
    if (n == 0)
        return; /* no room needed, and no pointer arithmetic on a NULL buffer */
    unsigned char *d = mf_w_room(w, n);
    if (!d)
        return;
    if (n)
        memcpy(d, p, n);
    w->len += n;
}

static inline void mf_w_u8(mf_writer *w, uint8_t v) { mf_w_bytes(w, &v, 1); }

static inline void mf_w_u32(mf_writer *w, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8),
                          (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
    mf_w_bytes(w, b, 4);
}

static inline void mf_w_u64(mf_writer *w, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    mf_w_bytes(w, b, 8);
}

static inline void mf_w_i64(mf_writer *w, int64_t v) { mf_w_u64(w, (uint64_t)v); }

static inline void mf_w_f64(mf_writer *w, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    mf_w_u64(w, u);
}

/** Unsigned LEB128 varint, 1 to 10 bytes. */
static inline void mf_w_varint(mf_writer *w, uint64_t v)
{
    unsigned char b[10];
    size_t n = 0;
    do {
        unsigned char c = (unsigned char)(v & 0x7f);
        v >>= 7;
        b[n++] = (unsigned char)(c | (v ? 0x80 : 0));
    } while (v);
    mf_w_bytes(w, b, n);
}

/** A string: varint length, then the bytes (no NUL). NULL writes "". */
static inline void mf_w_str(mf_writer *w, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    mf_w_varint(w, n);
    mf_w_bytes(w, s, n);
}

/** @p n doubles as a raw little-endian block (write the count yourself). */
static inline void mf_w_f64_array(mf_writer *w, const double *v, size_t n)
{
    if (n > SIZE_MAX / 8) {
        if (!w->err)
            w->err = MF_WIRE_TOO_LARGE;
        return;
    }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    mf_w_bytes(w, v, n * 8);
#else
    for (size_t i = 0; i < n; i++)
        mf_w_f64(w, v[i]);
#endif
}

/** printf into the writer (used by to_json); no NUL is appended. */
static inline void mf_w_printf(mf_writer *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void mf_w_printf(mf_writer *w, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        if (!w->err)
            w->err = MF_WIRE_MALFORMED;
        return;
    }
    if ((size_t)n < sizeof small) {
        mf_w_bytes(w, small, (size_t)n);
        return;
    }
    unsigned char *d = mf_w_room(w, (size_t)n + 1);
    if (!d)
        return;
    va_start(ap, fmt);
    vsnprintf((char *)d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    w->len += (size_t)n;
}

/** Length of the valid UTF-8 sequence at @p s (1 to 4 bytes), or 0 if the
 *  bytes there are not valid UTF-8 (overlong, surrogate, past U+10FFFF,
 *  cut short: a NUL is never a continuation byte). */
static inline size_t mf_utf8_len(const unsigned char *s)
{
    unsigned c = s[0], cp, min;
    size_t n;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, min = 0x10000;
    else
        return 0;
    cp = c & (0x7fu >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/** A JSON string literal, quotes included: quotes, backslashes and control
 *  bytes escaped, and every byte that is not valid UTF-8 written as
 *  U+FFFD, so the output is valid JSON whatever @p s holds. NULL is "". */
static inline void mf_w_json_str(mf_writer *w, const char *str)
{
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    mf_w_u8(w, '"');
    while (*s && !w->err) {
        size_t n;
        if (*s == '"' || *s == '\\') {
            mf_w_u8(w, '\\');
            mf_w_u8(w, *s++);
        } else if (*s < 0x20 || *s == 0x7f) {
            mf_w_printf(w, "\\u%04x", *s++);
        } else if ((n = mf_utf8_len(s)) != 0) {
            mf_w_bytes(w, s, n);
            s += n;
        } else {
            mf_w_printf(w, "\\ufffd");
            s++;
        }
    }
    mf_w_u8(w, '"');
}

/** A JSON number: finite doubles with full precision, others as null. */
static inline void mf_w_json_num(mf_writer *w, double v)
{
    if (v != v || v > 1.7976931348623157e308 || v < -1.7976931348623157e308)
        mf_w_printf(w, "null");
    else
        mf_w_printf(w, "%.17g", v);
}

/* ------------------------------------------------------------------------ */
/* Reader                                                                   */
/* ------------------------------------------------------------------------ */

/** A bounded view over one payload. Never reads outside [p, p + len). */
typedef struct mf_reader {
    const unsigned char *p; /**< payload start (read-only, may be the map) */
    size_t len;             /**< payload length */
    size_t pos;             /**< next byte to read */
    int err;                /**< sticky #mf_wire_error */
} mf_reader;

static inline mf_reader mf_reader_make(const void *p, size_t len)
{
    mf_reader r = {(const unsigned char *)p, len, 0, 0};
    return r;
}

/** Non-zero once any read failed. */
static inline int mf_reader_failed(const mf_reader *r) { return r->err != 0; }

/** Bytes left to read (0 after an error). */
static inline size_t mf_r_left(const mf_reader *r)
{
    return r->err ? 0 : r->len - r->pos;
}

/** Flag content the codec finds invalid (e.g. bins < 1); sticky. */
static inline void mf_r_fail(mf_reader *r, int err)
{
    if (!r->err)
        r->err = err ? err : MF_WIRE_CODEC;
}

/** Take @p n bytes; returns a pointer into the payload or NULL (sticky). */
static inline const unsigned char *mf_r_take(mf_reader *r, size_t n)
{
    if (r->err)
        return NULL;
    if (n > r->len - r->pos) {
        r->err = MF_WIRE_TRUNCATED;
        return NULL;
    }
    const unsigned char *p = r->p + r->pos;
    r->pos += n;
    return p;
}

static inline uint8_t mf_r_u8(mf_reader *r)
{
    const unsigned char *b = mf_r_take(r, 1);
    return b ? b[0] : 0;
}

static inline uint32_t mf_r_u32(mf_reader *r)
{
    const unsigned char *b = mf_r_take(r, 4);
    if (!b)
        return 0;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
           (uint32_t)b[3] << 24;
}

static inline uint64_t mf_r_u64(mf_reader *r)
{
    const unsigned char *b = mf_r_take(r, 8);
    uint64_t v = 0;
    if (!b)
        return 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

static inline int64_t mf_r_i64(mf_reader *r) { return (int64_t)mf_r_u64(r); }

static inline double mf_r_f64(mf_reader *r)
{
    uint64_t u = mf_r_u64(r);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static inline uint64_t mf_r_varint(mf_reader *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        const unsigned char *b = mf_r_take(r, 1);
        if (!b)
            return 0;
        if (shift == 63 && (*b & 0x7e)) {
            break; /* more than 64 bits */
        }
        v |= (uint64_t)(*b & 0x7f) << shift;
        if (!(*b & 0x80))
            return v;
    }
    if (!r->err)
        r->err = MF_WIRE_MALFORMED;
    return 0;
}

/**
 * A length or count that must fit in what is left of the payload, given
 * that each element takes at least @p elem_size bytes. This is what caps a
 * codec's allocations by the payload size: a hostile count of 2^60 fails
 * here with #MF_WIRE_TOO_LARGE instead of reaching malloc.
 */
static inline size_t mf_r_count(mf_reader *r, size_t elem_size)
{
    uint64_t n = mf_r_varint(r);
    if (r->err)
        return 0;
    if (elem_size == 0)
        elem_size = 1;
    if (n > (uint64_t)(r->len - r->pos) / elem_size) {
        r->err = MF_WIRE_TOO_LARGE;
        return 0;
    }
    return (size_t)n;
}

/**
 * A string into a caller buffer of @p cap bytes (NUL-terminated). A string
 * that does not fit is an error, never silently cut.
 */
static inline void mf_r_str_into(mf_reader *r, char *dst, size_t cap)
{
    size_t n = mf_r_count(r, 1);
    const unsigned char *b = mf_r_take(r, n);
    if (!b || n >= cap) {
        if (!r->err)
            r->err = MF_WIRE_TOO_LARGE;
        if (cap)
            dst[0] = '\0';
        return;
    }
    memcpy(dst, b, n);
    dst[n] = '\0';
}

/**
 * A string as a new malloc'd NUL-terminated copy (free() it), or NULL with
 * the reader's error set. Never allocates more than the payload holds.
 */
static inline char *mf_r_str_dup(mf_reader *r)
{
    size_t n = mf_r_count(r, 1);
    const unsigned char *b = mf_r_take(r, n);
    if (!b)
        return NULL;
    char *s = (char *)malloc(n + 1);
    if (!s) {
        r->err = MF_WIRE_NOMEM;
        return NULL;
    }
    memcpy(s, b, n);
    s[n] = '\0';
    return s;
}

/** @p n doubles from a raw little-endian block into @p dst. */
static inline void mf_r_f64_array(mf_reader *r, double *dst, size_t n)
{
    if (n > (SIZE_MAX / 8)) {
        if (!r->err)
            r->err = MF_WIRE_TOO_LARGE;
        return;
    }
    const unsigned char *b = mf_r_take(r, n * 8);
    if (!b)
        return;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n)
        memcpy(dst, b, n * 8);
#else
    mf_reader sub = mf_reader_make(b, n * 8);
    for (size_t i = 0; i < n; i++)
        dst[i] = mf_r_f64(&sub);
#endif
}

/* ------------------------------------------------------------------------ */
/* Classes, methods and the plugin ABI                                      */
/* ------------------------------------------------------------------------ */

/**
 * A method callable by name through mf_call() (libffi).
 *
 * ## Signatures
 * `R(A,B,...)`: one letter for the return type, then the parameter list in
 * parentheses. The first parameter must be `o`, the object itself (passed
 * as `void *`). Letters:
 * - `v` void (return only)
 * - `i` int64_t
 * - `u` uint64_t
 * - `d` double
 * - `s` const char * (NUL-terminated)
 * - `o` the object (first parameter only)
 *
 * Examples: `d(o)` returns a double from the object; `d(o,i)` also takes an
 * int64; `s(o)` returns a string.
 *
 * ## String ownership
 * A returned `s` is owned by the object: it stays valid until the object is
 * destroyed or the next call of a method on it, and the caller must not free
 * it. String arguments are owned by the caller and only borrowed for the call.
 */
typedef struct mf_method {
    uint32_t struct_size;  /**< sizeof(mf_method) at build time */
    const char *name;      /**< method name, e.g. "mean" */
    const char *signature; /**< e.g. "d(o)", see above */
    void (*fn)(void);      /**< the function, cast to void(*)(void) */
} mf_method;

/** Build an #mf_method entry. */
#define MF_METHOD(name_, sig_, fn_) \
    {sizeof(mf_method), (name_), (sig_), (void (*)(void))(fn_)}

/** Element type letters of an #mf_array (Python struct-module codes). */
typedef enum mf_elem_type {
    MF_ELEM_F64 = 'd', /**< double */
    MF_ELEM_F32 = 'f', /**< float */
    MF_ELEM_I64 = 'q', /**< int64_t */
    MF_ELEM_U64 = 'Q', /**< uint64_t */
    MF_ELEM_I32 = 'i', /**< int32_t */
    MF_ELEM_U32 = 'I', /**< uint32_t */
    MF_ELEM_U8 = 'B'   /**< uint8_t */
} mf_elem_type;

/** Most dimensions an #mf_array may have. */
#define MF_ARRAY_MAX_DIMS 4

/**
 * One typed array inside a decoded object, described by the optional
 * `arrays` hook of #mf_class. Row-major (C order): the last dimension varies
 * fastest; elements are contiguous and in host byte order.
 */
typedef struct mf_array {
    const char *name;    /**< e.g. "bins"; static storage */
    char type;           /**< an #mf_elem_type letter */
    uint32_t ndim;       /**< 1 to #MF_ARRAY_MAX_DIMS */
    size_t shape[MF_ARRAY_MAX_DIMS]; /**< elements per dimension */
    void *data;          /**< first element, inside the object */
} mf_array;

/** Bytes of one element of type @p t, or 0 for an unknown letter. */
static inline size_t mf_elem_size(char t)
{
    switch (t) {
    case MF_ELEM_F64: case MF_ELEM_I64: case MF_ELEM_U64: return 8;
    case MF_ELEM_F32: case MF_ELEM_I32: case MF_ELEM_U32: return 4;
    case MF_ELEM_U8: return 1;
    default: return 0;
    }
}

/**
 * A codec for one class.
 *
 * - `version` is the version this codec writes; `min_version` the oldest it
 *   can read. The core refuses records outside [min_version, version]
 *   before calling stream_in.
 * - stream_out() must write the object completely or set the writer's error.
 *   It returns 0, or non-zero on failure.
 * - stream_in() receives the stored class version and returns a new object,
 *   or NULL on failure (the reader's error says why). It must allocate no
 *   more than the payload size justifies: use mf_r_count().
 * - destroy() frees an object returned by stream_in().
 * - print() and to_json() are optional; to_json writes one JSON object.
 * - methods is optional: an array terminated by an entry with name NULL.
 * - arrays and to_root_json (ABI 1.1) are optional; hosts test them with
 *   MF_CLASS_HAS().
 */
typedef struct mf_class {
    uint32_t struct_size; /**< sizeof(mf_class) at build time */
    const char *name;     /**< class name, see #MF_CLASS_NAME_MAX */
    uint32_t version;     /**< version written by stream_out */
    uint32_t min_version; /**< oldest version stream_in reads */
    int (*stream_out)(const void *obj, mf_writer *w);
    void *(*stream_in)(mf_reader *r, uint32_t version);
    void (*destroy)(void *obj);
    void (*print)(const void *obj, FILE *out);
    int (*to_json)(const void *obj, mf_writer *w);
    const mf_method *methods;
    /* ---- ABI 1.1: read these only through MF_CLASS_HAS() ---- */
    /**
     * Optional: describe the typed arrays inside @p obj (bins, sums...) so
     * hosts can expose them without a copy (Python's buffer protocol, the
     * web view). Fill at most @p cap entries of @p out and return how many
     * arrays the object has (which may exceed @p cap: call again with more
     * room), or a negative value on error. The pointers stay valid while
     * the object lives and is not modified.
     */
    int (*arrays)(void *obj, mf_array *out, size_t cap);
    /**
     * Optional: write @p obj as one JSON object in ROOT's TBufferJSON layout
     * (with `_typename`, e.g. "TH1D"), so THttpServer tools and JSROOT can
     * draw it. Returns 0, or non-zero on failure.
     */
    int (*to_root_json)(const void *obj, mf_writer *w);
} mf_class;

/**
 * True when class @p cls (a `const mf_class *`) was built with a descriptor
 * that has member @p field and sets it. Use it for every member added after
 * ABI 1.0: a plugin built against an older SDK has a shorter struct.
 */
#define MF_CLASS_HAS(cls, field)                                          \
    ((cls)->struct_size >= offsetof(mf_class, field) + sizeof((cls)->field) && \
     (cls)->field != NULL)

/**
 * What a plugin's entry symbol returns: the ABI it was built for, its name
 * and a NULL-terminated list of classes. Everything it points to must stay
 * valid while the plugin is loaded (use static storage).
 */
typedef struct mf_plugin {
    uint32_t struct_size;  /**< sizeof(mf_plugin) at build time */
    uint16_t abi_major;    /**< #MF_ABI_MAJOR */
    uint16_t abi_minor;    /**< #MF_ABI_MINOR */
    const char *name;      /**< plugin name, for messages */
    const mf_class *const *classes; /**< NULL-terminated */
} mf_plugin;

/** Name of the one symbol a plugin exports. */
#define MF_PLUGIN_ENTRY mapfile_plugin_entry
/** The same, as a string for dlsym. */
#define MF_PLUGIN_ENTRY_NAME "mapfile_plugin_entry"

/** Export marker for the entry symbol (plugins build with hidden visibility). */
#define MF_PLUGIN_EXPORT __attribute__((visibility("default")))

/** Type of the entry symbol. */
typedef const mf_plugin *(*mf_plugin_entry_fn)(void);

/** The function MF_DEFINE_PLUGIN(name, ...) defines in every build:
 *  `mapfile_plugin_<name>()`, returning the plugin's descriptor. */
#define MF_PLUGIN_FUNCTION(name) MF__PLUGIN_FUNCTION(name)
#define MF__PLUGIN_FUNCTION(name) mapfile_plugin_##name

/**
 * Declare `mapfile_plugin_<name>()` in a program that links a codec
 * statically, before registering it in-process:
 * `MF_DECLARE_PLUGIN(calib);` then
 * `mf_registry_add_plugin(mf_registry_default(), mapfile_plugin_calib());`.
 */
#define MF_DECLARE_PLUGIN(name) const mf_plugin *MF_PLUGIN_FUNCTION(name)(void)

#ifdef MF_CODEC_STATIC
#define MF__PLUGIN_ENTRY_DEFINITION(name) /* linked in: no entry symbol */
#else
#define MF__PLUGIN_ENTRY_DEFINITION(name)                                     \
    MF_PLUGIN_EXPORT const mf_plugin *MF_PLUGIN_ENTRY(void);                  \
    MF_PLUGIN_EXPORT const mf_plugin *MF_PLUGIN_ENTRY(void)                   \
    {                                                                         \
        return MF_PLUGIN_FUNCTION(name)();                                    \
    }
#endif

/**
 * Declare a codec's classes in one line, under a unique C identifier:
 * `MF_DEFINE_PLUGIN(shapes, &circle_class, &rect_class)`.
 *
 * It always defines `mapfile_plugin_<name>()` (hidden: never exported from
 * a shared object), whose descriptor carries "name" for messages. Built as a
 * plugin (the default) it also defines the one exported entry symbol,
 * #MF_PLUGIN_ENTRY, that the host dlsym()s. Compiled with `MF_CODEC_STATIC`
 * defined, it leaves the entry symbol out, so any number of codecs link into
 * one program; the program registers each with mf_registry_add_plugin().
 * Macros given as @p name are expanded first.
 */
#define MF_DEFINE_PLUGIN(name, ...) MF__DEFINE_PLUGIN(name, __VA_ARGS__)
#define MF__DEFINE_PLUGIN(name, ...)                                          \
    __attribute__((visibility("hidden"))) MF_DECLARE_PLUGIN(name);            \
    __attribute__((visibility("hidden"))) MF_DECLARE_PLUGIN(name)             \
    {                                                                         \
        static const mf_class *const classes_[] = {__VA_ARGS__, NULL};        \
        static const mf_plugin plugin_ = {sizeof(mf_plugin), MF_ABI_MAJOR,    \
                                          MF_ABI_MINOR, #name, classes_};     \
        return &plugin_;                                                      \
    }                                                                         \
    MF__PLUGIN_ENTRY_DEFINITION(name)

#ifdef __cplusplus
}
#endif

#endif /* MAPFILE_CODEC_H */
