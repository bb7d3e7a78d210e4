/*
 * file.c - opening, creating, mapping, growing and closing map files.
 *
 * A new file is always built complete under a temporary name in the same
 * directory and then linked (NEW/CREATE/UPDATE) or renamed (RECREATE) to its
 * path, so nobody can ever map a half-initialised header.
 */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#define MF__PAGE 4096u

uint64_t mf__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t round_page(uint64_t v)
{
    return (v + MF__PAGE - 1) & ~(uint64_t)(MF__PAGE - 1);
}

static int errno_to_mf(int e)
{
    switch (e) {
    case ENOENT:
        return MF_ENOENT;
    case EEXIST:
        return MF_EEXIST;
    case EACCES:
    case EPERM:
    case EROFS:
        return MF_EACCES;
    case ENOMEM:
        return MF_ENOMEM;
    case ENOSPC:
    case EFBIG:
        return MF_EFULL;
    default:
        return MF_ESYS;
    }
}

static int sys_fail(int e, const char *what, const char *path)
{
    return mf__fail(errno_to_mf(e), "%s: %s: %s", path, what, strerror(e));
}

/* ------------------------------------------------------------------------ */
/* Header validation                                                         */
/* ------------------------------------------------------------------------ */

/* Check every header field against the real file size. */
static int validate_header(const struct mf__header *h, uint64_t file_size,
                           const char *path)
{
    if (memcmp(h->magic, MF__MAGIC, sizeof MF__MAGIC) != 0)
        return mf__fail(MF_ENOTMAPFILE, "%s: bad magic, not a map file", path);
    if (h->endian != MF__ENDIAN_TAG)
        return mf__fail(MF_ECORRUPT, "%s: endianness tag 0x%08x, expected 0x%08x",
                        path, h->endian, MF__ENDIAN_TAG);
    if (h->format_version != MF_FORMAT_VERSION)
        return mf__fail(MF_EVERSION,
                        "%s: format version %u, this library reads version %u",
                        path, h->format_version, MF_FORMAT_VERSION);
    if (h->header_size != MF__HEADER_SIZE)
        return mf__fail(MF_ECORRUPT, "%s: header size %u, expected %u", path,
                        h->header_size, MF__HEADER_SIZE);
    uint64_t cap = MF__LOAD(&h->capacity);
    uint64_t hend = MF__LOAD(&h->heap.heap_end);
    if (cap < MF__MIN_SIZE || cap > MF__MAX_SIZE || cap % MF__PAGE)
        return mf__fail(MF_ECORRUPT, "%s: capacity %llu is out of range", path,
                        (unsigned long long)cap);
    if (cap > file_size)
        return mf__fail(MF_ECORRUPT,
                        "%s: capacity %llu exceeds the file size %llu (truncated)",
                        path, (unsigned long long)cap,
                        (unsigned long long)file_size);
    if (h->max_size < MF__MIN_SIZE || h->max_size > MF__MAX_SIZE)
        return mf__fail(MF_ECORRUPT, "%s: maximum size %llu is out of range",
                        path, (unsigned long long)h->max_size);
    if (h->heap.heap_start != MF__HEADER_SIZE || hend < cap ||
        hend > file_size || hend % MF__PAGE)
        return mf__fail(MF_ECORRUPT, "%s: heap bounds [%llu, %llu) do not match "
                        "the file (%llu bytes)", path,
                        (unsigned long long)h->heap.heap_start,
                        (unsigned long long)hend, (unsigned long long)file_size);
    if (memchr(h->title, '\0', sizeof h->title) == NULL)
        return mf__fail(MF_ECORRUPT, "%s: title is not terminated", path);
    uint64_t idx = MF__LOAD(&h->index_off);
    if (idx < MF__HEADER_SIZE || idx >= hend)
        return mf__fail(MF_ECORRUPT, "%s: index offset %llu is outside the heap",
                        path, (unsigned long long)idx);
    if (MF__LOAD(&h->record_count) > hend / sizeof(struct mf__record))
        return mf__fail(MF_ECORRUPT, "%s: record count %llu cannot fit in the file",
                        path, (unsigned long long)MF__LOAD(&h->record_count));
    if (h->intent_op > MF__INTENT_REMOVE)
        return mf__fail(MF_ECORRUPT, "%s: unknown journal entry %llu", path,
                        (unsigned long long)h->intent_op);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Incarnations and mappings                                                 */
/* ------------------------------------------------------------------------ */

static void inc_free(struct mf__inc *inc)
{
    while (inc) {
        struct mf__inc *older = inc->older;
        struct mf__map *m = atomic_load(&inc->map);
        while (m) {
            struct mf__map *o = m->older;
            munmap(m->base, m->len);
            free(m);
            m = o;
        }
        if (inc->hdr)
            munmap(inc->hdr, MF__HEADER_SIZE);
        if (inc->fd >= 0)
            close(inc->fd);
        free(inc);
        inc = older;
    }
}

static int map_file(int fd, uint64_t len, bool writable, struct mf__map **out,
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
        return sys_fail(e, "mmap", path);
    }
    m->base = p;
    m->len = len;
    *out = m;
    return 0;
}

