/*
 * json.h - JSON output for `mapf ... --json`: a growable mf_writer (the
 * sdk's writer with a realloc reserve) and key/value helpers. Strings from
 * a hostile file always come out as valid JSON (invalid UTF-8 becomes
 * U+FFFD, control bytes are escaped).
 */
#ifndef MAPF_JSON_H
#define MAPF_JSON_H

#include <mapfile/codec.h>

#include <stdint.h>

/* A writer that grows with realloc; free with buf_free(). */
void buf_init(mf_writer *w);
void buf_free(mf_writer *w);
/* Write the buffer to stdout; 0, or -1 (writer error or short write). */
int buf_flush_stdout(mf_writer *w);

/* A JSON string; NULL is written as "". */
void json_str(mf_writer *w, const char *s);
/* ',' unless *first, then "key":. */
void json_key(mf_writer *w, int *first, const char *key);
/* "key":value pairs; a NULL string is written as null. */
void json_kv_str(mf_writer *w, int *first, const char *key, const char *v);
void json_kv_u64(mf_writer *w, int *first, const char *key, uint64_t v);
void json_kv_num(mf_writer *w, int *first, const char *key, double v);
void json_kv_bool(mf_writer *w, int *first, const char *key, int v);

#endif
