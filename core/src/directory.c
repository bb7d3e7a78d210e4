/*
 * directory.c - names to records: the hash index and the insertion-ordered
 * list, read lock-free and changed under the writer lock.
 *
 * The index is open addressing with linear probing. Entries are never moved
 * while a table is current (removal leaves a tombstone), so a reader racing
 * a writer cannot miss a key that stays live. A rehash builds a whole new
 * table, swings header.index_off and retires the old one with an odd stamp,
 * which is how a reader that raced it knows to look again.
 */
#include "file.h"

#include <string.h>

uint64_t mf__hash_name(const char *name, size_t len)
{
    return mf__checksum(name, len);
}

struct mf__heap mf__heap_view(struct mf__ctx *c)
{
    struct mf__heap hv = {c->m->base, c->m->len, &c->hdr->heap};
    return hv;
}

uint64_t mf__next_stamp(struct mf__ctx *c)
{
    uint64_t s = c->hdr->stamp_counter + 2;
    c->hdr->stamp_counter = s;
    return s;
}

int mf__alloc(struct mf__ctx *c, uint64_t size, uint64_t *off)
{
    struct mf__heap hv = mf__heap_view(c);
    int rc = mf__heap_alloc(&hv, size, off);
    if (rc == MF_EFULL) {
        rc = mf__grow(c, size + MF__BLOCK_HEADER);
        if (rc)
            return rc;
        hv = mf__heap_view(c);
        rc = mf__heap_alloc(&hv, size, off);
        if (rc == MF_EFULL)
            return mf__fail(MF_EFULL, "%s: map file full: no block of %llu "
                            "bytes after growing", c->mf->path,
                            (unsigned long long)size);
    }
    if (rc && rc != MF_EFULL)
        return mf__fail(rc, "%s: heap allocation failed: %s", c->mf->path,
                        mf_strerror(rc));
    return rc;
}

int mf__free(struct mf__ctx *c, uint64_t off)
{
    struct mf__heap hv = mf__heap_view(c);
    int rc = mf__heap_free(&hv, off);
    if (rc)
        return mf__fail(rc, "%s: freeing block at %llu failed: %s", c->mf->path,
                        (unsigned long long)off, mf_strerror(rc));
    return 0;
}

struct mf__record *mf__record_at(const struct mf__map *m, uint64_t off)
{
    if (off % MF__HEAP_ALIGN || off < MF__HEADER_SIZE ||
        !mf__in_map(m->len, off, sizeof(struct mf__record)))
        return NULL;
    struct mf__record *r = (struct mf__record *)(m->base + off);
    uint32_t nl = MF__LOAD(&r->name_len), cl = MF__LOAD(&r->class_len);
    if (nl == 0 || nl > MF_NAME_MAX || cl == 0 || cl > MF_CLASS_NAME_MAX)
        return NULL;
    if (!mf__in_map(m->len, off + sizeof *r, (uint64_t)nl + 1 + cl + 1))
        return NULL;
    /* Both strings end where their lengths say, so string functions on
     * them never run past the record. */
    if (r->strings[nl] != '\0' || r->strings[nl + 1 + cl] != '\0')
        return NULL;
    return r;
}

struct mf__index *mf__index_at(const struct mf__map *m, uint64_t off)
{
    if (off % MF__HEAP_ALIGN || off < MF__HEADER_SIZE ||
        !mf__in_map(m->len, off, sizeof(struct mf__index)))
        return NULL;
    struct mf__index *ix = (struct mf__index *)(m->base + off);
    uint64_t n = MF__LOAD(&ix->nslots);
    if (n < 8 || n > (1ull << 36) || (n & (n - 1)))
        return NULL;
    if (!mf__in_map(m->len, off + sizeof *ix, n * sizeof(struct mf__slot)))
        return NULL;
    return ix;
}

/* Does the live record r carry this name? Reads are bounded by record_at. */
static bool record_is(const struct mf__record *r, const char *name, size_t len,
                      uint64_t hash)
{
    return MF__LOAD(&r->hash) == hash && MF__LOAD(&r->name_len) == len &&
           memcmp(r->strings, name, len) == 0 && r->strings[len] == '\0';
}

