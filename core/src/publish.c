/*
 * publish.c - the producer side: add, update, put, remove, and batches.
 *
 * mf_update and mf_put encode each object while staging it, under the
 * writer lock, into one reusable local buffer (TMapFile's best-buffer
 * idea), checksum it and copy it into the file while its bytes are still
 * in the cache: a batch of thousands of objects never passes through
 * memory twice. Every change, single or many, is one batch of the protocol
 * in format.h (the steps live in version.c).
 */
#include "file.h"

#include <mapfile/schema.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ONES UINT64_C(0x0101010101010101)

/* The top bit of each byte of w that lies below 0x20 or equals 0x7f (the
 * classic "has a byte less than" test; bytes >= 0x80, UTF-8, never count).
 * The lowest flagged byte is exact; a borrow may flag bytes above it. */
static inline uint64_t control_bytes(uint64_t w)
{
    uint64_t del = w ^ (0x7f * ONES);
    return (((w - 0x20 * ONES) & ~w) | ((del - ONES) & ~del)) & (0x80 * ONES);
}

/* Where the first control byte of name is (its NUL is one), or a value
 * past MF_NAME_MAX. Every get and put checks its name: one pass, 8 bytes
 * at a time, finds both its end and any control character. */
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
typedef uint64_t __attribute__((__may_alias__)) mf__word;

/* Whole aligned words, as libc's strlen reads them: an aligned word never
 * crosses a page, so the bytes past the NUL it may take in are mapped.
 * ASan cannot know that, hence the attribute. */
__attribute__((no_sanitize_address)) static size_t first_control(const char *name)
{
    uintptr_t at = (uintptr_t)name;
    const mf__word *p = (const mf__word *)(at & ~(uintptr_t)7);
    unsigned lead = (unsigned)(at & 7) * 8u;
    /* The bytes before the name read as 'A', no control character. */
    uint64_t before = lead ? (UINT64_C(1) << lead) - 1 : 0;
    uint64_t w = (*p & ~before) | (0x41 * ONES & before);
    for (size_t seen = 0;; seen += 8) {
        uint64_t m = control_bytes(w);
        if (m)
            return (size_t)((const char *)p - name) + (size_t)__builtin_ctzll(m) / 8u;
        if (seen > MF_NAME_MAX)
            return MF_NAME_MAX + 1;
        w = *++p;
    }
}
#else
static size_t first_control(const char *name)
{
    size_t i = 0;
    for (; i <= MF_NAME_MAX; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch < 0x20 || ch == 0x7f)
            break;
    }
    return i;
}
#endif

int mf__check_record_name(const char *name)
{
    size_t n = 0;
    return mf__check_record_name_len(name, &n);
}

int mf__check_record_name_len(const char *name, size_t *len)
{
    if (!name)
        return mf__fail(MF_ENAME, "record name is NULL");
    size_t n = first_control(name);
    *len = n;
    if (n <= MF_NAME_MAX && name[n] != '\0')
        return mf__fail(MF_ENAME, "record name contains a control character "
                        "at byte %zu", n);
    if (n == 0 || n > MF_NAME_MAX)
        return mf__fail(MF_ENAME, "record name must be 1 to %d bytes", MF_NAME_MAX);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Staging, commit and fold (writer lock held)                              */
/* ------------------------------------------------------------------------ */

/* Find an op's record: its slot, current payload, and what the new
 * version inherits (update count, insertion order). A put of another
 * class than the stored one is refused here, before anything changes. */
static int find_one(struct mf__ctx *c, struct mf__op *op)
{
    struct mf__version v;
    op->old = 0;
    op->pay = 0;
    int rc = mf__dir_find(c, op->name, op->name_len, op->hash, &op->slot, &v);
    if (rc == MF_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    op->old = v.off;
    op->count = v.update_count + 1;
    op->order = v.order_seq;
    if (op->class_name && strcmp(v.class_name, op->class_name) != 0)
        return mf__fail(MF_ECLASS, "%s: record '%s' holds class '%s', not '%s'; "
                        "remove it first", c->mf->path, op->name, v.class_name,
                        op->class_name);
    return 0;
}

/* Pass 1: every op's record, and how many names are new. */
static int find_all(struct mf__ctx *c, struct mf__op *ops, size_t n, uint64_t *added)
{
    *added = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = find_one(c, &ops[i]);
        if (rc)
            return rc;
        *added += !ops[i].old && ops[i].class_name;
    }
    return 0;
}

/* After a rehash the slots moved; the payloads did not. */
static int refind_slots(struct mf__ctx *c, struct mf__op *ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct mf__version v;
        if (ops[i].old && mf__dir_find(c, ops[i].name, ops[i].name_len, ops[i].hash,
                                       &ops[i].slot, &v) != 0)
            return mf__fail(MF_ECORRUPT, "%s: record '%s' is missing after a "
                            "rehash", c->mf->path, ops[i].name);
    }
    return 0;
}

