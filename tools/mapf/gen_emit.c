/*
 * gen_emit.c - write the codec plugin project of `mapf gen` from a
 * gen_model: CLASS_codec.c, CMakeLists.txt and README.md.
 *
 * The generated codec keeps the SDK's rules by construction: every count is
 * bounded with mf_r_count() before it reaches calloc, reader and writer
 * errors are sticky and checked once, stream_in copies everything it keeps
 * (never a pointer into the payload) and frees a half-built object, and a
 * count field is set from its array's length, so an object never claims
 * more elements than it holds.
 */
#include "gen_model.h"
#include "gen_schema.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

void gen_ind(FILE *out, int level, const char *fmt, ...)
{
    for (int i = 0; i < level; i++)
        fputs("    ", out);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fputc('\n', out);
}

static size_t total_elems(const gen_field *f)
{
    size_t n = 1;
    for (size_t d = 0; d < f->ndims; d++)
        n *= f->dims[d];
    return n;
}

/* "o->f[i0][i1]" for the element at the current loop indices. */
static void elem_expr(char *buf, size_t cap, const gen_field *f, size_t ndims)
{
    int n = snprintf(buf, cap, "o->%s", f->name);
    for (size_t d = 0; d < ndims && n > 0 && (size_t)n < cap; d++)
        n += snprintf(buf + n, cap - (size_t)n, "[i%zu]", d);
}

/* "&o->f[0][0]": the first element of a fixed array. */
static void first_expr(char *buf, size_t cap, const gen_field *f)
{
    int n = snprintf(buf, cap, "&o->%s", f->name);
    for (size_t d = 0; d < f->ndims && n > 0 && (size_t)n < cap; d++)
        n += snprintf(buf + n, cap - (size_t)n, "[0]");
}

static void open_loops(FILE *out, int level, const gen_field *f, const char *guard)
{
    for (size_t d = 0; d < f->ndims; d++)
        gen_ind(out, level + (int)d, "for (size_t i%zu = 0; i%zu < %zu%s; i%zu++) {", d, d,
            f->dims[d], guard, d);
}

static void close_loops(FILE *out, int level, const gen_field *f)
{
    for (size_t d = f->ndims; d-- > 0;)
        gen_ind(out, level + (int)d, "}");
}

/* --- one element ------------------------------------------------------------- */

static void scalar_json(FILE *out, int level, const gen_scalar *s, const char *x)
{
    if (s->is_bool)
        gen_ind(out, level, "mf_w_printf(w, \"%%s\", (%s) ? \"true\" : \"false\");", x);
    else if (s->is_float)
        gen_ind(out, level, "mf_w_json_num(w, (double)(%s));", x);
    else if (s->is_signed)
        gen_ind(out, level, "mfg_json_i(w, (int64_t)(%s));", x);
    else
        gen_ind(out, level, "mfg_json_u(w, (uint64_t)(%s));", x);
}

/* Write, read, free or print one element @p x of field @p f (a scalar or a
 * struct, by value). */
enum op { OP_OUT, OP_IN, OP_FREE, OP_JSON };

static void elem_op(FILE *out, int level, const gen_model *m, const gen_field *f,
                    enum op op, const char *x)
{
    const gen_record *r = f->rec >= 0 ? &m->rec[f->rec] : NULL;
    switch (op) {
    case OP_OUT:
        if (r)
            gen_ind(out, level, "mfg_%s_out(w, &%s);", r->id, x);
        else
            gen_ind(out, level, "mf_w_%s(w, %s);", f->scalar.wire, x);
        break;
    case OP_IN:
        if (r)
            gen_ind(out, level, "mfg_%s_in(r, &%s);", r->id, x);
        else
            gen_ind(out, level, "%s = mf_r_%s(r);", x, f->scalar.wire);
        break;
    case OP_FREE:
        if (r && r->has_owned)
            gen_ind(out, level, "mfg_%s_free(&%s);", r->id, x);
        break;
    case OP_JSON:
        if (r)
            gen_ind(out, level, "mfg_%s_json(w, &%s);", r->id, x);
        else
            scalar_json(out, level, &f->scalar, x);
        break;
    }
}

/* --- fixed arrays and single values (SCALAR, STRUCT) --------------------------------- */

