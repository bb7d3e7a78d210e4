/*
 * create.c - building new map files.
 *
 * A new file is always built complete under a temporary name in the same
 * directory and then linked (NEW/CREATE/UPDATE, mf_copy) or renamed
 * (RECREATE) to its path, so nobody can ever map a half-initialised header.
 */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static int sys_fail(int e, const char *what, const char *path)
{
    int code = e == EEXIST ? MF_EEXIST
               : e == ENOENT ? MF_ENOENT
               : (e == EACCES || e == EPERM || e == EROFS) ? MF_EACCES
               : (e == ENOSPC || e == EFBIG) ? MF_EFULL
               : e == ENOMEM ? MF_ENOMEM
                             : MF_ESYS;
    return mf__fail(code, "%s: %s: %s", path, what, strerror(e));
}

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
    h->lock_abi = MF__LOCK_ABI;
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

/* An empty index, so readers always find one, and the limbo ring. Built
 * as a writer would, through a context over the fresh mapping. */
static int init_directory(struct mf__map *m, const char *path)
{
    mf_file fake = {.path = (char *)path};
    struct mf__ctx c = {.mf = &fake, .hdr = (struct mf__header *)m->base, .m = m};
    uint64_t off, ring;
    int rc = mf__index_create(&c, 0, &off);
    if (rc == 0)
        rc = mf__alloc(&c, MF__LIMBO_CAP * sizeof(uint64_t), &ring);
    if (rc == 0) {
        memset(m->base + ring, 0, MF__LIMBO_CAP * sizeof(uint64_t));
        c.hdr->limbo_off = ring;
        MF__STORE(&c.hdr->index_off, off);
    }
    return rc;
}

int mf__format_file(int fd, uint64_t size, uint64_t max, const char *title,
                    const char *path)
{
    int e = posix_fallocate(fd, 0, (off_t)size);
    if (e == EOPNOTSUPP || e == EINVAL)
        e = ftruncate(fd, (off_t)size) ? errno : 0;
    if (e)
        return sys_fail(e, "allocate", path);
    struct mf__map *m;
    int rc = mf__map_file(fd, size, true, &m, path);
    if (rc)
        return rc;
    struct mf__header *h = (struct mf__header *)m->base;
    init_header(h, size, max, title);
    rc = init_mutex(h, path);
    struct mf__heap hv = {m->base, m->len, &h->heap};
    if (!rc && (rc = mf__heap_init(&hv, MF__HEADER_SIZE, size)))
        rc = mf__fail(rc, "%s: cannot format the heap: %s", path, mf_strerror(rc));
    if (!rc)
        rc = init_directory(m, path);
    mf__guard_unmap(m->base);
    munmap(m->base, m->len);
    free(m);
    return rc;
}

int mf__create_temp(const char *path, unsigned mode, uint64_t size, uint64_t max,
                    const char *title, char *tmp, size_t tmpcap, int *fd_out)
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
        int rc = mf__format_file(fd, size, max, title, path);
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

/* The map file at path, opened so it can be retired after it is replaced,
 * or -1 (anything that is not a map file of ours is simply replaced). */
static int open_existing(const char *path)
{
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
                    (uint64_t)st.st_size < MF__HEADER_SIZE)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Mark a replaced map file retired and wake its waiters: they find the new
 * file already at the path and follow it at once. */
static void retire_replaced(int fd)
{
    struct mf__header *h = mmap(NULL, MF__HEADER_SIZE, PROT_READ | PROT_WRITE,
                                MAP_SHARED, fd, 0);
    if (h == MAP_FAILED)
        return;
    if (memcmp(h->magic, MF__MAGIC, sizeof MF__MAGIC) == 0 &&
        h->format_version == MF_FORMAT_VERSION) {
        __atomic_fetch_or(&h->flags, MF__HF_RETIRED, __ATOMIC_RELEASE);
        mf__announce_header(h);
        mf__wake_unlink(h->file_id);
    }
    munmap(h, MF__HEADER_SIZE);
}

int mf__install_temp(const char *tmp, const char *path, bool exclusive)
{
    if (exclusive) {
        int rc = link(tmp, path) == 0 ? 0 : errno;
        unlink(tmp);
        if (rc == EEXIST)
            return mf__fail(MF_EEXIST, "%s: already exists", path);
        return rc ? sys_fail(rc, "link", path) : 0;
    }
    int old = open_existing(path);
    /* rename replaces a symlink at path; it never follows it. */
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        if (old >= 0)
            close(old);
        return sys_fail(e, "rename", path);
    }
    if (old >= 0) {
        retire_replaced(old);
        close(old);
    }
    return 0;
}

/* The file id in the header of the map file open on fd, or 0 if it is not
 * a map file of this format (then it has no wake page of ours). */
static uint64_t map_file_id(int fd)
{
    struct stat st;
    char magic[sizeof MF__MAGIC];
    uint32_t version;
    uint64_t id;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size < MF__HEADER_SIZE ||
        pread(fd, magic, sizeof magic, 0) != (ssize_t)sizeof magic ||
        memcmp(magic, MF__MAGIC, sizeof magic) != 0 ||
        pread(fd, &version, sizeof version, offsetof(struct mf__header, format_version)) !=
            (ssize_t)sizeof version ||
        version != MF_FORMAT_VERSION ||
        pread(fd, &id, sizeof id, offsetof(struct mf__header, file_id)) != (ssize_t)sizeof id)
        return 0;
    return id;
}

int mf_unlink_file(const char *path)
{
    if (!path || !*path)
        return mf__fail(MF_EINVAL, "mf_unlink_file: no path given");
    uint64_t id = 0;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0) {
        id = map_file_id(fd);
        close(fd);
    }
    if (unlink(path) != 0)
        return sys_fail(errno, "unlink", path);
    if (id)
        mf__wake_unlink(id);
    return 0;
}
