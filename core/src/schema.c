/*
 * schema.c - wire schemas (mapfile/schema.h): the parser, which treats the
 * bytes as hostile, and the interpreter, which decodes a payload by schema
 * into the JSON the generated codec's to_json writes.
 *
 * Decoding is two passes: the payload is first read into a tree of slots
 * (one per field of each struct instance: offsets into the payload, counts,
 * children), then written as JSON. Two passes because a count field's
 * value is written where it is declared, which may be before the array
 * whose length sets it.
 */
#include "internal.h"

#include <mapfile/schema.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum { K_VALUE = 1, K_STRING = 2, K_COUNTED = 3, K_OPTIONAL = 4, K_COUNT = 5 };
enum { E_REC = 0, E_U8 = 1, E_I8, E_U16, E_I16, E_U32, E_I32, E_U64, E_I64,
       E_F32, E_F64, E_BOOL };

#define SC_MAX_DIMS 8
#define SC_NAME_MAX 127

typedef struct sc_field {
    const unsigned char *name; /* inside the schema bytes */
    size_t name_len;
    int kind, elem;
    size_t rec;                /* elem E_REC: the record */
    size_t nelems;             /* K_VALUE: elements of the fixed array */
    size_t ndims, dims[SC_MAX_DIMS];
    size_t count;              /* K_COUNTED: index of its count field */
    int count_first;           /* K_COUNTED: the first array of that count */
} sc_field;

typedef struct sc_rec {
    sc_field *f;
    size_t nf;
    size_t min_bytes; /* smallest encoding, as the generator computes it */
} sc_rec;

typedef struct sc_schema {
    sc_rec rec[MF_SCHEMA_MAX_RECORDS];
    size_t nrec;
} sc_schema;

/* ------------------------------------------------------------------------ */
/* Parsing                                                                  */
/* ------------------------------------------------------------------------ */

static size_t scalar_size(int e)
{
    static const size_t sizes[] = {0, 1, 1, 2, 2, 4, 4, 8, 8, 4, 8, 1};
    return e >= E_U8 && e <= E_BOOL ? sizes[e] : 0;
}

static int is_integer(int e) { return e >= E_U8 && e <= E_I64; }
static int is_signed(int e) { return e == E_I8 || e == E_I16 || e == E_I32 || e == E_I64; }

static size_t sat_add(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }
static size_t sat_mul(size_t a, size_t b)
{
    return a && b > SIZE_MAX / a ? SIZE_MAX : a * b;
}

static int bad(const mf_reader *r, const char *what, size_t rec, size_t field)
{
    return mf__fail(MF_ECORRUPT, "schema: %s (record %zu, field %zu, byte %zu)", what,
                    rec, field, r->pos);
}

static int name_ok(const unsigned char *s, size_t n)
{
    if (n == 0 || n > SC_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return 0;
    }
    return 1;
}

/* A record index that refers to an earlier record (so no cycles). */
static int parse_rec_ref(mf_reader *r, size_t self, sc_field *f, size_t fi)
{
    uint64_t v = mf_r_varint(r);
    if (r->err)
        return bad(r, "truncated record reference", self, fi);
    if (v >= self)
        return bad(r, "a struct refers to itself or a later record", self, fi);
    f->rec = (size_t)v;
    return 0;
}

static int parse_elem(mf_reader *r, size_t self, sc_field *f, size_t fi)
{
    f->elem = mf_r_u8(r);
    if (r->err)
        return bad(r, "truncated element type", self, fi);
    if (f->elem == E_REC)
        return parse_rec_ref(r, self, f, fi);
    if (f->elem > E_BOOL)
        return bad(r, "unknown element type", self, fi);
    return 0;
}

