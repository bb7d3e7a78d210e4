/*
 * wake.c - telling waiting consumers that the file changed, without a
 * system call per publish when nobody waits.
 *
 * Writers bump header.generation and store its low 32 bits in
 * header.change_futex; consumers sleep on that word with FUTEX_WAIT. The
 * wake is the expensive part (a system call, about half of a small
 * update), and only waiters need it. Consumers map the file read-only, so
 * they count themselves in a separate *wake page*: a 4 KiB POSIX shared
 * memory object named after the file's random id, made by the first waiter
 * and writable by everyone who can read the map file (a consumer can delay
 * other consumers' wakes by lying in it, never touch the data). The first
 * writer or waiter makes it; a RECREATE removes the replaced file's page,
 * mf_unlink_file() the deleted file's; a map file deleted with unlink(2)
 * leaves its 4 KiB page in /dev/shm.
 *
 * Why no wake-up is lost (both sides use sequentially consistent order):
 *   writer:  change_futex = g;  n = waiters;  if (n) FUTEX_WAKE
 *   waiter:  waiters++;  w = change_futex;  FUTEX_WAIT(w);  waiters--
 * If the writer reads n == 0, the waiter's increment comes after that read
 * in the total order, so its load of change_futex comes after the store and
 * sees g: it does not sleep (or FUTEX_WAIT returns at once, since the word
 * no longer holds the value it was told to wait on). Otherwise the writer
 * wakes.
 *
 * A writer that has no page yet (it could not make one, or a waiter made
 * one after the writer last looked) wakes every time, and looks for the
 * page at most every 100 ms. If the page is deleted under running processes (say by
 * systemd's RemoveIPC), a writer notices within 100 ms and wakes every time
 * until it finds the new one; a waiter registered in the old page is then
 * woken at the latest by its 250 ms sleep slice (wait.c). A consumer that
 * may read the file but cannot open its page polls every 5 ms.
 */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/syscall.h>

struct mf__wake_stats mf__wake_stats;

#define MF__WAKE_MAGIC "MFWAKE1"
#define MF__WAKE_LOOK_NS 100000000 /* how often a writer looks for the page */

struct mf__wake {
    char magic[8];
    uint64_t file_id;
    _Alignas(64) uint32_t waiters; /* atomic: consumers about to sleep or asleep */
};

static void page_name(char *buf, size_t cap, uint64_t file_id)
{
    snprintf(buf, cap, "/mapfile-%016llx", (unsigned long long)file_id);
}

/* Map an open page descriptor; NULL if it is not a page of this file. */
static struct mf__wake *map_page(int fd, uint64_t file_id, bool init)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || (!init && st.st_size < (off_t)sizeof(struct mf__wake)))
        return NULL;
    if (init && st.st_size == 0 && ftruncate(fd, 4096) != 0)
        return NULL;
    struct mf__wake *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (w == MAP_FAILED)
        return NULL;
    if (init && w->magic[0] == '\0') {
        w->file_id = file_id;
        memcpy(w->magic, MF__WAKE_MAGIC, sizeof w->magic);
    }
    if (memcmp(w->magic, MF__WAKE_MAGIC, sizeof w->magic) != 0 || w->file_id != file_id) {
        munmap(w, 4096);
        return NULL;
    }
    return w;
}

/* Open (and, for a waiter, create) the page of the file with this id. */
static struct mf__wake *open_page(uint64_t file_id, int map_fd, bool create,
                                  int *err)
{
    char name[64];
    page_name(name, sizeof name, file_id);
    int fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0 && errno == ENOENT && create) {
        /* Writable by whoever may read the map file (umask aside). */
        struct stat st;
        mode_t mode = fstat(map_fd, &st) == 0 ? (st.st_mode & 0666) : 0644;
        mode |= (mode & 0444) >> 1;
        fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd >= 0)
            fchmod(fd, mode);
        else if (errno == EEXIST)
            fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
    }
    if (fd < 0) {
        *err = errno;
        return NULL;
    }
    struct mf__wake *w = map_page(fd, file_id, create);
    close(fd);
    *err = w ? 0 : EINVAL;
    return w;
}

