/*
 * gen_model.c - read a C header with libclang and describe one struct for
 * `mapf gen` (gen_model.h): every field's kind, wire type, dimensions,
 * count field and nested records. A field that cannot be streamed is an
 * error naming the field, its type and why; nothing is dropped silently.
 */
#include "gen_model.h"
#include "output.h"

#include <clang-c/Index.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Parsing state: the model being built and the records being visited (a
 * struct that contains itself is refused: hostile payloads could nest it
 * without bound). */
typedef struct gen_ctx {
    gen_model *m;
    CXCursor *decl; /* declaration of m->rec[i] */
    CXCursor visiting[64];
    size_t nvisiting;
} gen_ctx;

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) {
        errorf("gen", "out of memory");
        exit(EXIT_USAGE);
    }
    return d;
}

static char *cx_take(CXString s)
{
    char *d = xstrdup(clang_getCString(s));
    clang_disposeString(s);
    return d;
}

/* "FILE:LINE" of a cursor, for messages. */
static void cursor_where(CXCursor c, char *buf, size_t cap)
{
    CXFile file;
    unsigned line, col, off;
    clang_getSpellingLocation(clang_getCursorLocation(c), &file, &line, &col, &off);
    CXString fn = clang_getFileName(file);
    snprintf(buf, cap, "%s:%u", clang_getCString(fn) ? clang_getCString(fn) : "?", line);
    clang_disposeString(fn);
}

