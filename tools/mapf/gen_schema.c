/*
 * gen_schema.c - a generated class's schema history (gen_schema.h): from a
 * gen_model, to and from the text file DIR/ID.schema.
 *
 * The file, oldest version first (lines starting with '#' are comments):
 *
 *   class CLASS
 *   version N
 *   record ID C-SPELLING            (innermost first, the top struct last)
 *   field NAME KIND TYPE DIMS COUNT (its stored fields, in wire order)
 *   end
 *
 * KIND is scalar, count, struct, string, counted, counted-struct or
 * optional; TYPE a wire type (u8 ... f64, bool), a record ID or '-'; DIMS
 * '-' or fixed array dimensions like 2x3; COUNT the MF_COUNT field or '-'.
 * Written by mapf gen only, but read as hostile input: every line is
 * checked and an error names the file and line.
 */
#include "gen_schema.h"
#include "output.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {"scalar", "count", "struct", "string",
                                         "counted", "counted-struct", "optional"};

static char *sdup(const char *s)
{
    char *d = strdup(s);
    if (!d) {
        errorf("gen", "out of memory");
        exit(EXIT_USAGE);
    }
    return d;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        errorf("gen", "out of memory");
        exit(EXIT_USAGE);
    }
    return q;
}

/* --- wire types ---------------------------------------------------------------- */

static const struct wire_info {
    const char *name;
    size_t size;
    int is_signed, is_float, is_bool;
} wires[] = {
    {"u8", 1, 0, 0, 0},  {"u16", 2, 0, 0, 0}, {"u32", 4, 0, 0, 0}, {"u64", 8, 0, 0, 0},
    {"i8", 1, 1, 0, 0},  {"i16", 2, 1, 0, 0}, {"i32", 4, 1, 0, 0}, {"i64", 8, 1, 0, 0},
    {"f32", 4, 1, 1, 0}, {"f64", 8, 1, 1, 0}, {"bool", 1, 0, 0, 1},
};

static const struct wire_info *wire_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof wires / sizeof wires[0]; i++)
        if (strcmp(wires[i].name, name) == 0)
            return &wires[i];
    return NULL;
}

size_t gen_wire_size(const char *wire)
{
    const struct wire_info *w = wire_find(wire);
    return w ? w->size : 0;
}

/* Integers of up to 16 bits are exact in a float, of up to 32 in a double. */
static const char *int_to_float(const struct wire_info *f, const struct wire_info *t)
{
    if (f->size <= (t->size == 4 ? 2u : 4u))
        return NULL;
    return t->size == 4 ? "a float holds integers of up to 16 bits exactly"
                        : "a double holds integers of up to 32 bits exactly (64-bit "
                          "values would be rounded)";
}

const char *gen_wire_convert(const char *from, const char *to)
{
    const struct wire_info *f = wire_find(from), *t = wire_find(to);
    if (!f || !t)
        return "unknown wire type";
    if (f == t)
        return NULL;
    if (f->is_bool || t->is_bool)
        return "bool converts to nothing else, and nothing else to bool";
    if (f->is_float && !t->is_float)
        return "a floating-point value cannot become an integer";
    if (f->is_float)
        return t->size < f->size ? "narrowing: a double does not fit a float" : NULL;
    if (t->is_float)
        return int_to_float(f, t);
    if (t->size < f->size)
        return "narrowing: older values may not fit";
    if (f->is_signed && !t->is_signed)
        return "signed to unsigned: negative values would change";
    if (t->size == f->size)
        return "unsigned to signed of the same width: large values would change";
    return NULL;
}

/* --- from the model --------------------------------------------------------------- */

