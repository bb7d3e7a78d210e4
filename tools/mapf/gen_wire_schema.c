/*
 * gen_wire_schema.c - the wire schema of a gen_model in the format of
 * mapfile/schema.h, written into the generated codec as a byte array that
 * its mf_class carries (ABI 1.2). Producers store it in the file, so
 * readers without the plugin can decode the class (emulated reading).
 */
#include "gen_model.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct sbuf {
    unsigned char *p;
    size_t len, cap;
    int err;
} sbuf;

static void put(sbuf *b, const void *p, size_t n)
{
    if (b->err)
        return;
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < n)
            cap *= 2;
        unsigned char *q = realloc(b->p, cap);
        if (!q) {
            b->err = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void put_u8(sbuf *b, unsigned v)
{
    unsigned char c = (unsigned char)v;
    put(b, &c, 1);
}

static void put_varint(sbuf *b, uint64_t v)
{
    do {
        unsigned char c = (unsigned char)(v & 0x7f);
        v >>= 7;
        put_u8(b, c | (v ? 0x80 : 0));
    } while (v);
}

/* Scalar type code of schema.h: 1 u8 ... 11 bool. */
static unsigned scalar_code(const gen_scalar *s)
{
    static const char *const names[] = {"u8", "i8", "u16", "i16", "u32", "i32",
                                        "u64", "i64", "f32", "f64", "bool"};
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s->wire, names[i]) == 0)
            return i + 1;
    return 0;
}

static int streamed(const gen_field *f) { return f->kind != GEN_SKIP && f->kind != GEN_OPS; }

/* Index of field @p k among the streamed fields of @p r. */
static size_t wire_index(const gen_record *r, size_t k)
{
    size_t n = 0;
    for (size_t i = 0; i < k; i++)
        n += streamed(&r->f[i]);
    return n;
}

static void put_elem(sbuf *b, const gen_field *f)
{
    if (f->rec >= 0) {
        put_u8(b, 0);
        put_varint(b, (uint64_t)f->rec);
    } else {
        put_u8(b, scalar_code(&f->scalar));
    }
}

static void put_field(sbuf *b, const gen_record *r, const gen_field *f)
{
    put_varint(b, strlen(f->name));
    put(b, f->name, strlen(f->name));
    if (f->is_count) {
        put_u8(b, 5);
        put_u8(b, scalar_code(&f->scalar));
        return;
    }
    switch (f->kind) {
    case GEN_SCALAR:
    case GEN_STRUCT:
        put_u8(b, 1);
        put_elem(b, f);
        put_u8(b, (unsigned)f->ndims);
        for (size_t d = 0; d < f->ndims; d++)
            put_varint(b, f->dims[d]);
        break;
    case GEN_STRING:
        put_u8(b, 2);
        break;
    case GEN_COUNTED:
        put_u8(b, 3);
        put_elem(b, f);
        put_varint(b, wire_index(r, (size_t)f->count_field));
        break;
    case GEN_OPTIONAL:
        put_u8(b, 4);
        put_varint(b, (uint64_t)f->rec);
        break;
    default:
        break;
    }
}

int gen_schema_bytes(const gen_model *m, unsigned char **out, size_t *len)
{
    sbuf b = {0};
    put(&b, "MFSC", 4);
    put_u8(&b, 1);
    put_varint(&b, m->nrec);
    for (size_t i = 0; i < m->nrec; i++) {
        const gen_record *r = &m->rec[i];
        put_varint(&b, wire_index(r, r->nf));
        for (size_t k = 0; k < r->nf; k++)
            if (streamed(&r->f[k]))
                put_field(&b, r, &r->f[k]);
    }
    if (b.err) {
        free(b.p);
        return -1;
    }
    *out = b.p;
    *len = b.len;
    return 0;
}

int gen_emit_wire_schema(FILE *out, const gen_model *m)
{
    unsigned char *p;
    size_t n;
    if (gen_schema_bytes(m, &p, &n))
        return -1;
    fputs("/*\n"
          " * The wire schema of this version (the format of mapfile/schema.h). The\n"
          " * class carries it; a producer stores it once in the file, so readers\n"
          " * without this plugin can still decode the class to JSON (emulated).\n"
          " */\n"
          "static const unsigned char mfg_wire_schema[] = {",
          out);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s0x%02x,", i % 12 ? " " : "\n    ", p[i]);
    fputs("\n};\n\n", out);
    free(p);
    return ferror(out) ? -1 : 0;
}
