/*
 * util.c - timing, statistics, failure handling, child processes and
 * progress for mapfile-bench.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

bench_cfg B;

static bool in_child;
static pid_t children[64];
static int nchildren;

/* ------------------------------------------------------------------------ */
/* Time                                                                     */
/* ------------------------------------------------------------------------ */

int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void sleep_ns(int64_t ns)
{
    if (ns <= 0)
        return;
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void sleep_until_ns(int64_t t)
{
    struct timespec ts = {(time_t)(t / 1000000000), (long)(t % 1000000000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* ------------------------------------------------------------------------ */
/* Failure and clean-up                                                     */
/* ------------------------------------------------------------------------ */

/* A map file's writers and waiters keep a wake page in /dev/shm named
 * after the file's id (core/src/wake.c: "/mapfile-<id in hex>"); a
 * RECREATE removes it, a file deleted by hand leaves it behind: remove it
 * with the file. */
static void forget_wake_page(const char *path)
{
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.flags = MF_OPEN_NO_FOLLOW_REPLACE;
    o.registry = B.reg;
    mf_file *mf;
    if (mf_open(&mf, path, MF_READ, &o) != 0)
        return; /* not a map file */
    mf_file_info fi;
    if (mf_file_stat(mf, &fi) == 0) {
        char name[64];
        snprintf(name, sizeof name, "/mapfile-%016llx", (unsigned long long)fi.file_id);
        shm_unlink(name);
    }
    mf_close(mf);
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)ftw;
    if (flag == FTW_F && sb->st_size >= 4096)
        forget_wake_page(path);
    remove(path);
    return 0;
}

void rm_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void cleanup_all(void)
{
    if (in_child)
        return;
    for (int i = 0; i < nchildren; i++) {
        if (children[i] > 0) {
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);
            children[i] = 0;
        }
    }
    nchildren = 0;
    redis_stop();
    if (B.dir[0]) {
        nftw(B.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        B.dir[0] = '\0';
    }
}

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    progress_done();
    fprintf(stderr, "mapfile-bench: %s", in_child ? "(child) " : "");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (in_child)
        _exit(1);
    cleanup_all();
    exit(1);
}

void mfok(int rc, const char *what)
{
    if (rc)
        die("%s failed: %s (%s): %s", what, mf_err_name(rc), mf_strerror(rc),
            mf_errdetail());
}

void strfmt(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

void read_loadavg(char *dst, size_t cap)
{
    dst[0] = '\0';
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f)
        return;
    double a, b, c;
    if (fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3)
        snprintf(dst, cap, "%.2f %.2f %.2f", a, b, c);
    fclose(f);
}

const char *bpath(const char *name)
{
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", B.dir, name);
    return b;
}

mf_file *open_writer(const char *name, uint64_t initial_size)
{
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.initial_size = initial_size ? initial_size : MF_DEFAULT_SIZE;
    o.max_size = B.max_size;
    o.registry = B.reg;
    o.title = "mapfile-bench";
    mf_file *mf;
    int rc = mf_open(&mf, bpath(name), MF_RECREATE, &o);
    if (rc)
        die("mf_open(%s, MF_RECREATE): %s: %s", name, mf_strerror(rc),
            mf_errdetail());
    return mf;
}

mf_file *open_updater(const char *name)
{
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.max_size = B.max_size;
    o.registry = B.reg;
    o.flags = MF_OPEN_NO_CREATE;
    mf_file *mf;
    int rc = mf_open(&mf, bpath(name), MF_UPDATE, &o);
    if (rc)
        die("mf_open(%s, MF_UPDATE): %s: %s", name, mf_strerror(rc), mf_errdetail());
    return mf;
}

mf_file *open_reader(const char *name)
{
    return open_reader_flags(name, 0);
}

mf_file *open_reader_flags(const char *name, unsigned flags)
{
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.registry = B.reg;
    o.flags = flags;
    mf_file *mf;
    int rc = mf_open(&mf, bpath(name), MF_READ, &o);
    if (rc)
        die("mf_open(%s, MF_READ): %s: %s", name, mf_strerror(rc),
            mf_errdetail());
    return mf;
}

void *shm_alloc(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED)
        die("mmap of %zu shared bytes: %s", size, strerror(errno));
    return p;
}

void shm_free(void *p, size_t size)
{
    if (p)
        munmap(p, size);
}

void futex_wait_u32(uint32_t *word, uint32_t expect)
{
    syscall(SYS_futex, word, FUTEX_WAIT, expect, NULL, NULL, 0);
}

void futex_wake_u32(uint32_t *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

void fill_random(void *buf, size_t n, uint64_t seed)
{
    uint64_t s = seed | 1;
    unsigned char *p = buf;
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(rng_next(&s) >> 56);
}

/* ------------------------------------------------------------------------ */
/* Statistics and loops                                                     */
/* ------------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double stat_percentile(double *v, size_t n, double p)
{
    if (n == 0)
        return __builtin_nan("");
    qsort(v, n, sizeof *v, cmp_double);
    /* Nearest rank: the smallest value with at least p% at or below it. */
    double rank = p / 100.0 * (double)n;
    size_t i = rank <= 1 ? 0 : (size_t)(rank + 0.999999) - 1;
    return v[i < n ? i : n - 1];
}

double stat_median(double *v, size_t n)
{
    if (n == 0)
        return __builtin_nan("");
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* CPU and wall time of the loops since the last report section. */
static int64_t loop_cpu, loop_wall;
static bool loop_count = true;

void loop_cpu_count(bool on) { loop_count = on; }

int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double loop_cpu_share(void)
{
    double share = loop_wall > 0 ? (double)loop_cpu / (double)loop_wall : -1;
    loop_cpu = loop_wall = 0;
    return share;
}

double measure_ns(bench_op op, void *ctx, double seconds, const char *what,
                  double *cpu_ns_op)
{
    int64_t limit = (int64_t)(seconds * 1e9);
    uint64_t done = 0, batch = 1;
    int64_t c0 = thread_cpu_ns();
    int64_t t0 = now_ns(), t;
    for (;;) {
        for (uint64_t i = 0; i < batch; i++) {
            int rc = op(ctx);
            if (rc)
                die("%s: %s (%d): %s", what, rc < 0 ? mf_strerror(rc) : "failed",
                    rc, rc < 0 ? mf_errdetail() : "");
        }
        done += batch;
        t = now_ns();
        if (t - t0 >= limit)
            break;
        /* Aim the next batch at the time left, without overshooting much. */
        double per = (double)(t - t0) / (double)done;
        double left = (double)(limit - (t - t0)) / per;
        batch = left < 1 ? 1 : left > (double)(batch * 2) ? batch * 2 : (uint64_t)left;
    }
    int64_t cpu = thread_cpu_ns() - c0;
    if (loop_count) {
        loop_cpu += cpu;
        loop_wall += t - t0;
    }
    if (cpu_ns_op)
        *cpu_ns_op = (double)cpu / (double)done;
    return (double)(t - t0) / (double)done;
}

static long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

void warm_up(bench_op op, void *ctx, size_t ops, double min_s, double max_s,
             const char *what)
{
    int64_t t0 = now_ns(), min_ns = (int64_t)(min_s * 1e9), max_ns = (int64_t)(max_s * 1e9);
    size_t done = 0, quiet_ops = 0;
    int64_t quiet_since = t0;
    for (;;) {
        long f0 = minor_faults();
        for (int i = 0; i < 64; i++) {
            int rc = op(ctx);
            if (rc)
                die("%s (warm-up): %s (%d): %s", what,
                    rc < 0 ? mf_strerror(rc) : "failed", rc, rc < 0 ? mf_errdetail() : "");
        }
        done += 64;
        int64_t now = now_ns(), t = now - t0;
        /* Steady: no page fault for 256 operations and 10 ms (a store
         * still growing into fresh pages faults every few operations). */
        if (minor_faults() != f0) {
            quiet_ops = 0;
            quiet_since = now;
        } else {
            quiet_ops += 64;
        }
        bool steady = quiet_ops >= 256 && now - quiet_since >= 10000000;
        if ((t >= min_ns && done >= ops && steady) || t >= max_ns)
            return;
    }
}

/* ------------------------------------------------------------------------ */
/* Progress                                                                 */
/* ------------------------------------------------------------------------ */

static int tty = -1;
static char cur_scenario[64];
static bool step_shown;

void progress_scenario(const char *name)
{
    if (tty < 0)
        tty = isatty(2);
    snprintf(cur_scenario, sizeof cur_scenario, "%s", name);
    if (tty) {
        fprintf(stderr, "\r[%s]\033[K", name);
        step_shown = true;
    } else {
        fprintf(stderr, "mapfile-bench: %s\n", name);
    }
}

void progress_step(const char *fmt, ...)
{
    if (tty < 0)
        tty = isatty(2);
    if (!tty)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "\r[%s] ", cur_scenario);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\033[K");
    va_end(ap);
    step_shown = true;
}

void progress_done(void)
{
    if (tty > 0 && step_shown) {
        fprintf(stderr, "\r\033[K");
        step_shown = false;
    }
}

/* ------------------------------------------------------------------------ */
/* Children                                                                 */
/* ------------------------------------------------------------------------ */

pid_t spawn(void (*fn)(void *), void *arg)
{
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        in_child = true;
        nchildren = 0;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1); /* the parent died before the line above */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        fn(arg);
        _exit(0);
    }
    if (nchildren < (int)(sizeof children / sizeof children[0]))
        children[nchildren++] = pid;
    return pid;
}

