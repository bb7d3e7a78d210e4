/*
 * file.c - opening and closing map files, checking their headers, and
 * describing them (mf_file_stat, mf_print). Building new files is in
 * create.c; mappings, growth and following replaced files in map.c.
 */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MF__PAGE 4096u

static int64_t clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint64_t mf__now_ns(void) { return (uint64_t)clock_ns(CLOCK_REALTIME); }
int64_t mf__mono_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
int64_t mf__coarse_ns(void) { return clock_ns(CLOCK_MONOTONIC_COARSE); }

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


/* ------------------------------------------------------------------------ */
/* Header validation                                                         */
/* ------------------------------------------------------------------------ */

/* Check every header field against the real file size (taken after the
 * capacity was read: a writer raises the capacity only once the file has
 * grown). *cap_out gets the validated capacity, the size to map. */
static int validate_header(const struct mf__header *h, int fd, const char *path,
                           uint64_t *cap_out)
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
    uint64_t cap = MF__LOAD_ACQ(&h->capacity);
    uint64_t hend = MF__LOAD(&h->heap.heap_end);
    struct stat st;
    if (fstat(fd, &st) != 0)
        return sys_fail(errno, "fstat", path);
    uint64_t file_size = (uint64_t)st.st_size;
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
    /* Not heap_end against the file size: a writer growing the file right
     * now raises heap_end before our fstat result catches up. Readers map
     * capacity; writers check heap_end under the lock. */
    if (h->heap.heap_start != MF__HEADER_SIZE || hend < cap || hend > MF__MAX_SIZE ||
        hend % MF__PAGE)
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
    /* Every record needs at least a 64-byte payload and a 16-byte slot. */
    if (MF__LOAD(&h->record_count) > hend / 80)
        return mf__fail(MF_ECORRUPT, "%s: record count %llu cannot fit in the file",
                        path, (unsigned long long)MF__LOAD(&h->record_count));
    *cap_out = cap;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Incarnations                                                              */
/* ------------------------------------------------------------------------ */

/* Open the file and check that it is a regular file big enough to hold a
 * header; tells a short file of ours from someone else's. */
static int open_checked(const char *path, bool writable, int *fd_out,
                        struct stat *st)
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
    if (fstat(fd, st) != 0) {
        int e = errno;
        close(fd);
        return sys_fail(e, "fstat", path);
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return mf__fail(MF_ENOTMAPFILE, "%s: not a regular file", path);
    }
    if ((uint64_t)st->st_size < MF__HEADER_SIZE) {
        char magic[8] = {0};
        ssize_t n = pread(fd, magic, sizeof magic, 0);
        close(fd);
        if (n == (ssize_t)sizeof magic && memcmp(magic, MF__MAGIC, 8) == 0)
            return mf__fail(MF_ECORRUPT, "%s: truncated header (%lld bytes)",
                            path, (long long)st->st_size);
        return mf__fail(MF_ENOTMAPFILE, "%s: too small to be a map file", path);
    }
    *fd_out = fd;
    return 0;
}

/* An incarnation over an open descriptor (taken over, closed on failure). */
static int inc_from_fd(int fd, const struct stat *st_in, const char *path,
                       bool writable, struct mf__inc **out)
{
    struct stat st = *st_in;
    int rc;
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
        mf__inc_free(inc);
        return sys_fail(e, "mmap", path);
    }
    inc->hdr = h;
    mf__guard_map(h, MF__HEADER_SIZE);
    /* The file may shrink under us between the fstat and these reads. */
    uint64_t cap = 0;
    MF__GUARDED(rc, validate_header(inc->hdr, fd, path, &cap));
    struct mf__map *m = NULL;
    if (rc == 0)
        rc = mf__map_file(fd, cap, writable, &m, path);
    if (rc) {
        mf__inc_free(inc);
        return rc;
    }
    atomic_store(&inc->map, m);
    *out = inc;
    return 0;
}

int mf__inc_open(const char *path, bool writable, struct mf__inc **out)
{
    int fd;
    struct stat st;
    int rc = open_checked(path, writable, &fd, &st);
    return rc ? rc : inc_from_fd(fd, &st, path, writable, out);
}

/* ------------------------------------------------------------------------ */
/* Waiting for a file to appear                                              */
/* ------------------------------------------------------------------------ */

/* Open for reading, waiting up to wait_ms for the file to be created. The
 * directory is watched with inotify, so this sleeps instead of polling. */
