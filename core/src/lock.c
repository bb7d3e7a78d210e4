/*
 * lock.c - the writer lock and change notification.
 *
 * Writers (threads and processes) are serialized by a process-shared robust
 * mutex in the header page. When a writer dies holding it, the next one
 * gets EOWNERDEAD, repairs the file (recover.c), marks the mutex consistent
 * and carries on. Readers never touch the lock.
 *
 * The lock is always taken through the header page's own mapping, whose
 * address never changes while the file is open: glibc threads robust mutexes
 * on a per-thread list by address, so remapping a held mutex would break it.
 */
#include "file.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/syscall.h>

void (*mf__crash_point)(void);

/* glibc no longer caches getpid(); a writer lock must not cost two system
 * calls. Reset in a forked child. */
static uint32_t cached_pid;
static pthread_once_t pid_once = PTHREAD_ONCE_INIT;

static void forget_pid(void) { cached_pid = 0; }
static void watch_forks(void) { pthread_atfork(NULL, NULL, forget_pid); }

uint32_t mf__pid(void)
{
    pthread_once(&pid_once, watch_forks);
    if (!cached_pid)
        cached_pid = (uint32_t)getpid();
    return cached_pid;
}

int mf__writer_lock(mf_file *mf)
{
    struct mf__inc *inc = atomic_load(&mf->inc);
    struct mf__header *h = inc->hdr;
    int e = pthread_mutex_lock(&h->lock.m);
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
    MF__STORE(&h->writer_pid, mf__pid());
    if (MF__LOAD(&h->flags) & MF__HF_DIRTY) {
        int rc = mf__recover(mf);
        if (rc) {
            mf__writer_unlock(mf);
            return rc;
        }
        __atomic_fetch_and(&h->flags, ~MF__HF_DIRTY, __ATOMIC_RELEASE);
    }
    MF__STORE(&h->writer_pid, mf__pid());
    return 0;
}

void mf__writer_unlock(mf_file *mf)
{
    struct mf__header *h = atomic_load(&mf->inc)->hdr;
    MF__STORE(&h->writer_pid, 0);
    pthread_mutex_unlock(&h->lock.m);
}

void mf__announce(mf_file *mf)
{
    struct mf__header *h = atomic_load(&mf->inc)->hdr;
    uint64_t g = __atomic_add_fetch(&h->generation, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&h->change_futex, (uint32_t)g, __ATOMIC_RELEASE);
    /* Readers map the file read-only and cannot register as waiters, so
     * always wake: one syscall per publish, not per record. */
    syscall(SYS_futex, &h->change_futex, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}
