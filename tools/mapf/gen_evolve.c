/*
 * gen_evolve.c - schema evolution by field name (issue 18, part 3), as
 * ROOT's StreamerInfo does: check that every older version of a class
 * converts to the struct as it is now, and write the codec's readers of the
 * older versions.
 *
 * An older version's reader walks that version's stored fields in its wire
 * order. A field the struct still has (same name) is read in its old wire
 * type and converted (widened) into the new one; a field it lost is skipped,
 * its bytes consumed by its old layout; a field it gained keeps the zero the
 * object was allocated with. Straight-line code per version: the newest
 * version's reader is the one gen_emit.c writes, untouched.
 */
#include "gen_schema.h"
#include "output.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define VAR_SIZE ((size_t)-1)

static size_t sfield_elems(const gen_sfield *f)
{
    size_t n = 1;
    for (size_t d = 0; d < f->ndims; d++)
        n *= f->dims[d];
    return n;
}

static int is_rec_kind(gen_skind k)
{
    return k == GS_STRUCT || k == GS_COUNTED_STRUCT || k == GS_OPTIONAL;
}

/* --- sizes of an old record ------------------------------------------------------- */

/* Bytes record @p ri of @p v always takes, or VAR_SIZE. */
static size_t srec_fixed(const gen_sversion *v, size_t ri)
{
    size_t total = 0;
    const gen_srecord *r = &v->rec[ri];
    for (size_t i = 0; i < r->nf; i++) {
        const gen_sfield *f = &r->f[i];
        size_t n;
        if (f->kind == GS_COUNT)
            continue;
        if (f->kind == GS_SCALAR)
            n = gen_wire_size(f->type);
        else if (f->kind == GS_STRUCT)
            n = srec_fixed(v, (size_t)f->rec);
        else
            return VAR_SIZE;
        if (n == VAR_SIZE)
            return VAR_SIZE;
        total += n * sfield_elems(f);
    }
    return total;
}

/* The smallest encoding of record @p ri (bounds mf_r_count()). */
static size_t srec_min(const gen_sversion *v, size_t ri)
{
    size_t total = 0;
    const gen_srecord *r = &v->rec[ri];
    for (size_t i = 0; i < r->nf; i++) {
        const gen_sfield *f = &r->f[i];
        if (f->kind == GS_SCALAR)
            total += gen_wire_size(f->type) * sfield_elems(f);
        else if (f->kind == GS_STRUCT)
            total += srec_min(v, (size_t)f->rec) * sfield_elems(f);
        else if (f->kind != GS_COUNT)
            total += 1;
    }
    return total;
}

static const gen_sfield *sfield_named(const gen_srecord *r, const char *name)
{
    for (size_t i = 0; i < r->nf; i++)
        if (strcmp(r->f[i].name, name) == 0)
            return &r->f[i];
    return NULL;
}

/* --- checking ------------------------------------------------------------------------ */

static void describe(char *buf, size_t cap, const gen_sversion *v, const gen_sfield *f)
{
    const char *type = f->rec >= 0 ? v->rec[f->rec].cname : f->type ? f->type : "";
    int n = 0;
    switch (f->kind) {
    case GS_STRING: n = snprintf(buf, cap, "a string"); break;
    case GS_COUNT: n = snprintf(buf, cap, "%s, the count of an MF_COUNT array", type); break;
    case GS_OPTIONAL: n = snprintf(buf, cap, "a pointer to %s", type); break;
    case GS_COUNTED:
    case GS_COUNTED_STRUCT: n = snprintf(buf, cap, "an MF_COUNT array of %s", type); break;
    case GS_SCALAR:
    case GS_STRUCT: n = snprintf(buf, cap, "%s", type); break;
    }
    for (size_t d = 0; d < f->ndims && n > 0 && (size_t)n < cap; d++)
        n += snprintf(buf + n, cap - (size_t)n, "[%zu]", f->dims[d]);
}

