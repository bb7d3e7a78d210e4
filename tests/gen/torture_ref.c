/*
 * torture_ref.c - a codec for struct torture written by hand, field by
 * field, with the SDK primitives: what a careful person would write without
 * `mapf gen`. tests/gen_roundtrip.sh checks that the generated codec's
 * payload is byte-identical to this one's, and that each decodes the
 * other's (torture_check ref).
 *
 * The layout it writes, in declaration order:
 * - scalars fixed-width little-endian (enums as i32 or u32 by their
 *   range, bool as one byte, char as i8), fixed arrays element by element;
 * - char * and optional struct pointers: a byte 0 (NULL) or 1, then the
 *   value (a string: varint length, bytes);
 * - an MF_COUNT array: its count as a varint before it (before each
 *   array: weights repeats nsamples, and a reader refuses the two
 *   disagreeing), then the elements; the count field itself is not written
 *   again;
 * - MF_SKIP and MF_OPS fields: nothing.
 * Nothing here is taken from the generator: it is the reference.
 */
#include "torture_ref.h"

#include <stdlib.h>
#include <string.h>

void torture_set_ops(struct torture *obj); /* torture_ops.c */

/* --- writing ------------------------------------------------------------------ */

static void put_str(mf_writer *w, const char *s)
{
    mf_w_bool(w, s != NULL);
    if (s)
        mf_w_str(w, s);
}

/* The varint count of an array, refusing a count without its array. */
static void put_count(mf_writer *w, uint64_t n, const void *array)
{
    if (n && !array)
        mf_w_fail(w, MF_WIRE_CODEC);
    mf_w_varint(w, n);
}

static void put_inner(mf_writer *w, const struct inner *in)
{
    mf_w_i16(w, in->id);
    put_str(w, in->label);
    put_count(w, in->nbytes, in->bytes);
    if (in->nbytes && in->bytes)
        mf_w_u8_array(w, in->bytes, in->nbytes);
    mf_w_f64_array(w, in->xy, 2);
}

static void put_leaf(mf_writer *w, const leaf_t *l)
{
    mf_w_f32(w, l->w);
    mf_w_u64(w, l->mask);
}

static void put_scalars(mf_writer *w, const struct torture *t)
{
    mf_w_i8(w, t->i8);
    mf_w_u8(w, t->u8);
    mf_w_i16(w, t->i16);
    mf_w_u16(w, t->u16);
    mf_w_i32(w, t->i32);
    mf_w_u32(w, t->u32);
    mf_w_i64(w, t->i64);
    mf_w_u64(w, t->u64);
    mf_w_f32(w, t->f32);
    mf_w_f64(w, t->f64);
    mf_w_bool(w, t->flag);
    mf_w_i8(w, (int8_t)t->ch);
    mf_w_i64(w, t->ll);
    mf_w_u64(w, t->ull);
    mf_w_i32(w, (int32_t)t->color); /* enum color has a negative value */
    mf_w_u32(w, (uint32_t)t->small);
}

static void put_fixed_arrays(mf_writer *w, const struct torture *t)
{
    mf_w_i32_array(w, t->vec, 3);
    for (int i = 0; i < 2; i++)
        mf_w_f64_array(w, t->mat[i], 3);
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 2; k++)
            mf_w_u8_array(w, t->cube[i][k], 2);
    mf_w_bool_array(w, t->bits, 5);
    for (int i = 0; i < 3; i++)
        mf_w_i32(w, (int32_t)t->palette[i]);
    for (int i = 0; i < 16; i++)
        mf_w_i8(w, (int8_t)t->name[i]);
    for (int i = 0; i < 2; i++)
        mf_w_i64(w, t->lls[i]);
    put_inner(w, &t->head);
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 2; k++)
            put_leaf(w, &t->leaves[i][k]);
}

static void put_arrays(mf_writer *w, const struct torture *t)
{
    put_count(w, t->nsamples, t->samples);
    if (!w->err && t->nsamples)
        mf_w_f64_array(w, t->samples, t->nsamples);
    put_count(w, t->nsamples, t->weights);
    if (!w->err && t->nsamples)
        mf_w_f32_array(w, t->weights, t->nsamples);
}

