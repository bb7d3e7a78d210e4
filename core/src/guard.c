/*
 * guard.c - a file truncated under a reader gives an error, not SIGBUS.
 *
 * Touching a page of a mapping past the end of a file that shrank kills the
 * process with SIGBUS. Every public read function runs its work inside
 * MF__GUARDED: a per-thread jump buffer is armed and a process-wide SIGBUS
 * handler, installed on first use, jumps back so the call returns
 * MF_ECORRUPT. A SIGBUS outside a guarded call goes to whatever handler
 * was installed before ours.
 *
 * The cost of a trip is documented in mapfile.h: a codec interrupted inside
 * stream_in leaks the partial object it had allocated. Writers are not
 * guarded: they hold the writer lock, which must never be jumped out of.
 */
#include "internal.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>

_Thread_local sigjmp_buf *mf__guard_env;

static struct sigaction previous;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    sigjmp_buf *env = mf__guard_env;
    if (env) {
        mf__guard_env = NULL;
        siglongjmp(*env, 1);
    }
    /* Not a mapfile read: hand it to the previous owner. Returning re-runs
     * the faulting access, which then meets the previous disposition. */
    if (previous.sa_flags & SA_SIGINFO)
        previous.sa_sigaction(sig, si, uc);
    else if (previous.sa_handler != SIG_IGN && previous.sa_handler != SIG_DFL)
        previous.sa_handler(sig);
    else
        sigaction(SIGBUS, &previous, NULL);
}

static void install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    /* NODEFER: we leave the handler by siglongjmp without restoring the
     * mask, so SIGBUS must not stay blocked. */
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &previous);
}

void mf__guard_init(void) { pthread_once(&once, install); }

int mf__guard_tripped(void)
{
    return mf__fail(MF_ECORRUPT, "the map file shrank while mapped (a page "
                    "past its end was read); reopen it");
}
