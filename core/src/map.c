/*
 * map.c - mappings and incarnations of an open file: entering and leaving
 * an operation, remapping a grown file, following a replaced one, growing
 * it (writers), and unmapping what no operation is inside any more.
 *
 * Operations count themselves while inside (mf_file.users). A mapping or
 * incarnation that is replaced goes on a dead list, unmapped at the first
 * moment no operation is inside. A consumer that follows a thousand
 * producer restarts holds one incarnation, not a thousand.
 */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Unmapping what nobody is inside                                           */
/* ------------------------------------------------------------------------ */

static void maps_free(struct mf__map *m)
{
    while (m) {
        struct mf__map *o = m->older;
        mf__guard_unmap(m->base);
        munmap(m->base, m->len);
        free(m);
        m = o;
    }
}

void mf__inc_free(struct mf__inc *inc)
{
    while (inc) {
        struct mf__inc *older = inc->older;
        maps_free(atomic_load(&inc->map));
        mf__wake_forget(inc);
        if (inc->hdr) {
            mf__guard_unmap(inc->hdr);
            munmap(inc->hdr, MF__HEADER_SIZE);
        }
        if (inc->fd >= 0)
            close(inc->fd);
        free(inc);
        inc = older;
    }
}

/* map_lock held: unmap what was retired once no operation is inside. Any
 * operation that could hold a retired mapping entered before it was
 * retired and is counted until it leaves; one that enters later only
 * finds the current one. (Per-phase counts, as once here, are not enough:
 * an operation can remap twice, and the mapping its first remap made is
 * retired by its second while it still reads it.) Mappings retire only
 * when the file grows or is replaced, so the few kept until a moment with
 * no call in flight cost address space only. */
static void collect(mf_file *mf)
{
    if (atomic_load(&mf->users) != 0)
        return;
    maps_free(mf->dead_maps);
    mf__inc_free(mf->dead_incs);
    __atomic_store_n(&mf->dead_maps, NULL, __ATOMIC_RELAXED);
    __atomic_store_n(&mf->dead_incs, NULL, __ATOMIC_RELAXED);
}

/* map_lock held: m (or inc) is unreachable from the handle now. */
static void bury(mf_file *mf, struct mf__map *m, struct mf__inc *inc)
{
    if (m) {
        m->older = mf->dead_maps;
        __atomic_store_n(&mf->dead_maps, m, __ATOMIC_RELAXED);
    }
    if (inc) {
        inc->older = mf->dead_incs;
        __atomic_store_n(&mf->dead_incs, inc, __ATOMIC_RELAXED);
    }
    collect(mf);
}

static void users_enter(mf_file *mf)
{
    atomic_fetch_add(&mf->users, 1);
}

static void users_leave(mf_file *mf)
{
    if (atomic_fetch_sub(&mf->users, 1) != 1)
        return;
    if (__atomic_load_n(&mf->dead_maps, __ATOMIC_RELAXED) ||
        __atomic_load_n(&mf->dead_incs, __ATOMIC_RELAXED)) {
        pthread_mutex_lock(&mf->map_lock);
        collect(mf);
        pthread_mutex_unlock(&mf->map_lock);
    }
}

void mf__users_drain(mf_file *mf)
{
    pthread_mutex_lock(&mf->map_lock);
    collect(mf);
    pthread_mutex_unlock(&mf->map_lock);
}

/* ------------------------------------------------------------------------ */
/* Mapping                                                                   */
/* ------------------------------------------------------------------------ */

int mf__map_file(int fd, uint64_t len, bool writable, struct mf__map **out,
                 const char *path)
{
    struct mf__map *m = calloc(1, sizeof *m);
    if (!m)
        return mf__fail(MF_ENOMEM, "%s: out of memory", path);
    int prot = PROT_READ | (writable ? PROT_WRITE : 0);
    void *p = mmap(NULL, len, prot, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        free(m);
        return mf__fail(e == ENOMEM ? MF_ENOMEM : MF_ESYS, "%s: mmap of %llu bytes: %s",
                        path, (unsigned long long)len, strerror(e));
    }
    m->base = p;
    m->len = len;
    mf__guard_map(p, len);
    *out = m;
    return 0;
}

/* Map the file again if it has grown past our mapping. The capacity is read
 * before the lock is taken: a file shrunk under us faults right here, and a
 * fault must never leave map_lock held (guard.c jumps out of it). */