typedef struct check_ctx {
    const gen_sversion *old, *now;
    int problems;
} check_ctx;

static void refuse(check_ctx *cx, const gen_srecord *nr, const gen_sfield *of,
                   const gen_sfield *nf, const char *why)
{
    char was[300], is[300];
    describe(was, sizeof was, cx->old, of);
    describe(is, sizeof is, cx->now, nf);
    errorf("gen", "field '%s' of %s: version %u stored %s, the struct now has %s: %s. "
           "Older data cannot be converted: keep the field as it was and add one with "
           "a new name, or start a new class", of->name, nr->cname, cx->old->version,
           was, is, why);
    cx->problems++;
}

static void check_records(check_ctx *cx, size_t oi, size_t ni);

static void check_field(check_ctx *cx, const gen_srecord *nr, const gen_sfield *of,
                        const gen_sfield *nf)
{
    const char *why = NULL;
    int same_kind = of->kind == nf->kind;
    if (!same_kind)
        why = (of->kind == GS_COUNT || nf->kind == GS_COUNT)
                  ? "a count field is not stored itself (it is its array's length), so "
                    "it cannot become a stored value or the other way round"
                  : "its shape changed";
    else if (of->ndims != nf->ndims ||
             memcmp(of->dims, nf->dims, of->ndims * sizeof of->dims[0]) != 0)
        why = "its array dimensions changed";
    else if (of->rec < 0 && of->kind != GS_STRING)
        why = gen_wire_convert(of->type, nf->type);
    if (why) {
        refuse(cx, nr, of, nf, why);
        return;
    }
    if (of->rec >= 0)
        check_records(cx, (size_t)of->rec, (size_t)nf->rec);
}

/* New MF_COUNT arrays sharing a count must all be stored in the old
 * version, counted there by one field: else old objects would claim
 * elements they do not have. */
static void check_counts(check_ctx *cx, const gen_srecord *or, const gen_srecord *nr)
{
    for (size_t c = 0; c < nr->nf; c++) {
        if (nr->f[c].kind != GS_COUNT)
            continue;
        const gen_sfield *stored = NULL, *added = NULL;
        const char *old_count = NULL;
        int split = 0;
        for (size_t i = 0; i < nr->nf; i++) {
            const gen_sfield *a = &nr->f[i];
            if (!a->count || strcmp(a->count, nr->f[c].name) != 0)
                continue;
            const gen_sfield *o = sfield_named(or, a->name);
            if (!o || !o->count) {
                added = added ? added : a;
                continue;
            }
            stored = stored ? stored : a;
            split |= old_count && strcmp(old_count, o->count) != 0;
            old_count = o->count;
        }
        if (stored && added) {
            errorf("gen", "field '%s' of %s: an added MF_COUNT array shares the count "
                   "'%s' with '%s', which version %u stores: its objects would claim %s "
                   "elements of '%s' that they do not have. Give '%s' its own count field",
                   added->name, nr->cname, nr->f[c].name, stored->name, cx->old->version,
                   nr->f[c].name, added->name, added->name);
            cx->problems++;
        } else if (split) {
            errorf("gen", "field '%s' of %s: the MF_COUNT arrays it counts had separate "
                   "counts in version %u, so their lengths may differ there",
                   nr->f[c].name, nr->cname, cx->old->version);
            cx->problems++;
        }
    }
}

static void check_records(check_ctx *cx, size_t oi, size_t ni)
{
    const gen_srecord *or = &cx->old->rec[oi], *nr = &cx->now->rec[ni];
    for (size_t i = 0; i < or->nf; i++) {
        const gen_sfield *nf = sfield_named(nr, or->f[i].name);
        if (nf)
            check_field(cx, nr, &or->f[i], nf);
    }
    check_counts(cx, or, nr);
}

