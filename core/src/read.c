/*
 * read.c - the consumer side: get, stat, iterate, snapshot. Lock-free.
 *
 * A reader finds the record, takes the payload's stamp, checksums and
 * decodes straight from the map, then checks that neither the payload's nor
 * the record's stamp moved. If one did, a writer replaced the payload
 * meanwhile: the result is thrown away and the read starts again. If nothing
 * moved and the data is still wrong, the file is corrupt and that is the
 * answer. The map is never written.
 */
#include "file.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

#define MF__RETRY 1
#define MF__MAX_TRIES 100000

static void backoff(unsigned tries)
{
    if (tries > 16)
        sched_yield();
}

int mf__view_record(struct mf__ctx *c, uint64_t rec, uint64_t rs,
                    struct mf__view *v)
{
    const struct mf__record *r = mf__record_at(c->m, rec);
    if (!r)
        return MF__RETRY;
    uint64_t pay = MF__LOAD_ACQ(&r->payload);
    if (pay >= c->m->len) {
        int rc = mf__refresh(c);
        if (rc < 0)
            return rc;
        r = mf__record_at(c->m, rec);
        if (!r)
            return MF__RETRY;
    }
    v->rec = rec;
    v->rec_stamp = rs;
    v->r = r;
    v->payload = pay;
    v->p = NULL;
    /* Read the lengths once, as validated: the block may be reused under
     * us, and a re-read could send a copy past the name buffers. */
    v->name_len = MF__LOAD(&r->name_len);
    v->class_len = MF__LOAD(&r->class_len);
    if (v->name_len > MF_NAME_MAX || v->class_len > MF_CLASS_NAME_MAX ||
        !mf__in_map(c->m->len, rec + sizeof *r, (uint64_t)v->name_len + 1 + v->class_len + 1))
        return MF__RETRY;
    const char *why = NULL;
    uint64_t hend = c->m->len;
    if (pay % MF__HEAP_ALIGN || pay < MF__HEADER_SIZE ||
        !mf__in_map(c->m->len, pay, sizeof(struct mf__payload))) {
        why = "payload offset is outside the heap";
    } else {
        const struct mf__payload *p = (const struct mf__payload *)(c->m->base + pay);
        v->p = p;
        v->payload_stamp = MF__LOAD_ACQ(&p->stamp);
        if (v->payload_stamp & 1) {
            /* Retired: a newer payload is published, which a writer does
             * before retiring this one. If the record still points here,
             * the file is corrupt. */
            if (MF__LOAD_ACQ(&r->payload) == pay && MF__LOAD(&r->stamp) == rs)
                return mf__fail(MF_ECORRUPT, "%s: record '%s': its payload is "
                                "not sealed", c->mf->path, r->strings);
            return MF__RETRY;
        }
        /* The stamp only vouches for this block if the record still points
         * at it: otherwise the block may already serve another record. */
        if (MF__LOAD_ACQ(&r->payload) != pay)
            return MF__RETRY;
        v->size = MF__LOAD(&p->size);
        uint64_t usable = mf__heap_usable(c->m->base, c->m->len,
                                          c->hdr->heap.heap_start, hend, pay);
        v->data = p->data;
        if (usable < sizeof *p || v->size > usable - sizeof *p)
            why = "payload size exceeds its heap block";
        else if (MF__LOAD(&p->record) != rec)
            why = "payload belongs to another record";
    }
    if (why) {
        if (!mf__view_still_valid(v))
            return MF__RETRY;
        /* A block straddling the end of our mapping: the file grew. */
        int rc = mf__refresh(c);
        if (rc < 0)
            return rc;
        if (rc == 1)
            return MF__RETRY;
        return mf__fail(MF_ECORRUPT, "%s: record '%s': %s", c->mf->path,
                        r->strings, why);
    }
    return 0;
}

bool mf__view_still_valid(const struct mf__view *v)
{
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return MF__LOAD(&v->r->stamp) == v->rec_stamp &&
           (!v->p || MF__LOAD(&v->p->stamp) == v->payload_stamp);
}

void mf__fill_info(const struct mf__view *v, mf_record_info *info)
{
    const struct mf__record *r = v->r;
    uint32_t nl = v->name_len;
    memcpy(info->name, r->strings, nl);
    info->name[nl] = '\0';
    uint32_t cl = v->class_len;
    memcpy(info->class_name, r->strings + nl + 1, cl);
    info->class_name[cl] = '\0';
    const struct mf__payload *p = v->p;
    info->class_version = MF__LOAD(&p->class_version);
    info->size = v->size;
    info->checksum = MF__LOAD(&p->checksum);
    info->generation = v->payload_stamp;
    info->update_count = MF__LOAD(&p->update_count);
    info->update_time_ns = MF__LOAD(&p->time_ns);
    info->batch = MF__LOAD(&p->batch);
}

