/* check.c - `mapf check [--repair] FILE`: verify the header, heap,
 * directory and every record's checksum; tell a dead writer's unfinished
 * change from damage, and repair it on request. */
#include "mapf.h"

#include <inttypes.h>

/* A writer died in the middle of a change: neither clean nor damaged. */
enum { EXIT_PENDING = 3 };

static void check_report(void *ud, const char *problem)
{
    unsigned *seen = ud;
    (*seen)++;
    fputs("problem: ", stdout);
    fput_safe(problem, stdout);
    fputc('\n', stdout);
}

/* `check --repair`: open for writing (which repairs first) and nothing
 * else; a missing file is an error, never created. */
static int repair(const char *path)
{
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.flags = MF_OPEN_NO_CREATE;
    mf_file *mf;
    int rc = mf_open(&mf, path, MF_UPDATE, &o);
    if (rc < 0) {
        report_mf(path, NULL, rc);
        return EXIT_USAGE;
    }
    mf_file_info fi;
    mf_file_stat(mf, &fi);
    fput_safe(path, stdout);
    printf(": repaired if needed (%" PRIu64 " crashed writer%s repaired so far)\n",
           fi.recoveries, fi.recoveries == 1 ? "" : "s");
    mf_close(mf);
    return EXIT_OK;
}

static int summarize(const char *path, mf_file *mf, const mf_check_result *r)
{
    if (r->repair_pending && r->writer_pid) {
        fput_safe(path, stdout);
        printf(": writer %" PRIu32 " died in the middle of a change; the next "
               "writer repairs it (or run 'mapf check --repair')\n", r->writer_pid);
    } else if (r->repair_pending) {
        /* Killed in the instant between taking the lock and recording its
         * pid (or between clearing it and releasing the lock). */
        fput_safe(path, stdout);
        printf(": a writer died holding the writer lock before its pid was "
               "recorded; the next writer repairs it (or run 'mapf check "
               "--repair')\n");
    }
    if (r->problems) {
        fput_safe(path, stdout);
        printf(": %u problem%s\n", r->problems, r->problems == 1 ? "" : "s");
        return EXIT_MISSING;
    }
    if (r->repair_pending)
        return EXIT_PENDING;
    mf_file_info fi;
    mf_file_stat(mf, &fi);
    fput_safe(path, stdout);
    printf(": ok, %" PRIu64 " record%s%s\n", fi.records, fi.records == 1 ? "" : "s",
           r->heap_checked ? "" : " (heap not verified: the writer never paused)");
    return EXIT_OK;
}

static int run_check(const mapf_args *a)
{
    const char *path = a->pos[0];
    if (mapf_flag(a, "--repair"))
        return finish_stdout(repair(path));
    mf_file *mf;
    unsigned printed = 0;
    if (open_read(&mf, path, 0))
        return EXIT_USAGE;
    mf_check_result r = {sizeof r, 0, 0, 0, 0, 0};
    int rc = mf_check_file(mf, check_report, &printed, &r);
    if (rc < 0) {
        report_mf(path, NULL, rc);
        mf_close(mf);
        return finish_stdout(EXIT_MISSING);
    }
    int status = summarize(path, mf, &r);
    mf_close(mf);
    return finish_stdout(status);
}

static const mapf_option check_options[] = {
    {"--repair", NULL, 0},
    {NULL, NULL, 0},
};

const mapf_command mapf_cmd_check = {
    .name = "check",
    .run = run_check,
    .options = check_options,
    .min_pos = 1,
    .max_pos = 1,
    .synopsis = "[--repair] FILE",
    .help = "Verify the header, the heap, the directory and every record's checksum.\n"
            "Safe beside running writers: only a state that stays put is reported.\n"
            "Prints each problem as \"problem: ...\" then a summary line.\n"
            "\n"
            "A file whose writer died in the middle of a change is reported as that,\n"
            "with the writer's pid, not as damage (readers are unaffected): exit 3.\n"
            "  --repair  repair such a file now (what the next writer would do) and\n"
            "            change nothing else; never creates a missing file\n"
            "\n"
            "Exit status: 0 clean (or repaired), 1 problems found, 2 the file cannot\n"
            "be opened, 3 a dead writer's change awaits repair.\n",
};
