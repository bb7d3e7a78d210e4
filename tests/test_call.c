/* test_call.c - calling methods by name through libffi: results agree with
 * direct calls for every type, mismatches are refused before any call, and
 * signatures are validated when a class is registered. */
#include "internal.h"
#include "plugins/testplugins.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* A test class with one method per (return type, argument type) pair        */
/* ------------------------------------------------------------------------ */

typedef struct tc_obj {
    int64_t i;
    uint64_t u;
    double d;
    int64_t last;   /* what a void method stored */
    int calls;      /* every method bumps it */
    char buf[96];   /* returned strings live here: owned by the object */
} tc_obj;

static int64_t key_i(int64_t x) { return x * 5 - 3; }
static int64_t key_u(uint64_t x) { return (int64_t)(x >> 1) + 11; }
static int64_t key_d(double x) { return (int64_t)(x * 1024.0); }
static int64_t key_s(const char *s)
{
    uint64_t h = 7;
    while (*s)
        h = h * 31 + (unsigned char)*s++;
    return (int64_t)(h >> 12);
}

#define T_i int64_t
#define T_u uint64_t
#define T_d double
#define T_s const char *
#define T_v void
#define F_i i
#define F_u u
#define F_d d
#define F_s s

/* Each return type turns the object's state and a key into a result that
 * differs for every input, so a wrongly passed argument shows. */
#define MAKE_i(t, k) return t->i * 3 + (k)
#define MAKE_u(t, k) return t->u ^ (uint64_t)(k)
#define MAKE_d(t, k) return t->d * 0.5 + (double)(k) / 8.0
#define MAKE_s(t, k)                                                          \
    snprintf(t->buf, sizeof t->buf, "s%lld", (long long)(t->i + (k)));         \
    return t->buf
#define MAKE_v(t, k) t->last = (k)

#define STORE_i(out, e) (out)->type = MF_T_I64, (out)->v.i = (e)
#define STORE_u(out, e) (out)->type = MF_T_U64, (out)->v.u = (e)
#define STORE_d(out, e) (out)->type = MF_T_F64, (out)->v.d = (e)
#define STORE_s(out, e) (out)->type = MF_T_STR, (out)->v.s = (e)
#define STORE_v(out, e) (e), (out)->type = MF_T_VOID

/* m_R_n(o) and m_R_X(o, a), plus inv_* that call them directly. */
#define DEF0(R)                                                               \
    static T_##R m_##R##_n(void *o)                                           \
    {                                                                         \
        tc_obj *t = o;                                                        \
        t->calls++;                                                           \
        MAKE_##R(t, 0);                                                       \
    }                                                                         \
    static void inv_##R##_n(void *o, const mf_value *a, mf_value *out)        \
    {                                                                         \
        (void)a;                                                              \
        STORE_##R(out, m_##R##_n(o));                                         \
    }
#define DEF1(R, X)                                                            \
    static T_##R m_##R##_##X(void *o, T_##X a)                                \
    {                                                                         \
        tc_obj *t = o;                                                        \
        t->calls++;                                                           \
        MAKE_##R(t, key_##X(a));                                              \
    }                                                                         \
    static void inv_##R##_##X(void *o, const mf_value *a, mf_value *out)      \
    {                                                                         \
        STORE_##R(out, m_##R##_##X(o, a->v.F_##X));                           \
    }
#define DEFS(R) DEF0(R) DEF1(R, i) DEF1(R, u) DEF1(R, d) DEF1(R, s)

DEFS(i)
DEFS(u)
DEFS(d)
DEFS(s)
DEFS(v)

typedef void (*invoker)(void *o, const mf_value *a, mf_value *out);

typedef struct combo {
    const char *name;
    const char *sig;
    char ret, arg; /* arg 'n': none */
    invoker direct;
} combo;

#define CH_i 'i'
#define CH_u 'u'
#define CH_d 'd'
#define CH_s 's'
#define CH_v 'v'
#define C0(R) {#R "_n", #R "(o)", CH_##R, 'n', inv_##R##_n}
#define C1(R, X) {#R "_" #X, #R "(o," #X ")", CH_##R, CH_##X, inv_##R##_##X}
#define CS(R) C0(R), C1(R, i), C1(R, u), C1(R, d), C1(R, s)

