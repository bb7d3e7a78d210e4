/*
 * version.c - the batch protocol of format.h, in one place: staging,
 * linking, the single commit store, retiring and reclaiming on the writer
 * side; the epoch window and version resolution on the reader side. Every
 * other file calls these named operations instead of touching `next`,
 * `committed` or `reclaim_epoch` itself.
 */
#include "file.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Reader side                                                               */
/* ------------------------------------------------------------------------ */

void mf__read_begin(struct mf__ctx *c)
{
    c->epoch = MF__LOAD_ACQ(&c->hdr->reclaim_epoch);
    c->committed = 0;
}

bool mf__read_stable(struct mf__ctx *c)
{
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return MF__LOAD(&c->hdr->reclaim_epoch) - c->epoch <= 1;
}

uint64_t mf__committed(struct mf__ctx *c)
{
    if (c->committed == 0)
        c->committed = MF__LOAD_ACQ(&c->hdr->committed);
    return c->committed;
}

int mf__suspect(struct mf__ctx *c, const char *fmt, ...)
{
    if (!mf__read_stable(c))
        return MF__RETRY;
    /* An offset past our mapping may be space the file gained since. */
    int rc = mf__refresh(c);
    if (rc < 0)
        return rc;
    if (rc == 1)
        return MF__RETRY;
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mf__fail(MF_ECORRUPT, "%s: %s", c->mf->path, msg);
}

/* Usable bytes of the heap block whose user area starts at off, from the
 * block header (whose size bits never change while the block is allocated). */
static uint64_t block_usable(const struct mf__ctx *c, uint64_t off)
{
    return mf__heap_usable(c->m->base, c->m->len, MF__HEADER_SIZE, c->m->len, off);
}

int mf__version_at(struct mf__ctx *c, uint64_t off, struct mf__version *v)
{
    if (off % MF__HEAP_ALIGN || off < MF__HEADER_SIZE ||
        !mf__in_map(c->m->len, off, sizeof(struct mf__payload)))
        return mf__suspect(c, "payload offset %llu is outside the heap",
                           (unsigned long long)off);
    const struct mf__payload *p = (const struct mf__payload *)(c->m->base + off);
    v->off = off;
    v->next = MF__LOAD_ACQ(&p->next);
    v->batch = MF__LOAD(&p->batch);
    v->size = MF__LOAD(&p->size);
    v->checksum = MF__LOAD(&p->checksum);
    v->update_count = MF__LOAD(&p->update_count);
    v->time_ns = MF__LOAD(&p->time_ns);
    v->order_seq = MF__LOAD(&p->order_seq);
    v->class_version = MF__LOAD(&p->class_version);
    v->name_len = MF__LOAD(&p->name_len);
    v->class_len = MF__LOAD(&p->class_len);
    uint64_t data_at = mf__payload_data_at(v->name_len, v->class_len);
    uint64_t usable = block_usable(c, off);
    if (v->name_len == 0 || v->class_len == 0 || v->class_len > MF_CLASS_NAME_MAX)
        return mf__suspect(c, "payload at %llu has invalid name lengths",
                           (unsigned long long)off);
    if (usable < data_at || v->size > usable - data_at)
        return mf__suspect(c, "payload at %llu: payload size exceeds its heap block",
                           (unsigned long long)off);
    v->name = p->strings;
    v->class_name = p->strings + v->name_len + 1;
    /* Both strings end where their lengths say, so string functions on
     * them never run past the payload (an embedded NUL only shortens a
     * name, which then matches nothing: mf_check reports it). */
    if (v->name[v->name_len] != '\0' || v->class_name[v->class_len] != '\0')
        return mf__suspect(c, "payload at %llu: its names are not terminated",
                           (unsigned long long)off);
    v->data = (const unsigned char *)p + data_at;
    return 0;
}