static int sfield_from(gen_sfield *s, const gen_model *m, const gen_record *r,
                       const gen_field *f)
{
    memset(s, 0, sizeof *s);
    s->rec = f->rec;
    switch (f->kind) {
    case GEN_SCALAR:
        s->kind = f->is_count ? GS_COUNT : GS_SCALAR;
        break;
    case GEN_STRUCT: s->kind = GS_STRUCT; break;
    case GEN_STRING: s->kind = GS_STRING; break;
    case GEN_COUNTED: s->kind = f->rec >= 0 ? GS_COUNTED_STRUCT : GS_COUNTED; break;
    case GEN_OPTIONAL: s->kind = GS_OPTIONAL; break;
    default: return 0; /* MF_SKIP, MF_OPS: not stored */
    }
    s->name = sdup(f->name);
    if (f->rec >= 0)
        s->type = sdup(m->rec[f->rec].id);
    else if (f->kind != GEN_STRING)
        s->type = sdup(f->scalar.wire);
    s->ndims = f->ndims;
    memcpy(s->dims, f->dims, sizeof s->dims);
    if (f->kind == GEN_COUNTED)
        s->count = sdup(r->f[f->count_field].name);
    return 1;
}

void gen_schema_from_model(gen_sversion *out, const gen_model *m, unsigned version)
{
    out->version = version;
    out->nrec = m->nrec;
    out->rec = xrealloc(NULL, m->nrec * sizeof *out->rec);
    for (size_t i = 0; i < m->nrec; i++) {
        const gen_record *r = &m->rec[i];
        gen_srecord *s = &out->rec[i];
        s->id = sdup(r->id);
        s->cname = sdup(r->cname);
        s->f = xrealloc(NULL, r->nf * sizeof *s->f);
        s->nf = 0;
        for (size_t k = 0; k < r->nf; k++)
            s->nf += (size_t)sfield_from(&s->f[s->nf], m, r, &r->f[k]);
    }
}

/* --- comparing ------------------------------------------------------------------------ */

static int str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int gen_srecord_equal(const gen_sversion *a, size_t ra, const gen_sversion *b, size_t rb)
{
    const gen_srecord *x = &a->rec[ra], *y = &b->rec[rb];
    if (x->nf != y->nf || strcmp(x->id, y->id) != 0 || strcmp(x->cname, y->cname) != 0)
        return 0;
    for (size_t i = 0; i < x->nf; i++) {
        const gen_sfield *f = &x->f[i], *g = &y->f[i];
        if (strcmp(f->name, g->name) != 0 || f->kind != g->kind || f->ndims != g->ndims ||
            memcmp(f->dims, g->dims, f->ndims * sizeof f->dims[0]) != 0 ||
            !str_eq(f->count, g->count) || (f->rec < 0) != (g->rec < 0) ||
            !str_eq(f->type, g->type))
            return 0;
        if (f->rec >= 0 && !gen_srecord_equal(a, (size_t)f->rec, b, (size_t)g->rec))
            return 0;
    }
    return 1;
}

int gen_sversion_equal(const gen_sversion *a, const gen_sversion *b)
{
    if (a->nrec != b->nrec || !a->nrec)
        return 0;
    return gen_srecord_equal(a, a->nrec - 1, b, b->nrec - 1);
}

void gen_sversion_free(gen_sversion *v)
{
    for (size_t i = 0; i < v->nrec; i++) {
        for (size_t k = 0; k < v->rec[i].nf; k++) {
            free(v->rec[i].f[k].name);
            free(v->rec[i].f[k].type);
            free(v->rec[i].f[k].count);
        }
        free(v->rec[i].f);
        free(v->rec[i].id);
        free(v->rec[i].cname);
    }
    free(v->rec);
    memset(v, 0, sizeof *v);
}

/* --- writing -------------------------------------------------------------------------- */

static void write_field(FILE *out, const gen_sfield *f)
{
    fprintf(out, "field %s %s %s ", f->name, kind_names[f->kind], f->type ? f->type : "-");
    if (!f->ndims)
        fputc('-', out);
    for (size_t d = 0; d < f->ndims; d++)
        fprintf(out, "%s%zu", d ? "x" : "", f->dims[d]);
    fprintf(out, " %s\n", f->count ? f->count : "-");
}