/* Report a field that cannot be streamed. */
static void field_error(gen_ctx *cx, CXCursor field, const char *rec, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void field_error(gen_ctx *cx, CXCursor field, const char *rec, const char *fmt, ...)
{
    char where[512], why[512];
    cursor_where(field, where, sizeof where);
    char *name = cx_take(clang_getCursorSpelling(field));
    char *type = cx_take(clang_getTypeSpelling(clang_getCursorType(field)));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    errorf("gen", "%s: field '%s' of %s, type '%s': %s", where,
           *name ? name : "(anonymous)", rec, type, why);
    free(name);
    free(type);
    cx->m->nerrors++;
}

/* --- scalars --------------------------------------------------------------- */

static gen_scalar int_scalar(size_t size, int is_signed)
{
    static const char *const uw[] = {"u8", "u16", "u32", "u64"};
    static const char *const iw[] = {"i8", "i16", "i32", "i64"};
    static const char *const ut[] = {"uint8_t", "uint16_t", "uint32_t", "uint64_t"};
    static const char *const it[] = {"int8_t", "int16_t", "int32_t", "int64_t"};
    int k = size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : 3;
    gen_scalar s = {is_signed ? iw[k] : uw[k], is_signed ? it[k] : ut[k], size,
                    is_signed, 0, 0, 0};
    return s;
}

/* The wire type of canonical scalar type @p t, or 0 when it is none. A
 * bulk array call may be used when the C type is exactly the SDK's
 * (int32_t is int, int64_t is long on the LP64 targets mapfile runs on;
 * long long or an enum go element by element). */
static int scalar_of(CXType t, gen_scalar *out)
{
    long long size = clang_Type_getSizeOf(t);
    switch (t.kind) {
    case CXType_Bool:
        *out = (gen_scalar){"bool", "bool", 1, 0, 0, 1, 1};
        return 1;
    case CXType_Char_S: case CXType_SChar:
        *out = int_scalar(1, 1);
        out->bulk = 1;
        return 1;
    case CXType_Char_U: case CXType_UChar:
        *out = int_scalar(1, 0);
        out->bulk = 1;
        return 1;
    case CXType_Short: case CXType_Int: case CXType_Long: case CXType_LongLong:
    case CXType_UShort: case CXType_UInt: case CXType_ULong: case CXType_ULongLong: {
        if (size != 2 && size != 4 && size != 8)
            return 0;
        int is_signed = t.kind == CXType_Short || t.kind == CXType_Int ||
                        t.kind == CXType_Long || t.kind == CXType_LongLong;
        *out = int_scalar((size_t)size, is_signed);
        out->bulk = !(t.kind == CXType_LongLong || t.kind == CXType_ULongLong) ||
                    sizeof(long) != 8;
        return 1;
    }
    case CXType_Float:
        *out = (gen_scalar){"f32", "float", 4, 1, 1, 0, 1};
        return 1;
    case CXType_Double:
        *out = (gen_scalar){"f64", "double", 8, 1, 1, 0, 1};
        return 1;
    case CXType_Enum: {
        CXType it = clang_getCanonicalType(
            clang_getEnumDeclIntegerType(clang_getTypeDeclaration(t)));
        if (!scalar_of(it, out))
            return 0;
        out->bulk = 0; /* an enum array is not an array of its integer type */
        return 1;
    }
    default:
        return 0;
    }
}

static unsigned long long scalar_max(const gen_scalar *s)
{
    unsigned bits = (unsigned)s->size * 8 - (s->is_signed ? 1 : 0);
    return bits >= 64 ? UINT64_MAX : (1ULL << bits) - 1;
}

/* --- records ---------------------------------------------------------------- */

static int add_record(gen_ctx *cx, CXCursor decl, const char *cname);

/* The C spelling of the struct that type @p t (as written) names: "struct
 * TAG", or its typedef name for an untagged struct; NULL if it has none. */
static char *record_cname(CXType t)
{
    CXCursor decl = clang_getTypeDeclaration(clang_getCanonicalType(t));
    char *tag = cx_take(clang_getCursorSpelling(decl));
    if (*tag && !clang_Cursor_isAnonymous(decl) && !strchr(tag, ' ')) {
        size_t n = strlen(tag) + 8;
        char *s = malloc(n);
        if (!s)
            return NULL;
        snprintf(s, n, "struct %s", tag);
        free(tag);
        return s;
    }
    free(tag);
    while (t.kind == CXType_Elaborated)
        t = clang_Type_getNamedType(t);
    if (t.kind == CXType_Typedef)
        return cx_take(clang_getTypedefName(t));
    return NULL;
}

/* Register the struct type @p t used by a field; returns its record index
 * or -1 after reporting why it cannot be. */
static int field_record(gen_ctx *cx, CXCursor field, const char *rec, CXType t)
{
    CXType canon = clang_getCanonicalType(t);
    CXCursor decl = clang_getCursorDefinition(clang_getTypeDeclaration(canon));
    if (clang_Cursor_isNull(decl)) {
        field_error(cx, field, rec, "the struct is only declared, never defined in this header");
        return -1;
    }
    if (clang_getCursorKind(decl) == CXCursor_UnionDecl) {
        field_error(cx, field, rec, "a union cannot be streamed: mapf gen cannot tell "
                    "which member is live (use a struct, or mark the field MF_SKIP)");
        return -1;
    }
    char *cname = record_cname(t);
    if (!cname) {
        field_error(cx, field, rec, "an anonymous struct has no name the codec can "
                    "use: give it a tag or a typedef");
        return -1;
    }
    int idx = add_record(cx, decl, cname);
    free(cname);
    if (idx == -2)
        field_error(cx, field, rec, "the struct contains itself: recursive structs are "
                    "not supported (a payload could nest them without bound)");
    return idx < 0 ? -1 : idx;
}

/* --- one field -------------------------------------------------------------- */

typedef struct field_notes {
    int skip, ops;
    char *count; /* MF_COUNT's field name, or NULL */
} field_notes;

static enum CXChildVisitResult note_visit(CXCursor c, CXCursor parent, CXClientData d)
{
    (void)parent;
    field_notes *n = d;
    if (clang_getCursorKind(c) != CXCursor_AnnotateAttr)
        return CXChildVisit_Continue;
    char *a = cx_take(clang_getCursorSpelling(c));
    if (strcmp(a, "mf_skip") == 0)
        n->skip = 1;
    else if (strcmp(a, "mf_ops") == 0)
        n->ops = 1;
    else if (strncmp(a, "mf_count:", 9) == 0 && !n->count)
        n->count = xstrdup(a + 9);
    free(a);
    return CXChildVisit_Continue;
}

/* A pointer field: string, counted array, optional struct or an error. */
static int classify_pointer(gen_ctx *cx, CXCursor c, const char *rec, CXType t,
                            const field_notes *notes, gen_field *f)
{
    CXType pointee = clang_getPointeeType(clang_getCanonicalType(t));
    CXType pc = clang_getCanonicalType(pointee);
    CXType written = clang_getPointeeType(t);
    if (pc.kind == CXType_Void) {
        field_error(cx, c, rec, "void * cannot be streamed: its type and size are "
                    "unknown (use a typed pointer with MF_COUNT(n), or MF_SKIP)");
        return -1;
    }
    if (pc.kind == CXType_FunctionProto || pc.kind == CXType_FunctionNoProto) {
        field_error(cx, c, rec, "a function pointer is never streamed: group it in "
                    "an ops table marked MF_OPS, or mark it MF_SKIP");
        return -1;
    }
    if (pc.kind == CXType_Pointer) {
        field_error(cx, c, rec, "a pointer to a pointer cannot be streamed");
        return -1;
    }
    if (notes->count) {
        f->kind = GEN_COUNTED;
        if (clang_isConstQualifiedType(pointee)) {
            field_error(cx, c, rec, "MF_COUNT needs a pointer to non-const elements "
                        "(the decoded object owns them)");
            return -1;
        }
        if (pc.kind == CXType_Record) {
            f->rec = field_record(cx, c, rec, written);
            return f->rec < 0 ? -1 : 0;
        }
        if (!scalar_of(pc, &f->scalar)) {
            field_error(cx, c, rec, "MF_COUNT elements must be scalars or structs");
            return -1;
        }
        return 0;
    }
    if (pc.kind == CXType_Char_S || pc.kind == CXType_Char_U) {
        f->kind = GEN_STRING;
        return 0;
    }
    if (pc.kind == CXType_Record) {
        f->kind = GEN_OPTIONAL;
        if (clang_isConstQualifiedType(pointee)) {
            field_error(cx, c, rec, "an optional struct must be non-const (the "
                        "decoded object owns it)");
            return -1;
        }
        f->rec = field_record(cx, c, rec, written);
        return f->rec < 0 ? -1 : 0;
    }
    field_error(cx, c, rec, "a pointer without MF_COUNT(n): mapf gen cannot tell how "
                "many elements it points to (mark it MF_COUNT(field) or MF_SKIP)");
    return -1;
}

/* Fill @p f from field cursor @p c; returns 0 or -1 (reported). */
static int classify_field(gen_ctx *cx, CXCursor c, const char *rec, gen_field *f)
{
    field_notes notes = {0, 0, NULL};
    clang_visitChildren(c, note_visit, &notes);
    CXType t = clang_getCursorType(c);
    f->rec = -1;
    f->count_field = -1;
    int rc = 0;
    if (notes.skip) {
        f->kind = GEN_SKIP;
    } else if (clang_Cursor_isBitField(c)) {
        field_error(cx, c, rec, "a bitfield has no address the codec can read or "
                    "write (use a whole integer, or mark it MF_SKIP)");
        rc = -1;
    } else if (notes.ops) {
        f->kind = GEN_OPS;
        if (clang_getCanonicalType(t).kind != CXType_Pointer) {
            field_error(cx, c, rec, "MF_OPS marks a pointer to a function table or a "
                        "function pointer");
            rc = -1;
        }
    } else if (clang_isConstQualifiedType(t)) {
        field_error(cx, c, rec, "a const field cannot be filled by stream_in");
        rc = -1;
    } else {
        CXType e = t;
        while (clang_getCanonicalType(e).kind == CXType_ConstantArray) {
            if (f->ndims == GEN_MAX_DIMS) {
                field_error(cx, c, rec, "more than %d array dimensions", GEN_MAX_DIMS);
                free(notes.count);
                return -1;
            }
            f->dims[f->ndims++] = (size_t)clang_getArraySize(clang_getCanonicalType(e));
            /* keep the sugar (typedef names) where the array is written out */
            e = clang_getArrayElementType(e.kind == CXType_ConstantArray
                                              ? e : clang_getCanonicalType(e));
        }
        CXType ec = clang_getCanonicalType(e);
        if (notes.count && (ec.kind != CXType_Pointer || f->ndims)) {
            field_error(cx, c, rec, "MF_COUNT marks a pointer field");
            rc = -1;
        } else if (ec.kind == CXType_IncompleteArray) {
            field_error(cx, c, rec, "a flexible array member has no size the codec can "
                        "know (use a pointer marked MF_COUNT(n))");
            rc = -1;
        } else if (ec.kind == CXType_VariableArray || ec.kind == CXType_DependentSizedArray) {
            field_error(cx, c, rec, "a variable-length array cannot be a member");
            rc = -1;
        } else if (ec.kind == CXType_Pointer) {
            if (f->ndims) {
                field_error(cx, c, rec, "an array of pointers cannot be streamed (use an "
                            "array of structs)");
                rc = -1;
            } else {
                rc = classify_pointer(cx, c, rec, t, &notes, f);
            }
        } else if (ec.kind == CXType_Record) {
            f->kind = GEN_STRUCT;
            f->rec = field_record(cx, c, rec, e);
            rc = f->rec < 0 ? -1 : 0;
        } else if (scalar_of(ec, &f->scalar)) {
            f->kind = GEN_SCALAR;
        } else {
            char *ts = cx_take(clang_getTypeSpelling(ec));
            field_error(cx, c, rec, "type '%s' has no wire form (supported: integers of "
                        "8 to 64 bits, enums, bool, float, double)", ts);
            free(ts);
            rc = -1;
        }
    }
    if (rc == 0 && notes.count)
        f->count_field = -2; /* resolved once every field is known */
    f->name = cx_take(clang_getCursorSpelling(c));
    if (rc == 0 && f->kind == GEN_COUNTED) {
        free(f->type);
        f->type = notes.count; /* kept until resolve_counts(); see there */
        notes.count = NULL;
    }
    free(notes.count);
    return rc;
}

/* --- a struct's fields ---------------------------------------------------------- */

typedef struct rec_visit {
    gen_ctx *cx;
    gen_record *r;
    CXCursor *cursors;
    size_t cap;
} rec_visit;

static enum CXChildVisitResult field_visit(CXCursor c, CXCursor parent, CXClientData d)
{
    (void)parent;
    rec_visit *v = d;
    if (clang_getCursorKind(c) != CXCursor_FieldDecl)
        return CXChildVisit_Continue;
    if (v->r->nf == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        gen_field *nf = realloc(v->r->f, cap * sizeof *nf);
        CXCursor *nc = realloc(v->cursors, cap * sizeof *nc);
        if (!nf || !nc) {
            errorf("gen", "out of memory");
            exit(EXIT_USAGE);
        }
        v->r->f = nf;
        v->cursors = nc;
        v->cap = cap;
    }
    gen_field *f = &v->r->f[v->r->nf];
    memset(f, 0, sizeof *f);
    v->cursors[v->r->nf++] = c;
    if (classify_field(v->cx, c, v->r->cname, f) != 0)
        f->kind = GEN_SKIP; /* reported; the model is not used */
    return CXChildVisit_Continue;
}

/* Point every MF_COUNT field at its count field (type temporarily holds
 * the count's name), then set each field's written type. */
static void resolve_counts(gen_ctx *cx, gen_record *r, CXCursor *cursors)
{
    for (size_t i = 0; i < r->nf; i++) {
        gen_field *f = &r->f[i];
        char *count = f->kind == GEN_COUNTED ? f->type : NULL;
        f->type = cx_take(clang_getTypeSpelling(clang_getCursorType(cursors[i])));
        if (!count)
            continue;
        for (size_t k = 0; k < r->nf; k++)
            if (strcmp(r->f[k].name, count) == 0)
                f->count_field = (int)k;
        gen_field *n = f->count_field >= 0 ? &r->f[f->count_field] : NULL;
        if (!n) {
            field_error(cx, cursors[i], r->cname, "MF_COUNT(%s) names no field of %s",
                        count, r->cname);
        } else if (n->kind != GEN_SCALAR || n->ndims || n->scalar.is_float ||
                   n->scalar.is_bool) {
            field_error(cx, cursors[i], r->cname, "MF_COUNT(%s): the count must be an "
                        "integer field, not an array, float, bool or skipped field", count);
        } else {
            f->count_first = !n->is_count;
            n->is_count = 1;
            n->count_max = scalar_max(&n->scalar);
        }
        free(count);
    }
}

static size_t field_min_bytes(const gen_model *m, const gen_field *f)
{
    size_t n = 1;
    for (size_t d = 0; d < f->ndims; d++)
        n *= f->dims[d];
    switch (f->kind) {
    case GEN_SCALAR: return f->is_count ? 0 : n * f->scalar.size;
    case GEN_STRUCT: return n * m->rec[f->rec].min_bytes;
    case GEN_STRING: case GEN_COUNTED: case GEN_OPTIONAL: return 1;
    default: return 0;
    }
}

static void record_summary(gen_model *m, gen_record *r)
{
    for (size_t i = 0; i < r->nf; i++) {
        const gen_field *f = &r->f[i];
        r->min_bytes += field_min_bytes(m, f);
        if (f->kind == GEN_STRING || f->kind == GEN_COUNTED || f->kind == GEN_OPTIONAL ||
            (f->kind == GEN_STRUCT && m->rec[f->rec].has_owned))
            r->has_owned = 1;
    }
}

static char *make_id(const char *cname)
{
    const char *s = strncmp(cname, "struct ", 7) == 0 ? cname + 7 : cname;
    char *id = xstrdup(s);
    for (char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '_'))
            *p = '_';
    return id;
}