static int inc_remap(mf_file *mf, struct mf__inc *inc, struct mf__map **out)
{
    uint64_t want = MF__LOAD_ACQ(&inc->hdr->capacity);
    pthread_mutex_lock(&mf->map_lock);
    struct mf__map *cur = atomic_load(&inc->map);
    int rc = 0;
    if (want > cur->len && inc->fd < 0) {
        rc = mf__fail(MF_EREPLACED, "%s: the file was replaced while being read",
                      mf->path);
    } else if (want > cur->len) {
        struct stat st;
        if (fstat(inc->fd, &st) != 0) {
            rc = mf__fail(MF_ESYS, "%s: fstat: %s", mf->path, strerror(errno));
        } else if (want > MF__MAX_SIZE || (uint64_t)st.st_size < want) {
            rc = mf__fail(MF_ECORRUPT, "%s: capacity %llu is beyond the file "
                          "size %llu (truncated)", mf->path,
                          (unsigned long long)want, (unsigned long long)st.st_size);
        } else {
            struct mf__map *m;
            rc = mf__map_file(inc->fd, want, mf->writable, &m, mf->path);
            if (rc == 0) {
                atomic_store(&inc->map, m);
                bury(mf, cur, NULL);
                cur = m;
            }
        }
    }
    pthread_mutex_unlock(&mf->map_lock);
    *out = cur;
    return rc;
}

int mf__refresh(struct mf__ctx *c)
{
    struct mf__map *before = c->m;
    int rc = inc_remap(c->mf, c->inc, &c->m);
    if (rc)
        return rc;
    return c->m != before;
}

/* ------------------------------------------------------------------------ */
/* Following a replaced file                                                 */
/* ------------------------------------------------------------------------ */

/* Is something else than `inc` at the path now? */
static bool path_is_newer(const char *path, const struct mf__inc *inc)
{
    struct stat st;
    return stat(path, &st) == 0 && (st.st_ino != inc->ino || st.st_dev != inc->dev);
}

/* Move the handle to the file now at its path. */
static int follow(mf_file *mf, struct mf__inc *inc)
{
    struct mf__inc *fresh;
    int rc = mf__inc_open(mf->path, mf->writable, &fresh);
    if (rc)
        return rc;
    pthread_mutex_lock(&mf->map_lock);
    if (atomic_load(&mf->inc) == inc && (fresh->ino != inc->ino ||
                                         fresh->dev != inc->dev)) {
        atomic_store(&mf->inc, fresh);
        bury(mf, NULL, inc);
        fresh = NULL;
    }
    pthread_mutex_unlock(&mf->map_lock);
    mf__inc_free(fresh); /* still the same file, or another thread won */
    return 0;
}

/* How often a reader looks at its path for a file replaced without a
 * RECREATE (deleted and made anew): at most this late, and never more than
 * one stat() per period, whatever the get rate (the clock read is vDSO). */
#define MF__PATH_CHECK_NS 250000000

/* Is it time to look at the path again (at most once per period)? */
static bool path_check_due(mf_file *mf)
{
    int64_t now = mf__coarse_ns();
    int64_t due = atomic_load_explicit(&mf->next_path_check, memory_order_relaxed);
    return now >= due &&
           atomic_compare_exchange_strong(&mf->next_path_check, &due,
                                          now + MF__PATH_CHECK_NS);
}

/* Should a reader move on to the file now at its path? A RECREATE renames
 * the new file into place before it retires the old one, so the first look
 * after the retired flag finds the new file; a file retired but left at its
 * path (the new one deleted since) is looked at once per period only. */
static bool should_follow(mf_file *mf, struct mf__inc *inc)
{
    if (MF__LOAD_ACQ(&inc->hdr->flags) & MF__HF_RETIRED) {
        if (!atomic_exchange(&inc->retired_seen, true))
            return path_is_newer(mf->path, inc);
    }
    return path_check_due(mf) && path_is_newer(mf->path, inc);
}