static void json_dims(FILE *out, int level, const gen_model *m, const gen_field *f, size_t d)
{
    char x[512];
    if (d == f->ndims) {
        elem_expr(x, sizeof x, f, f->ndims);
        elem_op(out, level, m, f, OP_JSON, x);
        return;
    }
    gen_ind(out, level, "mf_w_u8(w, '[');");
    gen_ind(out, level, "for (size_t i%zu = 0; i%zu < %zu; i%zu++) {", d, d, f->dims[d], d);
    gen_ind(out, level + 1, "if (i%zu)", d);
    gen_ind(out, level + 2, "mf_w_u8(w, ',');");
    json_dims(out, level + 1, m, f, d + 1);
    gen_ind(out, level, "}");
    gen_ind(out, level, "mf_w_u8(w, ']');");
}

static void value_op(FILE *out, int level, const gen_model *m, const gen_field *f, enum op op)
{
    char x[512];
    if (op == OP_JSON) {
        json_dims(out, level, m, f, 0);
        return;
    }
    if (op == OP_FREE && (f->rec < 0 || !m->rec[f->rec].has_owned))
        return;
    if (f->ndims && f->rec < 0 && f->scalar.bulk && op != OP_FREE) {
        first_expr(x, sizeof x, f);
        if (op == OP_OUT)
            gen_ind(out, level, "mf_w_%s_array(w, (const %s *)%s, %zu);", f->scalar.wire,
                f->scalar.ctype, x, total_elems(f));
        else
            gen_ind(out, level, "mf_r_%s_array(r, (%s *)%s, %zu);", f->scalar.wire,
                f->scalar.ctype, x, total_elems(f));
        return;
    }
    if (f->ndims)
        gen_ind(out, level, "{");
    int inner = level + (f->ndims ? 1 : 0);
    open_loops(out, inner, f, op == OP_IN ? " && !r->err" : "");
    elem_expr(x, sizeof x, f, f->ndims);
    elem_op(out, inner + (int)f->ndims, m, f, op, x);
    close_loops(out, inner, f);
    if (f->ndims)
        gen_ind(out, level, "}");
}

/* --- strings and optional structs: a presence byte first ------------------------------ */

static void string_op(FILE *out, int level, const gen_field *f, enum op op)
{
    const char *n = f->name;
    switch (op) {
    case OP_OUT:
        gen_ind(out, level, "mf_w_u8(w, o->%s != NULL);", n);
        gen_ind(out, level, "if (o->%s)", n);
        gen_ind(out, level + 1, "mf_w_str(w, o->%s);", n);
        break;
    case OP_IN:
        gen_ind(out, level, "if (mfg_present(r))");
        gen_ind(out, level + 1, "o->%s = mf_r_str_dup(r);", n);
        break;
    case OP_FREE:
        gen_ind(out, level, "free((void *)o->%s);", n);
        break;
    case OP_JSON:
        gen_ind(out, level, "if (o->%s)", n);
        gen_ind(out, level + 1, "mf_w_json_str(w, o->%s);", n);
        gen_ind(out, level, "else");
        gen_ind(out, level + 1, "mf_w_printf(w, \"null\");");
        break;
    }
}

static void optional_op(FILE *out, int level, const gen_model *m, const gen_field *f, enum op op)
{
    const gen_record *r = &m->rec[f->rec];
    const char *n = f->name;
    switch (op) {
    case OP_OUT:
        gen_ind(out, level, "mf_w_u8(w, o->%s != NULL);", n);
        gen_ind(out, level, "if (o->%s)", n);
        gen_ind(out, level + 1, "mfg_%s_out(w, o->%s);", r->id, n);
        break;
    case OP_IN:
        gen_ind(out, level, "if (mfg_present(r)) {");
        gen_ind(out, level + 1, "o->%s = calloc(1, sizeof *o->%s);", n, n);
        gen_ind(out, level + 1, "if (!o->%s)", n);
        gen_ind(out, level + 2, "mf_r_fail(r, MF_WIRE_NOMEM);");
        gen_ind(out, level + 1, "else");
        gen_ind(out, level + 2, "mfg_%s_in(r, o->%s);", r->id, n);
        gen_ind(out, level, "}");
        break;
    case OP_FREE:
        gen_ind(out, level, "if (o->%s) {", n);
        if (r->has_owned)
            gen_ind(out, level + 1, "mfg_%s_free(o->%s);", r->id, n);
        gen_ind(out, level + 1, "free(o->%s);", n);
        gen_ind(out, level, "}");
        break;
    case OP_JSON:
        gen_ind(out, level, "if (o->%s)", n);
        gen_ind(out, level + 1, "mfg_%s_json(w, o->%s);", r->id, n);
        gen_ind(out, level, "else");
        gen_ind(out, level + 1, "mf_w_printf(w, \"null\");");
        break;
    }
}