static const combo combos[] = {CS(i), CS(u), CS(d), CS(s), CS(v)};
#define NCOMBOS (sizeof combos / sizeof *combos)

/* Fifteen arguments after the object, more than fit in registers, mixing
 * integer and floating point so their register sequences interleave. */
static double m_many(void *o, int64_t a, uint64_t b, double c, const char *d,
                     double e, int64_t f, uint64_t g, double h, const char *i,
                     int64_t j, double k, double l, double m, double n, double p)
{
    tc_obj *t = o;
    t->calls++;
    return (double)a * 1 + (double)b * 2 + c * 3 + (double)key_s(d) * 4 + e * 5 +
           (double)f * 6 + (double)g * 7 + h * 8 + (double)key_s(i) * 9 +
           (double)j * 10 + k * 11 + l * 12 + m * 13 + n * 14 + p * 15 + t->d;
}

static const char *m_concat(void *o, const char *a, const char *b)
{
    tc_obj *t = o;
    t->calls++;
    snprintf(t->buf, sizeof t->buf, "%s+%s", a, b);
    return t->buf;
}

static int64_t m_neg(void *o, int64_t x)
{
    ((tc_obj *)o)->calls++;
    return -x;
}

static uint64_t m_big(void *o, uint64_t x)
{
    ((tc_obj *)o)->calls++;
    return x | (1ull << 63);
}

#define M0(R) MF_METHOD(#R "_n", #R "(o)", m_##R##_n)
#define M1(R, X) MF_METHOD(#R "_" #X, #R "(o," #X ")", m_##R##_##X)
#define MS(R) M0(R), M1(R, i), M1(R, u), M1(R, d), M1(R, s)

static const mf_method tc_methods[] = {
    MS(i), MS(u), MS(d), MS(s), MS(v),
    MF_METHOD("many", "d(o,i,u,d,s,d,i,u,d,s,i,d,d,d,d,d)", m_many),
    MF_METHOD("concat", "s(o,s,s)", m_concat),
    MF_METHOD("neg", "i(o,i)", m_neg),
    MF_METHOD("big", "u(o,u)", m_big),
    {0, NULL, NULL, NULL},
};

static int tc_out(const void *obj, mf_writer *w)
{
    (void)obj;
    mf_w_u8(w, 0);
    return 0;
}
static void *tc_in(mf_reader *r, uint32_t v)
{
    (void)r;
    (void)v;
    return NULL;
}
static void tc_destroy(void *obj) { (void)obj; }

static const mf_class tc_class = {sizeof(mf_class), "tc.methods", 1, 1, tc_out,
                                  tc_in, tc_destroy, NULL, NULL, tc_methods, NULL, NULL, NULL, 0};

static mf_registry *reg;

static void setup(void)
{
    unsetenv("MAPFILE_PLUGIN_PATH");
    cr_assert_eq(mf_registry_create(&reg), 0);
    cr_assert_eq(mf_registry_add_class(reg, &tc_class), 0, "%s", mf_errdetail());
}

static void teardown(void) { mf_registry_free(reg); }

TestSuite(call, .init = setup, .fini = teardown);

static tc_obj fresh(void)
{
    tc_obj t;
    memset(&t, 0, sizeof t);
    t.i = -1234567890123ll;
    t.u = 0xfedcba9876543210ull;
    t.d = 3.25;
    return t;
}

static mf_value arg_for(char x)
{
    mf_value v;
    memset(&v, 0, sizeof v);
    switch (x) {
    case 'i':
        v.type = MF_T_I64;
        v.v.i = -987654321012345ll;
        break;
    case 'u':
        v.type = MF_T_U64;
        v.v.u = 0x8000000000000123ull;
        break;
    case 'd':
        v.type = MF_T_F64;
        v.v.d = -2.718281828;
        break;
    default:
        v.type = MF_T_STR;
        v.v.s = "an argument string";
        break;
    }
    return v;
}