/* Returns the record index of @p decl (adding it and, first, the records
 * it contains), or -2 when it contains itself. */
static int add_record(gen_ctx *cx, CXCursor decl, const char *cname)
{
    gen_model *m = cx->m;
    for (size_t i = 0; i < m->nrec; i++)
        if (clang_equalCursors(cx->decl[i], decl))
            return (int)i;
    for (size_t i = 0; i < cx->nvisiting; i++)
        if (clang_equalCursors(cx->visiting[i], decl))
            return -2;
    if (cx->nvisiting == sizeof cx->visiting / sizeof cx->visiting[0])
        return -2;
    cx->visiting[cx->nvisiting++] = decl;
    gen_record r = {xstrdup(cname), make_id(cname), NULL, 0, 0, 0};
    rec_visit v = {cx, &r, NULL, 0};
    clang_visitChildren(decl, field_visit, &v);
    resolve_counts(cx, &r, v.cursors);
    free(v.cursors);
    cx->nvisiting--;
    gen_record *nr = realloc(m->rec, (m->nrec + 1) * sizeof *nr);
    CXCursor *nd = realloc(cx->decl, (m->nrec + 1) * sizeof *nd);
    if (!nr || !nd) {
        errorf("gen", "out of memory");
        exit(EXIT_USAGE);
    }
    m->rec = nr;
    cx->decl = nd;
    record_summary(m, &r);
    m->rec[m->nrec] = r;
    cx->decl[m->nrec] = decl;
    return (int)m->nrec++;
}