int gen_history_write(FILE *out, const gen_history *h, const char *cls)
{
    fprintf(out,
            "# Schema history of class \"%s\", kept by `mapf gen` beside the codec: one\n"
            "# block per class version, oldest first. The codec reads every version\n"
            "# listed here by field name. Do not edit; keep it with the codec (it is\n"
            "# what lets the next `mapf gen` read this version's data).\n"
            "# field NAME KIND TYPE DIMS COUNT, in wire order; records innermost first.\n"
            "class %s\n",
            cls, cls);
    for (size_t i = 0; i < h->nv; i++) {
        const gen_sversion *v = &h->v[i];
        fprintf(out, "version %u\n", v->version);
        for (size_t r = 0; r < v->nrec; r++) {
            fprintf(out, "record %s %s\n", v->rec[r].id, v->rec[r].cname);
            for (size_t k = 0; k < v->rec[r].nf; k++)
                write_field(out, &v->rec[r].f[k]);
        }
        fputs("end\n", out);
    }
    return ferror(out) ? -1 : 0;
}

void gen_history_append(gen_history *h, gen_sversion *v)
{
    h->v = xrealloc(h->v, (h->nv + 1) * sizeof *h->v);
    h->v[h->nv++] = *v;
    memset(v, 0, sizeof *v);
}

void gen_history_free(gen_history *h)
{
    for (size_t i = 0; i < h->nv; i++)
        gen_sversion_free(&h->v[i]);
    free(h->v);
    memset(h, 0, sizeof *h);
}

/* --- reading -------------------------------------------------------------------------- */

typedef struct loader {
    const char *path;
    unsigned line;
    gen_history *h;
    gen_sversion cur; /* the version being read; nrec 0 when none */
    int in_version;
    int have_class;
} loader;

static int bad(const loader *ld, const char *why, const char *what)
{
    errorf("gen", "%s:%u: %s%s%s%s; the schema history is damaged (restore it from "
           "version control; without it older data cannot be read)",
           ld->path, ld->line, why, what ? " '" : "", what ? what : "", what ? "'" : "");
    return -1;
}

static int is_ident(const char *s)
{
    if (!*s || (*s >= '0' && *s <= '9') || strlen(s) > 255)
        return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") ==
           strlen(s);
}

static int parse_dims(gen_sfield *f, char *s)
{
    if (strcmp(s, "-") == 0)
        return 0;
    unsigned long long total = 1;
    for (char *tok = strtok(s, "x"); tok; tok = strtok(NULL, "x")) {
        char *end;
        errno = 0;
        unsigned long long d = strtoull(tok, &end, 10);
        if (*end || errno || d == 0 || d > (1ull << 31) || f->ndims == GEN_MAX_DIMS)
            return -1;
        total *= d;
        if (total > (1ull << 32))
            return -1;
        f->dims[f->ndims++] = (size_t)d;
    }
    return f->ndims ? 0 : -1;
}

static int find_record(const gen_sversion *v, const char *id)
{
    for (size_t i = 0; i < v->nrec; i++)
        if (strcmp(v->rec[i].id, id) == 0)
            return (int)i;
    return -1;
}

/* The TYPE and COUNT columns, checked against the kind. */
static int field_refs(loader *ld, gen_sfield *f, const char *type, const char *count)
{
    int recs = f->kind == GS_STRUCT || f->kind == GS_COUNTED_STRUCT || f->kind == GS_OPTIONAL;
    f->rec = -1;
    if (f->kind == GS_STRING) {
        if (strcmp(type, "-") != 0)
            return bad(ld, "a string field has no type", type);
    } else if (recs) {
        f->rec = find_record(&ld->cur, type);
        if (f->rec < 0 || f->rec >= (int)ld->cur.nrec - 1) /* no cycles */
            return bad(ld, "no record defined before this line is named", type);
        f->type = sdup(type);
    } else {
        if (!gen_wire_size(type))
            return bad(ld, "not a wire type", type);
        f->type = sdup(type);
    }
    int counted = f->kind == GS_COUNTED || f->kind == GS_COUNTED_STRUCT;
    if (counted != (strcmp(count, "-") != 0) || (counted && !is_ident(count)))
        return bad(ld, "a count field belongs to counted fields only", count);
    if (counted)
        f->count = sdup(count);
    if ((f->ndims && f->kind != GS_SCALAR && f->kind != GS_STRUCT))
        return bad(ld, "only scalar and struct fields have dimensions", f->name);
    return 0;
}