/* Find and view a record by name, retrying while writers move it. */
static int view_by_name(struct mf__ctx *c, const char *name, struct mf__view *v,
                        unsigned *tries)
{
    size_t len = strlen(name);
    uint64_t hash = mf__hash_name(name, len);
    for (; *tries < MF__MAX_TRIES; (*tries)++) {
        uint64_t rec, rs;
        int rc = mf__lookup(c, name, len, hash, &rec, &rs);
        if (rc)
            return rc;
        rc = mf__view_record(c, rec, rs, v);
        if (rc != MF__RETRY)
            return rc;
        backoff(*tries);
    }
    return mf__fail(MF_EBUSY, "%s: record '%s' kept changing while read",
                    c->mf->path, name);
}

static int begin_read(mf_file *mf, const char *name, struct mf__ctx *c)
{
    mf__clear_detail();
    if (!mf || !name)
        return mf__fail(MF_EINVAL, "NULL argument");
    int rc = mf__check_record_name(name);
    return rc ? rc : mf__enter(mf, c);
}

static int mf_stat_unguarded(mf_file *mf, const char *name, mf_record_info *info)
{
    struct mf__ctx c;
    int rc = begin_read(mf, name, &c);
    if (rc)
        return rc;
    if (!info)
        return mf__fail(MF_EINVAL, "mf_stat: NULL info");
    for (unsigned tries = 0; tries < MF__MAX_TRIES; tries++) {
        struct mf__view v;
        if ((rc = view_by_name(&c, name, &v, &tries)))
            return rc;
        mf__fill_info(&v, info);
        if (mf__view_still_valid(&v))
            return 0;
        backoff(tries);
    }
    return mf__fail(MF_EBUSY, "%s: record '%s' kept changing", mf->path, name);
}

static int checksum_error(struct mf__ctx *c, const char *name, uint64_t stored,
                          uint64_t computed)
{
    return mf__fail(MF_ECHECKSUM, "%s: record '%s': checksum mismatch (stored "
                    "%016llx, computed %016llx): the payload is corrupt",
                    c->mf->path, name, (unsigned long long)stored,
                    (unsigned long long)computed);
}

static const char *wire_error_name(int e)
{
    switch (e) {
    case MF_WIRE_TRUNCATED:
        return "payload truncated";
    case MF_WIRE_MALFORMED:
        return "malformed value";
    case MF_WIRE_NOMEM:
        return "out of memory";
    case MF_WIRE_TOO_LARGE:
        return "length exceeds the payload";
    case MF_WIRE_CODEC:
        return "codec rejected the content";
    default:
        return "stream_in returned no object";
    }
}

static int mf_get_unguarded(mf_file *mf, const char *name, void **obj, const mf_class **cls_out)
{
    struct mf__ctx c;
    int rc = begin_read(mf, name, &c);
    if (rc)
        return rc;
    if (!obj)
        return mf__fail(MF_EINVAL, "mf_get: NULL object pointer");
    *obj = NULL;
    for (unsigned tries = 0; tries < MF__MAX_TRIES; tries++) {
        struct mf__view v;
        if ((rc = view_by_name(&c, name, &v, &tries)))
            return rc;
        mf_record_info info;
        mf__fill_info(&v, &info);
        bool verify = !(mf->flags & MF_OPEN_NO_VERIFY);
        uint64_t ck = verify ? mf__checksum(v.data, v.size) : info.checksum;
        if (!mf__view_still_valid(&v)) {
            backoff(tries);
            continue;
        }
        if (ck != info.checksum)
            return checksum_error(&c, name, info.checksum, ck);
        const mf_class *cls;
        if ((rc = mf_registry_find(mf->reg, info.class_name, &cls))) {
            char why[768];
            snprintf(why, sizeof why, "%s", mf_errdetail());
            /* Writers only store valid class names: a bad one is damage. */
            if (rc == MF_ENAME)
                rc = MF_ECORRUPT;
            return mf__fail(rc, "%s: record '%s': %s", mf->path, name, why);
        }
        if (info.class_version > cls->version || info.class_version < cls->min_version)
            return mf__fail(MF_ECLASSVERSION,
                            "%s: record '%s' of class '%s' was written with "
                            "version %u, but the codec in %s reads versions "
                            "%u to %u", mf->path, name, info.class_name,
                            info.class_version,
                            mf__registry_class_origin(mf->reg, cls),
                            cls->min_version, cls->version);
        mf_reader r = mf_reader_make(v.data, v.size);
        void *o = cls->stream_in(&r, info.class_version);
        if (!mf__view_still_valid(&v)) {
            if (o)
                cls->destroy(o);
            backoff(tries);
            continue;
        }
        if (!o || r.err) {
            if (o)
                cls->destroy(o);
            return mf__fail(MF_ECODEC, "%s: record '%s' of class '%s' (version "
                            "%u, %llu bytes) could not be decoded by %s: %s "
                            "at byte %zu", mf->path, name, info.class_name,
                            info.class_version, (unsigned long long)v.size,
                            mf__registry_class_origin(mf->reg, cls),
                            wire_error_name(r.err), r.pos);
        }
        *obj = o;
        if (cls_out)
            *cls_out = cls;
        return 0;
    }
    return mf__fail(MF_EBUSY, "%s: record '%s' kept changing while read",
                    mf->path, name);
}