int mf__lookup(struct mf__ctx *c, const char *name, size_t len, uint64_t hash,
               uint64_t *rec_out, uint64_t *stamp_out)
{
    for (unsigned tries = 0; tries < 10000; tries++) {
        uint64_t idx_off = MF__LOAD_ACQ(&c->hdr->index_off);
        struct mf__index *ix = mf__index_at(c->m, idx_off);
        uint64_t ix_slots = ix ? MF__LOAD(&ix->nslots) : 0;
        if (ix && (ix_slots < 8 || ix_slots > (1ull << 36) || (ix_slots & (ix_slots - 1)) ||
                   !mf__in_map(c->m->len, idx_off + sizeof *ix,
                               ix_slots * sizeof(struct mf__slot))))
            ix = NULL; /* changed between the check and our read */
        if (!ix) {
            if (MF__LOAD_ACQ(&c->hdr->index_off) != idx_off)
                continue; /* replaced by a rehash while we looked */
            int rc = mf__refresh(c);
            if (rc < 0)
                return rc;
            if (rc == 1)
                continue;
            return mf__fail(MF_ECORRUPT, "%s: the hash index at %llu is invalid",
                            c->mf->path, (unsigned long long)idx_off);
        }
        uint64_t s1 = MF__LOAD_ACQ(&ix->stamp);
        if (s1 & 1) {
            /* Retired by a rehash, which swings index_off first: if it still
             * points here, no writer did this and the file is corrupt. */
            if (MF__LOAD_ACQ(&c->hdr->index_off) == idx_off)
                return mf__fail(MF_ECORRUPT, "%s: the current hash index at "
                                "%llu is marked retired", c->mf->path,
                                (unsigned long long)idx_off);
            continue;
        }
        /* Use the size index_at validated: a concurrent rehash may free and
         * reuse this block, and a re-read could say anything. */
        uint64_t n = ix_slots, mask = n - 1;
        bool remapped = false;
        for (uint64_t i = 0; i < n; i++) {
            struct mf__slot *s = &ix->slots[(hash + i) & mask];
            uint64_t r = MF__LOAD_ACQ(&s->rec);
            if (r == MF__SLOT_EMPTY)
                break;
            if (r == MF__SLOT_TOMB || MF__LOAD(&s->hash) != hash)
                continue;
            struct mf__record *rec = mf__record_at(c->m, r);
            if (!rec) {
                /* Maybe a record in (or straddling into) space the file
                 * gained since we mapped it. */
                int rc = mf__refresh(c);
                if (rc < 0)
                    return rc;
                if (rc == 1) {
                    remapped = true;
                    break;
                }
                continue;
            }
            uint64_t rs = MF__LOAD_ACQ(&rec->stamp);
            if (rs == 0 || (rs & 1) || !record_is(rec, name, len, hash))
                continue;
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            if (MF__LOAD(&rec->stamp) != rs)
                continue;
            *rec_out = r;
            *stamp_out = rs;
            return 0;
        }
        if (remapped)
            continue;
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (MF__LOAD(&ix->stamp) == s1 &&
            MF__LOAD(&c->hdr->index_off) == idx_off)
            return mf__fail(MF_ENOTFOUND, "%s: no record named '%.*s'",
                            c->mf->path, (int)len, name);
    }
    return mf__fail(MF_EBUSY, "%s: the index kept changing during lookup of '%.*s'",
                    c->mf->path, (int)len, name);
}

/* ------------------------------------------------------------------------ */
/* Writer side (lock held)                                                   */
/* ------------------------------------------------------------------------ */

static void slot_put(struct mf__index *ix, uint64_t hash, uint64_t rec)
{
    uint64_t mask = ix->nslots - 1;
    for (uint64_t i = 0; i <= mask; i++) {
        struct mf__slot *s = &ix->slots[(hash + i) & mask];
        uint64_t r = MF__LOAD(&s->rec);
        if (r == MF__SLOT_EMPTY || r == MF__SLOT_TOMB) {
            if (r == MF__SLOT_TOMB)
                ix->tombstones--;
            MF__STORE(&s->hash, hash);
            MF__STORE_REL(&s->rec, rec);
            ix->used++;
            return;
        }
    }
}

int mf__index_create(struct mf__ctx *c, uint64_t nslots, uint64_t *out)
{
    uint64_t off;
    int rc = mf__alloc(c, sizeof(struct mf__index) + nslots * sizeof(struct mf__slot),
                       &off);
    if (rc)
        return rc;
    struct mf__index *ix = (struct mf__index *)(c->m->base + off);
    MF__STORE(&ix->stamp, mf__next_stamp(c) | 1);
    __atomic_thread_fence(__ATOMIC_RELEASE); /* odd before the rewrite */
    memset(ix->slots, 0, nslots * sizeof(struct mf__slot));
    ix->nslots = nslots;
    ix->used = 0;
    ix->tombstones = 0;
    *out = off;
    return 0;
}

