/* json.h - a small, bounded JSON reader for JSON that codecs wrote.
 *
 * Codec output is plugin output, so it is treated as hostile: every read
 * is bounded by the length given, nesting is limited to MFW_JSON_MAX_DEPTH
 * and malformed text is an error, never a crash.
 *
 * Two ways in:
 * - the scanner (mfw_json_top_field) finds one top-level member of an
 *   object without building anything, for the server, which must not
 *   allocate per bin of a 4-million-cell histogram;
 * - the tree (mfw_json_parse) builds nodes, for tests and small answers.
 */
#ifndef MFW_JSON_H
#define MFW_JSON_H

#include <stddef.h>

#define MFW_JSON_MAX_DEPTH 64

typedef enum mfw_json_type {
    MFW_JSON_NULL,
    MFW_JSON_FALSE,
    MFW_JSON_TRUE,
    MFW_JSON_NUMBER,
    MFW_JSON_STRING,
    MFW_JSON_ARRAY,
    MFW_JSON_OBJECT
} mfw_json_type;

typedef struct mfw_json mfw_json;
struct mfw_json {
    mfw_json_type type;
    double num;       /* NUMBER */
    char *str;        /* STRING (decoded, NUL-terminated); member key */
    size_t len;       /* string length in bytes, or number of children */
    mfw_json **kids;  /* ARRAY elements, OBJECT members (each has a key) */
    char *key;        /* key of an OBJECT member, else NULL */
};

/* End of the JSON value that starts at @p p (after optional whitespace),
 * or NULL if it is malformed, too deep or runs past @p end. */
const char *mfw_json_skip_value(const char *p, const char *end);

/* Find member @p key of the top-level object in [js, js+len): on success
 * [*vstart, *vend) is its raw value text and 1 is returned; 0 if the
 * member is absent, -1 if the text is not a well-formed object. */
int mfw_json_top_field(const char *js, size_t len, const char *key,
                       size_t *vstart, size_t *vend);

/* Decode the JSON string literal [v, v+n) into @p out (cap bytes, always
 * NUL-terminated, cut if too long). Returns 0, or -1 if it is not a
 * string literal. \u escapes become UTF-8; a NUL (\u0000) becomes '?'. */
int mfw_json_decode_string(const char *v, size_t n, char *out, size_t cap);

/* Parse a whole document (nothing but whitespace may follow). NULL if it
 * is malformed or memory ran out. Free with mfw_json_free(). */
mfw_json *mfw_json_parse(const char *s, size_t n);
void mfw_json_free(mfw_json *j);
/* Member @p key of an object, or NULL. */
const mfw_json *mfw_json_get(const mfw_json *obj, const char *key);
/* Element @p i of an array, or NULL. */
const mfw_json *mfw_json_at(const mfw_json *arr, size_t i);

#endif