/* --- counted arrays ----------------------------------------------------------------- */

static size_t elem_min_bytes(const gen_model *m, const gen_field *f)
{
    size_t n = f->rec >= 0 ? m->rec[f->rec].min_bytes : f->scalar.size;
    return n ? n : 1;
}

static void counted_elems(FILE *out, int level, const gen_model *m, const gen_field *f,
                          enum op op, const char *n)
{
    char x[512];
    snprintf(x, sizeof x, "o->%s[k]", f->name);
    if (f->rec < 0 && f->scalar.bulk && (op == OP_OUT || op == OP_IN)) {
        if (op == OP_OUT)
            gen_ind(out, level, "mf_w_%s_array(w, (const %s *)o->%s, %s);", f->scalar.wire,
                f->scalar.ctype, f->name, n);
        else
            gen_ind(out, level, "mf_r_%s_array(r, (%s *)o->%s, %s);", f->scalar.wire,
                f->scalar.ctype, f->name, n);
        return;
    }
    gen_ind(out, level, "for (size_t k = 0; k < %s%s; k++) {", n, op == OP_IN ? " && !r->err" : "");
    if (op == OP_JSON) {
        gen_ind(out, level + 1, "if (k)");
        gen_ind(out, level + 2, "mf_w_u8(w, ',');");
    }
    elem_op(out, level + 1, m, f, op, x);
    gen_ind(out, level, "}");
}

static void counted_out(FILE *out, int level, const gen_model *m, const gen_record *rec,
                        const gen_field *f)
{
    const gen_field *c = &rec->f[f->count_field];
    gen_ind(out, level, "{");
    if (c->scalar.is_signed) {
        gen_ind(out, level + 1, "if (o->%s < 0)", c->name);
        gen_ind(out, level + 2, "mf_w_fail(w, MF_WIRE_CODEC); /* a negative count */");
        gen_ind(out, level + 1, "uint64_t n = o->%s < 0 ? 0 : (uint64_t)o->%s;", c->name, c->name);
    } else {
        gen_ind(out, level + 1, "uint64_t n = (uint64_t)o->%s;", c->name);
    }
    gen_ind(out, level + 1, "if (n && !o->%s)", f->name);
    gen_ind(out, level + 2, "mf_w_fail(w, MF_WIRE_CODEC); /* %s > 0 but %s is NULL */",
        c->name, f->name);
    gen_ind(out, level + 1, "mf_w_varint(w, n);");
    gen_ind(out, level + 1, "if (o->%s && !w->err)", f->name);
    counted_elems(out, level + 2, m, f, OP_OUT, "(size_t)n");
    gen_ind(out, level, "}");
}

static void counted_in(FILE *out, int level, const gen_model *m, const gen_record *rec,
                       const gen_field *f)
{
    const gen_field *c = &rec->f[f->count_field];
    gen_ind(out, level, "{");
    gen_ind(out, level + 1, "size_t n = mf_r_count(r, %zu);", elem_min_bytes(m, f));
    if (c->count_max < UINT64_MAX && c->count_max < SIZE_MAX) {
        gen_ind(out, level + 1, "if (n > %lluu)", c->count_max);
        gen_ind(out, level + 2, "mf_r_fail(r, MF_WIRE_MALFORMED); /* more than %s can say */",
            c->name);
    }
    if (!f->count_first) {
        gen_ind(out, level + 1, "if ((uint64_t)n != (uint64_t)o->%s)", c->name);
        gen_ind(out, level + 2, "mf_r_fail(r, MF_WIRE_MALFORMED); /* %s disagrees with %s */",
            f->name, c->name);
    }
    gen_ind(out, level + 1, "if (n && !r->err) {");
    gen_ind(out, level + 2, "o->%s = calloc(n, sizeof *o->%s);", f->name, f->name);
    gen_ind(out, level + 2, "if (!o->%s)", f->name);
    gen_ind(out, level + 3, "mf_r_fail(r, MF_WIRE_NOMEM);");
    gen_ind(out, level + 1, "}");
    gen_ind(out, level + 1, "if (!r->err) {");
    if (f->count_first)
        gen_ind(out, level + 2, "o->%s = n;", c->name);
    gen_ind(out, level + 2, "if (n)");
    counted_elems(out, level + 3, m, f, OP_IN, "n");
    gen_ind(out, level + 1, "}");
    gen_ind(out, level, "}");
}