/* --- the header ----------------------------------------------------------------- */

typedef struct find_ctx {
    const char *name;
    CXCursor found;
    char *cname;
    int is_union;
} find_ctx;

static enum CXChildVisitResult find_visit(CXCursor c, CXCursor parent, CXClientData d)
{
    (void)parent;
    find_ctx *fc = d;
    enum CXCursorKind k = clang_getCursorKind(c);
    char *sp = cx_take(clang_getCursorSpelling(c));
    int match = strcmp(sp, fc->name) == 0;
    free(sp);
    if (!match)
        return CXChildVisit_Continue;
    if ((k == CXCursor_StructDecl || k == CXCursor_UnionDecl) && clang_isCursorDefinition(c)) {
        fc->found = c;
        fc->is_union = k == CXCursor_UnionDecl;
        free(fc->cname);
        size_t n = strlen(fc->name) + 8;
        fc->cname = malloc(n);
        if (fc->cname)
            snprintf(fc->cname, n, "struct %s", fc->name);
        return CXChildVisit_Break;
    }
    if (k == CXCursor_TypedefDecl) {
        CXType u = clang_getCanonicalType(clang_getTypedefDeclUnderlyingType(c));
        CXCursor decl = clang_getCursorDefinition(clang_getTypeDeclaration(u));
        if (u.kind == CXType_Record && !clang_Cursor_isNull(decl)) {
            fc->found = decl;
            fc->is_union = clang_getCursorKind(decl) == CXCursor_UnionDecl;
            free(fc->cname);
            fc->cname = xstrdup(fc->name);
        }
    }
    return CXChildVisit_Continue;
}