static int mf_get_raw_unguarded(mf_file *mf, const char *name, void *buf, size_t cap,
               mf_record_info *info)
{
    struct mf__ctx c;
    int rc = begin_read(mf, name, &c);
    if (rc)
        return rc;
    mf_record_info local;
    if (!info)
        info = &local;
    for (unsigned tries = 0; tries < MF__MAX_TRIES; tries++) {
        struct mf__view v;
        if ((rc = view_by_name(&c, name, &v, &tries)))
            return rc;
        mf__fill_info(&v, info);
        if (v.size > cap || (!buf && v.size)) {
            if (!mf__view_still_valid(&v))
                continue;
            return mf__fail(MF_ETOOSMALL, "%s: record '%s' needs %llu bytes, "
                            "buffer has %zu", mf->path, name,
                            (unsigned long long)v.size, cap);
        }
        if (v.size)
            memcpy(buf, v.data, v.size);
        if (!mf__view_still_valid(&v)) {
            backoff(tries);
            continue;
        }
        uint64_t ck = (mf->flags & MF_OPEN_NO_VERIFY) ? info->checksum
                                                     : mf__checksum(buf, v.size);
        if (ck != info->checksum)
            return checksum_error(&c, name, info->checksum, ck);
        return 0;
    }
    return mf__fail(MF_EBUSY, "%s: record '%s' kept changing while read",
                    mf->path, name);
}

int mf_get_raw_alloc(mf_file *mf, const char *name, void **data,
                     mf_record_info *info)
{
    if (!data)
        return mf__fail(MF_EINVAL, "mf_get_raw_alloc: NULL data pointer");
    *data = NULL;
    mf_record_info local;
    if (!info)
        info = &local;
    int rc = mf_stat(mf, name, info);
    for (unsigned tries = 0; rc == 0 && tries < 1000; tries++) {
        size_t cap = (size_t)info->size;
        void *buf = malloc(cap ? cap : 1);
        if (!buf)
            return mf__fail(MF_ENOMEM, "%s: out of memory for %zu bytes",
                            mf->path, cap);
        rc = mf_get_raw(mf, name, buf, cap, info);
        if (rc == 0) {
            *data = buf;
            return 0;
        }
        free(buf);
        if (rc == MF_ETOOSMALL)
            rc = 0; /* it grew meanwhile: info->size has the new size */
    }
    return rc ? rc : mf__fail(MF_EBUSY, "%s: record '%s' kept growing", mf->path, name);
}

/* ------------------------------------------------------------------------ */
/* Iteration                                                                 */
/* ------------------------------------------------------------------------ */

#define MF__ITER_DONE UINT64_MAX

void mf_iter_init(mf_iter *it, mf_file *mf, const char *prefix)
{
    memset(it, 0, sizeof *it);
    it->mf = mf;
    if (prefix)
        snprintf(it->prefix, sizeof it->prefix, "%s", prefix);
}

