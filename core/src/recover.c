/*
 * recover.c - repairing a file whose writer died holding the lock.
 *
 * What is true after a crash (format.h), and so what the repair trusts:
 * - Payloads are complete before anything points at them, and header
 *   .committed decides which staged versions count: a version whose batch
 *   is committed is rolled forward, a later one is rolled back.
 * - The current index is always a complete table (it is swung in by one
 *   store), though a fold may have stopped half way through it.
 * Everything else is derived: a fresh index is built from the resolved
 * versions in insertion order, and the heap is rebuilt from the live set
 * (that index and the kept payloads). Staged, retired and limbo blocks
 * become free space: nothing leaks. Every step can itself be interrupted
 * and re-run: the file stays marked dirty until the repair finishes, and
 * nothing a re-run needs is changed before the new index is installed.
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

/* Map the whole heap as the dead writer left it. */
static int map_for_repair(mf_file *mf, struct mf__ctx *c)
{
    struct mf__inc *inc = atomic_load(&mf->inc);
    struct stat st;
    if (fstat(inc->fd, &st) != 0)
        return mf__fail(MF_ESYS, "%s: fstat failed during repair", mf->path);
    uint64_t hend = inc->hdr->heap.heap_end;
    if (hend < MF__MIN_SIZE || hend > (uint64_t)st.st_size || hend % 4096 ||
        hend > MF__MAX_SIZE)
        return mf__fail(MF_ECORRUPT, "%s: cannot repair: heap end %llu does not "
                        "match the file size %lld", mf->path,
                        (unsigned long long)hend, (long long)st.st_size);
    /* The writer may have died between growing the heap and publishing the
     * new capacity: publish it first, so the remap covers the whole heap. */
    MF__STORE_REL(&inc->hdr->capacity, hend);
    int rc = mf__enter(mf, c);
    if (rc)
        return rc;
    if (c->m->len < hend) {
        mf__leave(c);
        return mf__fail(MF_ECORRUPT, "%s: cannot map the whole heap for repair",
                        mf->path);
    }
    return 0;
}

/* What the repair finds in the current index. */
struct scan {
    struct kept {
        uint64_t hash, pay;      /* a record that survives, and its version */
    } *kept;
    size_t nkept;
    uint64_t *reach;             /* every block the index reaches */
    size_t nreach, cap_reach;
    uint64_t keep_too;           /* the limbo ring: reached, kept, not a record */
};

static int reach_add(struct scan *s, uint64_t off)
{
    if (s->nreach == s->cap_reach) {
        size_t cap = s->cap_reach ? s->cap_reach * 2 : 256;
        uint64_t *r = realloc(s->reach, cap * sizeof *r);
        if (!r)
            return MF_ENOMEM;
        s->reach = r;
        s->cap_reach = cap;
    }
    s->reach[s->nreach++] = off;
    return 0;
}

/* Note the blocks of one slot (its version and the staged successors it
 * links to) and the version to keep, if any. */
static int scan_slot(struct mf__ctx *c, struct scan *s, uint64_t word)
{
    if (!mf__slot_used(word))
        return 0;
    struct mf__version v;
    uint64_t off = mf__slot_off(word);
    for (int steps = 0; off && !(off & MF__NEXT_REMOVED) && steps < 8; steps++) {
        if (mf__version_at(c, off, &v) != 0)
            break; /* damaged: not reachable as a block */
        if (reach_add(s, off))
            return MF_ENOMEM;
        off = v.next;
    }
    if (mf__resolve(c, word, MF__LATEST, &v) == 0)
        s->kept[s->nkept++] = (struct kept){mf__hash_name(v.name, v.name_len), v.off};
    return 0;
}

/* Resolve every slot of the current index, in insertion order. */
static int scan_index(struct mf__ctx *c, const struct mf__table *t, struct scan *s)
{
    uint64_t len = t->ix->order_len;
    if (len > t->order_cap)
        return mf__fail(MF_ECORRUPT, "%s: cannot repair: the index order length "
                        "is invalid", c->mf->path);
    s->kept = malloc((len ? len : 1) * sizeof *s->kept);
    if (!s->kept || reach_add(s, t->off) || reach_add(s, c->hdr->limbo_off))
        return mf__fail(MF_ENOMEM, "%s: out of memory during repair", c->mf->path);
    s->keep_too = c->hdr->limbo_off;
    for (uint64_t i = 0; i < len; i++) {
        uint32_t slot = t->order[i];
        if (slot < t->nslots && scan_slot(c, s, t->ix->slots[slot]))
            return mf__fail(MF_ENOMEM, "%s: out of memory during repair",
                            c->mf->path);
    }
    return 0;
}