static void counted_op(FILE *out, int level, const gen_model *m, const gen_record *rec,
                       const gen_field *f, enum op op)
{
    const gen_field *c = &rec->f[f->count_field];
    char n[256];
    snprintf(n, sizeof n, "(o->%s ? (size_t)o->%s : 0)", f->name, c->name);
    switch (op) {
    case OP_OUT:
        counted_out(out, level, m, rec, f);
        break;
    case OP_IN:
        counted_in(out, level, m, rec, f);
        break;
    case OP_FREE:
        if (f->rec >= 0 && m->rec[f->rec].has_owned) {
            gen_ind(out, level, "if (o->%s) {", f->name);
            counted_elems(out, level + 1, m, f, OP_FREE, n);
            gen_ind(out, level, "}");
        }
        gen_ind(out, level, "free(o->%s);", f->name);
        break;
    case OP_JSON:
        gen_ind(out, level, "mf_w_u8(w, '[');");
        counted_elems(out, level, m, f, OP_JSON, n);
        gen_ind(out, level, "mf_w_u8(w, ']');");
        break;
    }
}

/* --- one record ---------------------------------------------------------------------- */

static void field_op(FILE *out, const gen_model *m, const gen_record *r, const gen_field *f,
                     enum op op)
{
    switch (f->kind) {
    case GEN_SCALAR:
        if (f->is_count && op != OP_JSON)
            return; /* travels as its array's length */
        value_op(out, 1, m, f, op);
        break;
    case GEN_STRUCT:
        value_op(out, 1, m, f, op);
        break;
    case GEN_STRING:
        string_op(out, 1, f, op);
        break;
    case GEN_OPTIONAL:
        optional_op(out, 1, m, f, op);
        break;
    case GEN_COUNTED:
        counted_op(out, 1, m, r, f, op);
        break;
    case GEN_SKIP:
    case GEN_OPS:
        break;
    }
}

static int streamed(const gen_field *f) { return f->kind != GEN_SKIP && f->kind != GEN_OPS; }

static void emit_record(FILE *out, const gen_model *m, const gen_record *r)
{
    fprintf(out, "/* ---- %s ---- */\n\n", r->cname);
    fprintf(out, "static void mfg_%s_out(mf_writer *w, const %s *o)\n{\n", r->id, r->cname);
    gen_ind(out, 1, "(void)w;");
    gen_ind(out, 1, "(void)o;");
    for (size_t i = 0; i < r->nf; i++)
        field_op(out, m, r, &r->f[i], OP_OUT);
    fputs("}\n\n", out);

    fprintf(out, "/* @p o is zeroed; on error it holds what was read, for mfg_%s_free(). */\n",
            r->id);
    fprintf(out, "static void mfg_%s_in(mf_reader *r, %s *o)\n{\n", r->id, r->cname);
    gen_ind(out, 1, "(void)r;");
    gen_ind(out, 1, "(void)o;");
    for (size_t i = 0; i < r->nf; i++)
        field_op(out, m, r, &r->f[i], OP_IN);
    fputs("}\n\n", out);

    if (r->has_owned) {
        fprintf(out, "/* Free what @p o owns (not @p o itself). */\n");
        fprintf(out, "static void mfg_%s_free(%s *o)\n{\n", r->id, r->cname);
        for (size_t i = 0; i < r->nf; i++)
            field_op(out, m, r, &r->f[i], OP_FREE);
        fputs("}\n\n", out);
    }

    fprintf(out, "static void mfg_%s_json(mf_writer *w, const %s *o)\n{\n", r->id, r->cname);
    gen_ind(out, 1, "(void)o;");
    int first = 1;
    for (size_t i = 0; i < r->nf; i++) {
        const gen_field *f = &r->f[i];
        if (!streamed(f))
            continue;
        gen_ind(out, 1, "mf_w_printf(w, \"%s\\\"%s\\\":\");", first ? "{" : ",", f->name);
        field_op(out, m, r, f, OP_JSON);
        first = 0;
    }
    if (first)
        gen_ind(out, 1, "mf_w_u8(w, '{');");
    gen_ind(out, 1, "mf_w_u8(w, '}');");
    fputs("}\n\n", out);
}