/* Print the header's errors; returns how many there were. */
static int report_diagnostics(CXTranslationUnit tu)
{
    int nerr = 0;
    for (unsigned i = 0; i < clang_getNumDiagnostics(tu); i++) {
        CXDiagnostic d = clang_getDiagnostic(tu, i);
        if (clang_getDiagnosticSeverity(d) >= CXDiagnostic_Error) {
            CXString s = clang_formatDiagnostic(d, clang_defaultDiagnosticDisplayOptions());
            errorf("gen", "%s", clang_getCString(s));
            clang_disposeString(s);
            nerr++;
        }
        clang_disposeDiagnostic(d);
    }
    return nerr;
}

int gen_model_build(gen_model *m, const char *header, const char *name,
                    const char *const *extra_args, int nextra)
{
    memset(m, 0, sizeof *m);
    const char *args[32] = {"-x", "c", "-std=c11", "-D_GNU_SOURCE"};
    int nargs = 4;
    for (int i = 0; i < nextra && nargs < 32; i++)
        args[nargs++] = extra_args[i];
    CXIndex idx = clang_createIndex(0, 0);
    CXTranslationUnit tu = NULL;
    enum CXErrorCode ec = clang_parseTranslationUnit2(
        idx, header, args, nargs, NULL, 0, CXTranslationUnit_SkipFunctionBodies, &tu);
    int rc = EXIT_OK;
    if (ec != CXError_Success || !tu) {
        errorf("gen", "%s: libclang cannot parse it (error %d): is it a readable C "
               "header?", header, (int)ec);
        rc = EXIT_USAGE;
    } else if (report_diagnostics(tu) > 0) {
        errorf("gen", "%s: the header does not compile (errors above); fix it, or "
               "name the folders of the headers it includes in CPATH",
               header);
        rc = EXIT_USAGE;
    } else {
        find_ctx fc = {name, clang_getNullCursor(), NULL, 0};
        clang_visitChildren(clang_getTranslationUnitCursor(tu), find_visit, &fc);
        if (clang_Cursor_isNull(fc.found)) {
            errorf("gen", "%s: no struct named '%s' (a struct tag or a typedef of a "
                   "struct) is defined there", header, name);
            rc = EXIT_USAGE;
        } else if (fc.is_union) {
            errorf("gen", "%s: '%s' is a union: a codec can only be generated for a "
                   "struct", header, name);
            m->nerrors++;
        } else {
            gen_ctx cx = {m, NULL, {{0}}, 0};
            if (add_record(&cx, fc.found, fc.cname) < 0)
                m->nerrors++;
            free(cx.decl);
        }
        free(fc.cname);
    }
    if (tu)
        clang_disposeTranslationUnit(tu);
    clang_disposeIndex(idx);
    return rc;
}

void gen_model_free(gen_model *m)
{
    for (size_t i = 0; i < m->nrec; i++) {
        for (size_t k = 0; k < m->rec[i].nf; k++) {
            free(m->rec[i].f[k].name);
            free(m->rec[i].f[k].type);
        }
        free(m->rec[i].f);
        free(m->rec[i].cname);
        free(m->rec[i].id);
    }
    free(m->rec);
    memset(m, 0, sizeof *m);
}