/* ------------------------------------------------------------------------ */
/* Calls agree with direct calls                                            */
/* ------------------------------------------------------------------------ */

Test(call, every_return_and_argument_type_agrees_with_a_direct_call)
{
    for (size_t c = 0; c < NCOMBOS; c++) {
        const combo *k = &combos[c];
        tc_obj via = fresh(), direct = fresh();
        mf_value arg = arg_for(k->arg), got, want;
        size_t nargs = k->arg == 'n' ? 0 : 1;
        int rc = mf_call(&tc_class, &via, k->name, &arg, nargs, &got);
        cr_assert_eq(rc, 0, "%s: %s", k->name, mf_errdetail());
        k->direct(&direct, &arg, &want);
        cr_assert_eq(got.type, want.type, "%s: type", k->name);
        cr_assert_eq(got.type, (mf_type)k->ret);
        switch (k->ret) {
        case 'i':
            cr_assert_eq(got.v.i, want.v.i, "%s", k->name);
            break;
        case 'u':
            cr_assert_eq(got.v.u, want.v.u, "%s", k->name);
            break;
        case 'd':
            cr_assert_eq(memcmp(&got.v.d, &want.v.d, sizeof(double)), 0,
                         "%s: %.17g vs %.17g", k->name, got.v.d, want.v.d);
            break;
        case 's':
            cr_assert_str_eq(got.v.s, want.v.s, "%s", k->name);
            /* The string is the object's own buffer, not a copy. */
            cr_assert_eq(got.v.s, via.buf, "%s", k->name);
            break;
        }
        cr_assert_eq(via.last, direct.last, "%s: side effect", k->name);
        cr_assert_eq(via.calls, 1, "%s called %d times", k->name, via.calls);
    }
}

Test(call, many_arguments_past_the_registers_agree_with_a_direct_call)
{
    tc_obj t = fresh();
    mf_value a[15];
    const char *sig = "iudsdiudsiddddd";
    for (int i = 0; i < 15; i++) {
        a[i] = arg_for(sig[i]);
        if (a[i].type == MF_T_F64)
            a[i].v.d = 1.5 * i - 4;
        if (a[i].type == MF_T_I64)
            a[i].v.i = -100 * i;
    }
    a[8].v.s = "ninth";
    double want = m_many(&t, a[0].v.i, a[1].v.u, a[2].v.d, a[3].v.s, a[4].v.d,
                         a[5].v.i, a[6].v.u, a[7].v.d, a[8].v.s, a[9].v.i,
                         a[10].v.d, a[11].v.d, a[12].v.d, a[13].v.d, a[14].v.d);
    mf_value got;
    cr_assert_eq(mf_call(&tc_class, &t, "many", a, 15, &got), 0, "%s", mf_errdetail());
    cr_assert_eq(got.type, MF_T_F64);
    cr_assert_eq(memcmp(&got.v.d, &want, sizeof want), 0, "%.17g vs %.17g",
                 got.v.d, want);
    cr_assert_eq(t.calls, 2);
}

Test(call, extreme_integers_keep_sign_and_width)
{
    tc_obj t = fresh();
    mf_value a = {.type = MF_T_I64, .v.i = INT64_MIN + 1}, r;
    cr_assert_eq(mf_call(&tc_class, &t, "neg", &a, 1, &r), 0);
    cr_assert_eq(r.v.i, INT64_MAX);
    a.v.i = 5;
    cr_assert_eq(mf_call(&tc_class, &t, "neg", &a, 1, &r), 0);
    cr_assert_eq(r.v.i, -5);
    mf_value b = {.type = MF_T_U64, .v.u = 0x7fffffffffffffffull};
    cr_assert_eq(mf_call(&tc_class, &t, "big", &b, 1, &r), 0);
    cr_assert_eq(r.type, MF_T_U64);
    cr_assert_eq(r.v.u, UINT64_MAX);
}