/* The successor named by next is visible at `limit`: follow it. */
static int follow(struct mf__ctx *c, struct mf__version *v, uint64_t at,
                  bool *removed)
{
    *removed = false;
    /* From a current slot a chain is at most two long (a version and its
     * staged successor), but a reader that loaded the slot (or an old
     * table) a while ago walks the versions published since. Batches grow
     * strictly along a chain, so it ends; the bound only caps a damaged
     * file's chain at what the file could hold. */
    uint64_t bound = c->m->len / sizeof(struct mf__payload);
    for (uint64_t steps = 0; steps < bound; steps++) {
        uint64_t n = v->next;
        if (n == 0)
            return 0;
        uint64_t limit = at == MF__LATEST ? mf__committed(c) : at;
        if (n & MF__NEXT_REMOVED) {
            *removed = (n & ~MF__NEXT_REMOVED) <= limit;
            return 0;
        }
        struct mf__version w;
        int rc = mf__version_at(c, n, &w);
        if (rc)
            return rc;
        if (w.batch > limit)
            return 0;
        if (w.batch <= v->batch || w.order_seq != v->order_seq)
            return mf__suspect(c, "payload at %llu: its successor at %llu is "
                               "not a later version of it",
                               (unsigned long long)v->off, (unsigned long long)n);
        *v = w;
    }
    return mf__suspect(c, "payload at %llu: its chain of versions does not end",
                       (unsigned long long)v->off);
}

int mf__resolve(struct mf__ctx *c, uint64_t word, uint64_t at, struct mf__version *v)
{
    int rc = mf__version_at(c, mf__slot_off(word), v);
    return rc ? rc : mf__resolve_loaded(c, word, at, v);
}

int mf__resolve_loaded(struct mf__ctx *c, uint64_t word, uint64_t at,
                       struct mf__version *v)
{
    int rc;
    bool pending = mf__slot_pending(word);
    if (pending || at != MF__LATEST) {
        uint64_t limit = at == MF__LATEST ? mf__committed(c) : at;
        if (v->batch > limit) {
            if (pending)
                return MF__INVISIBLE; /* an add not committed (at `at`) */
            /* Folded past the view's batch, unless no batch came after it:
             * then nobody folded it, and it is damage. */
            if (at == MF__LATEST || mf__committed(c) == at)
                return mf__suspect(c, "payload at %llu is current but its batch "
                                   "%llu is not committed",
                                   (unsigned long long)v->off,
                                   (unsigned long long)v->batch);
            return MF__GONE;
        }
    }
    bool removed;
    if ((rc = follow(c, v, at, &removed)))
        return rc;
    return removed ? MF__INVISIBLE : 0;
}

/* ------------------------------------------------------------------------ */
/* Writer side (lock held)                                                   */
/* ------------------------------------------------------------------------ */

uint64_t mf__batch_begin(struct mf__ctx *c)
{
    struct mf__header *h = c->hdr;
    uint64_t b = h->staging > h->committed ? h->staging : h->committed;
    MF__STORE(&h->staging, b + 1);
    return b + 1;
}

int mf__stage(struct mf__ctx *c, const struct mf__op *op, uint64_t batch,
              uint64_t update_count, uint64_t order_seq, uint64_t *out)
{
    size_t nl = op->name_len, cl = strlen(op->class_name);
    uint64_t data_at = mf__payload_data_at((unsigned)nl, (unsigned)cl);
    uint64_t off;
    int rc = mf__alloc(c, data_at + op->size, &off);
    if (rc)
        return rc;
    struct mf__payload *p = (struct mf__payload *)(c->m->base + off);
    /* Plain stores: nobody can reach the block until mf__link or the slot
     * store, which are release stores. */
    p->next = 0;
    p->batch = batch;
    p->size = op->size;
    p->checksum = op->checksum;
    p->update_count = update_count;
    p->time_ns = op->keep_time ? op->keep_time : mf__now_ns();
    p->order_seq = order_seq;
    p->class_version = op->class_version;
    p->name_len = (uint8_t)nl;
    p->class_len = (uint8_t)cl;
    p->reserved = 0;
    memcpy(p->strings, op->name, nl);
    p->strings[nl] = '\0';
    memcpy(p->strings + nl + 1, op->class_name, cl + 1);
    memset(p->strings + nl + 1 + cl + 1, 0,
           data_at - sizeof *p - (nl + 1 + cl + 1));
    if (op->size)
        memcpy((unsigned char *)p + data_at, op->data, op->size);
    MF__CRASH_POINT();
    *out = off;
    return 0;
}

void mf__link(struct mf__ctx *c, uint64_t cur, uint64_t next)
{
    struct mf__payload *p = (struct mf__payload *)(c->m->base + cur);
    MF__STORE_REL(&p->next, next);
    MF__CRASH_POINT();
}