/* Is the page we hold still the one at its name? */
static bool page_current(const struct mf__inc *inc)
{
    char name[64];
    struct stat st;
    page_name(name, sizeof name, inc->hdr->file_id);
    int fd = shm_open(name, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool same = fstat(fd, &st) == 0 && inc->wake_ino != 0 &&
                (uint64_t)st.st_ino == inc->wake_ino;
    close(fd);
    return same;
}

static void remember_page(struct mf__inc *inc, struct mf__wake *w)
{
    char name[64];
    struct stat st;
    page_name(name, sizeof name, inc->hdr->file_id);
    int fd = shm_open(name, O_RDONLY | O_CLOEXEC, 0);
    inc->wake_ino = fd >= 0 && fstat(fd, &st) == 0 ? (uint64_t)st.st_ino : 0;
    if (fd >= 0)
        close(fd);
    atomic_store(&inc->wake, w);
}

void mf__wake_forget(struct mf__inc *inc)
{
    struct mf__wake *w = atomic_exchange(&inc->wake, NULL);
    if (w)
        munmap(w, 4096);
}

/* Writer: the page if we know it, looking for it (or at whether it was
 * replaced) at most every 100 ms. Lock held: one writer at a time. */
static struct mf__wake *writer_page(struct mf__inc *inc)
{
    int64_t now = mf__coarse_ns();
    if (now < inc->wake_next_look)
        return atomic_load(&inc->wake);
    inc->wake_next_look = now + MF__WAKE_LOOK_NS;
    struct mf__wake *w = atomic_load(&inc->wake);
    if (w && page_current(inc))
        return w;
    mf__wake_forget(inc);
    int err;
    w = open_page(MF__LOAD(&inc->hdr->file_id), inc->fd, true, &err);
    if (w)
        remember_page(inc, w);
    return w;
}

static void futex_wake_all(uint32_t *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

void mf__announce(struct mf__inc *inc)
{
    struct mf__header *h = inc->hdr;
    uint64_t g = __atomic_add_fetch(&h->generation, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&h->change_futex, (uint32_t)g, __ATOMIC_SEQ_CST);
    struct mf__wake *w = inc->fd >= 0 ? writer_page(inc) : NULL;
    if (!w || __atomic_load_n(&w->waiters, __ATOMIC_SEQ_CST) != 0)
        futex_wake_all(&h->change_futex);
    else
        atomic_fetch_add_explicit(&mf__wake_stats.skipped, 1, memory_order_relaxed);
}

void mf__announce_header(struct mf__header *h)
{
    uint64_t g = __atomic_add_fetch(&h->generation, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&h->change_futex, (uint32_t)g, __ATOMIC_SEQ_CST);
    futex_wake_all(&h->change_futex);
}

void mf__wake_unlink(uint64_t file_id)
{
    char name[64];
    page_name(name, sizeof name, file_id);
    shm_unlink(name);
}

/* Waiter: the page to count ourselves in (made if missing), or NULL with
 * *poll set when a page exists that we may not use. */
static struct mf__wake *waiter_page(struct mf__inc *inc, bool *poll)
{
    *poll = false;
    struct mf__wake *w = atomic_load(&inc->wake);
    if (w)
        return w;
    int err;
    w = open_page(MF__LOAD(&inc->hdr->file_id), inc->fd, true, &err);
    if (!w) {
        /* A page we cannot use (EACCES) may be what writers count on. */
        *poll = err != ENOENT && err != ENOSYS && err != ENOTDIR;
        return NULL;
    }
    struct mf__wake *none = NULL;
    if (!atomic_compare_exchange_strong(&inc->wake, &none, w)) {
        munmap(w, 4096); /* another thread of ours got there first */
        return none;
    }
    return w;
}

#define MF__POLL_NS 5000000

void mf__sleep(struct mf__inc *inc, uint32_t word, struct timespec ts)
{
    struct mf__header *h = inc->hdr;
    bool poll;
    struct mf__wake *w = waiter_page(inc, &poll);
    if (poll && (ts.tv_sec > 0 || ts.tv_nsec > MF__POLL_NS)) {
        ts.tv_sec = 0;
        ts.tv_nsec = MF__POLL_NS;
    }
    if (w)
        __atomic_add_fetch(&w->waiters, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&h->change_futex, __ATOMIC_SEQ_CST) == word &&
        syscall(SYS_futex, &h->change_futex, FUTEX_WAIT, word, &ts, NULL, 0) != 0 &&
        errno == ETIMEDOUT && __atomic_load_n(&h->change_futex, __ATOMIC_SEQ_CST) != word)
        /* Slept to the end although the file changed: a wake went missing. */
        atomic_fetch_add_explicit(&mf__wake_stats.late, 1, memory_order_relaxed);
    if (w)
        __atomic_sub_fetch(&w->waiters, 1, __ATOMIC_SEQ_CST);
}
