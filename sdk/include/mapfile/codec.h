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
 * - Scalars are little-endian and fixed width, whatever the host:
 *   u8/i8 (1 byte), u16/i16 (2), u32/i32 (4), u64/i64 (8), f32 (4, IEEE 754
 *   binary32 bits), f64 (8, binary64 bits) and bool (1 byte, 0 or 1; a
 *   reader refuses any other byte). mf_w_u16(), mf_r_u16(), ... Counts and
 *   lengths are LEB128 varints (mf_w_varint(), mf_r_count()).
 * - Strings are a varint length followed by the bytes, without a NUL. A
 *   string never holds a NUL byte: mf_r_str_into() and mf_r_str_dup()
 *   refuse one (#MF_WIRE_MALFORMED) rather than cut the string short.
 * - Blobs (bytes that may hold NULs) are a varint length followed by the
 *   bytes: mf_w_blob(), mf_r_blob_dup().
 * - Bulk arrays of any scalar type (mf_w_u16_array(), mf_r_f32_array(), ...)
 *   are the elements back to back, little-endian, with no count: the caller
 *   writes the count first (mf_w_varint()) and reads it back with
 *   mf_r_count(r, element_size), which caps it by the payload left.
 *
 * ## Errors are sticky
 * Every mf_r_*() call on a reader that has run out of bytes, or that met a
 * malformed value, sets `r->err` and returns zero values from then on
 * (arrays and caller buffers are zero-filled, never left uninitialised). A
 * codec can therefore read a whole object and check `mf_reader_failed()`
 * once at the end. Writers behave the same way when they cannot grow, or
 * when the codec flags the object with mf_w_fail().
 *
 * ## The decoding contract (read this before writing stream_in)
 * stream_in() decodes straight from the shared map. A writer in another
 * process may change the bytes *while stream_in reads them*; the core
 * notices afterwards and throws the object away (calling destroy()), then
 * retries. So stream_in sees bytes that can be any value, and even change
 * between two reads of the same byte. It must:
 * - treat every byte as hostile: use only mf_r_*() (bounded, sticky) and
 *   check every value it uses for a size, an index or a loop bound;
 * - rely on the sticky reader error: read, then check mf_reader_failed()
 *   once; flag content it refuses with mf_r_fail();
 * - never assert, abort, exit, log or print, never loop without a bound
 *   taken from mf_r_count(), and never allocate more than mf_r_count()
 *   justifies;
 * - never keep a pointer into the payload in the object it returns: copy.
 * An object returned while the bytes moved must still be safe to destroy().
 *
 * ## Lifetime of what the reader hands out
 * - mf_r_take() returns a pointer *into the payload*. It is valid only
 *   during the stream_in() call that received the reader, and the bytes
 *   behind it may change under it (see above). Copy what you need before
 *   returning; read each byte once and use the copy you checked.
 * - mf_r_str_dup() and mf_r_blob_dup() return new malloc'd copies that the
 *   caller owns (free()).
 * - mf_r_str_into() and the mf_r_*_array() functions copy into the caller's
 *   memory; everything else returns values.
 *
 * ## ABI rules (see README.md of the codec template: share/mapfile/template
 * installed, sdk/template in the sources; `mapf new-codec NAME` copies it)
 * Structs that cross the host/plugin boundary start with `struct_size` and
 * only ever grow at the end. A plugin built against ABI 1.x loads in any host
 * that knows ABI 1.y with y >= x. The wire primitives are static inline and
 * compiled into the plugin: adding one needs no host support and does not
 * change the ABI version.
 */
#ifndef MAPFILE_CODEC_H
#define MAPFILE_CODEC_H

#include <stdbool.h>
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
 *  1.1 added the optional #mf_class hooks `arrays` and `to_root_json`;
 *  1.2 the optional wire schema (`schema`, `schema_size`). */
#define MF_ABI_MINOR 2

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