void mf__commit(struct mf__ctx *c, uint64_t batch)
{
    MF__CRASH_POINT();
    __atomic_store_n(&c->hdr->committed, batch, __ATOMIC_SEQ_CST);
    MF__CRASH_POINT();
}

/* The limbo ring, validated once per writer operation by mf__limbo_ok. */
static uint64_t *limbo(struct mf__ctx *c)
{
    return (uint64_t *)(c->m->base + c->hdr->limbo_off);
}

int mf__limbo_ok(struct mf__ctx *c)
{
    const struct mf__header *h = c->hdr;
    uint64_t off = h->limbo_off;
    if (off % MF__HEAP_ALIGN || off < MF__HEADER_SIZE ||
        !mf__in_map(c->m->len, off, MF__LIMBO_CAP * sizeof(uint64_t)) ||
        h->limbo_head >= MF__LIMBO_CAP || h->old_count > MF__LIMBO_CAP ||
        h->young_count > MF__LIMBO_CAP - h->old_count)
        return mf__fail(MF_ECORRUPT, "%s: the retired-block ring is invalid "
                        "(offset %llu, %llu old, %llu young)", c->mf->path,
                        (unsigned long long)off, (unsigned long long)h->old_count,
                        (unsigned long long)h->young_count);
    return 0;
}

uint64_t mf__limbo_entry(const struct mf__ctx *c, uint64_t i)
{
    const uint64_t *ring = (const uint64_t *)(c->m->base + c->hdr->limbo_off);
    return ring[(c->hdr->limbo_head + i) % MF__LIMBO_CAP];
}

void mf__retire(struct mf__ctx *c, uint64_t off)
{
    struct mf__header *h = c->hdr;
    /* A full ring: reclaims make room (the second one frees everything). */
    while (h->old_count + h->young_count == MF__LIMBO_CAP)
        mf__reclaim(c, true);
    uint64_t at = (h->limbo_head + h->old_count + h->young_count) % MF__LIMBO_CAP;
    limbo(c)[at] = off;
    h->young_count++;
    h->young_bytes += mf__heap_usable(c->m->base, c->m->len, MF__HEADER_SIZE,
                                      c->m->len, off);
}

uint64_t mf__reclaim(struct mf__ctx *c, bool force)
{
    struct mf__header *h = c->hdr;
    if (!force && !h->old_count && !h->young_count)
        return 0;
    /* The epoch store comes before any block is freed (and so before any
     * reuse): a reader that reads reused memory then sees the epoch move. */
    __atomic_store_n(&h->reclaim_epoch, h->reclaim_epoch + 1, __ATOMIC_SEQ_CST);
    MF__CRASH_POINT();
    struct mf__heap hv = mf__heap_view(c);
    uint64_t freed = 0, *ring = limbo(c);
    for (uint64_t i = 0; i < h->old_count; i++) {
        uint64_t off = ring[(h->limbo_head + i) % MF__LIMBO_CAP];
        freed += mf__heap_usable(c->m->base, c->m->len, MF__HEADER_SIZE, c->m->len, off);
        /* A block that will not free is damage: mf_check reports it. */
        mf__heap_free(&hv, off);
    }
    h->limbo_head = (h->limbo_head + h->old_count) % MF__LIMBO_CAP;
    h->old_count = h->young_count;
    h->young_count = 0;
    h->young_bytes = 0;
    return freed;
}

/* Retired blocks wait for half the ring or an eighth of the heap: each
 * reclaim bumps the epoch, and a reader overlapping two bumps starts over,
 * so reclaims must be rare next to a read, yet bound the space held. */
#define MF__RECLAIM_MIN_BYTES (64u << 10)

void mf__reclaim_if_due(struct mf__ctx *c)
{
    struct mf__header *h = c->hdr;
    uint64_t eighth = MF__LOAD(&h->heap.heap_end) / 8;
    uint64_t byte_limit = eighth > MF__RECLAIM_MIN_BYTES ? eighth : MF__RECLAIM_MIN_BYTES;
    if (h->young_count >= MF__LIMBO_CAP / 2 || h->young_bytes >= byte_limit)
        mf__reclaim(c, false);
}
