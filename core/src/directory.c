/*
 * directory.c - names to versions: the index table (format.h), read
 * lock-free and changed under the writer lock, and the heap calls the
 * writer makes through it.
 *
 * The table is open addressing with linear probing over 8-byte slots
 * (format.h). Slots never move while a table is current and are never
 * reused after a removal (tombstones stay until the next rebuild), so a
 * lookup racing the writer cannot miss a name that stays present, and an
 * order entry names one record for the table's whole life. A rehash builds
 * a new table, swings header.index_off and retires the old table.
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

int mf__alloc(struct mf__ctx *c, uint64_t size, uint64_t *off)
{
    struct mf__heap hv = mf__heap_view(c);
    int rc = mf__heap_alloc(&hv, size, off);
    /* Retired blocks first (twice frees both generations), growth last. */
    for (int round = 0; rc == MF_EFULL && round < 2; round++) {
        if (mf__reclaim(c, true) == 0 && round == 1)
            break;
        rc = mf__heap_alloc(&hv, size, off);
    }
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
    if (rc)
        return mf__fail(rc, "%s: heap allocation failed: %s", c->mf->path,
                        mf_strerror(rc));
    return 0;
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

/* ------------------------------------------------------------------------ */
/* Tables                                                                    */
/* ------------------------------------------------------------------------ */

#define MF__MAX_SLOTS (1ull << 32) /* order entries are 32-bit slot numbers */

static uint64_t table_bytes(uint64_t nslots, uint64_t order_cap, uint64_t *order_at)
{
    uint64_t at = sizeof(struct mf__index) + nslots * sizeof(uint64_t);
    *order_at = at;
    return at + order_cap * sizeof(uint32_t);
}

int mf__table(struct mf__ctx *c, struct mf__table *t)
{
    uint64_t off = MF__LOAD_ACQ(&c->hdr->index_off);
    if (off % MF__HEAP_ALIGN || off < MF__HEADER_SIZE ||
        !mf__in_map(c->m->len, off, sizeof(struct mf__index)))
        return mf__suspect(c, "the index offset %llu is outside the heap",
                           (unsigned long long)off);
    struct mf__index *ix = (struct mf__index *)(c->m->base + off);
    t->off = off;
    t->ix = ix;
    t->nslots = MF__LOAD(&ix->nslots);
    t->order_cap = MF__LOAD(&ix->order_cap);
    t->serial = MF__LOAD(&ix->serial);
    uint64_t order_at = MF__LOAD(&ix->order_at), want_at;
    uint64_t n = t->nslots;
    if (n < 8 || n > MF__MAX_SLOTS || t->order_cap > n)
        return mf__suspect(c, "the index at %llu has an invalid size",
                           (unsigned long long)off);
    uint64_t bytes = table_bytes(n, t->order_cap, &want_at);
    if (order_at != want_at || !mf__in_map(c->m->len, off, bytes))
        return mf__suspect(c, "the index at %llu does not fit in the file",
                           (unsigned long long)off);
    t->order = (const uint32_t *)(c->m->base + off + order_at);
    return 0;
}

/* Load the payload of slot word w into v; does its name equal name? */
static int name_is(struct mf__ctx *c, uint64_t w, const char *name, size_t len,
                   struct mf__version *v, bool *same)
{
    int rc = mf__version_at(c, mf__slot_off(w), v);
    if (rc == 0)
        *same = v->name_len == len && memcmp(v->name, name, len) == 0;
    return rc;
}