int mf__follow_if_replaced(mf_file *mf, struct mf__inc *inc)
{
    bool no_follow = (mf->flags & MF_OPEN_NO_FOLLOW_REPLACE) != 0;
    if (no_follow && (MF__LOAD_ACQ(&inc->hdr->flags) & MF__HF_RETIRED))
        return mf__fail(MF_EREPLACED, "%s: the file was replaced by a newer one "
                        "(RECREATE); reopen it", mf->path);
    if (mf->writable || !should_follow(mf, inc))
        return 0;
    if (no_follow)
        return mf__fail(MF_EREPLACED, "%s: the file was replaced by a newer one; "
                        "reopen it", mf->path);
    int rc = follow(mf, inc);
    if (rc) {
        char why[768];
        snprintf(why, sizeof why, "%s", mf_errdetail());
        return mf__fail(MF_EREPLACED, "%s: the file was replaced and the new "
                        "one cannot be opened: %s", mf->path, why);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Operations                                                                */
/* ------------------------------------------------------------------------ */

int mf__enter(mf_file *mf, struct mf__ctx *c)
{
    c->mf = mf;
    users_enter(mf);
    c->inc = atomic_load(&mf->inc);
    int rc = 0;
    if (!mf->writable) {
        if ((rc = mf__follow_if_replaced(mf, c->inc)) == 0)
            c->inc = atomic_load(&mf->inc);
    } else if (MF__LOAD_ACQ(&c->inc->hdr->flags) & MF__HF_RETIRED) {
        rc = mf__fail(MF_EREPLACED, "%s: the file was replaced by a newer one "
                      "(RECREATE); reopen it", mf->path);
    }
    if (rc == 0) {
        c->hdr = c->inc->hdr;
        c->m = atomic_load(&c->inc->map);
        c->epoch = 0;
        c->committed = 0;
        if (MF__LOAD_ACQ(&c->hdr->capacity) > c->m->len)
            rc = inc_remap(mf, c->inc, &c->m);
    }
    if (rc)
        users_leave(mf);
    return rc;
}

void mf__leave(struct mf__ctx *c)
{
    users_leave(c->mf);
}

/* ------------------------------------------------------------------------ */
/* Growing (writer lock held)                                                */
/* ------------------------------------------------------------------------ */

static uint64_t round_page(uint64_t v)
{
    return (v + 4095u) & ~(uint64_t)4095u;
}

int mf__grow(struct mf__ctx *c, uint64_t need)
{
    struct mf__header *h = c->hdr;
    uint64_t cap = MF__LOAD(&h->heap.heap_end);
    uint64_t max = h->max_size;
    /* Room for the block, its header and a TLSF rounding margin. */
    uint64_t want = need + need / 8 + 4 * 4096u;
    /* Grow by a quarter, not double: the heap stays well used after churn. */
    uint64_t new_cap = cap + cap / 4;
    if (new_cap < cap + want)
        new_cap = cap + want;
    new_cap = round_page(new_cap);
    if (new_cap > max)
        new_cap = max;
    if (new_cap <= cap || new_cap - cap < need)
        return mf__fail(MF_EFULL, "%s: map file full: %llu bytes needed, file "
                        "is %llu of at most %llu bytes (%.1f%% used)",
                        c->mf->path, (unsigned long long)need,
                        (unsigned long long)cap, (unsigned long long)max,
                        100.0 * (double)h->heap.used_bytes / (double)cap);
    /* Only the new part needs blocks on disk. */
    int e = posix_fallocate(c->inc->fd, (off_t)cap, (off_t)(new_cap - cap));
    if (e == EOPNOTSUPP || e == EINVAL)
        e = ftruncate(c->inc->fd, (off_t)new_cap) ? errno : 0;
    if (e)
        return mf__fail(e == ENOSPC || e == EFBIG ? MF_EFULL : MF_ESYS,
                        "%s: cannot grow to %llu bytes: %s", c->mf->path,
                        (unsigned long long)new_cap, strerror(e));
    MF__CRASH_POINT();
    struct mf__map *m;
    int rc = mf__map_file(c->inc->fd, new_cap, true, &m, c->mf->path);
    if (rc)
        return rc;
    pthread_mutex_lock(&c->mf->map_lock);
    struct mf__map *old = atomic_load(&c->inc->map);
    atomic_store(&c->inc->map, m);
    bury(c->mf, old, NULL);
    pthread_mutex_unlock(&c->mf->map_lock);
    c->m = m;
    struct mf__heap hv = {m->base, m->len, &h->heap};
    rc = mf__heap_grow(&hv, new_cap);
    if (rc)
        return mf__fail(rc, "%s: heap growth failed: %s", c->mf->path,
                        mf_strerror(rc));
    MF__CRASH_POINT();
    /* Readers map up to capacity: publish it only once the heap covers the
     * new space. */
    MF__STORE_REL(&h->capacity, new_cap);
    return 0;
}
