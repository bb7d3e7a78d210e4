/* json.c - bounded JSON scanning and parsing (see json.h). */
#include "json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int hex4(const char *p, const char *end, unsigned *out)
{
    if (end - p < 4)
        return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return 0;
}

/* End of the string literal opening at p (p points at '"'), or NULL. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c < 0x20)
            return NULL;
        if (c == '\\') {
            if (++p >= end)
                return NULL;
            if (*p == 'u') {
                unsigned v;
                if (hex4(p + 1, end, &v))
                    return NULL;
                p += 4;
            } else if (!strchr("\"\\/bfnrt", *p)) {
                return NULL;
            }
        }
    }
    return NULL;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static const char *skip_number(const char *p, const char *end)
{
    if (p < end && *p == '-')
        p++;
    if (p >= end || !is_digit(*p))
        return NULL;
    if (*p == '0')
        p++;
    else
        while (p < end && is_digit(*p))
            p++;
    if (p < end && *p == '.') {
        if (++p >= end || !is_digit(*p))
            return NULL;
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || !is_digit(*p))
            return NULL;
        while (p < end && is_digit(*p))
            p++;
    }
    return p;
}

static const char *skip_word(const char *p, const char *end, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(end - p) < n || memcmp(p, w, n) != 0)
        return NULL;
    return p + n;
}

static const char *skip_value_depth(const char *p, const char *end, int depth);

/* Members or elements of a container opening at p, up to its closer. */
static const char *skip_container(const char *p, const char *end, int depth)
{
    char close = *p == '{' ? '}' : ']';
    int object = *p == '{';
    p = skip_ws(p + 1, end);
    if (p < end && *p == close)
        return p + 1;
    for (;;) {
        if (object) {
            p = skip_ws(p, end);
            if (p >= end || *p != '"' || !(p = skip_string(p, end)))
                return NULL;
            p = skip_ws(p, end);
            if (p >= end || *p != ':')
                return NULL;
            p++;
        }
        if (!(p = skip_value_depth(p, end, depth + 1)))
            return NULL;
        p = skip_ws(p, end);
        if (p >= end)
            return NULL;
        if (*p == close)
            return p + 1;
        if (*p != ',')
            return NULL;
        p++;
    }
}

static const char *skip_value_depth(const char *p, const char *end, int depth)
{
    if (depth > MFW_JSON_MAX_DEPTH)
        return NULL;
    p = skip_ws(p, end);
    if (p >= end)
        return NULL;
    switch (*p) {
    case '{':
    case '[': return skip_container(p, end, depth);
    case '"': return skip_string(p, end);
    case 't': return skip_word(p, end, "true");
    case 'f': return skip_word(p, end, "false");
    case 'n': return skip_word(p, end, "null");
    default: return skip_number(p, end);
    }
}

const char *mfw_json_skip_value(const char *p, const char *end)
{
    return skip_value_depth(p, end, 0);
}

/* Append code point cp as UTF-8 to out[*n] within cap - 1. */
static void put_utf8(char *out, size_t cap, size_t *n, unsigned cp)
{
    unsigned char b[4];
    size_t k;
    if (cp == 0)
        b[0] = '?', k = 1;
    else if (cp < 0x80)
        b[0] = (unsigned char)cp, k = 1;
    else if (cp < 0x800)
        b[0] = (unsigned char)(0xc0 | cp >> 6), b[1] = (unsigned char)(0x80 | (cp & 0x3f)), k = 2;
    else if (cp < 0x10000)
        b[0] = (unsigned char)(0xe0 | cp >> 12), b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f)),
        b[2] = (unsigned char)(0x80 | (cp & 0x3f)), k = 3;
    else
        b[0] = (unsigned char)(0xf0 | cp >> 18), b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f)),
        b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f)), b[3] = (unsigned char)(0x80 | (cp & 0x3f)), k = 4;
    if (*n + k < cap) {
        memcpy(out + *n, b, k);
        *n += k;
    }
}

static unsigned escape_char(char c)
{
    switch (c) {
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    default: return (unsigned char)c; /* " \ / */
    }
}

/* A \u escape at p (pointing at 'u'), with a surrogate pair if present;
 * returns the code point and advances *pp past it. */
static unsigned unicode_escape(const char **pp, const char *end)
{
    unsigned cp, lo;
    const char *p = *pp;
    hex4(p + 1, end, &cp); /* checked by skip_string */
    p += 5;
    if (cp >= 0xd800 && cp <= 0xdbff && end - p >= 6 && p[0] == '\\' &&
        p[1] == 'u' && hex4(p + 2, end, &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        p += 6;
    } else if (cp >= 0xd800 && cp <= 0xdfff) {
        cp = 0xfffd; /* lone surrogate */
    }
    *pp = p;
    return cp;
}

int mfw_json_decode_string(const char *v, size_t n, char *out, size_t cap)
{
    const char *end = v + n;
    if (!cap)
        return -1;
    out[0] = '\0';
    if (n < 2 || *v != '"' || skip_string(v, end) != end)
        return -1;
    size_t o = 0;
    for (const char *p = v + 1; p < end - 1;) {
        if (*p != '\\') {
            if (o + 1 < cap)
                out[o++] = *p;
            p++;
        } else if (p[1] == 'u') {
            p++;
            put_utf8(out, cap, &o, unicode_escape(&p, end));
        } else {
            if (o + 1 < cap)
                out[o++] = (char)escape_char(p[1]);
            p += 2;
        }
    }
    out[o] = '\0';
    return 0;
}

int mfw_json_top_field(const char *js, size_t len, const char *key,
                       size_t *vstart, size_t *vend)
{
    const char *end = js + len, *p = skip_ws(js, end);
    size_t klen = strlen(key);
    if (p >= end || *p != '{')
        return -1;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}')
        return 0;
    for (;;) {
        const char *k = p, *ke;
        if (p >= end || *p != '"' || !(ke = skip_string(p, end)))
            return -1;
        p = skip_ws(ke, end);
        if (p >= end || *p != ':')
            return -1;
        const char *vs = skip_ws(p + 1, end), *ve = mfw_json_skip_value(vs, end);
        if (!ve)
            return -1;
        /* Keys we look for have no escapes: compare the raw text. */
        if ((size_t)(ke - k) == klen + 2 && memcmp(k + 1, key, klen) == 0) {
            *vstart = (size_t)(vs - js);
            *vend = (size_t)(ve - js);
            return 1;
        }
        p = skip_ws(ve, end);
        if (p < end && *p == '}')
            return 0;
        if (p >= end || *p != ',')
            return -1;
        p = skip_ws(p + 1, end);
    }
}

