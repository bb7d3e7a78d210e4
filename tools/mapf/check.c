/* check.c - `mapf check FILE`: verify the header, heap, directory and
 * every record's checksum. */
#include "mapf.h"

#include <inttypes.h>

static void check_report(void *ud, const char *problem)
{
    unsigned *seen = ud;
    (*seen)++;
    fputs("problem: ", stdout);
    fput_safe(problem, stdout);
    fputc('\n', stdout);
}

static int run_check(const mapf_args *a)
{
    const char *path = a->pos[0];
    mf_file *mf;
    mf_file_info fi;
    unsigned problems = 0, printed = 0;
    if (open_read(&mf, path, 0))
        return EXIT_USAGE;
    int rc = mf_check(mf, check_report, &printed, &problems);
    if (rc < 0) {
        report_mf(path, NULL, rc);
        mf_close(mf);
        finish_stdout(EXIT_MISSING);
        return EXIT_MISSING;
    }
    if (printed > problems)
        problems = printed;
    int status;
    if (problems) {
        fput_safe(path, stdout);
        printf(": %u problem%s\n", problems, problems == 1 ? "" : "s");
        status = EXIT_MISSING;
    } else {
        mf_file_stat(mf, &fi);
        fput_safe(path, stdout);
        printf(": ok, %" PRIu64 " record%s\n", fi.records, fi.records == 1 ? "" : "s");
        status = EXIT_OK;
    }
    mf_close(mf);
    return finish_stdout(status);
}

const mapf_command mapf_cmd_check = {
    .name = "check",
    .run = run_check,
    .min_pos = 1,
    .max_pos = 1,
    .synopsis = "FILE",
    .help = "Verify the header, the heap, the directory and every record's checksum.\n"
            "Prints each problem as \"problem: ...\" then a summary line; exit 1 if\n"
            "there were problems.\n",
};