static int encode_op(mf_file *mf, struct mf__op *op);

/* Pass 2 for one op: stage its new version (nothing for a removal). */
static int stage_one(struct mf__ctx *c, struct mf__op *op, uint64_t batch)
{
    if (!op->class_name)
        return 0;
    if (op->cls) {
        int rc = encode_op(c->mf, op);
        if (rc)
            return rc;
    }
    if (!op->old) {
        op->count = 1;
        op->order = ++c->hdr->order_counter;
    }
    return mf__stage(c, op, batch, op->keep_count ? op->keep_count : op->count,
                     op->order, &op->pay);
}

/* Free what was staged but never made reachable. */
static void unstage(struct mf__ctx *c, struct mf__op *ops, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ops[i].pay)
            mf__free(c, ops[i].pay);
}

static void link_all(struct mf__ctx *c, struct mf__op *ops, size_t n, uint64_t batch)
{
    /* Before any removal is linked: read views older than this batch then
     * know that a name they miss may have been removed after them. */
    for (size_t i = 0; i < n; i++)
        if (!ops[i].pay && ops[i].old) {
            __atomic_store_n(&c->hdr->removed_batch, batch, __ATOMIC_SEQ_CST);
            break;
        }
    for (size_t i = 0; i < n; i++) {
        struct mf__op *op = &ops[i];
        if (op->pay && op->old)
            mf__link(c, op->old, op->pay);
        else if (op->pay)
            op->slot = mf__dir_add(c, op->hash, op->pay);
        else if (op->old)
            mf__link(c, op->old, MF__NEXT_REMOVED | batch);
    }
}

/* The record count after the batch: new names in, removed names out. */
static void count_all(struct mf__header *h, const struct mf__op *ops, size_t n)
{
    uint64_t count = MF__LOAD(&h->record_count);
    for (size_t i = 0; i < n; i++) {
        if (ops[i].pay)
            count += ops[i].old == 0;
        else if (ops[i].old)
            count--;
    }
    MF__STORE(&h->record_count, count);
}

static void fold_all(struct mf__ctx *c, struct mf__op *ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct mf__op *op = &ops[i];
        if (op->pay)
            mf__dir_set(c, op->slot, op->pay);
        else if (op->old)
            mf__dir_set(c, op->slot, 0);
        if (op->old)
            mf__retire(c, op->old);
    }
}

static void account(struct mf__header *h, const struct mf__op *ops, size_t n)
{
    uint64_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ops[i].class_name)
            continue;
        h->sum_buffer += (double)ops[i].size;
        h->sum2_buffer += (double)ops[i].size * (double)ops[i].size;
        k++;
    }
    MF__STORE(&h->written, h->written + k);
}

/* Publish n changes as one batch under the writer lock. Everything is
 * allocated and written first (a failure there publishes nothing); then
 * linked as uncommitted, committed by one store, announced to waiting
 * consumers, and folded. */
static int publish_locked(struct mf__ctx *c, struct mf__op *ops, size_t n)
{
    uint64_t added;
    bool rehashed = false;
    int rc = mf__limbo_ok(c);
    if (rc == 0)
        rc = find_all(c, ops, n, &added);
    /* Room in the index for the new names now, while failing is harmless. */
    if (rc == 0)
        rc = mf__dir_reserve(c, added, &rehashed);
    if (rc == 0 && rehashed)
        rc = refind_slots(c, ops, n);
    if (rc)
        return rc;
    uint64_t batch = mf__batch_begin(c);
    size_t staged = 0;
    while (staged < n && rc == 0)
        rc = stage_one(c, &ops[staged++], batch);
    if (rc) {
        unstage(c, ops, staged);
        return rc;
    }
    link_all(c, ops, n, batch);
    mf__commit(c, batch);
    count_all(c->hdr, ops, n);
    /* Committed is visible (readers follow the links until the fold): wake
     * the consumers now, and fold while they start reading. */
    mf__announce(c->inc);
    fold_all(c, ops, n);
    account(c->hdr, ops, n);
    mf__reclaim_if_due(c);
    return 0;
}

