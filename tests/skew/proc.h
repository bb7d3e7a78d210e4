/* proc.h - running the tests/skew executables (and forked helpers) from a
 * Criterion test: a child with its own MAPFILE_PLUGIN_PATH, its stdin and
 * stdout on pipes, killed if the test dies. Header-only, for the test
 * files that need it. Include as "skew/proc.h". */
#ifndef MF_SKEW_PROC_H
#define MF_SKEW_PROC_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* A running child: write to `in`, read lines from `out`. */
typedef struct mf_proc {
    pid_t pid;
    int in;    /* its stdin, -1 once closed */
    FILE *out; /* its stdout */
} mf_proc;

/* Start argv[0] with argv, MAPFILE_PLUGIN_PATH set to plugin_path (unset
 * if NULL). Returns 0, or -1 if pipes or fork failed. */
static inline int mf_proc_start(mf_proc *p, const char *plugin_path,
                                char *const argv[])
{
    int to[2], from[2];
    if (pipe2(to, O_CLOEXEC) != 0)
        return -1;
    if (pipe2(from, O_CLOEXEC) != 0) {
        close(to[0]);
        close(to[1]);
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* dup2 clears close-on-exec on the copies; every other end of
         * both pipes closes at exec. */
        if (dup2(to[0], 0) < 0 || dup2(from[1], 1) < 0)
            _exit(127);
        if (plugin_path)
            setenv("MAPFILE_PLUGIN_PATH", plugin_path, 1);
        else
            unsetenv("MAPFILE_PLUGIN_PATH");
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    p->pid = pid;
    p->in = to[1];
    p->out = fdopen(from[0], "r");
    if (!p->out) {
        close(from[0]);
        close(to[1]);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    return 0;
}

/* Next line of the child's output without the newline, or NULL at EOF. */
static inline char *mf_proc_line(mf_proc *p, char *buf, size_t cap)
{
    if (!fgets(buf, (int)cap, p->out))
        return NULL;
    buf[strcspn(buf, "\n")] = '\0';
    return buf;
}

/* Send one line to the child's stdin. Returns 0 or -1. */
static inline int mf_proc_send(mf_proc *p, const char *line)
{
    size_t n = strlen(line);
    return write(p->in, line, n) == (ssize_t)n ? 0 : -1;
}

static inline void mf_proc_close_in(mf_proc *p)
{
    if (p->in >= 0)
        close(p->in);
    p->in = -1;
}

/* Exit status of a waited-for child: its exit code, or 100 + signal. */
static inline int mf_proc_status(int st)
{
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

/* Close stdin, read the rest of the output into rest (may be NULL), reap
 * the child and return mf_proc_status(). */
static inline int mf_proc_finish(mf_proc *p, char *rest, size_t cap)
{
    mf_proc_close_in(p);
    size_t n = 0;
    int c;
    while ((c = fgetc(p->out)) != EOF)
        if (rest && n + 1 < cap)
            rest[n++] = (char)c;
    if (rest && cap)
        rest[n] = '\0';
    fclose(p->out);
    p->out = NULL;
    int st;
    while (waitpid(p->pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return mf_proc_status(st);
}

/* Run to completion with empty stdin; the whole output goes to out. */
static inline int mf_proc_run(const char *plugin_path, char *out, size_t cap,
                              char *const argv[])
{
    mf_proc p;
    if (mf_proc_start(&p, plugin_path, argv) != 0)
        return -1;
    return mf_proc_finish(&p, out, cap);
}

/* The rest of the line that starts with "key " in out, copied into val;
 * NULL if there is no such line. */
static inline const char *mf_out_field(const char *out, const char *key,
                                       char *val, size_t cap)
{
    size_t k = strlen(key);
    for (const char *l = out; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        if (strncmp(l, key, k) == 0 && l[k] == ' ') {
            size_t n = strcspn(l + k + 1, "\n");
            if (n >= cap)
                n = cap - 1;
            memcpy(val, l + k + 1, n);
            val[n] = '\0';
            return val;
        }
    }
    return NULL;
}

#endif
