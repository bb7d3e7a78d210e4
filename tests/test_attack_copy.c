/* test_attack_copy.c - mf_copy takes a clean copy of a live file (issue
 * 12, item 8), through mf_copy / MF_COPY_REPLACE.
 *
 * A writer publishes batches at full rate. 20 of 20 copies taken with
 * mf_copy beside it (from a read-only handle, and from a second writer's
 * handle) pass mf_check with no problem and hold exactly the writer's
 * records, every one from the same batch. mf_copy to an existing path
 * fails with MF_EEXIST and leaves it alone; with MF_COPY_REPLACE it
 * replaces it. (A plain cp of such a file fails check: see
 * tests/attack/cp_busy_file.sh and tests/ATTACKS.md.) */
#include "attack_copy_common.h"

#include <dirent.h>
#include <signal.h>

Test(attack_copy, copies_of_a_busy_file_are_clean_and_hold_one_batch, .timeout = 300)
{
    char path[512];
    snprintf(path, sizeof path, "%s", mf_test_path("busy.map"));
    int stop[2];
    pid_t w = cp_start_writer(path, stop);
    mf_file *rd, *wr;
    cr_assert_eq(mf_open(&rd, path, MF_READ, NULL), 0, "%s", mf_errdetail());
    cr_assert_eq(mf_open(&wr, path, MF_UPDATE, NULL), 0, "%s", mf_errdetail());
    int good = 0;
    uint64_t last = 0;
    char why[512] = "", first[600] = "";
    for (int i = 0; i < 20; i++) {
        char name[32];
        snprintf(name, sizeof name, "copy-%d.map", i);
        const char *copy = mf_test_path(name);
        mf_file *from = i % 4 == 3 ? wr : rd;
        int rc = mf_copy(from, copy, 0);
        cr_assert_eq(rc, 0, "copy %d: mf_copy: %s", i, mf_errdetail());
        uint64_t batch = cp_judge(copy, why, sizeof why);
        if (batch) {
            good++;
            cr_expect_geq(batch, last, "copy %d holds batch %llu, an earlier copy %llu", i,
                          (unsigned long long)batch, (unsigned long long)last);
            last = batch;
        } else if (!first[0]) {
            snprintf(first, sizeof first, "copy %d: %s", i, why);
        }
    }
    close(stop[1]);
    cr_assert_eq(at_wait_for(w, 60), 0, "the busy writer failed");
    mf_close(rd);
    mf_close(wr);
    cr_expect_eq(good, 20, "%d of 20 copies of a busy file were clean and whole; first "
                 "bad: %s", good, first);
}

static int file_bytes(const char *path, unsigned char *buf, size_t cap, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    *len = fread(buf, 1, cap, f);
    fclose(f);
    return 0;
}

Test(attack_copy, an_existing_destination_is_kept_unless_replace_is_asked, .timeout = 120)
{
    char path[512], dst[512];
    snprintf(path, sizeof path, "%s", mf_test_path("src.map"));
    snprintf(dst, sizeof dst, "%s", mf_test_path("dst.map"));
    int stop[2];
    pid_t w = cp_start_writer(path, stop);
    FILE *f = fopen(dst, "w");
    cr_assert_not_null(f);
    fputs("someone else's file\n", f);
    fclose(f);
    mf_file *rd;
    cr_assert_eq(mf_open(&rd, path, MF_READ, NULL), 0, "%s", mf_errdetail());
    cr_assert_eq(mf_copy(rd, dst, 0), MF_EEXIST, "mf_copy over an existing file: %s",
                 mf_errdetail());
    static unsigned char buf[256];
    size_t len = 0;
    cr_assert_eq(file_bytes(dst, buf, sizeof buf, &len), 0);
    cr_assert_eq(len, strlen("someone else's file\n"));
    cr_assert_eq(memcmp(buf, "someone else's file\n", len), 0, "the existing file changed");
    cr_assert_eq(mf_copy(rd, dst, MF_COPY_REPLACE), 0, "%s", mf_errdetail());
    char why[512] = "";
    cr_assert_neq(cp_judge(dst, why, sizeof why), 0, "the replaced copy: %s", why);
    /* No temporary file is left beside it. */
    DIR *d = opendir(mf_test_dir());
    cr_assert_not_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        cr_expect(e->d_name[0] == '.' || strcmp(e->d_name, "src.map") == 0 ||
                      strcmp(e->d_name, "dst.map") == 0,
                  "mf_copy left %s behind", e->d_name);
    closedir(d);
    close(stop[1]);
    cr_assert_eq(at_wait_for(w, 60), 0);
    mf_close(rd);
}