static int mf_iter_next_unguarded(mf_iter *it, mf_record_info *info)
{
    mf__clear_detail();
    if (!it || !it->mf || !info)
        return mf__fail(MF_EINVAL, "mf_iter_next: NULL argument");
    if (it->steps == MF__ITER_DONE)
        return 0;
    struct mf__ctx c;
    int rc = mf__enter(it->mf, &c);
    if (rc)
        return rc;
    size_t plen = strlen(it->prefix);
    uint64_t bound = c.m->len / sizeof(struct mf__record) + 2;
    unsigned restarts = 0;
    uint64_t seq = MF__LOAD_ACQ(&c.hdr->pub_seq);
    uint64_t off = it->steps ? it->next_off : MF__LOAD_ACQ(&c.hdr->first_rec);
    uint64_t expect = it->steps ? it->next_stamp : 0;
    for (uint64_t visits = 0; visits < bound * 4; visits++) {
        if (off == 0) {
            it->steps = MF__ITER_DONE;
            return 0;
        }
        if (off >= c.m->len && (rc = mf__refresh(&c)) < 0)
            return rc;
        const struct mf__record *r = mf__record_at(c.m, off);
        uint64_t rs = r ? MF__LOAD_ACQ(&r->stamp) : 0;
        struct mf__view v;
        int vr = MF__RETRY;
        if (r && rs && !(rs & 1) && (!expect || rs == expect))
            vr = mf__view_record(&c, off, rs, &v);
        if (vr < 0)
            return vr;
        if (vr == 0)
            mf__fill_info(&v, info);
        uint64_t next = r ? MF__LOAD_ACQ(&r->next) : 0;
        uint64_t order = r ? MF__LOAD(&r->order_seq) : 0;
        if ((vr != 0 || !mf__view_still_valid(&v)) && visits == 0 && expect) {
            /* The record saved by the previous call was removed since:
             * start again from the head, skipping what was returned. */
            off = MF__LOAD_ACQ(&c.hdr->first_rec);
            expect = 0;
            continue;
        }
        if (vr != 0 || !mf__view_still_valid(&v)) {
            /* The record went away under us. Start again from the head and
             * skip what was already returned (order_seq only grows along the
             * list). If no writer changed anything, the list is broken. */
            uint64_t now = MF__LOAD_ACQ(&c.hdr->pub_seq);
            if (now == seq && (!(now & 1) ||
                               mf__writer_state(c.hdr, false) != MF_WRITER_HELD))
                return mf__fail(MF_ECORRUPT, "%s: the record list is broken at "
                                "offset %llu", it->mf->path,
                                (unsigned long long)off);
            if (++restarts > 1000)
                return mf__fail(MF_EBUSY, "%s: records kept changing during "
                                "iteration", it->mf->path);
            backoff(restarts);
            seq = now;
            off = MF__LOAD_ACQ(&c.hdr->first_rec);
            expect = 0;
            continue;
        }
        expect = 0;
        if (order <= it->last_order ||
            strncmp(info->name, it->prefix, plen) != 0) {
            off = next;
            continue;
        }
        it->last_order = order;
        it->steps++;
        it->next_off = next;
        const struct mf__record *n = next ? mf__record_at(c.m, next) : NULL;
        it->next_stamp = n ? MF__LOAD_ACQ(&n->stamp) : 0;
        if (!next)
            it->next_stamp = 0;
        return 1;
    }
    return mf__fail(MF_ECORRUPT, "%s: the record list does not end (a cycle?)",
                    it->mf->path);
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
/* Snapshots                                                                 */
/* ------------------------------------------------------------------------ */

static int mf_get_snapshot_unguarded(mf_file *mf, const char *const *names, size_t n, void **objs,
                    const mf_class **classes, unsigned *retries)
{
    mf__clear_detail();
    if (!mf || (n && (!names || !objs || !classes)))
        return mf__fail(MF_EINVAL, "mf_get_snapshot: NULL argument");
    if (retries)
        *retries = 0;
    for (unsigned tries = 0; tries < 10000; tries++) {
        struct mf__ctx c;
        int rc = mf__enter(mf, &c);
        if (rc)
            return rc;
        uint64_t s1 = MF__LOAD_ACQ(&c.hdr->pub_seq);
        if (!(s1 & 1)) {
            size_t got = 0;
            for (; got < n && rc == 0; got++)
                rc = mf_get(mf, names[got], &objs[got], &classes[got]);
            if (rc)
                got--;
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            bool same = MF__LOAD(&c.hdr->pub_seq) == s1 &&
                        atomic_load(&mf->inc) == c.inc;
            if (rc == 0 && same)
                return 0;
            for (size_t i = 0; i < got; i++) {
                mf_object_free(classes[i], objs[i]);
                objs[i] = NULL;
            }
            if (rc && same)
                return rc;
        }
        if (retries)
            (*retries)++;
        backoff(tries);
    }
    return mf__fail(MF_EBUSY, "%s: no quiet moment for a snapshot after 10000 "
                    "tries", mf->path);
}

int mf_stat(mf_file *mf, const char *name, mf_record_info *info)
{
    int rc;
    MF__GUARDED(rc, mf_stat_unguarded(mf, name, info));
    return rc;
}

int mf_get(mf_file *mf, const char *name, void **obj, const mf_class **cls_out)
{
    int rc;
    MF__GUARDED(rc, mf_get_unguarded(mf, name, obj, cls_out));
    return rc;
}

int mf_get_raw(mf_file *mf, const char *name, void *buf, size_t cap,
               mf_record_info *info)
{
    int rc;
    MF__GUARDED(rc, mf_get_raw_unguarded(mf, name, buf, cap, info));
    return rc;
}

int mf_iter_next(mf_iter *it, mf_record_info *info)
{
    int rc;
    MF__GUARDED(rc, mf_iter_next_unguarded(it, info));
    return rc;
}

int mf_get_snapshot(mf_file *mf, const char *const *names, size_t n, void **objs,
                    const mf_class **classes, unsigned *retries)
{
    int rc;
    MF__GUARDED(rc, mf_get_snapshot_unguarded(mf, names, n, objs, classes, retries));
    return rc;
}
