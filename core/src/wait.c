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

/* A sleep never lasts longer than this, so a file deleted and created anew
 * (not RECREATEd, so nobody retired ours) is still noticed. */
#define MF__PATH_CHECK_NS 1000000000

static int mf_wait_unguarded(mf_file *mf, uint64_t *seen, int timeout_ms)
{
    mf__clear_detail();
    if (!mf || !seen)
        return mf__fail(MF_EINVAL, "mf_wait: NULL argument");
    int64_t deadline = timeout_ms < 0 ? INT64_MAX
                                      : mono_ns() + (int64_t)timeout_ms * 1000000;
    struct mf__inc *start = atomic_load(&mf->inc);
    bool slept = false;
    for (;;) {
        struct mf__ctx c;
        int rc = mf__enter(mf, &c);
        if (rc)
            return rc;
        uint32_t word = __atomic_load_n(&c.hdr->change_futex, __ATOMIC_ACQUIRE);
        uint64_t g = MF__LOAD_ACQ(&c.hdr->generation);
        /* A followed replacement is a change even if the new file's counter
         * happens to equal the old one's. */
        if (g != *seen || *seen == 0 || c.inc != start) {
            *seen = g;
            return 0;
        }
        int64_t left = deadline == INT64_MAX ? INT64_MAX : deadline - mono_ns();
        /* Look at the path only after a quiet sleep (or at the deadline),
         * never on entry: a consumer woken by every update pays no stat(). */
        if (left <= 0 || slept) {
            if (!mf->writable && path_moved(mf, c.inc)) {
                if (mf->flags & MF_OPEN_NO_FOLLOW_REPLACE)
                    return mf__fail(MF_EREPLACED, "%s: the file was replaced",
                                    mf->path);
                if (mf__follow(mf, c.inc) == 0)
                    continue;
            }
        }
        if (left <= 0)
            return mf__fail(MF_ETIMEDOUT, "%s: no change within %d ms", mf->path,
                            timeout_ms);
        if (left > MF__PATH_CHECK_NS)
            left = MF__PATH_CHECK_NS;
        struct timespec ts = {left / 1000000000, left % 1000000000};
        syscall(SYS_futex, &c.hdr->change_futex, FUTEX_WAIT, word, &ts, NULL, 0);
        slept = true;
    }
}

int mf_wait(mf_file *mf, uint64_t *seen, int timeout_ms)
{
    int rc;
    MF__GUARDED(rc, mf_wait_unguarded(mf, seen, timeout_ms));
    return rc;
}
