/*
 * torture.h - every field kind `mapf gen` supports, in one struct
 * (tests/gen/gen_roundtrip.sh generates its codec and round-trips it across
 * processes; torture_check.c fills and compares it).
 */
#ifndef TORTURE_H
#define TORTURE_H

#include <mapfile/gen.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum color { RED = 1, GREEN = 2, BLUE = -7 };
typedef enum { SMALL_A, SMALL_B = 200 } small_t;

/* A nested struct with its own owned data. */
struct inner {
    int16_t id;
    char *label;                  /* may be NULL */
    uint8_t nbytes;
    uint8_t *bytes MF_COUNT(nbytes);
    double xy[2];
};

typedef struct {
    float w;
    uint64_t mask;
} leaf_t;

struct torture_ops {
    int (*describe)(const void *obj);
};

struct torture {
    /* every scalar width */
    int8_t i8;
    uint8_t u8;
    int16_t i16;
    uint16_t u16;
    int32_t i32;
    uint32_t u32;
    int64_t i64;
    uint64_t u64;
    float f32;
    double f64;
    bool flag;
    char ch;
    long long ll;
    unsigned long long ull;
    enum color color;
    small_t small;
    /* fixed arrays, one to three dimensions */
    int32_t vec[3];
    double mat[2][3];
    uint8_t cube[2][2][2];
    bool bits[5];
    enum color palette[3];
    char name[16];
    long long lls[2];
    /* nested structs by value and arrays of them */
    struct inner head;
    leaf_t leaves[2][2];
    /* strings */
    char *title;                  /* may be NULL */
    char *empty_title;
    /* counted arrays; the count before or after the array */
    uint32_t nsamples;
    double *samples MF_COUNT(nsamples);
    float *weights MF_COUNT(nsamples); /* shares nsamples */
    struct inner *items MF_COUNT(nitems);
    int16_t nitems;
    enum color *colors MF_COUNT(ncolors);
    uint64_t ncolors;
    leaf_t *leafs MF_COUNT(nleafs);
    size_t nleafs;
    /* optional nested structs */
    struct inner *maybe;          /* may be NULL */
    leaf_t *maybe_leaf;
    /* never streamed */
    void *cache MF_SKIP;
    int32_t scratch MF_SKIP;
    unsigned flags_bits : 3 MF_SKIP;
    const struct torture_ops *ops MF_OPS;
};

#endif