static int parse_dims(mf_reader *r, size_t self, sc_field *f, size_t fi)
{
    f->ndims = mf_r_u8(r);
    if (r->err || f->ndims > SC_MAX_DIMS)
        return bad(r, r->err ? "truncated dimensions" : "more than 8 dimensions", self, fi);
    f->nelems = 1;
    for (size_t d = 0; d < f->ndims; d++) {
        uint64_t v = mf_r_varint(r);
        if (r->err || v == 0 || v > MF_SCHEMA_MAX_ELEMS)
            return bad(r, r->err ? "truncated dimension" : "a dimension is 0 or too large",
                       self, fi);
        f->dims[d] = (size_t)v;
        f->nelems = sat_mul(f->nelems, (size_t)v);
        if (f->nelems > MF_SCHEMA_MAX_ELEMS)
            return bad(r, "a fixed array has too many elements", self, fi);
    }
    return 0;
}

static int parse_field(mf_reader *r, size_t self, sc_field *f, size_t fi)
{
    uint64_t len = mf_r_varint(r);
    const unsigned char *name = r->err || len > SC_NAME_MAX ? NULL : mf_r_take(r, (size_t)len);
    if (!name || !name_ok(name, (size_t)len))
        return bad(r, "bad field name (1 to 127 bytes of [A-Za-z_][A-Za-z0-9_]*)", self, fi);
    f->name = name;
    f->name_len = (size_t)len;
    f->kind = mf_r_u8(r);
    if (r->err)
        return bad(r, "truncated field kind", self, fi);
    f->nelems = 1;
    switch (f->kind) {
    case K_VALUE: {
        int rc = parse_elem(r, self, f, fi);
        return rc ? rc : parse_dims(r, self, f, fi);
    }
    case K_STRING:
        return 0;
    case K_COUNTED: {
        int rc = parse_elem(r, self, f, fi);
        if (rc)
            return rc;
        uint64_t c = mf_r_varint(r);
        if (r->err || c >= MF_SCHEMA_MAX_FIELDS)
            return bad(r, "bad count field index", self, fi);
        f->count = (size_t)c;
        return 0;
    }
    case K_OPTIONAL:
        f->elem = E_REC;
        return parse_rec_ref(r, self, f, fi);
    case K_COUNT:
        f->elem = mf_r_u8(r);
        if (r->err || !is_integer(f->elem))
            return bad(r, "a count field must have an integer type", self, fi);
        return 0;
    default:
        return bad(r, "unknown field kind", self, fi);
    }
}

/* Counts: each counted field names a count field of its record, every
 * count field is named, and the first naming one sets it. Also the
 * record's smallest encoding and the elements its fixed arrays expand to. */
static int link_record(mf_reader *r, sc_schema *s, size_t self)
{
    sc_rec *rec = &s->rec[self];
    size_t elems = 0;
    for (size_t i = 0; i < rec->nf; i++) {
        sc_field *f = &rec->f[i];
        size_t per = f->elem == E_REC ? s->rec[f->rec].min_bytes : scalar_size(f->elem);
        switch (f->kind) {
        case K_VALUE:
            rec->min_bytes = sat_add(rec->min_bytes, sat_mul(f->nelems, per));
            elems = sat_add(elems, f->nelems);
            break;
        case K_COUNTED: {
            if (f->count >= rec->nf || rec->f[f->count].kind != K_COUNT)
                return bad(r, "a counted field's count is not a count field", self, i);
            f->count_first = 1;
            for (size_t k = 0; k < i; k++)
                if (rec->f[k].kind == K_COUNTED && rec->f[k].count == f->count)
                    f->count_first = 0;
            rec->min_bytes = sat_add(rec->min_bytes, 1);
            break;
        }
        case K_STRING:
        case K_OPTIONAL:
            rec->min_bytes = sat_add(rec->min_bytes, 1);
            break;
        default:
            break;
        }
        if (elems > MF_SCHEMA_MAX_ELEMS)
            return bad(r, "the fixed arrays of a record have too many elements", self, i);
    }
    for (size_t i = 0; i < rec->nf; i++) {
        if (rec->f[i].kind != K_COUNT)
            continue;
        int used = 0;
        for (size_t k = 0; k < rec->nf && !used; k++)
            used = rec->f[k].kind == K_COUNTED && rec->f[k].count == i;
        if (!used)
            return bad(r, "a count field sizes no array", self, i);
    }
    return 0;
}

