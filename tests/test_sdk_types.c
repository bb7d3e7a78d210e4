/* test_sdk_types.c - the SDK's wire primitives for every C type (issue 18,
 * part 1): scalars at their extremes, bulk arrays, exact little-endian wire
 * bytes, truncation (sticky errors, zero-filled outputs, no read past the
 * end: payloads sit in exactly-sized heap blocks, so ASan sees an over-read),
 * bool and string validation, blobs, mf_w_fail and a writer that cannot
 * grow. test_sdk_types_portable.c runs the same tests over the byte-by-byte
 * array path that big-endian hosts use. */
#include <criterion/criterion.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mapfile/codec.h>
#include <mapfile/mapfile.h>

#include "testutil.h"

/* A heap copy of exactly @p n bytes (ASan flags any read past it). */
static unsigned char *exact_copy(const void *p, size_t n)
{
    unsigned char *c = malloc(n ? n : 1);
    cr_assert(c);
    if (n)
        memcpy(c, p, n);
    return c;
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static uint64_t f64_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

static float f32_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static double f64_of(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static bool all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

/* ------------------------------------------------------------------------ */
/* Scalars                                                                  */
/* ------------------------------------------------------------------------ */

static const uint32_t f32_cases[] = {
    0x00000000u, 0x80000000u,             /* 0.0, -0.0 */
    0x7f7fffffu, 0xff7fffffu,             /* +-FLT_MAX */
    0x00800000u, 0x00000001u,             /* FLT_MIN, smallest subnormal */
    0x7f800000u, 0xff800000u,             /* +-inf */
    0x7fc00000u, 0xffc00001u, 0x7fa12345u /* quiet NaN, negative NaN, NaN payload */
};

static const uint64_t f64_cases[] = {
    0x0000000000000000u, 0x8000000000000000u,
    0x7fefffffffffffffu, 0xffefffffffffffffu,
    0x0010000000000000u, 0x0000000000000001u,
    0x7ff0000000000000u, 0xfff0000000000000u,
    0x7ff8000000000000u, 0xfff8000000000001u, 0x7ff4000012345678u
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void write_extremes(mf_writer *w)
{
    mf_w_u8(w, 0), mf_w_u8(w, UINT8_MAX);
    mf_w_i8(w, INT8_MIN), mf_w_i8(w, INT8_MAX), mf_w_i8(w, 0), mf_w_i8(w, -1);
    mf_w_u16(w, 0), mf_w_u16(w, UINT16_MAX);
    mf_w_i16(w, INT16_MIN), mf_w_i16(w, INT16_MAX), mf_w_i16(w, 0), mf_w_i16(w, -1);
    mf_w_u32(w, 0), mf_w_u32(w, UINT32_MAX);
    mf_w_i32(w, INT32_MIN), mf_w_i32(w, INT32_MAX), mf_w_i32(w, 0), mf_w_i32(w, -1);
    mf_w_u64(w, 0), mf_w_u64(w, UINT64_MAX);
    mf_w_i64(w, INT64_MIN), mf_w_i64(w, INT64_MAX), mf_w_i64(w, 0), mf_w_i64(w, -1);
    for (size_t i = 0; i < NELEM(f32_cases); i++)
        mf_w_f32(w, f32_of(f32_cases[i]));
    for (size_t i = 0; i < NELEM(f64_cases); i++)
        mf_w_f64(w, f64_of(f64_cases[i]));
    mf_w_bool(w, false), mf_w_bool(w, true);
}

Test(sdk_scalars, every_type_round_trips_at_its_extremes)
{
    mf_writer w = mf_test_writer();
    write_extremes(&w);
    cr_assert_eq(w.err, 0);
    size_t want = 2 + 4 + 2 * 2 + 4 * 2 + 2 * 4 + 4 * 4 + 2 * 8 + 4 * 8 +
                  NELEM(f32_cases) * 4 + NELEM(f64_cases) * 8 + 2;
    cr_assert_eq(w.len, want, "fixed widths: %zu bytes, not %zu", w.len, want);

    unsigned char *p = exact_copy(w.buf, w.len);
    mf_reader r = mf_reader_make(p, w.len);
    cr_expect_eq(mf_r_u8(&r), 0);
    cr_expect_eq(mf_r_u8(&r), UINT8_MAX);
    cr_expect_eq(mf_r_i8(&r), INT8_MIN);
    cr_expect_eq(mf_r_i8(&r), INT8_MAX);
    cr_expect_eq(mf_r_i8(&r), 0);
    cr_expect_eq(mf_r_i8(&r), -1);
    cr_expect_eq(mf_r_u16(&r), 0);
    cr_expect_eq(mf_r_u16(&r), UINT16_MAX);
    cr_expect_eq(mf_r_i16(&r), INT16_MIN);
    cr_expect_eq(mf_r_i16(&r), INT16_MAX);
    cr_expect_eq(mf_r_i16(&r), 0);
    cr_expect_eq(mf_r_i16(&r), -1);
    cr_expect_eq(mf_r_u32(&r), 0);
    cr_expect_eq(mf_r_u32(&r), UINT32_MAX);
    cr_expect_eq(mf_r_i32(&r), INT32_MIN);
    cr_expect_eq(mf_r_i32(&r), INT32_MAX);
    cr_expect_eq(mf_r_i32(&r), 0);
    cr_expect_eq(mf_r_i32(&r), -1);
    cr_expect_eq(mf_r_u64(&r), 0);
    cr_expect_eq(mf_r_u64(&r), UINT64_MAX);
    cr_expect_eq(mf_r_i64(&r), INT64_MIN);
    cr_expect_eq(mf_r_i64(&r), INT64_MAX);
    cr_expect_eq(mf_r_i64(&r), 0);
    cr_expect_eq(mf_r_i64(&r), -1);
    for (size_t i = 0; i < NELEM(f32_cases); i++) {
        uint32_t got = f32_bits(mf_r_f32(&r));
        cr_expect_eq(got, f32_cases[i], "f32 #%zu: bits %08" PRIx32 ", not %08" PRIx32,
                     i, got, f32_cases[i]);
    }
    for (size_t i = 0; i < NELEM(f64_cases); i++) {
        uint64_t got = f64_bits(mf_r_f64(&r));
        cr_expect_eq(got, f64_cases[i], "f64 #%zu: bits %016" PRIx64 ", not %016" PRIx64,
                     i, got, f64_cases[i]);
    }
    cr_expect_eq(mf_r_bool(&r), false);
    cr_expect_eq(mf_r_bool(&r), true);
    cr_expect_eq(r.err, 0);
    cr_expect_eq(mf_r_left(&r), 0);
    free(p);
    free(w.buf);
}

Test(sdk_scalars, wire_bytes_are_fixed_width_little_endian)
{
    mf_writer w = mf_test_writer();
    mf_w_i8(&w, -2);
    mf_w_u16(&w, 0x0102);
    mf_w_i16(&w, -2);
    mf_w_u32(&w, 0x01020304);
    mf_w_i32(&w, -2);
    mf_w_u64(&w, 0x0102030405060708u);
    mf_w_f32(&w, 1.0f);
    mf_w_f32(&w, -0.0f);
    mf_w_f64(&w, -2.0);
    mf_w_bool(&w, true);
    mf_w_bool(&w, false);
    static const unsigned char want[] = {
        0xfe,
        0x02, 0x01,
        0xfe, 0xff,
        0x04, 0x03, 0x02, 0x01,
        0xfe, 0xff, 0xff, 0xff,
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
        0x00, 0x00, 0x80, 0x3f,
        0x00, 0x00, 0x00, 0x80,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0,
        0x01,
        0x00};
    cr_assert_eq(w.err, 0);
    cr_assert_eq(w.len, sizeof want);
    for (size_t i = 0; i < sizeof want; i++)
        cr_expect_eq(w.buf[i], want[i], "byte %zu: %02x, not %02x", i, w.buf[i], want[i]);
    free(w.buf);
}

/* Every scalar reader, on every prefix shorter than its width. */
Test(sdk_scalars, truncated_input_is_a_sticky_error_and_zero)
{
    static const unsigned char full[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    static const size_t widths[] = {1, 1, 1, 2, 2, 4, 4, 4, 8, 8, 8};
    for (size_t t = 0; t < NELEM(widths); t++) {
        for (size_t k = 0; k < widths[t]; k++) {
            unsigned char *p = exact_copy(full, k);
            mf_reader r = mf_reader_make(p, k);
            uint64_t got;
            switch (t) {
            case 0: got = mf_r_u8(&r); break;
            case 1: got = (uint64_t)mf_r_i8(&r); break;
            case 2: got = mf_r_bool(&r); break;
            case 3: got = mf_r_u16(&r); break;
            case 4: got = (uint64_t)mf_r_i16(&r); break;
            case 5: got = mf_r_u32(&r); break;
            case 6: got = (uint64_t)mf_r_i32(&r); break;
            case 7: got = f32_bits(mf_r_f32(&r)); break;
            case 8: got = mf_r_u64(&r); break;
            case 9: got = (uint64_t)mf_r_i64(&r); break;
            default: got = f64_bits(mf_r_f64(&r)); break;
            }
            cr_expect_eq(got, 0, "type %zu, %zu bytes: read %" PRIu64, t, k, got);
            cr_expect_eq(r.err, MF_WIRE_TRUNCATED, "type %zu, %zu bytes", t, k);
            cr_expect_eq(r.pos, 0, "a failed read consumes nothing");
            /* Sticky: even a read that would fit now fails. */
            cr_expect_eq(mf_r_u8(&r), 0);
            cr_expect_eq(r.err, MF_WIRE_TRUNCATED);
            free(p);
        }
    }
}

Test(sdk_scalars, bool_refuses_any_byte_but_0_and_1)
{
    static const unsigned char bad[] = {2, 0xff, 0x80};
    for (size_t i = 0; i < NELEM(bad); i++) {
        unsigned char buf[2] = {bad[i], 1};
        mf_reader r = mf_reader_make(buf, sizeof buf);
        cr_expect_eq(mf_r_bool(&r), false, "byte %u", bad[i]);
        cr_expect_eq(r.err, MF_WIRE_MALFORMED, "byte %u", bad[i]);
        cr_expect_eq(mf_r_bool(&r), false, "sticky after byte %u", bad[i]);
        cr_expect_eq(r.err, MF_WIRE_MALFORMED);
    }
}

/* ------------------------------------------------------------------------ */
/* Arrays                                                                   */
/* ------------------------------------------------------------------------ */

/* Element i of a test array: extremes first, then a mix of every bit. */
static uint64_t pattern(size_t i)
{
    static const uint64_t head[] = {0, UINT64_MAX, 0x8000000000000000u,
                                    0x7fffffffffffffffu, 1};
    if (i < NELEM(head))
        return head[i];
    return (uint64_t)i * 0x9e3779b97f4a7c15u ^ (uint64_t)i << 17;
}

/* One array type: its writer, its reader and its scalar writer. The
 * payload must equal element-by-element scalar writes, and read back
 * bit for bit. */
#define ARRAY_CASE(T, ctype, utype)                                            \
    static void array_case_##T(size_t n)                                       \
    {                                                                          \
        ctype *v = calloc(n ? n : 1, sizeof *v);                               \
        ctype *back = malloc((n ? n : 1) * sizeof *back);                      \
        cr_assert(v && back);                                                  \
        for (size_t i = 0; i < n; i++) {                                       \
            utype u = (utype)pattern(i);                                       \
            memcpy(&v[i], &u, sizeof u);                                       \
        }                                                                      \
        mf_writer w = mf_test_writer(), ws = mf_test_writer();                 \
        mf_w_varint(&w, n);                                                    \
        mf_w_##T##_array(&w, v, n);                                            \
        mf_w_varint(&ws, n);                                                   \
        for (size_t i = 0; i < n; i++)                                         \
            mf_w_##T(&ws, v[i]);                                               \
        cr_assert_eq(w.err, 0);                                                \
        cr_assert_eq(w.len, ws.len, #T "[%zu]: %zu bytes, scalars %zu", n,     \
                     w.len, ws.len);                                           \
        cr_assert(w.len == 0 || memcmp(w.buf, ws.buf, w.len) == 0,             \
                  #T "[%zu]: the array's bytes differ from scalar writes", n); \
        unsigned char *p = exact_copy(w.buf, w.len);                           \
        mf_reader r = mf_reader_make(p, w.len);                                \
        size_t m = mf_r_count(&r, sizeof(utype));                              \
        cr_assert_eq(m, n);                                                    \
        memset(back, 0xa5, (n ? n : 1) * sizeof *back);                        \
        mf_r_##T##_array(&r, back, m);                                         \
        cr_assert_eq(r.err, 0, #T "[%zu]: error %d", n, r.err);                \
        cr_assert_eq(mf_r_left(&r), 0);                                        \
        cr_assert(n == 0 || memcmp(v, back, n * sizeof *v) == 0,               \
                  #T "[%zu]: read back differs", n);                           \
        free(p), free(w.buf), free(ws.buf), free(v), free(back);               \
    }

ARRAY_CASE(u8, uint8_t, uint8_t)
ARRAY_CASE(i8, int8_t, uint8_t)
ARRAY_CASE(u16, uint16_t, uint16_t)
ARRAY_CASE(i16, int16_t, uint16_t)
ARRAY_CASE(u32, uint32_t, uint32_t)
ARRAY_CASE(i32, int32_t, uint32_t)
ARRAY_CASE(u64, uint64_t, uint64_t)
ARRAY_CASE(i64, int64_t, uint64_t)
ARRAY_CASE(f32, float, uint32_t)
ARRAY_CASE(f64, double, uint64_t)

/* bool: only 0/1 are bool values, so its pattern is its own. */
static void array_case_bool(size_t n)
{
    bool *v = calloc(n ? n : 1, sizeof *v), *back = calloc(n ? n : 1, sizeof *back);
    cr_assert(v && back);
    for (size_t i = 0; i < n; i++)
        v[i] = (pattern(i) >> 7) & 1;
    mf_writer w = mf_test_writer();
    mf_w_varint(&w, n);
    mf_w_bool_array(&w, v, n);
    cr_assert_eq(w.err, 0);
    unsigned char *p = exact_copy(w.buf, w.len);
    mf_reader r = mf_reader_make(p, w.len);
    size_t m = mf_r_count(&r, 1);
    cr_assert_eq(m, n);
    cr_assert_eq(mf_r_left(&r), n, "one byte per bool");
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(p[w.len - n + i], v[i] ? 1 : 0);
    mf_r_bool_array(&r, back, m);
    cr_assert_eq(r.err, 0);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(back[i], v[i], "bool[%zu]", i);
    free(p), free(w.buf), free(v), free(back);
}

static void (*const array_cases[])(size_t) = {
    array_case_u8,  array_case_i8,  array_case_u16, array_case_i16,
    array_case_u32, array_case_i32, array_case_u64, array_case_i64,
    array_case_f32, array_case_f64, array_case_bool};

Test(sdk_arrays, every_type_round_trips_with_0_1_and_1000_elements)
{
    static const size_t sizes[] = {0, 1, 1000};
    for (size_t t = 0; t < NELEM(array_cases); t++)
        for (size_t s = 0; s < NELEM(sizes); s++)
            array_cases[t](sizes[s]);
}

Test(sdk_arrays, wire_bytes_are_little_endian_without_a_count)
{
    mf_writer w = mf_test_writer();
    mf_w_u16_array(&w, (const uint16_t[]){0x0102, 0xa0b0}, 2);
    mf_w_i16_array(&w, (const int16_t[]){-2}, 1);
    mf_w_u32_array(&w, (const uint32_t[]){0x01020304}, 1);
    mf_w_i32_array(&w, (const int32_t[]){-2}, 1);
    mf_w_u64_array(&w, (const uint64_t[]){0x0102030405060708u}, 1);
    mf_w_i64_array(&w, (const int64_t[]){-2}, 1);
    mf_w_f32_array(&w, (const float[]){1.0f}, 1);
    mf_w_f64_array(&w, (const double[]){-2.0}, 1);
    mf_w_i8_array(&w, (const int8_t[]){-1, 1}, 2);
    mf_w_u8_array(&w, (const uint8_t[]){0x80}, 1);
    mf_w_bool_array(&w, (const bool[]){true, false}, 2);
    static const unsigned char want[] = {
        0x02, 0x01, 0xb0, 0xa0,
        0xfe, 0xff,
        0x04, 0x03, 0x02, 0x01,
        0xfe, 0xff, 0xff, 0xff,
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
        0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0x00, 0x00, 0x80, 0x3f,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0,
        0xff, 0x01,
        0x80,
        0x01, 0x00};
    cr_assert_eq(w.err, 0);
    cr_assert_eq(w.len, sizeof want, "%zu bytes, not %zu", w.len, sizeof want);
    for (size_t i = 0; i < sizeof want; i++)
        cr_expect_eq(w.buf[i], want[i], "byte %zu: %02x, not %02x", i, w.buf[i], want[i]);

    mf_reader r = mf_reader_make(w.buf, w.len);
    uint16_t u16[2];
    mf_r_u16_array(&r, u16, 2);
    cr_expect(u16[0] == 0x0102 && u16[1] == 0xa0b0);
    int16_t i16;
    mf_r_i16_array(&r, &i16, 1);
    cr_expect_eq(i16, -2);
    free(w.buf);
}

/* Read @p n elements of type number @p t into @p dst. */
static void read_array(size_t t, mf_reader *r, void *dst, size_t n)
{
    switch (t) {
    case 0: mf_r_u8_array(r, dst, n); break;
    case 1: mf_r_i8_array(r, dst, n); break;
    case 2: mf_r_u16_array(r, dst, n); break;
    case 3: mf_r_i16_array(r, dst, n); break;
    case 4: mf_r_u32_array(r, dst, n); break;
    case 5: mf_r_i32_array(r, dst, n); break;
    case 6: mf_r_u64_array(r, dst, n); break;
    case 7: mf_r_i64_array(r, dst, n); break;
    case 8: mf_r_f32_array(r, dst, n); break;
    case 9: mf_r_f64_array(r, dst, n); break;
    default: mf_r_bool_array(r, dst, n); break;
    }
}

static const size_t elem_sizes[] = {1, 1, 2, 2, 4, 4, 8, 8, 4, 8, sizeof(bool)};

Test(sdk_arrays, truncated_input_zero_fills_the_output)
{
    enum { N = 7 };
    unsigned char full[N * 8];
    for (size_t i = 0; i < sizeof full; i++)
        full[i] = (unsigned char)(i % 2); /* valid bools too */
    for (size_t t = 0; t < NELEM(elem_sizes); t++) {
        size_t wire = t == 10 ? N : N * elem_sizes[t];
        for (size_t k = 0; k < wire; k++) {
            unsigned char *p = exact_copy(full, k);
            unsigned char dst[N * 8 + 1];
            memset(dst, 0xa5, sizeof dst);
            mf_reader r = mf_reader_make(p, k);
            read_array(t, &r, dst, N);
            cr_expect_eq(r.err, MF_WIRE_TRUNCATED, "type %zu, %zu of %zu bytes", t, k, wire);
            cr_expect(all_zero(dst, N * elem_sizes[t]),
                      "type %zu, %zu bytes: output not zero-filled", t, k);
            cr_expect_eq(dst[N * elem_sizes[t]], 0xa5, "type %zu: wrote past n", t);
            free(p);
        }
    }
}

Test(sdk_arrays, a_failed_reader_zero_fills_the_output)
{
    unsigned char bytes[64] = {0};
    for (size_t t = 0; t < NELEM(elem_sizes); t++) {
        unsigned char dst[3 * 8];
        memset(dst, 0xa5, sizeof dst);
        mf_reader r = mf_reader_make(bytes, sizeof bytes);
        mf_r_fail(&r, MF_WIRE_CODEC);
        read_array(t, &r, dst, 3);
        cr_expect_eq(r.err, MF_WIRE_CODEC, "the first error stays");
        cr_expect(all_zero(dst, 3 * elem_sizes[t]), "type %zu", t);
    }
}

Test(sdk_arrays, element_counts_that_overflow_size_t_are_refused)
{
    uint64_t one = 42, dst = 7;
    mf_writer w = mf_test_writer();
    mf_w_u64_array(&w, &one, SIZE_MAX / 8 + 1);
    cr_expect_eq(w.err, MF_WIRE_TOO_LARGE);
    cr_expect_eq(w.len, 0);
    free(w.buf);
    unsigned char bytes[16] = {0};
    mf_reader r = mf_reader_make(bytes, sizeof bytes);
    mf_r_u64_array(&r, &dst, SIZE_MAX / 8 + 1);
    cr_expect_eq(r.err, MF_WIRE_TOO_LARGE);
    cr_expect_eq(dst, 7, "no buffer holds that many: nothing written");
    r = mf_reader_make(bytes, sizeof bytes);
    mf_r_u16_array(&r, (uint16_t *)&dst, SIZE_MAX / 2 + 1);
    cr_expect_eq(r.err, MF_WIRE_TOO_LARGE);
}

Test(sdk_arrays, a_bool_array_with_a_bad_byte_is_refused_all_false)
{
    unsigned char *p = exact_copy((const unsigned char[]){1, 0, 2, 1}, 4);
    bool dst[4];
    mf_reader r = mf_reader_make(p, 4);
    mf_r_bool_array(&r, dst, 4);
    cr_expect_eq(r.err, MF_WIRE_MALFORMED);
    for (size_t i = 0; i < 4; i++)
        cr_expect_eq(dst[i], false, "bool[%zu]", i);
    free(p);
}

/* ------------------------------------------------------------------------ */
/* Strings and blobs                                                        */
/* ------------------------------------------------------------------------ */

static const unsigned char nul_inside[] = {3, 'a', 0, 'b'};
static const unsigned char nul_last[] = {3, 'a', 'b', 0};

Test(sdk_strings, str_into_refuses_an_embedded_nul)
{
    const unsigned char *cases[] = {nul_inside, nul_last};
    for (size_t i = 0; i < 2; i++) {
        unsigned char *p = exact_copy(cases[i], 4);
        char dst[16] = "untouched";
        mf_reader r = mf_reader_make(p, 4);
        mf_r_str_into(&r, dst, sizeof dst);
        cr_expect_eq(r.err, MF_WIRE_MALFORMED, "case %zu", i);
        cr_expect_str_eq(dst, "");
        free(p);
    }
}

Test(sdk_strings, str_dup_refuses_an_embedded_nul)
{
    const unsigned char *cases[] = {nul_inside, nul_last};
    for (size_t i = 0; i < 2; i++) {
        unsigned char *p = exact_copy(cases[i], 4);
        mf_reader r = mf_reader_make(p, 4);
        char *s = mf_r_str_dup(&r);
        cr_expect_null(s, "case %zu", i);
        cr_expect_eq(r.err, MF_WIRE_MALFORMED, "case %zu", i);
        free(s);
        free(p);
    }
}

Test(sdk_strings, plain_strings_still_round_trip)
{
    mf_writer w = mf_test_writer();
    mf_w_str(&w, "det/tpc");
    mf_w_str(&w, "");
    mf_w_str(&w, NULL);
    unsigned char *p = exact_copy(w.buf, w.len);
    mf_reader r = mf_reader_make(p, w.len);
    char into[8];
    mf_r_str_into(&r, into, sizeof into);
    cr_expect_str_eq(into, "det/tpc");
    char *a = mf_r_str_dup(&r), *b = mf_r_str_dup(&r);
    cr_assert(a && b);
    cr_expect_str_eq(a, "");
    cr_expect_str_eq(b, "");
    cr_expect_eq(r.err, 0);
    cr_expect_eq(mf_r_left(&r), 0);
    free(a), free(b), free(p), free(w.buf);
}

Test(sdk_blobs, round_trip_keeps_embedded_nuls)
{
    unsigned char data[300];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 7); /* NUL at 0 and every 256 steps */
    mf_writer w = mf_test_writer();
    mf_w_blob(&w, data, sizeof data);
    mf_w_blob(&w, "a\0b", 3);
    cr_assert_eq(w.err, 0);
    cr_assert_eq(w.len, 2 + sizeof data + 1 + 3, "varint length, then the bytes");
    cr_expect(w.buf[0] == 0xac && w.buf[1] == 0x02, "300 as LEB128");
    unsigned char *p = exact_copy(w.buf, w.len);
    mf_reader r = mf_reader_make(p, w.len);
    size_t n1 = 1, n2 = 1;
    unsigned char *b1 = mf_r_blob_dup(&r, &n1);
    char *b2 = mf_r_blob_dup(&r, &n2);
    cr_assert(b1 && b2);
    cr_expect_eq(n1, sizeof data);
    cr_expect(memcmp(b1, data, sizeof data) == 0);
    cr_expect_eq(n2, 3);
    cr_expect(memcmp(b2, "a\0b", 3) == 0);
    cr_expect_eq(r.err, 0);
    cr_expect_eq(mf_r_left(&r), 0);
    free(b1), free(b2), free(p), free(w.buf);
}

Test(sdk_blobs, zero_length_blob_is_a_non_null_allocation)
{
    mf_writer w = mf_test_writer();
    mf_w_blob(&w, NULL, 0);
    mf_w_blob(&w, "x", 0);
    cr_assert_eq(w.err, 0);
    cr_assert_eq(w.len, 2);
    cr_expect(w.buf[0] == 0 && w.buf[1] == 0);
    unsigned char *p = exact_copy(w.buf, w.len);
    mf_reader r = mf_reader_make(p, w.len);
    for (int i = 0; i < 2; i++) {
        size_t n = 99;
        void *b = mf_r_blob_dup(&r, &n);
        cr_expect_not_null(b);
        cr_expect_eq(n, 0);
        free(b);
    }
    cr_expect_eq(r.err, 0);
    free(p), free(w.buf);
}

Test(sdk_blobs, a_null_pointer_with_bytes_is_a_writer_error)
{
    mf_writer w = mf_test_writer();
    mf_w_blob(&w, NULL, 3);
    cr_expect_eq(w.err, MF_WIRE_CODEC);
    cr_expect_eq(w.len, 0);
    free(w.buf);
}

/* Lengths beyond the payload fail in mf_r_count, before malloc: had the
 * reader tried to allocate 2^60 or 2^64-1 bytes, malloc would have failed
 * and the error would be MF_WIRE_NOMEM. */
Test(sdk_blobs, oversized_length_is_refused_before_any_allocation)
{
    static const uint64_t lengths[] = {5, 1u << 30, 1ull << 60, UINT64_MAX};
    for (size_t i = 0; i < NELEM(lengths); i++) {
        mf_writer w = mf_test_writer();
        mf_w_varint(&w, lengths[i]);
        mf_w_u32(&w, 0x61626364);
        unsigned char *p = exact_copy(w.buf, w.len);
        mf_reader r = mf_reader_make(p, w.len);
        size_t n = 99;
        void *b = mf_r_blob_dup(&r, &n);
        cr_expect_null(b);
        cr_expect_eq(n, 0);
        cr_expect_eq(r.err, MF_WIRE_TOO_LARGE, "length %" PRIu64 ": error %d",
                     lengths[i], r.err);
        free(b), free(p), free(w.buf);
    }
}

Test(sdk_blobs, every_truncation_fails_cleanly)
{
    mf_writer w = mf_test_writer();
    mf_w_blob(&w, "a\0bcdefghijklmnopqrstuvwxyz", 27);
    for (size_t k = 0; k < w.len; k++) {
        unsigned char *p = exact_copy(w.buf, k);
        mf_reader r = mf_reader_make(p, k);
        size_t n = 99;
        void *b = mf_r_blob_dup(&r, &n);
        cr_expect_null(b, "%zu bytes", k);
        cr_expect_eq(n, 0);
        cr_expect(r.err == MF_WIRE_TRUNCATED || r.err == MF_WIRE_TOO_LARGE,
                  "%zu bytes: error %d", k, r.err);
        free(b), free(p);
    }
    free(w.buf);
}

/* ------------------------------------------------------------------------ */
/* Writer failures                                                          */
/* ------------------------------------------------------------------------ */

Test(sdk_writer, fail_is_sticky_and_the_first_error_wins)
{
    mf_writer w = mf_test_writer();
    mf_w_u32(&w, 1);
    mf_w_fail(&w, MF_WIRE_TOO_LARGE);
    mf_w_fail(&w, MF_WIRE_CODEC);
    cr_expect_eq(w.err, MF_WIRE_TOO_LARGE);
    mf_w_u64(&w, 2);
    mf_w_f32_array(&w, (const float[]){1, 2}, 2);
    mf_w_bool_array(&w, (const bool[]){true}, 1);
    mf_w_blob(&w, "ab", 2);
    cr_expect_eq(w.len, 4, "nothing written after the failure");
    cr_expect_eq(w.err, MF_WIRE_TOO_LARGE);
    free(w.buf);

    mf_writer z = mf_test_writer();
    mf_w_fail(&z, 0);
    cr_expect_eq(z.err, MF_WIRE_CODEC, "0 means 'the codec refuses'");
    free(z.buf);
}

static int refuse_to_grow(mf_writer *w, size_t need)
{
    (void)w, (void)need;
    return -1;
}

static int pretend_to_grow(mf_writer *w, size_t need)
{
    (void)w, (void)need;
    return 0; /* says yes, grows nothing */
}

Test(sdk_writer, a_reserve_that_fails_is_a_sticky_nomem)
{
    int (*const hooks[])(mf_writer *, size_t) = {refuse_to_grow, pretend_to_grow, NULL};
    for (size_t h = 0; h < NELEM(hooks); h++) {
        unsigned char buf[6];
        mf_writer w = {buf, 0, sizeof buf, 0, hooks[h], NULL};
        mf_w_u32(&w, 0x01020304);
        cr_assert_eq(w.err, 0, "fits in the buffer");
        mf_w_u32(&w, 5);
        cr_expect_eq(w.err, MF_WIRE_NOMEM, "hook %zu", h);
        cr_expect_eq(w.len, 4);
        mf_w_u8(&w, 1); /* would fit, but the error is sticky */
        mf_w_i16_array(&w, (const int16_t[]){1}, 1);
        mf_w_fail(&w, MF_WIRE_CODEC);
        cr_expect_eq(w.len, 4);
        cr_expect_eq(w.err, MF_WIRE_NOMEM, "the first error wins");
        cr_expect(buf[0] == 4 && buf[3] == 1);
    }
}

Test(sdk_writer, arrays_fail_whole_when_the_writer_cannot_grow)
{
    unsigned char buf[8];
    mf_writer w = {buf, 0, sizeof buf, 0, refuse_to_grow, NULL};
    mf_w_u32_array(&w, (const uint32_t[]){1, 2, 3}, 3);
    cr_expect_eq(w.err, MF_WIRE_NOMEM);
    cr_expect_eq(w.len, 0, "no partial array");
}

/* ------------------------------------------------------------------------ */
/* How the core reports a codec's mf_w_fail                                 */
/* ------------------------------------------------------------------------ */

typedef struct { int refuse; int value; } picky;

/* A codec that refuses an object marked refuse = 1 with mf_w_fail but
 * returns 0 anyway (the core must still see the writer error), and dies
 * (SIGKILL) on one marked 2. */
static int picky_out(const void *obj, mf_writer *w)
{
    const picky *p = obj;
    if (p->refuse == 2)
        raise(SIGKILL);
    mf_w_i32(w, p->value);
    if (p->refuse)
        mf_w_fail(w, MF_WIRE_CODEC);
    return 0;
}

static void *picky_in(mf_reader *r, uint32_t version)
{
    (void)version;
    picky *p = calloc(1, sizeof *p);
    if (!p) {
        mf_r_fail(r, MF_WIRE_NOMEM);
        return NULL;
    }
    p->value = mf_r_i32(r);
    return p;
}

static const mf_class picky_class = {
    sizeof(mf_class), "sdk_types_picky", 1, 1, picky_out, picky_in, free,
    NULL, NULL, NULL, NULL, NULL, NULL, 0};

/* A new file at @p file whose registry knows @p cls (and the built-ins). */
static mf_file *open_with_class(const mf_class *cls, const char *file, mf_registry **reg)
{
    cr_assert_eq(mf_registry_create(reg), 0);
    cr_assert_eq(mf_registry_add_class(*reg, cls), 0, "%s", mf_errdetail());
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.registry = *reg;
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, mf_test_path(file), MF_RECREATE, &o), 0, "%s", mf_errdetail());
    return mf;
}

static void close_with_class(mf_file *mf, const char *file, mf_registry *reg)
{
    mf_close(mf);
    mf_test_unlink(mf_test_path(file));
    mf_registry_free(reg);
}

Test(sdk_writer, the_core_refuses_a_put_whose_codec_called_w_fail)
{
    mf_registry *reg;
    mf_file *mf = open_with_class(&picky_class, "picky.map", &reg);

    picky good = {0, -7}, bad = {1, 9};
    cr_assert_eq(mf_put(mf, "good", "sdk_types_picky", &good), 0, "%s", mf_errdetail());
    cr_expect_eq(mf_put(mf, "bad", "sdk_types_picky", &bad), MF_ECODEC);
    cr_expect(strstr(mf_errdetail(), "sdk_types_picky") && strstr(mf_errdetail(), "'bad'") &&
                  strstr(mf_errdetail(), "codec rejected the content"),
              "the detail names class, record and the writer error: %s", mf_errdetail());

    void *obj;
    const mf_class *cls;
    cr_expect_eq(mf_get(mf, "bad", &obj, &cls), MF_ENOTFOUND, "nothing was stored");
    cr_assert_eq(mf_get(mf, "good", &obj, &cls), 0, "%s", mf_errdetail());
    cr_expect_eq(((picky *)obj)->value, -7);
    mf_object_free(cls, obj);
    close_with_class(mf, "picky.map", reg);
}

/* Four picky objects p0..p3 (values 1..4) added and published as a batch. */
static const char *const four_names[4] = {"p0", "p1", "p2", "p3"};

static void add_four(mf_file *mf, picky p[4])
{
    for (int i = 0; i < 4; i++) {
        p[i] = (picky){0, i + 1};
        cr_assert_eq(mf_add(mf, four_names[i], "sdk_types_picky", &p[i]), 0, "%s",
                     mf_errdetail());
    }
    cr_assert_eq(mf_update(mf, NULL), 0, "%s", mf_errdetail());
}

/* A codec that writes to the file it is being written to from stream_out,
 * through another handle or through its own: the writer lock (and the
 * handle's producer lock) is held by its own thread then, so each such
 * write fails with MF_EBUSY at once instead of waiting forever. */
static mf_file *reentrant_target, *reentrant_self;
enum { REENTRANT_TRIES = 7 };
static int reentrant_rc[REENTRANT_TRIES];

static int reentrant_out(const void *obj, mf_writer *w)
{
    int v = 1;
    int *rc = reentrant_rc;
    *rc++ = mf_put_raw(reentrant_target, "side", "blob", 1, "x", 1);
    *rc++ = mf_remove(reentrant_target, "a");
    *rc++ = mf_put_raw(reentrant_self, "side", "blob", 1, "x", 1);
    *rc++ = mf_put(reentrant_self, "side", "sdk_types_reentrant", &v);
    *rc++ = mf_add(reentrant_self, "side", "sdk_types_reentrant", &v);
    *rc++ = mf_update(reentrant_self, NULL);
    *rc++ = mf_remove(reentrant_self, "a");
    mf_w_i32(w, *(const int *)obj);
    return 0;
}

static const mf_class reentrant_class = {
    sizeof(mf_class), "sdk_types_reentrant", 1, 1, reentrant_out, picky_in, free,
    NULL, NULL, NULL, NULL, NULL, NULL, 0};

Test(sdk_writer, a_codec_writing_to_its_own_file_gets_ebusy_not_a_hang, .timeout = 20)
{
    mf_registry *reg;
    mf_file *mf = open_with_class(&reentrant_class, "reentrant.map", &reg);
    cr_assert_eq(mf_open(&reentrant_target, mf_test_path("reentrant.map"), MF_UPDATE, NULL), 0,
                 "%s", mf_errdetail());
    reentrant_self = mf;
    int v = 5;
    cr_assert_eq(mf_put(mf, "a", "sdk_types_reentrant", &v), 0, "%s", mf_errdetail());
    for (int i = 0; i < REENTRANT_TRIES; i++)
        cr_expect_eq(reentrant_rc[i], MF_EBUSY, "nested write %d: %s", i,
                     mf_strerror(reentrant_rc[i]));
    mf_record_info info;
    cr_expect_eq(mf_stat(mf, "side", &info), MF_ENOTFOUND);
    cr_expect_eq(mf_stat(mf, "a", &info), 0);
    /* Both handles write as usual afterwards. */
    cr_expect_eq(mf_put_raw(reentrant_target, "later", "blob", 1, "y", 1), 0, "%s",
                 mf_errdetail());
    cr_expect_eq(mf_remove(mf, "later"), 0, "%s", mf_errdetail());
    mf_close(reentrant_target);
    close_with_class(mf, "reentrant.map", reg);
}

/* From inside stream_out, with the writer lock held by this thread: a copy
 * of the file is taken (as a backup tool could catch it) and a record is
 * put into a second file (writing to other files is fine). The copy's lock
 * names this thread, pid and pid namespace, but it is another file: opened
 * for writing afterwards by this same thread, it is a stale lock, taken
 * over and repaired, not refused as one this thread holds. */
static const char *copier_src, *copier_dst;
static mf_file *copier_other;
static int copier_other_rc = 1;

static void copy_bytes(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    cr_assert(in && out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        cr_assert_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    cr_assert_eq(fclose(out), 0);
}

static int copier_out(const void *obj, mf_writer *w)
{
    copy_bytes(copier_src, copier_dst);
    copier_other_rc = mf_put_raw(copier_other, "side", "blob", 1, "x", 1);
    mf_w_i32(w, *(const int *)obj);
    return 0;
}

static const mf_class copier_class = {
    sizeof(mf_class), "sdk_types_copier", 1, 1, copier_out, picky_in, free,
    NULL, NULL, NULL, NULL, NULL, NULL, 0};

Test(sdk_writer, a_copy_taken_under_this_threads_lock_is_repaired_not_refused, .timeout = 30)
{
    mf_registry *reg;
    mf_file *mf = open_with_class(&copier_class, "copier.map", &reg);
    char src[512], dst[512];
    snprintf(src, sizeof src, "%s", mf_test_path("copier.map"));
    snprintf(dst, sizeof dst, "%s", mf_test_path("copier-copy.map"));
    copier_src = src;
    copier_dst = dst;
    cr_assert_eq(mf_open(&copier_other, mf_test_path("copier-other.map"), MF_RECREATE, NULL),
                 0, "%s", mf_errdetail());
    cr_assert_eq(mf_put_raw(mf, "before", "blob", 1, "b", 1), 0, "%s", mf_errdetail());
    int v = 5;
    cr_assert_eq(mf_put(mf, "a", "sdk_types_copier", &v), 0, "%s", mf_errdetail());
    cr_expect_eq(copier_other_rc, 0, "a put into another file from stream_out: %s",
                 mf_strerror(copier_other_rc));

    mf_file *copy;
    mf_file_info fi;
    cr_assert_eq(mf_open(&copy, dst, MF_READ, NULL), 0, "%s", mf_errdetail());
    cr_assert_eq(mf_file_stat(copy, &fi), 0);
    cr_expect_eq(fi.writer_state, MF_WRITER_DEAD, "the copy's lock names a holder of "
                 "another file");
    mf_close(copy);
    /* The same thread opens the copy for writing: repaired, then usable. */
    cr_assert_eq(mf_open(&copy, dst, MF_UPDATE, NULL), 0, "%s", mf_errdetail());
    cr_assert_eq(mf_file_stat(copy, &fi), 0);
    cr_expect_eq(fi.recoveries, 1);
    cr_expect_eq(fi.writer_state, MF_WRITER_FREE);
    mf_record_info info;
    cr_expect_eq(mf_stat(copy, "before", &info), 0, "what was committed before the copy");
    cr_expect_eq(mf_stat(copy, "a", &info), MF_ENOTFOUND, "the put being staged");
    cr_expect_eq(mf_put_raw(copy, "after", "blob", 1, "c", 1), 0, "%s", mf_errdetail());
    unsigned problems = 1;
    cr_expect_eq(mf_check(copy, NULL, NULL, &problems), 0, "%s", mf_errdetail());
    cr_expect_eq(problems, 0);
    mf_close(copy);
    mf_close(copier_other);
    mf_test_unlink(dst);
    mf_test_unlink(mf_test_path("copier-other.map"));
    close_with_class(mf, "copier.map", reg);
}

/* A producer killed (SIGKILL) inside a codec's stream_out, with the batch's
 * first objects already staged in the file under the writer lock: readers
 * see the batch before it whole, and the next writer repairs the file to
 * it, mf_check clean. Three times: the space in use after each repair is
 * the same (the staged blocks of each dead batch came back). */
Test(sdk_writer, a_producer_killed_inside_a_codec_mid_batch_leaves_the_batch_before, .timeout = 60)
{
    mf_registry *reg;
    mf_file *mf = open_with_class(&picky_class, "mortal.map", &reg);
    picky p[4];
    add_four(mf, p);
    const char *const *names = four_names;
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.registry = reg;
    uint64_t used[3], recoveries = 0;
    for (int round = 0; round < 3; round++) {
        pid_t pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
            for (int i = 0; i < 4; i++)
                p[i].value += 10;
            p[2].refuse = 2; /* p0 and p1 are staged when p2's codec dies */
            mf_update(mf, NULL);
            _exit(0);
        }
        int st;
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the producer was not killed");

        mf_file *r;
        cr_assert_eq(mf_open(&r, mf_test_path("mortal.map"), MF_READ, &o), 0);
        for (int i = 0; i < 4; i++) {
            void *obj;
            const mf_class *cls;
            cr_assert_eq(mf_get(r, names[i], &obj, &cls), 0, "%s", mf_errdetail());
            cr_expect_eq(((picky *)obj)->value, i + 1, "%s: the batch before, whole",
                         names[i]);
            mf_object_free(cls, obj);
        }
        mf_close(r);
        /* The next writer takes over the dead one's lock and repairs. */
        mf_file *w;
        cr_assert_eq(mf_open(&w, mf_test_path("mortal.map"), MF_UPDATE, NULL), 0, "%s",
                     mf_errdetail());
        cr_assert_eq(mf_put_raw(w, "after", "blob", 1, "x", 1), 0, "%s", mf_errdetail());
        cr_assert_eq(mf_remove(w, "after"), 0, "%s", mf_errdetail());
        mf_file_info fi;
        cr_assert_eq(mf_file_stat(w, &fi), 0);
        cr_expect_gt(fi.recoveries, recoveries, "round %d: the file was repaired", round);
        recoveries = fi.recoveries;
        used[round] = fi.heap_used;
        unsigned problems = 1;
        cr_assert_eq(mf_check(w, NULL, NULL, &problems), 0, "%s", mf_errdetail());
        cr_expect_eq(problems, 0);
        mf_close(w);
    }
    cr_expect(used[0] == used[1] && used[1] == used[2],
              "heap in use after each repair: %llu, %llu, %llu", (unsigned long long)used[0],
              (unsigned long long)used[1], (unsigned long long)used[2]);
    close_with_class(mf, "mortal.map", reg);
}

/* mf_update(NULL) encodes each object while it stages the batch: a codec
 * that fails on the third of four objects leaves the file as it was (no
 * object of the batch stored, the two staged before it freed again). */
Test(sdk_writer, a_batch_update_with_one_failing_codec_stores_nothing_and_keeps_no_space)
{
    mf_registry *reg;
    mf_file *mf = open_with_class(&picky_class, "picky_batch.map", &reg);
    picky p[4];
    add_four(mf, p);
    const char *const *names = four_names;
    mf_file_info before, after;
    cr_assert_eq(mf_file_stat(mf, &before), 0);

    for (int i = 0; i < 4; i++)
        p[i].value += 10;
    p[2].refuse = 1;
    for (int round = 0; round < 100; round++)
        cr_assert_eq(mf_update(mf, NULL), MF_ECODEC, "round %d", round);
    cr_expect(strstr(mf_errdetail(), "'p2'"), "%s", mf_errdetail());
    cr_assert_eq(mf_file_stat(mf, &after), 0);
    cr_expect_eq(after.committed, before.committed, "no batch was committed");
    cr_expect_eq(after.heap_used, before.heap_used, "what was staged was freed");
    for (int i = 0; i < 4; i++) {
        void *obj;
        const mf_class *cls;
        cr_assert_eq(mf_get(mf, names[i], &obj, &cls), 0, "%s", mf_errdetail());
        cr_expect_eq(((picky *)obj)->value, i + 1, "%s keeps the last stored value", names[i]);
        mf_object_free(cls, obj);
    }
    p[2].refuse = 0;
    cr_assert_eq(mf_update(mf, NULL), 0, "%s", mf_errdetail());
    void *obj;
    const mf_class *cls;
    cr_assert_eq(mf_get(mf, "p3", &obj, &cls), 0);
    cr_expect_eq(((picky *)obj)->value, 14);
    mf_object_free(cls, obj);
    close_with_class(mf, "picky_batch.map", reg);
}