Test(call, returned_string_is_owned_by_the_object_and_arguments_are_borrowed)
{
    tc_obj t = fresh();
    char *x = strdup("left"), *y = strdup("right");
    mf_value a[2] = {{.type = MF_T_STR, .v.s = x}, {.type = MF_T_STR, .v.s = y}}, r;
    cr_assert_eq(mf_call(&tc_class, &t, "concat", a, 2, &r), 0);
    /* The caller still owns its arguments and frees them; the result is the
     * object's buffer and must not be freed. */
    free(x);
    free(y);
    cr_assert_eq(r.v.s, t.buf);
    cr_assert_str_eq(r.v.s, "left+right");
    a[0].v.s = "a";
    a[1].v.s = "b";
    cr_assert_eq(mf_call(&tc_class, &t, "concat", a, 2, &r), 0);
    cr_assert_str_eq(t.buf, "a+b");
}

Test(call, return_value_may_be_ignored)
{
    tc_obj t = fresh();
    mf_value a = arg_for('i');
    cr_assert_eq(mf_call(&tc_class, &t, "v_i", &a, 1, NULL), 0);
    cr_assert_eq(t.last, key_i(a.v.i));
    cr_assert_eq(mf_call(&tc_class, &t, "d_n", NULL, 0, NULL), 0);
    cr_assert_eq(t.calls, 2);
}

/* ------------------------------------------------------------------------ */
/* Mismatches are refused and nothing is called                             */
/* ------------------------------------------------------------------------ */

Test(call, wrong_argument_count_is_refused_without_calling)
{
    tc_obj t = fresh();
    mf_value a[2] = {arg_for('i'), arg_for('i')};
    cr_assert_eq(mf_call(&tc_class, &t, "i_i", a, 0, NULL), MF_EARGS);
    cr_assert_not_null(strstr(mf_errdetail(), "takes 1 argument"), "%s", mf_errdetail());
    cr_assert_not_null(strstr(mf_errdetail(), "given 0"), "%s", mf_errdetail());
    cr_assert_not_null(strstr(mf_errdetail(), "i(o,i)"), "%s", mf_errdetail());
    cr_assert_eq(mf_call(&tc_class, &t, "i_i", a, 2, NULL), MF_EARGS);
    cr_assert_not_null(strstr(mf_errdetail(), "given 2"), "%s", mf_errdetail());
    cr_assert_eq(mf_call(&tc_class, &t, "i_n", a, 1, NULL), MF_EARGS);
    cr_assert_eq(t.calls, 0);
}

Test(call, wrong_argument_type_is_refused_without_calling)
{
    const char *types = "iuds";
    for (const char *want = types; *want; want++)
        for (const char *given = types; *given; given++) {
            if (*want == *given)
                continue;
            tc_obj t = fresh();
            char name[8];
            snprintf(name, sizeof name, "i_%c", *want);
            mf_value a = arg_for(*given);
            cr_assert_eq(mf_call(&tc_class, &t, name, &a, 1, NULL), MF_EARGS,
                         "%s given %c", name, *given);
            char expect[64], gave[64];
            snprintf(expect, sizeof expect, "expected %c (", *want);
            snprintf(gave, sizeof gave, "given %c (", *given);
            cr_assert_not_null(strstr(mf_errdetail(), "argument 1"), "%s", mf_errdetail());
            cr_assert_not_null(strstr(mf_errdetail(), expect), "%s", mf_errdetail());
            cr_assert_not_null(strstr(mf_errdetail(), gave), "%s", mf_errdetail());
            cr_assert_eq(t.calls, 0);
        }
    /* Only the third argument is wrong: the message says which. */
    tc_obj t = fresh();
    mf_value a[15];
    const char *sig = "iudsdiudsiddddd";
    for (int i = 0; i < 15; i++)
        a[i] = arg_for(sig[i]);
    a[2] = arg_for('i');
    cr_assert_eq(mf_call(&tc_class, &t, "many", a, 15, NULL), MF_EARGS);
    cr_assert_not_null(strstr(mf_errdetail(), "argument 3: expected d"), "%s", mf_errdetail());
    /* The object type is never a valid argument after the object itself. */
    a[2] = arg_for('d');
    a[0].type = MF_T_OBJ;
    cr_assert_eq(mf_call(&tc_class, &t, "many", a, 15, NULL), MF_EARGS);
    a[0].type = (mf_type)'z';
    cr_assert_eq(mf_call(&tc_class, &t, "many", a, 15, NULL), MF_EARGS);
    cr_assert_eq(t.calls, 0);
}

