/*
 * check.c - verify everything a map file holds, without changing it.
 *
 * The check reads like any reader and is safe beside live writers. Each
 * record is checked inside its own read window (version.c), and a finding
 * is kept only if the window was stable: never a state a writer passes
 * through. The heap and the cross-checks need the whole file still: they
 * run while header.write_seq shows no writer holding the lock, and their
 * findings count only if write_seq did not move meanwhile. On a writable
 * handle the check simply takes the writer lock.
 */
#include "file.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct findings {
    char **msgs;
    size_t n, cap;
    uint64_t *live;          /* blocks something reaches */
    size_t nlive, cap_live;
    struct seen {
        uint64_t hash, slot;
    } *visible;              /* visible records, for the duplicate check */
    size_t nvis, cap_vis;
    uint64_t slots_used;     /* non-empty slots met through the order array */
    bool oom;
};

static void note(struct findings *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note(struct findings *f, const char *fmt, ...)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        char **m = realloc(f->msgs, cap * sizeof *m);
        if (!m) {
            f->oom = true;
            return;
        }
        f->msgs = m;
        f->cap = cap;
    }
    char buf[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if ((f->msgs[f->n] = strdup(buf)))
        f->n++;
    else
        f->oom = true;
}

static void heap_note(void *ud, const char *msg) { note(ud, "%s", msg); }

static void grow(void **arr, size_t *cap, size_t n, size_t elem, bool *oom)
{
    if (n < *cap)
        return;
    size_t c = *cap ? *cap * 2 : 256;
    void *a = realloc(*arr, c * elem);
    if (!a) {
        *oom = true;
        return;
    }
    *arr = a;
    *cap = c;
}

static void live_add(struct findings *f, uint64_t off)
{
    grow((void **)&f->live, &f->cap_live, f->nlive, sizeof *f->live, &f->oom);
    if (f->nlive < f->cap_live)
        f->live[f->nlive++] = off;
}

static void findings_clear(struct findings *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->msgs[i]);
    f->n = f->nlive = f->nvis = 0;
    f->slots_used = 0;
}