static void sc_free(sc_schema *s)
{
    for (size_t i = 0; i < s->nrec; i++)
        free(s->rec[i].f);
    s->nrec = 0;
}

static int sc_parse(sc_schema *s, const void *bytes, size_t size)
{
    memset(s, 0, sizeof *s);
    if (!bytes)
        return mf__fail(MF_EINVAL, "schema: NULL bytes");
    mf_reader r = mf_reader_make(bytes, size);
    const unsigned char *magic = mf_r_take(&r, 4);
    if (!magic || memcmp(magic, "MFSC", 4) != 0)
        return mf__fail(MF_ECORRUPT, "schema: no MFSC magic (%zu bytes)", size);
    unsigned format = mf_r_u8(&r);
    if (r.err || format != MF_SCHEMA_FORMAT)
        return mf__fail(MF_ECORRUPT, "schema: format %u, this library reads %d", format,
                        MF_SCHEMA_FORMAT);
    uint64_t nrec = mf_r_varint(&r);
    if (r.err || nrec == 0 || nrec > MF_SCHEMA_MAX_RECORDS)
        return mf__fail(MF_ECORRUPT, "schema: %" PRIu64 " records (1 to %d allowed)", nrec,
                        MF_SCHEMA_MAX_RECORDS);
    int rc = 0;
    for (size_t i = 0; i < nrec && !rc; i++) {
        /* Each field takes at least 3 bytes: the count cannot exceed what is left. */
        uint64_t nf = mf_r_varint(&r);
        if (r.err || nf > MF_SCHEMA_MAX_FIELDS || nf > mf_r_left(&r) / 3) {
            rc = bad(&r, "bad field count", i, 0);
            break;
        }
        s->nrec = i + 1;
        s->rec[i].nf = (size_t)nf;
        s->rec[i].f = calloc(nf ? (size_t)nf : 1, sizeof(sc_field));
        if (!s->rec[i].f) {
            rc = mf__fail(MF_ENOMEM, "schema: out of memory");
            break;
        }
        for (size_t k = 0; k < nf && !rc; k++)
            rc = parse_field(&r, i, &s->rec[i].f[k], k);
        if (!rc)
            rc = link_record(&r, s, i);
    }
    if (!rc && mf_r_left(&r) != 0)
        rc = mf__fail(MF_ECORRUPT, "schema: %zu bytes after the last record", mf_r_left(&r));
    if (rc)
        sc_free(s);
    return rc;
}

int mf_schema_check(const void *schema, size_t size)
{
    mf__clear_detail();
    sc_schema s;
    int rc = sc_parse(&s, schema, size);
    sc_free(&s);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Decoding: payload -> slots                                               */
/* ------------------------------------------------------------------------ */

/* One field of one struct instance. */
typedef struct sc_slot {
    size_t off, len;      /* scalars, strings: where in the payload */
    uint64_t n;           /* string/optional: present; counted: length;
                             count: the value */
    struct sc_slot *kids; /* structs: n (or nelems) instances of nf slots */
} sc_slot;

/* Slots come from a chunked arena, freed at once. */
typedef struct sc_chunk {
    struct sc_chunk *next;
    size_t used, cap;
    sc_slot slots[];
} sc_chunk;

typedef struct sc_dec {
    const sc_schema *s;
    mf_reader r;
    sc_chunk *chunks;
    size_t budget; /* slots left: bounds the work a tiny payload can cause */
    int nomem, over;
} sc_dec;

static sc_slot *slots_alloc(sc_dec *d, size_t n)
{
    if (n == 0)
        return NULL;
    if (n > d->budget) {
        d->over = 1;
        mf_r_fail(&d->r, MF_WIRE_TOO_LARGE);
        return NULL;
    }
    d->budget -= n;
    sc_chunk *c = d->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 4096 ? n : 4096;
        c = malloc(sizeof *c + cap * sizeof(sc_slot));
        if (!c) {
            d->nomem = 1;
            mf_r_fail(&d->r, MF_WIRE_NOMEM);
            return NULL;
        }
        c->next = d->chunks;
        c->used = 0;
        c->cap = cap;
        d->chunks = c;
    }
    sc_slot *p = c->slots + c->used;
    c->used += n;
    memset(p, 0, n * sizeof *p);
    return p;
}

