/* objjson.h - the bytes `mapf get --json FILE NAME` prints for an object.
 *
 * One source for the CLI's `get --json` and the web server's
 * /NAME/get.json, so the two cannot drift apart: the class's to_json
 * output followed by one newline. */
#ifndef MF_OBJJSON_H
#define MF_OBJJSON_H

#include <stddef.h>

#include <mapfile/mapfile.h>

/** Results of mft_object_json(). */
enum {
    MFT_JSON_OK = 0,
    MFT_JSON_NO_METHOD = -1, /* the class has no to_json */
    MFT_JSON_FAILED = -2     /* to_json failed, or the writer could not grow */
};

/* A writer that grows with realloc up to @p max bytes (0: no limit).
 * Free its buffer with mft_buf_free(); mft_buf_take() hands it over. */
void mft_buf_init(mf_writer *w, size_t max);
void mft_buf_free(mf_writer *w);
/* The buffer (malloc'd; the caller frees it); the writer is emptied. */
unsigned char *mft_buf_take(mf_writer *w, size_t *len);

/* Append the JSON of @p obj, of class @p cls, and a newline to @p w.
 * Returns MFT_JSON_OK, MFT_JSON_NO_METHOD or MFT_JSON_FAILED. */
int mft_object_json(const mf_class *cls, const void *obj, mf_writer *w);

#endif