int mf__publish(mf_file *mf, struct mf__op *ops, size_t n)
{
    int rc;
    for (size_t i = 0; i < n; i++) {
        if (ops[i].cls) { /* its schema record first: a publish of its own */
            if ((rc = mf__schema_ensure(mf, ops[i].cls)))
                return rc;
        } else if (ops[i].class_name && !ops[i].summed) {
            ops[i].checksum = mf__checksum(ops[i].data, ops[i].size);
        }
    }
    rc = mf__writer_lock(mf);
    if (rc)
        return rc;
    struct mf__ctx c;
    if ((rc = mf__enter(mf, &c)) == 0) {
        rc = publish_locked(&c, ops, n);
        mf__leave(&c);
    }
    mf__writer_unlock(mf);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Encoding                                                                  */
/* ------------------------------------------------------------------------ */

/* MF_ECODEC naming what stream_out said: its writer error, or its code. */
static int encode_failed(mf_file *mf, const mf_class *cls, const char *name, int rc,
                         int wire_err)
{
    if (wire_err)
        return mf__fail(MF_ECODEC, "%s: class '%s' could not encode '%s': %s",
                        mf->path, cls->name, name, mf__wire_error_text(wire_err));
    return mf__fail(MF_ECODEC, "%s: class '%s' could not encode '%s' (stream_out "
                    "returned %d)", mf->path, cls->name, name, rc);
}

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

/* The first encode's buffer: one typical object (objects are encoded one
 * at a time), so steady-state updates rarely reallocate. Capped: the
 * estimate comes from the whole file history (a file that once held huge
 * objects must not make a producer of small ones ask for gigabytes); past
 * the cap the buffer grows on demand. */
#define MF__PRESIZE_MAX (64u << 20)

static int enc_presize(mf_file *mf)
{
    if (mf->enc_cap)
        return 0;
    size_t best = best_buffer(atomic_load(&mf->inc)->hdr);
    size_t want = best > MF__PRESIZE_MAX ? MF__PRESIZE_MAX : best;
    mf_writer w = {NULL, 0, 0, 0, enc_reserve, mf};
    return enc_reserve(&w, want) ? mf__fail(MF_ENOMEM, "%s: out of memory "
                                            "for the encode buffer", mf->path)
                                 : 0;
}

static int ops_reserve(mf_file *mf, size_t n)
{
    if (mf->cap_ops >= n)
        return 0;
    size_t cap = mf->cap_ops ? mf->cap_ops : 8;
    while (cap < n)
        cap *= 2;
    struct mf__op *p = realloc(mf->ops, cap * sizeof *p);
    if (!p)
        return mf__fail(MF_ENOMEM, "%s: out of memory", mf->path);
    mf->ops = p;
    mf->cap_ops = cap;
    return 0;
}

static void op_name(struct mf__op *op, const char *name)
{
    op->name = name;
    op->name_len = strlen(name);
    op->hash = mf__hash_name(name, op->name_len);
}

/* An op that puts @p obj under @p name, encoded while it is staged. */
static void object_op(struct mf__op *op, const char *name, const mf_class *cls,
                      const void *obj)
{
    *op = (struct mf__op){0};
    op_name(op, name);
    op->class_name = cls->name;
    op->class_version = cls->version;
    op->cls = cls;
    op->obj = obj;
}

/* Encode an op's object into the buffer (from its start: the op before
 * was copied into the file already) and checksum it while it is hot. */
static int encode_op(mf_file *mf, struct mf__op *op)
{
    mf_writer w = {mf->enc, 0, mf->enc_cap, 0, enc_reserve, mf};
    int rc = op->cls->stream_out(op->obj, &w);
    if (rc || w.err)
        return encode_failed(mf, op->cls, op->name, rc, w.err);
    op->data = w.len ? (const void *)w.buf : (const void *)"";
    op->size = w.len;
    op->checksum = mf__checksum(op->data, op->size);
    return 0;
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

static int remember(mf_file *mf, const char *name, const mf_class *cls,
                    const void *obj)
{
    struct mf__added *a = find_added(mf, name);
    if (a) {
        a->cls = cls;
        a->obj = obj;
        return 0;
    }
    if (mf->nadded == mf->cap_added) {
        size_t cap = mf->cap_added ? mf->cap_added * 2 : 16;
        struct mf__added *grown = realloc(mf->added, cap * sizeof *grown);
        if (!grown)
            return mf__fail(MF_ENOMEM, "%s: out of memory", mf->path);
        mf->added = grown;
        mf->cap_added = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return mf__fail(MF_ENOMEM, "%s: out of memory", mf->path);
    mf->added[mf->nadded++] = (struct mf__added){copy, cls, obj,
                                                 mf__hash_name(name, strlen(name))};
    return 0;
}

/* The handle's producer state (added objects, ops, the encode buffer).
 * Codecs encode with it held, so a stream_out that writes through the
 * same handle would wait for itself: the mutex checks its owner (file.c)
 * and that write fails with MF_EBUSY. */
static int prod_lock(mf_file *mf)
{
    int e = pthread_mutex_lock(&mf->prod_lock);
    if (e == EDEADLK)
        return mf__fail(MF_EBUSY, "%s: this thread is already writing through this "
                        "handle (a codec's stream_out writing to the file it is "
                        "being written to?)", mf->path);
    return e ? mf__fail(MF_ESYS, "%s: the producer lock failed: %s", mf->path,
                        strerror(e))
             : 0;
}

int mf_add(mf_file *mf, const char *name, const char *class_name, const void *obj)
{
    mf__clear_detail();
    int rc = check_writable(mf, "mf_add");
    if (rc || (rc = mf__check_user_name(name, NULL)))
        return rc;
    if (!obj)
        return mf__fail(MF_EINVAL, "%s: mf_add '%s': NULL object", mf->path, name);
    const mf_class *cls;
    if ((rc = mf_registry_find(mf->reg, class_name, &cls)))
        return rc;
    if ((rc = prod_lock(mf)))
        return rc;
    rc = remember(mf, name, cls, obj);
    pthread_mutex_unlock(&mf->prod_lock);
    return rc;
}

/* The ops of the added objects (one, or all when name is NULL). */
static int added_ops(mf_file *mf, const char *name, size_t *n)
{
    *n = name ? 1 : mf->nadded;
    if (*n == 0)
        return 0;
    int rc = ops_reserve(mf, *n);
    if (rc || (rc = enc_presize(mf)))
        return rc;
    if (name) {
        struct mf__added *a = find_added(mf, name);
        if (!a)
            return mf__fail(MF_ENOTFOUND, "%s: no object was added as '%s'",
                            mf->path, name);
        object_op(&mf->ops[0], a->name, a->cls, a->obj);
    } else {
        for (size_t i = 0; i < *n; i++)
            object_op(&mf->ops[i], mf->added[i].name, mf->added[i].cls, mf->added[i].obj);
    }
    return 0;
}

int mf_update(mf_file *mf, const char *name)
{
    mf__clear_detail();
    int rc = check_writable(mf, "mf_update");
    if (rc)
        return rc;
    if ((rc = prod_lock(mf)))
        return rc;
    size_t n = 0;
    rc = added_ops(mf, name, &n);
    if (rc == 0 && n)
        rc = mf__publish(mf, mf->ops, n);
    pthread_mutex_unlock(&mf->prod_lock);
    return rc;
}

int mf_put(mf_file *mf, const char *name, const char *class_name, const void *obj)
{
    mf__clear_detail();
    int rc = check_writable(mf, "mf_put");
    if (rc || (rc = mf__check_user_name(name, NULL)))
        return rc;
    if (!obj)
        return mf__fail(MF_EINVAL, "%s: mf_put '%s': NULL object", mf->path, name);
    const mf_class *cls;
    if ((rc = mf_registry_find(mf->reg, class_name, &cls)))
        return rc;
    if ((rc = prod_lock(mf)))
        return rc;
    if (!(rc = ops_reserve(mf, 1)) && !(rc = enc_presize(mf))) {
        object_op(&mf->ops[0], name, cls, obj);
        rc = mf__publish(mf, mf->ops, 1);
    }
    pthread_mutex_unlock(&mf->prod_lock);
    return rc;
}

int mf_put_raw(mf_file *mf, const char *name, const char *class_name,
               uint32_t class_version, const void *data, size_t size)
{
    mf__clear_detail();
    int rc = check_writable(mf, "mf_put_raw");
    if (rc || (rc = mf__check_user_name(name, class_name)) ||
        (rc = mf__check_class_name(class_name)))
        return rc;
    if (!data && size)
        return mf__fail(MF_EINVAL, "%s: mf_put_raw '%s': NULL data", mf->path, name);
    struct mf__op op = {0};
    op_name(&op, name);
    op.class_name = class_name;
    op.class_version = class_version;
    op.data = size ? data : (const void *)"";
    op.size = size;
    return mf__publish(mf, &op, 1);
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
    if ((rc = prod_lock(mf)))
        return rc;
    bool was_added = find_added(mf, name) != NULL;
    forget_added(mf, name);
    /* A stored schema removed by hand is stored again by the next put of
     * its class through this handle. */
    if (strncmp(name, MF_RESERVED_PREFIX, sizeof MF_RESERVED_PREFIX - 1) == 0)
        mf->nschemas = 0;
    pthread_mutex_unlock(&mf->prod_lock);

    struct mf__op op = {0};
    op_name(&op, name);
    if ((rc = mf__writer_lock(mf)))
        return rc;
    struct mf__ctx c;
    if ((rc = mf__enter(mf, &c)) == 0) {
        uint64_t slot;
        struct mf__version v;
        rc = mf__dir_find(&c, op.name, op.name_len, op.hash, &slot, &v);
        if (rc == 0)
            rc = publish_locked(&c, &op, 1);
        mf__leave(&c);
    }
    mf__writer_unlock(mf);
    if (rc == MF_ENOTFOUND) {
        if (was_added)
            return 0; /* added but never published: forgetting it is the removal */
        return mf__fail(MF_ENOTFOUND, "%s: no record named '%s'", mf->path, name);
    }
    return rc;
}

/* Every name in the current index, as removal ops (writer lock held). */
static int ops_for_all(struct mf__ctx *c, size_t *n)
{
    struct mf__table t;
    mf__read_begin(c);
    int rc = mf__table(c, &t);
    if (rc)
        return rc < 0 ? rc : mf__fail(MF_ECORRUPT, "%s: the index is invalid",
                                      c->mf->path);
    mf_file *mf = c->mf;
    *n = 0;
    for (uint64_t s = 0; s < t.nslots; s++) {
        uint64_t w = t.ix->slots[s];
        if (!mf__slot_used(w))
            continue;
        struct mf__version v;
        if ((rc = mf__version_at(c, mf__slot_off(w), &v)))
            return rc < 0 ? rc : mf__fail(MF_ECORRUPT, "%s: slot %llu is invalid",
                                          mf->path, (unsigned long long)s);
        /* Stored schemas are not objects: they stay, so the classes this
         * producer keeps putting stay readable without their plugin. */
        if (v.name_len >= sizeof MF_RESERVED_PREFIX - 1 &&
            memcmp(v.name, MF_RESERVED_PREFIX, sizeof MF_RESERVED_PREFIX - 1) == 0)
            continue;
        if ((rc = ops_reserve(mf, *n + 1)))
            return rc;
        struct mf__op *op = &mf->ops[(*n)++];
        *op = (struct mf__op){0};
        op->name = v.name; /* in the map: stable while we hold the lock */
        op->name_len = v.name_len;
        op->hash = mf__hash_name(v.name, v.name_len);
    }
    return 0;
}

int mf_remove_all(mf_file *mf)
{
    mf__clear_detail();
    int rc = check_writable(mf, "mf_remove_all");
    if (rc)
        return rc;
    if ((rc = prod_lock(mf)))
        return rc;
    for (size_t i = 0; i < mf->nadded; i++)
        free(mf->added[i].name);
    mf->nadded = 0;
    if ((rc = mf__writer_lock(mf)) == 0) {
        struct mf__ctx c;
        if ((rc = mf__enter(mf, &c)) == 0) {
            size_t n = 0;
            if ((rc = ops_for_all(&c, &n)) == 0)
                rc = publish_locked(&c, mf->ops, n);
            mf__leave(&c);
        }
        mf__writer_unlock(mf);
    }
    pthread_mutex_unlock(&mf->prod_lock);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Batches built by the caller                                               */
/* ------------------------------------------------------------------------ */

struct mf_batch {
    mf_file *mf;
    unsigned char *buf;      /* names, class names and data, by offset */
    size_t len, cap;
    struct mf__op *ops;      /* name/class_name/data hold offsets into buf */
    size_t n, cap_ops;
    int err;                 /* first failure: commit refuses */
};

int mf_batch_begin(mf_file *mf, mf_batch **out)
{
    mf__clear_detail();
    if (!out)
        return mf__fail(MF_EINVAL, "mf_batch_begin: NULL batch pointer");
    *out = NULL;
    int rc = check_writable(mf, "mf_batch_begin");
    if (rc)
        return rc;
    mf_batch *b = calloc(1, sizeof *b);
    if (!b)
        return mf__fail(MF_ENOMEM, "%s: out of memory", mf->path);
    b->mf = mf;
    *out = b;
    return 0;
}

static int batch_reserve(mf_writer *w, size_t need)
{
    mf_batch *b = w->host;
    size_t want = w->len + need, cap = b->cap ? b->cap : 4096;
    if (want < w->len)
        return -1;
    while (cap < want) {
        if (cap > SIZE_MAX / 2)
            return -1;
        cap *= 2;
    }
    unsigned char *p = realloc(b->buf, cap);
    if (!p)
        return -1;
    b->buf = p;
    b->cap = cap;
    w->buf = p;
    w->cap = cap;
    return 0;
}

static mf_writer batch_writer(mf_batch *b)
{
    mf_writer w = {b->buf, b->len, b->cap, 0, batch_reserve, b};
    return w;
}

/* Copy s with its NUL into the batch; its offset in *at. */
static int batch_str(mf_batch *b, const char *s, uintptr_t *at)
{
    mf_writer w = batch_writer(b);
    *at = w.len;
    mf_w_bytes(&w, s, strlen(s) + 1);
    b->len = w.len;
    return w.err ? mf__fail(MF_ENOMEM, "%s: out of memory", b->mf->path) : 0;
}

static struct mf__op *batch_op(mf_batch *b)
{
    if (b->n == b->cap_ops) {
        size_t cap = b->cap_ops ? b->cap_ops * 2 : 16;
        struct mf__op *p = realloc(b->ops, cap * sizeof *p);
        if (!p)
            return NULL;
        b->ops = p;
        b->cap_ops = cap;
    }
    struct mf__op *op = &b->ops[b->n];
    *op = (struct mf__op){0};
    return op;
}

/* Record an op (class NULL for a removal; data already at data_at). */
static int batch_add(mf_batch *b, const char *name, const char *class_name,
                     uint32_t version, uintptr_t data_at, size_t size)
{
    uintptr_t name_at, class_at = 0;
    struct mf__op *op = batch_op(b);
    int rc = op ? batch_str(b, name, &name_at)
                : mf__fail(MF_ENOMEM, "%s: out of memory", b->mf->path);
    if (rc == 0 && class_name)
        rc = batch_str(b, class_name, &class_at);
    if (rc)
        return b->err = rc;
    op->name = (const char *)name_at;
    op->name_len = strlen(name);
    op->hash = mf__hash_name(name, op->name_len);
    op->class_name = class_name ? (const char *)class_at : NULL;
    op->class_version = version;
    op->data = (const void *)data_at;
    op->size = size;
    /* Checksummed now, while the bytes just written are in the cache, not
     * at the commit after the whole batch went through memory. */
    op->checksum = class_name ? mf__checksum(b->buf + data_at, size) : 0;
    op->summed = class_name != NULL;
    b->n++;
    return 0;
}

static int batch_check(mf_batch *b, const char *name)
{
    mf__clear_detail();
    if (!b)
        return mf__fail(MF_EINVAL, "mf_batch: NULL batch");
    if (b->err)
        return mf__fail(b->err, "%s: this batch already failed; abort it",
                        b->mf->path);
    return mf__check_record_name(name);
}

int mf_batch_put(mf_batch *b, const char *name, const char *class_name,
                 const void *obj)
{
    int rc = batch_check(b, name);
    if (rc)
        return rc;
    if (!obj)
        return mf__fail(MF_EINVAL, "%s: mf_batch_put '%s': NULL object",
                        b->mf->path, name);
    const mf_class *cls;
    if ((rc = mf__check_user_name(name, NULL)) ||
        (rc = mf_registry_find(b->mf->reg, class_name, &cls)))
        return rc;
    if ((rc = prod_lock(b->mf)))
        return rc;
    rc = mf__schema_ensure(b->mf, cls);
    pthread_mutex_unlock(&b->mf->prod_lock);
    if (rc)
        return rc;
    mf_writer w = batch_writer(b);
    size_t start = w.len;
    rc = cls->stream_out(obj, &w);
    if (rc || w.err)
        return encode_failed(b->mf, cls, name, rc, w.err);
    b->len = w.len;
    return batch_add(b, name, cls->name, cls->version, start, w.len - start);
}

int mf_batch_put_raw(mf_batch *b, const char *name, const char *class_name,
                     uint32_t class_version, const void *data, size_t size)
{
    int rc = batch_check(b, name);
    if (rc || (rc = mf__check_class_name(class_name)) ||
        (rc = mf__check_user_name(name, class_name)))
        return rc;
    if (!data && size)
        return mf__fail(MF_EINVAL, "%s: mf_batch_put_raw '%s': NULL data",
                        b->mf->path, name);
    mf_writer w = batch_writer(b);
    size_t start = w.len;
    mf_w_bytes(&w, data, size);
    if (w.err)
        return b->err = mf__fail(MF_ENOMEM, "%s: out of memory", b->mf->path);
    b->len = w.len;
    return batch_add(b, name, class_name, class_version, start, size);
}

int mf_batch_remove(mf_batch *b, const char *name)
{
    int rc = batch_check(b, name);
    return rc ? rc : batch_add(b, name, NULL, 0, 0, 0);
}

/* Turn the offsets of op i into pointers into the batch buffer. */
static void batch_point(mf_batch *b, struct mf__op *op)
{
    op->name = (const char *)b->buf + (uintptr_t)op->name;
    if (op->class_name)
        op->class_name = (const char *)b->buf + (uintptr_t)op->class_name;
    op->data = b->buf + (uintptr_t)op->data;
}

/* Pointers from offsets, and one op per name: the last one given, at the
 * place the name was first given. Returns the number of ops kept. */
static int batch_prepare(mf_batch *b, size_t *kept)
{
    size_t cap = 16;
    while (cap < b->n * 2)
        cap *= 2;
    size_t *first = malloc(cap * sizeof *first); /* op index + 1, 0 empty */
    if (!first)
        return mf__fail(MF_ENOMEM, "%s: out of memory", b->mf->path);
    memset(first, 0, cap * sizeof *first);
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++) {
        struct mf__op op = b->ops[i];
        batch_point(b, &op);
        size_t h = (size_t)op.hash & (cap - 1);
        while (first[h] && (b->ops[first[h] - 1].name_len != op.name_len ||
                            memcmp(b->ops[first[h] - 1].name, op.name, op.name_len)))
            h = (h + 1) & (cap - 1);
        if (first[h]) {
            b->ops[first[h] - 1] = op; /* a later change of the same name */
        } else {
            b->ops[k] = op;
            first[h] = ++k;
        }
    }
    free(first);
    *kept = k;
    return 0;
}

int mf_batch_commit(mf_batch *b)
{
    mf__clear_detail();
    if (!b)
        return mf__fail(MF_EINVAL, "mf_batch_commit: NULL batch");
    int rc = b->err;
    size_t n = 0;
    if (rc)
        rc = mf__fail(rc, "%s: this batch failed before the commit; nothing "
                      "was published", b->mf->path);
    else if ((rc = batch_prepare(b, &n)) == 0 && n)
        rc = mf__publish(b->mf, b->ops, n);
    mf_batch_abort(b);
    return rc;
}

void mf_batch_abort(mf_batch *b)
{
    if (!b)
        return;
    free(b->buf);
    free(b->ops);
    free(b);
}
