/* test_heap.c - the in-file TLSF heap: allocation, coalescing, growth,
 * crash recovery, consistency checking and hostile metadata. */
#include <criterion/criterion.h>

#include <mapfile/mapfile.h>

#include "heap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HSTART 4096u

/* A heap in a private buffer: ctl at offset 0, blocks from HSTART. */
struct th {
    unsigned char *buf;
    size_t len;
    struct mf__heap h;
    struct mf__heap_ctl *c;
};

static void th_open(struct th *t, size_t len, uint64_t heap_end)
{
    t->buf = aligned_alloc(4096, len);
    cr_assert_not_null(t->buf);
    memset(t->buf, 0xA5, len);
    t->len = len;
    t->c = (struct mf__heap_ctl *)t->buf;
    t->h = (struct mf__heap){t->buf, len, t->c};
    cr_assert_eq(mf__heap_init(&t->h, HSTART, heap_end), 0);
}

static void th_close(struct th *t) { free(t->buf); }

static uint64_t rng_state;
static uint64_t rnd(void)
{
    /* xorshift64*: reproducible across runs for a fixed seed. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}
static uint64_t rnd_below(uint64_t n) { return rnd() % n; }

static uint64_t rd(const struct th *t, uint64_t off)
{
    uint64_t v;
    memcpy(&v, t->buf + off, 8);
    return v;
}
static void wr(struct th *t, uint64_t off, uint64_t v) { memcpy(t->buf + off, &v, 8); }

static uint64_t blk_size(const struct th *t, uint64_t user)
{
    return rd(t, user - MF__BLOCK_HEADER + 8) & ~(uint64_t)MF__BLK_FLAGS;
}
static int blk_is_free(const struct th *t, uint64_t user)
{
    return (rd(t, user - MF__BLOCK_HEADER + 8) & MF__BLK_FREE) != 0;
}

static uint64_t alloc_ok(struct th *t, uint64_t size)
{
    uint64_t u = 0;
    int rc = mf__heap_alloc(&t->h, size, &u);
    cr_assert_eq(rc, 0, "alloc(%llu) failed: %d", (unsigned long long)size, rc);
    return u;
}

/* Collected check messages, to show on failure and to search. */
struct msgs {
    unsigned n;
    char text[16384];
};

static void collect(void *ud, const char *msg)
{
    struct msgs *m = ud;
    size_t used = strlen(m->text);
    m->n++;
    if (used + strlen(msg) + 2 < sizeof m->text)
        snprintf(m->text + used, sizeof m->text - used, "%s\n", msg);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Runs the check with an (unsorted) live set. */
static unsigned check(struct th *t, const uint64_t *live, size_t n, struct msgs *m)
{
    uint64_t *sorted = malloc((n ? n : 1) * sizeof *sorted);
    cr_assert_not_null(sorted);
    if (n)
        memcpy(sorted, live, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_u64);
    memset(m, 0, sizeof *m);
    unsigned p = mf__heap_check(&t->h, sorted, n, collect, m);
    free(sorted);
    return p;
}

static void assert_clean(struct th *t, const uint64_t *live, size_t n)
{
    struct msgs m;
    unsigned p = check(t, live, n, &m);
    cr_assert_eq(p, 0, "%u heap problems:\n%s", p, m.text);
    cr_assert_eq(p, m.n);
}

/* Accounting computed from the live set alone, independent of the check. */
static void assert_accounting(struct th *t, const uint64_t *live, size_t n)
{
    uint64_t used = 0;
    for (size_t i = 0; i < n; i++)
        used += blk_size(t, live[i]);
    uint64_t span = t->c->heap_end - t->c->heap_start;
    cr_assert_eq(t->c->used_blocks, n);
    cr_assert_eq(t->c->used_bytes, used);
    cr_assert_eq(t->c->free_bytes, span - used);
}

/* ------------------------------------------------------------------------ */

Test(heap, init_formats_one_free_block)
{
    struct th t;
    th_open(&t, 65536, 65536);
    cr_assert_eq(t.c->free_blocks, 1);
    cr_assert_eq(t.c->free_bytes, 65536 - HSTART);
    cr_assert_eq(t.c->used_bytes, 0);
    cr_assert_eq(t.c->used_blocks, 0);
    cr_assert_eq(rd(&t, HSTART + 8), (65536 - HSTART) | MF__BLK_FREE);
    assert_clean(&t, NULL, 0);
    th_close(&t);
}

Test(heap, init_rejects_bad_bounds)
{
    struct th t;
    th_open(&t, 65536, 65536);
    cr_assert_eq(mf__heap_init(&t.h, HSTART + 8, 65536), MF_EINVAL);
    cr_assert_eq(mf__heap_init(&t.h, HSTART, 65536 - 8), MF_EINVAL);
    cr_assert_eq(mf__heap_init(&t.h, HSTART, 65536 + 4096), MF_EINVAL);
    cr_assert_eq(mf__heap_init(&t.h, HSTART, HSTART + MF__BLOCK_MIN - 16), MF_EINVAL);
    cr_assert_eq(mf__heap_init(&t.h, 0, 65536), MF_EINVAL);
    /* The heap may not cover its own control block at offset 0. */
    cr_assert_eq(mf__heap_init(&t.h, 16, 65536), MF_EINVAL);
    cr_assert_eq(mf__heap_init(NULL, HSTART, 65536), MF_EINVAL);
    th_close(&t);
}

Test(heap, alloc_free_round_trip)
{
    static const uint64_t sizes[] = {0, 1, 15, 16, 17, 100, 4096, 65536, 3};
    enum { N = sizeof sizes / sizeof sizes[0] };
    uint64_t u[N];
    struct th t;
    th_open(&t, 1 << 20, 1 << 20);
    for (int i = 0; i < N; i++) {
        u[i] = alloc_ok(&t, sizes[i]);
        uint64_t us = mf__heap_usable(t.buf, t.len, HSTART, 1 << 20, u[i]);
        cr_assert_eq(u[i] % 16, 0);
        cr_assert_geq(us, sizes[i]);
        cr_assert_geq(us, 16);
        cr_assert_lt(us, sizes[i] + 16 + 48, "no gross over-allocation");
        cr_assert_eq(us, blk_size(&t, u[i]) - MF__BLOCK_HEADER);
        memset(t.buf + u[i], 0x10 + i, us);
    }
    assert_clean(&t, u, N);
    assert_accounting(&t, u, N);
    for (int i = 0; i < N; i++) {
        uint64_t us = mf__heap_usable(t.buf, t.len, HSTART, 1 << 20, u[i]);
        for (uint64_t j = 0; j < us; j++)
            cr_assert_eq(t.buf[u[i] + j], 0x10 + i, "blocks overlap");
    }
    for (int i = 0; i < N; i++) {
        cr_assert_eq(mf__heap_free(&t.h, u[i]), 0);
        assert_clean(&t, u + i + 1, N - i - 1);
    }
    cr_assert_eq(t.c->free_blocks, 1);
    cr_assert_eq(t.c->used_bytes, 0);
    cr_assert_eq(t.c->free_bytes, (1 << 20) - HSTART);
    /* The whole heap is one block again and can be handed out whole. */
    uint64_t all = alloc_ok(&t, (1 << 20) - HSTART - MF__BLOCK_HEADER);
    cr_assert_eq(all, HSTART + MF__BLOCK_HEADER);
    th_close(&t);
}

Test(heap, free_coalesces_with_next)
{
    struct th t;
    th_open(&t, 65536, 65536);
    uint64_t a = alloc_ok(&t, 100), b = alloc_ok(&t, 100), g = alloc_ok(&t, 100);
    uint64_t bs = blk_size(&t, a);
    cr_assert_eq(mf__heap_free(&t.h, b), 0);
    cr_assert_eq(mf__heap_free(&t.h, a), 0);
    cr_assert(blk_is_free(&t, a));
    cr_assert_eq(blk_size(&t, a), 2 * bs, "a absorbed b");
    cr_assert_eq(t.c->free_blocks, 2); /* a+b, and the tail after g */
    assert_clean(&t, &g, 1);
    th_close(&t);
}

Test(heap, free_coalesces_with_previous)
{
    struct th t;
    th_open(&t, 65536, 65536);
    uint64_t a = alloc_ok(&t, 100), b = alloc_ok(&t, 100), g = alloc_ok(&t, 100);
    uint64_t bs = blk_size(&t, a);
    cr_assert_eq(mf__heap_free(&t.h, a), 0);
    cr_assert_eq(mf__heap_free(&t.h, b), 0);
    cr_assert(blk_is_free(&t, a));
    cr_assert_eq(blk_size(&t, a), 2 * bs, "b merged into a");
    cr_assert_eq(t.c->free_blocks, 2);
    assert_clean(&t, &g, 1);
    th_close(&t);
}

Test(heap, free_coalesces_neighbours)
{
    struct th t;
    th_open(&t, 65536, 65536);
    uint64_t a = alloc_ok(&t, 100), b = alloc_ok(&t, 200), c = alloc_ok(&t, 300);
    uint64_t g = alloc_ok(&t, 100);
    uint64_t total = blk_size(&t, a) + blk_size(&t, b) + blk_size(&t, c);
    cr_assert_eq(mf__heap_free(&t.h, a), 0);
    cr_assert_eq(mf__heap_free(&t.h, c), 0);
    cr_assert_eq(t.c->free_blocks, 3);
    cr_assert_eq(mf__heap_free(&t.h, b), 0);
    cr_assert_eq(t.c->free_blocks, 2, "a, b and c became one block");
    cr_assert_eq(blk_size(&t, a), total);
    cr_assert(blk_is_free(&t, a));
    /* The block after the merged run knows its new predecessor. */
    cr_assert_eq(rd(&t, g - MF__BLOCK_HEADER), a - MF__BLOCK_HEADER);
    cr_assert(rd(&t, g - MF__BLOCK_HEADER + 8) & MF__BLK_PREV_FREE);
    assert_clean(&t, &g, 1);
    /* Freeing the guard merges everything into one block. */
    cr_assert_eq(mf__heap_free(&t.h, g), 0);
    cr_assert_eq(t.c->free_blocks, 1);
    cr_assert_eq(blk_size(&t, a), 65536 - HSTART);
    assert_clean(&t, NULL, 0);
    th_close(&t);
}

Test(heap, split_remainder_is_reusable)
{
    struct th t;
    th_open(&t, 1 << 20, 1 << 20);
    uint64_t a = alloc_ok(&t, 4000), g = alloc_ok(&t, 16);
    uint64_t as = blk_size(&t, a);
    cr_assert_eq(mf__heap_free(&t.h, a), 0);
    /* Good fit takes the smallest class that fits: the hole, not the tail. */
    uint64_t s1 = alloc_ok(&t, 100);
    cr_assert_eq(s1, a);
    uint64_t s1s = blk_size(&t, s1);
    cr_assert_lt(s1s, as, "the hole was split");
    cr_assert_eq(t.c->free_blocks, 2, "remainder went back on a list");
    uint64_t s2 = alloc_ok(&t, as - s1s - MF__BLOCK_HEADER);
    cr_assert_eq(s2, s1 + s1s, "the remainder was reused");
    uint64_t live[] = {s1, s2, g};
    assert_clean(&t, live, 3);
    assert_accounting(&t, live, 3);
    th_close(&t);
}

Test(heap, exhaustion_returns_efull_and_changes_nothing)
{
    struct th t;
    th_open(&t, 65536, 65536);
    uint64_t live[128];
    size_t n = 0;
    uint64_t u;
    int rc;
    while ((rc = mf__heap_alloc(&t.h, 1000, &u)) == 0) {
        cr_assert_lt(n, 128);
        live[n++] = u;
    }
    cr_assert_eq(rc, MF_EFULL);
    cr_assert_gt(n, 50);
    unsigned char *snap = malloc(t.len);
    memcpy(snap, t.buf, t.len);
    cr_assert_eq(mf__heap_alloc(&t.h, 1000, &u), MF_EFULL);
    cr_assert_eq(mf__heap_alloc(&t.h, UINT64_MAX, &u), MF_EFULL);
    cr_assert_eq(mf__heap_alloc(&t.h, UINT64_MAX - 20, &u), MF_EFULL);
    cr_assert_eq(mf__heap_alloc(&t.h, 65536, &u), MF_EFULL);
    cr_assert_eq(memcmp(snap, t.buf, t.len), 0, "a failed alloc wrote something");
    assert_clean(&t, live, n);
    assert_accounting(&t, live, n);
    /* Small requests still fit in what is left; then nothing does. */
    while ((rc = mf__heap_alloc(&t.h, 0, &u)) == 0)
        live[n++] = u;
    cr_assert_eq(rc, MF_EFULL);
    cr_assert_eq(t.c->free_blocks, 0);
    cr_assert_eq(t.c->free_bytes, 0);
    assert_clean(&t, live, n);
    /* Freeing makes room again, in the very same place. */
    uint64_t victim = live[10];
    cr_assert_eq(mf__heap_free(&t.h, victim), 0);
    live[10] = alloc_ok(&t, 1000);
    cr_assert_eq(live[10], victim);
    assert_clean(&t, live, n);
    free(snap);
    th_close(&t);
}

Test(heap, grow_merges_new_space_with_free_tail)
{
    struct th t;
    th_open(&t, 1 << 20, 65536);
    uint64_t a = alloc_ok(&t, 1000);
    uint64_t tail = a + blk_size(&t, a);
    uint64_t tail_size = blk_size(&t, tail);
    uint64_t u;
    cr_assert_eq(mf__heap_alloc(&t.h, 100000, &u), MF_EFULL);
    cr_assert_eq(mf__heap_grow(&t.h, 1 << 19), 0);
    cr_assert_eq(t.c->heap_end, 1 << 19);
    cr_assert_eq(t.c->free_blocks, 1, "new space merged with the free tail");
    cr_assert_eq(blk_size(&t, tail), tail_size + (1 << 19) - 65536);
    assert_clean(&t, &a, 1);
    uint64_t big = alloc_ok(&t, 100000);
    cr_assert_eq(big, tail, "the merged tail serves the big request");
    uint64_t live[] = {a, big};
    assert_clean(&t, live, 2);
    assert_accounting(&t, live, 2);
    th_close(&t);
}

Test(heap, grow_after_full_heap_adds_a_free_block)
{
    struct th t;
    th_open(&t, 1 << 20, 65536);
    uint64_t live[512], u;
    size_t n = 0;
    while (mf__heap_alloc(&t.h, 500, &u) == 0)
        live[n++] = u;
    while (mf__heap_alloc(&t.h, 0, &u) == 0)
        live[n++] = u;
    cr_assert_eq(t.c->free_blocks, 0);
    uint64_t last = 0;
    for (size_t i = 0; i < n; i++)
        last = live[i] > last ? live[i] : last;
    cr_assert_eq(mf__heap_grow(&t.h, 131072), 0);
    cr_assert_eq(t.c->free_blocks, 1);
    cr_assert_eq(t.c->free_bytes, 65536);
    assert_clean(&t, live, n);
    live[n++] = alloc_ok(&t, 60000);
    cr_assert_eq(live[n - 1], 65536 + MF__BLOCK_HEADER, "the new block starts at the old end");
    cr_assert_eq(rd(&t, 65536), last - MF__BLOCK_HEADER, "linked to the old last block");
    assert_clean(&t, live, n);
    /* Fill again, then grow by less than a block: the allocated tail
     * absorbs the sliver so the blocks still tile the heap. */
    while (mf__heap_alloc(&t.h, 0, &u) == 0)
        live[n++] = u;
    cr_assert_eq(t.c->free_blocks, 0);
    cr_assert_eq(mf__heap_grow(&t.h, 131072 + MF__BLOCK_MIN - 16), 0);
    assert_clean(&t, live, n);
    assert_accounting(&t, live, n);
    th_close(&t);
}

Test(heap, grow_rejects_bad_ends)
{
    struct th t;
    th_open(&t, 1 << 20, 65536);
    unsigned char *snap = malloc(t.len);
    memcpy(snap, t.buf, t.len);
    cr_assert_eq(mf__heap_grow(&t.h, 65536), MF_EINVAL);
    cr_assert_eq(mf__heap_grow(&t.h, 4096), MF_EINVAL);
    cr_assert_eq(mf__heap_grow(&t.h, 65536 + 8), MF_EINVAL);
    cr_assert_eq(mf__heap_grow(&t.h, (1 << 20) + 4096), MF_EINVAL, "beyond the mapping");
    cr_assert_eq(memcmp(snap, t.buf, t.len), 0);
    free(snap);
    th_close(&t);
}

/* Each live allocation carries a tag at both ends of its user area, so a
 * block handed out twice or overlapping another is caught on free. */
struct churn_slot {
    uint64_t off, size, tag;
};

static void tag_write(struct th *t, const struct churn_slot *s)
{
    memcpy(t->buf + s->off, &s->tag, 8);
    memcpy(t->buf + s->off + s->size - 8, &s->tag, 8);
}

static void tag_verify(struct th *t, const struct churn_slot *s)
{
    uint64_t a, b;
    memcpy(&a, t->buf + s->off, 8);
    memcpy(&b, t->buf + s->off + s->size - 8, 8);
    cr_assert_eq(a, s->tag, "start of block 0x%llx overwritten", (unsigned long long)s->off);
    cr_assert_eq(b, s->tag, "end of block 0x%llx overwritten", (unsigned long long)s->off);
}

static uint64_t churn_size(void)
{
    /* Half uniform over 16 B..64 KiB, half log-uniform so that every size
     * class sees traffic. */
    if (rnd() & 1)
        return 16 + rnd_below(65536 - 16 + 1);
    uint64_t s = UINT64_C(16) << rnd_below(12);
    return s + rnd_below(s);
}

static uint64_t largest_free(const struct th *t)
{
    uint64_t big = 0;
    for (uint64_t off = t->c->heap_start; off < t->c->heap_end;) {
        uint64_t sf = rd(t, off + 8), size = sf & ~(uint64_t)MF__BLK_FLAGS;
        cr_assert_geq(size, MF__BLOCK_MIN);
        if ((sf & MF__BLK_FREE) && size > big)
            big = size;
        off += size;
    }
    return big;
}

static void live_of(const struct churn_slot *slots, size_t n, uint64_t *out, size_t *k)
{
    *k = 0;
    for (size_t i = 0; i < n; i++)
        if (slots[i].off)
            out[(*k)++] = slots[i].off;
}

Test(heap, random_churn_stays_consistent, .timeout = 120)
{
    enum { SLOTS = 1024, OPS = 200000, SIZE = 12 << 20 };
    struct th t;
    th_open(&t, SIZE, SIZE);
    struct churn_slot *slots = calloc(SLOTS, sizeof *slots);
    uint64_t *live = malloc(SLOTS * sizeof *live);
    size_t nlive = 0;
    unsigned long full = 0, allocs = 0;
    rng_state = 0x9E3779B97F4A7C15u;

    for (unsigned op = 1; op <= OPS; op++) {
        struct churn_slot *s = &slots[rnd_below(SLOTS)];
        if (s->off) {
            tag_verify(&t, s);
            cr_assert_eq(mf__heap_free(&t.h, s->off), 0);
            s->off = 0;
        } else {
            uint64_t size = churn_size(), u;
            int rc = mf__heap_alloc(&t.h, size, &u);
            cr_assert(rc == 0 || rc == MF_EFULL, "alloc gave %d", rc);
            if (rc == MF_EFULL) {
                /* Good fit only gives up when no block is more than one
                 * list step (1/8) bigger than the request. */
                uint64_t need = ((size + 15) & ~(uint64_t)15) + MF__BLOCK_HEADER;
                uint64_t big = largest_free(&t);
                cr_assert_lt(big, need + need / 8 + 1, "EFULL for %llu with a free "
                             "block of %llu", (unsigned long long)need,
                             (unsigned long long)big);
                full++;
                continue;
            }
            allocs++;
            s->off = u;
            s->size = size < 16 ? 16 : size;
            s->tag = rnd() | 1;
            cr_assert_geq(mf__heap_usable(t.buf, t.len, HSTART, SIZE, u), size);
            tag_write(&t, s);
        }
        if (op % 5000 == 0) {
            live_of(slots, SLOTS, live, &nlive);
            assert_clean(&t, live, nlive);
            assert_accounting(&t, live, nlive);
        }
    }
    cr_assert_gt(allocs, OPS / 3);
    live_of(slots, SLOTS, live, &nlive);
    assert_clean(&t, live, nlive);
    assert_accounting(&t, live, nlive);
    for (size_t i = 0; i < SLOTS; i++)
        if (slots[i].off) {
            tag_verify(&t, &slots[i]);
            cr_assert_eq(mf__heap_free(&t.h, slots[i].off), 0);
        }
    cr_assert_eq(t.c->free_blocks, 1, "fragmentation left %llu free blocks",
                 (unsigned long long)t.c->free_blocks);
    cr_assert_eq(t.c->used_blocks, 0);
    cr_assert_eq(t.c->used_bytes, 0);
    cr_assert_eq(t.c->free_bytes, SIZE - HSTART);
    assert_clean(&t, NULL, 0);
    cr_log_info("churn: %lu allocations, %lu EFULL", allocs, full);
    free(live);
    free(slots);
    th_close(&t);
}

/* ------------------------------------------------------------------------ */
/* Crash recovery                                                            */
/* ------------------------------------------------------------------------ */

static uint64_t fnv(const unsigned char *p, uint64_t n)
{
    uint64_t h = 1469598103934665603u;
    for (uint64_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211u;
    return h;
}

/* A fragmented heap with random user bytes; returns the live set. */
static size_t build_fragmented(struct th *t, uint64_t *live, size_t max, uint64_t seed)
{
    rng_state = seed;
    size_t n = 0;
    for (int i = 0; i < 4000; i++) {
        if (n && (rnd() % 3 == 0 || n == max)) {
            size_t k = rnd_below(n);
            cr_assert_eq(mf__heap_free(&t->h, live[k]), 0);
            live[k] = live[--n];
        } else {
            uint64_t u;
            if (mf__heap_alloc(&t->h, rnd_below(3000), &u) == 0) {
                uint64_t us = blk_size(t, u) - MF__BLOCK_HEADER;
                for (uint64_t j = 0; j < us; j++)
                    t->buf[u + j] = (unsigned char)rnd();
                live[n++] = u;
            }
        }
    }
    qsort(live, n, sizeof *live, cmp_u64);
    return n;
}

/* Damage as a crashed writer or a stray write could leave it. */
static void damage_metadata(struct th *t, const uint64_t *live, size_t n)
{
    struct mf__heap_ctl *c = t->c;
    /* Garbage list heads, bitmaps and counters. */
    for (int i = 0; i < 40; i++)
        c->heads[rnd_below(MF__TLSF_FL)][rnd_below(MF__TLSF_SL)] = rnd();
    c->fl_bitmap = rnd();
    for (int i = 0; i < MF__TLSF_FL; i++)
        c->sl_bitmap[i] = (uint32_t)rnd();
    c->used_bytes = rnd();
    c->free_blocks = rnd();
    c->last_block = rnd();
    /* Half-split free blocks and scribbled free headers. */
    uint64_t off = c->heap_start;
    size_t li = 0;
    while (off < c->heap_end) {
        uint64_t size = rd(t, off + 8) & ~(uint64_t)15;
        int is_live = li < n && live[li] == off + MF__BLOCK_HEADER;
        if (is_live)
            li++;
        else if (size >= 160 && rnd() % 2) {
            wr(t, off + 8, MF__BLOCK_MIN | MF__BLK_FREE);
            wr(t, off + MF__BLOCK_MIN, rnd());
            wr(t, off + MF__BLOCK_MIN + 8, (size - MF__BLOCK_MIN) | MF__BLK_FREE);
            wr(t, off + MF__BLOCK_MIN + 16, rnd());
        } else if (rnd() % 4 == 0) {
            wr(t, off + 16, rnd());
            wr(t, off + 24, rnd());
        }
        off += size;
    }
    cr_assert_eq(li, n, "the walk saw every live block");
    /* Live blocks keep their size but lose their flags and links. */
    for (size_t i = 0; i < n; i += 7) {
        uint64_t s = rd(t, live[i] - MF__BLOCK_HEADER + 8) & ~(uint64_t)15;
        wr(t, live[i] - MF__BLOCK_HEADER, rnd());
        wr(t, live[i] - MF__BLOCK_HEADER + 8, s | MF__BLK_FREE | MF__BLK_PREV_FREE);
    }
}

static void user_hashes(struct th *t, const uint64_t *live, size_t n, uint64_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = fnv(t->buf + live[i], blk_size(t, live[i]) - MF__BLOCK_HEADER);
}

Test(heap, rebuild_repairs_damaged_metadata)
{
    enum { LEN = 4 << 20, MAXL = 600 };
    struct th t;
    th_open(&t, LEN, LEN);
    uint64_t live[MAXL], before[MAXL], after[MAXL];
    size_t n = build_fragmented(&t, live, MAXL, 42);
    cr_assert_gt(n, 100);
    assert_clean(&t, live, n);
    user_hashes(&t, live, n, before);

    damage_metadata(&t, live, n);
    struct msgs m;
    cr_assert_gt(check(&t, live, n, &m), 0, "damage is visible to the check");

    cr_assert_eq(mf__heap_rebuild(&t.h, live, n), 0);
    assert_clean(&t, live, n);
    assert_accounting(&t, live, n);
    user_hashes(&t, live, n, after);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(after[i], before[i], "user bytes of 0x%llx changed",
                     (unsigned long long)live[i]);

    /* The repaired heap works: free everything and it is one block again. */
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(mf__heap_free(&t.h, live[i]), 0);
    cr_assert_eq(t.c->free_blocks, 1);
    assert_clean(&t, NULL, 0);
    th_close(&t);
}

Test(heap, rebuild_with_empty_live_set_frees_everything)
{
    struct th t;
    th_open(&t, 1 << 20, 1 << 20);
    uint64_t live[300];
    size_t n = build_fragmented(&t, live, 300, 7);
    cr_assert_gt(n, 10);
    cr_assert_eq(mf__heap_rebuild(&t.h, NULL, 0), 0);
    cr_assert_eq(t.c->free_blocks, 1);
    cr_assert_eq(t.c->used_bytes, 0);
    assert_clean(&t, NULL, 0);
    th_close(&t);
}

Test(heap, rebuild_rerun_after_interruption_converges)
{
    enum { LEN = 1 << 20, MAXL = 300 };
    struct th t;
    th_open(&t, LEN, LEN);
    uint64_t live[MAXL], before[MAXL], after[MAXL];
    size_t n = build_fragmented(&t, live, MAXL, 99);
    cr_assert_gt(n, 50);
    user_hashes(&t, live, n, before);
    damage_metadata(&t, live, n);
    /* Two neighbouring live blocks, the first with a size 16 short: the
     * sliver between them is too small for a block and is absorbed. */
    size_t shrunk = n;
    for (size_t i = 0; i + 1 < n && shrunk == n; i++)
        if (live[i] + blk_size(&t, live[i]) == live[i + 1] && blk_size(&t, live[i]) >= 64)
            shrunk = i;
    cr_assert_lt(shrunk, n, "fixture has adjacent live blocks");
    wr(&t, live[shrunk] - MF__BLOCK_HEADER + 8, rd(&t, live[shrunk] - MF__BLOCK_HEADER + 8) - 16);

    /* image0: the damaged heap; image1: one uninterrupted rebuild. */
    unsigned char *img0 = malloc(LEN), *img1 = malloc(LEN);
    memcpy(img0, t.buf, LEN);
    cr_assert_eq(mf__heap_rebuild(&t.h, live, n), 0);
    assert_clean(&t, live, n);
    memcpy(img1, t.buf, LEN);

    /* A crash leaves some subset of the rebuild's 8-byte stores in place;
     * any such mix must rebuild to exactly the same heap. */
    for (int trial = 0; trial < 60; trial++) {
        uint64_t cut = HSTART + rnd_below(LEN - HSTART);
        unsigned pct = (unsigned)rnd_below(101);
        for (size_t w = 0; w < LEN; w += 8) {
            int take_new;
            if (trial % 3 == 0)
                take_new = w < HSTART || w < cut; /* in address order */
            else
                take_new = rnd_below(100) < pct;
            memcpy(t.buf + w, (take_new ? img1 : img0) + w, 8);
        }
        cr_assert_eq(mf__heap_rebuild(&t.h, live, n), 0, "trial %d", trial);
        cr_assert_eq(memcmp(t.buf, img1, LEN), 0, "trial %d did not converge", trial);
    }
    assert_clean(&t, live, n);
    user_hashes(&t, live, n, after);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(after[i], before[i]);
    free(img0);
    free(img1);
    th_close(&t);
}

Test(heap, rebuild_rejects_invalid_live_blocks)
{
    struct th t;
    th_open(&t, 65536, 65536);
    uint64_t a = alloc_ok(&t, 100), b = alloc_ok(&t, 100), c = alloc_ok(&t, 100);
    uint64_t as = rd(&t, a - MF__BLOCK_HEADER + 8);
    unsigned char *snap = malloc(t.len);
    memcpy(snap, t.buf, t.len);

    uint64_t unsorted[] = {b, a}, dup[] = {a, a}, odd[] = {a + 8};
    uint64_t outside[] = {70000}, low[] = {16}, inside[] = {a, a + 32};
    cr_assert_eq(mf__heap_rebuild(&t.h, unsorted, 2), MF_ECORRUPT);
    cr_assert_eq(mf__heap_rebuild(&t.h, dup, 2), MF_ECORRUPT);
    cr_assert_eq(mf__heap_rebuild(&t.h, odd, 1), MF_ECORRUPT);
    cr_assert_eq(mf__heap_rebuild(&t.h, outside, 1), MF_ECORRUPT);
    cr_assert_eq(mf__heap_rebuild(&t.h, low, 1), MF_ECORRUPT);
    cr_assert_eq(mf__heap_rebuild(&t.h, inside, 2), MF_ECORRUPT);
    cr_assert_eq(memcmp(snap, t.buf, t.len), 0, "a refused rebuild wrote nothing");

    uint64_t all[] = {a, b, c};
    static const uint64_t bad_sizes[] = {MF__BLOCK_MIN - 16, 0, 1ull << 40, 65536, 1000};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        /* 1000 from a overlaps b; the others are too small or too big. */
        wr(&t, a - MF__BLOCK_HEADER + 8, bad_sizes[i]);
        memcpy(snap, t.buf, t.len);
        cr_assert_eq(mf__heap_rebuild(&t.h, all, 3), MF_ECORRUPT, "size %llu",
                     (unsigned long long)bad_sizes[i]);
        cr_assert_eq(memcmp(snap, t.buf, t.len), 0);
    }
    wr(&t, a - MF__BLOCK_HEADER + 8, as);
    cr_assert_eq(mf__heap_rebuild(&t.h, all, 3), 0);
    assert_clean(&t, all, 3);
    free(snap);
    th_close(&t);
}

/* ------------------------------------------------------------------------ */
/* Hostile metadata                                                          */
/* ------------------------------------------------------------------------ */

Test(heap, hostile_list_heads_give_ecorrupt)
{
    struct th t;
    th_open(&t, 1 << 20, 1 << 20);
    uint64_t a = alloc_ok(&t, 100), u;
    struct msgs m;

    /* Heads outside the mapping, all bitmaps set. */
    for (int f = 0; f < MF__TLSF_FL; f++) {
        t.c->sl_bitmap[f] = 0xff;
        for (int s = 0; s < MF__TLSF_SL; s++)
            t.c->heads[f][s] = (1 << 20) + 4096 * (uint64_t)(s + 1);
    }
    t.c->fl_bitmap = ~UINT64_C(0);
    cr_assert_eq(mf__heap_alloc(&t.h, 100, &u), MF_ECORRUPT);
    cr_assert_eq(mf__heap_free(&t.h, a), MF_ECORRUPT, "insert finds a bad head");
    cr_assert_gt(check(&t, &a, 1, &m), 0);
    cr_assert(strstr(m.text, "not a free block"), "%s", m.text);
    cr_assert_eq(mf__heap_rebuild(&t.h, &a, 1), 0);
    assert_clean(&t, &a, 1);

    /* Bitmap says non-empty, head is empty. */
    t.c->fl_bitmap |= UINT64_C(1) << 8;
    t.c->sl_bitmap[8] = 1;
    cr_assert_eq(mf__heap_alloc(&t.h, 100, &u), MF_ECORRUPT);
    cr_assert_gt(check(&t, &a, 1, &m), 0);
    cr_assert(strstr(m.text, "bitmap"), "%s", m.text);
    cr_assert_eq(mf__heap_rebuild(&t.h, &a, 1), 0);

    /* Head points into the middle of an allocated block. */
    cr_assert_geq(t.c->free_bytes, MF__BLOCK_MIN);
    uint64_t fl = 63 - __builtin_clzll(t.c->free_bytes);
    uint64_t sl = (t.c->free_bytes >> (fl - 3)) & 7;
    cr_assert_neq(t.c->heads[fl][sl], 0);
    t.c->heads[fl][sl] = a + 16;
    cr_assert_eq(mf__heap_alloc(&t.h, 100, &u), MF_ECORRUPT);
    cr_assert_gt(check(&t, &a, 1, &m), 0);
    th_close(&t);
}

Test(heap, hostile_bounds_give_ecorrupt)
{
    struct th t;
    th_open(&t, 65536, 65536);
    uint64_t a = alloc_ok(&t, 100), u;
    struct msgs m;
    static const uint64_t bad[][2] = {
        {HSTART, 65536 + 4096}, /* beyond the mapping */
        {HSTART, HSTART},       /* empty */
        {HSTART + 8, 65536},    /* misaligned */
        {0, 65536},             /* would cover the ctl */
        {16, 65536},
        {65536, HSTART},        /* reversed */
        {HSTART, UINT64_MAX - 15},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t.c->heap_start = bad[i][0];
        t.c->heap_end = bad[i][1];
        cr_assert_eq(mf__heap_alloc(&t.h, 100, &u), MF_ECORRUPT, "case %zu", i);
        cr_assert_eq(mf__heap_free(&t.h, a), MF_ECORRUPT, "case %zu", i);
        cr_assert_eq(mf__heap_grow(&t.h, 65536), MF_ECORRUPT, "case %zu", i);
        cr_assert_eq(mf__heap_rebuild(&t.h, &a, 1), MF_ECORRUPT, "case %zu", i);
        cr_assert_eq(check(&t, &a, 1, &m), 1, "case %zu", i);
        /* usable() cannot know where the ctl is, so it only sees the rest. */
        if (bad[i][0] != 16)
            cr_assert_eq(mf__heap_usable(t.buf, t.len, bad[i][0], bad[i][1], a), 0);
    }
    th_close(&t);
}

Test(heap, sizes_beyond_the_end_give_ecorrupt)
{
    struct th t;
    th_open(&t, 65536, 65536);
    uint64_t a = alloc_ok(&t, 100), b = alloc_ok(&t, 100), u;
    uint64_t live[] = {a, b};
    struct msgs m;
    wr(&t, a - MF__BLOCK_HEADER + 8, UINT64_C(1) << 40);
    cr_assert_eq(mf__heap_free(&t.h, a), MF_ECORRUPT);
    cr_assert_eq(mf__heap_usable(t.buf, t.len, HSTART, 65536, a), 0);
    cr_assert_gt(check(&t, live, 2, &m), 0);
    cr_assert(strstr(m.text, "runs past the heap end"), "%s", m.text);
    cr_assert_eq(mf__heap_rebuild(&t.h, live, 2), MF_ECORRUPT);

    /* A free tail claiming more than there is. */
    wr(&t, a - MF__BLOCK_HEADER + 8, 128);
    cr_assert_eq(mf__heap_rebuild(&t.h, live, 2), 0);
    uint64_t tail = b + blk_size(&t, b) - MF__BLOCK_HEADER;
    wr(&t, tail + 8, ((UINT64_C(1) << 30)) | MF__BLK_FREE);
    cr_assert_eq(mf__heap_alloc(&t.h, 100, &u), MF_ECORRUPT);
    cr_assert_eq(mf__heap_free(&t.h, b), MF_ECORRUPT);
    cr_assert_gt(check(&t, live, 2, &m), 0);
    th_close(&t);
}

Test(heap, free_rejects_bad_offsets)
{
    struct th t;
    th_open(&t, 65536, 65536);
    uint64_t a = alloc_ok(&t, 100), b = alloc_ok(&t, 100), c = alloc_ok(&t, 100);
    cr_assert_eq(mf__heap_free(&t.h, b), 0);
    unsigned char *snap = malloc(t.len);
    memcpy(snap, t.buf, t.len);
    static const uint64_t junk[] = {0, 16, HSTART, HSTART + 8, 65536, 65536 + 32,
                                    UINT64_MAX, UINT64_MAX - 15};
    cr_assert_eq(mf__heap_free(&t.h, b), MF_ECORRUPT, "double free");
    cr_assert_eq(mf__heap_free(&t.h, a + 8), MF_ECORRUPT);
    cr_assert_eq(mf__heap_free(&t.h, a + 16), MF_ECORRUPT, "inside a block");
    cr_assert_eq(mf__heap_free(&t.h, a + 48), MF_ECORRUPT);
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
        cr_assert_eq(mf__heap_free(&t.h, junk[i]), MF_ECORRUPT, "offset %llu",
                     (unsigned long long)junk[i]);
    cr_assert_eq(memcmp(snap, t.buf, t.len), 0, "refused frees wrote nothing");
    /* After a merges with the free b, b's stale header must not pass. */
    cr_assert_eq(mf__heap_free(&t.h, a), 0);
    cr_assert_eq(mf__heap_free(&t.h, b), MF_ECORRUPT);
    assert_clean(&t, &c, 1);
    free(snap);
    th_close(&t);
}

/* Three free blocks of one size class, kept apart by allocated guards. */
static void three_free(struct th *t, uint64_t f[3], uint64_t g[3])
{
    for (int i = 0; i < 3; i++) {
        f[i] = alloc_ok(t, 100);
        g[i] = alloc_ok(t, 100);
    }
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mf__heap_free(&t->h, f[i]), 0);
}

Test(heap, free_list_cycle_is_reported_and_bounded)
{
    struct th t;
    uint64_t f[3], g[3], u;
    struct msgs m;
    th_open(&t, 65536, 65536);
    three_free(&t, f, g);
    /* The list is f2 -> f1 -> f0; close it into a ring. */
    wr(&t, f[0] - MF__BLOCK_HEADER + 16, f[2] - MF__BLOCK_HEADER);
    wr(&t, f[2] - MF__BLOCK_HEADER + 24, f[0] - MF__BLOCK_HEADER);
    cr_assert_gt(check(&t, g, 3, &m), 0);
    cr_assert(strstr(m.text, "a second time"), "%s", m.text);
    int rc = 0;
    for (int i = 0; i < 10 && rc == 0; i++)
        rc = mf__heap_alloc(&t.h, 100, &u);
    cr_assert_eq(rc, MF_ECORRUPT);
    th_close(&t);

    /* A block linked to itself. */
    th_open(&t, 65536, 65536);
    three_free(&t, f, g);
    wr(&t, f[1] - MF__BLOCK_HEADER + 16, f[1] - MF__BLOCK_HEADER);
    cr_assert_gt(check(&t, g, 3, &m), 0);
    rc = 0;
    for (int i = 0; i < 10 && rc == 0; i++)
        rc = mf__heap_alloc(&t.h, 100, &u);
    cr_assert_eq(rc, MF_ECORRUPT);
    th_close(&t);
}

Test(heap, broken_list_links_give_ecorrupt_without_writing)
{
    struct th t;
    uint64_t f[3], g[3];
    th_open(&t, 65536, 65536);
    three_free(&t, f, g);
    unsigned char *snap = malloc(t.len);
    uint64_t live[] = {g[0], g[2]};

    /* List is f2 -> f1 -> f0. Freeing g1 merges f1 and f2, unlinking f1,
     * whose successor f0 must link back to it. */
    wr(&t, f[0] - MF__BLOCK_HEADER + 24, g[2] - MF__BLOCK_HEADER);
    memcpy(snap, t.buf, t.len);
    cr_assert_eq(mf__heap_free(&t.h, g[1]), MF_ECORRUPT, "bad back link");
    cr_assert_eq(memcmp(snap, t.buf, t.len), 0);

    /* Forward link of f2 skipping f1. */
    wr(&t, f[0] - MF__BLOCK_HEADER + 24, f[1] - MF__BLOCK_HEADER);
    wr(&t, f[2] - MF__BLOCK_HEADER + 16, f[0] - MF__BLOCK_HEADER);
    memcpy(snap, t.buf, t.len);
    cr_assert_eq(mf__heap_free(&t.h, g[1]), MF_ECORRUPT, "bad forward link");
    cr_assert_eq(memcmp(snap, t.buf, t.len), 0);

    /* Repaired links: the same free goes through and the heap is sound. */
    wr(&t, f[2] - MF__BLOCK_HEADER + 16, f[1] - MF__BLOCK_HEADER);
    cr_assert_eq(mf__heap_free(&t.h, g[1]), 0);
    assert_clean(&t, live, 2);
    free(snap);
    th_close(&t);
}

Test(heap, grow_ignores_a_stale_last_block_hint)
{
    struct th t;
    th_open(&t, 1 << 20, 65536);
    uint64_t live[256], u;
    size_t n = 0;
    while (mf__heap_alloc(&t.h, 2000, &u) == 0)
        live[n++] = u;
    cr_assert_eq(t.c->free_blocks, 1);
    cr_assert_geq(t.c->free_bytes, 128);
    live[n++] = alloc_ok(&t, t.c->free_bytes - MF__BLOCK_HEADER);
    uint64_t last = 0;
    for (size_t i = 0; i < n; i++)
        last = live[i] > last ? live[i] : last;
    /* A fake block in the user area of the real last block that also ends
     * at the heap end, and a hint pointing at it. */
    uint64_t fake = last + 16;
    cr_assert_lt(fake + MF__BLOCK_MIN, 65536);
    wr(&t, fake, live[0] - MF__BLOCK_HEADER);
    wr(&t, fake + 8, 65536 - fake);
    t.c->last_block = fake;
    cr_assert_eq(mf__heap_grow(&t.h, 131072), 0);
    cr_assert_eq(rd(&t, 65536), last - MF__BLOCK_HEADER, "linked to the real last block");
    assert_clean(&t, live, n);
    /* Garbage hints, including one beyond the mapping. */
    static const uint64_t hints[] = {0, 8, UINT64_MAX - 15, 1 << 21};
    for (size_t i = 0; i < 4; i++) {
        t.c->last_block = hints[i];
        cr_assert_eq(mf__heap_grow(&t.h, 131072 + 4096 * (i + 1)), 0);
        assert_clean(&t, live, n);
    }
    cr_assert_eq(t.c->free_blocks, 1);
    th_close(&t);
}

Test(heap, random_metadata_corruption_never_crashes, .timeout = 120)
{
    enum { LEN = 256 << 10, HEND = 192 << 10, MAXL = 200 };
    struct th t;
    th_open(&t, LEN, HEND);
    uint64_t base_live[MAXL];
    size_t base_n = 0;
    rng_state = 1234;
    for (int i = 0; i < 600; i++) {
        uint64_t u;
        if (base_n && (rnd() % 3 == 0 || base_n == MAXL)) {
            size_t k = rnd_below(base_n);
            cr_assert_eq(mf__heap_free(&t.h, base_live[k]), 0);
            base_live[k] = base_live[--base_n];
        } else if (mf__heap_alloc(&t.h, rnd_below(1500), &u) == 0) {
            base_live[base_n++] = u;
        }
    }
    assert_clean(&t, base_live, base_n);
    cr_assert_gt(base_n, 10);
    unsigned char *golden = malloc(LEN);
    memcpy(golden, t.buf, LEN);
    th_close(&t);

    unsigned long rebuilt = 0, problems = 0;
    for (int iter = 0; iter < 1500; iter++) {
        /* An exact-size heap buffer so ASan sees any stray access. */
        unsigned char *buf = malloc(LEN);
        memcpy(buf, golden, LEN);
        struct th w = {buf, LEN, {buf, LEN, (struct mf__heap_ctl *)buf},
                       (struct mf__heap_ctl *)buf};
        uint64_t live[MAXL + 64];
        size_t n = base_n;
        memcpy(live, base_live, n * sizeof *live);

        int hits = 1 + (int)rnd_below(6);
        for (int k = 0; k < hits; k++) {
            uint64_t where, val;
            switch (rnd_below(4)) {
            case 0: /* the ctl */
                where = rnd_below(sizeof(struct mf__heap_ctl) / 8) * 8;
                break;
            case 1: /* a live block's header */
                where = live[rnd_below(n)] - MF__BLOCK_HEADER + rnd_below(4) * 8;
                break;
            default: /* anywhere in the heap */
                where = HSTART + rnd_below((HEND - HSTART) / 8) * 8;
                break;
            }
            switch (rnd_below(5)) {
            case 0: val = rnd(); break;
            case 1: val = rnd_below(16); break;
            case 2: val = live[rnd_below(n)] - MF__BLOCK_HEADER + (rnd_below(3) - 1) * 16; break;
            case 3: val = HEND - rnd_below(4) * 16; break;
            default: val = rd(&w, where) ^ (UINT64_C(1) << rnd_below(64)); break;
            }
            wr(&w, where, val);
        }
        struct msgs m;
        problems += check(&w, live, n, &m);

        for (int op = 0; op < 40; op++) {
            uint64_t u;
            int rc;
            switch (rnd_below(4)) {
            case 0:
            case 1:
                rc = mf__heap_alloc(&w.h, rnd_below(3000), &u);
                cr_assert(rc == 0 || rc == MF_EFULL || rc == MF_ECORRUPT, "alloc %d", rc);
                if (rc == 0) {
                    uint64_t us = mf__heap_usable(buf, LEN, w.c->heap_start,
                                                  w.c->heap_end, u);
                    cr_assert_geq(u, sizeof(struct mf__heap_ctl) + MF__BLOCK_HEADER, "over the ctl");
                    cr_assert_leq(u + us, LEN);
                    memset(buf + u, 0x5A, us < 64 ? us : 64);
                    if (n < MAXL + 64)
                        live[n++] = u;
                }
                break;
            case 2:
                if (n) {
                    size_t k = rnd_below(n);
                    rc = mf__heap_free(&w.h, live[k]);
                    cr_assert(rc == 0 || rc == MF_ECORRUPT, "free %d", rc);
                    if (rc == 0)
                        live[k] = live[--n];
                }
                break;
            default:
                rc = mf__heap_grow(&w.h, HEND + 16 * (1 + rnd_below(LEN / 16 - HEND / 16)));
                cr_assert(rc == 0 || rc == MF_EINVAL || rc == MF_ECORRUPT, "grow %d", rc);
                break;
            }
        }
        check(&w, live, n, &m);

        /* Whenever recovery accepts the live set, the result is sound. */
        qsort(live, n, sizeof *live, cmp_u64);
        size_t uniq = 0;
        for (size_t i = 0; i < n; i++)
            if (!uniq || live[uniq - 1] != live[i])
                live[uniq++] = live[i];
        if (mf__heap_rebuild(&w.h, live, uniq) == 0) {
            rebuilt++;
            unsigned p = check(&w, live, uniq, &m);
            cr_assert_eq(p, 0, "iter %d: rebuild accepted but check found:\n%s", iter,
                         m.text);
        }
        free(buf);
    }
    cr_assert_gt(problems, 0);
    cr_assert_gt(rebuilt, 0);
    cr_log_info("corruption: %lu problems seen, %lu rebuilds", problems, rebuilt);
    free(golden);
}

/* ------------------------------------------------------------------------ */
/* User areas                                                                */
/* ------------------------------------------------------------------------ */

static void fill_pattern(unsigned char *p, uint64_t n, uint64_t seed)
{
    uint64_t s = seed | 1;
    for (uint64_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        p[i] = (unsigned char)s;
    }
}

static int pattern_intact(const unsigned char *p, uint64_t n, uint64_t seed)
{
    uint64_t s = seed | 1;
    for (uint64_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        if (p[i] != (unsigned char)s)
            return 0;
    }
    return 1;
}

/* The allocator writes headers, and the links inside free blocks; never the
 * user area of a block that is allocated. */
Test(heap, allocator_never_writes_allocated_user_areas)
{
    enum { SLOTS = 300, LEN = 8 << 20 };
    struct th t;
    th_open(&t, LEN, LEN);
    uint64_t off[SLOTS] = {0}, len[SLOTS] = {0}, seed[SLOTS] = {0};
    rng_state = 777;
    for (int op = 0; op < 20000; op++) {
        size_t i = rnd_below(SLOTS);
        if (off[i]) {
            cr_assert_eq(mf__heap_free(&t.h, off[i]), 0);
            off[i] = 0;
        } else {
            uint64_t u;
            if (mf__heap_alloc(&t.h, 16 + rnd_below(20000), &u))
                continue;
            off[i] = u;
            len[i] = mf__heap_usable(t.buf, LEN, HSTART, LEN, u);
            cr_assert_leq(len[i], 1 << 16);
            seed[i] = rnd();
            fill_pattern(t.buf + u, len[i], seed[i]);
        }
        if (op % 1000 == 0)
            for (size_t k = 0; k < SLOTS; k++)
                if (off[k])
                    cr_assert(pattern_intact(t.buf + off[k], len[k], seed[k]),
                              "user area of 0x%llx changed", (unsigned long long)off[k]);
    }
    uint64_t live[SLOTS];
    size_t n = 0;
    for (size_t k = 0; k < SLOTS; k++)
        if (off[k]) {
            cr_assert(pattern_intact(t.buf + off[k], len[k], seed[k]));
            live[n++] = off[k];
        }
    assert_clean(&t, live, n);
    /* Recovery touches only headers as well. */
    qsort(live, n, sizeof *live, cmp_u64);
    cr_assert_eq(mf__heap_rebuild(&t.h, live, n), 0);
    assert_clean(&t, live, n);
    for (size_t k = 0; k < SLOTS; k++)
        if (off[k])
            cr_assert(pattern_intact(t.buf + off[k], len[k], seed[k]));
    th_close(&t);
}

/* ------------------------------------------------------------------------ */
/* Usable size, check messages, big blocks                                   */
/* ------------------------------------------------------------------------ */

Test(heap, usable_validates_offsets)
{
    struct th t;
    th_open(&t, 65536, 65536);
    uint64_t a = alloc_ok(&t, 200), b = alloc_ok(&t, 100);
    cr_assert_eq(mf__heap_usable(t.buf, t.len, HSTART, 65536, a), 208);
    cr_assert_eq(mf__heap_free(&t.h, b), 0);
    cr_assert_eq(mf__heap_usable(t.buf, t.len, HSTART, 65536, b), 0, "free block");
    cr_assert_eq(mf__heap_usable(t.buf, t.len, HSTART, 65536, a + 8), 0);
    cr_assert_eq(mf__heap_usable(t.buf, t.len, HSTART, 65536, 65536 - 16), 0);
    cr_assert_eq(mf__heap_usable(t.buf, t.len, HSTART, 65536, 0), 0);
    cr_assert_eq(mf__heap_usable(t.buf, t.len, HSTART, 65536, UINT64_MAX - 15), 0);
    cr_assert_eq(mf__heap_usable(t.buf, 32768, HSTART, 65536, a), 0, "map too short");
    cr_assert_eq(mf__heap_usable(NULL, t.len, HSTART, 65536, a), 0);
    th_close(&t);
}

Test(heap, check_reports_leaks_dangling_and_adjacent_free_blocks)
{
    struct th t;
    struct msgs m;
    char want[128];
    th_open(&t, 65536, 65536);
    uint64_t a = alloc_ok(&t, 100), b = alloc_ok(&t, 100), c = alloc_ok(&t, 100);
    uint64_t all[] = {a, b, c}, two[] = {a, c};

    cr_assert_eq(check(&t, two, 2, &m), 1, "%s", m.text);
    snprintf(want, sizeof want, "leaked block at 0x%llx (112 bytes), not referenced "
             "by any record", (unsigned long long)b);
    cr_assert(strstr(m.text, want), "%s", m.text);

    uint64_t extra[] = {a, b, c, 60000};
    cr_assert_eq(check(&t, extra, 4, &m), 1, "%s", m.text);
    cr_assert(strstr(m.text, "0xea60"), "%s", m.text);
    uint64_t mid[] = {a, a + 48, b, c};
    cr_assert_eq(check(&t, mid, 4, &m), 1, "%s", m.text);
    cr_assert(strstr(m.text, "overlap"), "%s", m.text);

    /* Two free blocks side by side that were never merged. */
    cr_assert_eq(mf__heap_free(&t.h, a), 0);
    wr(&t, b - MF__BLOCK_HEADER + 8, rd(&t, b - MF__BLOCK_HEADER + 8) | MF__BLK_FREE);
    unsigned p = check(&t, &c, 1, &m);
    cr_assert_geq(p, 2, "%s", m.text);
    cr_assert(strstr(m.text, "adjacent"), "%s", m.text);
    cr_assert(strstr(m.text, "on no free list"), "%s", m.text);
    cr_assert(strstr(m.text, "free_blocks"), "%s", m.text);
    (void)all;
    th_close(&t);
}

Test(heap, blocks_up_to_2_pow_40_work)
{
    const uint64_t len = (UINT64_C(1) << 40) + (UINT64_C(2) << 20);
    void *map = mmap(NULL, len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (map == MAP_FAILED)
        cr_skip_test("cannot reserve 1 TiB of address space here");
    struct mf__heap h = {map, len, map};
    cr_assert_eq(mf__heap_init(&h, HSTART, len), 0);
    struct th t = {map, len, h, map};

    uint64_t big = alloc_ok(&t, (UINT64_C(1) << 40) - MF__BLOCK_HEADER);
    cr_assert_eq(blk_size(&t, big), UINT64_C(1) << 40);
    cr_assert_eq(mf__heap_usable(map, len, HSTART, len, big),
                 (UINT64_C(1) << 40) - MF__BLOCK_HEADER);
    t.buf[big] = 1;
    t.buf[big + (UINT64_C(1) << 40) - MF__BLOCK_HEADER - 1] = 2;
    uint64_t small = alloc_ok(&t, 1000);
    cr_assert_eq(small, big + (UINT64_C(1) << 40));
    uint64_t live[] = {big, small};
    assert_clean(&t, live, 2);
    assert_accounting(&t, live, 2);
    cr_assert_eq(mf__heap_free(&t.h, big), 0);
    cr_assert_eq(mf__heap_free(&t.h, small), 0);
    cr_assert_eq(t.c->free_blocks, 1);
    /* Bigger than 2^40: the block lives in the top first-level list. */
    uint64_t huge = alloc_ok(&t, (UINT64_C(1) << 40) + (UINT64_C(1) << 20));
    cr_assert_eq(huge, HSTART + MF__BLOCK_HEADER);
    assert_clean(&t, &huge, 1);
    cr_assert_eq(mf__heap_free(&t.h, huge), 0);
    assert_clean(&t, NULL, 0);
    munmap(map, len);
}