/* Fields of the top record with every nested record spelled out: what
 * comparing and reading a version walks. Records only name earlier ones, so
 * one pass innermost first counts it; a hostile file that shares records
 * to blow this up exponentially is refused. */
#define MAX_EXPANDED (1u << 20)

static size_t expanded_fields(const gen_sversion *v)
{
    size_t *n = xrealloc(NULL, v->nrec * sizeof *n), top;
    for (size_t i = 0; i < v->nrec; i++) {
        n[i] = 0;
        for (size_t k = 0; k < v->rec[i].nf; k++) {
            const gen_sfield *f = &v->rec[i].f[k];
            n[i] += 1 + (f->rec >= 0 ? n[f->rec] : 0);
            if (n[i] > MAX_EXPANDED)
                n[i] = MAX_EXPANDED + 1;
        }
    }
    top = n[v->nrec - 1];
    free(n);
    return top;
}

static int load_field(loader *ld, char **tok, int ntok)
{
    if (!ld->cur.nrec)
        return bad(ld, "a field before any record", NULL);
    if (ntok != 6)
        return bad(ld, "want: field NAME KIND TYPE DIMS COUNT", NULL);
    gen_srecord *r = &ld->cur.rec[ld->cur.nrec - 1];
    if (!is_ident(tok[1]))
        return bad(ld, "not a field name", tok[1]);
    for (size_t k = 0; k < r->nf; k++)
        if (strcmp(r->f[k].name, tok[1]) == 0)
            return bad(ld, "a field listed twice", tok[1]);
    gen_sfield f;
    memset(&f, 0, sizeof f);
    size_t kind = 0;
    while (kind < sizeof kind_names / sizeof kind_names[0] && strcmp(kind_names[kind], tok[2]))
        kind++;
    if (kind == sizeof kind_names / sizeof kind_names[0])
        return bad(ld, "not a field kind", tok[2]);
    f.kind = (gen_skind)kind;
    if (parse_dims(&f, tok[4]) != 0)
        return bad(ld, "bad dimensions", NULL);
    f.name = sdup(tok[1]);
    r->f = xrealloc(r->f, (r->nf + 1) * sizeof *r->f);
    r->f[r->nf++] = f;
    return field_refs(ld, &r->f[r->nf - 1], tok[3], tok[5]);
}

/* Every count a counted field names is a count field of its record. */
static int check_counts(loader *ld, const gen_srecord *r)
{
    for (size_t i = 0; i < r->nf; i++) {
        if (!r->f[i].count)
            continue;
        size_t k = 0;
        while (k < r->nf && strcmp(r->f[k].name, r->f[i].count) != 0)
            k++;
        if (k == r->nf || r->f[k].kind != GS_COUNT)
            return bad(ld, "a counted field's count is no count field of its record",
                       r->f[i].count);
    }
    return 0;
}

static int load_record(loader *ld, char *line)
{
    char *id = strtok(line + 6, " ");
    char *cname = id ? strtok(NULL, "") : NULL;
    if (!ld->in_version || !id || !cname || !is_ident(id) || strlen(cname) > 255)
        return bad(ld, "want: record ID C-SPELLING, inside a version", NULL);
    if (find_record(&ld->cur, id) >= 0)
        return bad(ld, "a record listed twice", id);
    if (ld->cur.nrec && check_counts(ld, &ld->cur.rec[ld->cur.nrec - 1]) != 0)
        return -1;
    ld->cur.rec = xrealloc(ld->cur.rec, (ld->cur.nrec + 1) * sizeof *ld->cur.rec);
    gen_srecord *r = &ld->cur.rec[ld->cur.nrec++];
    memset(r, 0, sizeof *r);
    r->id = sdup(id);
    r->cname = sdup(cname);
    return 0;
}

