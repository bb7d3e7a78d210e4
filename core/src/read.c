/*
 * read.c - the consumer side: get, stat, iterate, snapshots and read views.
 * Lock-free, and the map is never written.
 *
 * Every read runs inside one epoch window (version.c): look the name up,
 * resolve the version visible at the batch asked for, copy or checksum or
 * decode straight from the map, then check the window. A window that a
 * reclaim broke is retried; a check that fails inside a stable window is
 * corruption (format.h says why).
 */
#include "file.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

#define MF__MAX_TRIES 100000

static void backoff(unsigned tries)
{
    if (tries > 16)
        sched_yield();
}

static int busy(const mf_file *mf, const char *what)
{
    return mf__fail(MF_EBUSY, "%s: %s: a writer kept reclaiming faster than "
                    "one read could finish", mf->path, what);
}

void mf__fill_info(const struct mf__version *v, mf_record_info *info)
{
    memcpy(info->name, v->name, v->name_len);
    info->name[v->name_len] = '\0';
    memcpy(info->class_name, v->class_name, v->class_len);
    info->class_name[v->class_len] = '\0';
    info->class_version = v->class_version;
    info->size = v->size;
    info->checksum = v->checksum;
    info->generation = v->batch;
    info->update_count = v->update_count;
    info->update_time_ns = v->time_ns;
    info->batch = v->batch;
}

/* ------------------------------------------------------------------------ */
/* Views                                                                     */
/* ------------------------------------------------------------------------ */

/* A read view: a context held for the view's life, the batch it reads and
 * the insertion counter at that batch. */
struct mf_txn {
    mf_file *mf;
    struct mf__ctx c;
    uint64_t batch;
    uint64_t orders;
};

/* What one read asks for: the latest state, or a view's batch. */
struct mf__want {
    struct mf__ctx *c;
    uint64_t at;                 /* MF__LATEST or the view's batch */
    const mf_txn *txn;
};

static int snapshot_gone(const struct mf__want *w, const char *name)
{
    return mf__fail(MF_ESNAPSHOT, "%s: record '%s' changed after batch %llu, "
                    "which this view reads; begin a new view", w->c->mf->path,
                    name, (unsigned long long)w->at);
}

/* Did a removal committed after the view's batch hide names from it? Only
 * a committed removal is ever folded out of the index, so with nothing
 * committed since the view began, what it misses is really not there. */
static bool removed_since(const struct mf__want *w)
{
    return w->at != MF__LATEST && MF__LOAD_ACQ(&w->c->hdr->removed_batch) > w->at &&
           MF__LOAD_ACQ(&w->c->hdr->committed) > w->at;
}

/* "Not found" in a view is only true if no removal came after its batch. */
static int not_found_at(const struct mf__want *w, const char *name)
{
    if (removed_since(w))
        return mf__fail(MF_ESNAPSHOT, "%s: record '%s' is not there now, and "
                        "names were removed after batch %llu, which this view "
                        "reads; begin a new view", w->c->mf->path, name,
                        (unsigned long long)w->at);
    return MF_ENOTFOUND;
}

/* Look a name up inside a fresh epoch window. 0 with v, MF__RETRY, or an
 * error (MF_ENOTFOUND and MF_ESNAPSHOT with details). */
static int locate(const struct mf__want *w, const char *name, size_t len,
                  struct mf__version *v)
{
    mf__read_begin(w->c);
    int rc = mf__lookup(w->c, name, len, mf__hash_name(name, len), w->at, v, NULL);
    if (rc == MF__GONE)
        return snapshot_gone(w, name);
    if (rc == MF_ENOTFOUND)
        return not_found_at(w, name);
    return rc;
}

/* Check the name (its length to *len) and enter; *entered tells the
 * caller to leave, even when a guard trip ended the call after this. */