int gen_evolve_check(const gen_history *h, const gen_sversion *now)
{
    int problems = 0;
    for (size_t i = 0; i < h->nv; i++) {
        check_ctx cx = {&h->v[i], now, 0};
        check_records(&cx, h->v[i].nrec - 1, now->nrec - 1);
        problems += cx.problems;
    }
    return problems;
}

/* --- planning one older version's reader ------------------------------------------------ */

typedef struct pair {
    size_t oi, ni;
} pair;

typedef struct plan {
    const gen_model *m;
    const gen_sversion *old;
    gen_sversion now;
    pair *pairs;
    size_t npairs;
    size_t *skips;
    size_t nskips;
} plan;

/* The new field that old field @p name becomes: a stored field of the same
 * name (an MF_SKIP or MF_OPS one does not count), or NULL. */
static const gen_field *model_field(const gen_record *r, const char *name)
{
    for (size_t i = 0; i < r->nf; i++)
        if (strcmp(r->f[i].name, name) == 0)
            return r->f[i].kind == GEN_SKIP || r->f[i].kind == GEN_OPS ? NULL : &r->f[i];
    return NULL;
}

static void plan_skip(plan *p, size_t oi)
{
    for (size_t i = 0; i < p->nskips; i++)
        if (p->skips[i] == oi)
            return;
    size_t *ns = realloc(p->skips, (p->nskips + 1) * sizeof *ns);
    if (!ns) {
        errorf("gen", "out of memory");
        exit(EXIT_USAGE);
    }
    p->skips = ns;
    p->skips[p->nskips++] = oi;
    const gen_srecord *r = &p->old->rec[oi];
    for (size_t i = 0; i < r->nf; i++)
        if (is_rec_kind(r->f[i].kind) && srec_fixed(p->old, (size_t)r->f[i].rec) == VAR_SIZE)
            plan_skip(p, (size_t)r->f[i].rec);
}

static int same_records(const plan *p, size_t oi, size_t ni)
{
    return gen_srecord_equal(p->old, oi, &p->now, ni);
}

static void plan_pair(plan *p, size_t oi, size_t ni)
{
    if (same_records(p, oi, ni))
        return;
    for (size_t i = 0; i < p->npairs; i++)
        if (p->pairs[i].oi == oi && p->pairs[i].ni == ni)
            return;
    pair *np = realloc(p->pairs, (p->npairs + 1) * sizeof *np);
    if (!np) {
        errorf("gen", "out of memory");
        exit(EXIT_USAGE);
    }
    p->pairs = np;
    p->pairs[p->npairs++] = (pair){oi, ni};
    const gen_srecord *r = &p->old->rec[oi];
    for (size_t i = 0; i < r->nf; i++) {
        const gen_sfield *of = &r->f[i];
        if (!is_rec_kind(of->kind))
            continue;
        const gen_field *nf = model_field(&p->m->rec[ni], of->name);
        if (nf)
            plan_pair(p, (size_t)of->rec, (size_t)nf->rec);
        else if (srec_fixed(p->old, (size_t)of->rec) == VAR_SIZE)
            plan_skip(p, (size_t)of->rec);
    }
}

/* The function that reads old record @p oi into new record @p ni. */
static void reader_name(char *buf, size_t cap, const plan *p, size_t oi, size_t ni)
{
    if (same_records(p, oi, ni))
        snprintf(buf, cap, "mfg_%s_in", p->m->rec[ni].id);
    else
        snprintf(buf, cap, "mfg_v%u_%s_as_%s", p->old->version, p->old->rec[oi].id,
                 p->m->rec[ni].id);
}

/* --- skipping an old field ---------------------------------------------------------------- */

static void skip_record(FILE *out, int lvl, const plan *p, size_t oi, const char *times)
{
    size_t fixed = srec_fixed(p->old, oi);
    if (fixed != VAR_SIZE) {
        gen_ind(out, lvl, "(void)mf_r_take(r, %zu * (size_t)(%s));", fixed, times);
        return;
    }
    gen_ind(out, lvl, "for (size_t k = 0; k < (size_t)(%s) && !r->err; k++)", times);
    gen_ind(out, lvl + 1, "mfg_v%u_skip_%s(r);", p->old->version, p->old->rec[oi].id);
}

