/* test_attack_limits.c - memory a writer needs is bounded by what it
 * writes now, not by the file's history or size (issue 12, item 10).
 *
 * (a) A producer restarted on a file that once held 8 MiB objects adds
 *     2,000 small objects and updates them. Its encode buffer must not be
 *     sized from the old history (8 MiB x 2,000 objects): under an address
 *     space limit of 768 MiB above what the process already maps, every
 *     update must succeed.
 * (b) A writer died inside a change of a 16 GiB file holding a few
 *     records. The next writer repairs it under an address space limit of
 *     the file's size plus 1 GiB: the repair must need memory for what the
 *     file holds, not 2 x heap_end / 64 entries (4 GiB here).
 * Both run in a child under setrlimit(RLIMIT_AS). AddressSanitizer
 * reserves terabytes of address space for its shadow memory, so no
 * RLIMIT_AS can work there: both are skipped under ASan.
 *
 * The 16 GiB file stays sparse: this test program's own posix_fallocate
 * (and fallocate) extend a file with ftruncate instead of reserving its
 * blocks, so the test costs no disk. What is measured, the memory of the
 * repair, does not depend on how the blocks were reserved. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attackutil.h"
#include "testutil.h"

/* ---- sparse files ---------------------------------------------------------------- */

static int extend_sparse(int fd, off_t end)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return errno;
    if (st.st_size >= end)
        return 0;
    return ftruncate(fd, end) == 0 ? 0 : errno;
}

int posix_fallocate(int fd, off_t offset, off_t len)
{
    return extend_sparse(fd, offset + len);
}

int fallocate(int fd, int mode, off_t offset, off_t len)
{
    if (mode != 0) {
        errno = EOPNOTSUPP;
        return -1;
    }
    int e = extend_sparse(fd, offset + len);
    errno = e;
    return e ? -1 : 0;
}

/* ---- address space limits ----------------------------------------------------------- */

/* Bytes of address space this process maps now (VmSize). */
static uint64_t mapped_now(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    uint64_t kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %" SCNu64 " kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb * 1024;
}

static void limit_address_space(uint64_t bytes)
{
    struct rlimit rl = {bytes, bytes};
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        _exit(90);
}

static void skip_under_asan(void)
{
    if (at_asan())
        cr_skip_test("RLIMIT_AS cannot work under AddressSanitizer: its shadow memory "
                     "reserves terabytes of address space");
}

/* ---- (a) the encode buffer ------------------------------------------------------------ */

#define NSMALL 2000
#define BIG (8u << 20)

Test(attack_limits, a_restarted_producer_of_small_objects_updates_in_a_file_that_held_big_ones,
     .timeout = 300)
{
    skip_under_asan();
    char path[512];
    snprintf(path, sizeof path, "%s", mf_test_path("history.map"));
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.max_size = 512u << 20;
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, path, MF_RECREATE, &o), 0, "%s", mf_errdetail());
    unsigned char *big = malloc(BIG);
    cr_assert_not_null(big);
    for (int k = 0; k < 10; k++) {
        at_fill(big, BIG, (uint64_t)k);
        cr_assert_eq(mf_put_raw(mf, "big", MF_BLOB_CLASS, 1, big, BIG), 0, "%s",
                     mf_errdetail());
    }
    free(big);
    cr_assert_eq(mf_remove(mf, "big"), 0);
    mf_close(mf);

    pid_t c = at_fork();
    if (c == 0) {
        limit_address_space(mapped_now() + (768u << 20));
        if (mf_open(&mf, path, MF_UPDATE, NULL)) {
            fprintf(stderr, "restarted producer: open: %s\n", mf_errdetail());
            _exit(2);
        }
        static unsigned char bufs[NSMALL][64];
        static mf_blob blobs[NSMALL];
        char name[32];
        for (int i = 0; i < NSMALL; i++) {
            blobs[i] = (mf_blob){sizeof bufs[i], bufs[i]};
            snprintf(name, sizeof name, "small/%d", i);
            if (mf_add(mf, name, MF_BLOB_CLASS, &blobs[i]))
                _exit(3);
        }
        for (uint64_t k = 1; k <= 3; k++) {
            for (int i = 0; i < NSMALL; i++)
                at_fill(bufs[i], sizeof bufs[i], k);
            int rc = mf_update(mf, NULL);
            if (rc) {
                fprintf(stderr, "restarted producer: update %llu of %d objects of 64 "
                        "bytes: %s: %s\n", (unsigned long long)k, NSMALL, mf_err_name(rc),
                        mf_errdetail());
                _exit(4);
            }
        }
        mf_close(mf);
        _exit(0);
    }
    int st = at_wait_for(c, 240);
    cr_assert_eq(st, 0, "a producer of %d small objects, restarted on a file that held "
                 "8 MiB objects, under 768 MiB of address space: %s%s", NSMALL,
                 at_status_text(st), st == 4 ? " (mf_update failed: see stderr)" : "");
    cr_assert_eq(mf_open(&mf, path, MF_READ, NULL), 0);
    unsigned char got[64];
    uint64_t v = 0;
    cr_assert_eq(mf_get_raw(mf, "small/1999", got, sizeof got, NULL), 0);
    cr_assert_eq(at_value_of(got, sizeof got, &v), 0);
    cr_assert_eq(v, 3);
    mf_close(mf);
}