/* Open the file at path as a new incarnation, validated. */
static int inc_open(const char *path, bool writable, struct mf__inc **out)
{
    int flags = (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC;
    if (writable)
        flags |= O_NOFOLLOW;
    int fd = open(path, flags);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP)
            return mf__fail(MF_EACCES, "%s: is a symbolic link; writers never "
                            "follow links", path);
        return sys_fail(e, "open", path);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return sys_fail(e, "fstat", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return mf__fail(MF_ENOTMAPFILE, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size < MF__HEADER_SIZE) {
        /* Tell a short file of ours from someone else's. */
        char magic[8] = {0};
        ssize_t n = pread(fd, magic, sizeof magic, 0);
        close(fd);
        if (n == (ssize_t)sizeof magic && memcmp(magic, MF__MAGIC, 8) == 0)
            return mf__fail(MF_ECORRUPT, "%s: truncated header (%lld bytes)",
                            path, (long long)st.st_size);
        return mf__fail(MF_ENOTMAPFILE, "%s: too small to be a map file", path);
    }
    struct mf__inc *inc = calloc(1, sizeof *inc);
    if (!inc) {
        close(fd);
        return mf__fail(MF_ENOMEM, "%s: out of memory", path);
    }
    inc->fd = fd;
    inc->dev = st.st_dev;
    inc->ino = st.st_ino;
    void *h = mmap(NULL, MF__HEADER_SIZE, PROT_READ | (writable ? PROT_WRITE : 0),
                   MAP_SHARED, fd, 0);
    if (h == MAP_FAILED) {
        int e = errno;
        inc_free(inc);
        return sys_fail(e, "mmap", path);
    }
    inc->hdr = h;
    int rc = validate_header(inc->hdr, (uint64_t)st.st_size, path);
    struct mf__map *m = NULL;
    if (rc == 0)
        rc = map_file(fd, MF__LOAD(&inc->hdr->capacity), writable, &m, path);
    if (rc) {
        inc_free(inc);
        return rc;
    }
    atomic_store(&inc->map, m);
    *out = inc;
    return 0;
}

/* Map the file again if it has grown past our mapping. */
static int inc_remap(mf_file *mf, struct mf__inc *inc, struct mf__map **out)
{
    pthread_mutex_lock(&mf->map_lock);
    struct mf__map *cur = atomic_load(&inc->map);
    uint64_t want = MF__LOAD_ACQ(&inc->hdr->capacity);
    int rc = 0;
    if (want > cur->len && inc->fd < 0) {
        rc = mf__fail(MF_EREPLACED, "%s: the file was replaced while being read",
                      mf->path);
    } else if (want > cur->len) {
        struct stat st;
        if (fstat(inc->fd, &st) != 0) {
            rc = sys_fail(errno, "fstat", mf->path);
        } else if (want > MF__MAX_SIZE || (uint64_t)st.st_size < want) {
            rc = mf__fail(MF_ECORRUPT, "%s: capacity %llu is beyond the file "
                          "size %llu (truncated)", mf->path,
                          (unsigned long long)want, (unsigned long long)st.st_size);
        } else {
            struct mf__map *m;
            rc = map_file(inc->fd, want, mf->writable, &m, mf->path);
            if (rc == 0) {
                m->older = cur;
                atomic_store(&inc->map, m);
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

/* A reader whose file was retired by a RECREATE, or unlinked and replaced,
 * moves to the new file at the same path. */
/* Is something else than `inc` at the path now? */
static bool path_is_newer(const char *path, const struct mf__inc *inc)
{
    struct stat st;
    return stat(path, &st) == 0 && (st.st_ino != inc->ino || st.st_dev != inc->dev);
}

int mf__follow(mf_file *mf, struct mf__inc *inc)
{
    pthread_mutex_lock(&mf->map_lock);
    int rc = 0;
    if (atomic_load(&mf->inc) == inc) {
        struct mf__inc *fresh;
        rc = inc_open(mf->path, mf->writable, &fresh);
        if (rc == 0 && fresh->ino == inc->ino && fresh->dev == inc->dev) {
            inc_free(fresh); /* still the same file: nothing to follow */
        } else if (rc == 0) {
            /* Other threads may still read the old mappings, so they stay
             * until mf_close; the descriptor is only used to remap and is
             * closed now, so following many restarts keeps no descriptors. */
            close(inc->fd);
            inc->fd = -1;
            fresh->older = inc;
            atomic_store(&mf->inc, fresh);
        }
    }
    pthread_mutex_unlock(&mf->map_lock);
    return rc;
}

static bool inc_retired(const struct mf__inc *inc)
{
    return (MF__LOAD_ACQ(&inc->hdr->flags) & MF__HF_RETIRED) != 0;
}

int mf__enter(mf_file *mf, struct mf__ctx *c)
{
    c->mf = mf;
    c->inc = atomic_load(&mf->inc);
    if (inc_retired(c->inc)) {
        if (mf->writable || (mf->flags & MF_OPEN_NO_FOLLOW_REPLACE))
            return mf__fail(MF_EREPLACED, "%s: the file was replaced by a "
                            "newer one (RECREATE); reopen it", mf->path);
        /* Follow only once a new file is in place: a RECREATE retires the
         * old file just before renaming the new one over it, and a file
         * retired but left at its path is still readable as it is. */
        if (path_is_newer(mf->path, c->inc)) {
            char why[768];
            int rc = mf__follow(mf, c->inc);
            if (rc) {
                snprintf(why, sizeof why, "%s", mf_errdetail());
                return mf__fail(MF_EREPLACED, "%s: the file was replaced and the "
                                "new one cannot be opened: %s", mf->path, why);
            }
        }
        c->inc = atomic_load(&mf->inc);
    }
    c->hdr = c->inc->hdr;
    c->m = atomic_load(&c->inc->map);
    if (MF__LOAD_ACQ(&c->hdr->capacity) > c->m->len)
        return inc_remap(mf, c->inc, &c->m);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Growing                                                                   */
/* ------------------------------------------------------------------------ */

int mf__grow(struct mf__ctx *c, uint64_t need)
{
    struct mf__header *h = c->hdr;
    uint64_t cap = MF__LOAD(&h->heap.heap_end);
    uint64_t max = h->max_size;
    /* Room for the block, its header and a TLSF rounding margin. */
    uint64_t want = need + need / 8 + 4 * MF__PAGE;
    /* Grow by a quarter, not double: the heap stays well used after churn
     * (each step costs one more mapping, kept until close). */
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
    int e = posix_fallocate(c->inc->fd, 0, (off_t)new_cap);
    if (e == EOPNOTSUPP || e == EINVAL)
        e = ftruncate(c->inc->fd, (off_t)new_cap) ? errno : 0;
    if (e)
        return mf__fail(errno_to_mf(e) == MF_EFULL ? MF_EFULL : MF_ESYS,
                        "%s: cannot grow to %llu bytes: %s", c->mf->path,
                        (unsigned long long)new_cap, strerror(e));
    MF__CRASH_POINT();
    struct mf__map *m;
    int rc = map_file(c->inc->fd, new_cap, true, &m, c->mf->path);
    if (rc)
        return rc;
    pthread_mutex_lock(&c->mf->map_lock);
    m->older = atomic_load(&c->inc->map);
    atomic_store(&c->inc->map, m);
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

/* ------------------------------------------------------------------------ */
/* Creating                                                                  */
/* ------------------------------------------------------------------------ */

static void init_header(struct mf__header *h, uint64_t size, uint64_t max,
                        const char *title)
{
    memset(h, 0, MF__HEADER_SIZE);
    memcpy(h->magic, MF__MAGIC, sizeof MF__MAGIC);
    h->format_version = MF_FORMAT_VERSION;
    h->header_size = MF__HEADER_SIZE;
    h->endian = MF__ENDIAN_TAG;
    h->capacity = size;
    h->generation = 1; /* so 0 always means "never seen" to mf_wait */
    h->change_futex = 1;
    h->max_size = max;
    h->created_ns = mf__now_ns();
    if (getrandom(&h->file_id, sizeof h->file_id, GRND_NONBLOCK) !=
        (ssize_t)sizeof h->file_id)
        h->file_id = h->created_ns ^ ((uint64_t)getpid() << 32);
    snprintf(h->title, sizeof h->title, "%s", title ? title : "");
}

static int init_mutex(struct mf__header *h, const char *path)
{
    pthread_mutexattr_t a;
    int e = pthread_mutexattr_init(&a);
    if (!e)
        e = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (!e)
        e = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (!e)
        e = pthread_mutex_init(&h->lock.m, &a);
    pthread_mutexattr_destroy(&a);
    return e ? sys_fail(e, "pthread_mutex_init", path) : 0;
}

/* Build a complete, empty map file in fd. */
static int format_file(int fd, uint64_t size, uint64_t max, const char *title,
                       const char *path)
{
    int e = posix_fallocate(fd, 0, (off_t)size);
    if (e == EOPNOTSUPP || e == EINVAL)
        e = ftruncate(fd, (off_t)size) ? errno : 0;
    if (e)
        return sys_fail(e, "allocate", path);
    struct mf__map *m;
    int rc = map_file(fd, size, true, &m, path);
    if (rc)
        return rc;
    struct mf__header *h = (struct mf__header *)m->base;
    init_header(h, size, max, title);
    rc = init_mutex(h, path);
    struct mf__heap hv = {m->base, m->len, &h->heap};
    if (!rc)
        rc = mf__heap_init(&hv, MF__HEADER_SIZE, size);
    /* An empty hash index, so readers always find one. */
    uint64_t nslots = 64, idx = 0;
    if (!rc)
        rc = mf__heap_alloc(&hv, sizeof(struct mf__index) +
                                     nslots * sizeof(struct mf__slot), &idx);
    if (!rc) {
        struct mf__index *ix = (struct mf__index *)(m->base + idx);
        memset(ix, 0, sizeof *ix + nslots * sizeof(struct mf__slot));
        h->stamp_counter = 2;
        ix->stamp = 2;
        ix->nslots = nslots;
        h->index_off = idx;
    }
    munmap(m->base, m->len);
    free(m);
    if (rc)
        return mf__fail(rc, "%s: cannot format: %s", path, mf_strerror(rc));
    return 0;
}

/* Create a formatted file under a temporary name in path's directory.
 * Returns the descriptor (O_RDWR) and the temporary name. */
static int create_temp(const char *path, unsigned mode, uint64_t size,
                       uint64_t max, const char *title, char *tmp, size_t tmpcap,
                       int *fd_out)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        uint32_t r;
        if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
            r = (uint32_t)mf__now_ns() ^ (uint32_t)attempt;
        int n = snprintf(tmp, tmpcap, "%s.tmp-%08x", path, r);
        if (n < 0 || (size_t)n >= tmpcap)
            return mf__fail(MF_EINVAL, "%s: path too long", path);
        int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                      (mode_t)mode);
        if (fd < 0) {
            if (errno == EEXIST)
                continue;
            return sys_fail(errno, "create", path);
        }
        int rc = format_file(fd, size, max, title, path);
        if (rc) {
            close(fd);
            unlink(tmp);
            return rc;
        }
        *fd_out = fd;
        return 0;
    }
    return mf__fail(MF_ESYS, "%s: cannot pick a temporary name", path);
}

/* Mark the map file currently at path as retired so its readers move on.
 * Best effort: anything that is not our map file is simply replaced. */
static void retire_existing(const char *path)
{
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        (uint64_t)st.st_size >= MF__HEADER_SIZE) {
        struct mf__header *h = mmap(NULL, MF__HEADER_SIZE, PROT_READ | PROT_WRITE,
                                    MAP_SHARED, fd, 0);
        if (h != MAP_FAILED) {
            if (memcmp(h->magic, MF__MAGIC, sizeof MF__MAGIC) == 0 &&
                h->format_version == MF_FORMAT_VERSION) {
                __atomic_fetch_or(&h->flags, MF__HF_RETIRED, __ATOMIC_RELEASE);
                uint64_t g = __atomic_add_fetch(&h->generation, 1, __ATOMIC_RELEASE);
                __atomic_store_n(&h->change_futex, (uint32_t)g, __ATOMIC_RELEASE);
                syscall(SYS_futex, &h->change_futex, FUTEX_WAKE, INT32_MAX,
                        NULL, NULL, 0);
            }
            munmap(h, MF__HEADER_SIZE);
        }
    }
    close(fd);
}

/* Create path. exclusive: fail if it exists (link); else replace (rename). */
static int create_file(mf_file *mf, bool exclusive)
{
    char tmp[PATH_MAX + 32];
    int fd = -1;
    int rc = create_temp(mf->path, mf->file_mode, mf->initial_size,
                         mf->max_size, mf->title, tmp, sizeof tmp, &fd);
    if (rc)
        return rc;
    if (exclusive) {
        if (link(tmp, mf->path) != 0) {
            int e = errno;
            unlink(tmp);
            close(fd);
            if (e == EEXIST)
                return mf__fail(MF_EEXIST, "%s: already exists", mf->path);
            return sys_fail(e, "link", mf->path);
        }
        unlink(tmp);
    } else {
        retire_existing(mf->path);
        /* rename replaces a symlink at path; it never follows it. */
        if (rename(tmp, mf->path) != 0) {
            int e = errno;
            unlink(tmp);
            close(fd);
            return sys_fail(e, "rename", mf->path);
        }
    }
    close(fd);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Waiting for a file to appear                                              */
/* ------------------------------------------------------------------------ */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Open for reading, waiting up to wait_ms for the file to be created. The
 * directory is watched with inotify, so this sleeps instead of polling. */
static int open_waiting(mf_file *mf, int wait_ms, struct mf__inc **out)
{
    int rc = inc_open(mf->path, false, out);
    if (rc != MF_ENOENT || wait_ms == 0)
        return rc;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", mf->path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (ino < 0)
        return sys_fail(errno, "inotify_init1", mf->path);
    if (inotify_add_watch(ino, dir, IN_CREATE | IN_MOVED_TO | IN_ATTRIB) < 0) {
        int e = errno;
        close(ino);
        return sys_fail(e, "watch directory", mf->path);
    }
    int64_t deadline = wait_ms < 0 ? INT64_MAX : mono_ms() + wait_ms;
    for (;;) {
        rc = inc_open(mf->path, false, out);
        if (rc != MF_ENOENT)
            break;
        int64_t left = deadline == INT64_MAX ? -1 : deadline - mono_ms();
        if (deadline != INT64_MAX && left <= 0) {
            rc = mf__fail(MF_ETIMEDOUT, "%s: did not appear within %d ms",
                          mf->path, wait_ms);
            break;
        }
        struct pollfd pfd = {ino, POLLIN, 0};
        int n = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
        if (n > 0) {
            char buf[4096];
            while (read(ino, buf, sizeof buf) > 0) {
            }
        }
    }
    close(ino);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Public API                                                                */
/* ------------------------------------------------------------------------ */

static void file_free(mf_file *mf)
{
    if (!mf)
        return;
    inc_free(atomic_load(&mf->inc));
    for (size_t i = 0; i < mf->nadded; i++)
        free(mf->added[i].name);
    free(mf->added);
    free(mf->enc);
    free(mf->pend);
    pthread_mutex_destroy(&mf->map_lock);
    pthread_mutex_destroy(&mf->prod_lock);
    free(mf->path);
    free(mf);
}

int mf_open(mf_file **out, const char *path, int mode,
            const mf_open_options *user_opts)
{
    mf__clear_detail();
    if (!out)
        return mf__fail(MF_EINVAL, "mf_open: NULL handle pointer");
    *out = NULL;
    if (!path || !*path)
        return mf__fail(MF_EINVAL, "mf_open: empty path");
    if (mode < MF_READ || mode > MF_RECREATE)
        return mf__fail(MF_EINVAL, "%s: unknown open mode %d", path, mode);
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    if (user_opts) {
        size_t n = user_opts->struct_size;
        if (n < offsetof(mf_open_options, initial_size) || n > sizeof o)
            return mf__fail(MF_EINVAL, "%s: bad options struct_size %zu", path, n);
        memcpy(&o, user_opts, n);
    }
    uint64_t size = o.initial_size ? o.initial_size : MF_DEFAULT_SIZE;
    if (size < MF__MIN_SIZE)
        size = MF__MIN_SIZE;
    size = round_page(size);
    uint64_t max = o.max_size ? o.max_size : MF__DEFAULT_MAX_SIZE;
    if (max < size)
        max = size;
    max = round_page(max);
    if (size > MF__MAX_SIZE || max > MF__MAX_SIZE)
        return mf__fail(MF_EINVAL, "%s: sizes above %llu bytes are not supported",
                        path, (unsigned long long)MF__MAX_SIZE);
    if (o.title && strlen(o.title) > MF__TITLE_MAX)
        return mf__fail(MF_EINVAL, "%s: title longer than %d bytes", path,
                        MF__TITLE_MAX);

    mf_file *mf = calloc(1, sizeof *mf);
    if (!mf)
        return mf__fail(MF_ENOMEM, "%s: out of memory", path);
    mf->path = strdup(path);
    pthread_mutex_init(&mf->map_lock, NULL);
    pthread_mutex_init(&mf->prod_lock, NULL);
    if (!mf->path) {
        file_free(mf);
        return mf__fail(MF_ENOMEM, "%s: out of memory", path);
    }
    mf->mode = mode;
    mf->writable = mode != MF_READ;
    mf->flags = o.flags;
    mf->reg = o.registry ? o.registry : mf_registry_default();
    mf->initial_size = size;
    mf->max_size = max;
    mf->file_mode = o.file_mode ? o.file_mode : 0644;
    snprintf(mf->title, sizeof mf->title, "%s", o.title ? o.title : "");

    int rc = 0;
    struct mf__inc *inc = NULL;
    switch (mode) {
    case MF_READ:
        rc = open_waiting(mf, o.wait_ms, &inc);
        break;
    case MF_UPDATE:
        rc = inc_open(path, true, &inc);
        if (rc == MF_ENOENT) {
            rc = create_file(mf, true);
            if (rc == 0 || rc == MF_EEXIST)
                rc = inc_open(path, true, &inc);
        }
        break;
    case MF_CREATE:
    case MF_NEW:
        rc = create_file(mf, true);
        if (rc == 0)
            rc = inc_open(path, true, &inc);
        break;
    case MF_RECREATE:
        rc = create_file(mf, false);
        if (rc == 0)
            rc = inc_open(path, true, &inc);
        break;
    }
    if (rc) {
        file_free(mf);
        return rc;
    }
    atomic_store(&mf->inc, inc);
    /* A writer repairs a file whose last writer died, before anything else. */
    if (mf->writable) {
        rc = mf__writer_lock(mf);
        if (rc == 0)
            mf__writer_unlock(mf);
        if (rc) {
            file_free(mf);
            return rc;
        }
    }
    *out = mf;
    return 0;
}

int mf_close(mf_file *mf)
{
    if (!mf)
        return 0;
    file_free(mf);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Describing the file                                                       */
/* ------------------------------------------------------------------------ */

int mf__writer_state(const struct mf__header *h, bool writable)
{
    uint32_t pid = MF__LOAD(&h->writer_pid);
    if (pid == 0)
        return MF_WRITER_FREE;
    /* A hostile value: kill(-1, 0) would "find" every process. */
    if (pid > 4194304u)
        return MF_WRITER_DEAD;
    if (writable && (pid_t)pid == getpid())
        return MF_WRITER_HELD;
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return MF_WRITER_DEAD;
    return MF_WRITER_HELD;
}

static int mf_file_stat_unguarded(mf_file *mf, mf_file_info *info)
{
    mf__clear_detail();
    if (!mf || !info)
        return mf__fail(MF_EINVAL, "mf_file_stat: NULL argument");
    struct mf__ctx c;
    int rc = mf__enter(mf, &c);
    if (rc && rc != MF_EREPLACED)
        return rc;
    if (rc == MF_EREPLACED) {
        c.inc = atomic_load(&mf->inc);
        c.hdr = c.inc->hdr;
    }
    const struct mf__header *h = c.hdr;
    memset(info, 0, sizeof *info);
    info->path = mf->path;
    memcpy(info->title, h->title, sizeof info->title);
    info->title[sizeof info->title - 1] = '\0';
    info->format_version = h->format_version;
    info->capacity = MF__LOAD(&h->capacity);
    info->max_size = h->max_size;
    info->heap_size = MF__LOAD(&h->heap.heap_end) - h->heap.heap_start;
    info->heap_used = MF__LOAD(&h->heap.used_bytes);
    info->heap_free = MF__LOAD(&h->heap.free_bytes);
    info->records = MF__LOAD(&h->record_count);
    info->generation = MF__LOAD(&h->generation);
    info->batch = MF__LOAD(&h->batch);
    info->recoveries = MF__LOAD(&h->recoveries);
    info->writer_state = mf__writer_state(h, mf->writable);
    info->writable = mf->writable;
    info->retired = (MF__LOAD(&h->flags) & MF__HF_RETIRED) != 0;
    uint64_t n = MF__LOAD(&h->written);
    if (n) {
        double mean = h->sum_buffer / (double)n;
        double var = h->sum2_buffer / (double)n - mean * mean;
        double sd = var > 0 ? __builtin_sqrt(var) : 0;
        double best = mean + sd;
        info->best_buffer = best > 0 && best < 1e18 ? (uint64_t)best : 0;
    }
    return 0;
}

static void print_size(FILE *out, uint64_t v)
{
    if (v >= (1ull << 30))
        fprintf(out, "%.2f GiB", (double)v / (1ull << 30));
    else if (v >= (1ull << 20))
        fprintf(out, "%.2f MiB", (double)v / (1ull << 20));
    else if (v >= 1024)
        fprintf(out, "%.2f KiB", (double)v / 1024);
    else
        fprintf(out, "%llu B", (unsigned long long)v);
}

void mf_print(mf_file *mf, FILE *out)
{
    mf_file_info fi;
    if (mf_file_stat(mf, &fi) != 0) {
        fprintf(out, "Memory mapped file:   %s (unreadable: %s)\n",
                mf ? mf->path : "?", mf_errdetail());
        return;
    }
    static const char *const states[] = {"free", "held", "dead (will be recovered)"};
    fprintf(out, "Memory mapped file:   %s\n", fi.path);
    fprintf(out, "Title:                %s\n", fi.title);
    fprintf(out, "Option:               %s\n", fi.writable ? "UPDATE" : "READ");
    fprintf(out, "Format version:       %u\n", fi.format_version);
    fprintf(out, "Capacity:             ");
    print_size(out, fi.capacity);
    fprintf(out, " of at most ");
    print_size(out, fi.max_size);
    fprintf(out, " (%.1f%% of the limit)\n",
            100.0 * (double)fi.capacity / (double)fi.max_size);
    fprintf(out, "Heap used:            ");
    print_size(out, fi.heap_used);
    fprintf(out, " of ");
    print_size(out, fi.heap_size);
    fprintf(out, " (%.1f%%)\n", 100.0 * (double)fi.heap_used / (double)fi.heap_size);
    fprintf(out, "Records:              %llu\n", (unsigned long long)fi.records);
    fprintf(out, "Generation:           %llu (batch %llu)\n",
            (unsigned long long)fi.generation, (unsigned long long)fi.batch);
    fprintf(out, "Writer:               %s", states[fi.writer_state]);
    if (fi.recoveries)
        fprintf(out, ", recovered after %llu crashed writer%s",
                (unsigned long long)fi.recoveries, fi.recoveries == 1 ? "" : "s");
    fprintf(out, "\n");
    if (fi.retired)
        fprintf(out, "Retired:              yes, replaced by a newer file\n");
    fprintf(out, "Best buffer:          %llu bytes\n",
            (unsigned long long)fi.best_buffer);
}

int mf_file_stat(mf_file *mf, mf_file_info *info)
{
    int rc;
    MF__GUARDED(rc, mf_file_stat_unguarded(mf, info));
    return rc;
}
