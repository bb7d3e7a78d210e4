/*
 * lock.c - the writer lock and change notification.
 *
 * Writers (threads and processes) are serialized by a process-shared robust
 * mutex in the header page. When a writer dies holding it, the kernel marks
 * the mutex and the next writer gets EOWNERDEAD, repairs the file
 * (recover.c), marks the mutex consistent and carries on. Readers never
 * touch the lock.
 *
 * The kernel only knows about owners of *this* mutex in *this* boot. A
 * file copied while its writer held the lock, restored from a backup, or
 * left by a host that crashed says "locked" with no owner anywhere, and
 * would block the next writer forever. So the holder also records who it
 * is (header.owner: pid, process start time, pid namespace, boot, file),
 * writers wait with a timeout, and on every timeout look at that record: a
 * holder that is provably gone (another file, another boot, or a pid now
 * used by another process) is treated as the kernel treats a dead one.
 *
 * The lock is always taken through the header page's own mapping, whose
 * address never changes while the file is open: glibc threads robust mutexes
 * on a per-thread list by address, so remapping a held mutex would break it.
 */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/syscall.h>

void (*mf__crash_point)(void);

/* ------------------------------------------------------------------------ */
/* Who we are                                                                */
/* ------------------------------------------------------------------------ */

/* glibc no longer caches getpid(); a writer lock must not cost system calls
 * per update. Everything here is reset in a forked child. */
static struct mf__owner self;
static pthread_once_t self_once = PTHREAD_ONCE_INIT;
static _Thread_local uint32_t self_tid;

/* Runs in the child, on the only thread it has: the thread id it
 * inherited is its parent's. */
static void forget_self(void)
{
    self.pid = 0;
    self_tid = 0;
}
static void watch_forks(void) { pthread_atfork(NULL, NULL, forget_self); }

/* Field 22 of /proc/PID/stat (start time in clock ticks), or 0. */
static uint64_t start_time_of(uint32_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%u/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces and parentheses: count
     * fields after its last ')'. */
    char *p = strrchr(buf, ')');
    for (int field = 2; p && field < 22; field++)
        p = strchr(p + 1, ' ');
    return p ? strtoull(p + 1, NULL, 10) : 0;
}

