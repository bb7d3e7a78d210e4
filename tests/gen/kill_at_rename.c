/* kill_at_rename.c - an LD_PRELOAD shim for tests/gen_kill.sh: the Nth
 * rename() of the process (N from MF_TEST_KILL_AT_RENAME) kills it with
 * SIGKILL instead, the moment before that output file would be in place. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>

int rename(const char *from, const char *to)
{
    static int calls;
    const char *at = getenv("MF_TEST_KILL_AT_RENAME");
    if (at && ++calls == atoi(at))
        raise(SIGKILL);
    int (*real)(const char *, const char *) =
        (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    return real(from, to);
}
