/*
 * wait.c - sleeping until the file changes.
 *
 * Writers bump header.generation and store its low 32 bits in
 * header.change_futex, then FUTEX_WAKE. A waiter reads the futex word before
 * it compares generations, so a change between the two makes FUTEX_WAIT
 * return at once instead of sleeping through it.
 */
#include "file.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Was the file at our path deleted or replaced by another inode without a
 * RECREATE (which would have retired ours)? */
static bool path_moved(const mf_file *mf, const struct mf__inc *inc)
{
    struct stat st;
    if (stat(mf->path, &st) != 0)
        return false; /* gone: nothing newer to follow yet */
    return st.st_ino != inc->ino || st.st_dev != inc->dev;
}

static int mf_wait_unguarded(mf_file *mf, uint64_t *seen, int timeout_ms)
{
    mf__clear_detail();
    if (!mf || !seen)
        return mf__fail(MF_EINVAL, "mf_wait: NULL argument");
    int64_t deadline = timeout_ms < 0 ? INT64_MAX
                                      : mono_ns() + (int64_t)timeout_ms * 1000000;
    for (;;) {
        struct mf__ctx c;
        int rc = mf__enter(mf, &c);
        if (rc)
            return rc;
        uint32_t word = __atomic_load_n(&c.hdr->change_futex, __ATOMIC_ACQUIRE);
        uint64_t g = MF__LOAD_ACQ(&c.hdr->generation);
        if (g != *seen) {
            *seen = g;
            return 0;
        }
        if (MF__LOAD_ACQ(&c.hdr->flags) & MF__HF_RETIRED)
            continue; /* mf__enter follows it or reports it */
        struct timespec ts, *tsp = NULL;
        if (deadline != INT64_MAX) {
            int64_t left = deadline - mono_ns();
            if (left <= 0) {
                if (!mf->writable && path_moved(mf, c.inc)) {
                    if (mf->flags & MF_OPEN_NO_FOLLOW_REPLACE)
                        return mf__fail(MF_EREPLACED, "%s: the file was replaced",
                                        mf->path);
                    rc = mf__follow(mf, c.inc);
                    if (rc == 0)
                        continue;
                }
                return mf__fail(MF_ETIMEDOUT, "%s: no change within %d ms",
                                mf->path, timeout_ms);
            }
            ts.tv_sec = left / 1000000000;
            ts.tv_nsec = left % 1000000000;
            tsp = &ts;
        }
        syscall(SYS_futex, &c.hdr->change_futex, FUTEX_WAIT, word, tsp, NULL, 0);
    }
}

int mf_wait(mf_file *mf, uint64_t *seen, int timeout_ms)
{
    int rc;
    MF__GUARDED(rc, mf_wait_unguarded(mf, seen, timeout_ms));
    return rc;
}