Test(call, null_string_argument_is_refused_without_calling)
{
    tc_obj t = fresh();
    mf_value a = {.type = MF_T_STR, .v.s = NULL};
    cr_assert_eq(mf_call(&tc_class, &t, "i_s", &a, 1, NULL), MF_EARGS);
    cr_assert_not_null(strstr(mf_errdetail(), "NULL"), "%s", mf_errdetail());
    cr_assert_eq(t.calls, 0);
}

Test(call, unknown_method_is_refused_and_names_what_exists)
{
    tc_obj t = fresh();
    cr_assert_eq(mf_call(&tc_class, &t, "nope", NULL, 0, NULL), MF_ENOMETHOD);
    cr_assert_not_null(strstr(mf_errdetail(), "'nope'"), "%s", mf_errdetail());
    cr_assert_not_null(strstr(mf_errdetail(), "tc.methods"), "%s", mf_errdetail());
    cr_assert_not_null(strstr(mf_errdetail(), "i_n"), "%s", mf_errdetail());
    cr_assert_eq(mf_call(&tc_class, &t, "", NULL, 0, NULL), MF_ENOMETHOD);
    cr_assert_eq(mf_call(&tc_class, &t, "I_N", NULL, 0, NULL), MF_ENOMETHOD);
    cr_assert_eq(t.calls, 0);
    cr_assert_neq(MF_ENOMETHOD, MF_EARGS);
}

Test(call, null_inputs_and_unregistered_classes_are_invalid)
{
    tc_obj t = fresh();
    mf_class copy = tc_class; /* same content, never registered */
    cr_assert_eq(mf_call(&copy, &t, "i_n", NULL, 0, NULL), MF_EINVAL);
    cr_assert_eq(mf_call(NULL, &t, "i_n", NULL, 0, NULL), MF_EINVAL);
    cr_assert_eq(mf_call(&tc_class, NULL, "i_n", NULL, 0, NULL), MF_EINVAL);
    cr_assert_eq(mf_call(&tc_class, &t, NULL, NULL, 0, NULL), MF_EINVAL);
    cr_assert_eq(mf_call(&tc_class, &t, "i_i", NULL, 1, NULL), MF_EINVAL);
    cr_assert_eq(t.calls, 0);
    const mf_method_info *mi;
    cr_assert_eq(mf_class_methods(&copy, &mi), MF_ENOCODEC);
    cr_assert_eq(mf_class_methods(NULL, &mi), MF_ENOCODEC);
}

/* ------------------------------------------------------------------------ */
/* Method listing and signature validation                                  */
/* ------------------------------------------------------------------------ */

Test(call, class_methods_lists_names_and_signatures_in_order)
{
    const mf_method_info *mi;
    int n = mf_class_methods(&tc_class, &mi);
    cr_assert_eq(n, (int)(sizeof tc_methods / sizeof *tc_methods) - 1);
    for (int i = 0; i < n; i++) {
        cr_assert_str_eq(mi[i].name, tc_methods[i].name);
        cr_assert_str_eq(mi[i].signature, tc_methods[i].signature);
    }
    static const mf_class plain = {sizeof(mf_class), "tc.plain", 1, 1, tc_out,
                                   tc_in, tc_destroy, NULL, NULL, NULL, NULL, NULL, NULL, 0};
    cr_assert_eq(mf_registry_add_class(reg, &plain), 0);
    cr_assert_eq(mf_class_methods(&plain, &mi), 0);
    tc_obj t = fresh();
    cr_assert_eq(mf_call(&plain, &t, "i_n", NULL, 0, NULL), MF_ENOMETHOD);
}

