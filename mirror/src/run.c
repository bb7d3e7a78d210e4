/*
 * run.c - mf_mirror_run: push on every change of the source, or pull every
 * batch, until stopped. A failed step is logged and retried after a backoff
 * that doubles from 100 ms up to backoff_max_ms, so a cut link, a restarted
 * Redis or a killed peer heals by itself.
 */
#include "mirror_internal.h"

#include <time.h>

#define BACKOFF_MIN_MS 100

typedef struct retry {
    int backoff_ms;
    int last_rc;        /* the error of the failing streak, 0 if none */
} retry;

/* Errors that retrying cannot cure. */
static bool fatal(int rc)
{
    return rc == MF_MIRROR_EAUTH || rc == MF_MIRROR_EENDPOINT || rc == MF_EINVAL ||
           rc == MF_ENOTMAPFILE || rc == MF_EACCES || rc == MF_EVERSION;
}

/* Sleep up to ms, waking early when stopped. */
static void nap(struct mf_mirror *m, int ms)
{
    while (ms > 0 && !mm_stopped(m)) {
        int slice = ms < 50 ? ms : 50;
        struct timespec ts = {0, (long)slice * 1000000};
        nanosleep(&ts, NULL);
        ms -= slice;
    }
}

/* After a step: log a failure and wait, or note the recovery. 1 to go on,
 * or the fatal error. */
static int after_step(struct mf_mirror *m, retry *r, int rc)
{
    if (rc == 0) {
        if (r->last_rc)
            mm_log(m, MF_MIRROR_LOG_INFO, "%s again", m->is_push ? "publishing" : "in step");
        r->last_rc = 0;
        r->backoff_ms = BACKOFF_MIN_MS;
        return 1;
    }
    if (fatal(rc)) {
        mm_log(m, MF_MIRROR_LOG_ERROR, "%s", mf_mirror_errdetail());
        return rc;
    }
    /* A pull waiting for a push says so once, not every backoff. */
    if (rc == MF_MIRROR_ENOSOURCE) {
        if (r->last_rc != rc)
            mm_log(m, MF_MIRROR_LOG_INFO, "%s; waiting", mf_mirror_errdetail());
    } else {
        bool conn = rc == MF_MIRROR_ECONNECT || rc == MF_MIRROR_EREDIS;
        mm_log(m, conn ? MF_MIRROR_LOG_WARN : MF_MIRROR_LOG_ERROR, "%s; %s in %.1f s",
               mf_mirror_errdetail(), conn ? "reconnecting" : "retrying",
               r->backoff_ms / 1000.0);
    }
    r->last_rc = rc;
    nap(m, r->backoff_ms);
    r->backoff_ms = r->backoff_ms * 2 > m->backoff_max_ms ? m->backoff_max_ms
                                                          : r->backoff_ms * 2;
    return 1;
}

static int run_push(struct mf_mirror *m)
{
    retry r = {BACKOFF_MIN_MS, 0};
    uint64_t seen = 0;
    bool need = true;
    while (!mm_stopped(m)) {
        if (need) {
            int rc = after_step(m, &r, mf_mirror_push(m));
            if (rc != 1)
                return rc;
            need = r.last_rc != 0;
            continue;
        }
        int rc = mf_wait(m->src, &seen, m->block_ms);
        if (rc == 0) {
            need = true;
        } else if (rc == MF_ETIMEDOUT) {
            /* Idle: is Redis still as the push left it? */
            rc = mm_push_probe(m);
            need = rc != 0 || !m->loaded;
            if (rc)
                mm_log(m, MF_MIRROR_LOG_WARN, "%s", mf_mirror_errdetail());
        } else {
            mm_fail_core(rc, "waiting for the source");
            if ((rc = after_step(m, &r, rc)) != 1)
                return rc;
            need = true;
        }
    }
    return 0;
}

static int run_pull(struct mf_mirror *m)
{
    retry r = {BACKOFF_MIN_MS, 0};
    while (!mm_stopped(m)) {
        int rc = after_step(m, &r, mf_mirror_pull(m, m->block_ms, NULL));
        if (rc != 1)
            return rc;
    }
    return 0;
}

int mf_mirror_run(mf_mirror *m)
{
    mm_clear_detail();
    if (!m)
        return mm_fail(MF_EINVAL, "mf_mirror_run: NULL mirror");
    return m->is_push ? run_push(m) : run_pull(m);
}
