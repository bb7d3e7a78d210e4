/*
 * mirror_cmd.c - `mapfile mirror push|pull`: keep map files on other hosts
 * in step through Redis (libmapfile_mirror, mapfile/mirror.h).
 *
 *   mapfile mirror push FILE --redis ENDPOINT [--ns NS] [--maxlen N] [--once]
 *   mapfile mirror pull ENDPOINT FILE [--ns NS] [--once]
 *
 * Exit status as for the other subcommands: 0 success (or stopped by
 * SIGINT/SIGTERM); 1 Redis unreachable or refusing, nothing published, or
 * invalid content in Redis; 2 usage error, invalid endpoint, or a FILE that
 * cannot be opened or created.
 */
#include <mapfile/mapfile.h>
#include <mapfile/mirror.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mirror_cmd.h"

enum { M_OK = 0, M_MISSING = 1, M_USAGE = 2 };

static const char usage_text[] =
    "usage: mapfile mirror push FILE --redis ENDPOINT [--ns NAMESPACE] [--maxlen N] [--once]\n"
    "       mapfile mirror pull ENDPOINT FILE [--ns NAMESPACE] [--once]\n";

static const char help_text[] =
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
    "restarts propagate; a pull that fell behind resyncs by itself.\n"
    "\n"
    "Neither side needs codecs. Both reconnect with backoff and say so on\n"
    "stderr; they run until SIGINT or SIGTERM.\n"
    "\n"
    "  ENDPOINT        redis://[:PASSWORD@]HOST[:PORT] or unix:PATH; the\n"
    "                  password may also come from MAPFILE_REDIS_PASSWORD\n"
    "  --redis ENDPOINT  push: where to publish\n"
    "  --ns NAMESPACE  keys are mf:{NAMESPACE}:...; default \"" MF_MIRROR_DEFAULT_NS "\"\n"
    "  --maxlen N      push: keep about N stream entries (default 1000)\n"
    "  --once          sync once and exit (for scripts)\n"
    "\n"
    "Exit status: 0 success; 1 Redis unreachable or refusing, nothing\n"
    "published, or invalid content in Redis; 2 usage error, invalid\n"
    "endpoint, or a FILE that cannot be opened or created.\n";

typedef struct mirror_args {
    const char *mode, *pos[2];
    int npos;
    const char *redis, *ns, *maxlen;
    int once, help;
} mirror_args;

static int usage(const char *fmt, const char *arg)
{
    fputs("mapfile: mirror: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    fputs(usage_text, stderr);
    fputs("Try 'mapfile mirror --help' for more.\n", stderr);
    return M_USAGE;
}

static int take(const char **slot, const char *opt, const char *inline_val, int argc,
                char **argv, int *i)
{
    if (*slot)
        return usage("option '%s' given twice", opt);
    if (inline_val) {
        *slot = inline_val;
        return 0;
    }
    if (*i + 1 >= argc)
        return usage("option '%s' needs a value", opt);
    *slot = argv[++*i];
    return 0;
}

static int parse(int argc, char **argv, mirror_args *a)
{
    memset(a, 0, sizeof *a);
    int rc = 0, literal = 0;
    for (int i = 0; i < argc && !rc; i++) {
        const char *s = argv[i];
        const char *eq = strchr(s, '=');
        size_t k = eq ? (size_t)(eq - s) : strlen(s);
        const char *val = eq ? eq + 1 : NULL;
        if (literal || s[0] != '-' || s[1] == '\0') {
            if (!a->mode)
                a->mode = s;
            else if (a->npos < 2)
                a->pos[a->npos++] = s;
            else
                rc = usage("unexpected argument '%s'", s);
        } else if (strcmp(s, "--") == 0) {
            literal = 1;
        } else if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            a->help = 1;
        } else if (strcmp(s, "--once") == 0) {
            a->once = 1;
        } else if (k == 7 && strncmp(s, "--redis", k) == 0) {
            rc = take(&a->redis, "--redis", val, argc, argv, &i);
        } else if (k == 4 && strncmp(s, "--ns", k) == 0) {
            rc = take(&a->ns, "--ns", val, argc, argv, &i);
        } else if (k == 8 && strncmp(s, "--maxlen", k) == 0) {
            rc = take(&a->maxlen, "--maxlen", val, argc, argv, &i);
        } else {
            rc = usage("unknown option '%s'", s);
        }
    }
    return a->help ? 0 : rc;
}

