/* serve_cmd.c - `mapf serve`: arguments, start, the URL on stdout, serve
 * until SIGINT/SIGTERM. */
#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERVE_USAGE                                                            \
    "usage: %s serve FILE [--listen ADDR:PORT] [--token TOKEN | --token-file F]\n" \
    "       [--no-auth] [--title T] [--jsroot DIR] [--max-clients N] [--keepalive S]\n"

static void print_help(const char *prog)
{
    printf(SERVE_USAGE, prog);
    printf("\nServe FILE read-only over HTTP: a live dashboard at /, THttpServer's\n"
           "h.json and NAME/root.json (stock JSROOT draws hist1d, hist2d and profile\n"
           "as TH1D, TH2D and TProfile), NAME/get.json (what 'get --json' prints),\n"
           "and Server-Sent Events at /events, pushed the moment a record changes.\n"
           "FILE may not exist yet; a producer restart (RECREATE) is followed.\n\n"
           "  --listen ADDR:PORT  address to bind (default %s; port 0 picks one)\n"
           "  --token TOKEN       required on every request: open /?token=TOKEN, or\n"
           "                      send 'Authorization: Bearer TOKEN'\n"
           "  --token-file F      read the token from F (first line), so it does not\n"
           "                      show in ps\n"
           "  --no-auth           allow a non-loopback address without a token\n"
           "  --title T           page title (default: the file's title)\n"
           "  --jsroot DIR        the jsroot npm package directory (default: found\n"
           "                      in share/mapfile/jsroot or $MAPFILE_JSROOT_DIR)\n"
           "  --max-clients N     most /events streams at once (default %d); the\n"
           "                      next one gets 503\n"
           "  --keepalive S       seconds between keep-alive comments (default %d)\n\n"
           "A non-loopback address needs --token or --no-auth. Prints the URL, then\n"
           "serves until interrupted. Exit: 0 stopped by a signal, 1 could not\n"
           "start, 2 usage error.\n",
           MFW_DEFAULT_LISTEN, MFW_DEFAULT_MAX_CLIENTS, MFW_DEFAULT_KEEPALIVE);
}

static int usage(const char *prog, const char *fmt, const char *arg)
{
    fprintf(stderr, "%s serve: ", prog);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n" SERVE_USAGE, prog);
    return 2;
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || errno || *s == '-' || v < min || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

char *mfw_read_token_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char buf[512];
    if (!f)
        return NULL;
    char *line = fgets(buf, sizeof buf, f);
    fclose(f);
    if (!line)
        return NULL;
    buf[strcspn(buf, "\r\n")] = '\0';
    return strdup(buf);
}

typedef struct serve_args {
    mfw_options o;
    char *token_buf;
} serve_args;

static int take(int argc, char **argv, int *i, const char *name, const char **out)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return 0;
    if (argv[*i][n] == '=') {
        *out = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *out = argv[++*i];
    return 1;
}

static int parse(const char *prog, int argc, char **argv, serve_args *a)
{
    const char *v, *token_file = NULL;
    int t;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-auth") == 0) {
            a->o.no_auth = 1;
        } else if ((t = take(argc, argv, &i, "--listen", &a->o.listen)) ||
                   (t = take(argc, argv, &i, "--token", &a->o.token)) ||
                   (t = take(argc, argv, &i, "--token-file", &token_file)) ||
                   (t = take(argc, argv, &i, "--title", &a->o.title)) ||
                   (t = take(argc, argv, &i, "--jsroot", &a->o.jsroot_dir))) {
            if (t < 0)
                return usage(prog, "%s needs a value", argv[i]);
        } else if ((t = take(argc, argv, &i, "--max-clients", &v))) {
            if (t < 0 || parse_uint(v, 1, 100000, &a->o.max_clients))
                return usage(prog, "--max-clients needs a number from 1 to 100000", "");
        } else if ((t = take(argc, argv, &i, "--keepalive", &v))) {
            if (t < 0 || parse_uint(v, 1, 3600, &a->o.keepalive_s))
                return usage(prog, "--keepalive needs seconds from 1 to 3600", "");
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return usage(prog, "unknown option '%s'", argv[i]);
        } else if (!a->o.file) {
            a->o.file = argv[i];
        } else {
            return usage(prog, "unexpected argument '%s'", argv[i]);
        }
    }
    if (!a->o.file)
        return usage(prog, "missing FILE%s", "");
    if (token_file) {
        if (a->o.token)
            return usage(prog, "give --token or --token-file, not both%s", "");
        if (!(a->token_buf = mfw_read_token_file(token_file)))
            return usage(prog, "cannot read a token from '%s'", token_file);
        a->o.token = a->token_buf;
    }
    return 0;
}

int mfw_serve_command(const char *prog, int argc, char **argv)
{
    serve_args a = {MFW_OPTIONS_INIT, NULL};
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_help(prog);
            return 0;
        }
    int rc = parse(prog, argc, argv, &a);
    if (rc == 0)
        rc = mfw_serve_run(prog, &a.o);
    free(a.token_buf);
    return rc;
}

int mfw_serve_run(const char *prog, const mfw_options *opts)
{
    /* Block the stop signals before any thread starts, so only sigwait
     * sees them; a peer that hangs up must not kill the server. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    mfw_server *s;
    char err[1024];
    int rc = mfw_server_start(&s, opts, err, sizeof err);
    if (rc) {
        fprintf(stderr, "%s serve: %s\n", prog, err);
        return rc == -1 ? 2 : 1;
    }
    printf("%s serve: %s on %s\n", prog, opts->file, mfw_server_url(s));
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    mfw_server_stop(s);
    return 0;
}
