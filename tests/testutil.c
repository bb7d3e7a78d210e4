/* testutil.c - temporary directories and self-location for tests. */
#include "testutil.h"

#include "format.h"

#include <ftw.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[PATH_MAX];
static pid_t dir_owner;

/* The wake page a map file's writers and waiters made in /dev/shm (see
 * core/src/wake.c) outlives the file when the file is deleted by hand, as
 * the test directory is: remove it with the file. */
static int forget_wake_page(const char *path, const struct stat *st, int type,
                            struct FTW *ftw)
{
    (void)ftw;
    if (type != FTW_F || st->st_size < (off_t)MF__HEADER_SIZE)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char magic[8];
    uint64_t id;
    if (fd >= 0 && pread(fd, magic, 8, 0) == 8 && memcmp(magic, MF__MAGIC, 8) == 0 &&
        pread(fd, &id, 8, offsetof(struct mf__header, file_id)) == 8) {
        char name[64];
        snprintf(name, sizeof name, "/mapfile-%016llx", (unsigned long long)id);
        shm_unlink(name);
    }
    if (fd >= 0)
        close(fd);
    return 0;
}

void mf_test_forget_wake_page(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
        forget_wake_page(path, &st, FTW_F, NULL);
}

int mf_test_unlink(const char *path)
{
    mf_test_forget_wake_page(path);
    return unlink(path);
}

static void remove_dir(void)
{
    if (dir[0] && dir_owner == getpid()) {
        nftw(dir, forget_wake_page, 16, FTW_PHYS);
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

static int test_writer_grow(mf_writer *w, size_t need)
{
    size_t cap = w->cap ? w->cap : 64;
    while (cap - w->len < need) {
        if (cap > SIZE_MAX / 2)
            return -1;
        cap *= 2;
    }
    unsigned char *p = realloc(w->buf, cap);
    if (!p)
        return -1;
    w->buf = p;
    w->cap = cap;
    return 0;
}

mf_writer mf_test_writer(void)
{
    mf_writer w = {NULL, 0, 0, 0, test_writer_grow, NULL};
    return w;
}

int mf_test_damage(const char *path, const char *needle)
{
    int fd = open(path, O_RDWR);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char *buf = malloc((size_t)st.st_size);
    int rc = -1;
    if (buf && pread(fd, buf, (size_t)st.st_size, 0) == st.st_size) {
        char *hit = memmem(buf, (size_t)st.st_size, needle, strlen(needle));
        if (hit) {
            char flipped = (char)(*hit ^ 0x20);
            rc = pwrite(fd, &flipped, 1, hit - buf) == 1 ? 0 : -1;
        }
    }
    free(buf);
    close(fd);
    return rc;
}

/* The tests link libmapfile.a, which searches the configured install
 * directory; this hook (core/src/plugindir.c) makes it search the plugins of
 * this build tree instead, as a binary run from the build tree must. */
const char *mf__build_plugin_dir(void);
const char *mf__build_plugin_dir(void)
{
    return MF_TEST_PLUGIN_DIR;
}