static void dec_rec(sc_dec *d, size_t rec, sc_slot *slots, unsigned depth);

/* @p n scalars of type @p elem at the reader: their offset; bools checked. */
static size_t dec_scalars(sc_dec *d, int elem, size_t n)
{
    size_t size = scalar_size(elem), off = d->r.pos;
    const unsigned char *b = mf_r_take(&d->r, n * size); /* n <= 2^24 or counted */
    if (b && elem == E_BOOL)
        for (size_t i = 0; i < n; i++)
            if (b[i] > 1) {
                mf_r_fail(&d->r, MF_WIRE_MALFORMED);
                break;
            }
    return off;
}

/* @p n instances of record @p rec into new slots. */
static sc_slot *dec_structs(sc_dec *d, size_t rec, size_t n, unsigned depth)
{
    size_t nf = d->s->rec[rec].nf;
    sc_slot *kids = slots_alloc(d, sat_mul(n, nf ? nf : 1));
    for (size_t i = 0; i < n && !d->r.err; i++)
        dec_rec(d, rec, kids ? kids + i * nf : NULL, depth + 1);
    return kids;
}

static int present(mf_reader *r)
{
    uint8_t b = mf_r_u8(r);
    if (b > 1)
        mf_r_fail(r, MF_WIRE_MALFORMED);
    return b == 1;
}

static uint64_t count_max(int elem)
{
    size_t bits = scalar_size(elem) * 8;
    if (is_signed(elem))
        return (UINT64_C(1) << (bits - 1)) - 1;
    return bits == 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
}

static void dec_counted(sc_dec *d, const sc_rec *rec, const sc_field *f, sc_slot *slots,
                        sc_slot *slot, unsigned depth)
{
    size_t per = f->elem == E_REC ? d->s->rec[f->rec].min_bytes : scalar_size(f->elem);
    size_t n = mf_r_count(&d->r, per ? per : 1);
    sc_slot *c = &slots[f->count];
    if (n > count_max(rec->f[f->count].elem))
        mf_r_fail(&d->r, MF_WIRE_MALFORMED);
    if (!f->count_first && (uint64_t)n != c->n)
        mf_r_fail(&d->r, MF_WIRE_MALFORMED);
    if (d->r.err)
        return;
    if (f->count_first)
        c->n = n;
    slot->n = n;
    if (f->elem == E_REC)
        slot->kids = dec_structs(d, f->rec, n, depth);
    else
        slot->off = dec_scalars(d, f->elem, n);
}

static void dec_field(sc_dec *d, const sc_rec *rec, const sc_field *f, sc_slot *slots,
                      sc_slot *slot, unsigned depth)
{
    switch (f->kind) {
    case K_VALUE:
        if (f->elem == E_REC)
            slot->kids = dec_structs(d, f->rec, f->nelems, depth);
        else
            slot->off = dec_scalars(d, f->elem, f->nelems);
        break;
    case K_STRING:
        if ((slot->n = present(&d->r)) != 0) {
            size_t len = mf_r_count(&d->r, 1);
            slot->off = d->r.pos;
            slot->len = len;
            const unsigned char *b = mf_r_take(&d->r, len);
            if (b && memchr(b, '\0', len))
                mf_r_fail(&d->r, MF_WIRE_MALFORMED);
        }
        break;
    case K_OPTIONAL:
        if ((slot->n = present(&d->r)) != 0)
            slot->kids = dec_structs(d, f->rec, 1, depth);
        break;
    case K_COUNTED:
        dec_counted(d, rec, f, slots, slot, depth);
        break;
    default: /* K_COUNT: set by its first array */
        break;
    }
}

