/*
 * guard.c - a map file truncated under a reader gives an error, not SIGBUS.
 *
 * Touching a page of a mapping past the end of a file that shrank kills the
 * process with SIGBUS. Public read functions run their map accesses inside
 * MF__GUARDED: a per-thread jump buffer is armed and a process-wide SIGBUS
 * handler, installed on first use, jumps back so the call returns
 * MF_ECORRUPT.
 *
 * The handler jumps only for a fault inside one of this library's own
 * mappings (every mapping is registered here before use and unregistered
 * before it is unmapped), and only on a thread inside a guarded section. A
 * SIGBUS anywhere else (a plugin's own truncated file, the application's)
 * goes to whatever handler was installed before ours, or kills the process
 * as it would without us. Guarded sections hold no lock of ours: the
 * registry and plugin loading run outside them, and remaps read the
 * header before they take the map lock.
 */
#include "internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

_Thread_local sigjmp_buf *mf__guard_env;

/* Registered mappings: [start, end) pairs, 0 when free. Read by the signal
 * handler, so plain atomics in a fixed table. */
#define MF__GUARD_SLOTS 4096
static struct {
    _Atomic uintptr_t start, end;
} ranges[MF__GUARD_SLOTS];

void mf__guard_map(const void *base, size_t len)
{
    uintptr_t s = (uintptr_t)base;
    for (int i = 0; i < MF__GUARD_SLOTS; i++) {
        uintptr_t free_slot = 0;
        if (atomic_compare_exchange_strong(&ranges[i].start, &free_slot, s)) {
            atomic_store(&ranges[i].end, s + len);
            return;
        }
    }
    /* Full: faults in this mapping are not caught (documented limit). */
}

void mf__guard_unmap(const void *base)
{
    uintptr_t s = (uintptr_t)base;
    for (int i = 0; i < MF__GUARD_SLOTS; i++)
        if (atomic_load(&ranges[i].start) == s) {
            atomic_store(&ranges[i].end, 0);
            atomic_store(&ranges[i].start, 0);
            return;
        }
}

static int ours(uintptr_t a)
{
    for (int i = 0; i < MF__GUARD_SLOTS; i++) {
        uintptr_t s = atomic_load(&ranges[i].start);
        if (s && a >= s && a < atomic_load(&ranges[i].end))
            return 1;
    }
    return 0;
}

static struct sigaction previous;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    sigjmp_buf *env = mf__guard_env;
    if (env && si && ours((uintptr_t)si->si_addr)) {
        mf__guard_env = NULL;
        siglongjmp(*env, 1);
    }
    /* Not a fault in our map: hand it to the previous owner. Returning
     * re-runs the faulting access, which then meets that disposition. */
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
