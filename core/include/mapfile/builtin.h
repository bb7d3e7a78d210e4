/**
 * @file mapfile/builtin.h
 * @brief The object types of the built-in classes "text" and "blob".
 *
 * Every registry knows these two classes in-process, so they need no
 * plugin. Producers pass objects of these types to mf_add() / mf_put();
 * consumers get them back from mf_get() and free them with
 * mf_object_free().
 */
#ifndef MAPFILE_BUILTIN_H
#define MAPFILE_BUILTIN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Class name of text objects. */
#define MF_TEXT_CLASS "text"
/** Class name of blob objects. */
#define MF_BLOB_CLASS "blob"

/**
 * A "text" object (version 1) is a NUL-terminated string: pass a
 * `const char *` to mf_put(); mf_get() returns a new `char *` (free it with
 * mf_object_free(), not free()). Text never contains a NUL byte; a payload
 * that does is refused as corrupt.
 *
 * Methods: `length` `u(o)`, the length in bytes.
 */
typedef const char mf_text;

/**
 * A "blob" object (version 1): @p size bytes at @p data. Its payload is
 * exactly those bytes, so mf_put_raw(mf, name, "blob", 1, data, size)
 * stores the same record as mf_put() of an mf_blob.
 *
 * A producer fills one of its own (data may be NULL when size is 0) and
 * keeps ownership. A blob returned by mf_get() is a single allocation with
 * its bytes following the struct; free it with mf_object_free() only.
 *
 * Methods: `size` `u(o)`, the size in bytes.
 */
typedef struct mf_blob {
    uint64_t size;
    unsigned char *data;
} mf_blob;

#ifdef __cplusplus
}
#endif

#endif /* MAPFILE_BUILTIN_H */
