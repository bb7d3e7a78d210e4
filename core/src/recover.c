/*
 * recover.c - repairing a file whose writer died holding the lock.
 *
 * What is true after a crash, and so what the repair trusts:
 * - Published payloads are never written after they are sealed, and a
 *   record's payload pointer only ever moves to a sealed block. So every
 *   record reachable from the insertion-ordered list points at a complete
 *   payload.
 * - Directory changes are journaled: header.intent_op/intent_rec name the
 *   record being linked or unlinked. That record is dropped, so a half-done
 *   add is simply not there and a half-done remove is finished.
 * - Everything else is derived: the hash index is rebuilt from the list, and
 *   the heap's free lists are rebuilt from the set of live blocks (records,
 *   their payloads, the index). A block the dead writer had allocated but not
 *   yet published is unreachable and becomes free again: nothing leaks.
 * Every step can itself be interrupted and re-run: the file stays marked
 * dirty until the repair finishes.
 */
#include "file.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Is the payload at `pay` a sealed block belonging to record `rec`? */
static bool payload_ok(struct mf__ctx *c, uint64_t rec, uint64_t pay)
{
    if (pay % MF__HEAP_ALIGN || pay < MF__HEADER_SIZE ||
        !mf__in_map(c->m->len, pay, sizeof(struct mf__payload)))
        return false;
    const struct mf__payload *p = (const struct mf__payload *)(c->m->base + pay);
    uint64_t usable = mf__heap_usable(c->m->base, c->m->len, c->hdr->heap.heap_start,
                                      c->hdr->heap.heap_end, pay);
    return !(p->stamp & 1) && p->stamp && p->record == rec &&
           usable >= sizeof *p && p->size <= usable - sizeof *p;
}

/* Map the whole heap as the dead writer left it. */
static int map_for_repair(mf_file *mf, struct mf__ctx *c)
{
    c->mf = mf;
    c->inc = atomic_load(&mf->inc);
    c->hdr = c->inc->hdr;
    c->m = atomic_load(&c->inc->map);
    struct stat st;
    if (fstat(c->inc->fd, &st) != 0)
        return mf__fail(MF_ESYS, "%s: fstat failed during repair", mf->path);
    uint64_t hend = c->hdr->heap.heap_end;
    if (hend < MF__MIN_SIZE || hend > (uint64_t)st.st_size || hend % 4096)
        return mf__fail(MF_ECORRUPT, "%s: cannot repair: heap end %llu does not "
                        "match the file size %lld", mf->path,
                        (unsigned long long)hend, (long long)st.st_size);
    /* The writer may have died between growing the heap and publishing the
     * new capacity: publish it first, so the remap covers the whole heap. */
    MF__STORE_REL(&c->hdr->capacity, hend);
    if (hend > c->m->len) {
        int rc = mf__refresh(c);
        if (rc < 0)
            return rc;
    }
    if (c->m->len < hend)
        return mf__fail(MF_ECORRUPT, "%s: cannot map the whole heap for repair",
                        mf->path);
    return 0;
}

/* Relink the list from its head, dropping the journaled record and anything
 * not live; collect the live blocks. */
static int relink(struct mf__ctx *c, uint64_t *live, size_t *nlive, uint64_t *count)
{
    struct mf__header *h = c->hdr;
    uint64_t skip = (h->intent_op == MF__INTENT_ADD ||
                     h->intent_op == MF__INTENT_REMOVE) ? h->intent_rec : 0;
    uint64_t bound = h->heap.heap_end / sizeof(struct mf__record);
    uint64_t prev = 0, last_order = 0, n = 0, off = h->first_rec;
    size_t k = *nlive;
    for (uint64_t steps = 0; off && steps < bound; steps++) {
        struct mf__record *r = mf__record_at(c->m, off);
        if (!r)
            break; /* a broken link: keep what came before */
        uint64_t next = r->next;
        bool keep = off != skip && r->stamp && !(r->stamp & 1) &&
                    r->order_seq > last_order && payload_ok(c, off, r->payload);
        if (r->order_seq <= last_order && off != skip)
            break; /* going backwards means a cycle */
        if (keep) {
            /* The kept-over previous payload may be half dropped: retire it
             * (readers see the odd stamp) and let the rebuild free it. */
            if (r->prev_payload && payload_ok(c, off, r->prev_payload)) {
                struct mf__payload *pp =
                    (struct mf__payload *)(c->m->base + r->prev_payload);
                MF__STORE_REL(&pp->stamp, pp->stamp | 1);
            }
            r->prev_payload = 0;
            r->prev = prev;
            if (prev)
                MF__STORE_REL(&((struct mf__record *)(c->m->base + prev))->next, off);
            else
                MF__STORE_REL(&h->first_rec, off);
            prev = off;
            last_order = r->order_seq;
            live[k++] = off;
            live[k++] = r->payload;
            n++;
        }
        off = next;
    }
    if (prev)
        MF__STORE_REL(&((struct mf__record *)(c->m->base + prev))->next, 0);
    else
        MF__STORE_REL(&h->first_rec, 0);
    h->last_rec = prev;
    MF__STORE(&h->record_count, n);
    if (h->order_counter < last_order)
        h->order_counter = last_order;
    *nlive = k;
    *count = n;
    return 0;
}