/* Check the arguments of one mode. */
static int check(const mirror_args *a, uint64_t *maxlen)
{
    bool push = strcmp(a->mode, "push") == 0;
    if (!push && strcmp(a->mode, "pull") != 0)
        return usage("'%s' is neither push nor pull", a->mode);
    if (a->npos < 2 - push)
        return usage("%s", push ? "push needs FILE" : "pull needs ENDPOINT and FILE");
    if (a->npos > 2 - push)
        return usage("unexpected argument '%s'", a->pos[2 - push]);
    if (push && !a->redis)
        return usage("%s", "push needs --redis ENDPOINT");
    if (!push && (a->redis || a->maxlen))
        return usage("'%s' is an option of push", a->redis ? "--redis" : "--maxlen");
    *maxlen = 0;
    if (a->maxlen) {
        char *end;
        unsigned long long v = strtoull(a->maxlen, &end, 10);
        if (*end || !a->maxlen[0] || a->maxlen[0] == '-' || v == 0 || v > 1000000000)
            return usage("--maxlen '%s' is not a number from 1 to 1000000000", a->maxlen);
        *maxlen = v;
    }
    return 0;
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
        mf_mirror_stop(running);
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

/* Log lines: "mapfile mirror push: <time> <message>" on stderr. */
static void log_line(void *ud, int level, const char *msg)
{
    char when[32];
    time_t t = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%H:%M:%S", localtime_r(&t, &tm));
    fprintf(stderr, "mapfile mirror %s: %s %s%s\n", (const char *)ud, when,
            level == MF_MIRROR_LOG_ERROR ? "error: " : "", msg);
}

/* Exit status of a library error. */
static int status_of(int rc)
{
    switch (rc) {
    case 0:
        return M_OK;
    case MF_MIRROR_EENDPOINT:
    case MF_EINVAL:
    case MF_ENOTMAPFILE:
    case MF_EVERSION:
    case MF_EACCES:
    case MF_ENOENT:
    case MF_EEXIST:
    case MF_ESYS:
        return M_USAGE;
    }
    return M_MISSING;
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "mapfile: mirror %s: %s\n", what, mf_mirror_errdetail());
    return status_of(rc);
}

static mf_mirror_options options(const mirror_args *a, uint64_t maxlen, const char *mode)
{
    mf_mirror_options o = MF_MIRROR_OPTIONS_INIT;
    o.ns = a->ns;
    o.maxlen = maxlen;
    o.log = log_line;
    o.log_ud = (void *)mode;
    return o;
}

/* Open the source, waiting for it (in slices, so a signal stops the wait)
 * unless --once. 0, 1 if stopped while waiting, or an error (reported). */
static int open_source(const char *path, int once, mf_file **out)
{
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.wait_ms = once ? 0 : 500;
    bool said = false;
    for (;;) {
        int rc = mf_open(out, path, MF_READ, &o);
        if (rc == 0)
            return 0;
        if (stopped)
            return 1;
        if ((rc != MF_ETIMEDOUT && rc != MF_ENOENT) || once) {
            fprintf(stderr, "mapfile: mirror push: %s\n", mf_errdetail());
            return rc;
        }
        if (!said)
            fprintf(stderr, "mapfile mirror push: waiting for %s to appear\n", path);
        said = true;
    }
}

static int run_push(const mirror_args *a, uint64_t maxlen)
{
    mf_file *src;
    int rc = open_source(a->pos[0], a->once, &src);
    if (rc)
        return rc == 1 ? M_OK : status_of(rc);
    mf_mirror_options o = options(a, maxlen, "push");
    mf_mirror *m;
    if ((rc = mf_mirror_push_create(&m, src, a->redis, &o))) {
        mf_close(src);
        return fail("push", rc);
    }
    if (a->once) {
        rc = mf_mirror_push(m);
        if (rc)
            fail("push", rc);
    } else {
        running = m;
        rc = stopped ? 0 : mf_mirror_run(m);
        running = NULL;
    }
    mf_mirror_close(m);
    mf_close(src);
    return status_of(rc);
}

static int run_pull(const mirror_args *a)
{
    mf_mirror_options o = options(a, 0, "pull");
    mf_mirror *m;
    int rc = mf_mirror_pull_create(&m, a->pos[0], a->pos[1], &o);
    if (rc)
        return fail("pull", rc);
    if (a->once) {
        rc = mf_mirror_pull(m, 0, NULL);
        if (rc)
            fail("pull", rc);
    } else {
        running = m;
        rc = stopped ? 0 : mf_mirror_run(m);
        running = NULL;
    }
    mf_mirror_close(m);
    return status_of(rc);
}

int mapfile_mirror_command(int argc, char **argv)
{
    mirror_args a;
    int rc = parse(argc, argv, &a);
    if (a.help) {
        fputs(usage_text, stdout);
        fputs(help_text, stdout);
        return fflush(stdout) == 0 ? M_OK : M_USAGE;
    }
    if (rc)
        return rc;
    if (!a.mode)
        return usage("%s", "missing push or pull");
    uint64_t maxlen;
    if ((rc = check(&a, &maxlen)))
        return rc;
    catch_signals();
    return strcmp(a.mode, "push") == 0 ? run_push(&a, maxlen) : run_pull(&a);
}