/* Rebuild the heap so that exactly the blocks the index reaches stay:
 * whatever else the dead writer had allocated (staged, retired, limbo, a
 * half-built index) becomes free space. */
static int rebuild_heap(struct mf__ctx *c, struct scan *s)
{
    qsort(s->reach, s->nreach, sizeof *s->reach, cmp_u64);
    size_t uniq = 0;
    for (size_t i = 0; i < s->nreach; i++)
        if (uniq == 0 || s->reach[uniq - 1] != s->reach[i])
            s->reach[uniq++] = s->reach[i];
    s->nreach = uniq;
    struct mf__header *h = c->hdr;
    /* Readers may still be inside blocks about to become free: two epoch
     * steps make every one of them start over (format.h). */
    __atomic_store_n(&h->reclaim_epoch, h->reclaim_epoch + 2, __ATOMIC_SEQ_CST);
    struct mf__heap hv = mf__heap_view(c);
    int rc = mf__heap_rebuild(&hv, s->reach, s->nreach);
    if (rc)
        return mf__fail(rc, "%s: cannot repair the heap: %s", c->mf->path,
                        mf_strerror(rc));
    h->limbo_head = h->old_count = h->young_count = h->young_bytes = 0;
    MF__CRASH_POINT();
    return 0;
}

/* A fresh index of the kept versions replaces the old one; the kept
 * versions lose their staged links; the rest is retired like any replaced
 * block, so readers still in it finish safely. */
static int reindex(struct mf__ctx *c, struct scan *s)
{
    uint64_t off;
    int rc = mf__index_create(c, s->nkept, &off);
    if (rc)
        return rc;
    struct mf__index *nix = (struct mf__index *)(c->m->base + off);
    for (size_t i = 0; i < s->nkept; i++)
        mf__table_put(nix, s->kept[i].hash,
                      mf__slot_word(s->kept[i].hash, s->kept[i].pay, 0));
    MF__CRASH_POINT();
    mf__index_install(c, off, false);
    for (size_t i = 0; i < s->nkept; i++)
        MF__STORE_REL(&((struct mf__payload *)(c->m->base + s->kept[i].pay))->next, 0);
    MF__CRASH_POINT();
    /* Retire what the index reached but no longer does: s->reach minus the
     * kept versions, both sorted. */
    uint64_t *keep = malloc((s->nkept ? s->nkept : 1) * sizeof *keep);
    if (!keep)
        return mf__fail(MF_ENOMEM, "%s: out of memory during repair", c->mf->path);
    for (size_t i = 0; i < s->nkept; i++)
        keep[i] = s->kept[i].pay;
    qsort(keep, s->nkept, sizeof *keep, cmp_u64);
    for (size_t i = 0, k = 0; i < s->nreach; i++) {
        while (k < s->nkept && keep[k] < s->reach[i])
            k++;
        if ((k == s->nkept || keep[k] != s->reach[i]) && s->reach[i] != s->keep_too)
            mf__retire(c, s->reach[i]);
    }
    free(keep);
    return 0;
}

static int repair(struct mf__ctx *c)
{
    struct mf__header *h = c->hdr;
    struct mf__table t;
    mf__read_begin(c);
    /* The ring is emptied by the rebuild; only its block must be sound. */
    h->limbo_head = h->old_count = h->young_count = 0;
    int rc = mf__limbo_ok(c);
    if (rc)
        return rc;
    rc = mf__table(c, &t);
    if (rc)
        return rc < 0 ? rc : mf__fail(MF_ECORRUPT, "%s: cannot repair: the index "
                                      "is invalid", c->mf->path);
    struct scan s = {0};
    if ((rc = scan_index(c, &t, &s)) == 0 && (rc = rebuild_heap(c, &s)) == 0 &&
        (rc = reindex(c, &s)) == 0) {
        MF__STORE(&h->record_count, s.nkept);
        if (h->staging < h->committed)
            h->staging = h->committed;
    }
    free(s.kept);
    free(s.reach);
    return rc;
}

int mf__recover(mf_file *mf)
{
    struct mf__ctx c;
    int rc = map_for_repair(mf, &c);
    if (rc)
        return rc;
    rc = repair(&c);
    MF__CRASH_POINT();
    if (rc == 0) {
        c.hdr->recoveries++;
        mf__announce(c.inc);
    }
    mf__leave(&c);
    return rc;
}