/* --- the schema table --------------------------------------------------------------- */

static const char *kind_name(gen_kind k)
{
    static const char *const names[] = {"scalar", "struct", "string", "counted",
                                        "optional", "skip", "ops"};
    return names[k];
}

static void c_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        if ((unsigned char)*s < 0x20)
            fputc(' ', out);
        else
            fputc(*s, out);
    }
    fputc('"', out);
}

static void emit_schema(FILE *out, const gen_model *m)
{
    fputs("/*\n"
          " * The schema this codec was generated from: every field of every struct,\n"
          " * innermost struct first, in wire order. Schema evolution (a later\n"
          " * `mapf gen`) compares it with the struct's next version.\n"
          " */\n"
          "static const struct mfg_field_info {\n"
          "    const char *record, *name, *type, *kind, *wire;\n"
          "    size_t ndims, dims[8];\n"
          "    const char *count; /* MF_COUNT's field, or NULL */\n"
          "} mfg_schema[] __attribute__((unused)) = {\n",
          out);
    for (size_t i = 0; i < m->nrec; i++) {
        const gen_record *r = &m->rec[i];
        for (size_t k = 0; k < r->nf; k++) {
            const gen_field *f = &r->f[k];
            fputs("    {", out);
            c_string(out, r->cname);
            fputs(", ", out);
            c_string(out, f->name);
            fputs(", ", out);
            c_string(out, f->type);
            fprintf(out, ", \"%s\", ", f->is_count ? "count" : kind_name(f->kind));
            if (f->rec >= 0)
                c_string(out, m->rec[f->rec].cname);
            else if (f->kind == GEN_SCALAR || f->kind == GEN_COUNTED)
                fprintf(out, "\"%s\"", f->scalar.wire);
            else
                fputs("NULL", out);
            fprintf(out, ", %zu, {", f->ndims);
            for (size_t d = 0; d < f->ndims; d++)
                fprintf(out, "%s%zu", d ? ", " : "", f->dims[d]);
            fputs("}, ", out);
            if (f->kind == GEN_COUNTED)
                c_string(out, r->f[f->count_field].name);
            else
                fputs("NULL", out);
            fputs("},\n", out);
        }
    }
    fputs("};\n\n", out);
}

static int model_has_ops(const gen_model *m)
{
    for (size_t i = 0; i < m->nrec; i++)
        for (size_t k = 0; k < m->rec[i].nf; k++)
            if (m->rec[i].f[k].kind == GEN_OPS)
                return 1;
    return 0;
}

/* --- the codec file ------------------------------------------------------------------ */

static void emit_prologue(FILE *out, const gen_model *m, const gen_target *t)
{
    const gen_record *top = &m->rec[m->nrec - 1];
    fprintf(out,
            "/*\n"
            " * %s_codec.c - the mapfile codec of class \"%s\" (%s of %s).\n"
            " * Generated by `mapf gen %s --struct %s --class %s`: do not edit,\n"
            " * re-run mapf gen when the struct changes. README.md says how to build it.\n"
            " *\n"
            " * Wire layout: the fields in declaration order; scalars fixed-width\n"
            " * little-endian, fixed arrays as their elements, char * and struct pointers\n"
            " * a presence byte (0 or 1) and then the value, MF_COUNT arrays a varint\n"
            " * count and then the elements (their count field is not stored again),\n"
            " * MF_SKIP and MF_OPS fields nothing.\n"
            " */\n"
            "#include <mapfile/codec.h>\n\n"
            "#include <inttypes.h>\n"
            "#include <stdbool.h>\n"
            "#include <stdint.h>\n"
            "#include <stdio.h>\n"
            "#include <stdlib.h>\n"
            "#include <string.h>\n\n"
            "#include \"%s\"\n\n"
            "#define MFG_CLASS_NAME \"%s\"\n"
            "/* The version this codec writes and the oldest it reads. */\n"
            "#define MFG_VERSION %u\n"
            "#define MFG_MIN_VERSION 1\n\n",
            t->id, t->cls, top->cname, t->header_base, t->header_base, t->struct_name,
            t->cls, t->header_base, t->cls, t->version ? t->version : 1);
    if (model_has_ops(m))
        fprintf(out,
                "/* The hook that gives a decoded object its function tables (MF_OPS\n"
                " * fields), so every process uses its own functions. Define it in\n"
                " * %s_ops.c beside this file (CMakeLists.txt builds it in); while it is\n"
                " * undefined those fields stay NULL. */\n"
                "void %s_set_ops(%s *obj) __attribute__((weak));\n\n",
                t->id, t->id, top->cname);
    fputs("/* A presence byte: 0 or 1, anything else is malformed. */\n"
          "static __attribute__((unused)) int mfg_present(mf_reader *r)\n"
          "{\n"
          "    uint8_t b = mf_r_u8(r);\n"
          "    if (b > 1)\n"
          "        mf_r_fail(r, MF_WIRE_MALFORMED);\n"
          "    return b == 1;\n"
          "}\n\n"
          "static __attribute__((unused)) void mfg_json_i(mf_writer *w, int64_t v)\n"
          "{\n"
          "    mf_w_printf(w, \"%\" PRId64, v);\n"
          "}\n\n"
          "static __attribute__((unused)) void mfg_json_u(mf_writer *w, uint64_t v)\n"
          "{\n"
          "    mf_w_printf(w, \"%\" PRIu64, v);\n"
          "}\n\n",
          out);
}

