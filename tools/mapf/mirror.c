/*
 * mirror.c - `mapf mirror push|pull`: keep map files on other hosts in step
 * through Redis (libmapfile_mirror, mapfile/mirror.h; the design is in
 * mirror/DESIGN.md).
 *
 *   mapf mirror push FILE --redis ENDPOINT [--ns NAMESPACE] [--maxlen N] [--once]
 *   mapf mirror pull ENDPOINT FILE [--ns NAMESPACE] [--once]
 *
 * Exit status as for the other subcommands (output.h): 0 success, or
 * stopped by SIGINT/SIGTERM; 1 Redis unreachable or refusing, nothing
 * published, or invalid content in Redis; 2 usage error, invalid endpoint,
 * or a FILE that cannot be opened or created. A build without hiredis
 * (-DMAPFILE_MIRROR=OFF) still lists the command and says so.
 */
#include "mapf.h"

#ifdef MAPFILE_HAVE_MIRROR
#include <mapfile/mirror.h>

#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#else
/* The help text is the same in a build without the mirror. */
#define MF_MIRROR_DEFAULT_NS "mapfile"
#endif

#ifdef MAPFILE_HAVE_MIRROR
/* ------------------------------------------------------------------------ */
/* Arguments                                                                */
/* ------------------------------------------------------------------------ */

typedef struct mirror_req {
    bool push;
    const char *file, *endpoint, *ns;
    uint64_t maxlen; /* 0: the library's default */
    bool once;
} mirror_req;

/* --maxlen: 1 .. 10^9 stream entries. */
static int parse_maxlen(const mapf_command *c, const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (!s[0] || *end || s[0] == '-' || s[0] == '+' || v == 0 || v > 1000000000ull)
        return usage_error(c, "--maxlen '%s' is not a number from 1 to 1000000000", s);
    *out = v;
    return 0;
}

/* The mode and its positionals: push FILE, pull ENDPOINT FILE. */
static int check_args(const mapf_args *a, mirror_req *q)
{
    const mapf_command *c = a->cmd;
    memset(q, 0, sizeof *q);
    const char *mode = a->pos[0];
    q->push = strcmp(mode, "push") == 0;
    if (!q->push && strcmp(mode, "pull") != 0)
        return usage_error(c, "'%s' is neither push nor pull", mode);
    int want = q->push ? 2 : 3;
    if (a->npos < want)
        return usage_error(c, "%s", q->push ? "push needs FILE" : "pull needs ENDPOINT and FILE");
    if (a->npos > want)
        return usage_error(c, "unexpected argument '%s'", a->pos[want]);
    const char *redis = mapf_value(a, "--redis"), *maxlen = mapf_value(a, "--maxlen");
    if (q->push && !redis)
        return usage_error(c, "push needs --redis ENDPOINT");
    if (!q->push && (redis || maxlen))
        return usage_error(c, "'%s' is an option of push", redis ? "--redis" : "--maxlen");
    q->file = q->push ? a->pos[1] : a->pos[2];
    q->endpoint = q->push ? redis : a->pos[1];
    q->ns = mapf_value(a, "--ns");
    q->once = mapf_flag(a, "--once");
    return maxlen ? parse_maxlen(c, maxlen, &q->maxlen) : 0;
}

/* ------------------------------------------------------------------------ */
/* Running                                                                  */
/* ------------------------------------------------------------------------ */

static mf_mirror *volatile running;
static volatile sig_atomic_t stopped;

static void on_signal(int sig)
{
    (void)sig;
    stopped = 1;
    if (running)
        mf_mirror_stop(running); /* async-signal-safe */
}

static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Log lines on stderr: "mapf mirror push: 15:38:52 <message>". */
static void log_line(void *ud, int level, const char *msg)
{
    char when[32];
    time_t t = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%H:%M:%S", localtime_r(&t, &tm));
    fprintf(stderr, "mapf mirror %s: %s %s", (const char *)ud, when,
            level == MF_MIRROR_LOG_ERROR ? "error: " : "");
    fput_safe(msg, stderr); /* it may quote what Redis holds */
    fputc('\n', stderr);
}

/* Exit status of a library error: the endpoint or the local file cannot be
 * used as given (2), or Redis, what it holds or the source failed (1). */
static int status_of(int rc)
{
    switch (rc) {
    case 0:
        return EXIT_OK;
    case MF_MIRROR_EENDPOINT:
    case MF_EINVAL:
    case MF_ENOTMAPFILE:
    case MF_EVERSION:
    case MF_EACCES:
    case MF_ENOENT:
    case MF_EEXIST:
    case MF_ESYS:
    case MF_MIRROR_EOWNED:
        return EXIT_USAGE;
    }
    return EXIT_MISSING;
}

static int fail(const mirror_req *q, int rc)
{
    errorf(q->push ? "mirror push" : "mirror pull", "%s", mf_mirror_errdetail());
    return status_of(rc);
}

static mf_mirror_options options(const mirror_req *q)
{
    mf_mirror_options o = MF_MIRROR_OPTIONS_INIT;
    o.ns = q->ns;
    o.maxlen = q->maxlen;
    o.log = log_line;
    o.log_ud = (void *)(q->push ? "push" : "pull");
    return o;
}

/* Open the source, waiting for it (in slices, so a signal ends the wait)
 * unless --once. 0, 1 if stopped while waiting, or an error (reported). */