static void forget_child(pid_t pid)
{
    for (int i = 0; i < nchildren; i++)
        if (children[i] == pid) {
            children[i] = children[--nchildren];
            return;
        }
}

void reap(pid_t pid, const char *what)
{
    int st;
    pid_t r;
    while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
        ;
    forget_child(pid);
    if (r < 0)
        die("waitpid (%s): %s", what, strerror(errno));
    if (WIFSIGNALED(st))
        die("%s: child %d killed by signal %d", what, (int)pid, WTERMSIG(st));
    if (WEXITSTATUS(st) != 0)
        die("%s: child %d failed (exit %d)", what, (int)pid, WEXITSTATUS(st));
}

void team_init(team *t)
{
    memset(t, 0, sizeof *t);
    if (pipe2(t->ready, O_CLOEXEC) || pipe2(t->go, O_CLOEXEC))
        die("pipe: %s", strerror(errno));
}

void team_spawn(team *t, void (*fn)(void *), void *arg)
{
    if (t->n >= (int)(sizeof t->pids / sizeof t->pids[0]))
        die("team too large");
    t->pids[t->n++] = spawn(fn, arg);
}

static void read_bytes(int fd, int n, const char *what)
{
    char buf[16];
    while (n > 0) {
        ssize_t r = read(fd, buf, (size_t)(n < 16 ? n : 16));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            die("%s: pipe closed (a process failed)", what);
        n -= (int)r;
    }
}