static void emit_class(FILE *out, const gen_model *m, const gen_target *t)
{
    const gen_record *top = &m->rec[m->nrec - 1];
    const char *id = top->id;
    fprintf(out,
            "/* ---- the class ---- */\n\n"
            "static int mfg_stream_out(const void *obj, mf_writer *w)\n"
            "{\n"
            "    mfg_%s_out(w, obj);\n"
            "    return w->err ? -1 : 0;\n"
            "}\n\n"
            "static void mfg_destroy(void *obj)\n"
            "{\n"
            "    if (!obj)\n"
            "        return;\n",
            id);
    if (top->has_owned)
        fprintf(out, "    mfg_%s_free(obj);\n", id);
    fprintf(out,
            "    free(obj);\n"
            "}\n\n"
            "/* The payload may change under us while we decode (the core then\n"
            " * discards the object): every value is copied out, never pointed to. */\n"
            "static void *mfg_stream_in(mf_reader *r, uint32_t version)\n"
            "{\n"
            "    if (version < MFG_MIN_VERSION || version > MFG_VERSION) {\n"
            "        mf_r_fail(r, MF_WIRE_CODEC);\n"
            "        return NULL;\n"
            "    }\n"
            "    %s *o = calloc(1, sizeof *o);\n"
            "    if (!o) {\n"
            "        mf_r_fail(r, MF_WIRE_NOMEM);\n"
            "        return NULL;\n"
            "    }\n",
            top->cname);
    gen_evolve_emit_dispatch(out, m, t);
    fprintf(out,
            "    if (!mf_reader_failed(r) && mf_r_left(r) != 0)\n"
            "        mf_r_fail(r, MF_WIRE_MALFORMED); /* not what we wrote */\n"
            "    if (mf_reader_failed(r)) {\n"
            "        mfg_destroy(o);\n"
            "        return NULL;\n"
            "    }\n");
    if (model_has_ops(m))
        fprintf(out, "    if (%s_set_ops)\n        %s_set_ops(o);\n", t->id, t->id);
    fprintf(out,
            "    return o;\n"
            "}\n\n"
            "static int mfg_to_json(const void *obj, mf_writer *w)\n"
            "{\n"
            "    mfg_%s_json(w, obj);\n"
            "    return w->err ? -1 : 0;\n"
            "}\n\n"
            "static int mfg_grow(mf_writer *w, size_t need)\n"
            "{\n"
            "    size_t cap = w->cap ? w->cap : 256;\n"
            "    while (cap - w->len < need) {\n"
            "        if (cap > SIZE_MAX / 2)\n"
            "            return -1;\n"
            "        cap *= 2;\n"
            "    }\n"
            "    unsigned char *b = realloc(w->buf, cap);\n"
            "    if (!b)\n"
            "        return -1;\n"
            "    w->buf = b;\n"
            "    w->cap = cap;\n"
            "    return 0;\n"
            "}\n\n"
            "/* print: the class name and the object as JSON, on one line. */\n"
            "static void mfg_print(const void *obj, FILE *out)\n"
            "{\n"
            "    mf_writer w = {.reserve = mfg_grow};\n"
            "    mfg_%s_json(&w, obj);\n"
            "    if (w.err)\n"
            "        fprintf(out, \"%%s (cannot print: writer error %%d)\\n\", MFG_CLASS_NAME, w.err);\n"
            "    else\n"
            "        fprintf(out, \"%%s %%.*s\\n\", MFG_CLASS_NAME, (int)w.len, (const char *)w.buf);\n"
            "    free(w.buf);\n"
            "}\n\n"
            "static const mf_class mfg_class = {\n"
            "    .struct_size = sizeof(mf_class),\n"
            "    .name = MFG_CLASS_NAME,\n"
            "    .version = MFG_VERSION,\n"
            "    .min_version = MFG_MIN_VERSION,\n"
            "    .stream_out = mfg_stream_out,\n"
            "    .stream_in = mfg_stream_in,\n"
            "    .destroy = mfg_destroy,\n"
            "    .print = mfg_print,\n"
            "    .to_json = mfg_to_json,\n"
            "    .schema = mfg_wire_schema,\n"
            "    .schema_size = sizeof mfg_wire_schema,\n"
            "};\n\n"
            "MF_DEFINE_PLUGIN(%s, &mfg_class)\n",
            id, id, t->id);
}