static void dec_rec(sc_dec *d, size_t rec, sc_slot *slots, unsigned depth)
{
    const sc_rec *r = &d->s->rec[rec];
    if (depth > MF_SCHEMA_MAX_RECORDS) { /* cannot happen: records only nest earlier ones */
        mf_r_fail(&d->r, MF_WIRE_MALFORMED);
        return;
    }
    for (size_t i = 0; i < r->nf && !d->r.err; i++)
        dec_field(d, r, &r->f[i], slots, &slots[i], depth);
}

static void dec_free(sc_dec *d)
{
    while (d->chunks) {
        sc_chunk *next = d->chunks->next;
        free(d->chunks);
        d->chunks = next;
    }
}

/* ------------------------------------------------------------------------ */
/* Writing: slots -> JSON, as the generated to_json                         */
/* ------------------------------------------------------------------------ */

typedef struct sc_out {
    const sc_schema *s;
    const unsigned char *p; /* the payload */
    mf_writer *w;
} sc_out;

static void json_scalar(mf_writer *w, int elem, const unsigned char *b)
{
    uint64_t v = 0;
    size_t size = scalar_size(elem);
    for (size_t k = size; k-- > 0;)
        v = v << 8 | b[k];
    switch (elem) {
    case E_BOOL:
        mf_w_printf(w, "%s", v ? "true" : "false");
        break;
    case E_F32: {
        uint32_t u = (uint32_t)v;
        float f;
        memcpy(&f, &u, 4);
        mf_w_json_num(w, (double)f);
        break;
    }
    case E_F64: {
        double x;
        memcpy(&x, &v, 8);
        mf_w_json_num(w, x);
        break;
    }
    default:
        if (is_signed(elem)) {
            /* sign-extend from size bytes */
            int64_t x = size == 8 ? (int64_t)v
                                  : (int64_t)(v ^ (UINT64_C(1) << (size * 8 - 1))) -
                                        (int64_t)(UINT64_C(1) << (size * 8 - 1));
            mf_w_printf(w, "%" PRId64, x);
        } else {
            mf_w_printf(w, "%" PRIu64, v);
        }
    }
}

static void out_rec(sc_out *o, size_t rec, const sc_slot *slots);

/* Element @p i of a value or counted field. */
static void out_elem(sc_out *o, const sc_field *f, const sc_slot *slot, size_t i)
{
    if (f->elem == E_REC) {
        size_t nf = o->s->rec[f->rec].nf;
        out_rec(o, f->rec, slot->kids ? slot->kids + i * nf : NULL);
    } else {
        json_scalar(o->w, f->elem, o->p + slot->off + i * scalar_size(f->elem));
    }
}

/* Nested brackets of a fixed array, from dimension @p d; *i counts elements. */
static void out_dims(sc_out *o, const sc_field *f, const sc_slot *slot, size_t d, size_t *i)
{
    if (d == f->ndims) {
        out_elem(o, f, slot, (*i)++);
        return;
    }
    mf_w_u8(o->w, '[');
    for (size_t k = 0; k < f->dims[d] && !o->w->err; k++) {
        if (k)
            mf_w_u8(o->w, ',');
        out_dims(o, f, slot, d + 1, i);
    }
    mf_w_u8(o->w, ']');
}

