/* serve_cmd.c - what `mapf serve` runs once tools/mapf/serve.c has parsed
 * its arguments: start, the URL on stdout, serve until SIGINT/SIGTERM. */
#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *mfw_read_token_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char buf[MFW_TOKEN_MAX + 2]; /* the token, a newline, the NUL */
    if (!f)
        return NULL; /* errno from fopen */
    char *line = fgets(buf, sizeof buf, f);
    int read_err = ferror(f);
    fclose(f);
    if (!line) {
        errno = read_err ? EIO : ENODATA;
        return NULL;
    }
    size_t n = strcspn(buf, "\r\n");
    if (n == 0 || (buf[n] == '\0' && n > MFW_TOKEN_MAX)) {
        errno = n ? EMSGSIZE : ENODATA; /* empty, or longer than we read */
        return NULL;
    }
    buf[n] = '\0';
    return strdup(buf);
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
        fprintf(stderr, "%s: serve: %s\n", prog, err);
        return rc == -1 ? 2 : 1;
    }
    printf("%s serve: %s on %s\n", prog, opts->file, mfw_server_url(s));
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    mfw_server_stop(s);
    return 0;
}
