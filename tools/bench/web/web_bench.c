/*
 * web_bench.c - mapfile-web-bench: `mapf serve` pushing changes to 100
 * Server-Sent Events clients, beside the THttpServer way (every client polls
 * every object's root.json once a second).
 *
 *   mapfile-web-bench [--quick] [--clients N] [--seconds S]
 *
 * Workload A of mapfile-bench: 40 hist1d x 4096 bins + 10 hist2d 128x128,
 * mf_update(NULL) at 10 Hz, in a producer process. The server is a real
 * `mapf serve` process; its CPU time comes from /proc. The clients are one
 * epoll loop in this process.
 *
 * Push:  every client holds /events. Reported: server CPU per update, and
 *        the delay from mf_update returning in the producer to the event
 *        arriving at a client (CLOCK_MONOTONIC in both), p50 and p99 over
 *        every client and event; bytes and server CPU per client.
 * Poll:  every client fetches the 50 objects' root.json once a second on a
 *        keep-alive connection (JSROOT's monitoring of a 50-pad canvas),
 *        staggered over the second. Reported: rounds completed, bytes and
 *        server CPU per client, and the delay from an update to the end of
 *        the first poll round that started after it.
 * Nothing about speed is asserted.
 */
#include <mapfile/hist.h>
#include <mapfile/mapfile.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define N1D 40
#define N2D 10
#define NOBJ (N1D + N2D)
#define RATE_HZ 10
#define MAX_PUBS 100000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
    fprintf(stderr, "mapfile-web-bench: %s: %s\n", what, errno ? strerror(errno) : mf_errdetail());
    exit(1);
}

/* ---- producer (a child process) ----------------------------------------- */

/* Shared with the parent: when each generation became visible. */
typedef struct pubs {
    volatile uint64_t n;
    uint64_t gen[MAX_PUBS];
    double t[MAX_PUBS];
} pubs;

static volatile sig_atomic_t stop_flag;
static void on_term(int sig) { (void)sig; stop_flag = 1; }

static void produce(const char *path, pubs *P)
{
    signal(SIGTERM, on_term);
    mf_registry_add_class(mf_registry_default(), &mf_hist1d_class);
    mf_registry_add_class(mf_registry_default(), &mf_hist2d_class);
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.title = "web bench: workload A";
    o.initial_size = 64u << 20;
    mf_file *mf;
    if (mf_open(&mf, path, MF_RECREATE, &o) != 0)
        die("producer: mf_open");
    mf_hist1d *h1[N1D];
    mf_hist2d *h2[N2D];
    char name[64];
    for (int i = 0; i < N1D; i++) {
        h1[i] = mf_hist1d_new("channel", 4096, 0, 4096);
        snprintf(name, sizeof name, "det/h1_%02d", i);
        mf_add(mf, name, "hist1d", h1[i]);
    }
    for (int i = 0; i < N2D; i++) {
        h2[i] = mf_hist2d_new("map", 128, 0, 128, 128, 0, 128);
        snprintf(name, sizeof name, "det/h2_%02d", i);
        mf_add(mf, name, "hist2d", h2[i]);
    }
    uint64_t x = 88172645463325252ull;
    double next = now_s();
    while (!stop_flag && P->n < MAX_PUBS) {
        for (int k = 0; k < 2000; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            mf_hist1d_fill(h1[x % N1D], (double)(x >> 20 & 4095));
            mf_hist2d_fill(h2[x % N2D], (double)(x >> 24 & 127), (double)(x >> 32 & 127));
        }
        if (mf_update(mf, NULL) != 0)
            die("producer: mf_update");
        double t = now_s();
        mf_file_info fi;
        mf_file_stat(mf, &fi);
        P->gen[P->n] = fi.generation;
        P->t[P->n] = t;
        __atomic_store_n(&P->n, P->n + 1, __ATOMIC_RELEASE);
        next += 1.0 / RATE_HZ;
        double d = next - now_s();
        if (d > 0) {
            struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
            nanosleep(&ts, NULL);
        }
    }
    mf_close(mf);
    _exit(0);
}

/* ---- server ------------------------------------------------------------- */

