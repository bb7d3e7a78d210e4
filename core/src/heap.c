/*
 * heap.c - TLSF allocator over file offsets. The block layout and the
 * contracts are in heap.h.
 *
 * Every mutating operation first validates everything it is going to touch
 * (the blocks, their physical neighbours, the free-list neighbours and the
 * target list head), reading each once, and only then writes from the
 * checked copies, so hostile metadata is refused with MF_ECORRUPT before
 * anything changes. The allocator writes block
 * headers, the control block and the links inside free blocks, never the
 * user area of an allocated block.
 */
#include "heap.h"
#include "internal.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Header field offsets, see the layout in heap.h. */
#define HDR_PREV 0u
#define HDR_SIZE 8u
#define HDR_NEXTF 16u
#define HDR_PREVF 24u

/* The largest block the lists can hold: first level 40 covers
 * [2^40, 2^41). A heap is never bigger, so any block fits a list. */
#define MAX_BLOCK ((UINT64_C(1) << MF__TLSF_FL) - MF__HEAP_ALIGN)
#define SIZE_MASK (~(uint64_t)MF__BLK_FLAGS)
#define KNOWN_FLAGS ((uint64_t)(MF__BLK_FREE | MF__BLK_PREV_FREE))
#define SL_MASK ((uint32_t)((1u << MF__TLSF_SL) - 1u))
#define FL_MASK ((UINT64_C(1) << MF__TLSF_FL) - 1u)

/* Counters and bounds in the ctl are read by lock-free readers (stats,
 * mapping length), so they are stored atomically. */
#define CTL_LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define CTL_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

/* The ctl lives in the 4 KiB file header beside other fields. */
_Static_assert(sizeof(struct mf__heap_ctl) < 3000, "heap ctl must stay small");

struct blk {
    uint64_t off;
    uint64_t prev_phys;
    uint64_t sf; /* size | flags */
    uint64_t next_free;
    uint64_t prev_free;
};

static uint64_t rd64(const unsigned char *base, uint64_t off)
{
    uint64_t v;
    memcpy(&v, base + off, sizeof v);
    return v;
}

static void wr64(unsigned char *base, uint64_t off, uint64_t v)
{
    memcpy(base + off, &v, sizeof v);
}

static uint64_t bsize(const struct blk *b) { return b->sf & SIZE_MASK; }
static int bfree(const struct blk *b) { return (b->sf & MF__BLK_FREE) != 0; }
static int bprevfree(const struct blk *b)
{
    return (b->sf & MF__BLK_PREV_FREE) != 0;
}

static unsigned fls64(uint64_t x) { return 63u - (unsigned)__builtin_clzll(x); }

/* Direct TLSF mapping: first level is floor(log2(size)), second level the
 * next three bits. Only valid for size >= 8; blocks are always >= 32. */
static void mapping(uint64_t size, unsigned *fl, unsigned *sl)
{
    unsigned f = fls64(size);
    *fl = f;
    *sl = (unsigned)(size >> (f - MF__TLSF_SL_LOG2)) & (MF__TLSF_SL - 1u);
}

static void ctl_add(uint64_t *field, uint64_t delta)
{
    CTL_STORE(field, CTL_LOAD(field) + delta);
}

static void ctl_sub(uint64_t *field, uint64_t delta)
{
    CTL_STORE(field, CTL_LOAD(field) - delta);
}

/* ------------------------------------------------------------------------ */
/* Validation                                                                */
/* ------------------------------------------------------------------------ */

static int span_ok(uint64_t map_len, uint64_t start, uint64_t end)
{
    /* start 0 is refused so that 0 can mean "no block" in every link. */
    return start >= MF__HEAP_ALIGN && start % MF__HEAP_ALIGN == 0 &&
           end % MF__HEAP_ALIGN == 0 && start < end &&
           end - start >= MF__BLOCK_MIN && end - start <= MAX_BLOCK &&
           end <= map_len;
}

/* The heap [start, end) must fit the mapping and must not cover the ctl,
 * or the allocator would write its headers over its own control block. */
static int range_ok(const struct mf__heap *h, uint64_t start, uint64_t end)
{
    if (!span_ok(h->map_len, start, end))
        return 0;
    uintptr_t c = (uintptr_t)h->ctl, b = (uintptr_t)h->base;
    if (c >= b && c - b < h->map_len) {
        uint64_t co = (uint64_t)(c - b);
        if (co + sizeof(struct mf__heap_ctl) > start && co < end)
            return 0;
    }
    return 1;
}

static int ctl_ok(const struct mf__heap *h)
{
    return range_ok(h, h->ctl->heap_start, CTL_LOAD(&h->ctl->heap_end));
}

static int handle_ok(const struct mf__heap *h)
{
    return h && h->base && h->ctl;
}

/* Reads the header at off. Fails unless off can hold a block inside
 * [start, end) and the size it states is plausible and stays inside. */