int gen_emit_codec(FILE *out, const gen_model *m, const gen_target *t)
{
    emit_prologue(out, m, t);
    emit_schema(out, m);
    if (gen_emit_wire_schema(out, m))
        return -1;
    for (size_t i = 0; i < m->nrec; i++)
        emit_record(out, m, &m->rec[i]);
    gen_evolve_emit_readers(out, m, t);
    emit_class(out, m, t);
    return ferror(out) ? -1 : 0;
}

/* --- CMakeLists.txt and README.md ------------------------------------------------------ */

/* Write @p text with @ID@, @CLASS@, @HEADER@, @HEADER_DIR@ and @STRUCT@
 * replaced by the target's values. */
static void put_template(FILE *out, const char *text, const gen_target *t)
{
    const char *const keys[][2] = {{"@ID@", t->id}, {"@CLASS@", t->cls},
                                   {"@HEADER@", t->header_base},
                                   {"@HEADER_DIR@", t->header_dir},
                                   {"@STRUCT@", t->struct_name}, {NULL, NULL}};
    while (*text) {
        size_t k = 0;
        for (; keys[k][0]; k++)
            if (strncmp(text, keys[k][0], strlen(keys[k][0])) == 0)
                break;
        if (keys[k][0]) {
            fputs(keys[k][1], out);
            text += strlen(keys[k][0]);
        } else {
            fputc(*text++, out);
        }
    }
}

int gen_emit_cmake(FILE *out, const gen_target *t)
{
    put_template(out,
        "# Generated by `mapf gen @HEADER@ --struct @STRUCT@ --class @CLASS@`.\n"
        "# Builds the codec plugin @ID@_codec.so against an installed mapfile:\n"
        "#   cmake -S . -B build -DCMAKE_PREFIX_PATH=<mapfile prefix>\n"
        "#   cmake --build build\n"
        "cmake_minimum_required(VERSION 3.16)\n"
        "project(@ID@_codec LANGUAGES C)\n"
        "find_package(mapfile CONFIG REQUIRED)\n\n"
        "# Where @HEADER@ is (the codec includes it).\n"
        "set(@ID@_HEADER_DIR \"@HEADER_DIR@\" CACHE PATH \"Folder of @HEADER@\")\n\n"
        "add_library(@ID@_codec MODULE @ID@_codec.c)\n"
        "set_target_properties(@ID@_codec PROPERTIES PREFIX \"\" C_STANDARD 11\n"
        "  C_VISIBILITY_PRESET hidden)\n"
        "target_include_directories(@ID@_codec PRIVATE \"${@ID@_HEADER_DIR}\")\n"
        "target_link_libraries(@ID@_codec PRIVATE mapfile::sdk)\n"
        "# Your hooks (@ID@_set_ops() for MF_OPS fields), if you wrote them.\n"
        "if(EXISTS \"${CMAKE_CURRENT_SOURCE_DIR}/@ID@_ops.c\")\n"
        "  target_sources(@ID@_codec PRIVATE @ID@_ops.c)\n"
        "endif()\n\n"
        "# `cmake --install build` puts the plugin beside mapfile's own plugins\n"
        "# (or under --prefix DIR: then point MAPFILE_PLUGIN_PATH at it).\n"
        "if(CMAKE_INSTALL_PREFIX_INITIALIZED_TO_DEFAULT)\n"
        "  set(CMAKE_INSTALL_PREFIX \"${mapfile_PREFIX}\" CACHE PATH \"Install prefix\" FORCE)\n"
        "endif()\n"
        "install(TARGETS @ID@_codec LIBRARY DESTINATION \"${mapfile_PLUGIN_RELDIR}\")\n",
        t);
    return ferror(out) ? -1 : 0;
}