/* ---- tree ---------------------------------------------------------------- */

void mfw_json_free(mfw_json *j)
{
    if (!j)
        return;
    if (j->type == MFW_JSON_ARRAY || j->type == MFW_JSON_OBJECT)
        for (size_t i = 0; i < j->len; i++)
            mfw_json_free(j->kids[i]);
    free(j->kids);
    free(j->str);
    free(j->key);
    free(j);
}

static char *dup_string(const char *s, const char *e)
{
    size_t cap = (size_t)(e - s) + 1; /* decoding never grows the text */
    char *out = malloc(cap);
    if (out && mfw_json_decode_string(s, (size_t)(e - s), out, cap) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

static mfw_json *parse_value(const char **pp, const char *end, int depth);

static int add_kid(mfw_json *j, mfw_json *kid, size_t *cap)
{
    if (j->len == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        mfw_json **k = realloc(j->kids, nc * sizeof *k);
        if (!k)
            return -1;
        j->kids = k;
        *cap = nc;
    }
    j->kids[j->len++] = kid;
    return 0;
}

static mfw_json *parse_container(const char **pp, const char *end, int depth,
                                 mfw_json *j)
{
    const char *p = *pp;
    char close = j->type == MFW_JSON_OBJECT ? '}' : ']';
    size_t cap = 0;
    p = skip_ws(p + 1, end);
    if (p < end && *p == close) {
        *pp = p + 1;
        return j;
    }
    for (;;) {
        char *key = NULL;
        if (j->type == MFW_JSON_OBJECT) {
            p = skip_ws(p, end);
            const char *ke = p < end && *p == '"' ? skip_string(p, end) : NULL;
            if (!ke || !(key = dup_string(p, ke)))
                goto fail;
            p = skip_ws(ke, end);
            if (p >= end || *p++ != ':') {
                free(key);
                goto fail;
            }
        }
        mfw_json *kid = parse_value(&p, end, depth + 1);
        if (!kid || add_kid(j, kid, &cap)) {
            free(key);
            mfw_json_free(kid);
            goto fail;
        }
        kid->key = key;
        p = skip_ws(p, end);
        if (p < end && *p == close) {
            *pp = p + 1;
            return j;
        }
        if (p >= end || *p++ != ',')
            goto fail;
    }
fail:
    mfw_json_free(j);
    return NULL;
}

static mfw_json *parse_value(const char **pp, const char *end, int depth)
{
    const char *p = skip_ws(*pp, end), *e;
    if (depth > MFW_JSON_MAX_DEPTH || p >= end)
        return NULL;
    mfw_json *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    if (*p == '{' || *p == '[') {
        j->type = *p == '{' ? MFW_JSON_OBJECT : MFW_JSON_ARRAY;
        *pp = p;
        return parse_container(pp, end, depth, j);
    }
    if (*p == '"') {
        j->type = MFW_JSON_STRING;
        if (!(e = skip_string(p, end)) || !(j->str = dup_string(p, e)))
            goto fail;
        j->len = strlen(j->str);
    } else if ((e = skip_word(p, end, "null"))) {
        j->type = MFW_JSON_NULL;
    } else if ((e = skip_word(p, end, "true"))) {
        j->type = MFW_JSON_TRUE;
    } else if ((e = skip_word(p, end, "false"))) {
        j->type = MFW_JSON_FALSE;
    } else if ((e = skip_number(p, end))) {
        char buf[64];
        size_t n = (size_t)(e - p);
        if (n >= sizeof buf)
            goto fail;
        memcpy(buf, p, n);
        buf[n] = '\0';
        j->type = MFW_JSON_NUMBER;
        j->num = strtod(buf, NULL);
    } else {
        goto fail;
    }
    *pp = e;
    return j;
fail:
    free(j);
    return NULL;
}

mfw_json *mfw_json_parse(const char *s, size_t n)
{
    const char *p = s, *end = s + n;
    mfw_json *j = parse_value(&p, end, 0);
    if (j && skip_ws(p, end) != end) {
        mfw_json_free(j);
        return NULL;
    }
    return j;
}

const mfw_json *mfw_json_get(const mfw_json *obj, const char *key)
{
    if (!obj || obj->type != MFW_JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < obj->len; i++)
        if (strcmp(obj->kids[i]->key, key) == 0)
            return obj->kids[i];
    return NULL;
}

const mfw_json *mfw_json_at(const mfw_json *arr, size_t i)
{
    if (!arr || (arr->type != MFW_JSON_ARRAY && arr->type != MFW_JSON_OBJECT) ||
        i >= arr->len)
        return NULL;
    return arr->kids[i];
}
