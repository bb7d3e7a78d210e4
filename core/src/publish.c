/*
 * publish.c - the producer side: add, update, put, remove.
 *
 * Objects are encoded outside the writer lock into one reusable local
 * buffer (TMapFile's best-buffer idea); the lock is held only to allocate,
 * copy and publish. A publish never writes into a payload a reader may be
 * reading: see format.h.
 */
#include "file.h"

#include <stdlib.h>
#include <string.h>

int mf__check_record_name(const char *name)
{
    if (!name)
        return mf__fail(MF_ENAME, "record name is NULL");
    size_t n = strnlen(name, MF_NAME_MAX + 1);
    if (n == 0 || n > MF_NAME_MAX)
        return mf__fail(MF_ENAME, "record name must be 1 to %d bytes", MF_NAME_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch < 0x20 || ch == 0x7f)
            return mf__fail(MF_ENAME, "record name contains a control character "
                            "at byte %zu", i);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Encoding                                                                  */
/* ------------------------------------------------------------------------ */

static int enc_reserve(mf_writer *w, size_t need)
{
    mf_file *mf = w->host;
    size_t want = w->len + need;
    if (want < w->len)
        return -1;
    size_t cap = mf->enc_cap ? mf->enc_cap : 256;
    while (cap < want) {
        if (cap > SIZE_MAX / 2)
            return -1;
        cap *= 2;
    }
    unsigned char *b = realloc(mf->enc, cap);
    if (!b)
        return -1;
    mf->enc = b;
    mf->enc_cap = cap;
    mf->enc_grows++;
    w->buf = b;
    w->cap = cap;
    return 0;
}

/* TMapFile::GetBestBuffer: mean + one standard deviation of payload sizes
 * written to this file so far (by any producer: the sums live in the file). */
static size_t best_buffer(const struct mf__header *h)
{
    uint64_t n = MF__LOAD(&h->written);
    if (n == 0)
        return 4096;
    double mean = h->sum_buffer / (double)n;
    double var = h->sum2_buffer / (double)n - mean * mean;
    double best = mean + (var > 0 ? __builtin_sqrt(var) : 0);
    if (!(best >= 256))
        return 256;
    if (best > (double)(1ull << 30))
        return (size_t)1 << 30;
    return (size_t)best;
}

/* Make sure the encode buffer can hold `count` typical objects before the
 * first encode, so steady-state updates never reallocate. */
static int enc_presize(mf_file *mf, size_t count)
{
    if (mf->enc_cap)
        return 0;
    size_t want = best_buffer(atomic_load(&mf->inc)->hdr) * (count ? count : 1);
    mf_writer w = {NULL, 0, 0, 0, enc_reserve, mf};
    return enc_reserve(&w, want) ? mf__fail(MF_ENOMEM, "%s: out of memory "
                                            "for the encode buffer", mf->path)
                                 : 0;
}

static int pend_reserve(mf_file *mf, size_t n)
{
    if (mf->cap_pend >= n)
        return 0;
    size_t cap = mf->cap_pend ? mf->cap_pend : 8;
    while (cap < n)
        cap *= 2;
    struct mf__pending *p = realloc(mf->pend, cap * sizeof *p);
    if (!p)
        return mf__fail(MF_ENOMEM, "%s: out of memory", mf->path);
    mf->pend = p;
    mf->cap_pend = cap;
    return 0;
}

/* Append one object's encoding to the buffer at *len. */
static int encode(mf_file *mf, const char *name, const mf_class *cls,
                  const void *obj, size_t *len, struct mf__pending *p)
{
    mf_writer w = {mf->enc, *len, mf->enc_cap, 0, enc_reserve, mf};
    int rc = cls->stream_out(obj, &w);
    if (rc || w.err)
        return mf__fail(MF_ECODEC, "%s: class '%s' could not encode '%s' "
                        "(stream_out returned %d, writer error %d)", mf->path,
                        cls->name, name, rc, w.err);
    p->name = name;
    p->class_name = cls->name;
    p->class_version = cls->version;
    p->off = *len;
    p->size = w.len - *len;
    *len = w.len;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Publishing (writer lock held)                                             */
/* ------------------------------------------------------------------------ */

static int new_record(struct mf__ctx *c, const struct mf__pending *p,
                      uint64_t hash, uint64_t *out)
{
    size_t nl = strlen(p->name), cl = strlen(p->class_name);
    uint64_t off;
    int rc = mf__alloc(c, sizeof(struct mf__record) + nl + 1 + cl + 1, &off);
    if (rc)
        return rc;
    struct mf__record *r = (struct mf__record *)(c->m->base + off);
    MF__STORE(&r->stamp, 1); /* odd: not live yet */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    r->payload = 0;
    r->next = 0;
    r->prev = 0;
    r->order_seq = 0;
    r->hash = hash;
    r->name_len = (uint32_t)nl;
    r->class_len = (uint32_t)cl;
    r->prev_payload = 0;
    memcpy(r->strings, p->name, nl + 1);
    memcpy(r->strings + nl + 1, p->class_name, cl + 1);
    *out = off;
    return 0;
}

/* Write a sealed payload block for record rec. */
static int new_payload(struct mf__ctx *c, const struct mf__pending *p,
                       uint64_t rec, uint64_t update_count, uint64_t batch,
                       uint64_t *out)
{
    uint64_t off;
    int rc = mf__alloc(c, sizeof(struct mf__payload) + p->size, &off);
    if (rc)
        return rc;
    struct mf__payload *pl = (struct mf__payload *)(c->m->base + off);
    uint64_t stamp = mf__next_stamp(c);
    /* Odd first: a slow reader still holding this address from the block's
     * previous life must see it change. */
    MF__STORE(&pl->stamp, stamp | 1);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    MF__CRASH_POINT();
    pl->record = rec;
    pl->size = p->size;
    pl->checksum = p->checksum;
    pl->update_count = update_count;
    pl->time_ns = mf__now_ns();
    pl->batch = batch;
    pl->class_version = p->class_version;
    pl->reserved = 0;
    if (p->size)
        memcpy(pl->data, p->data, p->size);
    MF__CRASH_POINT();
    MF__STORE_REL(&pl->stamp, stamp);
    *out = off;
    return 0;
}

/* Payloads at least this big outlive their successor by one update. */
#define MF__KEEP_PREVIOUS_BYTES 4096u

static bool payload_in_map(struct mf__ctx *c, uint64_t off)
{
    return off % MF__HEAP_ALIGN == 0 && off >= MF__HEADER_SIZE &&
           mf__in_map(c->m->len, off, sizeof(struct mf__payload));
}

static uint64_t payload_size(struct mf__ctx *c, uint64_t off)
{
    return payload_in_map(c, off) ? ((const struct mf__payload *)(c->m->base + off))->size
                                  : 0;
}

/* Retire and free a payload that is no longer reachable. */
static void drop_payload(struct mf__ctx *c, uint64_t off)
{
    if (!payload_in_map(c, off))
        return; /* a hostile link: leave it to mapfile check */
    struct mf__payload *pl = (struct mf__payload *)(c->m->base + off);
    MF__STORE_REL(&pl->stamp, MF__LOAD(&pl->stamp) | 1);
    mf__free(c, off);
}

/* Phase 1 for one object: find its record (or make a new, unlinked one) and
 * write its sealed payload. Nothing is reachable by readers yet. */
static int stage_one(struct mf__ctx *c, struct mf__pending *p, uint64_t batch)
{
    size_t nl = strlen(p->name);
    uint64_t hash = mf__hash_name(p->name, nl);
    uint64_t rs, count = 1;
    p->is_new = false;
    p->old = 0;
    int rc = mf__lookup(c, p->name, nl, hash, &p->rec, &rs);
    if (rc == 0) {
        struct mf__record *r = mf__record_at(c->m, p->rec);
        const char *cls = r->strings + r->name_len + 1;
        if (strcmp(cls, p->class_name) != 0)
            return mf__fail(MF_ECLASS, "%s: record '%s' holds class '%s', not "
                            "'%s'; remove it first", c->mf->path, p->name, cls,
                            p->class_name);
        p->old = MF__LOAD(&r->payload);
        if (p->old && mf__in_map(c->m->len, p->old, sizeof(struct mf__payload)))
            count = ((struct mf__payload *)(c->m->base + p->old))->update_count + 1;
    } else if (rc == MF_ENOTFOUND) {
        mf__clear_detail();
        if ((rc = new_record(c, p, hash, &p->rec)))
            return rc;
        p->is_new = true;
    } else {
        return rc;
    }
    rc = new_payload(c, p, p->rec, count, batch, &p->pay);
    if (rc && p->is_new)
        mf__free(c, p->rec);
    return rc;
}

/* Undo phase 1: free what was staged but never made reachable. */
static void unstage(struct mf__ctx *c, struct mf__pending *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mf__free(c, p[i].pay);
        if (p[i].is_new)
            mf__free(c, p[i].rec);
    }
}

/* Phase 2 for one object: make the staged payload (and record) visible.
 * Allocates nothing, so it cannot fail for want of space. */
static int commit_one(struct mf__ctx *c, const struct mf__pending *p)
{
    struct mf__record *r = (struct mf__record *)(c->m->base + p->rec);
    if (!p->is_new) {
        MF__CRASH_POINT();
        MF__STORE_REL(&r->payload, p->pay);
        MF__CRASH_POINT();
        /* A large payload stays sealed for one more update, so a reader
         * still copying or decoding it finishes instead of starting over:
         * without this, readers of big objects starve under a fast writer. */
        uint64_t older = r->prev_payload;
        r->prev_payload = 0;
        if (older)
            drop_payload(c, older);
        MF__CRASH_POINT();
        if (p->old && payload_size(c, p->old) >= MF__KEEP_PREVIOUS_BYTES)
            r->prev_payload = p->old;
        else if (p->old)
            drop_payload(c, p->old);
        MF__CRASH_POINT();
        return 0;
    }
    r->payload = p->pay;
    r->order_seq = ++c->hdr->order_counter;
    MF__STORE_REL(&r->stamp, mf__next_stamp(c));
    /* Journal first: a writer killed while linking leaves a record that
     * recovery unlinks and reclaims, as if the add never happened. */
    c->hdr->intent_rec = p->rec;
    MF__STORE(&c->hdr->intent_op, MF__INTENT_ADD);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    MF__CRASH_POINT();
    int rc = mf__dir_insert(c, p->rec);
    MF__CRASH_POINT();
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    MF__STORE(&c->hdr->intent_op, MF__INTENT_NONE);
    return rc;
}

static void account(struct mf__header *h, const struct mf__pending *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h->sum_buffer += (double)p[i].size;
        h->sum2_buffer += (double)p[i].size * (double)p[i].size;
    }
    MF__STORE(&h->written, h->written + n);
}