static pid_t start_server(const char *mapf, const char *path, int *port)
{
    int fds[2];
    if (pipe(fds) != 0)
        die("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(fds[1], 1);
        close(fds[0]);
        execl(mapf, mapf, "serve", path, "--listen", "127.0.0.1:0", "--max-clients", "1000",
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char line[512] = "";
    FILE *f = fdopen(fds[0], "r");
    if (!f || !fgets(line, sizeof line, f))
        die("the server printed no URL");
    char *p = strstr(line, "http://127.0.0.1:");
    if (!p)
        die("the server printed no URL");
    *port = atoi(p + 17);
    fclose(f);
    return pid;
}

static double proc_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f || !fgets(buf, sizeof buf, f)) {
        if (f)
            fclose(f);
        return 0;
    }
    fclose(f);
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    /* after ") " : state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- clients ------------------------------------------------------------ */

typedef struct client {
    int fd;
    char buf[1 << 16];
    size_t len;
    uint64_t bytes;
    /* poll mode */
    int obj;          /* next object of the round, NOBJ when idle */
    double due;       /* start of the next round */
    double round_t0;
    double prev_t0;   /* start of the previous round, 0 before the first */
    long body_left;   /* -1: reading headers */
    uint64_t rounds;
} client;

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void send_all(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            die("send");
        s += w;
        n -= (size_t)w;
    }
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    if (!n)
        return NAN;
    qsort(v, n, sizeof *v, cmp_d);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

/* When generation g became visible, or NAN if unknown. */
static double pub_time(const pubs *P, uint64_t g)
{
    uint64_t n = __atomic_load_n(&P->n, __ATOMIC_ACQUIRE);
    for (uint64_t i = n; i-- > 0;)
        if (P->gen[i] == g)
            return P->t[i];
        else if (P->gen[i] < g)
            break;
    return NAN;
}

/* Scan complete SSE messages in c->buf for "id: N" and record latencies. */
static void sse_consume(client *c, const pubs *P, double t, double *lat, size_t *nlat,
                        size_t cap)
{
    char *p = c->buf, *end = c->buf + c->len;
    for (;;) {
        char *msg_end = memmem(p, (size_t)(end - p), "\n\n", 2);
        if (!msg_end)
            break;
        int hello = memmem(p, (size_t)(msg_end - p), "event: hello", 12) != NULL;
        char *id = memmem(p, (size_t)(msg_end - p), "id: ", 4);
        if (id && !hello) {
            double tp = pub_time(P, strtoull(id + 4, NULL, 10));
            if (!isnan(tp) && *nlat < cap)
                lat[(*nlat)++] = t - tp;
        }
        p = msg_end + 2;
    }
    memmove(c->buf, p, (size_t)(end - p));
    c->len = (size_t)(end - p);
}

typedef struct result {
    double seconds, server_cpu;
    uint64_t updates, bytes, rounds;
    double p50, p99;
    uint64_t started;
} result;

static void run_push(int port, int nclients, double seconds, const pubs *P, pid_t server,
                     result *R)
{
    client *cl = calloc((size_t)nclients, sizeof *cl);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < nclients; i++) {
        cl[i].fd = connect_to(port);
        send_all(cl[i].fd, "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n");
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cl[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, cl[i].fd, &ev);
    }
    size_t cap = (size_t)nclients * (size_t)(seconds * RATE_HZ * 2 + 100), nlat = 0;
    double *lat = malloc(cap * sizeof *lat);
    double t_end = now_s() + 1.0; /* settle: hello, first events */
    struct epoll_event evs[256];
    int measuring = 0;
    double cpu0 = 0, t0 = 0;
    uint64_t n0 = 0;
    for (;;) {
        double t = now_s();
        if (t >= t_end) {
            if (measuring)
                break;
            measuring = 1;
            nlat = 0;
            for (int i = 0; i < nclients; i++)
                cl[i].bytes = 0;
            cpu0 = proc_cpu_s(server);
            n0 = P->n;
            t0 = t;
            t_end = t + seconds;
        }
        int n = epoll_wait(ep, evs, 256, 50);
        double tr = now_s();
        for (int k = 0; k < n; k++) {
            client *c = evs[k].data.ptr;
            ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len - 1, 0);
            if (r <= 0)
                die("an event stream closed");
            c->len += (size_t)r;
            c->bytes += (uint64_t)r;
            sse_consume(c, P, tr, lat, &nlat, measuring ? cap : 0);
        }
    }
    R->seconds = now_s() - t0;
    R->server_cpu = proc_cpu_s(server) - cpu0;
    R->updates = P->n - n0;
    R->bytes = 0;
    for (int i = 0; i < nclients; i++) {
        R->bytes += cl[i].bytes;
        close(cl[i].fd);
    }
    R->p50 = pct(lat, nlat, 0.50);
    R->p99 = pct(lat, nlat, 0.99);
    R->rounds = nlat;
    free(lat);
    free(cl);
    close(ep);
}