/* ---- (b) the repair of a large file ---------------------------------------------------- */

#define HUGE_FILE (16ull << 30)

static long countdown;
static void die_here(void)
{
    if (--countdown == 0)
        kill(getpid(), SIGKILL);
}

Test(attack_limits, the_repair_of_a_large_sparse_file_needs_memory_for_its_records_only,
     .timeout = 300)
{
    skip_under_asan();
    char path[512];
    snprintf(path, sizeof path, "%s", mf_test_path("huge.map"));
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.initial_size = HUGE_FILE;
    o.max_size = HUGE_FILE;
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, path, MF_CREATE, &o), 0, "%s", mf_errdetail());
    cr_assert_eq(mf_put(mf, "a", MF_TEXT_CLASS, "first"), 0, "%s", mf_errdetail());
    cr_assert_eq(mf_put(mf, "b", MF_TEXT_CLASS, "second"), 0, "%s", mf_errdetail());
    mf_close(mf);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_geq((uint64_t)st.st_size, HUGE_FILE);
    cr_log_info("%s: %llu bytes, %llu on disk", path, (unsigned long long)st.st_size,
                (unsigned long long)st.st_blocks * 512);

    /* A writer dies inside a change: the file needs a repair. */
    pid_t w = at_fork();
    if (w == 0) {
        if (mf_open(&mf, path, MF_UPDATE, NULL))
            _exit(2);
        countdown = 3;
        mf__crash_point = die_here;
        mf_put(mf, "c", MF_TEXT_CLASS, "third");
        mf_put(mf, "a", MF_TEXT_CLASS, "first again");
        _exit(3);
    }
    cr_assert_eq(at_wait_for(w, 120), 100 + SIGKILL, "the writer was to die at a crash point");

    pid_t c = at_fork();
    if (c == 0) {
        limit_address_space(mapped_now() + HUGE_FILE + (1ull << 30));
        int rc = mf_open(&mf, path, MF_UPDATE, NULL);
        if (rc) {
            fprintf(stderr, "repairing writer: %s: %s\n", mf_err_name(rc), mf_errdetail());
            _exit(4);
        }
        if (mf_put(mf, "d", MF_TEXT_CLASS, "after the repair"))
            _exit(5);
        mf_close(mf);
        _exit(0);
    }
    int cst = at_wait_for(c, 240);
    cr_assert_eq(cst, 0, "repairing a %llu GiB file with a few records under an address "
                 "space of the file plus 1 GiB: %s%s", HUGE_FILE >> 30, at_status_text(cst),
                 cst == 4 ? " (mf_open failed: see stderr)" : "");
    cr_assert_eq(mf_open(&mf, path, MF_READ, NULL), 0, "%s", mf_errdetail());
    const char *names[] = {"b", "d"};
    const char *want[] = {"second", "after the repair"};
    for (int i = 0; i < 2; i++) {
        void *obj;
        const mf_class *cls;
        cr_assert_eq(mf_get(mf, names[i], &obj, &cls), 0, "%s", mf_errdetail());
        cr_assert_str_eq(obj, want[i]);
        mf_object_free(cls, obj);
    }
    mf_close(mf);
}