static int load_line(loader *ld, char *line)
{
    if (!line[0] || line[0] == '#')
        return 0;
    if (strncmp(line, "record ", 7) == 0)
        return load_record(ld, line);
    char *tok[8];
    int ntok = 0;
    for (char *t = strtok(line, " "); t; t = strtok(NULL, " "))
        if (ntok < 8)
            tok[ntok++] = t;
        else
            return bad(ld, "too many words", NULL);
    if (strcmp(tok[0], "field") == 0)
        return load_field(ld, tok, ntok);
    if (strcmp(tok[0], "version") == 0) {
        char want[32];
        snprintf(want, sizeof want, "%zu", ld->h->nv + 1);
        if (ntok != 2 || ld->in_version || !ld->have_class || strcmp(tok[1], want) != 0)
            return bad(ld, "versions are numbered 1, 2, ... each closed by 'end'; "
                           "want version", want);
        ld->cur.version = (unsigned)(ld->h->nv + 1);
        ld->in_version = 1;
        return 0;
    }
    if (strcmp(tok[0], "end") == 0) {
        if (ntok != 1 || !ld->in_version || !ld->cur.nrec)
            return bad(ld, "'end' closes a version that has records", NULL);
        if (check_counts(ld, &ld->cur.rec[ld->cur.nrec - 1]) != 0)
            return -1;
        if (expanded_fields(&ld->cur) > MAX_EXPANDED)
            return bad(ld, "the version nests more than a million fields", NULL);
        gen_history_append(ld->h, &ld->cur);
        ld->in_version = 0;
        return 0;
    }
    return bad(ld, "not a schema line", tok[0]);
}

static int load_class(loader *ld, char *line, const char *cls)
{
    if (strncmp(line, "class ", 6) != 0)
        return line[0] == '#' || !line[0] ? 0 : bad(ld, "want 'class NAME' first", NULL);
    if (strcmp(line + 6, cls) != 0) {
        errorf("gen", "%s:%u: this is the schema history of class '%s', not '%s': use "
               "another --out folder, or --class %s", ld->path, ld->line, line + 6, cls,
               line + 6);
        return -1;
    }
    ld->have_class = 1;
    return 0;
}

int gen_history_load(gen_history *h, const char *path, const char *cls)
{
    memset(h, 0, sizeof *h);
    FILE *in = fopen(path, "r");
    if (!in) {
        if (errno == ENOENT)
            return 0;
        errorf("gen", "cannot read %s: %s", path, strerror(errno));
        return EXIT_USAGE;
    }
    loader ld = {path, 0, h, {0, NULL, 0}, 0, 0};
    char line[1024];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, in)) {
        ld.line++;
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n')
            line[--n] = '\0';
        else if (!feof(in))
            rc = bad(&ld, "line too long", NULL);
        if (rc == 0 && memchr(line, '\r', n))
            rc = bad(&ld, "carriage return in a line", NULL);
        if (rc == 0)
            rc = ld.have_class ? load_line(&ld, line) : load_class(&ld, line, cls);
    }
    if (rc == 0 && ferror(in))
        rc = bad(&ld, "read error", NULL);
    if (rc == 0 && (ld.in_version || !ld.have_class))
        rc = bad(&ld, ld.in_version ? "the last version has no 'end'" : "no 'class' line",
                 NULL);
    fclose(in);
    gen_sversion_free(&ld.cur);
    if (rc != 0) {
        gen_history_free(h);
        return EXIT_USAGE;
    }
    return 0;
}