static void poll_request(client *c)
{
    char req[256];
    snprintf(req, sizeof req,
             "GET /det/%s_%02d/root.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
             c->obj < N1D ? "h1" : "h2", c->obj < N1D ? c->obj : c->obj - N1D);
    send_all(c->fd, req);
    c->body_left = -1;
    c->len = 0;
}

/* Consume response bytes; returns 1 when a whole response was read. */
static int poll_consume(client *c, const char *data, size_t n)
{
    if (c->body_left < 0) {
        size_t take = n < sizeof c->buf - 1 - c->len ? n : sizeof c->buf - 1 - c->len;
        memcpy(c->buf + c->len, data, take);
        c->len += take;
        c->buf[c->len] = '\0';
        char *he = strstr(c->buf, "\r\n\r\n");
        if (!he)
            return 0;
        char *cl = strcasestr(c->buf, "Content-Length:");
        if (!cl || cl > he)
            die("a poll response without Content-Length");
        long want = strtol(cl + 15, NULL, 10);
        size_t head = (size_t)(he + 4 - c->buf);
        size_t body_here = c->len - head + (n - take);
        c->body_left = want - (long)body_here;
        return c->body_left <= 0;
    }
    c->body_left -= (long)n;
    return c->body_left <= 0;
}

static void run_poll(int port, int nclients, double seconds, const pubs *P, pid_t server,
                     result *R)
{
    client *cl = calloc((size_t)nclients, sizeof *cl);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    double start = now_s() + 0.2;
    for (int i = 0; i < nclients; i++) {
        cl[i].fd = connect_to(port);
        cl[i].obj = NOBJ;
        cl[i].due = start + (double)i / nclients; /* staggered over the second */
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cl[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, cl[i].fd, &ev);
    }
    double cpu0 = proc_cpu_s(server), t0 = now_s(), t_end = start + seconds;
    uint64_t n0 = P->n, started = 0;
    size_t cap = (size_t)nclients * (size_t)(seconds * RATE_HZ * 2 + 100), nd = 0;
    double *delay = malloc(cap * sizeof *delay);
    static char data[1 << 16];
    struct epoll_event evs[256];
    for (;;) {
        double t = now_s();
        int busy = 0;
        for (int i = 0; i < nclients; i++) {
            client *c = &cl[i];
            if (c->obj < NOBJ)
                busy = 1;
            else if (t >= c->due && t < t_end) {
                c->obj = 0;
                c->round_t0 = t;
                c->due += 1.0;
                started++;
                poll_request(c);
                busy = 1;
            }
        }
        if (t >= t_end && !busy)
            break;
        int n = epoll_wait(ep, evs, 256, 5);
        for (int k = 0; k < n; k++) {
            client *c = evs[k].data.ptr;
            ssize_t r = recv(c->fd, data, sizeof data, 0);
            if (r <= 0)
                die("a poll connection closed");
            c->bytes += (uint64_t)r;
            if (!poll_consume(c, data, (size_t)r))
                continue;
            if (++c->obj < NOBJ) {
                poll_request(c);
            } else {
                c->rounds++;
                /* An update is first seen by the round that starts after
                 * it: its delay is from its publication to this round's
                 * end. */
                double te = now_s();
                uint64_t np = __atomic_load_n(&P->n, __ATOMIC_ACQUIRE);
                for (uint64_t u = np; c->prev_t0 > 0 && u-- > 0;) {
                    if (P->t[u] <= c->prev_t0)
                        break;
                    if (P->t[u] <= c->round_t0 && nd < cap)
                        delay[nd++] = te - P->t[u];
                }
                c->prev_t0 = c->round_t0;
            }
        }
    }
    R->seconds = now_s() - t0;
    R->server_cpu = proc_cpu_s(server) - cpu0;
    R->updates = P->n - n0;
    R->bytes = R->rounds = 0;
    for (int i = 0; i < nclients; i++) {
        R->bytes += cl[i].bytes;
        R->rounds += cl[i].rounds;
        close(cl[i].fd);
    }
    R->started = started;
    R->p50 = pct(delay, nd, 0.50);
    R->p99 = pct(delay, nd, 0.99);
    free(delay);
    free(cl);
    close(ep);
}

static const char *loadavg(void)
{
    static char buf[64];
    FILE *f = fopen("/proc/loadavg", "r");
    buf[0] = '\0';
    if (f) {
        if (fgets(buf, sizeof buf, f))
            buf[strcspn(buf, " ") ? 14 : 0] = '\0';
        fclose(f);
    }
    return buf;
}