int mf__lookup(struct mf__ctx *c, const char *name, size_t len, uint64_t hash,
               uint64_t at, struct mf__version *v, uint64_t *slot_out)
{
    struct mf__table t;
    int rc = mf__table(c, &t);
    if (rc)
        return rc;
    uint64_t slot = mf__slot_home(hash, t.nslots);
    for (uint64_t i = 0; i < t.nslots; i++, slot = mf__slot_next(slot, t.nslots)) {
        uint64_t w = mf__slot_load(&t, slot);
        if (w == MF__SLOT_EMPTY)
            break;
        if (w == MF__SLOT_TOMB || !mf__slot_tag_is(w, hash))
            continue;
        bool same = false;
        if ((rc = name_is(c, w, name, len, v, &same)))
            return rc;
        if (!same)
            continue;
        rc = mf__resolve_loaded(c, w, at, v);
        if (rc == MF__INVISIBLE)
            continue; /* removed or not yet added: a later slot may hold it */
        if (rc == 0 && slot_out)
            *slot_out = slot;
        return rc;
    }
    /* "Not found" is only an answer if no reclaim made us read reused memory. */
    if (!mf__read_stable(c))
        return MF__RETRY;
    return mf__fail(MF_ENOTFOUND, "%s: no record named '%.*s'", c->mf->path,
                    (int)len, name);
}

/* ------------------------------------------------------------------------ */
/* Writer side (lock held)                                                   */
/* ------------------------------------------------------------------------ */

/* The writer reads the same hostile file: it validates like a reader, but
 * nothing can move under it, so any failure is corruption. */
static int writer_table(struct mf__ctx *c, struct mf__table *t)
{
    mf__read_begin(c);
    int rc = mf__table(c, t);
    return rc == MF__RETRY ? mf__fail(MF_ECORRUPT, "%s: the index is invalid",
                                      c->mf->path)
                           : rc;
}

int mf__dir_find(struct mf__ctx *c, const char *name, size_t len, uint64_t hash,
                 uint64_t *slot_out, struct mf__version *v)
{
    struct mf__table t;
    int rc = writer_table(c, &t);
    if (rc)
        return rc;
    uint64_t slot = mf__slot_home(hash, t.nslots);
    for (uint64_t i = 0; i < t.nslots; i++, slot = mf__slot_next(slot, t.nslots)) {
        uint64_t w = t.ix->slots[slot];
        if (w == MF__SLOT_EMPTY)
            break;
        if (w == MF__SLOT_TOMB || !mf__slot_tag_is(w, hash))
            continue;
        bool same = false;
        rc = name_is(c, w, name, len, v, &same);
        if (rc)
            return rc < 0 ? rc : mf__fail(MF_ECORRUPT, "%s: slot %llu is invalid",
                                          c->mf->path, (unsigned long long)slot);
        if (same) {
            *slot_out = slot;
            return 0;
        }
    }
    return MF_ENOTFOUND;
}

/* Put a slot word at the first empty slot of hash's probe sequence and
 * append it to the insertion order. The word holds only the hash's tag, so
 * the hash itself says where. */
void mf__table_put(struct mf__index *ix, uint64_t hash, uint64_t word)
{
    uint64_t slot = mf__slot_home(hash, ix->nslots);
    for (uint64_t i = 0; i < ix->nslots; i++, slot = mf__slot_next(slot, ix->nslots)) {
        if (ix->slots[slot] == MF__SLOT_EMPTY) {
            MF__STORE_REL(&ix->slots[slot], word);
            uint32_t *order = (uint32_t *)((unsigned char *)ix + ix->order_at);
            order[ix->order_len] = (uint32_t)slot;
            MF__STORE_REL(&ix->order_len, ix->order_len + 1);
            ix->used++;
            return;
        }
    }
}

/* Slots for n names: at most half full when built; rebuilt when adds and
 * removes fill three quarters. */
static uint64_t slots_for(uint64_t n)
{
    return n < 31 ? 64 : (n + 1) * 2;
}

int mf__index_create(struct mf__ctx *c, uint64_t n, uint64_t *out)
{
    uint64_t nslots = slots_for(n), order_at;
    if (nslots > MF__MAX_SLOTS)
        return mf__fail(MF_EFULL, "%s: too many names for one index", c->mf->path);
    /* Every slot can take an add before the next rebuild: the order array
     * needs one entry per slot that can be filled (3/4 of them). */
    uint64_t order_cap = nslots / 4 * 3;
    uint64_t bytes = table_bytes(nslots, order_cap, &order_at);
    uint64_t off;
    int rc = mf__alloc(c, bytes, &off);
    if (rc)
        return rc;
    struct mf__index *ix = (struct mf__index *)(c->m->base + off);
    memset(ix, 0, bytes);
    ix->nslots = nslots;
    ix->order_cap = order_cap;
    ix->order_at = order_at;
    ix->serial = ++c->hdr->index_serial;
    *out = off;
    return 0;
}

