/*
 * gen_model.h - `mapf gen`'s picture of a C struct: what gen_model.c reads
 * from a header with libclang and gen_emit.c turns into a codec. Nothing
 * here knows libclang, so the emitter (and, later, schema files) work from
 * this table alone.
 */
#ifndef MAPF_GEN_MODEL_H
#define MAPF_GEN_MODEL_H

#include <stddef.h>
#include <stdio.h>

/* How one field travels. */
typedef enum gen_kind {
    GEN_SCALAR,   /* integer, enum, bool, float, double (maybe an array) */
    GEN_STRUCT,   /* nested struct by value (maybe an array) */
    GEN_STRING,   /* char *: presence byte, then a string */
    GEN_COUNTED,  /* T *p MF_COUNT(n): varint n, then n elements */
    GEN_OPTIONAL, /* struct S *: presence byte, then S */
    GEN_SKIP,     /* MF_SKIP: not streamed, zero when read */
    GEN_OPS       /* MF_OPS: not streamed, set by CLASS_set_ops() */
} gen_kind;

/* A scalar's wire type: "u8" ... "f64", "bool". */
typedef struct gen_scalar {
    const char *wire;  /* suffix of mf_w_ / mf_r_ */
    const char *ctype; /* the SDK's C type: uint8_t ... double, bool */
    size_t size;       /* bytes on the wire */
    int is_signed, is_float, is_bool;
    int bulk;          /* the field's element type is ctype (or a char type
                          of its size): bulk array calls may be used */
} gen_scalar;

#define GEN_MAX_DIMS 8

typedef struct gen_field {
    char *name;
    char *type;              /* as written, for messages and the schema */
    gen_kind kind;
    size_t ndims;            /* fixed array dimensions (SCALAR, STRUCT) */
    size_t dims[GEN_MAX_DIMS];
    gen_scalar scalar;       /* SCALAR, COUNTED of scalars */
    int rec;                 /* STRUCT, OPTIONAL, COUNTED of structs: record
                                index; -1 otherwise */
    int count_field;         /* COUNTED: index of the count field */
    int count_first;         /* COUNTED: first array sized by that field */
    int is_count;            /* SCALAR that sizes a COUNTED field: derived
                                on read, never streamed on its own */
    unsigned long long count_max; /* is_count: the field type's maximum */
} gen_field;

typedef struct gen_record {
    char *cname;   /* C spelling: "struct point" or a typedef name */
    char *id;      /* C identifier used in generated function names */
    gen_field *f;
    size_t nf;
    size_t min_bytes; /* smallest encoding: bounds mf_r_count() */
    int has_owned;    /* something to free inside */
} gen_record;

/* The struct asked for and every struct it contains, innermost first; the
 * last record is the top one. */
typedef struct gen_model {
    gen_record *rec;
    size_t nrec;
    int nerrors; /* fields that cannot be streamed (reported to stderr) */
} gen_model;

/* Parse @p header with libclang and build the model of struct @p name
 * (a struct tag or a typedef of a struct). Every field that cannot be
 * streamed is reported on stderr, naming the field, its type and why, and
 * counted in m->nerrors. Returns 0, or EXIT_USAGE after reporting a header
 * that does not parse or has no such struct. */
int gen_model_build(gen_model *m, const char *header, const char *name,
                    const char *const *extra_args, int nextra);
void gen_model_free(gen_model *m);

/* What gen_emit writes: the class, the C identifier of its files and
 * functions, and the header path the codec includes. */
typedef struct gen_target {
    const char *cls;         /* class name stored in the file */
    const char *id;          /* C identifier of the class */
    const char *struct_name; /* as given to --struct */
    const char *header_base; /* file name of the header */
    const char *header_dir;  /* absolute folder of the header */
    unsigned version;        /* the class version this codec writes */
    const struct gen_history *hist; /* every version it reads (gen_schema.h) */
} gen_target;

/* The codec source, CMakeLists.txt and README.md. Return 0 or -1 (errno). */
/* One line of generated C: @p level indents of four spaces, then the
 * formatted text and a newline (gen_emit.c, gen_evolve.c). */
void gen_ind(FILE *out, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int gen_emit_codec(FILE *out, const gen_model *m, const gen_target *t);
int gen_emit_cmake(FILE *out, const gen_target *t);
int gen_emit_readme(FILE *out, const gen_model *m, const gen_target *t);

/* gen_wire_schema.c: the model's wire schema (mapfile/schema.h format) as a
 * malloc'd byte string, and the codec's `mfg_wire_schema` array holding it.
 * Return 0 or -1 (out of memory / errno). */
int gen_schema_bytes(const gen_model *m, unsigned char **out, size_t *len);
int gen_emit_wire_schema(FILE *out, const gen_model *m);

#endif