int main(int argc, char **argv)
{
    int nclients = 100;
    double seconds = 10;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            seconds = 3;
        else if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc)
            nclients = atoi(argv[++i]);
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: mapfile-web-bench [--quick] [--clients N] [--seconds S]\n");
            return 2;
        }
    }
    if (nclients < 1 || nclients > 1000 || !(seconds > 0 && seconds <= 600)) {
        fprintf(stderr, "mapfile-web-bench: --clients 1..1000, --seconds 0..600\n");
        return 2;
    }
    char exe[4096], mapf[4200], dir[] = "/tmp/mapfile-web-bench.XXXXXX", path[128];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    *strrchr(exe, '/') = '\0';
    snprintf(mapf, sizeof mapf, "%s/mapf", exe);
    if (access(mapf, X_OK) != 0)
        snprintf(mapf, sizeof mapf, "%s/mapfile", exe);
    if (!mkdtemp(dir))
        die("mkdtemp");
    snprintf(path, sizeof path, "%s/a.map", dir);

    pubs *P = mmap(NULL, sizeof *P, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (P == MAP_FAILED)
        die("mmap");
    setvbuf(stdout, NULL, _IOLBF, 0);
    alarm((unsigned)(seconds * 4 + 60)); /* a bound on the whole run */
    pid_t prod = fork();
    if (prod == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        produce(path, P);
    }
    for (int i = 0; P->n < 2; i++) {
        if (i > 1000 || waitpid(prod, NULL, WNOHANG) == prod)
            die("the producer did not start publishing");
        usleep(10000);
    }
    int port;
    pid_t server = start_server(mapf, path, &port);
    printf("mapfile-web-bench: workload A (%d hist1d x 4096 bins + %d hist2d 128x128, "
           "mf_update at %d Hz) in a producer process; %s serve in its own process; "
           "%d clients, %.0f s per mode; %ld CPUs shared by all of it; load average %s\n",
           N1D, N2D, RATE_HZ, mapf, nclients, seconds, sysconf(_SC_NPROCESSORS_ONLN), loadavg());

    result push = {0}, poll = {0};
    run_push(port, nclients, seconds, P, server, &push);
    run_poll(port, nclients, seconds, P, server, &poll);

    printf("\n%-44s %-26s %-26s\n", "figure", "push (SSE /events)", "poll 1 Hz (root.json x 50)");
    printf("%-44s %-26.1f %-26.1f\n", "window (s)", push.seconds, poll.seconds);
    printf("%-44s %-26" PRIu64 " %-26" PRIu64 "\n", "updates published in the window",
           push.updates, poll.updates);
    printf("%-44s %-26.3f %-26.3f\n", "server CPU (s)", push.server_cpu, poll.server_cpu);
    printf("%-44s %-26.1f %-26s\n", "server CPU per update (us)",
           push.updates ? push.server_cpu / (double)push.updates * 1e6 : NAN, "-");
    printf("%-44s %-26.1f %-26.1f\n", "server CPU per client per second (ms)",
           push.server_cpu / nclients / push.seconds * 1e3,
           poll.server_cpu / nclients / poll.seconds * 1e3);
    printf("%-44s %-26.0f %-26.0f\n", "bytes per client per second",
           (double)push.bytes / nclients / push.seconds,
           (double)poll.bytes / nclients / poll.seconds);
    printf("%-44s %-26.2f %-26.2f\n", "update -> client has it, p50 (ms)", push.p50 * 1e3,
           poll.p50 * 1e3);
    printf("%-44s %-26.2f %-26.2f\n", "update -> client has it, p99 (ms)", push.p99 * 1e3,
           poll.p99 * 1e3);
    printf("%-44s %-26" PRIu64 " %-26" PRIu64 "\n", "events received / poll rounds finished",
           push.rounds, poll.rounds);
    printf("%-44s %-26s %-26" PRIu64 "\n", "poll rounds started", "-", poll.started);
    printf("\nPush: each client is told of each update once, as it happens (the event\n"
           "names what changed; a page then fetches only what it shows). Poll: the\n"
           "server formats every object for every client every second, changed or\n"
           "not; rounds finished below 1 per client per second mean it could not keep\n"
           "up. Load average at the end: %s. Nothing is asserted.\n", loadavg());

    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    kill(prod, SIGTERM);
    waitpid(prod, NULL, 0);
    unlink(path);
    rmdir(dir);
    return 0;
}