/* Publish n encoded objects as one batch under the writer lock. Everything
 * is allocated and written first (a failure there publishes nothing); only
 * the pointer swings and links happen with the publish sequence odd, so a
 * snapshot reader is disturbed for microseconds, not for the copy. */
static int publish(mf_file *mf, struct mf__pending *p, size_t n)
{
    size_t added = 0;
    for (size_t i = 0; i < n; i++) {
        p[i].data = p[i].data ? p[i].data : mf->enc + p[i].off;
        p[i].checksum = mf__checksum(p[i].data, p[i].size);
    }
    int rc = mf__writer_lock(mf);
    if (rc)
        return rc;
    struct mf__ctx c;
    if ((rc = mf__enter(mf, &c)))
        goto out;
    uint64_t batch = c.hdr->batch + 1;
    size_t staged = 0;
    while (staged < n && rc == 0) {
        rc = stage_one(&c, &p[staged], batch);
        if (rc == 0)
            added += p[staged++].is_new;
    }
    /* Room in the index for the new names now, while failing is harmless. */
    if (rc == 0)
        rc = mf__dir_reserve(&c, added);
    if (rc) {
        unstage(&c, p, staged);
        goto out;
    }
    __atomic_add_fetch(&c.hdr->pub_seq, 1, __ATOMIC_SEQ_CST); /* odd */
    MF__STORE(&c.hdr->batch, batch);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = commit_one(&c, &p[i]);
    /* A commit can only fail on a damaged file; what is left staged is
     * reclaimed by a repair before the next change. */
    if (rc)
        __atomic_fetch_or(&c.hdr->flags, MF__HF_DIRTY, __ATOMIC_RELEASE);
    __atomic_add_fetch(&c.hdr->pub_seq, 1, __ATOMIC_RELEASE); /* even */
    account(c.hdr, p, n);
    mf__announce(mf);
out:
    mf__writer_unlock(mf);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Public API                                                                */
/* ------------------------------------------------------------------------ */

static int check_writable(mf_file *mf, const char *what)
{
    if (!mf)
        return mf__fail(MF_EINVAL, "%s: NULL handle", what);
    if (!mf->writable)
        return mf__fail(MF_EREADONLY, "%s: %s: opened read-only", mf->path, what);
    return 0;
}

static struct mf__added *find_added(mf_file *mf, const char *name)
{
    uint64_t h = mf__hash_name(name, strlen(name));
    for (size_t i = 0; i < mf->nadded; i++)
        if (mf->added[i].hash == h && strcmp(mf->added[i].name, name) == 0)
            return &mf->added[i];
    return NULL;
}

int mf_add(mf_file *mf, const char *name, const char *class_name, const void *obj)
{
    mf__clear_detail();
    int rc = check_writable(mf, "mf_add");
    if (rc || (rc = mf__check_record_name(name)))
        return rc;
    if (!obj)
        return mf__fail(MF_EINVAL, "%s: mf_add '%s': NULL object", mf->path, name);
    const mf_class *cls;
    if ((rc = mf_registry_find(mf->reg, class_name, &cls)))
        return rc;
    pthread_mutex_lock(&mf->prod_lock);
    struct mf__added *a = find_added(mf, name);
    if (a) {
        a->cls = cls;
        a->obj = obj;
    } else {
        if (mf->nadded == mf->cap_added) {
            size_t cap = mf->cap_added ? mf->cap_added * 2 : 16;
            struct mf__added *grown = realloc(mf->added, cap * sizeof *grown);
            if (grown) {
                mf->added = grown;
                mf->cap_added = cap;
            }
        }
        char *copy = mf->nadded < mf->cap_added ? strdup(name) : NULL;
        if (!copy) {
            rc = mf__fail(MF_ENOMEM, "%s: out of memory", mf->path);
        } else {
            struct mf__added *n = &mf->added[mf->nadded++];
            n->name = copy;
            n->cls = cls;
            n->obj = obj;
            n->hash = mf__hash_name(name, strlen(name));
        }
    }
    pthread_mutex_unlock(&mf->prod_lock);
    return rc;
}

int mf_update(mf_file *mf, const char *name)
{
    mf__clear_detail();
    int rc = check_writable(mf, "mf_update");
    if (rc)
        return rc;
    pthread_mutex_lock(&mf->prod_lock);
    size_t n = name ? 1 : mf->nadded;
    size_t len = 0;
    if (n == 0)
        goto out;
    if ((rc = pend_reserve(mf, n)) || (rc = enc_presize(mf, n)))
        goto out;
    if (name) {
        struct mf__added *a = find_added(mf, name);
        if (!a) {
            rc = mf__fail(MF_ENOTFOUND, "%s: no object was added as '%s'",
                          mf->path, name);
            goto out;
        }
        mf->pend[0].data = NULL;
        rc = encode(mf, a->name, a->cls, a->obj, &len, &mf->pend[0]);
    } else {
        for (size_t i = 0; i < n && !rc; i++) {
            mf->pend[i].data = NULL;
            rc = encode(mf, mf->added[i].name, mf->added[i].cls, mf->added[i].obj,
                        &len, &mf->pend[i]);
        }
    }
    if (!rc)
        rc = publish(mf, mf->pend, n);
out:
    pthread_mutex_unlock(&mf->prod_lock);
    return rc;
}

int mf_put(mf_file *mf, const char *name, const char *class_name, const void *obj)
{
    mf__clear_detail();
    int rc = check_writable(mf, "mf_put");
    if (rc || (rc = mf__check_record_name(name)))
        return rc;
    if (!obj)
        return mf__fail(MF_EINVAL, "%s: mf_put '%s': NULL object", mf->path, name);
    const mf_class *cls;
    if ((rc = mf_registry_find(mf->reg, class_name, &cls)))
        return rc;
    pthread_mutex_lock(&mf->prod_lock);
    size_t len = 0;
    if (!(rc = pend_reserve(mf, 1)) && !(rc = enc_presize(mf, 1))) {
        mf->pend[0].data = NULL;
        rc = encode(mf, name, cls, obj, &len, &mf->pend[0]);
        if (!rc)
            rc = publish(mf, mf->pend, 1);
    }
    pthread_mutex_unlock(&mf->prod_lock);
    return rc;
}

int mf_put_raw(mf_file *mf, const char *name, const char *class_name,
               uint32_t class_version, const void *data, size_t size)
{
    mf__clear_detail();
    int rc = check_writable(mf, "mf_put_raw");
    if (rc || (rc = mf__check_record_name(name)) ||
        (rc = mf__check_class_name(class_name)))
        return rc;
    if (!data && size)
        return mf__fail(MF_EINVAL, "%s: mf_put_raw '%s': NULL data", mf->path, name);
    pthread_mutex_lock(&mf->prod_lock);
    if (!(rc = pend_reserve(mf, 1))) {
        struct mf__pending *p = &mf->pend[0];
        p->name = name;
        p->class_name = class_name;
        p->class_version = class_version;
        p->data = size ? data : (const void *)"";
        p->off = 0;
        p->size = size;
        rc = publish(mf, p, 1);
    }
    pthread_mutex_unlock(&mf->prod_lock);
    return rc;
}

/* Unlink and free one record (writer lock held, pub_seq odd). */
static int remove_record(struct mf__ctx *c, uint64_t rec)
{
    c->hdr->intent_rec = rec;
    MF__STORE(&c->hdr->intent_op, MF__INTENT_REMOVE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    MF__CRASH_POINT();
    int rc = mf__dir_unlink(c, rec);
    if (rc)
        return rc;
    MF__CRASH_POINT();
    struct mf__record *r = (struct mf__record *)(c->m->base + rec);
    MF__STORE_REL(&r->stamp, MF__LOAD(&r->stamp) | 1);
    uint64_t pay = MF__LOAD(&r->payload);
    if (pay)
        drop_payload(c, pay);
    if (r->prev_payload)
        drop_payload(c, r->prev_payload);
    MF__CRASH_POINT();
    mf__free(c, rec);
    MF__CRASH_POINT();
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    MF__STORE(&c->hdr->intent_op, MF__INTENT_NONE);
    return 0;
}

static void forget_added(mf_file *mf, const char *name)
{
    struct mf__added *a = find_added(mf, name);
    if (!a)
        return;
    free(a->name);
    *a = mf->added[--mf->nadded];
}

int mf_remove(mf_file *mf, const char *name)
{
    mf__clear_detail();
    int rc = check_writable(mf, "mf_remove");
    if (rc || (rc = mf__check_record_name(name)))
        return rc;
    pthread_mutex_lock(&mf->prod_lock);
    bool was_added = find_added(mf, name) != NULL;
    forget_added(mf, name);
    pthread_mutex_unlock(&mf->prod_lock);

    if ((rc = mf__writer_lock(mf)))
        return rc;
    struct mf__ctx c;
    uint64_t rec, rs;
    if (!(rc = mf__enter(mf, &c)) &&
        !(rc = mf__lookup(&c, name, strlen(name), mf__hash_name(name, strlen(name)),
                          &rec, &rs))) {
        __atomic_add_fetch(&c.hdr->pub_seq, 1, __ATOMIC_SEQ_CST);
        rc = remove_record(&c, rec);
        __atomic_add_fetch(&c.hdr->pub_seq, 1, __ATOMIC_RELEASE);
        mf__announce(mf);
    }
    mf__writer_unlock(mf);
    if (rc == MF_ENOTFOUND && was_added) {
        mf__clear_detail();
        return 0; /* added but never published: forgetting it is the removal */
    }
    return rc;
}

int mf_remove_all(mf_file *mf)
{
    mf__clear_detail();
    int rc = check_writable(mf, "mf_remove_all");
    if (rc)
        return rc;
    pthread_mutex_lock(&mf->prod_lock);
    for (size_t i = 0; i < mf->nadded; i++)
        free(mf->added[i].name);
    mf->nadded = 0;
    pthread_mutex_unlock(&mf->prod_lock);

    if ((rc = mf__writer_lock(mf)))
        return rc;
    struct mf__ctx c;
    if (!(rc = mf__enter(mf, &c))) {
        __atomic_add_fetch(&c.hdr->pub_seq, 1, __ATOMIC_SEQ_CST);
        uint64_t n = c.hdr->record_count;
        for (uint64_t i = 0; i <= n && c.hdr->first_rec && !rc; i++) {
            uint64_t rec = c.hdr->first_rec;
            if (!mf__record_at(c.m, rec))
                rc = mf__fail(MF_ECORRUPT, "%s: record list is corrupt at %llu",
                              mf->path, (unsigned long long)rec);
            else
                rc = remove_record(&c, rec);
        }
        __atomic_add_fetch(&c.hdr->pub_seq, 1, __ATOMIC_RELEASE);
        mf__announce(mf);
    }
    mf__writer_unlock(mf);
    return rc;
}