int gen_emit_readme(FILE *out, const gen_model *m, const gen_target *t)
{
    const gen_record *top = &m->rec[m->nrec - 1];
    fprintf(out,
            "# Codec of class `%s` (generated)\n\n"
            "`mapf gen %s --struct %s --class %s` wrote this folder from `%s` in\n"
            "`%s`. Do not edit `%s_codec.c`: change the struct and run `mapf gen`\n"
            "again.\n\n"
            "## Build and use\n\n"
            "    cmake -S . -B build -DCMAKE_PREFIX_PATH=/where/mapfile/is/installed\n"
            "    cmake --build build\n"
            "    MAPFILE_PLUGIN_PATH=$PWD/build mapf plugins   # lists %s\n\n"
            "A producer calls `mf_put(mf, \"name\", \"%s\", &obj)` with a `%s`;\n"
            "a consumer's `mf_get()` returns a new `%s` that `mf_object_free()`\n"
            "frees. Both find the plugin through `MAPFILE_PLUGIN_PATH`, or\n"
            "`cmake --install build` puts it beside mapfile's own plugins.\n\n"
            "## Fields\n\n"
            "| struct | field | type | travels as |\n|---|---|---|---|\n",
            t->cls, t->header_base, t->struct_name, t->cls, top->cname, t->header_base,
            t->id, t->cls, t->cls, top->cname, top->cname);
    for (size_t i = 0; i < m->nrec; i++) {
        const gen_record *r = &m->rec[i];
        for (size_t k = 0; k < r->nf; k++) {
            const gen_field *f = &r->f[k];
            const char *how = f->is_count ? "the length of its MF_COUNT array"
                              : f->kind == GEN_SCALAR ? f->scalar.wire
                              : f->kind == GEN_STRUCT ? "the nested struct"
                              : f->kind == GEN_STRING ? "presence byte + string (NULL kept)"
                              : f->kind == GEN_COUNTED ? "varint count + elements"
                              : f->kind == GEN_OPTIONAL ? "presence byte + struct (NULL kept)"
                              : f->kind == GEN_SKIP ? "not stored (MF_SKIP): zero when read"
                                                    : "not stored (MF_OPS): set by the hook";
            fprintf(out, "| `%s` | `%s` | `%s` | %s |\n", r->cname, f->name, f->type, how);
        }
    }
    fprintf(out,
            "\n## Rules the generated codec keeps\n\n"
            "- Every count read is bounded by the payload (`mf_r_count`) before any\n"
            "  allocation; a truncated or hostile payload gives a reader error, and\n"
            "  the half-built object is freed.\n"
            "- A count field (`MF_COUNT(n)`) is set from its array's length on read;\n"
            "  on write a NULL array with a non-zero count, or a negative count, fails\n"
            "  the write (`mf_w_fail`).\n"
            "- `char *` strings may be NULL; strings with a NUL inside cannot be stored.\n");
    gen_evolve_emit_readme(out, t);
    if (model_has_ops(m))
        fprintf(out,
                "\n## Function tables (MF_OPS)\n\n"
                "MF_OPS fields are never stored. After decoding, the codec calls\n\n"
                "    void %s_set_ops(%s *obj);\n\n"
                "if it is defined: write it in `%s_ops.c` in this folder (CMakeLists.txt\n"
                "builds that file into the plugin), and point each MF_OPS field at the\n"
                "consumer's own functions. Without it those fields stay NULL.\n",
                t->id, top->cname, t->id);
    return ferror(out) ? -1 : 0;
}
