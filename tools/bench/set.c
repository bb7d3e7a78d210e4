/*
 * set.c - rotating working sets: how many records, their names, and how a
 * row describes them.
 *
 * A figure that hits one record over and over measures the cache, not the
 * store: a random 64-byte record among millions costs a memory miss per
 * structure the store walks. So per-operation figures rotate over a set of
 * SET_FACTOR x the last-level cache (payload bytes rounded up to cache
 * lines), cut to a memory budget per store (--set-mib), and every row says
 * how large its set was against the cache.
 */
#include "bench.h"

#include <stdio.h>

/* 32 letters that are all valid in names of every store. */
static const char name_alphabet[32] = "abcdefghijklmnopqrstuvwxyz234567";

void set_name(char out[SET_NAME_CAP], uint64_t salt, uint64_t i)
{
    /* mix64 is a bijection, so 13 base-32 digits (65 bits) of it are
     * unique per i; the salt's own letter keeps sets apart. */
    uint64_t h = mix64(i ^ mix64(salt + 0x9e3779b97f4a7c15ull));
    out[0] = name_alphabet[salt % 26];
    for (int k = 1; k <= 13; k++) {
        out[k] = name_alphabet[h & 31];
        h >>= 5;
    }
    out[14] = '\0';
}

size_t set_records(size_t payload)
{
    size_t line = (payload + 63) & ~(size_t)63;
    /* A store spends about the payload's lines plus a couple of lines on
     * the name, the index and the block header. */
    size_t per_store = line + 128;
    uint64_t want = B.set_target / line;
    uint64_t fit = B.set_budget / per_store;
    uint64_t n = want < fit ? want : fit;
    return n ? (size_t)n : 1;
}

void set_describe(char *dst, size_t cap, size_t records, double bytes, bool budgeted)
{
    double x = bytes / (double)B.m.llc;
    const char *why = "";
    if (x < 1)
        why = B.quick      ? " (--quick: smaller than the LLC)"
              : budgeted ? " (smaller than the LLC: raise --set-mib)"
                         : " (smaller than the LLC)";
    strfmt(dst, cap, "%zu records, mapfile heap %.4g MiB = %.2gx the LLC%s", records,
           bytes / 1048576.0, x, why);
}

size_t set_pick(uint64_t *rng, size_t n)
{
    return n <= 1 ? 0 : (size_t)(rng_next(rng) % n);
}
