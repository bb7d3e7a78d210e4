/*
 * mapfile-bench - measure mapfile against the limits of the machine and
 * against its peers (LMDB, Redis, write+rename), all in the same run, with
 * the same payloads and the same codec, in interleaved rounds over working
 * sets sized from the last-level cache. Prints a table per scenario and the
 * goals of issue 14 on stdout and writes every figure to a JSON file.
 * Asserts nothing about speed: it exits 0 unless something actually failed.
 */
#include "bench.h"

#include <mapfile/hist.h>

#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>

typedef struct scenario {
    const char *name;
    const char *aliases; /* space-separated, also accepted by --only */
    void (*fn)(void);
    const char *desc;
} scenario;

static const scenario scenarios[] = {
    {"update", "1 2 get", sc_update_get,
     "1+2: update and get of 64 B..1 MiB blobs and a hist1d vs the limit, LMDB, "
     "Redis, tmp+rename"},
    {"lookup", "3", sc_lookup,
     "3: dependent lookups among 10 .. 1,000,000 records vs a random read"},
    {"wake", "4", sc_wake, "4: mf_update -> waiting consumer wakes, vs raw futex"},
    {"readers", "5", sc_readers,
     "5: the writer with 1, 2, 4 reader processes, beside a raw memcpy pair"},
    {"memory", "6", sc_memory, "6: heap per record vs LMDB pages; heap after churn"},
    {"testbeam", "A a", sc_testbeam, "A: test beam, 50 histograms at 10 Hz"},
    {"dqm", "B b", sc_dqm, "B: DQM, 3,050 histograms, snapshots"},
    {"stress", "C c", sc_stress, "C: one huge hist2d updated while read"},
    {"call", "mf_call 6i", sc_call, "issue 6: mf_call vs a direct call"},
    {"gen", "18 codegen", sc_gen, "issue 18: generated codec vs hist1d's hand-written one"},
    {"mirror", "M m M1", sc_mirror_wake,
     "M1: update -> visible on a mirror through Redis, vs a Redis round trip"},
    {"mirror-setups", "M2 m2", sc_mirror_setups,
     "M2: A and B through one push and 1, 4, 16 pulls (issue 17)"},
};
enum { NSCENARIOS = sizeof scenarios / sizeof scenarios[0] };

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mapfile-bench [--quick] [--json FILE] [--only SCENARIO]\n"
            "                     [--set-mib N] [--dir DIR] [--help]\n"
            "\n"
            "Measures mapfile, its limits and its peers in the same run and prints\n"
            "a table per scenario (figure | mapfile | reference | ratio | goal),\n"
            "then the goals of issue 14 with the machine they ran on. Contenders\n"
            "run in interleaved rounds; a ratio is the median of per-round ratios.\n"
            "Per-operation figures rotate over a set of records sized from the\n"
            "last-level cache (%dx its size, cut to the --set-mib budget).\n"
            "\n"
            "  --quick          small sets and short rounds, about a minute (for CI)\n"
            "  --json FILE      write all results here (default bench-results.json)\n"
            "  --set-mib N      memory one store may spend on a rotating set\n"
            "                   (default 1024, --quick 24)\n"
            "  --dir DIR        where the files go (default: /dev/shm if it is a\n"
            "                   tmpfs with room, else $TMPDIR or /tmp)\n"
            "  --only SCENARIO  run one scenario (name or number):\n",
            SET_FACTOR);
    for (int i = 0; i < NSCENARIOS; i++)
        fprintf(f, "      %-9s (%s) %s\n", scenarios[i].name, scenarios[i].aliases,
                scenarios[i].desc);
    fprintf(f,
            "  --help           this text\n"
            "\n"
            "Files go to a private directory (see --dir), removed at the end with\n"
            "the wake pages the map files made in /dev/shm. On a disk file system\n"
            "the kernel's writeback makes every store measure it as well.\n"
            "MAPFILE_BENCH_TRACE=1 prints every round on stderr: wall and CPU ns per\n"
            "operation, operations, page faults (for profiling a figure).\n"
            "Redis: MAPFILE_BENCH_REDIS_SOCKET names a running server's unix\n"
            "socket; otherwise a private redis-server is started and stopped.\n"
            "Exit status: 0, or 1 if an operation failed, 2 for bad arguments.\n");
}

static bool selected(const scenario *s, const char *only)
{
    if (!only)
        return true;
    if (strcmp(s->name, only) == 0)
        return true;
    char buf[64];
    snprintf(buf, sizeof buf, "%s", s->aliases);
    for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " "))
        if (strcmp(tok, only) == 0)
            return true;
    return false;
}

