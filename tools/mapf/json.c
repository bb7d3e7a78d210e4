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

void json_str(mf_writer *w, const char *str)
{
    mf_w_json_str(w, str);
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