int torture_ref_out(const struct torture *t, mf_writer *w)
{
    put_scalars(w, t);
    put_fixed_arrays(w, t);
    put_str(w, t->title);
    put_str(w, t->empty_title);
    put_arrays(w, t);

    if (t->nitems < 0)
        mf_w_fail(w, MF_WIRE_CODEC);
    put_count(w, t->nitems < 0 ? 0 : (uint64_t)t->nitems, t->items);
    for (int i = 0; !w->err && t->items && i < t->nitems; i++)
        put_inner(w, &t->items[i]);

    put_count(w, t->ncolors, t->colors);
    for (uint64_t i = 0; !w->err && t->colors && i < t->ncolors; i++)
        mf_w_i32(w, (int32_t)t->colors[i]);

    put_count(w, t->nleafs, t->leafs);
    for (size_t i = 0; !w->err && t->leafs && i < t->nleafs; i++)
        put_leaf(w, &t->leafs[i]);

    mf_w_bool(w, t->maybe != NULL);
    if (t->maybe)
        put_inner(w, t->maybe);
    mf_w_bool(w, t->maybe_leaf != NULL);
    if (t->maybe_leaf)
        put_leaf(w, t->maybe_leaf);
    return w->err ? -1 : 0;
}

/* --- reading ------------------------------------------------------------------ */

/* A presence byte: 0 or 1 (mf_r_bool refuses anything else). */
static int present(mf_reader *r)
{
    return mf_r_bool(r) && !r->err;
}

static char *get_str(mf_reader *r)
{
    return present(r) ? mf_r_str_dup(r) : NULL;
}

/* A new array of n elements of @p size, or NULL for n == 0 or an error. */
static void *new_array(mf_reader *r, size_t n, size_t size)
{
    if (!n || r->err)
        return NULL;
    void *p = calloc(n, size);
    if (!p)
        mf_r_fail(r, MF_WIRE_NOMEM);
    return p;
}

/* The smallest encoding of a struct inner: id, presence byte, nbytes, xy. */
#define INNER_MIN_BYTES (2 + 1 + 1 + 16)
#define LEAF_BYTES (4 + 8)

static void get_inner(mf_reader *r, struct inner *in)
{
    in->id = mf_r_i16(r);
    in->label = get_str(r);
    size_t n = mf_r_count(r, 1);
    if (n > UINT8_MAX)
        mf_r_fail(r, MF_WIRE_MALFORMED);
    in->bytes = new_array(r, n, 1);
    if (in->bytes) {
        in->nbytes = (uint8_t)n;
        mf_r_u8_array(r, in->bytes, n);
    }
    mf_r_f64_array(r, in->xy, 2);
}

static void get_leaf(mf_reader *r, leaf_t *l)
{
    l->w = mf_r_f32(r);
    l->mask = mf_r_u64(r);
}

static void get_scalars(mf_reader *r, struct torture *t)
{
    t->i8 = mf_r_i8(r);
    t->u8 = mf_r_u8(r);
    t->i16 = mf_r_i16(r);
    t->u16 = mf_r_u16(r);
    t->i32 = mf_r_i32(r);
    t->u32 = mf_r_u32(r);
    t->i64 = mf_r_i64(r);
    t->u64 = mf_r_u64(r);
    t->f32 = mf_r_f32(r);
    t->f64 = mf_r_f64(r);
    t->flag = mf_r_bool(r);
    t->ch = (char)mf_r_i8(r);
    t->ll = mf_r_i64(r);
    t->ull = mf_r_u64(r);
    t->color = (enum color)mf_r_i32(r);
    t->small = (small_t)mf_r_u32(r);
}

