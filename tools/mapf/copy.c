/* copy.c - `mapf copy [--replace] FILE DEST`: a consistent, compacted copy
 * of a live map file (one batch, live records only, fresh heap), taken
 * without stopping its writers. */
#include "mapf.h"

#include <inttypes.h>
#include <stdbool.h>

static int run_copy(const mapf_args *a)
{
    const char *path = a->pos[0], *dest = a->pos[1];
    mf_file *mf;
    if (open_read(&mf, path, 0))
        return EXIT_USAGE;
    int rc = mf_copy(mf, dest, mapf_flag(a, "--replace") ? MF_COPY_REPLACE : 0);
    int status = EXIT_OK;
    if (rc < 0) {
        report_mf(dest, NULL, rc);
        bool dest_problem = rc == MF_EEXIST || rc == MF_ENOENT || rc == MF_EACCES ||
                            rc == MF_EINVAL;
        status = dest_problem ? EXIT_USAGE : EXIT_MISSING;
    } else {
        mf_file *copy;
        mf_file_info fi = {0};
        if (mf_open(&copy, dest, MF_READ, NULL) == 0) {
            mf_file_stat(copy, &fi);
            mf_close(copy);
        }
        fput_safe(dest, stdout);
        printf(": %" PRIu64 " record%s copied from ", fi.records,
               fi.records == 1 ? "" : "s");
        fput_safe(path, stdout);
        printf("\n");
    }
    mf_close(mf);
    return finish_stdout(status);
}

static const mapf_option copy_options[] = {
    {"--replace", NULL, 0},
    {NULL, NULL, 0},
};

const mapf_command mapf_cmd_copy = {
    .name = "copy",
    .run = run_copy,
    .options = copy_options,
    .min_pos = 2,
    .max_pos = 2,
    .synopsis = "[--replace] FILE DEST",
    .help = "Write a consistent copy of FILE to DEST while writers go on: every record\n"
            "as of one committed batch, only live records, a fresh compact heap. The\n"
            "copy appears at DEST only when complete. Use this, not cp, to archive a\n"
            "live file: cp may catch a writer half way and copy its lock.\n"
            "  --replace  replace DEST if it exists (else exit 2 and DEST is kept)\n"
            "\n"
            "Exit status: 0 copied, 1 the copy failed (damaged record, writers too\n"
            "busy), 2 usage error, FILE cannot be opened, DEST exists or cannot be\n"
            "created.\n",
};