static void write_bytes(int fd, int n)
{
    char buf[16] = {0};
    while (n > 0) {
        ssize_t w = write(fd, buf, (size_t)(n < 16 ? n : 16));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("pipe write: %s", strerror(errno));
        n -= (int)w;
    }
}

void team_wait_ready(team *t)
{
    /* The parent holds the write end too, so a child that dies before it
     * is ready shows only through waitpid: poll for both. */
    int got = 0;
    while (got < t->n) {
        struct pollfd pf = {t->ready[0], POLLIN, 0};
        int pr = poll(&pf, 1, 200);
        if (pr < 0 && errno != EINTR)
            die("poll: %s", strerror(errno));
        if (pr > 0) {
            char c;
            if (read(t->ready[0], &c, 1) == 1)
                got++;
            continue;
        }
        for (int i = 0; i < t->n; i++) {
            int st;
            if (waitpid(t->pids[i], &st, WNOHANG) == t->pids[i]) {
                forget_child(t->pids[i]);
                die("a child process failed before it was ready (%s %d)",
                    WIFSIGNALED(st) ? "signal" : "exit",
                    WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
            }
        }
    }
}

void team_go(team *t) { write_bytes(t->go[1], t->n); }

void team_join(team *t, const char *what)
{
    for (int i = 0; i < t->n; i++)
        reap(t->pids[i], what);
    close(t->ready[0]);
    close(t->ready[1]);
    close(t->go[0]);
    close(t->go[1]);
    t->n = 0;
}

void team_child_ready(team *t) { write_bytes(t->ready[1], 1); }

void team_child_wait_go(team *t) { read_bytes(t->go[0], 1, "team go"); }
