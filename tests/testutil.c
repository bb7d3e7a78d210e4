/* testutil.c - temporary directories and self-location for tests. */
#include "testutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[PATH_MAX];
static pid_t dir_owner;

static void remove_dir(void)
{
    if (dir[0] && dir_owner == getpid()) {
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "testutil: could not remove %s\n", dir);
    }
}

const char *mf_test_dir(void)
{
    if (!dir[0] || dir_owner != getpid()) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/mftest.XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            abort();
        }
        dir_owner = getpid();
        atexit(remove_dir);
    }
    return dir;
}

const char *mf_test_path(const char *name)
{
    static char bufs[8][PATH_MAX];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, PATH_MAX, "%s/%s", mf_test_dir(), name);
    return b;
}

const char *mf_test_self(void)
{
    static char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0)
        abort();
    self[n] = '\0';
    return self;
}
