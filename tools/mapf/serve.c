/*
 * serve.c - `mapf serve FILE`: the read-only web view of a map file. The
 * server lives in web/ (libmicrohttpd, SSE, the dashboard page, JSROOT);
 * this file only maps the command line onto its options. A build without
 * libmicrohttpd (-DMAPFILE_WEB=OFF) still lists the command and says so.
 */
#include "mapf.h"

#ifdef MAPFILE_HAVE_WEB
#include <mapfile/web.h>
#endif

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef MAPFILE_HAVE_WEB
#define STR_(x) #x
#define STR(x) STR_(x)
#define MFW_TOKEN_MAX_STR STR(MFW_TOKEN_MAX)

/* Option @p opt's value @p v (NULL: not given, *out unchanged) as a whole
 * number from 1 to @p max. 0, or EXIT_USAGE after saying why. */
static int parse_count(const mapf_command *c, const char *opt, const char *v,
                       unsigned long max, unsigned *out)
{
    if (!v)
        return 0;
    char *end;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (!*v || *end || errno || *v == '-' || *v == '+' || n < 1 || n > max)
        return usage_error(c, "%s needs a whole number from 1 to %lu, not '%s'",
                           opt, max, v);
    *out = (unsigned)n;
    return 0;
}

static int run_serve(const mapf_args *a)
{
    const mapf_command *c = a->cmd;
    mfw_options o = MFW_OPTIONS_INIT;
    o.file = a->pos[0];
    if (mapf_value(a, "--listen"))
        o.listen = mapf_value(a, "--listen");
    o.token = mapf_value(a, "--token");
    o.no_auth = mapf_flag(a, "--no-auth");
    o.title = mapf_value(a, "--title");
    o.jsroot_dir = mapf_value(a, "--jsroot");
    if (parse_count(c, "--max-clients", mapf_value(a, "--max-clients"), 100000,
                    &o.max_clients) ||
        parse_count(c, "--keepalive", mapf_value(a, "--keepalive"), 3600,
                    &o.keepalive_s))
        return EXIT_USAGE;
    unsigned budget_mib = 0;
    if (parse_count(c, "--reply-budget", mapf_value(a, "--reply-budget"), 1u << 20,
                    &budget_mib))
        return EXIT_USAGE;
    o.reply_budget = (size_t)budget_mib << 20;
    const char *tf = mapf_value(a, "--token-file");
    char *token = NULL;
    if (tf) {
        if (o.token)
            return usage_error(c, "give --token or --token-file, not both");
        if (!(token = mfw_read_token_file(tf))) {
            int e = errno;
            errorf(tf, "--token-file: cannot read a token from its first line: %s",
                   e == ENODATA    ? "the line is empty"
                   : e == EMSGSIZE ? "longer than " MFW_TOKEN_MAX_STR " bytes"
                                   : strerror(e));
            return EXIT_USAGE;
        }
        o.token = token;
    }
    int status = mfw_serve_run("mapf", &o);
    free(token);
    return status;
}
#else
static int run_serve(const mapf_args *a)
{
    (void)a;
    errorf(NULL, "serve: this mapf was built without the web view (cmake "
           "-DMAPFILE_WEB=OFF, or libmicrohttpd-dev missing); rebuild with "
           "libmicrohttpd-dev installed");
    return EXIT_USAGE;
}
#endif

static const mapf_option serve_options[] = {
    {"--listen", NULL, 1},      {"--token", NULL, 1},     {"--token-file", NULL, 1},
    {"--no-auth", NULL, 0},     {"--title", NULL, 1},     {"--jsroot", NULL, 1},
    {"--max-clients", NULL, 1}, {"--keepalive", NULL, 1}, {"--reply-budget", NULL, 1},
    {NULL, NULL, 0},
};

const mapf_command mapf_cmd_serve = {
    .name = "serve",
    .run = run_serve,
    .options = serve_options,
    .min_pos = 1,
    .max_pos = 1,
    .synopsis = "FILE [--listen ADDR:PORT] [--token TOKEN] [--title T]",
    .help =
        "Serve FILE read-only over HTTP: a live dashboard at /, THttpServer's\n"
        "h.json and NAME/root.json (stock JSROOT draws hist1d, hist2d and\n"
        "profile as TH1D, TH2D and TProfile), NAME/get.json (what 'get --json'\n"
        "prints, emulated from the file's stored schema when the codec is not\n"
        "installed), info.json, and Server-Sent Events at /events, pushed the\n"
        "moment a record changes. FILE may not exist yet; a producer restart\n"
        "(RECREATE) is followed. Prints the URL, then serves until Ctrl-C or\n"
        "SIGTERM.\n"
        "\n"
        "  --listen ADDR:PORT  address to bind (default 127.0.0.1:8080; port 0\n"
        "                      picks a free one); any address but loopback needs\n"
        "                      --token or --no-auth\n"
        "  --token TOKEN       required on every request: open /?token=TOKEN\n"
        "                      once (it becomes a cookie), or send\n"
        "                      'Authorization: Bearer TOKEN'\n"
        "  --token-file F      the token is F's first line (not shown by ps)\n"
        "  --no-auth           serve a non-loopback address without a token\n"
        "  --title T           page title (default: the file's title)\n"
        "  --jsroot DIR        the jsroot npm package (default: share/mapfile/\n"
        "                      jsroot beside the binary, or $MAPFILE_JSROOT_DIR)\n"
        "  --max-clients N     most /events streams at once (default 256); the\n"
        "                      next one gets 503\n"
        "  --reply-budget MIB  memory the replies still being sent may hold\n"
        "                      (default 512); a reply over 1 MiB that does not\n"
        "                      fit gets 503, so slow readers of big records\n"
        "                      cannot pile up copies\n"
        "  --keepalive S       seconds between keep-alive comments on an idle\n"
        "                      event stream (default 15)\n"
        "\n"
        "Exit status: 0 stopped by SIGINT or SIGTERM, 1 could not start (address\n"
        "in use), 2 usage error (a non-loopback address without --token or\n"
        "--no-auth, a malformed address, an unreadable token file).\n",
};
