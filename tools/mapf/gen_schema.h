/*
 * gen_schema.h - the schema history of a generated class (issue 18, part
 * 3): what `mapf gen` keeps in DIR/ID.schema beside the codec, one block
 * per class version, so the codec it writes reads every older version by
 * field name, as ROOT's StreamerInfo does.
 *
 * gen_schema.c turns a gen_model into a version (its wire layout only:
 * MF_SKIP and MF_OPS fields and C type spellings are not part of it), reads
 * and writes the history file. gen_evolve.c checks that every older version
 * converts to the newest and writes the older versions' readers.
 */
#ifndef MAPF_GEN_SCHEMA_H
#define MAPF_GEN_SCHEMA_H

#include "gen_model.h"

/* How one field is stored, as the schema file spells it. */
typedef enum gen_skind {
    GS_SCALAR,         /* TYPE is a wire type */
    GS_COUNT,          /* sizes MF_COUNT arrays: not stored on its own */
    GS_STRUCT,         /* TYPE is a record id */
    GS_STRING,
    GS_COUNTED,        /* TYPE a wire type, COUNT the count field */
    GS_COUNTED_STRUCT, /* TYPE a record id, COUNT the count field */
    GS_OPTIONAL        /* TYPE a record id */
} gen_skind;

typedef struct gen_sfield {
    char *name;
    gen_skind kind;
    char *type;  /* wire type or record id; NULL for a string */
    int rec;     /* record index in its version, or -1 */
    size_t ndims;
    size_t dims[GEN_MAX_DIMS];
    char *count; /* COUNTED*: the count field's name, else NULL */
} gen_sfield;

typedef struct gen_srecord {
    char *id;    /* C identifier, as in the generated code */
    char *cname; /* C spelling, for messages */
    gen_sfield *f;
    size_t nf;
} gen_srecord;

/* One class version: its records, innermost first, the top one last. */
typedef struct gen_sversion {
    unsigned version;
    gen_srecord *rec;
    size_t nrec;
} gen_sversion;

typedef struct gen_history {
    gen_sversion *v; /* oldest first; v[i].version == i + 1 */
    size_t nv;
} gen_history;

/* The version (numbered @p version) that model @p m stores. */
void gen_schema_from_model(gen_sversion *out, const gen_model *m, unsigned version);
/* 1 when @p a and @p b store the same wire layout (version numbers aside). */
int gen_sversion_equal(const gen_sversion *a, const gen_sversion *b);
/* 1 when record @p ra of @p a and record @p rb of @p b store the same
 * layout, nested records included. */
int gen_srecord_equal(const gen_sversion *a, size_t ra, const gen_sversion *b, size_t rb);
void gen_sversion_free(gen_sversion *v);

/* Read the history of class @p cls from @p path. A missing file is an empty
 * history. Returns 0, or EXIT_USAGE after reporting the file and line of
 * what is wrong (the file is hostile input like any other). */
int gen_history_load(gen_history *h, const char *path, const char *cls);
/* Append @p v (ownership moves to @p h). */
void gen_history_append(gen_history *h, gen_sversion *v);
/* Write the history file text. Returns 0 or -1. */
int gen_history_write(FILE *out, const gen_history *h, const char *cls);
void gen_history_free(gen_history *h);

/* Wire types: size in bytes (0 for an unknown name), and how a stored
 * value of type @p from becomes one of type @p to: NULL when it converts
 * exactly, else why not. */
size_t gen_wire_size(const char *wire);
const char *gen_wire_convert(const char *from, const char *to);

/* --- gen_evolve.c ---------------------------------------------------------------- */

/* Check that every version of @p h converts to @p now (the model's
 * version) by field name; report each field that cannot, naming it and
 * why. Returns the number of problems. */
int gen_evolve_check(const gen_history *h, const gen_sversion *now);
/* The codec's readers of the older versions of @p t->hist (before
 * emit_class) and the dispatch that stream_in calls for them. */
void gen_evolve_emit_readers(FILE *out, const gen_model *m, const gen_target *t);
/* The README's section on versions and the schema file. */
void gen_evolve_emit_readme(FILE *out, const gen_target *t);
/* The statement stream_in runs to fill `o` from `r` at `version`. */
void gen_evolve_emit_dispatch(FILE *out, const gen_model *m, const gen_target *t);

#endif