void mf__index_install(struct mf__ctx *c, uint64_t off, bool retire_old)
{
    uint64_t old = c->hdr->index_off;
    MF__STORE_REL(&c->hdr->index_off, off);
    MF__CRASH_POINT();
    if (retire_old && old != off)
        mf__retire(c, old);
}

/* The full hash of the name in a used slot (the word keeps only a tag). */
static int slot_hash(struct mf__ctx *c, uint64_t w, uint64_t *hash)
{
    struct mf__version v;
    int rc = mf__version_at(c, mf__slot_off(w), &v);
    if (rc)
        return rc < 0 ? rc : mf__fail(MF_ECORRUPT, "%s: a slot names an invalid "
                                      "payload", c->mf->path);
    *hash = mf__hash_name(v.name, v.name_len);
    return 0;
}

/* Copy the current table's names, in insertion order, into a new table with
 * room for `room` names, and install it. */
static int rehash(struct mf__ctx *c, uint64_t room)
{
    uint64_t off;
    int rc = mf__index_create(c, room, &off);
    if (rc)
        return rc;
    /* The allocation may have remapped: look the old table up again. */
    struct mf__table old;
    if ((rc = writer_table(c, &old)))
        return rc;
    struct mf__index *nix = (struct mf__index *)(c->m->base + off);
    uint64_t len = old.ix->order_len;
    if (len > old.order_cap)
        return mf__fail(MF_ECORRUPT, "%s: the index order length is invalid",
                        c->mf->path);
    for (uint64_t i = 0; i < len; i++) {
        uint32_t slot = old.order[i];
        if (slot >= old.nslots)
            return mf__fail(MF_ECORRUPT, "%s: index order entry %llu is invalid",
                            c->mf->path, (unsigned long long)i);
        uint64_t w = old.ix->slots[slot], hash = 0;
        if (!mf__slot_used(w))
            continue;
        if ((rc = slot_hash(c, w, &hash)))
            return rc;
        mf__table_put(nix, hash, w);
    }
    MF__CRASH_POINT();
    mf__index_install(c, off, true);
    return 0;
}

int mf__dir_reserve(struct mf__ctx *c, uint64_t extra, bool *rehashed)
{
    *rehashed = false;
    struct mf__table t;
    int rc = writer_table(c, &t);
    if (rc)
        return rc;
    struct mf__index *ix = t.ix;
    if (ix->used > t.nslots || ix->order_len > t.order_cap)
        return mf__fail(MF_ECORRUPT, "%s: the index counts are invalid", c->mf->path);
    if ((ix->used + ix->tombstones + extra) * 4 <= t.nslots * 3 &&
        ix->order_len + extra <= t.order_cap)
        return 0;
    *rehashed = true;
    return rehash(c, ix->used + extra);
}

uint64_t mf__dir_add(struct mf__ctx *c, uint64_t hash, uint64_t pay)
{
    struct mf__index *ix = (struct mf__index *)(c->m->base + c->hdr->index_off);
    mf__table_put(ix, hash, mf__slot_word(hash, pay, 1));
    MF__CRASH_POINT();
    uint32_t *order = (uint32_t *)((unsigned char *)ix + ix->order_at);
    return order[ix->order_len - 1];
}

void mf__dir_set(struct mf__ctx *c, uint64_t slot, uint64_t pay)
{
    struct mf__index *ix = (struct mf__index *)(c->m->base + c->hdr->index_off);
    uint64_t w = ix->slots[slot];
    /* The tag stays: it is the name's, and the name does not change. */
    MF__STORE_REL(&ix->slots[slot], pay ? mf__slot_word(w, pay, 0) : MF__SLOT_TOMB);
    if (!pay) {
        ix->used--;
        ix->tombstones++;
    }
    MF__CRASH_POINT();
}