static int open_waiting(mf_file *mf, int wait_ms, struct mf__inc **out)
{
    int rc = mf__inc_open(mf->path, false, out);
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
    int64_t deadline = wait_ms < 0 ? INT64_MAX : mf__mono_ns() / 1000000 + wait_ms;
    for (;;) {
        rc = mf__inc_open(mf->path, false, out);
        if (rc != MF_ENOENT)
            break;
        int64_t left = deadline == INT64_MAX ? -1 : deadline - mf__mono_ns() / 1000000;
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
    mf__users_drain(mf);
    mf__inc_free(atomic_load(&mf->inc));
    for (size_t i = 0; i < mf->nadded; i++)
        free(mf->added[i].name);
    free(mf->added);
    free(mf->enc);
    free(mf->ops);
    free(mf->schemas);
    pthread_mutex_destroy(&mf->map_lock);
    pthread_mutex_destroy(&mf->prod_lock);
    free(mf->path);
    free(mf);
}

/* Build a new file under a temporary name, put it at the path, and open the
 * very file we built (never whatever is at the path by then). */
static int create_file(mf_file *mf, bool exclusive, struct mf__inc **out)
{
    char tmp[PATH_MAX + 32];
    int fd = -1;
    int rc = mf__create_temp(mf->path, mf->file_mode, mf->initial_size,
                             mf->max_size, mf->title, tmp, sizeof tmp, &fd);
    if (rc)
        return rc;
    struct stat st;
    if ((rc = mf__install_temp(tmp, mf->path, exclusive)) == 0 && fstat(fd, &st) != 0)
        rc = sys_fail(errno, "fstat", mf->path);
    if (rc) {
        close(fd);
        return rc;
    }
    return inc_from_fd(fd, &st, mf->path, true, out);
}

/* The path made absolute, so a later chdir does not move the handle. */
static char *absolute(const char *path)
{
    if (path[0] == '/')
        return strdup(path);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return strdup(path);
    size_t n = strlen(cwd) + 1 + strlen(path) + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", cwd, path);
    return p;
}

static int open_incarnation(mf_file *mf, int mode, int wait_ms, struct mf__inc **inc)
{
    switch (mode) {
    case MF_READ:
        return open_waiting(mf, wait_ms, inc);
    case MF_UPDATE: {
        int rc = mf__inc_open(mf->path, true, inc);
        if (rc != MF_ENOENT || (mf->flags & MF_OPEN_NO_CREATE))
            return rc;
        mf__clear_detail();
        rc = create_file(mf, true, inc);
        return rc == MF_EEXIST ? mf__inc_open(mf->path, true, inc) : rc;
    }
    case MF_CREATE:
    case MF_NEW:
        return create_file(mf, true, inc);
    default:
        return create_file(mf, false, inc);
    }
}

/* Writers must share the lock's binary layout (format.h MF__LOCK_ABI). */
static int check_lock_abi(const mf_file *mf, const struct mf__inc *inc)
{
    uint32_t abi = inc->hdr->lock_abi;
    if (abi == MF__LOCK_ABI)
        return 0;
    return mf__fail(MF_ELOCKABI, "%s: its writer lock was made by a %s %u-bit "
                    "build with a %u-byte mutex; this is a %s %u-bit build with "
                    "a %u-byte mutex, which would misread it. Open it read-only, "
                    "or write it from a matching build", mf->path,
                    (abi >> 24) == 1 ? "glibc" : "non-glibc", ((abi >> 16) & 0xff) * 8,
                    abi & 0xffff, MF__LOCK_LIBC == 1 ? "glibc" : "non-glibc",
                    (unsigned)sizeof(void *) * 8, (unsigned)sizeof(pthread_mutex_t));
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
    uint64_t max = o.max_size ? o.max_size : MF__DEFAULT_MAX_SIZE;
    /* max_size is a limit the caller set: a file never starts above it. */
    if (size > max)
        size = max;
    if (size < MF__MIN_SIZE)
        size = MF__MIN_SIZE;
    size = round_page(size);
    if (max < size)
        max = size; /* only below the 64 KiB minimum */
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
    mf->path = absolute(path);
    pthread_mutex_init(&mf->map_lock, NULL);
    /* Error-checking: a codec's stream_out runs with it held, and one
     * that writes through this handle gets MF_EBUSY, not a hang. */
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_init(&mf->prod_lock, &attr);
    pthread_mutexattr_destroy(&attr);
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

    struct mf__inc *inc = NULL;
    int rc = open_incarnation(mf, mode, o.wait_ms, &inc);
    if (rc == 0 && mf->writable && (rc = check_lock_abi(mf, inc)))
        mf__inc_free(inc);
    if (rc) {
        file_free(mf);
        return rc;
    }
    atomic_store(&mf->inc, inc);
    atomic_store(&mf->wait_file_id, MF__LOAD(&inc->hdr->file_id));
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

static void describe(mf_file *mf, const struct mf__inc *inc, mf_file_info *info)
{
    const struct mf__header *h = inc->hdr;
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
    info->batch = MF__LOAD(&h->committed);
    info->committed = info->batch;
    info->recoveries = MF__LOAD(&h->recoveries);
    info->file_id = MF__LOAD(&h->file_id);
    info->created_ns = MF__LOAD(&h->created_ns);
    info->writer_state = mf__writer_state(h, inc, &info->writer_pid);
    info->repair_pending = info->writer_state == MF_WRITER_DEAD ||
                           (MF__LOAD(&h->flags) & MF__HF_DIRTY) != 0;
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
        /* A writer's replaced file still describes itself. */
        describe(mf, atomic_load(&mf->inc), info);
        return 0;
    }
    describe(mf, c.inc, info);
    mf__leave(&c);
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