static void skip_field(FILE *out, const plan *p, const gen_sfield *f)
{
    gen_ind(out, 1, "/* %s: not in the struct any more%s */", f->name,
        f->kind == GS_COUNT ? " (nor stored: its array's length)" : "");
    switch (f->kind) {
    case GS_COUNT:
        break;
    case GS_SCALAR:
        gen_ind(out, 1, "(void)mf_r_take(r, %zu);", gen_wire_size(f->type) * sfield_elems(f));
        break;
    case GS_STRUCT: {
        char times[32];
        snprintf(times, sizeof times, "%zu", sfield_elems(f));
        skip_record(out, 1, p, (size_t)f->rec, times);
        break;
    }
    case GS_STRING:
        /* Skipped, but held to the rule its own version's reader applies:
         * a string with a NUL inside is malformed. */
        gen_ind(out, 1, "if (mfg_present(r)) {");
        gen_ind(out, 2, "size_t len = mf_r_count(r, 1);");
        gen_ind(out, 2, "const void *s = mf_r_take(r, len);");
        gen_ind(out, 2, "if (s && memchr(s, '\\0', len))");
        gen_ind(out, 3, "mf_r_fail(r, MF_WIRE_MALFORMED);");
        gen_ind(out, 1, "}");
        break;
    case GS_COUNTED:
        gen_ind(out, 1, "(void)mf_r_take(r, mf_r_count(r, %zu) * %zu);", gen_wire_size(f->type),
            gen_wire_size(f->type));
        break;
    case GS_COUNTED_STRUCT:
        gen_ind(out, 1, "{");
        gen_ind(out, 2, "size_t n = mf_r_count(r, %zu);", srec_min(p->old, (size_t)f->rec));
        skip_record(out, 2, p, (size_t)f->rec, "n");
        gen_ind(out, 1, "}");
        break;
    case GS_OPTIONAL:
        gen_ind(out, 1, "if (mfg_present(r)) {");
        skip_record(out, 2, p, (size_t)f->rec, "1");
        gen_ind(out, 1, "}");
        break;
    }
}

/* --- reading an old field into the new one ------------------------------------------------- */

static void elem_expr(char *buf, size_t cap, const gen_field *nf)
{
    int n = snprintf(buf, cap, "o->%s", nf->name);
    for (size_t d = 0; d < nf->ndims && n > 0 && (size_t)n < cap; d++)
        n += snprintf(buf + n, cap - (size_t)n, "[i%zu]", d);
}

/* A scalar or struct value, or a fixed array of them. */
static void read_value(FILE *out, const plan *p, const gen_sfield *of, const gen_field *nf)
{
    if (of->kind == GS_SCALAR && nf->ndims && nf->scalar.bulk &&
        strcmp(of->type, nf->scalar.wire) == 0) {
        int n = 0;
        char first[512];
        n = snprintf(first, sizeof first, "&o->%s", nf->name);
        for (size_t d = 0; d < nf->ndims && n > 0 && (size_t)n < sizeof first; d++)
            n += snprintf(first + n, sizeof first - (size_t)n, "[0]");
        gen_ind(out, 1, "mf_r_%s_array(r, (%s *)%s, %zu);", nf->scalar.wire, nf->scalar.ctype,
            first, sfield_elems(of));
        return;
    }
    for (size_t d = 0; d < nf->ndims; d++)
        gen_ind(out, 1 + (int)d, "for (size_t i%zu = 0; i%zu < %zu && !r->err; i%zu++) {", d, d,
            nf->dims[d], d);
    int lvl = 1 + (int)nf->ndims;
    char x[512], fn[300];
    elem_expr(x, sizeof x, nf);
    if (of->kind == GS_SCALAR) {
        gen_ind(out, lvl, "%s = mf_r_%s(r);", x, of->type);
    } else {
        reader_name(fn, sizeof fn, p, (size_t)of->rec, (size_t)nf->rec);
        gen_ind(out, lvl, "%s(r, &%s);", fn, x);
    }
    for (size_t d = nf->ndims; d-- > 0;)
        gen_ind(out, 1 + (int)d, "}");
}

