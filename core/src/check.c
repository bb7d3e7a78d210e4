/*
 * check.c - verify everything a map file holds, without changing it.
 *
 * The check reads like any reader, so it may run while writers work. It
 * notes the publish sequence first and compares at the end; if a writer
 * changed something meanwhile, the findings are thrown away and the check
 * runs again, so it only ever reports problems of one consistent state.
 */
#include "file.h"

#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct findings {
    char **msgs;
    size_t n, cap;
    uint64_t *live;
    size_t nlive, cap_live;
    uint64_t *recs;
    size_t nrecs, cap_recs;
};

static void note(struct findings *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note(struct findings *f, const char *fmt, ...)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        char **m = realloc(f->msgs, cap * sizeof *m);
        if (!m)
            return;
        f->msgs = m;
        f->cap = cap;
    }
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    f->msgs[f->n] = strdup(buf);
    if (f->msgs[f->n])
        f->n++;
}

static void heap_note(void *ud, const char *msg) { note(ud, "%s", msg); }

static int push(uint64_t **arr, size_t *n, size_t *cap, uint64_t v)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        uint64_t *a = realloc(*arr, c * sizeof *a);
        if (!a)
            return MF_ENOMEM;
        *arr = a;
        *cap = c;
    }
    (*arr)[(*n)++] = v;
    return 0;
}

static void findings_clear(struct findings *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->msgs[i]);
    f->n = 0;
    f->nlive = 0;
    f->nrecs = 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void check_header(struct mf__ctx *c, struct findings *f)
{
    const struct mf__header *h = c->hdr;
    struct stat st;
    if (fstat(c->inc->fd, &st) == 0 && (uint64_t)st.st_size < h->heap.heap_end)
        note(f, "header: heap end %llu is beyond the file size %lld (truncated)",
             (unsigned long long)h->heap.heap_end, (long long)st.st_size);
    if (MF__LOAD(&h->capacity) > h->heap.heap_end)
        note(f, "header: capacity %llu exceeds the heap end %llu",
             (unsigned long long)h->capacity, (unsigned long long)h->heap.heap_end);
    if (h->intent_op != MF__INTENT_NONE || (MF__LOAD(&h->flags) & MF__HF_DIRTY))
        note(f, "header: a writer died in the middle of a change; the next "
             "writer to open the file repairs it");
    if (h->max_size < h->heap.heap_end)
        note(f, "header: maximum size %llu is below the current size %llu",
             (unsigned long long)h->max_size, (unsigned long long)h->heap.heap_end);
}

/* Walk the record list: links, names, payloads, checksums. */
static void check_records(struct mf__ctx *c, struct findings *f)
{
    const struct mf__header *h = c->hdr;
    uint64_t bound = h->heap.heap_end / sizeof(struct mf__record) + 1;
    uint64_t off = MF__LOAD_ACQ(&h->first_rec), prev = 0, last_order = 0, n = 0;
    for (; off; n++) {
        if (n >= bound) {
            note(f, "directory: the record list does not end (a cycle)");
            break;
        }
        const struct mf__record *r = mf__record_at(c->m, off);
        if (!r) {
            note(f, "directory: record link %llu points outside the heap or at "
                 "garbage", (unsigned long long)off);
            break;
        }
        const char *name = r->strings;
        uint64_t rs = MF__LOAD_ACQ(&r->stamp);
        if (rs == 0 || (rs & 1))
            note(f, "record '%s': linked but not live", name);
        if (r->prev != prev)
            note(f, "record '%s': back link %llu should be %llu", name,
                 (unsigned long long)r->prev, (unsigned long long)prev);
        if (r->order_seq <= last_order) {
            note(f, "record '%s': out of insertion order (a cycle?)", name);
            break;
        }
        last_order = r->order_seq;
        if (mf__check_record_name(name) != 0)
            note(f, "record at %llu: invalid name", (unsigned long long)off);
        if (mf__check_class_name(name + r->name_len + 1) != 0)
            note(f, "record '%s': invalid class name", name);
        if (r->hash != mf__hash_name(name, r->name_len))
            note(f, "record '%s': stored name hash is wrong", name);
        push(&f->live, &f->nlive, &f->cap_live, off);
        push(&f->recs, &f->nrecs, &f->cap_recs, off);
        struct mf__view v;
        int vr = mf__view_record(c, off, rs, &v);
        uint64_t prev_pay = MF__LOAD(&r->prev_payload);
        if (prev_pay) {
            const struct mf__payload *pp =
                mf__in_map(c->m->len, prev_pay, sizeof *pp) && prev_pay % 16 == 0
                    ? (const struct mf__payload *)(c->m->base + prev_pay)
                    : NULL;
            if (!pp || MF__LOAD(&pp->record) != off)
                note(f, "record '%s': previous payload link %llu is invalid", name,
                     (unsigned long long)prev_pay);
            else
                push(&f->live, &f->nlive, &f->cap_live, prev_pay);
        }
        if (vr < 0) {
            note(f, "%s", mf_errdetail());
        } else if (vr == 0) {
            push(&f->live, &f->nlive, &f->cap_live, v.payload);
            uint64_t ck = mf__checksum(v.data, v.size);
            if (ck != MF__LOAD(&v.p->checksum))
                note(f, "record '%s': checksum mismatch (stored %016llx, "
                     "computed %016llx)", name,
                     (unsigned long long)MF__LOAD(&v.p->checksum),
                     (unsigned long long)ck);
        } else {
            note(f, "record '%s': payload is not sealed", name);
        }
        prev = off;
        off = MF__LOAD_ACQ(&r->next);
    }
    if (h->last_rec != prev)
        note(f, "directory: last record is %llu, the list ends at %llu",
             (unsigned long long)h->last_rec, (unsigned long long)prev);
    if (MF__LOAD(&h->record_count) != n)
        note(f, "directory: record count says %llu, the list has %llu",
             (unsigned long long)MF__LOAD(&h->record_count), (unsigned long long)n);
}

