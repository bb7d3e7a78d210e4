/* objjson.c - the JSON of one object, as `mapf get --json` prints it. */
#include "objjson.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int buf_reserve(mf_writer *w, size_t need)
{
    size_t max = (size_t)(uintptr_t)w->host;
    size_t want = w->len + need; /* mf_w_room() checked the overflow */
    if (max && want > max)
        return -1;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < want)
        cap = cap > SIZE_MAX / 2 ? want : cap * 2;
    if (max && cap > max)
        cap = max;
    unsigned char *p = realloc(w->buf, cap);
    if (!p)
        return -1;
    w->buf = p;
    w->cap = cap;
    return 0;
}

void mft_buf_init(mf_writer *w, size_t max)
{
    memset(w, 0, sizeof *w);
    w->reserve = buf_reserve;
    w->host = (void *)(uintptr_t)max;
}

void mft_buf_free(mf_writer *w)
{
    free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
}

unsigned char *mft_buf_take(mf_writer *w, size_t *len)
{
    unsigned char *b = w->buf;
    *len = w->len;
    w->buf = NULL;
    w->len = w->cap = 0;
    return b;
}

int mft_object_json(const mf_class *cls, const void *obj, mf_writer *w)
{
    if (!cls->to_json)
        return MFT_JSON_NO_METHOD;
    int rc = cls->to_json(obj, w);
    mf_w_u8(w, '\n');
    return rc != 0 || w->err ? MFT_JSON_FAILED : MFT_JSON_OK;
}