static int load_at(const unsigned char *base, uint64_t start, uint64_t end,
                   uint64_t off, struct blk *b)
{
    if (off < start || off >= end || off % MF__HEAP_ALIGN ||
        end - off < MF__BLOCK_MIN)
        return -1;
    b->off = off;
    b->prev_phys = rd64(base, off + HDR_PREV);
    b->sf = rd64(base, off + HDR_SIZE);
    b->next_free = rd64(base, off + HDR_NEXTF);
    b->prev_free = rd64(base, off + HDR_PREVF);
    uint64_t size = bsize(b);
    if (size < MF__BLOCK_MIN || size > end - off || (b->sf & ~SIZE_MASK & ~KNOWN_FLAGS))
        return -1;
    return 0;
}

static int hload(const struct mf__heap *h, uint64_t off, struct blk *b)
{
    /* The end is read again on every load, so it is bounded here too: a
     * lock-free check reads the ctl while a writer grows the file past
     * the checker's mapping. */
    uint64_t end = CTL_LOAD(&h->ctl->heap_end);
    if (end > h->map_len)
        return -1;
    return load_at(h->base, h->ctl->heap_start, end, off, b);
}

/* A block that claims to be on list (fl, sl): free and of that class. */
static int load_listed(const struct mf__heap *h, uint64_t off, unsigned fl,
                       unsigned sl, struct blk *b)
{
    unsigned f, s;
    if (hload(h, off, b) || !bfree(b))
        return -1;
    mapping(bsize(b), &f, &s);
    return f == fl && s == sl ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* Free lists                                                                */
/* ------------------------------------------------------------------------ */

/* A free block's place on its list, as checked: everything taking it off
 * writes, so the write needs no second look at the file. */
struct place {
    uint64_t off, nf, pf;
    unsigned fl, sl;
};

/* Checks that the free block b (already loaded and bounds-checked) sits on
 * its list as its links say: both list neighbours point back at it, or the
 * list head and bitmap name it. Reads each neighbour once. */
static int unlink_check(const struct mf__heap *h, const struct blk *b, struct place *pl)
{
    const struct mf__heap_ctl *c = h->ctl;
    struct blk pb, nb;
    unsigned fl, sl;

    if (!bfree(b))
        return MF_ECORRUPT;
    uint64_t nf = b->next_free, pf = b->prev_free;
    mapping(bsize(b), &fl, &sl);
    if (nf == b->off || pf == b->off || (nf && nf == pf))
        return MF_ECORRUPT;
    if (pf) {
        if (load_listed(h, pf, fl, sl, &pb) || pb.next_free != b->off)
            return MF_ECORRUPT;
    } else if (c->heads[fl][sl] != b->off || !((c->sl_bitmap[fl] >> sl) & 1u)) {
        return MF_ECORRUPT;
    }
    if (nf && (load_listed(h, nf, fl, sl, &nb) || nb.prev_free != b->off))
        return MF_ECORRUPT;
    *pl = (struct place){b->off, nf, pf, fl, sl};
    return 0;
}

/* Takes a checked block off its list. */
static void unlink_apply(struct mf__heap *h, const struct place *pl)
{
    struct mf__heap_ctl *c = h->ctl;
    if (pl->pf)
        wr64(h->base, pl->pf + HDR_NEXTF, pl->nf);
    else
        c->heads[pl->fl][pl->sl] = pl->nf;
    if (pl->nf)
        wr64(h->base, pl->nf + HDR_PREVF, pl->pf);
    if (!pl->pf && !pl->nf) {
        c->sl_bitmap[pl->fl] &= ~(1u << pl->sl);
        if (!(c->sl_bitmap[pl->fl] & SL_MASK))
            c->fl_bitmap &= ~(UINT64_C(1) << pl->fl);
    }
}

/* q's links as they are once `gone` (checked in the same state) is off
 * the list: a neighbour that was `gone` becomes gone's neighbour. */
static void place_after(struct place *q, const struct place *gone)
{
    if (q->pf == gone->off)
        q->pf = gone->pf;
    if (q->nf == gone->off)
        q->nf = gone->nf;
}

/* Checks that the block at off (size bytes) can go onto the head of its
 * list once the blocks in gone[] (checked, each place_after the earlier
 * ones) are off their lists, and gives the head it will then have. A head
 * that one of them leaves behind was checked as their neighbour; any other
 * is checked here. Nothing is written. */
static int insert_check(const struct mf__heap *h, uint64_t off, uint64_t size,
                        const struct place *gone, size_t ngone, uint64_t *head_out)
{
    const struct mf__heap_ctl *c = h->ctl;
    struct blk hb;
    unsigned fl, sl;

    mapping(size, &fl, &sl);
    uint64_t head = c->heads[fl][sl];
    int bit = (c->sl_bitmap[fl] >> sl) & 1u;
    if (head ? !bit : bit)
        return MF_ECORRUPT;
    int inherited = 0;
    for (size_t i = 0; i < ngone; i++) {
        if (head && head == gone[i].off) {
            if (gone[i].fl != fl || gone[i].sl != sl)
                return MF_ECORRUPT; /* one block at the head of two lists */
            head = gone[i].nf;
            inherited = 1;
        }
    }
    if (head == off)
        return MF_ECORRUPT;
    if (head && !inherited &&
        (load_listed(h, head, fl, sl, &hb) || hb.prev_free != 0))
        return MF_ECORRUPT;
    *head_out = head;
    return 0;
}

/* Pushes the block at off (its header already says size, free) onto its
 * list in front of the head insert_check gave. */
static void insert_apply(struct mf__heap *h, uint64_t off, uint64_t size, uint64_t head)
{
    struct mf__heap_ctl *c = h->ctl;
    unsigned fl, sl;
    mapping(size, &fl, &sl);
    wr64(h->base, off + HDR_NEXTF, head);
    wr64(h->base, off + HDR_PREVF, 0);
    if (head)
        wr64(h->base, head + HDR_PREVF, off);
    c->heads[fl][sl] = off;
    c->sl_bitmap[fl] |= 1u << sl;
    c->fl_bitmap |= UINT64_C(1) << fl;
}

/* Checks and pushes a block onto its list when nothing leaves a list
 * first (init, rebuild, grow into new space). */
static int insert_blk(struct mf__heap *h, uint64_t off, uint64_t size)
{
    uint64_t head;
    int rc = insert_check(h, off, size, NULL, 0, &head);
    if (rc)
        return rc;
    insert_apply(h, off, size, head);
    return 0;
}

/* The validated head of list (fl, sl), which the bitmaps say is non-empty. */
static int list_head(const struct mf__heap *h, unsigned fl, unsigned sl,
                     struct blk *b)
{
    uint64_t head = h->ctl->heads[fl][sl];
    if (!head || load_listed(h, head, fl, sl, b) || b->prev_free != 0)
        return MF_ECORRUPT;
    return 0;
}

/* Good fit: the request is rounded up to the next list so that any block on
 * a list found through the bitmaps fits, in O(1). */
static int find_block(const struct mf__heap *h, uint64_t need, struct blk *b)
{
    const struct mf__heap_ctl *c = h->ctl;
    unsigned fl, sl;
    uint64_t r = need + (UINT64_C(1) << (fls64(need) - MF__TLSF_SL_LOG2)) - 1u;

    /* The head of the request's own list is checked first: a cheap better
     * fit that spares a big block when an exact one is at hand. */
    mapping(need, &fl, &sl);
    if ((c->sl_bitmap[fl] >> sl) & 1u) {
        int rc = list_head(h, fl, sl, b);
        if (rc)
            return rc;
        if (bsize(b) >= need)
            return 0;
    }
    if (r <= MAX_BLOCK) {
        mapping(r, &fl, &sl);
        uint32_t slm = c->sl_bitmap[fl] & SL_MASK & (~0u << sl);
        if (!slm) {
            uint64_t flm = c->fl_bitmap & FL_MASK & (~UINT64_C(0) << (fl + 1u));
            if (flm) {
                fl = (unsigned)__builtin_ctzll(flm);
                slm = c->sl_bitmap[fl] & SL_MASK;
                if (!slm)
                    return MF_ECORRUPT;
            }
        }
        if (slm) {
            int rc = list_head(h, fl, (unsigned)__builtin_ctz(slm), b);
            if (rc)
                return rc;
            return bsize(b) >= need ? 0 : MF_ECORRUPT;
        }
    }
    return MF_EFULL;
}

/* ------------------------------------------------------------------------ */
/* Init, alloc, free                                                         */
/* ------------------------------------------------------------------------ */

int mf__heap_init(struct mf__heap *h, uint64_t start, uint64_t end)
{
    if (!handle_ok(h) || !range_ok(h, start, end))
        return MF_EINVAL;
    struct mf__heap_ctl *c = h->ctl;
    memset(c, 0, sizeof *c);
    c->heap_start = start;
    CTL_STORE(&c->heap_end, end);
    wr64(h->base, start + HDR_PREV, 0);
    wr64(h->base, start + HDR_SIZE, (end - start) | MF__BLK_FREE);
    int rc = insert_blk(h, start, end - start);
    if (rc)
        return rc;
    CTL_STORE(&c->free_bytes, end - start);
    CTL_STORE(&c->free_blocks, 1);
    c->last_block = start;
    return 0;
}

int mf__heap_alloc(struct mf__heap *h, uint64_t size, uint64_t *user_off)
{
    if (!handle_ok(h) || !user_off)
        return MF_EINVAL;
    if (!ctl_ok(h))
        return MF_ECORRUPT;
    if (size > MAX_BLOCK - MF__BLOCK_HEADER)
        return MF_EFULL;
    uint64_t need = ((size + MF__HEAP_ALIGN - 1u) & ~(uint64_t)(MF__HEAP_ALIGN - 1u)) +
                    MF__BLOCK_HEADER;
    if (need < MF__BLOCK_MIN)
        need = MF__BLOCK_MIN;

    struct mf__heap_ctl *c = h->ctl;
    uint64_t end = CTL_LOAD(&c->heap_end);
    struct blk b, nb;
    int rc = find_block(h, need, &b);
    if (rc)
        return rc;
    uint64_t bs = bsize(&b);
    uint64_t nxt = b.off + bs;
    int have_next = nxt < end;
    /* The physical successor must point back and, b being free, be
     * allocated and flagged as following a free block. */
    if (have_next && (hload(h, nxt, &nb) || nb.prev_phys != b.off || bfree(&nb) ||
                      !bprevfree(&nb)))
        return MF_ECORRUPT;
    if (bprevfree(&b))
        return MF_ECORRUPT; /* two free blocks in a row */

    uint64_t rest = bs - need;
    int split = rest >= MF__BLOCK_MIN;
    uint64_t r = b.off + need;
    struct place pb;
    uint64_t head = 0;
    if (unlink_check(h, &b, &pb) || (split && insert_check(h, r, rest, &pb, 1, &head)))
        return MF_ECORRUPT;

    /* Everything is checked: from here on only writes. */
    unlink_apply(h, &pb);
    uint64_t taken = split ? need : bs;
    wr64(h->base, b.off + HDR_SIZE, taken);
    if (split) {
        wr64(h->base, r + HDR_PREV, b.off);
        wr64(h->base, r + HDR_SIZE, rest | MF__BLK_FREE);
        insert_apply(h, r, rest, head);
        if (have_next)
            wr64(h->base, nxt + HDR_PREV, r);
        else
            c->last_block = r;
    } else if (have_next) {
        wr64(h->base, nxt + HDR_SIZE, nb.sf & ~(uint64_t)MF__BLK_PREV_FREE);
    }
    ctl_add(&c->used_bytes, taken);
    ctl_add(&c->used_blocks, 1);
    ctl_sub(&c->free_bytes, taken);
    if (!split)
        ctl_sub(&c->free_blocks, 1);
    *user_off = b.off + MF__BLOCK_HEADER;
    return 0;
}

int mf__heap_free(struct mf__heap *h, uint64_t user_off)
{
    if (!handle_ok(h))
        return MF_EINVAL;
    if (!ctl_ok(h))
        return MF_ECORRUPT;
    struct mf__heap_ctl *c = h->ctl;
    uint64_t start = c->heap_start, end = CTL_LOAD(&c->heap_end);
    struct blk b, p, n, a;

    if (user_off < MF__BLOCK_HEADER || hload(h, user_off - MF__BLOCK_HEADER, &b) ||
        bfree(&b))
        return MF_ECORRUPT;
    uint64_t bs = bsize(&b);

    /* Cross-check both physical neighbours: this catches offsets that are not
     * block starts, double frees after a merge, and broken chains. */
    int have_prev = b.off != start;
    if (!have_prev) {
        if (b.prev_phys != 0 || bprevfree(&b))
            return MF_ECORRUPT;
    } else if (hload(h, b.prev_phys, &p) || p.off + bsize(&p) != b.off ||
               bfree(&p) != bprevfree(&b) || (bfree(&p) && bprevfree(&p))) {
        return MF_ECORRUPT;
    }
    uint64_t nxt = b.off + bs;
    int have_next = nxt < end;
    if (have_next && (hload(h, nxt, &n) || n.prev_phys != b.off || bprevfree(&n)))
        return MF_ECORRUPT;

    int merge_prev = have_prev && bfree(&p);
    int merge_next = have_next && bfree(&n);
    uint64_t mstart = merge_prev ? p.off : b.off;
    uint64_t msize = bs + (merge_prev ? bsize(&p) : 0) + (merge_next ? bsize(&n) : 0);
    uint64_t mend = mstart + msize;
    int have_after = mend < end;
    if (merge_next && have_after) {
        if (hload(h, mend, &a) || a.prev_phys != n.off || bfree(&a) || !bprevfree(&a))
            return MF_ECORRUPT;
    } else if (have_next) {
        a = n;
    }
    /* Both neighbours are checked in the state as it is; n's links are
     * then seen as they will be once p is off (they may share a list). */
    struct place gone[2] = {{0}};
    size_t ngone = 0;
    uint64_t head;
    if (merge_prev && unlink_check(h, &p, &gone[ngone++]))
        return MF_ECORRUPT;
    if (merge_next) {
        if (unlink_check(h, &n, &gone[ngone]))
            return MF_ECORRUPT;
        if (merge_prev)
            place_after(&gone[ngone], &gone[0]);
        ngone++;
    }
    if (insert_check(h, mstart, msize, gone, ngone, &head))
        return MF_ECORRUPT;

    /* Everything is checked: from here on only writes. */
    for (size_t i = 0; i < ngone; i++)
        unlink_apply(h, &gone[i]);
    /* Only mstart's header is written: b's own header and user area stay as
     * they were when b is absorbed into its predecessor. */
    wr64(h->base, mstart + HDR_SIZE, msize | MF__BLK_FREE);
    insert_apply(h, mstart, msize, head);
    if (have_after) {
        wr64(h->base, mend + HDR_PREV, mstart);
        wr64(h->base, mend + HDR_SIZE, a.sf | MF__BLK_PREV_FREE);
    } else {
        c->last_block = mstart;
    }
    ctl_sub(&c->used_bytes, bs);
    ctl_sub(&c->used_blocks, 1);
    ctl_add(&c->free_bytes, bs);
    ctl_add(&c->free_blocks, 1);
    if (merge_prev)
        ctl_sub(&c->free_blocks, 1);
    if (merge_next)
        ctl_sub(&c->free_blocks, 1);
    return 0;
}

uint64_t mf__heap_usable(const unsigned char *base, uint64_t map_len,
                         uint64_t heap_start, uint64_t heap_end,
                         uint64_t user_off)
{
    /* The readers' hot path: one header word, checked against the bounds. */
    if (!base || !span_ok(map_len, heap_start, heap_end) || user_off % MF__HEAP_ALIGN ||
        user_off < heap_start + MF__BLOCK_HEADER || user_off >= heap_end)
        return 0;
    uint64_t b = user_off - MF__BLOCK_HEADER;
    uint64_t sf = rd64(base, b + HDR_SIZE), size = sf & SIZE_MASK;
    if ((sf & MF__BLK_FREE) || (sf & ~SIZE_MASK & ~KNOWN_FLAGS) ||
        size < MF__BLOCK_MIN || size > heap_end - b)
        return 0;
    return size - MF__BLOCK_HEADER;
}

/* ------------------------------------------------------------------------ */
/* Grow                                                                      */
/* ------------------------------------------------------------------------ */

/* The last block, from the ctl's hint when it checks out, else by a walk
 * (the hint can be stale after a crash). */
static int find_last(struct mf__heap *h, struct blk *last)
{
    struct mf__heap_ctl *c = h->ctl;
    uint64_t start = c->heap_start, end = CTL_LOAD(&c->heap_end);
    struct blk p;
    uint64_t hint = c->last_block;

    if (!hload(h, hint, last) && hint + bsize(last) == end) {
        if (hint == start && last->prev_phys == 0)
            return 0;
        if (hint != start && !hload(h, last->prev_phys, &p) &&
            p.off + bsize(&p) == hint)
            return 0;
    }
    /* Each step advances by at least MF__BLOCK_MIN, so the walk ends. */
    uint64_t off = start, prev = 0;
    for (;;) {
        if (hload(h, off, last) || last->prev_phys != prev)
            return MF_ECORRUPT;
        if (off + bsize(last) == end)
            break;
        prev = off;
        off += bsize(last);
    }
    c->last_block = off;
    return 0;
}

int mf__heap_grow(struct mf__heap *h, uint64_t new_end)
{
    if (!handle_ok(h))
        return MF_EINVAL;
    if (!ctl_ok(h))
        return MF_ECORRUPT;
    struct mf__heap_ctl *c = h->ctl;
    uint64_t old_end = CTL_LOAD(&c->heap_end);
    if (new_end <= old_end || !range_ok(h, c->heap_start, new_end))
        return MF_EINVAL;
    struct blk last;
    int rc = find_last(h, &last);
    if (rc)
        return rc;
    uint64_t delta = new_end - old_end;
    uint64_t ls = bsize(&last);

    if (bfree(&last)) {
        struct place pl;
        uint64_t head;
        if (unlink_check(h, &last, &pl) ||
            insert_check(h, last.off, ls + delta, &pl, 1, &head))
            return MF_ECORRUPT;
        unlink_apply(h, &pl);
        __atomic_store_n(&c->heap_end, new_end, __ATOMIC_RELEASE);
        wr64(h->base, last.off + HDR_SIZE, (ls + delta) | (last.sf & KNOWN_FLAGS));
        insert_apply(h, last.off, ls + delta, head);
        ctl_add(&c->free_bytes, delta);
    } else if (delta >= MF__BLOCK_MIN) {
        uint64_t head;
        if (insert_check(h, old_end, delta, NULL, 0, &head))
            return MF_ECORRUPT;
        wr64(h->base, old_end + HDR_PREV, last.off);
        wr64(h->base, old_end + HDR_SIZE, delta | MF__BLK_FREE);
        __atomic_store_n(&c->heap_end, new_end, __ATOMIC_RELEASE);
        insert_apply(h, old_end, delta, head);
        c->last_block = old_end;
        ctl_add(&c->free_bytes, delta);
        ctl_add(&c->free_blocks, 1);
    } else {
        /* Too small to be a block: the allocated tail absorbs it. */
        __atomic_store_n(&c->heap_end, new_end, __ATOMIC_RELEASE);
        wr64(h->base, last.off + HDR_SIZE, (ls + delta) | (last.sf & KNOWN_FLAGS));
        ctl_add(&c->used_bytes, delta);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Rebuild                                                                   */
/* ------------------------------------------------------------------------ */

/* Size of the live block whose user area is at u, from its own header; the
 * only file data the rebuild trusts, after checking it. */
static int live_size(const struct mf__heap *h, uint64_t u, uint64_t *size)
{
    uint64_t start = h->ctl->heap_start, end = CTL_LOAD(&h->ctl->heap_end);
    if (u % MF__HEAP_ALIGN || u < MF__BLOCK_HEADER || u - MF__BLOCK_HEADER < start ||
        u >= end || end - u < MF__BLOCK_MIN - MF__BLOCK_HEADER)
        return MF_ECORRUPT;
    uint64_t s = rd64(h->base, u - MF__BLOCK_HEADER + HDR_SIZE) & SIZE_MASK;
    if (s < MF__BLOCK_MIN || s > end - (u - MF__BLOCK_HEADER))
        return MF_ECORRUPT;
    *size = s;
    return 0;
}

/* Writes a free block over a gap; its links come from the insert. */
static int emit_free(struct mf__heap *h, uint64_t off, uint64_t size, uint64_t prev)
{
    wr64(h->base, off + HDR_PREV, prev);
    wr64(h->base, off + HDR_SIZE, size | MF__BLK_FREE);
    int rc = insert_blk(h, off, size);
    if (rc)
        return rc;
    ctl_add(&h->ctl->free_bytes, size);
    ctl_add(&h->ctl->free_blocks, 1);
    return 0;
}

/*
 * Restartable: the first pass validates and writes nothing; the second reads
 * only the live blocks' size fields (which it preserves, or grows to absorb
 * a gap too small for a block, which a rerun then sees as no gap) and the
 * lists it rebuilt itself after clearing them. So a rerun after a crash at
 * any point computes the same result.
 */
int mf__heap_rebuild(struct mf__heap *h, const uint64_t *live, size_t n)
{
    if (!handle_ok(h) || (n && !live))
        return MF_EINVAL;
    if (!ctl_ok(h))
        return MF_ECORRUPT;
    struct mf__heap_ctl *c = h->ctl;
    uint64_t start = c->heap_start, end = CTL_LOAD(&c->heap_end);
    uint64_t cursor = start, size;

    for (size_t i = 0; i < n; i++) {
        if ((i && live[i] <= live[i - 1]) || live_size(h, live[i], &size))
            return MF_ECORRUPT;
        uint64_t b = live[i] - MF__BLOCK_HEADER;
        if (b < cursor)
            return MF_ECORRUPT; /* overlaps the previous live block */
        if (i == 0 && b > start && b - start < MF__BLOCK_MIN)
            return MF_ECORRUPT; /* a sliver before the first block: no owner */
        cursor = b + size;
    }

    c->fl_bitmap = 0;
    memset(c->sl_bitmap, 0, sizeof c->sl_bitmap);
    memset(c->heads, 0, sizeof c->heads);
    CTL_STORE(&c->used_bytes, 0);
    CTL_STORE(&c->free_bytes, 0);
    CTL_STORE(&c->used_blocks, 0);
    CTL_STORE(&c->free_blocks, 0);

    uint64_t prev = 0, prev_size = 0, prev_flags = 0;
    int prev_is_live = 0, rc;
    cursor = start;
    for (size_t i = 0; i <= n; i++) {
        uint64_t b = i < n ? live[i] - MF__BLOCK_HEADER : end;
        uint64_t gap = b - cursor;
        if (gap >= MF__BLOCK_MIN) {
            if ((rc = emit_free(h, cursor, gap, prev)))
                return rc;
            prev = cursor;
            prev_is_live = 0;
        } else if (gap) {
            /* Only reachable with a live predecessor (checked above, and the
             * heap is at least one block). */
            if (!prev_is_live)
                return MF_ECORRUPT;
            prev_size += gap;
            wr64(h->base, prev + HDR_SIZE, prev_size | prev_flags);
            ctl_add(&c->used_bytes, gap);
        }
        if (i == n)
            break;
        if ((rc = live_size(h, live[i], &size)))
            return rc;
        uint64_t flags = prev_is_live || !prev ? 0 : MF__BLK_PREV_FREE;
        wr64(h->base, b + HDR_PREV, prev);
        wr64(h->base, b + HDR_SIZE, size | flags);
        ctl_add(&c->used_bytes, size);
        ctl_add(&c->used_blocks, 1);
        prev = b;
        prev_size = size;
        prev_flags = flags;
        prev_is_live = 1;
        cursor = b + size;
    }
    c->last_block = prev;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Check                                                                     */
/* ------------------------------------------------------------------------ */

struct checker {
    void (*report)(void *ud, const char *msg);
    void *ud;
    unsigned problems;
};

static void problem(struct checker *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void problem(struct checker *k, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (k->problems < UINT_MAX)
        k->problems++;
    if (k->report)
        k->report(k->ud, msg);
}

/* Free blocks found by the physical walk, sorted by construction, with a
 * mark for "seen on a list" so each must appear exactly once. */
struct freeset {
    uint64_t *off;
    unsigned char *seen;
    size_t n, cap;
};

static int freeset_add(struct freeset *fs, uint64_t off)
{
    if (fs->n == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 256;
        uint64_t *o = realloc(fs->off, cap * sizeof *o);
        if (!o)
            return -1;
        fs->off = o;
        fs->cap = cap;
    }
    fs->off[fs->n++] = off;
    return 0;
}

static ptrdiff_t freeset_find(const struct freeset *fs, uint64_t off)
{
    size_t lo = 0, hi = fs->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (fs->off[mid] < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < fs->n && fs->off[lo] == off ? (ptrdiff_t)lo : -1;
}

struct walk {
    uint64_t used_bytes, free_bytes, used_blocks, free_blocks, last;
    int complete;
};

static void check_live_entry(struct checker *k, uint64_t u, uint64_t in_block,
                             uint64_t in_size, int in_free)
{
    if (in_block && in_free && u == in_block + MF__BLOCK_HEADER)
        problem(k, "heap: offset 0x%" PRIx64 " referenced by a record is a free "
                   "block (dangling)", u);
    else if (in_block && u > in_block && u < in_block + in_size)
        problem(k, "heap: offset 0x%" PRIx64 " referenced by a record lies inside the "
                   "%s block at 0x%" PRIx64 " (%" PRIu64 " bytes): blocks overlap",
                u, in_free ? "free" : "allocated", in_block, in_size);
    else
        problem(k, "heap: offset 0x%" PRIx64 " referenced by a record is not an "
                   "allocated block (dangling)", u);
}

/* Walks the blocks in address order: tiling, headers, flags, live set. */
static void check_blocks(const struct mf__heap *h, uint64_t start, uint64_t end,
                         const uint64_t *live, size_t n, struct checker *k,
                         struct freeset *fs, struct walk *w)
{
    uint64_t off = start, prev = 0, prev_size = 0;
    int prev_free = 0;
    size_t li = 0;

    memset(w, 0, sizeof *w);
    for (size_t i = 1; i < n; i++)
        if (live[i] <= live[i - 1]) {
            problem(k, "heap: the live list is not sorted ascending at index %zu", i);
            break;
        }

    while (off < end) {
        if (end - off < MF__BLOCK_MIN) {
            problem(k, "heap: %" PRIu64 " bytes at 0x%" PRIx64 " before the heap end "
                       "are too few for a block", end - off, off);
            break;
        }
        uint64_t sf = rd64(h->base, off + HDR_SIZE);
        uint64_t pp = rd64(h->base, off + HDR_PREV);
        uint64_t size = sf & SIZE_MASK;
        int is_free = (sf & MF__BLK_FREE) != 0;
        if (size < MF__BLOCK_MIN) {
            problem(k, "heap: block at 0x%" PRIx64 " has invalid size %" PRIu64, off, size);
            break;
        }
        if (size > end - off) {
            problem(k, "heap: block at 0x%" PRIx64 " (%" PRIu64 " bytes) runs past the "
                       "heap end 0x%" PRIx64, off, size, end);
            break;
        }
        if (sf & ~SIZE_MASK & ~KNOWN_FLAGS)
            problem(k, "heap: block at 0x%" PRIx64 " has unknown flags 0x%" PRIx64, off,
                    sf & ~SIZE_MASK & ~KNOWN_FLAGS);
        if (pp != prev)
            problem(k, "heap: block at 0x%" PRIx64 " records its previous block as 0x%"
                       PRIx64 ", expected 0x%" PRIx64 " (the previous block overlaps "
                       "it or the chain is broken)", off, pp, prev);
        if (((sf & MF__BLK_PREV_FREE) != 0) != prev_free)
            problem(k, "heap: block at 0x%" PRIx64 " says its previous block is %s, "
                       "but it is %s", off, (sf & MF__BLK_PREV_FREE) ? "free" : "allocated",
                    prev_free ? "free" : (prev ? "allocated" : "absent"));
        if (is_free && prev_free)
            problem(k, "heap: free blocks at 0x%" PRIx64 " and 0x%" PRIx64 " are "
                       "adjacent (not coalesced)", prev, off);

        uint64_t u = off + MF__BLOCK_HEADER;
        while (li < n && live[li] < u) {
            check_live_entry(k, live[li], prev, prev_size, prev_free);
            li++;
        }
        if (is_free) {
            w->free_bytes += size;
            w->free_blocks++;
            if (freeset_add(fs, off)) {
                problem(k, "heap: out of memory while checking the free lists");
                return;
            }
        } else {
            w->used_bytes += size;
            w->used_blocks++;
            if (li < n && live[li] == u)
                li++;
            else
                problem(k, "heap: leaked block at 0x%" PRIx64 " (%" PRIu64 " bytes), "
                           "not referenced by any record", u, size - MF__BLOCK_HEADER);
        }
        prev = off;
        prev_size = size;
        prev_free = is_free;
        off += size;
    }
    if (off < end) {
        problem(k, "heap: walk stopped at 0x%" PRIx64 "; the rest of the heap is "
                   "unchecked", off);
        return;
    }
    for (; li < n; li++)
        check_live_entry(k, live[li], prev, prev_size, prev_free);
    w->last = prev;
    w->complete = 1;
}

static void check_counter(struct checker *k, const char *name, uint64_t have,
                          uint64_t want)
{
    if (have != want)
        problem(k, "heap: %s is %" PRIu64 " but the blocks add up to %" PRIu64, name,
                have, want);
}

static void check_bitmaps(const struct mf__heap_ctl *c, struct checker *k)
{
    if (c->fl_bitmap & ~FL_MASK)
        problem(k, "heap: first-level bitmap 0x%" PRIx64 " has bits beyond level %d",
                c->fl_bitmap, MF__TLSF_FL - 1);
    for (unsigned fl = 0; fl < MF__TLSF_FL; fl++) {
        uint32_t slm = c->sl_bitmap[fl];
        if (slm & ~SL_MASK)
            problem(k, "heap: second-level bitmap %u is 0x%x, beyond %d lists", fl,
                    (unsigned)slm, MF__TLSF_SL);
        if (((c->fl_bitmap >> fl) & 1u) != ((slm & SL_MASK) != 0))
            problem(k, "heap: first-level bit %u disagrees with its second-level "
                       "bitmap 0x%x", fl, (unsigned)slm);
        for (unsigned sl = 0; sl < MF__TLSF_SL; sl++)
            if (((slm >> sl) & 1u) != (c->heads[fl][sl] != 0))
                problem(k, "heap: free list (%u,%u) has head 0x%" PRIx64 " but its "
                           "bitmap bit is %s", fl, sl, c->heads[fl][sl],
                        ((slm >> sl) & 1u) ? "set" : "clear");
    }
}

/* Walks every list. Each step either marks a new free block as seen or
 * stops, so a cycle or a shared tail cannot make it loop. */
static void check_lists(const struct mf__heap *h, struct checker *k,
                        struct freeset *fs)
{
    const struct mf__heap_ctl *c = h->ctl;
    for (unsigned fl = 0; fl < MF__TLSF_FL; fl++) {
        for (unsigned sl = 0; sl < MF__TLSF_SL; sl++) {
            uint64_t cur = c->heads[fl][sl], back = 0;
            while (cur) {
                ptrdiff_t i = freeset_find(fs, cur);
                if (i < 0) {
                    problem(k, "heap: free list (%u,%u) links to 0x%" PRIx64 ", which "
                               "is not a free block", fl, sl, cur);
                    break;
                }
                if (fs->seen[i]) {
                    problem(k, "heap: free list (%u,%u) reaches block 0x%" PRIx64
                               " a second time (cycle or shared tail)", fl, sl, cur);
                    break;
                }
                fs->seen[i] = 1;
                uint64_t size = rd64(h->base, cur + HDR_SIZE) & SIZE_MASK;
                unsigned f, s;
                mapping(size, &f, &s);
                if (f != fl || s != sl)
                    problem(k, "heap: free block at 0x%" PRIx64 " (%" PRIu64 " bytes) "
                               "is on list (%u,%u), expected (%u,%u)", cur, size,
                            fl, sl, f, s);
                uint64_t pf = rd64(h->base, cur + HDR_PREVF);
                if (pf != back)
                    problem(k, "heap: free block at 0x%" PRIx64 " links back to 0x%"
                               PRIx64 ", expected 0x%" PRIx64, cur, pf, back);
                back = cur;
                cur = rd64(h->base, cur + HDR_NEXTF);
            }
        }
    }
    for (size_t i = 0; i < fs->n; i++)
        if (!fs->seen[i])
            problem(k, "heap: free block at 0x%" PRIx64 " is on no free list", fs->off[i]);
}

unsigned mf__heap_check(const struct mf__heap *h, const uint64_t *live,
                        size_t n, void (*report)(void *ud, const char *msg),
                        void *ud)
{
    struct checker k = {report, ud, 0};
    if (!handle_ok(h)) {
        problem(&k, "heap: no heap to check");
        return k.problems;
    }
    if (n && !live) {
        problem(&k, "heap: %zu live offsets given without a list", n);
        return k.problems;
    }
    const struct mf__heap_ctl *c = h->ctl;
    /* The walk's bounds are read once and used as checked: beside a writer
     * (the lock-free check) the end moves when the file grows. */
    uint64_t start = c->heap_start, end = CTL_LOAD(&c->heap_end);
    if (!range_ok(h, start, end)) {
        problem(&k, "heap: bounds [0x%" PRIx64 ", 0x%" PRIx64 ") are invalid for a "
                    "mapping of %" PRIu64 " bytes", start, end, h->map_len);
        return k.problems;
    }

    struct freeset fs = {0};
    struct walk w;
    check_blocks(h, start, end, live, n, &k, &fs, &w);
    check_bitmaps(c, &k);
    if (w.complete) {
        check_counter(&k, "used_bytes", CTL_LOAD(&c->used_bytes), w.used_bytes);
        check_counter(&k, "free_bytes", CTL_LOAD(&c->free_bytes), w.free_bytes);
        check_counter(&k, "used_blocks", CTL_LOAD(&c->used_blocks), w.used_blocks);
        check_counter(&k, "free_blocks", CTL_LOAD(&c->free_blocks), w.free_blocks);
        if (c->last_block != w.last)
            problem(&k, "heap: last-block hint is 0x%" PRIx64 " but the last block is "
                        "at 0x%" PRIx64, c->last_block, w.last);
        fs.seen = calloc(fs.n ? fs.n : 1, 1);
        if (!fs.seen)
            problem(&k, "heap: out of memory while checking the free lists");
        else
            check_lists(h, &k, &fs);
    }
    free(fs.seen);
    free(fs.off);
    return k.problems;
}