static void on_signal(int sig)
{
    /* Best effort: stop children and Redis and remove our files. */
    cleanup_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Where the files go: --dir, else /dev/shm when it is a tmpfs with room
 * for the sets, else $TMPDIR or /tmp. On a disk file system the kernel's
 * writeback write-protects the pages it cleans and the next store to each
 * faults (tens of microseconds on a loaded virtual machine): mapfile and
 * LMDB would both be measuring the file system. */
static const char *files_parent(const char *opt)
{
    if (opt)
        return opt;
    struct statfs sf;
    struct statvfs sv;
    uint64_t need = 3 * B.set_budget + (1ull << 30);
    if (statfs("/dev/shm", &sf) == 0 && sf.f_type == 0x01021994 /* TMPFS_MAGIC */ &&
        statvfs("/dev/shm", &sv) == 0 && access("/dev/shm", W_OK) == 0 &&
        (uint64_t)sv.f_bavail * sv.f_frsize >= need)
        return "/dev/shm";
    const char *tmp = getenv("TMPDIR");
    return tmp && tmp[0] ? tmp : "/tmp";
}

static void setup(const char *dir_opt)
{
    const char *tmp = files_parent(dir_opt);
    snprintf(B.dir, sizeof B.dir, "%s/mapfile-bench.XXXXXX", tmp);
    if (!mkdtemp(B.dir)) {
        B.dir[0] = '\0';
        die("mkdtemp under %s failed", tmp);
    }
    mfok(mf_registry_create(&B.reg), "mf_registry_create");
    mfok(mf_registry_add_class(B.reg, &mf_hist1d_class), "register hist1d");
    mfok(mf_registry_add_class(B.reg, &mf_hist2d_class), "register hist2d");
    mfok(mf_registry_add_class(B.reg, &mf_profile_class), "register profile");
}

int main(int argc, char **argv)
{
    B.json_path = "bench-results.json";
    const char *trace = getenv("MAPFILE_BENCH_TRACE");
    B.trace = trace && trace[0] && strcmp(trace, "0") != 0;
    unsigned long long set_mib = 0;
    const char *dir_opt = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            B.quick = true;
        } else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
            B.json_path = argv[++i];
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            B.only = argv[++i];
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir_opt = argv[++i];
        } else if (strcmp(argv[i], "--set-mib") == 0 && i + 1 < argc) {
            char *end;
            unsigned long long v = strtoull(argv[++i], &end, 10);
            if (*end || v < 1 || v > (1ull << 20)) {
                fprintf(stderr, "mapfile-bench: --set-mib wants 1..1048576, not '%s'\n",
                        argv[i]);
                return 2;
            }
            set_mib = v;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "mapfile-bench: unknown or incomplete argument '%s'\n",
                    argv[i]);
            usage(stderr);
            return 2;
        }
    }
    bool any = false;
    for (int i = 0; i < NSCENARIOS; i++)
        any |= selected(&scenarios[i], B.only);
    if (!any) {
        fprintf(stderr, "mapfile-bench: no scenario '%s'\n", B.only);
        usage(stderr);
        return 2;
    }
    B.rounds = B.quick ? 3 : 7;
    B.target_s = B.quick ? 0.01 : 0.1;
    B.warm_cap_s = B.quick ? 0.25 : 3;
    B.set_budget = (set_mib ? set_mib : B.quick ? 24 : 1024) << 20;
    B.max_size = B.set_budget * 3 + (256ull << 20);

    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    setup(dir_opt);
    machine_probe();
    B.set_target = (uint64_t)SET_FACTOR * B.m.llc;
    redis_start();

    int64_t t0 = now_ns();
    read_loadavg(B.load_start, sizeof B.load_start);
    printf("mapfile-bench %d.%d.%d%s: %d interleaved rounds of %.2g s per contender, "
           "files in %s\n",
           MF_VERSION_MAJOR, MF_VERSION_MINOR, MF_VERSION_PATCH,
           B.quick ? " --quick" : "", B.rounds, B.target_s, B.dir);
    printf("machine: %s\n", machine_line());
    printf("rotating sets: %d x the LLC = %.4g MiB of payload, cut to %.4g MiB per "
           "store%s\n",
           SET_FACTOR, (double)B.set_target / 1048576.0,
           (double)B.set_budget / 1048576.0,
           B.quick ? " (--quick: small sets, not larger than the cache)" : "");
    printf("peers: LMDB %d.%d.%d (MDB_NOSYNC|MDB_WRITEMAP|MDB_NOMETASYNC), %s, "
           "tmp+rename (no fsync)\n",
           MDB_VERSION_MAJOR, MDB_VERSION_MINOR, MDB_VERSION_PATCH, B.redis_note);
    printf("load average at start: %s (with more runnable tasks than CPUs, "
           "figures that hand work between processes suffer most)\n",
           B.load_start[0] ? B.load_start : "unknown");
    fflush(stdout);
    for (int i = 0; i < NSCENARIOS; i++)
        if (selected(&scenarios[i], B.only))
            scenarios[i].fn();
    double total = (double)(now_ns() - t0) / 1e9;
    read_loadavg(B.load_end, sizeof B.load_end);
    report_legend();
    report_goals();
    printf("total time %.1f s; load average at the end: %s\n", total,
           B.load_end[0] ? B.load_end : "unknown");
    int rc = report_json(B.json_path, total) ? 1 : 0;
    if (rc == 0)
        printf("results written to %s\n", B.json_path);
    cleanup_all();
    mf_registry_free(B.reg);
    progress_done();
    return rc;
}
