/* json.c - JSON output for `mapf`: see json.h. */
#include "json.h"

#include "objjson.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The growable writer is objjson.c's (shared with `mapf serve`). */
void buf_init(mf_writer *w) { mft_buf_init(w, 0); }

void buf_free(mf_writer *w) { mft_buf_free(w); }

int buf_flush_stdout(mf_writer *w)
{
    if (w->err)
        return -1;
    if (w->len && fwrite(w->buf, 1, w->len, stdout) != w->len)
        return -1;
    return 0;
}

/* Length of a valid UTF-8 sequence at @p s (1-4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    unsigned cp = c & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0; /* also stops at the NUL */
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

void json_str(mf_writer *w, const char *str)
{
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    mf_w_u8(w, '"');
    while (*s) {
        unsigned c = *s;
        if (c == '"' || c == '\\') {
            mf_w_u8(w, '\\');
            mf_w_u8(w, (uint8_t)c);
            s++;
        } else if (c < 0x20 || c == 0x7f) {
            mf_w_printf(w, "\\u%04x", c);
            s++;
        } else {
            size_t n = utf8_seq(s);
            if (n) {
                mf_w_bytes(w, s, n);
                s += n;
            } else {
                mf_w_printf(w, "\\ufffd");
                s++;
            }
        }
    }
    mf_w_u8(w, '"');
}

void json_key(mf_writer *w, int *first, const char *key)
{
    if (!*first)
        mf_w_u8(w, ',');
    *first = 0;
    json_str(w, key);
    mf_w_u8(w, ':');
}

void json_kv_str(mf_writer *w, int *first, const char *key, const char *v)
{
    json_key(w, first, key);
    if (v)
        json_str(w, v);
    else
        mf_w_printf(w, "null");
}

void json_kv_u64(mf_writer *w, int *first, const char *key, uint64_t v)
{
    json_key(w, first, key);
    mf_w_printf(w, "%" PRIu64, v);
}

void json_kv_num(mf_writer *w, int *first, const char *key, double v)
{
    json_key(w, first, key);
    mf_w_json_num(w, v);
}

void json_kv_bool(mf_writer *w, int *first, const char *key, int v)
{
    json_key(w, first, key);
    mf_w_printf(w, "%s", v ? "true" : "false");
}