static void out_string(sc_out *o, const sc_slot *slot)
{
    if (!slot->n) {
        mf_w_printf(o->w, "null");
        return;
    }
    char *s = malloc(slot->len + 1);
    if (!s) {
        mf_w_fail(o->w, MF_WIRE_NOMEM);
        return;
    }
    memcpy(s, o->p + slot->off, slot->len);
    s[slot->len] = '\0';
    mf_w_json_str(o->w, s);
    free(s);
}

static void out_field(sc_out *o, const sc_field *f, const sc_slot *slot)
{
    size_t i = 0;
    switch (f->kind) {
    case K_VALUE:
        out_dims(o, f, slot, 0, &i);
        break;
    case K_STRING:
        out_string(o, slot);
        break;
    case K_OPTIONAL:
        if (slot->n)
            out_rec(o, f->rec, slot->kids);
        else
            mf_w_printf(o->w, "null");
        break;
    case K_COUNTED:
        mf_w_u8(o->w, '[');
        for (size_t k = 0; k < slot->n && !o->w->err; k++) {
            if (k)
                mf_w_u8(o->w, ',');
            out_elem(o, f, slot, k);
        }
        mf_w_u8(o->w, ']');
        break;
    default: { /* K_COUNT: its value, as its integer type prints it */
        if (is_signed(f->elem))
            mf_w_printf(o->w, "%" PRId64, (int64_t)slot->n);
        else
            mf_w_printf(o->w, "%" PRIu64, slot->n);
    }
    }
}

static void out_rec(sc_out *o, size_t rec, const sc_slot *slots)
{
    const sc_rec *r = &o->s->rec[rec];
    for (size_t i = 0; i < r->nf && !o->w->err; i++) {
        mf_w_u8(o->w, i ? ',' : '{');
        mf_w_u8(o->w, '"');
        mf_w_bytes(o->w, r->f[i].name, r->f[i].name_len);
        mf_w_bytes(o->w, "\":", 2);
        out_field(o, &r->f[i], &slots[i]);
    }
    if (r->nf == 0)
        mf_w_u8(o->w, '{');
    mf_w_u8(o->w, '}');
}

int mf_schema_to_json(const void *schema, size_t schema_size, const void *payload,
                      size_t payload_size, mf_writer *w)
{
    mf__clear_detail();
    if (!w || (!payload && payload_size))
        return mf__fail(MF_EINVAL, "mf_schema_to_json: NULL writer or payload");
    sc_schema s;
    int rc = sc_parse(&s, schema, schema_size);
    if (rc)
        return rc;
    sc_dec d = {&s, mf_reader_make(payload ? payload : "", payload_size), NULL, 0, 0, 0};
    d.budget = sat_add(sat_mul(payload_size, 4), (size_t)1 << 20);
    size_t top = s.nrec - 1;
    size_t nf = s.rec[top].nf;
    sc_slot *slots = slots_alloc(&d, nf ? nf : 1);
    if (slots)
        dec_rec(&d, top, slots, 0);
    if (!d.r.err && mf_r_left(&d.r) != 0)
        mf_r_fail(&d.r, MF_WIRE_MALFORMED);
    if (d.nomem)
        rc = mf__fail(MF_ENOMEM, "emulated decode: out of memory");
    else if (d.over)
        rc = mf__fail(MF_ECODEC, "emulated decode: the payload (%zu bytes) expands to "
                      "more than %zu fields", payload_size,
                      sat_add(sat_mul(payload_size, 4), (size_t)1 << 20));
    else if (d.r.err)
        rc = mf__fail(MF_ECODEC, "emulated decode: the payload does not match its schema: "
                      "%s at byte %zu of %zu", mf__wire_error_text(d.r.err), d.r.pos,
                      payload_size);
    if (!rc) {
        sc_out o = {&s, payload, w};
        out_rec(&o, top, slots);
        if (w->err)
            rc = mf__fail(MF_ENOMEM, "emulated decode: cannot write the JSON (writer "
                          "error %d)", w->err);
    }
    dec_free(&d);
    sc_free(&s);
    return rc;
}