static void get_fixed_arrays(mf_reader *r, struct torture *t)
{
    mf_r_i32_array(r, t->vec, 3);
    for (int i = 0; i < 2; i++)
        mf_r_f64_array(r, t->mat[i], 3);
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 2; k++)
            mf_r_u8_array(r, t->cube[i][k], 2);
    mf_r_bool_array(r, t->bits, 5);
    for (int i = 0; i < 3; i++)
        t->palette[i] = (enum color)mf_r_i32(r);
    for (int i = 0; i < 16; i++)
        t->name[i] = (char)mf_r_i8(r);
    for (int i = 0; i < 2; i++)
        t->lls[i] = mf_r_i64(r);
    get_inner(r, &t->head);
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 2; k++)
            get_leaf(r, &t->leaves[i][k]);
}

static void get_arrays(mf_reader *r, struct torture *t)
{
    size_t n = mf_r_count(r, sizeof(double));
    if (n > UINT32_MAX)
        mf_r_fail(r, MF_WIRE_MALFORMED);
    t->samples = new_array(r, n, sizeof *t->samples);
    if (r->err)
        return;
    t->nsamples = (uint32_t)n;
    if (n)
        mf_r_f64_array(r, t->samples, n);
    /* weights has its own count, which must say the same */
    if (mf_r_count(r, sizeof(float)) != n)
        mf_r_fail(r, MF_WIRE_MALFORMED);
    t->weights = new_array(r, n, sizeof *t->weights);
    if (t->weights)
        mf_r_f32_array(r, t->weights, n);
}

static void get_items(mf_reader *r, struct torture *t)
{
    size_t n = mf_r_count(r, INNER_MIN_BYTES);
    if (n > INT16_MAX)
        mf_r_fail(r, MF_WIRE_MALFORMED);
    t->items = new_array(r, n, sizeof *t->items);
    if (!t->items)
        return;
    t->nitems = (int16_t)n; /* so torture_ref_free frees what was read */
    for (size_t i = 0; i < n && !r->err; i++)
        get_inner(r, &t->items[i]);
}

static void get_lists(mf_reader *r, struct torture *t)
{
    size_t n = mf_r_count(r, 4);
    t->colors = new_array(r, n, sizeof *t->colors);
    if (t->colors) {
        t->ncolors = n;
        for (size_t i = 0; i < n; i++)
            t->colors[i] = (enum color)mf_r_i32(r);
    }
    n = mf_r_count(r, LEAF_BYTES);
    t->leafs = new_array(r, n, sizeof *t->leafs);
    if (t->leafs) {
        t->nleafs = n;
        for (size_t i = 0; i < n; i++)
            get_leaf(r, &t->leafs[i]);
    }
}

static void get_optionals(mf_reader *r, struct torture *t)
{
    if (present(r) && (t->maybe = new_array(r, 1, sizeof *t->maybe)))
        get_inner(r, t->maybe);
    if (present(r) && (t->maybe_leaf = new_array(r, 1, sizeof *t->maybe_leaf)))
        get_leaf(r, t->maybe_leaf);
}

struct torture *torture_ref_in(mf_reader *r)
{
    struct torture *t = calloc(1, sizeof *t);
    if (!t) {
        mf_r_fail(r, MF_WIRE_NOMEM);
        return NULL;
    }
    get_scalars(r, t);
    get_fixed_arrays(r, t);
    t->title = get_str(r);
    t->empty_title = get_str(r);
    get_arrays(r, t);
    get_items(r, t);
    get_lists(r, t);
    get_optionals(r, t);
    if (!r->err && mf_r_left(r))
        mf_r_fail(r, MF_WIRE_MALFORMED); /* bytes after the object */
    if (r->err) {
        torture_ref_free(t);
        return NULL;
    }
    torture_set_ops(t);
    return t;
}

/* --- freeing ------------------------------------------------------------------ */

static void free_inner(struct inner *in)
{
    free(in->label);
    free(in->bytes);
}

void torture_ref_free(struct torture *t)
{
    if (!t)
        return;
    free_inner(&t->head);
    free(t->title);
    free(t->empty_title);
    free(t->samples);
    free(t->weights);
    for (int i = 0; t->items && i < t->nitems; i++)
        free_inner(&t->items[i]);
    free(t->items);
    free(t->colors);
    free(t->leafs);
    if (t->maybe)
        free_inner(t->maybe);
    free(t->maybe);
    free(t->maybe_leaf);
    free(t);
}