static void read_optional(FILE *out, const plan *p, const gen_sfield *of, const gen_field *nf)
{
    char fn[300];
    reader_name(fn, sizeof fn, p, (size_t)of->rec, (size_t)nf->rec);
    gen_ind(out, 1, "if (mfg_present(r)) {");
    gen_ind(out, 2, "o->%s = calloc(1, sizeof *o->%s);", nf->name, nf->name);
    gen_ind(out, 2, "if (!o->%s)", nf->name);
    gen_ind(out, 3, "mf_r_fail(r, MF_WIRE_NOMEM);");
    gen_ind(out, 2, "else");
    gen_ind(out, 3, "%s(r, o->%s);", fn, nf->name);
    gen_ind(out, 1, "}");
}

static void counted_elems(FILE *out, const plan *p, const gen_sfield *of, const gen_field *nf)
{
    if (of->kind == GS_COUNTED && nf->scalar.bulk && strcmp(of->type, nf->scalar.wire) == 0) {
        gen_ind(out, 3, "mf_r_%s_array(r, (%s *)o->%s, n);", nf->scalar.wire, nf->scalar.ctype,
            nf->name);
        return;
    }
    gen_ind(out, 3, "for (size_t k = 0; k < n && !r->err; k++)");
    if (of->kind == GS_COUNTED) {
        gen_ind(out, 4, "o->%s[k] = mf_r_%s(r);", nf->name, of->type);
    } else {
        char fn[300];
        reader_name(fn, sizeof fn, p, (size_t)of->rec, (size_t)nf->rec);
        gen_ind(out, 4, "%s(r, &o->%s[k]);", fn, nf->name);
    }
}

/* @p first: this is the first array of its count read in this version,
 * which sets the count; the others must agree with it. */
static void read_counted(FILE *out, const plan *p, const gen_record *nr, const gen_sfield *of,
                         const gen_field *nf, int first)
{
    const gen_field *c = &nr->f[nf->count_field];
    size_t min = of->kind == GS_COUNTED ? gen_wire_size(of->type)
                                        : srec_min(p->old, (size_t)of->rec);
    gen_ind(out, 1, "{");
    gen_ind(out, 2, "size_t n = mf_r_count(r, %zu);", min ? min : 1);
    if (c->count_max < UINT64_MAX && c->count_max < SIZE_MAX) {
        gen_ind(out, 2, "if (n > %lluu)", c->count_max);
        gen_ind(out, 3, "mf_r_fail(r, MF_WIRE_MALFORMED); /* more than %s can say */", c->name);
    }
    if (!first) {
        gen_ind(out, 2, "if ((uint64_t)n != (uint64_t)o->%s)", c->name);
        gen_ind(out, 3, "mf_r_fail(r, MF_WIRE_MALFORMED); /* %s disagrees with %s */", nf->name,
            c->name);
    }
    gen_ind(out, 2, "if (n && !r->err) {");
    gen_ind(out, 3, "o->%s = calloc(n, sizeof *o->%s);", nf->name, nf->name);
    gen_ind(out, 3, "if (!o->%s)", nf->name);
    gen_ind(out, 4, "mf_r_fail(r, MF_WIRE_NOMEM);");
    gen_ind(out, 2, "}");
    gen_ind(out, 2, "if (!r->err && n) {");
    if (first)
        gen_ind(out, 3, "o->%s = n;", c->name);
    counted_elems(out, p, of, nf);
    gen_ind(out, 2, "}");
    gen_ind(out, 1, "}");
}