/* Prepare a one-method class; returns the code. */
static int prepare_one(const char *name, const char *sig, void (*fn)(void))
{
    mf_method ms[2] = {{sizeof(mf_method), name, sig, fn}, {0, NULL, NULL, NULL}};
    mf_class c = {sizeof(mf_class), "tc.sig", 1, 1, tc_out, tc_in, tc_destroy,
                  NULL, NULL, ms, NULL, NULL, NULL, 0};
    int rc = mf__methods_prepare(&c);
    if (rc == 0) {
        cr_assert_eq(mf_class_methods(&c, NULL), 1);
        mf__methods_forget(&c);
    }
    return rc;
}

Test(call, signature_grammar_is_enforced)
{
    void (*fn)(void) = (void (*)(void))m_i_n;
    const char *good[] = {"v(o)", "i(o)", "u(o)", "d(o)", "s(o)", "d(o,i,u,d,s)",
                          "v(o,s,s,s)", "d(o,i,u,d,s,d,i,u,d,s,i,d,d,d,d,d)"};
    const char *bad[] = {"", "o(o)", "x(o)", "d", "d(", "d()", "d(i)", "d(o",
                         "d(o,)", "d(o,o)", "d(o,v)", "d(o)x", "d(o) ", " d(o)",
                         "d (o)", "d(o,i,,)", "d(o,ii)", "d(o i)", "dd(o)", "d(o))",
                         "v(o,i,u,d,s,d,i,u,d,s,i,d,d,d,d,d,i)", NULL};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        cr_assert_eq(prepare_one("m", good[i], fn), 0, "'%s': %s", good[i], mf_errdetail());
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_eq(prepare_one("meth", bad[i], fn), MF_ESIGNATURE, "'%s' accepted",
                     bad[i] ? bad[i] : "NULL");
        cr_assert_not_null(strstr(mf_errdetail(), "method 'meth'"), "%s", mf_errdetail());
        cr_assert_not_null(strstr(mf_errdetail(), "tc.sig"), "%s", mf_errdetail());
    }
}

Test(call, method_names_must_be_unique_identifiers_with_a_function)
{
    void (*fn)(void) = (void (*)(void))m_i_n;
    const char *good[] = {"a", "_x", "mean", "get_bin2", "A9_"};
    const char *bad[] = {"", "1abc", "a-b", "a b", "a.b", "caf\xc3\xa9", "x\n"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        cr_assert_eq(prepare_one(good[i], "i(o)", fn), 0, "'%s': %s", good[i], mf_errdetail());
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(prepare_one(bad[i], "i(o)", fn), MF_ESIGNATURE, "'%s' accepted", bad[i]);
    cr_assert_null(strchr(mf_errdetail(), '\n'), "raw control byte in: %s", mf_errdetail());
    cr_assert_eq(prepare_one("nofn", "i(o)", NULL), MF_ESIGNATURE);
    cr_assert_not_null(strstr(mf_errdetail(), "'nofn'"));

    mf_method twice[] = {MF_METHOD("dup", "i(o)", m_i_n), MF_METHOD("dup", "u(o)", m_u_n),
                         {0, NULL, NULL, NULL}};
    mf_class c = {sizeof(mf_class), "tc.twice", 1, 1, tc_out, tc_in, tc_destroy,
                  NULL, NULL, twice, NULL, NULL, NULL, 0};
    cr_assert_eq(mf__methods_prepare(&c), MF_ESIGNATURE);
    cr_assert_not_null(strstr(mf_errdetail(), "'dup'"));
    cr_assert_not_null(strstr(mf_errdetail(), "twice"));

    mf_method small[] = {{4, "small", "i(o)", (void (*)(void))m_i_n}, {0, NULL, NULL, NULL}};
    c.methods = small;
    cr_assert_eq(mf__methods_prepare(&c), MF_ESIGNATURE);
    cr_assert_not_null(strstr(mf_errdetail(), "'small'"));
}

Test(call, prepared_methods_are_counted_per_registration)
{
    static const mf_method ms[] = {MF_METHOD("i_n", "i(o)", m_i_n), {0, NULL, NULL, NULL}};
    static const mf_class c = {sizeof(mf_class), "tc.counted", 1, 1, tc_out, tc_in,
                               tc_destroy, NULL, NULL, ms, NULL, NULL, NULL, 0};
    tc_obj t = fresh();
    cr_assert_eq(mf__methods_prepare(&c), 0);
    cr_assert_eq(mf__methods_prepare(&c), 0);
    mf__methods_forget(&c);
    cr_assert_eq(mf_call(&c, &t, "i_n", NULL, 0, NULL), 0, "%s", mf_errdetail());
    mf__methods_forget(&c);
    cr_assert_eq(mf_call(&c, &t, "i_n", NULL, 0, NULL), MF_EINVAL);
    cr_assert_eq(mf_class_methods(&c, NULL), MF_ENOCODEC);
    cr_assert_eq(t.calls, 1);
}

Test(call, plugin_with_a_bad_signature_is_refused_naming_the_method)
{
    mf_registry *r2;
    cr_assert_eq(mf_registry_create(&r2), 0);
    cr_assert_eq(mf_registry_add_path(r2, MF_TP_MIXED), 0);
    const mf_class *cls;
    cr_assert_eq(mf_registry_find(r2, "tp.badsig", &cls), MF_ENOCODEC);
    const mf_registry_plugin *pl;
    size_t n;
    cr_assert_eq(mf_registry_list(r2, &pl, &n, NULL), 0);
    const mf_registry_plugin *p = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(pl[i].path, MF_TP_MIXED "/bad_sig.so") == 0)
            p = &pl[i];
    cr_assert_not_null(p);
    cr_assert_eq(p->error, MF_ESIGNATURE);
    cr_assert_not(p->loaded);
    cr_assert_not_null(strstr(p->error_msg, "method 'broken'"), "%s", p->error_msg);
    cr_assert_not_null(strstr(p->error_msg, "'d(o,x)'"), "%s", p->error_msg);
    mf_registry_free(r2);
}

