/*
 * builtin.c - the "text" and "blob" classes every registry has in-process.
 *
 * Object types are public in mapfile/builtin.h. Both payloads are one
 * length-prefixed byte string, so a reader needs nothing but the bounded
 * primitives of the SDK; anything after the string is refused, since
 * version 1 defines nothing there.
 */
#include "internal.h"

#include <mapfile/builtin.h>

#include <stdlib.h>
#include <string.h>

/* Bytes of a blob shown by print. */
#define BLOB_PRINT_BYTES 32

/* A JSON string literal whose bytes are always valid UTF-8 JSON: text from
 * a map file is untrusted, and a tool piping to_json output into a JSON
 * parser must not choke on it. Invalid sequences become U+FFFD. */
static void json_utf8(mf_writer *w, const unsigned char *s, size_t n)
{
    mf_w_u8(w, '"');
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            mf_w_u8(w, '\\');
            mf_w_u8(w, c);
            i++;
            continue;
        }
        if (c < 0x20 || c == 0x7f) {
            mf_w_printf(w, "\\u%04x", c);
            i++;
            continue;
        }
        if (c < 0x80) {
            mf_w_u8(w, c);
            i++;
            continue;
        }
        /* Length and allowed range of the second byte, per RFC 3629. */
        size_t len = 0;
        unsigned char lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            if (c == 0xe0)
                lo = 0xa0;
            if (c == 0xed)
                hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            if (c == 0xf0)
                lo = 0x90;
            if (c == 0xf4)
                hi = 0x8f;
        }
        int ok = len > 0 && n - i >= len && s[i + 1] >= lo && s[i + 1] <= hi;
        for (size_t k = 2; ok && k < len; k++)
            ok = s[i + k] >= 0x80 && s[i + k] <= 0xbf;
        if (ok) {
            mf_w_bytes(w, s + i, len);
            i += len;
        } else {
            mf_w_printf(w, "\\ufffd");
            i++;
        }
    }
    mf_w_u8(w, '"');
}

/* ------------------------------------------------------------------------ */
/* text                                                                     */
/* ------------------------------------------------------------------------ */

static int text_out(const void *obj, mf_writer *w)
{
    if (!obj)
        return -1;
    mf_w_str(w, obj);
    return w->err ? -1 : 0;
}

static void *text_in(mf_reader *r, uint32_t version)
{
    MF__UNUSED(version);
    size_t n = mf_r_count(r, 1);
    const unsigned char *b = mf_r_take(r, n);
    if (!b)
        return NULL;
    if (memchr(b, 0, n) || mf_r_left(r) != 0) {
        mf_r_fail(r, MF_WIRE_MALFORMED);
        return NULL;
    }
    char *s = malloc(n + 1);
    if (!s) {
        mf_r_fail(r, MF_WIRE_NOMEM);
        return NULL;
    }
    memcpy(s, b, n);
    s[n] = '\0';
    return s;
}

static void text_destroy(void *obj) { free(obj); }

static void text_print(const void *obj, FILE *out)
{
    fprintf(out, "%s\n", obj ? (const char *)obj : "");
}

static int text_json(const void *obj, mf_writer *w)
{
    const char *s = obj ? obj : "";
    mf_w_printf(w, "{\"class\":\"text\",\"version\":1,\"text\":");
    json_utf8(w, (const unsigned char *)s, strlen(s));
    mf_w_u8(w, '}');
    return w->err ? -1 : 0;
}

static uint64_t text_length(void *obj) { return strlen(obj); }

static const mf_method text_methods[] = {
    MF_METHOD("length", "u(o)", text_length),
    {0, NULL, NULL, NULL},
};

const mf_class mf__text_class = {
    .struct_size = sizeof(mf_class),
    .name = MF_TEXT_CLASS,
    .version = 1,
    .min_version = 1,
    .stream_out = text_out,
    .stream_in = text_in,
    .destroy = text_destroy,
    .print = text_print,
    .to_json = text_json,
    .methods = text_methods,
};

/* ------------------------------------------------------------------------ */
/* blob                                                                     */
/* ------------------------------------------------------------------------ */

/* A blob's payload is its bytes and nothing else, so mf_put_raw() of any
 * bytes as class "blob" is a valid blob and `mapf dump` shows them as
 * they are. */
static int blob_out(const void *obj, mf_writer *w)
{
    const mf_blob *b = obj;
    if (!b || (b->size && !b->data) || b->size > SIZE_MAX)
        return -1;
    mf_w_bytes(w, b->data, (size_t)b->size);
    return w->err ? -1 : 0;
}

static void *blob_in(mf_reader *r, uint32_t version)
{
    MF__UNUSED(version);
    size_t n = mf_r_left(r);
    const unsigned char *p = mf_r_take(r, n);
    if (r->err)
        return NULL;
    /* One allocation, so destroy is a plain free. n is bounded by the
     * payload, so the sum cannot overflow. */
    mf_blob *b = malloc(sizeof *b + n);
    if (!b) {
        mf_r_fail(r, MF_WIRE_NOMEM);
        return NULL;
    }
    b->size = n;
    b->data = (unsigned char *)(b + 1);
    if (n)
        memcpy(b->data, p, n);
    return b;
}

static void blob_destroy(void *obj) { free(obj); }

static void blob_print(const void *obj, FILE *out)
{
    const mf_blob *b = obj;
    uint64_t size = b ? b->size : 0;
    fprintf(out, "blob, %llu byte%s", (unsigned long long)size,
            size == 1 ? "" : "s");
    size_t show = size < BLOB_PRINT_BYTES ? (size_t)size : BLOB_PRINT_BYTES;
    for (size_t i = 0; i < show; i++)
        fprintf(out, "%s%02x", i ? " " : ": ", b->data[i]);
    fprintf(out, "%s\n", size > show ? " ..." : "");
}

static void base64(mf_writer *w, const unsigned char *p, size_t n)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        char q[4] = {tab[v >> 18 & 63], tab[v >> 12 & 63],
                     i + 1 < n ? tab[v >> 6 & 63] : '=',
                     i + 2 < n ? tab[v & 63] : '='};
        mf_w_bytes(w, q, 4);
    }
}

static int blob_json(const void *obj, mf_writer *w)
{
    const mf_blob *b = obj;
    if (!b || (b->size && !b->data) || b->size > SIZE_MAX)
        return -1;
    mf_w_printf(w, "{\"class\":\"blob\",\"version\":1,\"size\":%llu,"
                "\"base64\":\"", (unsigned long long)b->size);
    base64(w, b->data, (size_t)b->size);
    mf_w_printf(w, "\"}");
    return w->err ? -1 : 0;
}

static uint64_t blob_size(void *obj) { return ((const mf_blob *)obj)->size; }

static const mf_method blob_methods[] = {
    MF_METHOD("size", "u(o)", blob_size),
    {0, NULL, NULL, NULL},
};

const mf_class mf__blob_class = {
    .struct_size = sizeof(mf_class),
    .name = MF_BLOB_CLASS,
    .version = 1,
    .min_version = 1,
    .stream_out = blob_out,
    .stream_in = blob_in,
    .destroy = blob_destroy,
    .print = blob_print,
    .to_json = blob_json,
    .methods = blob_methods,
};