/**
 * Flag the object being written as one the codec cannot store; sticky, and
 * the first error wins (a later mf_w_fail() or growth failure keeps it).
 * Values that make sense: #MF_WIRE_CODEC (the object's content is invalid,
 * e.g. bins < 1 or a count that disagrees with its array; 0 means this),
 * #MF_WIRE_TOO_LARGE (a value does not fit its wire field, e.g. a length
 * above UINT32_MAX for a u32 field) and #MF_WIRE_NOMEM (the codec's own
 * scratch allocation failed).
 *
 * Return non-zero from stream_out() afterwards (`return w->err ? -1 : 0;`).
 * The core checks both: when stream_out returns non-zero or leaves
 * `w->err` set, mf_put(), mf_update() and mf_batch_put() fail with
 * #MF_ECODEC, the detail naming the class, the record and the writer error
 * number, and nothing of that call is published (mf_update(mf, NULL)
 * publishes none of its objects).
 */
static inline void mf_w_fail(mf_writer *w, int err)
{
    if (!w->err)
        w->err = err ? err : MF_WIRE_CODEC;
}

static inline void mf_w_u8(mf_writer *w, uint8_t v) { mf_w_bytes(w, &v, 1); }

static inline void mf_w_i8(mf_writer *w, int8_t v) { mf_w_u8(w, (uint8_t)v); }

/** A bool as one byte, 0 or 1. */
static inline void mf_w_bool(mf_writer *w, bool v) { mf_w_u8(w, v ? 1 : 0); }

