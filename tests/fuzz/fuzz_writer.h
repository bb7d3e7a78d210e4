/*
 * fuzz_writer.h - the growable mf_writer every fuzz harness and the seed
 * writer encode into (malloc'd buffer, doubling; the caller frees w.buf).
 * Only the SDK is needed, so harnesses of generated codecs can use it too.
 */
#ifndef MAPFILE_FUZZ_WRITER_H
#define MAPFILE_FUZZ_WRITER_H

#include <mapfile/codec.h>

#include <stdlib.h>

/* The writer's reserve hook: room for @p need more bytes, or -1. */
static inline int fz_reserve(mf_writer *w, size_t need)
{
    size_t cap = w->cap ? w->cap : 256;
    while (cap - w->len < need) {
        if (cap > ((size_t)1 << 40))
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

#endif