static void findings_free(struct findings *f)
{
    findings_clear(f);
    free(f->msgs);
    free(f->live);
    free(f->visible);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* ------------------------------------------------------------------------ */
/* Records                                                                   */
/* ------------------------------------------------------------------------ */

/* A lookup of this hash probes from its home slot to the first empty one:
 * is `slot` on that path? */
static bool slot_misplaced(const struct mf__table *t, uint64_t slot, uint64_t hash)
{
    for (uint64_t i = mf__slot_home(hash, t->nslots); i != slot;
         i = mf__slot_next(i, t->nslots))
        if (mf__slot_load(t, i) == MF__SLOT_EMPTY)
            return true;
    return false;
}

/* One record's slot: its versions, names, hash and checksum. The slot
 * word comes from the index, which a reclaim may free too, so the read
 * window is the one that began with the index (t was read in it): findings
 * go to f only when that window is still stable. Returns MF__RETRY when it
 * is not (then the index must be read again). */
static int check_slot_once(struct mf__ctx *c, const struct mf__table *t,
                           uint64_t slot, struct findings *f)
{
    struct findings mine = {0};
    bool visible = false;
    c->committed = 0;
    mf__clear_detail();
    uint64_t word = mf__slot_load(t, slot);
    if (!mf__slot_used(word))
        return 0;
    struct mf__version v;
    int rc = mf__version_at(c, mf__slot_off(word), &v);
    uint64_t hash = 0;
    if (rc == MF__RETRY)
        return rc;
    if (rc) {
        note(&mine, "slot %llu: %s", (unsigned long long)slot, mf_errdetail());
    } else {
        char name[MF_NAME_MAX + 1];
        memcpy(name, v.name, v.name_len);
        name[v.name_len] = '\0';
        live_add(&mine, v.off);
        if (mf__check_record_name(name) != 0)
            note(&mine, "slot %llu: invalid record name", (unsigned long long)slot);
        if (mf__check_class_name(v.class_name) != 0)
            note(&mine, "record '%s': invalid class name", name);
        hash = mf__hash_name(v.name, v.name_len);
        if (!mf__slot_tag_is(word, hash))
            note(&mine, "record '%s': the index holds the wrong hash for it", name);
        if (slot_misplaced(t, slot, hash))
            note(&mine, "record '%s': its slot %llu is not on its probe path",
                 name, (unsigned long long)slot);
        for (uint64_t n = v.next; n && !(n & MF__NEXT_REMOVED);) {
            struct mf__version s;
            if (mf__version_at(c, n, &s) != 0)
                break; /* resolve below says what is wrong */
            live_add(&mine, n);
            n = mine.nlive > 16 ? 0 : s.next;
        }
        struct mf__version r;
        rc = mf__resolve(c, word, MF__LATEST, &r);
        if (rc == MF__RETRY)
            return rc;
        if (rc < 0) {
            note(&mine, "record '%s': %s", name, mf_errdetail());
        } else if (rc == 0) {
            if (r.batch > mf__committed(c))
                note(&mine, "record '%s': its current version is from batch %llu, "
                     "which is not committed", name, (unsigned long long)r.batch);
            uint64_t ck = mf__checksum(r.data, r.size);
            if (ck != r.checksum)
                note(&mine, "record '%s': checksum mismatch (stored %016llx, "
                     "computed %016llx)", name, (unsigned long long)r.checksum,
                     (unsigned long long)ck);
            visible = true;
        }
    }
    if (!mf__read_stable(c)) {
        findings_free(&mine);
        return MF__RETRY;
    }
    for (size_t i = 0; i < mine.n; i++)
        note(f, "%s", mine.msgs[i]);
    for (size_t i = 0; i < mine.nlive; i++)
        live_add(f, mine.live[i]);
    if (visible) {
        grow((void **)&f->visible, &f->cap_vis, f->nvis, sizeof *f->visible, &f->oom);
        if (f->nvis < f->cap_vis)
            f->visible[f->nvis++] = (struct seen){hash, slot};
    }
    f->oom |= mine.oom;
    findings_free(&mine);
    return 0;
}

/* check_entry's answers besides 0 (checked) and MF__RETRY (1): distinct
 * from MF__RETRY, or a reclaim would read as the end of the walk. */
#define ENTRY_PAST_END 2  /* i is past the order; *t is the index, valid */
#define ENTRY_NO_INDEX 3  /* the index itself is invalid (noted); *t is not */

/* Order entry i, in a window of its own that begins with a fresh read of
 * the index (a rehash may have freed the one read before): 0 checked,
 * ENTRY_PAST_END, MF__RETRY when a reclaim ended the window, or
 * ENTRY_NO_INDEX. */
static int check_entry(struct mf__ctx *c, struct mf__table *t, uint64_t i,
                       struct findings *f)
{
    mf__read_begin(c);
    int rc = mf__table(c, t);
    if (rc == MF__RETRY)
        return rc;
    if (rc) {
        note(f, "%s", mf_errdetail());
        return ENTRY_NO_INDEX;
    }
    uint64_t len = MF__LOAD_ACQ(&t->ix->order_len);
    if (len > t->order_cap) {
        if (!mf__read_stable(c))
            return MF__RETRY;
        if (i == 0)
            note(f, "index: order length %llu exceeds its %llu entries",
                 (unsigned long long)len, (unsigned long long)t->order_cap);
        len = t->order_cap;
    }
    if (i >= len)
        return ENTRY_PAST_END;
    uint32_t slot = MF__LOAD(&t->order[i]);
    if (slot >= t->nslots) {
        if (!mf__read_stable(c))
            return MF__RETRY;
        note(f, "index: order entry %llu names slot %u of %llu",
             (unsigned long long)i, slot, (unsigned long long)t->nslots);
        return 0;
    }
    if (mf__check_entry_hook)
        mf__check_entry_hook(i);
    bool used = mf__slot_load(t, slot) != MF__SLOT_EMPTY;
    rc = check_slot_once(c, t, slot, f);
    if (rc == 0)
        f->slots_used += used;
    return rc;
}

/* Walk the insertion order: every entry names a used slot, once. Beside a
 * writer each entry is checked in a stable window, so nothing is reported
 * from freed memory. True when the walk reached the end with *t holding
 * the index it read last, validated. False when the index was invalid, or
 * when a reclaim outran all 1,000 reads of one entry (a writer that never
 * lets a window last: the rest of the walk is given up, nothing wrong is
 * reported); then *t may hold whatever a failed read left in it. */
static bool check_records(struct mf__ctx *c, struct mf__table *t, struct findings *f)
{
    for (uint64_t i = 0; i <= UINT32_MAX; i++) { /* order entries are 32-bit */
        int rc = MF__RETRY;
        for (int tries = 0; rc == MF__RETRY && tries < 1000; tries++)
            rc = check_entry(c, t, i, f);
        if (rc == ENTRY_PAST_END)
            return true;
        if (rc != 0)
            return false;
    }
    return false;
}

/* ------------------------------------------------------------------------ */
/* Cross-checks (the file must be still)                                     */
/* ------------------------------------------------------------------------ */

static int cmp_seen(const void *a, const void *b)
{
    const struct seen *x = a, *y = b;
    return x->hash < y->hash ? -1 : x->hash > y->hash;
}

static bool same_name(struct mf__ctx *c, const struct mf__table *t, uint64_t a,
                      uint64_t b)
{
    struct mf__version x, y;
    return mf__version_at(c, mf__slot_off(mf__slot_load(t, a)), &x) == 0 &&
           mf__version_at(c, mf__slot_off(mf__slot_load(t, b)), &y) == 0 &&
           x.name_len == y.name_len && memcmp(x.name, y.name, x.name_len) == 0;
}

static void check_counts(struct mf__ctx *c, const struct mf__table *t,
                         struct findings *f)
{
    uint64_t used = 0, tombs = 0;
    for (uint64_t s = 0; s < t->nslots; s++) {
        uint64_t w = mf__slot_load(t, s);
        used += mf__slot_used(w);
        tombs += w == MF__SLOT_TOMB;
    }
    if (used + tombs != f->slots_used)
        note(f, "index: %llu slots are in use but the insertion order names %llu",
             (unsigned long long)(used + tombs), (unsigned long long)f->slots_used);
    if (used != t->ix->used || tombs != t->ix->tombstones)
        note(f, "index: counts say %llu used and %llu tombstones, slots hold "
             "%llu and %llu", (unsigned long long)t->ix->used,
             (unsigned long long)t->ix->tombstones, (unsigned long long)used,
             (unsigned long long)tombs);
    if (MF__LOAD(&c->hdr->record_count) != f->nvis)
        note(f, "directory: record count says %llu, the index holds %llu",
             (unsigned long long)MF__LOAD(&c->hdr->record_count),
             (unsigned long long)f->nvis);
    if (f->nvis)
        qsort(f->visible, f->nvis, sizeof *f->visible, cmp_seen);
    for (size_t i = 1; i < f->nvis; i++)
        if (f->visible[i].hash == f->visible[i - 1].hash &&
            same_name(c, t, f->visible[i].slot, f->visible[i - 1].slot))
            note(f, "index: slots %llu and %llu hold the same name",
                 (unsigned long long)f->visible[i - 1].slot,
                 (unsigned long long)f->visible[i].slot);
}

/* The retired blocks are allocated on purpose: the limbo ring and every
 * block it holds are live. */
static void walk_limbo(struct mf__ctx *c, struct findings *f)
{
    if (mf__limbo_ok(c) != 0) {
        note(f, "heap: %s", mf_errdetail());
        return;
    }
    live_add(f, c->hdr->limbo_off);
    uint64_t n = c->hdr->old_count + c->hdr->young_count;
    for (uint64_t i = 0; i < n; i++)
        live_add(f, mf__limbo_entry(c, i));
}

static void check_header(struct mf__ctx *c, struct findings *f)
{
    const struct mf__header *h = c->hdr;
    struct stat st;
    if (c->inc->fd >= 0 && fstat(c->inc->fd, &st) == 0 &&
        (uint64_t)st.st_size < h->heap.heap_end)
        note(f, "header: heap end %llu is beyond the file size %lld (truncated)",
             (unsigned long long)h->heap.heap_end, (long long)st.st_size);
    if (MF__LOAD(&h->capacity) > h->heap.heap_end)
        note(f, "header: capacity %llu exceeds the heap end %llu",
             (unsigned long long)h->capacity, (unsigned long long)h->heap.heap_end);
    if (h->max_size < h->heap.heap_end)
        note(f, "header: maximum size %llu is below the current size %llu",
             (unsigned long long)h->max_size, (unsigned long long)h->heap.heap_end);
    if (MF__LOAD(&h->committed) > MF__LOAD(&h->staging))
        note(f, "header: committed batch %llu is beyond the last one staged %llu",
             (unsigned long long)h->committed, (unsigned long long)h->staging);
}

/* ------------------------------------------------------------------------ */
/* Running the check                                                         */
/* ------------------------------------------------------------------------ */

/* The records, and when `still` the cross-checks and the heap too. */
static int run(struct mf__ctx *c, struct findings *f, bool still)
{
    findings_clear(f);
    struct mf__table t;
    mf__read_begin(c);
    int rc = mf__table(c, &t);
    if (rc == MF__RETRY)
        return rc;
    if (rc) {
        note(f, "%s", mf_errdetail());
        return 0;
    }
    check_header(c, f);
    /* The cross-checks read the slots again, through the index the walk
     * read and validated last; without one (or with the walk cut short)
     * they and the heap's live set would only report noise. */
    bool walked = check_records(c, &t, f);
    if (!still || !walked)
        return 0;
    check_counts(c, &t, f);
    live_add(f, t.off);
    walk_limbo(c, f);
    if (f->nlive)
        qsort(f->live, f->nlive, sizeof *f->live, cmp_u64);
    size_t uniq = 0;
    for (size_t i = 0; i < f->nlive; i++)
        if (uniq == 0 || f->live[uniq - 1] != f->live[i])
            f->live[uniq++] = f->live[i];
    struct mf__heap hv = mf__heap_view(c);
    mf__heap_check(&hv, f->live, uniq, heap_note, f);
    return 0;
}

int64_t mf__check_still_wait_ns = 1000000000;
void (*mf__check_entry_hook)(uint64_t entry);

/* Read-only: wait for a moment with no writer and check everything in it;
 * records only if writers never pause for mf__check_still_wait_ns. */
static int run_lock_free(struct mf__ctx *c, struct findings *f, mf_check_result *res)
{
    int64_t give_up = mf__mono_ns() + mf__check_still_wait_ns;
    while (mf__mono_ns() < give_up) {
        uint64_t s1 = MF__LOAD_ACQ(&c->hdr->write_seq);
        if (s1 & 1) {
            nanosleep(&(struct timespec){0, 100000}, NULL);
            continue;
        }
        int rc = run(c, f, true);
        if (rc < 0)
            return rc;
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (rc == 0 && MF__LOAD(&c->hdr->write_seq) == s1) {
            res->heap_checked = 1;
            return 0;
        }
    }
    int rc;
    while ((rc = run(c, f, false)) == MF__RETRY)
        ;
    return rc;
}

/* Read-only handle: lock-free, guarded against a file shrinking under us. */
static int check_reader(mf_file *mf, struct findings *f, mf_check_result *res)
{
    struct mf__ctx c;
    int rc = mf__enter(mf, &c);
    if (rc)
        return rc;
    res->writer_state = mf__writer_state(c.hdr, c.inc, &res->writer_pid);
    res->repair_pending = res->writer_state == MF_WRITER_DEAD ||
                          (MF__LOAD(&c.hdr->flags) & MF__HF_DIRTY);
    if (res->repair_pending) {
        /* The dead writer's half-done change is the repair's business; the
         * records it cannot have damaged are still checked. */
        while ((rc = run(&c, f, false)) == MF__RETRY)
            ;
    } else {
        rc = run_lock_free(&c, f, res);
    }
    mf__leave(&c);
    return rc;
}

/* Writable handle: under the writer lock (which repairs first), exact. Not
 * guarded: a jump must never leave the lock held. */
static int check_writer(mf_file *mf, struct findings *f, mf_check_result *res)
{
    int rc = mf__writer_lock(mf);
    if (rc)
        return rc;
    struct mf__ctx c;
    if ((rc = mf__enter(mf, &c)) == 0) {
        res->writer_state = MF_WRITER_HELD;
        res->writer_pid = mf__pid();
        rc = run(&c, f, true);
        res->heap_checked = rc == 0;
        mf__leave(&c);
    }
    mf__writer_unlock(mf);
    return rc;
}

static int check_and_report(mf_file *mf, mf_check_report_fn report, void *ud,
                            mf_check_result *res)
{
    struct findings f = {0};
    int rc;
    if (mf->writable)
        rc = check_writer(mf, &f, res);
    else
        MF__GUARDED(rc, check_reader(mf, &f, res));
    if (rc == 0 && f.oom)
        rc = mf__fail(MF_ENOMEM, "%s: out of memory during the check", mf->path);
    if (rc == 0) {
        for (size_t i = 0; i < f.n; i++)
            if (report)
                report(ud, f.msgs[i]);
        res->problems = (unsigned)f.n;
    }
    findings_free(&f);
    return rc;
}

int mf_check_file(mf_file *mf, mf_check_report_fn report, void *ud,
                  mf_check_result *res)
{
    mf__clear_detail();
    if (!mf)
        return mf__fail(MF_EINVAL, "mf_check: NULL handle");
    mf_check_result local = {sizeof local, 0, 0, 0, 0, 0};
    if (res && res->struct_size < sizeof *res)
        return mf__fail(MF_EINVAL, "%s: mf_check_file: bad result struct_size %zu",
                        mf->path, res->struct_size);
    mf_check_result *r = res ? res : &local;
    memset(r, 0, sizeof *r);
    r->struct_size = sizeof *r;
    return check_and_report(mf, report, ud, r);
}

int mf_check(mf_file *mf, mf_check_report_fn report, void *ud, unsigned *problems)
{
    mf_check_result r = {sizeof r, 0, 0, 0, 0, 0};
    int rc = mf_check_file(mf, report, ud, &r);
    if (rc == 0 && problems)
        *problems = r.problems;
    return rc;
}