/* Every listed record is in the index exactly once, and nothing else is. */
static void check_index(struct mf__ctx *c, struct findings *f)
{
    uint64_t idx = MF__LOAD_ACQ(&c->hdr->index_off);
    const struct mf__index *ix = mf__index_at(c->m, idx);
    if (!ix) {
        note(f, "index: the hash index at %llu is invalid", (unsigned long long)idx);
        return;
    }
    push(&f->live, &f->nlive, &f->cap_live, idx);
    if (f->nrecs)
        qsort(f->recs, f->nrecs, sizeof *f->recs, cmp_u64);
    uint64_t used = 0, tombs = 0;
    unsigned char *seen = calloc(f->nrecs ? f->nrecs : 1, 1);
    for (uint64_t i = 0; i < ix->nslots; i++) {
        uint64_t r = MF__LOAD(&ix->slots[i].rec);
        if (r == MF__SLOT_EMPTY)
            continue;
        if (r == MF__SLOT_TOMB) {
            tombs++;
            continue;
        }
        used++;
        uint64_t *hit = f->nrecs ? bsearch(&r, f->recs, f->nrecs, sizeof *f->recs,
                                           cmp_u64)
                                 : NULL;
        if (!hit) {
            note(f, "index: slot %llu points at %llu, which is not a listed record",
                 (unsigned long long)i, (unsigned long long)r);
            continue;
        }
        size_t k = (size_t)(hit - f->recs);
        if (seen && seen[k]++)
            note(f, "index: record at %llu appears twice", (unsigned long long)r);
        const struct mf__record *rec = mf__record_at(c->m, r);
        if (rec && MF__LOAD(&ix->slots[i].hash) != rec->hash)
            note(f, "index: slot %llu has the wrong hash for '%s'",
                 (unsigned long long)i, rec->strings);
    }
    for (size_t k = 0; seen && k < f->nrecs; k++)
        if (!seen[k]) {
            const struct mf__record *rec = mf__record_at(c->m, f->recs[k]);
            note(f, "index: record '%s' is missing from the index",
                 rec ? rec->strings : "?");
        }
    free(seen);
    if (used != ix->used || tombs != ix->tombstones)
        note(f, "index: counts say %llu used and %llu tombstones, slots hold "
             "%llu and %llu", (unsigned long long)ix->used,
             (unsigned long long)ix->tombstones, (unsigned long long)used,
             (unsigned long long)tombs);
}

static int mf_check_unguarded(mf_file *mf, mf_check_report_fn report, void *ud, unsigned *problems)
{
    mf__clear_detail();
    if (!mf)
        return mf__fail(MF_EINVAL, "mf_check: NULL handle");
    struct findings f = {0};
    int rc = MF_EBUSY;
    for (int attempt = 0; attempt < 500; attempt++) {
        struct mf__ctx c;
        if ((rc = mf__enter(mf, &c)))
            break;
        findings_clear(&f);
        /* A writer between taking the lock and committing (staging) has
         * allocated blocks nothing reaches yet: wait for a quiet moment. */
        bool busy = mf__writer_state(c.hdr, mf->writable) == MF_WRITER_HELD &&
                    MF__LOAD(&c.hdr->writer_pid) != 0;
        uint64_t seq = MF__LOAD_ACQ(&c.hdr->pub_seq);
        check_header(&c, &f);
        check_records(&c, &f);
        check_index(&c, &f);
        if (f.nlive)
            qsort(f.live, f.nlive, sizeof *f.live, cmp_u64);
        struct mf__heap hv = mf__heap_view(&c);
        mf__heap_check(&hv, f.live, f.nlive, heap_note, &f);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        uint64_t now = MF__LOAD(&c.hdr->pub_seq);
        /* An odd sequence that stays odd is a writer mid-publish; if that
         * writer is dead, the file is what it is and the findings stand. */
        busy = busy || (MF__LOAD(&c.hdr->writer_pid) != 0 &&
                        mf__writer_state(c.hdr, false) == MF_WRITER_HELD);
        if (now == seq && (f.n == 0 || !busy)) {
            rc = 0;
            break;
        }
        sched_yield();
        rc = mf__fail(MF_EBUSY, "%s: the file kept changing during the check",
                      mf->path);
    }
    if (rc == 0) {
        for (size_t i = 0; i < f.n; i++)
            if (report)
                report(ud, f.msgs[i]);
        if (problems)
            *problems = (unsigned)f.n;
    }
    findings_clear(&f);
    free(f.msgs);
    free(f.live);
    free(f.recs);
    return rc;
}

int mf_check(mf_file *mf, mf_check_report_fn report, void *ud, unsigned *problems)
{
    int rc;
    MF__GUARDED(rc, mf_check_unguarded(mf, report, ud, problems));
    return rc;
}