/* A fresh index built from the list, installed in place of the old one. */
static int reindex(struct mf__ctx *c, uint64_t count, bool old_is_live)
{
    uint64_t nslots = 64;
    while (nslots * 3 < (count + 1) * 8)
        nslots *= 2;
    uint64_t off;
    int rc = mf__index_create(c, nslots, &off);
    if (rc)
        return rc;
    struct mf__index *ix = (struct mf__index *)(c->m->base + off);
    uint64_t mask = nslots - 1;
    for (uint64_t rec = c->hdr->first_rec; rec;) {
        struct mf__record *r = (struct mf__record *)(c->m->base + rec);
        for (uint64_t i = 0; i <= mask; i++) {
            struct mf__slot *s = &ix->slots[(r->hash + i) & mask];
            if (s->rec == MF__SLOT_EMPTY) {
                s->hash = r->hash;
                s->rec = rec;
                ix->used++;
                break;
            }
        }
        rec = r->next;
    }
    if (old_is_live) {
        mf__index_install(c, off);
    } else {
        MF__STORE_REL(&ix->stamp, mf__next_stamp(c));
        MF__STORE_REL(&c->hdr->index_off, off);
    }
    return 0;
}

/* Before the rebuild frees them, mark every allocated block that nothing
 * reaches any more (the journaled record, a payload the dead writer had
 * unlinked but not yet retired...) with an odd stamp: a reader may still
 * hold it, and must see it change before the block is reused. Every block
 * we allocate starts with its stamp. */
static void retire_unreachable(struct mf__ctx *c, const uint64_t *live, size_t n)
{
    const struct mf__heap_ctl *ctl = &c->hdr->heap;
    uint64_t b = ctl->heap_start, end = ctl->heap_end;
    for (uint64_t steps = 0; b < end && steps < end / MF__BLOCK_MIN; steps++) {
        if (b % MF__HEAP_ALIGN || !mf__in_map(c->m->len, b, MF__BLOCK_HEADER + 8))
            return;
        uint64_t sf = *(const uint64_t *)(c->m->base + b + 8);
        uint64_t size = sf & ~(uint64_t)MF__BLK_FLAGS;
        if (size < MF__BLOCK_MIN || size > end - b)
            return; /* the chain is broken: the rebuild decides from here */
        uint64_t user = b + MF__BLOCK_HEADER;
        if (!(sf & MF__BLK_FREE) && !bsearch(&user, live, n, sizeof *live, cmp_u64)) {
            uint64_t *stamp = (uint64_t *)(c->m->base + user);
            MF__STORE_REL(stamp, MF__LOAD(stamp) | 1);
        }
        b += size;
    }
}

int mf__recover(mf_file *mf)
{
    struct mf__ctx c;
    int rc = map_for_repair(mf, &c);
    if (rc)
        return rc;
    struct mf__header *h = c.hdr;
    /* Two blocks per record plus the index. */
    uint64_t max_live = 2 * (h->heap.heap_end / sizeof(struct mf__record)) + 1;
    uint64_t *live = malloc(max_live * sizeof *live);
    if (!live)
        return mf__fail(MF_ENOMEM, "%s: out of memory during repair", mf->path);
    size_t nlive = 0;
    uint64_t count = 0;
    relink(&c, live, &nlive, &count);
    MF__CRASH_POINT();

    uint64_t idx = h->index_off;
    bool idx_live = mf__index_at(c.m, idx) != NULL &&
                    mf__heap_usable(c.m->base, c.m->len, h->heap.heap_start,
                                    h->heap.heap_end, idx) > 0;
    if (idx_live)
        live[nlive++] = idx;
    qsort(live, nlive, sizeof *live, cmp_u64);
    size_t uniq = 0;
    for (size_t i = 0; i < nlive; i++)
        if (uniq == 0 || live[uniq - 1] != live[i])
            live[uniq++] = live[i];

    retire_unreachable(&c, live, uniq);
    struct mf__heap hv = mf__heap_view(&c);
    rc = mf__heap_rebuild(&hv, live, uniq);
    free(live);
    if (rc)
        return mf__fail(rc, "%s: cannot repair the heap: %s", mf->path,
                        mf_strerror(rc));
    MF__CRASH_POINT();
    rc = reindex(&c, count, idx_live);
    if (rc)
        return rc;
    MF__CRASH_POINT();

    MF__STORE(&h->intent_op, MF__INTENT_NONE);
    if (MF__LOAD(&h->pub_seq) & 1)
        __atomic_add_fetch(&h->pub_seq, 1, __ATOMIC_RELEASE);
    h->recoveries++;
    mf__announce(mf);
    return 0;
}