static inline void mf_w_u16(mf_writer *w, uint16_t v)
{
    unsigned char b[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    mf_w_bytes(w, b, 2);
}

static inline void mf_w_i16(mf_writer *w, int16_t v) { mf_w_u16(w, (uint16_t)v); }

static inline void mf_w_u32(mf_writer *w, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8),
                          (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
    mf_w_bytes(w, b, 4);
}

static inline void mf_w_i32(mf_writer *w, int32_t v) { mf_w_u32(w, (uint32_t)v); }

static inline void mf_w_u64(mf_writer *w, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    mf_w_bytes(w, b, 8);
}

static inline void mf_w_i64(mf_writer *w, int64_t v) { mf_w_u64(w, (uint64_t)v); }

/** A float as its 4 IEEE 754 bytes (NaN payloads and -0.0 kept). */
static inline void mf_w_f32(mf_writer *w, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    mf_w_u32(w, u);
}

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

/**
 * A blob: varint length @p n, then @p n bytes that may hold NULs (read it
 * back with mf_r_blob_dup()). @p p may be NULL only when @p n is 0; a NULL
 * @p p with bytes to write is #MF_WIRE_CODEC.
 */
static inline void mf_w_blob(mf_writer *w, const void *p, size_t n)
{
    if (!p && n) {
        mf_w_fail(w, MF_WIRE_CODEC);
        return;
    }
    mf_w_varint(w, n);
    mf_w_bytes(w, p, n);
}

/*
 * Bulk arrays. On a little-endian host an array is one memcpy; elsewhere
 * (or with MF_SDK_PORTABLE_ARRAYS defined, which the tests use to run that
 * path on any host) each element is composed byte by byte from its value.
 */
#ifdef __cplusplus
static_assert(sizeof(float) == 4 && sizeof(double) == 8, "IEEE 754 float and double");
#else
_Static_assert(sizeof(float) == 4 && sizeof(double) == 8, "IEEE 754 float and double");
#endif

#if !defined(MF_SDK_PORTABLE_ARRAYS) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define MF__LE_HOST 1
#else
#define MF__LE_HOST 0
#endif

/* The value of one @p size-byte (1, 2, 4 or 8) element at @p p. */
static inline uint64_t mf__host_load(const unsigned char *p, size_t size)
{
    uint8_t v8;
    uint16_t v16;
    uint32_t v32;
    uint64_t v64;
    switch (size) {
    case 1: memcpy(&v8, p, 1); return v8;
    case 2: memcpy(&v16, p, 2); return v16;
    case 4: memcpy(&v32, p, 4); return v32;
    default: memcpy(&v64, p, 8); return v64;
    }
}

/* Store @p v as one @p size-byte (1, 2, 4 or 8) element at @p p. */
static inline void mf__host_store(unsigned char *p, uint64_t v, size_t size)
{
    uint8_t v8 = (uint8_t)v;
    uint16_t v16 = (uint16_t)v;
    uint32_t v32 = (uint32_t)v;
    switch (size) {
    case 1: memcpy(p, &v8, 1); break;
    case 2: memcpy(p, &v16, 2); break;
    case 4: memcpy(p, &v32, 4); break;
    default: memcpy(p, &v, 8); break;
    }
}

/* @p n elements of @p size bytes at @p v, little-endian, no count. */
static inline void mf__w_le_array(mf_writer *w, const void *v, size_t n, size_t size)
{
    if (n > SIZE_MAX / size) {
        mf_w_fail(w, MF_WIRE_TOO_LARGE);
        return;
    }
    if (n == 0)
        return;
#if MF__LE_HOST
    mf_w_bytes(w, v, n * size);
#else
    unsigned char *d = mf_w_room(w, n * size);
    if (!d)
        return;
    const unsigned char *s = (const unsigned char *)v;
    for (size_t i = 0; i < n; i++, s += size, d += size) {
        uint64_t x = mf__host_load(s, size);
        for (size_t k = 0; k < size; k++)
            d[k] = (unsigned char)(x >> (8 * k));
    }
    w->len += n * size;
#endif
}

/** @p n uint8_t as raw bytes (write the count yourself). */
static inline void mf_w_u8_array(mf_writer *w, const uint8_t *v, size_t n)
{
    mf__w_le_array(w, v, n, 1);
}
/** @p n int8_t, one byte each (write the count yourself). */
static inline void mf_w_i8_array(mf_writer *w, const int8_t *v, size_t n)
{
    mf__w_le_array(w, v, n, 1);
}
/** @p n uint16_t as a raw little-endian block (write the count yourself). */
static inline void mf_w_u16_array(mf_writer *w, const uint16_t *v, size_t n)
{
    mf__w_le_array(w, v, n, 2);
}
/** @p n int16_t as a raw little-endian block (write the count yourself). */
static inline void mf_w_i16_array(mf_writer *w, const int16_t *v, size_t n)
{
    mf__w_le_array(w, v, n, 2);
}
/** @p n uint32_t as a raw little-endian block (write the count yourself). */
static inline void mf_w_u32_array(mf_writer *w, const uint32_t *v, size_t n)
{
    mf__w_le_array(w, v, n, 4);
}
/** @p n int32_t as a raw little-endian block (write the count yourself). */
static inline void mf_w_i32_array(mf_writer *w, const int32_t *v, size_t n)
{
    mf__w_le_array(w, v, n, 4);
}
/** @p n uint64_t as a raw little-endian block (write the count yourself). */
static inline void mf_w_u64_array(mf_writer *w, const uint64_t *v, size_t n)
{
    mf__w_le_array(w, v, n, 8);
}
/** @p n int64_t as a raw little-endian block (write the count yourself). */
static inline void mf_w_i64_array(mf_writer *w, const int64_t *v, size_t n)
{
    mf__w_le_array(w, v, n, 8);
}
/** @p n floats as a raw little-endian block (write the count yourself). */
static inline void mf_w_f32_array(mf_writer *w, const float *v, size_t n)
{
    mf__w_le_array(w, v, n, 4);
}
/** @p n doubles as a raw little-endian block (write the count yourself). */
static inline void mf_w_f64_array(mf_writer *w, const double *v, size_t n)
{
    mf__w_le_array(w, v, n, 8);
}
/** @p n bools, one byte each, 0 or 1 (write the count yourself). */
static inline void mf_w_bool_array(mf_writer *w, const bool *v, size_t n)
{
    if (n == 0)
        return;
    unsigned char *d = mf_w_room(w, n);
    if (!d)
        return;
    for (size_t i = 0; i < n; i++)
        d[i] = v[i] ? 1 : 0;
    w->len += n;
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

/**
 * Take @p n bytes; returns a pointer into the payload or NULL (sticky).
 * The pointer is valid only during the stream_in() call that received @p r,
 * and the bytes behind it may change while you read them (see "The decoding
 * contract" above): copy what you keep, read each byte once, check the copy.
 */
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

static inline int8_t mf_r_i8(mf_reader *r) { return (int8_t)mf_r_u8(r); }

/** A bool: one byte, 0 or 1. Any other byte is #MF_WIRE_MALFORMED (sticky)
 *  and gives false. */
static inline bool mf_r_bool(mf_reader *r)
{
    uint8_t c = mf_r_u8(r);
    if (c > 1) {
        mf_r_fail(r, MF_WIRE_MALFORMED);
        return false;
    }
    return c == 1;
}

static inline uint16_t mf_r_u16(mf_reader *r)
{
    const unsigned char *b = mf_r_take(r, 2);
    if (!b)
        return 0;
    return (uint16_t)(b[0] | b[1] << 8);
}

static inline int16_t mf_r_i16(mf_reader *r) { return (int16_t)mf_r_u16(r); }

static inline uint32_t mf_r_u32(mf_reader *r)
{
    const unsigned char *b = mf_r_take(r, 4);
    if (!b)
        return 0;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
           (uint32_t)b[3] << 24;
}

static inline int32_t mf_r_i32(mf_reader *r) { return (int32_t)mf_r_u32(r); }

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

/** A float from its 4 IEEE 754 bytes (NaN payloads and -0.0 kept). */
static inline float mf_r_f32(mf_reader *r)
{
    uint32_t u = mf_r_u32(r);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

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
 * that does not fit is #MF_WIRE_TOO_LARGE, and one that holds a NUL byte is
 * #MF_WIRE_MALFORMED (use a blob for such data): never silently cut. On any
 * error @p dst holds "" (when @p cap > 0).
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
    /* Check the copy: the payload may change after we read it. */
    if (memchr(dst, '\0', n)) {
        r->err = MF_WIRE_MALFORMED;
        dst[0] = '\0';
    }
}

/**
 * A string as a new malloc'd NUL-terminated copy (free() it), or NULL with
 * the reader's error set: #MF_WIRE_TRUNCATED, #MF_WIRE_TOO_LARGE,
 * #MF_WIRE_MALFORMED (a bad length, or a NUL byte inside the string: use a
 * blob for such data) or #MF_WIRE_NOMEM. Never allocates more than the
 * payload holds.
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
    if (memchr(s, '\0', n)) {
        free(s);
        r->err = MF_WIRE_MALFORMED;
        return NULL;
    }
    return s;
}

/**
 * A blob written by mf_w_blob(): a new malloc'd copy of its bytes (free()
 * it; NULs allowed), its length in @p *n. A zero-length blob gives a
 * non-NULL 1-byte allocation and *n = 0. Never allocates more than the
 * payload holds. On failure returns NULL, sets *n = 0 and the reader's error:
 * #MF_WIRE_TRUNCATED, #MF_WIRE_MALFORMED (bad length varint),
 * #MF_WIRE_TOO_LARGE (the length exceeds the payload left) or
 * #MF_WIRE_NOMEM.
 */
static inline void *mf_r_blob_dup(mf_reader *r, size_t *n)
{
    size_t len = mf_r_count(r, 1);
    const unsigned char *b = mf_r_take(r, len);
    *n = 0;
    if (!b)
        return NULL;
    void *p = malloc(len ? len : 1);
    if (!p) {
        r->err = MF_WIRE_NOMEM;
        return NULL;
    }
    if (len)
        memcpy(p, b, len);
    *n = len;
    return p;
}

/* @p n elements of @p size bytes from a little-endian block into @p dst;
 * on any error @p dst is zero-filled. */
static inline void mf__r_le_array(mf_reader *r, void *dst, size_t n, size_t size)
{
    if (n > SIZE_MAX / size) {
        /* No buffer holds that many elements: nothing to zero-fill. */
        mf_r_fail(r, MF_WIRE_TOO_LARGE);
        return;
    }
    if (n == 0)
        return;
    const unsigned char *b = mf_r_take(r, n * size);
    if (!b) {
        memset(dst, 0, n * size);
        return;
    }
#if MF__LE_HOST
    memcpy(dst, b, n * size);
#else
    unsigned char *d = (unsigned char *)dst;
    for (size_t i = 0; i < n; i++, b += size, d += size) {
        uint64_t x = 0;
        for (size_t k = size; k-- > 0;)
            x = x << 8 | b[k];
        mf__host_store(d, x, size);
    }
#endif
}

/** @p n uint8_t into @p dst (read the count first with mf_r_count()). On
 *  error @p dst is zero-filled; this holds for every mf_r_*_array(). */
static inline void mf_r_u8_array(mf_reader *r, uint8_t *dst, size_t n)
{
    mf__r_le_array(r, dst, n, 1);
}
/** @p n int8_t into @p dst. */
static inline void mf_r_i8_array(mf_reader *r, int8_t *dst, size_t n)
{
    mf__r_le_array(r, dst, n, 1);
}
/** @p n uint16_t from a little-endian block into @p dst. */
static inline void mf_r_u16_array(mf_reader *r, uint16_t *dst, size_t n)
{
    mf__r_le_array(r, dst, n, 2);
}
/** @p n int16_t from a little-endian block into @p dst. */
static inline void mf_r_i16_array(mf_reader *r, int16_t *dst, size_t n)
{
    mf__r_le_array(r, dst, n, 2);
}
/** @p n uint32_t from a little-endian block into @p dst. */
static inline void mf_r_u32_array(mf_reader *r, uint32_t *dst, size_t n)
{
    mf__r_le_array(r, dst, n, 4);
}
/** @p n int32_t from a little-endian block into @p dst. */
static inline void mf_r_i32_array(mf_reader *r, int32_t *dst, size_t n)
{
    mf__r_le_array(r, dst, n, 4);
}
/** @p n uint64_t from a little-endian block into @p dst. */
static inline void mf_r_u64_array(mf_reader *r, uint64_t *dst, size_t n)
{
    mf__r_le_array(r, dst, n, 8);
}
/** @p n int64_t from a little-endian block into @p dst. */
static inline void mf_r_i64_array(mf_reader *r, int64_t *dst, size_t n)
{
    mf__r_le_array(r, dst, n, 8);
}
/** @p n floats from a little-endian block into @p dst. */
static inline void mf_r_f32_array(mf_reader *r, float *dst, size_t n)
{
    mf__r_le_array(r, dst, n, 4);
}
/** @p n doubles from a little-endian block into @p dst. */
static inline void mf_r_f64_array(mf_reader *r, double *dst, size_t n)
{
    mf__r_le_array(r, dst, n, 8);
}
/** @p n bools (one byte each) into @p dst. A byte other than 0 or 1 is
 *  #MF_WIRE_MALFORMED, and @p dst is then all false. */
static inline void mf_r_bool_array(mf_reader *r, bool *dst, size_t n)
{
    if (n == 0)
        return;
    const unsigned char *b = mf_r_take(r, n);
    for (size_t i = 0; b && i < n; i++) {
        unsigned char c = b[i]; /* read once: the payload may change */
        if (c > 1) {
            mf_r_fail(r, MF_WIRE_MALFORMED);
            b = NULL;
            break;
        }
        dst[i] = c == 1;
    }
    if (!b)
        for (size_t i = 0; i < n; i++)
            dst[i] = false;
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
 * - stream_out() must write the object completely or set the writer's error
 *   (mf_w_fail() for an object it refuses). It returns 0, or non-zero on
 *   failure; the core fails the put with #MF_ECODEC when it returns
 *   non-zero or leaves `w->err` set. It runs while the producer holds the
 *   file's writer lock (mf_update() encodes each object as it stages it),
 *   so it must not write to that map file itself.
 * - stream_in() receives the stored class version and returns a new object,
 *   or NULL on failure (the reader's error says why). It must allocate no
 *   more than the payload size justifies: use mf_r_count().
 *   **It may be handed bytes that a writer changes while it decodes them**
 *   (the core decodes from the shared map, detects the change afterwards,
 *   destroys the object and retries). So it treats every byte as hostile
 *   and relies on the sticky reader error; it never asserts, aborts, logs,
 *   loops without a bound from mf_r_count(), or keeps a pointer into the
 *   payload (mf_r_take() pointers die when it returns: copy). Whatever it
 *   returns must be safe to pass to destroy(). See "The decoding contract"
 *   at the top of this file.
 * - destroy() frees an object returned by stream_in().
 * - print() and to_json() are optional; to_json writes one JSON object.
 * - methods is optional: an array terminated by an entry with name NULL.
 * - arrays and to_root_json (ABI 1.1) and schema (ABI 1.2) are optional;
 *   hosts test them with MF_CLASS_HAS().
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
    /* ---- ABI 1.2: read these only through MF_CLASS_HAS(cls, schema) (and
     * the size when struct_size covers schema_size) ---- */
    /**
     * Optional: the wire schema of the version this codec writes, in the
     * format of mapfile/schema.h (`mapf gen` writes it). A producer stores
     * it once in the file, so readers without this plugin can decode the
     * class's objects to JSON (emulated reading). Static storage.
     */
    const unsigned char *schema;
    size_t schema_size; /**< bytes at schema */
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