static uint64_t pidns_inode(void)
{
    struct stat st;
    return stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

static void read_boot_id(unsigned char id[16])
{
    char buf[64] = {0};
    memset(id, 0, 16);
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    for (ssize_t i = 0, k = 0; i + 1 < n && k < 32;) {
        if (buf[i] == '-') {
            i++;
            continue;
        }
        unsigned v;
        if (sscanf(buf + i, "%2x", &v) != 1)
            return;
        id[k / 2] = (unsigned char)v;
        k += 2;
        i += 2;
    }
}

static const struct mf__owner *whoami(void)
{
    pthread_once(&self_once, watch_forks);
    if (!self.pid) {
        self.pid = (uint32_t)getpid();
        self.start_time = start_time_of(self.pid);
        self.pidns = pidns_inode();
        read_boot_id(self.boot_id);
    }
    return &self;
}

uint32_t mf__pid(void) { return whoami()->pid; }

static uint32_t my_tid(void)
{
    if (!self_tid)
        self_tid = (uint32_t)syscall(SYS_gettid);
    return self_tid;
}

/* ------------------------------------------------------------------------ */
/* Is the holder gone?                                                       */
/* ------------------------------------------------------------------------ */

/* The mutex's futex word: owner tid | FUTEX_WAITERS | FUTEX_OWNER_DIED.
 * Only glibc's layout is known; elsewhere 0 (unknown). */
static int *lock_word(struct mf__header *h)
{
#if defined(__GLIBC__)
    return &h->lock.m.__data.__lock;
#else
    (void)h;
    return NULL;
#endif
}

/* A holder we can prove gone: it recorded another file, another boot, or
 * (in our pid namespace) a pid that is now free or a different process.
 * Anything we cannot prove stays "alive": the kernel's robust-list
 * handling covers holders that die on this boot in this file. */
static bool owner_gone(const struct mf__owner *o, const struct mf__inc *inc)
{
    const struct mf__owner *me = whoami();
    uint32_t pid = MF__LOAD(&o->pid);
    if (pid == 0)
        return false; /* between the lock and the record: look again later */
    if (MF__LOAD(&o->file_dev) != (uint64_t)inc->dev ||
        MF__LOAD(&o->file_ino) != (uint64_t)inc->ino)
        return true; /* the lock state was copied with the bytes */
    unsigned char boot[16];
    memcpy(boot, o->boot_id, 16);
    if (memcmp(boot, me->boot_id, 16) != 0)
        return true; /* taken before this machine last booted */
    if (MF__LOAD(&o->pidns) != me->pidns || pid > 4194304u)
        return pid > 4194304u; /* another namespace: cannot judge */
    uint64_t started = start_time_of(pid);
    return started == 0 || started != MF__LOAD(&o->start_time);
}

int mf__writer_state(const struct mf__header *h, const struct mf__inc *inc,
                     uint32_t *pid)
{
    *pid = MF__LOAD(&h->owner.pid);
    int *word = lock_word((struct mf__header *)h);
    int w = word ? __atomic_load_n(word, __ATOMIC_ACQUIRE) : (*pid ? 1 : 0);
    if ((w & FUTEX_TID_MASK) == 0 && !(w & FUTEX_OWNER_DIED))
        return MF_WRITER_FREE;
    if ((w & FUTEX_OWNER_DIED) || owner_gone(&h->owner, inc))
        return MF_WRITER_DEAD;
    return MF_WRITER_HELD;
}

/* Do to a lock whose holder is provably gone what the kernel does when a
 * holder dies: clear the owner, set OWNER_DIED (keeping WAITERS), wake one
 * waiter. The next lock attempt then gets EOWNERDEAD and repairs. */
static bool take_over(struct mf__header *h, const struct mf__inc *inc)
{
    int *word = lock_word(h);
    if (!word)
        return false;
    int w = __atomic_load_n(word, __ATOMIC_ACQUIRE);
    if ((w & FUTEX_TID_MASK) == 0 || !owner_gone(&h->owner, inc))
        return false;
    int dead = (w & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
    if (!__atomic_compare_exchange_n(word, &w, dead, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return false; /* it changed: somebody else is on it */
    if (dead & FUTEX_WAITERS)
        syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0);
    return true;
}

/* ------------------------------------------------------------------------ */
/* Taking and releasing                                                      */
/* ------------------------------------------------------------------------ */

/* Waiting for a lock this thread holds would never end: a codec's
 * stream_out runs under the lock, and may be foolish enough to write to
 * its own file through another handle. So each thread remembers which
 * files' locks it holds (a stream_out may write to other files, hence a
 * few), by device and inode: nothing read from the file decides it. A
 * lock word naming this thread for a file not in the list is a stale lock
 * (a copied file, a pid reused after a crash): it is waited on and taken
 * over like any other. */
#define MF__HELD_MAX 16
static _Thread_local struct held_lock {
    uint64_t dev, ino;
} held[MF__HELD_MAX];
static _Thread_local unsigned nheld;

static bool held_by_this_thread(const struct mf__inc *inc)
{
    for (unsigned i = 0; i < nheld; i++)
        if (held[i].dev == (uint64_t)inc->dev && held[i].ino == (uint64_t)inc->ino)
            return true;
    return false;
}

/* Deeper nesting than MF__HELD_MAX is not remembered: such a thread
 * writing to its own file would wait, as before this check existed. */
static void remember_held(const struct mf__inc *inc)
{
    if (nheld < MF__HELD_MAX)
        held[nheld++] = (struct held_lock){(uint64_t)inc->dev, (uint64_t)inc->ino};
}

static void forget_held(const struct mf__inc *inc)
{
    for (unsigned i = nheld; i-- > 0;)
        if (held[i].dev == (uint64_t)inc->dev && held[i].ino == (uint64_t)inc->ino) {
            held[i] = held[--nheld];
            return;
        }
}

/* How long a writer waits before it looks whether the holder still exists. */
#define MF__LOCK_PATIENCE_NS 200000000L

static int lock_timed(struct mf__header *h)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += MF__LOCK_PATIENCE_NS;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return pthread_mutex_timedlock(&h->lock.m, &ts);
}

static void record_owner(struct mf__header *h, const struct mf__inc *inc)
{
    const struct mf__owner *me = whoami();
    struct mf__owner *o = &h->owner;
    MF__STORE(&o->tid, my_tid());
    MF__STORE(&o->start_time, me->start_time);
    MF__STORE(&o->pidns, me->pidns);
    MF__STORE(&o->file_dev, (uint64_t)inc->dev);
    MF__STORE(&o->file_ino, (uint64_t)inc->ino);
    memcpy(o->boot_id, me->boot_id, 16);
    MF__STORE_REL(&o->pid, me->pid);
}

int mf__writer_lock(mf_file *mf)
{
    struct mf__inc *inc = atomic_load(&mf->inc);
    struct mf__header *h = inc->hdr;
    /* Uncontended: no clock read. Otherwise wait in slices, looking at the
     * holder after each. */
    int e = pthread_mutex_trylock(&h->lock.m);
    if (e == EBUSY && held_by_this_thread(inc))
        return mf__fail(MF_EBUSY, "%s: this thread already holds the writer lock (a "
                        "codec's stream_out writing to the file it is being written "
                        "to?)", mf->path);
    while (e == EBUSY || e == ETIMEDOUT) {
        if (e == ETIMEDOUT)
            take_over(h, inc);
        e = lock_timed(h);
    }
    if (e == EOWNERDEAD) {
        /* Mark the file dirty before making the mutex usable again, so a
         * repair that fails or dies is retried by the next writer. */
        __atomic_fetch_or(&h->flags, MF__HF_DIRTY, __ATOMIC_RELEASE);
        pthread_mutex_consistent(&h->lock.m);
    } else if (e == ENOTRECOVERABLE) {
        return mf__fail(MF_ECORRUPT, "%s: the writer lock is unrecoverable",
                        mf->path);
    } else if (e) {
        return mf__fail(MF_ESYS, "%s: cannot take the writer lock: %s",
                        mf->path, strerror(e));
    }
    record_owner(h, inc);
    remember_held(inc);
    /* Odd while held; a dead holder left it odd, so step by two then. */
    uint64_t s = MF__LOAD(&h->write_seq);
    __atomic_store_n(&h->write_seq, s + ((s & 1) ? 2 : 1), __ATOMIC_SEQ_CST);
    if (MF__LOAD(&h->flags) & MF__HF_DIRTY) {
        int rc = mf__recover(mf);
        if (rc) {
            mf__writer_unlock(mf);
            return rc;
        }
        __atomic_fetch_and(&h->flags, ~MF__HF_DIRTY, __ATOMIC_RELEASE);
    }
    return 0;
}

void mf__writer_unlock(mf_file *mf)
{
    struct mf__inc *inc = atomic_load(&mf->inc);
    struct mf__header *h = inc->hdr;
    forget_held(inc);
    __atomic_store_n(&h->write_seq, MF__LOAD(&h->write_seq) + 1, __ATOMIC_SEQ_CST);
    MF__STORE_REL(&h->owner.pid, 0);
    pthread_mutex_unlock(&h->lock.m);
}