static void read_field(FILE *out, const plan *p, const gen_record *nr, const gen_sfield *of,
                       const gen_field *nf, int *count_set)
{
    switch (of->kind) {
    case GS_COUNT:
        break; /* set from its array */
    case GS_SCALAR:
    case GS_STRUCT:
        read_value(out, p, of, nf);
        break;
    case GS_STRING:
        gen_ind(out, 1, "if (mfg_present(r))");
        gen_ind(out, 2, "o->%s = mf_r_str_dup(r);", nf->name);
        break;
    case GS_OPTIONAL:
        read_optional(out, p, of, nf);
        break;
    case GS_COUNTED:
    case GS_COUNTED_STRUCT: {
        int first = !count_set[nf->count_field];
        count_set[nf->count_field] = 1;
        read_counted(out, p, nr, of, nf, first);
        break;
    }
    }
}

/* --- the functions ----------------------------------------------------------------------- */

static void emit_pair(FILE *out, const plan *p, pair pr)
{
    const gen_srecord *or = &p->old->rec[pr.oi];
    const gen_record *nr = &p->m->rec[pr.ni];
    char fn[300];
    reader_name(fn, sizeof fn, p, pr.oi, pr.ni);
    fprintf(out, "/* %s as version %u stored it, into today's %s. */\n", or->cname,
            p->old->version, nr->cname);
    fprintf(out, "static void %s(mf_reader *r, %s *o)\n{\n", fn, nr->cname);
    gen_ind(out, 1, "(void)r;");
    gen_ind(out, 1, "(void)o;");
    int *count_set = calloc(nr->nf + 1, sizeof *count_set);
    if (!count_set) {
        errorf("gen", "out of memory");
        exit(EXIT_USAGE);
    }
    for (size_t i = 0; i < or->nf; i++) {
        const gen_field *nf = model_field(nr, or->f[i].name);
        if (nf)
            read_field(out, p, nr, &or->f[i], nf, count_set);
        else
            skip_field(out, p, &or->f[i]);
    }
    free(count_set);
    fputs("}\n\n", out);
}

static void emit_skip(FILE *out, const plan *p, size_t oi)
{
    fprintf(out, "/* Consume %s as version %u stored it. */\n", p->old->rec[oi].cname,
            p->old->version);
    fprintf(out, "static void mfg_v%u_skip_%s(mf_reader *r)\n{\n", p->old->version,
            p->old->rec[oi].id);
    for (size_t i = 0; i < p->old->rec[oi].nf; i++)
        skip_field(out, p, &p->old->rec[oi].f[i]);
    fputs("}\n\n", out);
}

static void emit_version(FILE *out, const gen_model *m, const gen_sversion *old)
{
    plan p = {m, old, {0, NULL, 0}, NULL, 0, NULL, 0};
    gen_schema_from_model(&p.now, m, 0);
    plan_pair(&p, old->nrec - 1, m->nrec - 1);
    fprintf(out, "/* ---- reading version %u ---- */\n\n", old->version);
    for (size_t i = 0; i < p.nskips; i++)
        fprintf(out, "static void mfg_v%u_skip_%s(mf_reader *r);\n", old->version,
                old->rec[p.skips[i]].id);
    for (size_t i = 0; i < p.npairs; i++) {
        char fn[300];
        reader_name(fn, sizeof fn, &p, p.pairs[i].oi, p.pairs[i].ni);
        fprintf(out, "static void %s(mf_reader *r, %s *o);\n", fn, m->rec[p.pairs[i].ni].cname);
    }
    fputc('\n', out);
    for (size_t i = 0; i < p.nskips; i++)
        emit_skip(out, &p, p.skips[i]);
    for (size_t i = 0; i < p.npairs; i++)
        emit_pair(out, &p, p.pairs[i]);
    free(p.pairs);
    free(p.skips);
    gen_sversion_free(&p.now);
}