static int open_source(const mirror_req *q, mf_file **out)
{
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.wait_ms = q->once ? 0 : 500;
    bool said = false;
    for (;;) {
        int rc = mf_open(out, q->file, MF_READ, &o);
        if (rc == 0)
            return 0;
        if (stopped)
            return 1;
        if ((rc != MF_ETIMEDOUT && rc != MF_ENOENT) || q->once) {
            report_mf(q->file, NULL, rc);
            return rc;
        }
        if (!said) {
            fputs("mapf mirror push: waiting for ", stderr);
            fput_safe(q->file, stderr);
            fputs(" to appear\n", stderr);
        }
        said = true;
    }
}

/* --once: one step; otherwise until a signal or an error retrying cannot
 * cure. */
static int drive(const mirror_req *q, mf_mirror *m)
{
    int rc;
    if (q->once) {
        rc = q->push ? mf_mirror_push(m) : mf_mirror_pull(m, 0, NULL);
        return rc ? fail(q, rc) : EXIT_OK;
    }
    running = m;
    rc = stopped ? 0 : mf_mirror_run(m);
    running = NULL;
    /* mf_mirror_run logged the error already. */
    return status_of(rc);
}

static int run_push(const mirror_req *q)
{
    mf_file *src;
    int rc = open_source(q, &src);
    if (rc)
        return rc == 1 ? EXIT_OK : status_of(rc);
    mf_mirror_options o = options(q);
    mf_mirror *m;
    if ((rc = mf_mirror_push_create(&m, src, q->endpoint, &o))) {
        mf_close(src);
        return fail(q, rc);
    }
    int status = drive(q, m);
    mf_mirror_close(m);
    mf_close(src);
    return status;
}

static int run_pull(const mirror_req *q)
{
    mf_mirror_options o = options(q);
    mf_mirror *m;
    int rc = mf_mirror_pull_create(&m, q->endpoint, q->file, &o);
    if (rc)
        return fail(q, rc);
    int status = drive(q, m);
    mf_mirror_close(m);
    return status;
}

static int run_mirror(const mapf_args *a)
{
    mirror_req q;
    int rc = check_args(a, &q);
    if (rc)
        return rc;
    catch_signals();
    return q.push ? run_push(&q) : run_pull(&q);
}
#else
static int run_mirror(const mapf_args *a)
{
    (void)a;
    errorf(NULL, "mirror: this mapf was built without the Redis mirror (cmake "
           "-DMAPFILE_MIRROR=OFF, or libhiredis-dev missing); rebuild with "
           "libhiredis-dev installed");
    return EXIT_USAGE;
}
#endif

static const mapf_option mirror_options[] = {
    {"--redis", NULL, 1},
    {"--ns", NULL, 1},
    {"--maxlen", NULL, 1},
    {"--once", NULL, 0},
    {NULL, NULL, 0},
};

const mapf_command mapf_cmd_mirror = {
    .name = "mirror",
    .run = run_mirror,
    .options = mirror_options,
    .min_pos = 1,
    .max_pos = 3,
    .synopsis = "push FILE --redis ENDPOINT | pull ENDPOINT FILE",
    .help =
        "  mapf mirror push FILE --redis ENDPOINT [--ns NAMESPACE] [--maxlen N] [--once]\n"
        "  mapf mirror pull ENDPOINT FILE [--ns NAMESPACE] [--once]\n"
        "\n"
        "Keep map files on other hosts in step through Redis.\n"
        "\n"
        "push follows FILE on the producer's host (waiting for it to appear and\n"
        "following producer restarts) and publishes every change: the changed\n"
        "records' raw payloads with their class, version and stat fields, each\n"
        "batch in one MULTI/EXEC with an entry in a Redis stream.\n"
        "\n"
        "pull makes FILE a local map file that every tool and consumer reads as\n"
        "usual, kept in step: a full sync, then each remote batch applied as one\n"
        "local batch (snapshots never mix batches). Removals and producer\n"
        "restarts propagate; a pull that fell behind resyncs by itself. The pull\n"
        "is FILE's only writer (it locks .FILE.mirror-lock beside it); a FILE\n"
        "removed, replaced or written by anything else is synced in full again.\n"
        "\n"
        "Neither side needs codecs. Both reconnect with backoff and say so on\n"
        "stderr; they run until SIGINT or SIGTERM.\n"
        "\n"
        "  ENDPOINT          redis://[[USER]:PASSWORD@]HOST[:PORT], redis://USER@HOST[:PORT]\n"
        "                    or unix:PATH; a password left out comes from\n"
        "                    MAPFILE_REDIS_PASSWORD\n"
        "  --redis ENDPOINT  push: where to publish\n"
        "  --ns NAMESPACE    keys are mf:{NAMESPACE}:...; default \"" MF_MIRROR_DEFAULT_NS "\"\n"
        "  --maxlen N        push: keep about N stream entries (default 1000)\n"
        "  --once            sync once and exit (for scripts)\n"
        "\n"
        "Exit status: 0 success (or stopped by SIGINT/SIGTERM); 1 Redis\n"
        "unreachable or refusing, nothing published, or invalid content in\n"
        "Redis; 2 usage error, invalid endpoint, a FILE that cannot be\n"
        "opened or created, or one another pull writes.\n",
};
