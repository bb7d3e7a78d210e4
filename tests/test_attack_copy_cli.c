/* test_attack_copy_cli.c - `copy FILE DEST` takes a clean copy of a live
 * file (issue 12, item 8), through the command-line tool (build/tools/mapf,
 * or build/tools/mapfile before its rename).
 *
 * A writer publishes batches at full rate. 20 of 20 copies made by the
 * CLI beside it pass `check` (exit 0) and mf_check, and hold exactly the
 * writer's records, all from one batch. A DEST that exists is refused (a
 * non-zero exit) and left alone. */
#include "attack_copy_common.h"

Test(attack_copy_cli, cli_copies_of_a_busy_file_are_clean_and_hold_one_batch, .timeout = 300)
{
    const char *cli = at_cli();
    cr_assert_not_null(cli);
    char path[512];
    snprintf(path, sizeof path, "%s", mf_test_path("busy.map"));
    int stop[2];
    pid_t w = cp_start_writer(path, stop);
    static char out[8192];
    int good = 0;
    char why[512] = "", first[1200] = "";
    for (int i = 0; i < 20; i++) {
        char name[32], copy[512];
        snprintf(name, sizeof name, "copy-%d.map", i);
        snprintf(copy, sizeof copy, "%s", mf_test_path(name));
        const char *argv[] = {cli, "copy", path, copy, NULL};
        int st = at_run(argv, 60, out, sizeof out);
        if (st != 0) {
            if (!first[0])
                snprintf(first, sizeof first, "copy %d: `copy` %s: %.600s", i,
                         at_status_text(st), out);
            continue;
        }
        const char *check[] = {cli, "check", copy, NULL};
        st = at_run(check, 60, out, sizeof out);
        if (st != 0) {
            if (!first[0])
                snprintf(first, sizeof first, "copy %d: `check` %s: %.600s", i,
                         at_status_text(st), out);
            continue;
        }
        if (cp_judge(copy, why, sizeof why))
            good++;
        else if (!first[0])
            snprintf(first, sizeof first, "copy %d: %s", i, why);
    }
    close(stop[1]);
    cr_assert_eq(at_wait_for(w, 60), 0, "the busy writer failed");
    cr_expect_eq(good, 20, "%d of 20 CLI copies of a busy file were clean and whole; first "
                 "bad: %s", good, first);
}

Test(attack_copy_cli, cli_copy_never_overwrites_an_existing_file, .timeout = 120)
{
    const char *cli = at_cli();
    cr_assert_not_null(cli);
    char path[512], dst[512];
    snprintf(path, sizeof path, "%s", mf_test_path("src.map"));
    snprintf(dst, sizeof dst, "%s", mf_test_path("dst.map"));
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, path, MF_RECREATE, NULL), 0);
    cr_assert_eq(mf_put(mf, "a", MF_TEXT_CLASS, "x"), 0);
    mf_close(mf);
    FILE *f = fopen(dst, "w");
    cr_assert_not_null(f);
    fputs("someone else's file\n", f);
    fclose(f);
    static char out[4096];
    const char *argv[] = {cli, "copy", path, dst, NULL};
    int st = at_run(argv, 60, out, sizeof out);
    cr_assert_neq(st, 0, "`copy` over an existing file succeeded");
    cr_assert(st < 100, "`copy` over an existing file: %s", at_status_text(st));
    char buf[64] = "";
    f = fopen(dst, "r");
    cr_assert_not_null(f);
    cr_assert_not_null(fgets(buf, sizeof buf, f));
    fclose(f);
    cr_assert_str_eq(buf, "someone else's file\n", "the existing file changed");
}
