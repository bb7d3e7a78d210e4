/*
 * wait.c - sleeping until the file changes.
 *
 * Writers bump header.generation and store its low 32 bits in
 * header.change_futex, then wake waiters (wake.c). A waiter reads the futex
 * word before it compares generations, so a change between the two makes
 * the sleep return at once instead of sleeping through it.
 *
 * A producer that restarts with RECREATE renames its new file over the
 * path first and only then retires the old one and wakes its waiters, so a
 * woken waiter finds the new file in place, follows it and returns at once:
 * the next wait sleeps on the new file's futex.
 */
#include "file.h"

#include <time.h>

/* A sleep never lasts longer than this, so a file deleted and created anew
 * (not RECREATEd, so nobody retired ours) is still noticed (map.c looks at
 * the path at most every 250 ms). */
#define MF__SLEEP_SLICE_NS 250000000

/* One look, and a sleep if nothing changed: 0 with *seen updated if the
 * file changed (or was followed), 1 to look again, or an error. The sleep
 * happens inside the operation, so the header page it sleeps on stays
 * mapped. */
static int look_and_sleep(mf_file *mf, uint64_t *seen, int64_t deadline,
                          int timeout_ms)
{
    struct mf__ctx c;
    int rc = mf__enter(mf, &c);
    if (rc)
        return rc;
    uint64_t id = c.hdr->file_id;
    uint32_t word = __atomic_load_n(&c.hdr->change_futex, __ATOMIC_ACQUIRE);
    uint64_t g = MF__LOAD_ACQ(&c.hdr->generation);
    /* A followed replacement is a change even if the new file's counter
     * happens to equal the old one's: the handle remembers which file the
     * generation it last returned came from. */
    if (g != *seen || *seen == 0 || id != atomic_load(&mf->wait_file_id)) {
        *seen = g;
        atomic_store(&mf->wait_file_id, id);
        rc = 0;
    } else {
        int64_t left = deadline == INT64_MAX ? INT64_MAX : deadline - mf__mono_ns();
        if (left <= 0) {
            rc = mf__fail(MF_ETIMEDOUT, "%s: no change within %d ms", mf->path,
                          timeout_ms);
        } else {
            if (left > MF__SLEEP_SLICE_NS)
                left = MF__SLEEP_SLICE_NS;
            struct timespec ts = {left / 1000000000, left % 1000000000};
            mf__sleep(c.inc, word, ts);
            rc = 1;
        }
    }
    mf__leave(&c);
    return rc;
}

static int mf_wait_unguarded(mf_file *mf, uint64_t *seen, int timeout_ms)
{
    mf__clear_detail();
    if (!mf || !seen)
        return mf__fail(MF_EINVAL, "mf_wait: NULL argument");
    int64_t deadline = timeout_ms < 0 ? INT64_MAX
                                      : mf__mono_ns() + (int64_t)timeout_ms * 1000000;
    int rc;
    while ((rc = look_and_sleep(mf, seen, deadline, timeout_ms)) == 1)
        ;
    return rc;
}

int mf_wait(mf_file *mf, uint64_t *seen, int timeout_ms)
{
    int rc;
    MF__GUARDED(rc, mf_wait_unguarded(mf, seen, timeout_ms));
    return rc;
}