static int begin_read(mf_file *mf, const char *name, struct mf__ctx *c, size_t *len,
                      volatile bool *entered)
{
    mf__clear_detail();
    if (!mf || !name)
        return mf__fail(MF_EINVAL, "NULL argument");
    int rc = mf__check_record_name_len(name, len);
    if (rc == 0)
        rc = mf__enter(mf, c);
    *entered = rc == 0;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* stat, raw copies                                                          */
/* ------------------------------------------------------------------------ */

static int stat_at(const struct mf__want *w, const char *name, size_t len,
                   mf_record_info *info)
{
    for (unsigned tries = 0; tries < MF__MAX_TRIES; tries++) {
        struct mf__version v;
        int rc = locate(w, name, len, &v);
        if (rc == MF__RETRY) {
            backoff(tries);
            continue;
        }
        if (rc)
            return rc;
        mf__fill_info(&v, info);
        if (mf__read_stable(w->c))
            return 0;
        backoff(tries);
    }
    return busy(w->c->mf, name);
}

static int checksum_error(const mf_file *mf, const char *name, uint64_t stored,
                          uint64_t computed)
{
    return mf__fail(MF_ECHECKSUM, "%s: record '%s': checksum mismatch (stored "
                    "%016llx, computed %016llx): the payload is corrupt",
                    mf->path, name, (unsigned long long)stored,
                    (unsigned long long)computed);
}

/* Copy a record into buf (cap bytes) or into a new malloc'd buffer when
 * out_alloc is set. */
static int raw_at(const struct mf__want *w, const char *name, size_t len, void *buf,
                  size_t cap, void **out_alloc, mf_record_info *info)
{
    mf_file *mf = w->c->mf;
    void *mine = NULL;
    for (unsigned tries = 0; tries < MF__MAX_TRIES; tries++) {
        struct mf__version v;
        int rc = locate(w, name, len, &v);
        if (rc == MF__RETRY) {
            backoff(tries);
            continue;
        }
        if (rc) {
            free(mine);
            return rc;
        }
        mf__fill_info(&v, info);
        if (out_alloc && (!mine || cap < v.size)) {
            free(mine);
            cap = v.size;
            buf = mine = malloc(cap ? cap : 1);
            if (!mine)
                return mf__fail(MF_ENOMEM, "%s: out of memory for %zu bytes",
                                mf->path, cap);
        }
        if (v.size > cap || (!buf && v.size)) {
            if (!mf__read_stable(w->c))
                continue;
            return mf__fail(MF_ETOOSMALL, "%s: record '%s' needs %llu bytes, "
                            "buffer has %zu", mf->path, name,
                            (unsigned long long)v.size, cap);
        }
        if (v.size)
            memcpy(buf, v.data, v.size);
        if (!mf__read_stable(w->c)) {
            backoff(tries);
            continue;
        }
        uint64_t ck = (mf->flags & MF_OPEN_NO_VERIFY) ? v.checksum
                                                     : mf__checksum(buf, v.size);
        if (ck != v.checksum) {
            free(mine);
            return checksum_error(mf, name, v.checksum, ck);
        }
        if (out_alloc)
            *out_alloc = mine;
        return 0;
    }
    free(mine);
    return busy(mf, name);
}

/* ------------------------------------------------------------------------ */
/* get: decode a new object                                                  */
/* ------------------------------------------------------------------------ */

/* Step 1 of a get, guarded: find the version and verify its checksum. */
static int get_locate(const struct mf__want *w, const char *name, size_t len,
                      struct mf__version *v, mf_record_info *info)
{
    int rc = locate(w, name, len, v);
    if (rc)
        return rc;
    mf__fill_info(v, info);
    bool verify = !(w->c->mf->flags & MF_OPEN_NO_VERIFY);
    uint64_t ck = verify ? mf__checksum(v->data, v->size) : v->checksum;
    if (!mf__read_stable(w->c))
        return MF__RETRY;
    return ck == v->checksum ? 0 : checksum_error(w->c->mf, name, v->checksum, ck);
}

/* Step 2, not guarded: the codec (may load a plugin). */
static int get_codec(mf_file *mf, const char *name, const mf_record_info *info,
                     const mf_class **out)
{
    const mf_class *cls;
    int rc = mf_registry_find(mf->reg, info->class_name, &cls);
    if (rc) {
        char why[768];
        snprintf(why, sizeof why, "%s", mf_errdetail());
        /* Writers only store valid class names: a bad one is damage. */
        return mf__fail(rc == MF_ENAME ? MF_ECORRUPT : rc, "%s: record '%s': %s",
                        mf->path, name, why);
    }
    if (info->class_version > cls->version || info->class_version < cls->min_version)
        return mf__fail(MF_ECLASSVERSION,
                        "%s: record '%s' of class '%s' was written with "
                        "version %u, but the codec in %s reads versions "
                        "%u to %u", mf->path, name, info->class_name,
                        info->class_version, mf__registry_class_origin(mf->reg, cls),
                        cls->min_version, cls->version);
    *out = cls;
    return 0;
}

/* Step 3, guarded: decode straight from the map, then check the window
 * that step 1 opened. */
static int get_decode(const struct mf__want *w, const char *name,
                      const struct mf__version *v, const mf_class *cls, void **obj)
{
    mf_file *mf = w->c->mf;
    mf_reader r = mf_reader_make(v->data, v->size);
    void *o = cls->stream_in(&r, v->class_version);
    if (!mf__read_stable(w->c)) {
        if (o)
            cls->destroy(o);
        return MF__RETRY;
    }
    if (!o || r.err) {
        if (o)
            cls->destroy(o);
        return mf__fail(MF_ECODEC, "%s: record '%s' of class '%s' (version "
                        "%u, %llu bytes) could not be decoded by %s: %s "
                        "at byte %zu", mf->path, name, cls->name, v->class_version,
                        (unsigned long long)v->size,
                        mf__registry_class_origin(mf->reg, cls),
                        r.err ? mf__wire_error_text(r.err) : "stream_in returned no object", r.pos);
    }
    *obj = o;
    return 0;
}

/* One try of a get: locate (guarded), find the codec (not guarded: it may
 * load a plugin), decode (guarded). */
static int get_once(const struct mf__want *w, const char *name, size_t len, void **obj,
                    const mf_class **cls)
{
    struct mf__version v;
    mf_record_info info;
    int rc;
    MF__GUARDED(rc, get_locate(w, name, len, &v, &info));
    if (rc == 0)
        rc = get_codec(w->c->mf, name, &info, cls);
    if (rc == 0)
        MF__GUARDED(rc, get_decode(w, name, &v, *cls, obj));
    return rc;
}

static int get_at(const struct mf__want *w, const char *name, size_t len, void **obj,
                  const mf_class **cls_out)
{
    for (unsigned tries = 0; tries < MF__MAX_TRIES; tries++) {
        const mf_class *cls = NULL;
        int rc = get_once(w, name, len, obj, &cls);
        if (rc == MF__RETRY) {
            backoff(tries);
            continue;
        }
        if (rc == 0 && cls_out)
            *cls_out = cls;
        return rc;
    }
    return busy(w->c->mf, name);
}

/* ------------------------------------------------------------------------ */
/* Iteration                                                                 */
/* ------------------------------------------------------------------------ */

void mf_iter_init(mf_iter *it, mf_file *mf, const char *prefix)
{
    memset(it, 0, sizeof *it);
    it->mf = mf;
    if (prefix)
        snprintf(it->prefix, sizeof it->prefix, "%s", prefix);
}

void mf_txn_iter_init(mf_iter *it, mf_txn *txn, const char *prefix)
{
    mf_iter_init(it, txn ? txn->mf : NULL, prefix);
    it->txn = txn;
}

#define MF__ITER_DONE UINT64_MAX
#define MF__ITER_FOUND 4 /* iter_step's "here is one" (1 is MF__RETRY) */

/* Resolve the record at order position pos. 0 with v, MF__INVISIBLE to
 * skip, MF__RETRY, or an error. */
static int iter_entry(const struct mf__want *w, const struct mf__table *t,
                      uint64_t pos, struct mf__version *v)
{
    uint32_t slot = MF__LOAD(&t->order[pos]);
    if (slot >= t->nslots)
        return mf__suspect(w->c, "index order entry %llu names slot %u of %llu",
                           (unsigned long long)pos, slot,
                           (unsigned long long)t->nslots);
    uint64_t word = mf__slot_load(t, slot);
    if (!mf__slot_used(word))
        return MF__INVISIBLE;
    int rc = mf__resolve(w->c, word, w->at, v);
    if (rc == MF__GONE) {
        /* Added after the view's batch (insertion number past it), or
         * changed since: only the first is a record to skip. */
        if (v->order_seq > w->txn->orders)
            return MF__INVISIBLE;
        return snapshot_gone(w, v->name);
    }
    return rc;
}

/* One step: the next record past the iterator's position, in one window.
 * MF__ITER_FOUND, 0 at the end, MF__RETRY, or an error. */
static int iter_step(mf_iter *it, const struct mf__want *w, mf_record_info *info)
{
    struct mf__table t;
    mf__read_begin(w->c);
    int rc = mf__table(w->c, &t);
    if (rc)
        return rc;
    if (t.serial != it->table) {
        /* A rebuilt table: start over; the insertion numbers skip what
         * was returned already. */
        it->table = t.serial;
        it->pos = 0;
    }
    uint64_t len = MF__LOAD_ACQ(&t.ix->order_len);
    if (len > t.order_cap)
        return mf__suspect(w->c, "the index order length %llu exceeds its %llu "
                           "entries", (unsigned long long)len,
                           (unsigned long long)t.order_cap);
    size_t plen = strlen(it->prefix);
    for (; it->pos < len; it->pos++) {
        struct mf__version v;
        rc = iter_entry(w, &t, it->pos, &v);
        if (rc == MF__INVISIBLE)
            continue;
        if (rc)
            return rc;
        if (v.order_seq <= it->last_order || v.name_len < plen ||
            memcmp(v.name, it->prefix, plen) != 0)
            continue;
        mf__fill_info(&v, info);
        if (!mf__read_stable(w->c))
            return MF__RETRY;
        it->last_order = v.order_seq;
        it->pos++;
        it->steps++;
        return MF__ITER_FOUND;
    }
    if (!mf__read_stable(w->c))
        return MF__RETRY;
    if (removed_since(w))
        return mf__fail(MF_ESNAPSHOT, "%s: names were removed after batch %llu, "
                        "which this view lists; begin a new view",
                        w->c->mf->path, (unsigned long long)w->at);
    it->steps = MF__ITER_DONE;
    return 0;
}

static int iter_next_in(mf_iter *it, struct mf__want *w, mf_record_info *info)
{
    for (unsigned tries = 0; tries < MF__MAX_TRIES; tries++) {
        int rc = iter_step(it, w, info);
        if (rc != MF__RETRY)
            return rc == MF__ITER_FOUND ? 1 : rc;
        backoff(tries);
    }
    return busy(it->mf, "iteration");
}

static int mf_iter_next_unguarded(mf_iter *it, mf_record_info *info)
{
    mf__clear_detail();
    if (!it || !it->mf || !info)
        return mf__fail(MF_EINVAL, "mf_iter_next: NULL argument");
    if (it->steps == MF__ITER_DONE)
        return 0;
    if (it->txn) {
        struct mf__want w = {&it->txn->c, it->txn->batch, it->txn};
        return iter_next_in(it, &w, info);
    }
    struct mf__ctx c;
    int rc = mf__enter(it->mf, &c);
    if (rc)
        return rc;
    struct mf__want w = {&c, MF__LATEST, NULL};
    rc = iter_next_in(it, &w, info);
    mf__leave(&c);
    return rc;
}

void mf_ls(mf_file *mf, FILE *out)
{
    mf_iter it;
    mf_record_info ri;
    mf_iter_init(&it, mf, NULL);
    fprintf(out, "%-32s %-16s %12s\n", "Name", "Class", "Size");
    int rc;
    while ((rc = mf_iter_next(&it, &ri)) == 1)
        fprintf(out, "%-32s %-16s %12llu\n", ri.name, ri.class_name,
                (unsigned long long)ri.size);
    if (rc < 0)
        fprintf(out, "(listing stopped: %s)\n", mf_errdetail());
}

/* ------------------------------------------------------------------------ */
/* Read views                                                                */
/* ------------------------------------------------------------------------ */

int mf_txn_begin(mf_file *mf, mf_txn **out)
{
    mf__clear_detail();
    if (!mf || !out)
        return mf__fail(MF_EINVAL, "mf_txn_begin: NULL argument");
    *out = NULL;
    mf_txn *t = calloc(1, sizeof *t);
    if (!t)
        return mf__fail(MF_ENOMEM, "%s: out of memory", mf->path);
    int rc;
    MF__GUARDED(rc, mf__enter(mf, &t->c));
    if (rc) {
        free(t);
        return rc;
    }
    t->mf = mf;
    t->batch = MF__LOAD_ACQ(&t->c.hdr->committed);
    /* Read after the batch: every name added by it or before has an
     * insertion number at most this. */
    t->orders = MF__LOAD_ACQ(&t->c.hdr->order_counter);
    *out = t;
    return 0;
}

uint64_t mf_txn_batch(const mf_txn *txn) { return txn ? txn->batch : 0; }

void mf_txn_end(mf_txn *txn)
{
    if (!txn)
        return;
    mf__leave(&txn->c);
    free(txn);
}

static int txn_check(mf_txn *txn, const char *name, size_t *len)
{
    mf__clear_detail();
    if (!txn || !name)
        return mf__fail(MF_EINVAL, "NULL argument");
    return mf__check_record_name_len(name, len);
}

int mf_txn_stat(mf_txn *txn, const char *name, mf_record_info *info)
{
    size_t len;
    int rc = txn_check(txn, name, &len);
    if (rc)
        return rc;
    if (!info)
        return mf__fail(MF_EINVAL, "mf_txn_stat: NULL info");
    struct mf__want w = {&txn->c, txn->batch, txn};
    MF__GUARDED(rc, stat_at(&w, name, len, info));
    return rc;
}

int mf_txn_get(mf_txn *txn, const char *name, void **obj, const mf_class **cls)
{
    size_t len;
    int rc = txn_check(txn, name, &len);
    if (rc)
        return rc;
    if (!obj)
        return mf__fail(MF_EINVAL, "mf_txn_get: NULL object pointer");
    *obj = NULL;
    struct mf__want w = {&txn->c, txn->batch, txn};
    return get_at(&w, name, len, obj, cls);
}

int mf_txn_get_raw_alloc(mf_txn *txn, const char *name, void **data,
                         mf_record_info *info)
{
    size_t len;
    int rc = txn_check(txn, name, &len);
    if (rc)
        return rc;
    if (!data)
        return mf__fail(MF_EINVAL, "mf_txn_get_raw_alloc: NULL data pointer");
    *data = NULL;
    mf_record_info local;
    struct mf__want w = {&txn->c, txn->batch, txn};
    MF__GUARDED(rc, raw_at(&w, name, len, NULL, 0, data, info ? info : &local));
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Public entry points                                                       */
/* ------------------------------------------------------------------------ */

/* mf_stat, mf_get_raw and mf_get_raw_alloc run whole inside one guarded
 * section: one jump buffer per call (a get of 64 bytes is about a
 * thousand instructions; each section costs some fifty). */
struct raw_call {
    mf_file *mf;
    const char *name;
    void *buf;             /* mf_get_raw */
    size_t cap;
    void **alloc;          /* mf_get_raw_alloc */
    mf_record_info *info;  /* NULL: mf_stat's info was NULL */
    bool stat;
};

static int raw_call(const struct raw_call *a, struct mf__ctx *c, volatile bool *entered)
{
    size_t len;
    int rc = begin_read(a->mf, a->name, c, &len, entered);
    if (rc)
        return rc;
    struct mf__want w = {c, MF__LATEST, NULL};
    if (a->stat)
        return a->info ? stat_at(&w, a->name, len, a->info)
                       : mf__fail(MF_EINVAL, "mf_stat: NULL info");
    mf_record_info local;
    return raw_at(&w, a->name, len, a->buf, a->cap, a->alloc, a->info ? a->info : &local);
}

static int run_raw_call(const struct raw_call *a)
{
    struct mf__ctx c;
    volatile bool entered = false;
    int rc;
    MF__GUARDED(rc, raw_call(a, &c, &entered));
    if (entered)
        mf__leave(&c);
    return rc;
}

int mf_stat(mf_file *mf, const char *name, mf_record_info *info)
{
    struct raw_call a = {mf, name, NULL, 0, NULL, info, true};
    return run_raw_call(&a);
}

int mf_get(mf_file *mf, const char *name, void **obj, const mf_class **cls)
{
    struct mf__ctx c;
    volatile bool entered = false;
    size_t len;
    int rc;
    MF__GUARDED(rc, begin_read(mf, name, &c, &len, &entered));
    if (rc) {
        if (entered)
            mf__leave(&c);
        return rc;
    }
    if (!obj) {
        rc = mf__fail(MF_EINVAL, "mf_get: NULL object pointer");
    } else {
        *obj = NULL;
        struct mf__want w = {&c, MF__LATEST, NULL};
        rc = get_at(&w, name, len, obj, cls);
    }
    mf__leave(&c);
    return rc;
}

int mf_get_raw(mf_file *mf, const char *name, void *buf, size_t cap,
               mf_record_info *info)
{
    struct raw_call a = {mf, name, buf, cap, NULL, info, false};
    return run_raw_call(&a);
}

int mf_get_raw_alloc(mf_file *mf, const char *name, void **data,
                     mf_record_info *info)
{
    if (!data)
        return mf__fail(MF_EINVAL, "mf_get_raw_alloc: NULL data pointer");
    *data = NULL;
    struct raw_call a = {mf, name, NULL, 0, data, info, false};
    return run_raw_call(&a);
}

int mf_iter_next(mf_iter *it, mf_record_info *info)
{
    int rc;
    MF__GUARDED(rc, mf_iter_next_unguarded(it, info));
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Snapshots                                                                 */
/* ------------------------------------------------------------------------ */

static void free_objects(void **objs, const mf_class **classes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mf_object_free(classes[i], objs[i]);
        objs[i] = NULL;
    }
}

int mf_get_snapshot(mf_file *mf, const char *const *names, size_t n, void **objs,
                    const mf_class **classes, unsigned *retries)
{
    mf__clear_detail();
    if (!mf || (n && (!names || !objs || !classes)))
        return mf__fail(MF_EINVAL, "mf_get_snapshot: NULL argument");
    if (retries)
        *retries = 0;
    for (unsigned tries = 0; tries < 10000; tries++) {
        mf_txn *txn;
        int rc = mf_txn_begin(mf, &txn);
        if (rc)
            return rc;
        size_t got = 0;
        while (got < n && (rc = mf_txn_get(txn, names[got], &objs[got],
                                           &classes[got])) == 0)
            got++;
        mf_txn_end(txn);
        if (rc == 0)
            return 0;
        free_objects(objs, classes, got);
        if (rc != MF_ESNAPSHOT)
            return rc;
        if (retries)
            (*retries)++;
        backoff(tries);
    }
    return mf__fail(MF_EBUSY, "%s: writers replaced these records on every one "
                    "of 10000 snapshot tries", mf->path);
}