/* Install a sealed index as the current one and retire the old one. */
void mf__index_install(struct mf__ctx *c, uint64_t new_off)
{
    struct mf__index *nix = (struct mf__index *)(c->m->base + new_off);
    uint64_t old_off = c->hdr->index_off;
    MF__STORE_REL(&nix->stamp, mf__next_stamp(c));
    MF__STORE_REL(&c->hdr->index_off, new_off);
    struct mf__index *old = mf__index_at(c->m, old_off);
    if (old && old_off != new_off) {
        MF__STORE_REL(&old->stamp, MF__LOAD(&old->stamp) | 1);
        mf__free(c, old_off);
    }
}

static int rehash(struct mf__ctx *c, uint64_t nslots)
{
    uint64_t off;
    int rc = mf__index_create(c, nslots, &off);
    if (rc)
        return rc;
    /* Re-derive after a possible growth inside the allocation. */
    struct mf__index *ix = mf__index_at(c->m, c->hdr->index_off);
    struct mf__index *nix = (struct mf__index *)(c->m->base + off);
    if (!ix)
        return mf__fail(MF_ECORRUPT, "%s: the hash index is invalid", c->mf->path);
    for (uint64_t i = 0; i < ix->nslots; i++) {
        uint64_t r = ix->slots[i].rec;
        if (r != MF__SLOT_EMPTY && r != MF__SLOT_TOMB)
            slot_put(nix, ix->slots[i].hash, r);
    }
    MF__CRASH_POINT();
    mf__index_install(c, off);
    MF__CRASH_POINT();
    return 0;
}

int mf__dir_reserve(struct mf__ctx *c, uint64_t extra)
{
    struct mf__index *ix = mf__index_at(c->m, c->hdr->index_off);
    if (!ix)
        return mf__fail(MF_ECORRUPT, "%s: the hash index is invalid", c->mf->path);
    if ((ix->used + ix->tombstones + extra) * 4 <= ix->nslots * 3)
        return 0;
    /* Keep the table at most 3/8 full after a rehash; if tombstones were
     * the problem, the same size without them will do. */
    uint64_t n = ix->nslots;
    while ((ix->used + extra) * 8 > n * 3)
        n *= 2;
    return rehash(c, n);
}

int mf__dir_insert(struct mf__ctx *c, uint64_t rec_off)
{
    int rc = mf__dir_reserve(c, 1);
    if (rc)
        return rc;
    struct mf__index *ix = mf__index_at(c->m, c->hdr->index_off);
    struct mf__record *r = (struct mf__record *)(c->m->base + rec_off);
    slot_put(ix, r->hash, rec_off);
    MF__CRASH_POINT();

    uint64_t last = c->hdr->last_rec;
    r->prev = last;
    MF__STORE(&r->next, 0);
    if (last) {
        struct mf__record *l = mf__record_at(c->m, last);
        if (!l)
            return mf__fail(MF_ECORRUPT, "%s: the last record link is invalid",
                            c->mf->path);
        MF__STORE_REL(&l->next, rec_off);
        MF__CRASH_POINT();
    } else {
        MF__STORE_REL(&c->hdr->first_rec, rec_off);
    }
    c->hdr->last_rec = rec_off;
    MF__STORE(&c->hdr->record_count, c->hdr->record_count + 1);
    return 0;
}

int mf__dir_unlink(struct mf__ctx *c, uint64_t rec_off)
{
    struct mf__record *r = (struct mf__record *)(c->m->base + rec_off);
    struct mf__index *ix = mf__index_at(c->m, c->hdr->index_off);
    if (!ix)
        return mf__fail(MF_ECORRUPT, "%s: the hash index is invalid", c->mf->path);
    uint64_t mask = ix->nslots - 1;
    for (uint64_t i = 0; i <= mask; i++) {
        struct mf__slot *s = &ix->slots[(r->hash + i) & mask];
        uint64_t v = s->rec;
        if (v == MF__SLOT_EMPTY)
            break;
        if (v == rec_off) {
            MF__STORE_REL(&s->rec, MF__SLOT_TOMB);
            ix->used--;
            ix->tombstones++;
            break;
        }
    }
    MF__CRASH_POINT();
    uint64_t prev = r->prev, next = MF__LOAD(&r->next);
    struct mf__record *p = prev ? mf__record_at(c->m, prev) : NULL;
    struct mf__record *n = next ? mf__record_at(c->m, next) : NULL;
    if ((prev && !p) || (next && !n))
        return mf__fail(MF_ECORRUPT, "%s: record links around %llu are invalid",
                        c->mf->path, (unsigned long long)rec_off);
    if (p)
        MF__STORE_REL(&p->next, next);
    else
        MF__STORE_REL(&c->hdr->first_rec, next);
    MF__CRASH_POINT();
    if (n)
        n->prev = prev;
    else
        c->hdr->last_rec = prev;
    MF__STORE(&c->hdr->record_count, c->hdr->record_count - 1);
    return 0;
}