Test(call, plugin_methods_run_the_plugins_functions)
{
    mf_registry *r2;
    cr_assert_eq(mf_registry_create(&r2), 0);
    cr_assert_eq(mf_registry_add_path(r2, MF_TP_GOOD1), 0);
    const mf_class *cls;
    cr_assert_eq(mf_registry_find(r2, "tp.alpha", &cls), 0, "%s", mf_errdetail());
    mf_tp_obj o = {-77};
    mf_value r;
    cr_assert_eq(mf_call(cls, &o, "value", NULL, 0, &r), 0, "%s", mf_errdetail());
    cr_assert_eq(r.type, MF_T_I64);
    cr_assert_eq(r.v.i, -77);
    cr_assert_eq(mf_call(cls, &o, "who", NULL, 0, &r), 0);
    cr_assert_str_eq(r.v.s, "alpha");
    mf_registry_free(r2);
}

/* ------------------------------------------------------------------------ */
/* Threads                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct caller {
    int bad;
} caller;

static void *call_many(void *arg)
{
    caller *c = arg;
    tc_obj t = fresh();
    for (int i = 0; i < 20000; i++) {
        mf_value a = {.type = MF_T_I64, .v.i = i}, r;
        if (mf_call(&tc_class, &t, "neg", &a, 1, &r) != 0 || r.v.i != -i)
            c->bad++;
    }
    return NULL;
}

Test(call, calls_from_threads_survive_other_classes_coming_and_going)
{
    enum { N = 4 };
    pthread_t th[N];
    caller cs[N];
    memset(cs, 0, sizeof cs);
    for (int i = 0; i < N; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, call_many, &cs[i]), 0);
    /* Change the table's shape meanwhile, invalidating cached lookups. */
    static const mf_method ms[] = {MF_METHOD("x", "v(o)", m_v_n), {0, NULL, NULL, NULL}};
    for (int k = 0; k < 2000; k++) {
        mf_class other = {sizeof(mf_class), "tc.other", 1, 1, tc_out, tc_in,
                          tc_destroy, NULL, NULL, ms, NULL, NULL, NULL, 0};
        cr_assert_eq(mf__methods_prepare(&other), 0);
        mf__methods_forget(&other);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(cs[i].bad, 0);
    }
}
