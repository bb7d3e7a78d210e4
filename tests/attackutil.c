/* attackutil.c - helpers of the issue-12 attack tests (see attackutil.h). */
#include "attackutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

bool at_asan(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return true;
#else
    return false;
#endif
#else
    return false;
#endif
}

long at_env(const char *name, long def)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return def;
    char *end;
    long v = strtol(s, &end, 10);
    return *end ? def : v;
}

pid_t at_fork(void)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        prctl(PR_SET_PDEATHSIG, SIGKILL);
    return pid;
}

static int decode_status(int st)
{
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

int at_wait(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return decode_status(st);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void at_usleep(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int at_wait_for(pid_t pid, int seconds)
{
    int64_t deadline = mono_ms() + (int64_t)seconds * 1000;
    for (long pause = 200;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return decode_status(st);
        if (r < 0 && errno != EINTR)
            return -1;
        if (mono_ms() >= deadline) {
            kill(pid, SIGKILL);
            at_wait(pid);
            return 200;
        }
        at_usleep(pause);
        if (pause < 20000)
            pause *= 2;
    }
}

const char *at_status_text(int status)
{
    static char buf[96];
    if (status == 200)
        snprintf(buf, sizeof buf, "hung: killed by the watchdog");
    else if (status >= 100 && status < 200)
        snprintf(buf, sizeof buf, "killed by signal %d (%s)", status - 100,
                 strsignal(status - 100));
    else
        snprintf(buf, sizeof buf, "exit %d", status);
    return buf;
}

static long hold_countdown, hold_passed;
static int hold_report = -1, hold_go = -1;

static void hold_here(void)
{
    hold_passed++;
    if (hold_countdown <= 0 || --hold_countdown > 0)
        return;
    if (write(hold_report, "h", 1) != 1)
        _exit(90);
    char c = 'k';
    while (read(hold_go, &c, 1) < 0 && errno == EINTR) {
    }
    if (c == 'k')
        kill(getpid(), SIGKILL);
}

void at_hold_at_crash_point(long n, int report_fd, int go_fd)
{
    hold_countdown = n;
    hold_passed = 0;
    hold_report = report_fd;
    hold_go = go_fd;
    mf__crash_point = hold_here;
}

void at_count_crash_points(void) { at_hold_at_crash_point(0, -1, -1); }

long at_crash_points_passed(void) { return hold_passed; }

pid_t at_spawn_in_pid_ns(int as_pid, void (*fn)(void *), void *arg)
{
    pid_t h = at_fork();
    if (h != 0)
        return h;
    if (unshare(CLONE_NEWPID) != 0)
        _exit(77);
    pid_t init = fork();
    if (init < 0)
        _exit(79);
    if (init == 0) {
        /* pid 1 of the namespace: when it exits, the kernel kills the
         * rest of the namespace (the sleeper). */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (as_pid == 3 && fork() == 0) {
            for (;;)
                pause();
        }
        pid_t w = fork();
        if (w == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getpid() != as_pid)
                _exit(78);
            fn(arg);
            _exit(0);
        }
        _exit(at_wait(w));
    }
    _exit(at_wait(init));
}

const char *at_cli(void)
{
    static const char *const names[] = {MF_TEST_BUILD_DIR "/tools/mapf",
                                        MF_TEST_BUILD_DIR "/tools/mapfile"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (access(names[i], X_OK) == 0)
            return names[i];
    return NULL;
}

int at_run(const char *const *argv, int timeout_s, char *out, size_t cap)
{
    char tmpl[PATH_MAX];
    const char *t = getenv("TMPDIR");
    snprintf(tmpl, sizeof tmpl, "%s/attack-run.XXXXXX", t && *t ? t : "/tmp");
    int fd = mkstemp(tmpl);
    if (fd < 0)
        return -1;
    unlink(tmpl);
    pid_t pid = at_fork();
    if (pid < 0) {
        close(fd);
        return -1;
    }
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        dup2(in, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = at_wait_for(pid, timeout_s);
    ssize_t n = pread(fd, out, cap ? cap - 1 : 0, 0);
    if (cap)
        out[n > 0 ? n : 0] = '\0';
    close(fd);
    return status;
}

int at_copy(const char *src, const char *dst)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        close(in);
        return -1;
    }
    static unsigned char buf[1 << 16];
    int rc = 0;
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -1 : 0;
            break;
        }
        if (write(out, buf, (size_t)n) != n) {
            rc = -1;
            break;
        }
    }
    close(in);
    if (close(out) != 0)
        rc = -1;
    return rc;
}

/* Remember an inode once. */
static void add_inode(unsigned long *inodes, int *n, int cap, unsigned long ino)
{
    for (int i = 0; i < *n; i++)
        if (inodes[i] == ino)
            return;
    if (*n < cap)
        inodes[(*n)++] = ino;
}

at_pins at_count_pins(const char *prefix)
{
    at_pins p = {0, 0, 0};
    static unsigned long inodes[4096];
    int ninodes = 0;
    size_t plen = strlen(prefix);
    FILE *f = fopen("/proc/self/maps", "r");
    char line[PATH_MAX + 256];
    while (f && fgets(line, sizeof line, f)) {
        unsigned long ino;
        int path_at = 0;
        /* start-end perms offset dev inode path */
        if (sscanf(line, "%*s %*s %*s %*s %lu %n", &ino, &path_at) < 1 || !path_at)
            continue;
        if (strncmp(line + path_at, prefix, plen) != 0)
            continue;
        p.mappings++;
        add_inode(inodes, &ninodes, 4096, ino);
    }
    if (f)
        fclose(f);
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char link[300], target[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        struct stat st;
        if (strncmp(target, prefix, plen) != 0 || stat(link, &st) != 0)
            continue;
        p.fds++;
        add_inode(inodes, &ninodes, 4096, (unsigned long)st.st_ino);
    }
    if (d)
        closedir(d);
    p.files = ninodes;
    return p;
}

int at_count_deleted_mappings(void)
{
    int n = 0;
    FILE *f = fopen("/proc/self/maps", "r");
    char line[PATH_MAX + 256];
    while (f && fgets(line, sizeof line, f)) {
        size_t len = strcspn(line, "\n");
        line[len] = '\0';
        if (len > 10 && strcmp(line + len - 10, " (deleted)") == 0)
            n++;
    }
    if (f)
        fclose(f);
    return n;
}

void at_fill(unsigned char *buf, size_t size, uint64_t value)
{
    for (size_t i = 0; i < size; i += 8) {
        size_t n = size - i < 8 ? size - i : 8;
        memcpy(buf + i, &value, n);
    }
}

int at_value_of(const unsigned char *buf, size_t size, uint64_t *value)
{
    if (size < 8)
        return -1;
    uint64_t v;
    memcpy(&v, buf, 8);
    for (size_t i = 8; i < size; i += 8) {
        size_t n = size - i < 8 ? size - i : 8;
        if (memcmp(buf + i, &v, n) != 0)
            return -1;
    }
    *value = v;
    return 0;
}