void gen_evolve_emit_readers(FILE *out, const gen_model *m, const gen_target *t)
{
    if (!t->hist || t->hist->nv < 2)
        return;
    const gen_record *top = &m->rec[m->nrec - 1];
    for (size_t i = 0; i + 1 < t->hist->nv; i++)
        emit_version(out, m, &t->hist->v[i]);
    fprintf(out,
            "/* Data of an older version, read by field name (%s.schema lists them):\n"
            " * added fields stay zero, removed ones are skipped, widened ones\n"
            " * converted. */\n"
            "static void mfg_in_older(mf_reader *r, %s *o, uint32_t version)\n{\n"
            "    switch (version) {\n",
            t->id, top->cname);
    for (size_t i = 0; i + 1 < t->hist->nv; i++) {
        const gen_sversion *v = &t->hist->v[i];
        plan p = {m, v, {0, NULL, 0}, NULL, 0, NULL, 0};
        gen_schema_from_model(&p.now, m, 0);
        char fn[300];
        reader_name(fn, sizeof fn, &p, v->nrec - 1, m->nrec - 1);
        gen_sversion_free(&p.now);
        fprintf(out, "    case %u:\n        %s(r, o);\n        break;\n", v->version, fn);
    }
    fputs("    default:\n"
          "        mf_r_fail(r, MF_WIRE_CODEC);\n"
          "    }\n"
          "}\n\n",
          out);
}

void gen_evolve_emit_dispatch(FILE *out, const gen_model *m, const gen_target *t)
{
    const char *id = m->rec[m->nrec - 1].id;
    if (!t->hist || t->hist->nv < 2) {
        fprintf(out, "    mfg_%s_in(r, o);\n", id);
        return;
    }
    fprintf(out,
            "    if (version == MFG_VERSION)\n"
            "        mfg_%s_in(r, o);\n"
            "    else\n"
            "        mfg_in_older(r, o, version);\n",
            id);
}

void gen_evolve_emit_readme(FILE *out, const gen_target *t)
{
    unsigned v = t->version ? t->version : 1;
    fprintf(out,
            "\n## Versions: `%s.schema`\n\n"
            "This codec writes version %u of class `%s` and reads versions 1 to %u.\n"
            "`%s.schema` is the struct's schema history: its stored fields at each\n"
            "version, oldest first. Keep it beside the header, in version control:\n"
            "it is what lets the next `mapf gen` read this version's data.\n\n"
            "When the struct changes, run `mapf gen` again. It adds a version and\n"
            "bumps the class version; the new codec reads every older version by\n"
            "field name, as ROOT's StreamerInfo does:\n\n"
            "- a field added since gets zero (NULL, empty, absent);\n"
            "- a field removed is skipped (nested structs, strings and arrays too);\n"
            "- a widened number is converted: a wider integer of the same sign,\n"
            "  unsigned to a wider signed one, float to double, an integer of up to\n"
            "  32 bits to double (16 to float); in fixed and MF_COUNT arrays too;\n"
            "- fields may move, and nested structs evolve by the same rules.\n\n"
            "A change that older data cannot be converted to (narrowing, signed to\n"
            "unsigned, floating-point to integer, a number to a string, other array\n"
            "dimensions, a struct to a scalar or a pointer, an added MF_COUNT array\n"
            "sharing a stored one's count) is refused: `mapf gen` exits 1 naming\n"
            "the field and why, and writes nothing. MF_SKIP and MF_OPS fields, and\n"
            "another spelling of the same wire type (`int` for `int32_t`), are no\n"
            "change. A codec given data newer than itself refuses it: `mf_get`\n"
            "returns MF_ECLASSVERSION naming the class and both versions, so update\n"
            "consumers before, or with, their producers.\n",
            t->id, v, t->cls, v, t->id);
}
