/*
 * sc_mirror.c - issue 17: map files kept in step on other hosts through
 * Redis (libmapfile_mirror), measured against Redis itself in the same run.
 *
 * M1. Update to visible on a mirror: the producer updates one 64 B record;
 *     a push, a pull and a consumer blocked in mf_wait on the mirror are
 *     separate processes. Interleaved with it, a PING round trip on the
 *     same server, a raw XADD -> blocked XREAD wake-up, and the mirror's
 *     chain of wake-ups by hand (futex -> XADD -> XREAD -> futex in four
 *     processes): what the machine charges before mapfile does anything.
 * M2. Set-ups A and B (the same histograms as in sc_setups.c) through one
 *     push and 1, 4 and 16 pulls: updates/s applied on each mirror, update
 *     to visible on the mirrors, bytes sent per update against payload
 *     bytes, Redis output per update, Redis memory.
 * The private redis-server is on a unix socket on this machine: it shows
 * what the mirror costs over the transport, not a network.
 */
#include "bench.h"

#include <mapfile/builtin.h>
#include <mapfile/mirror.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

#define MAX_PULLS 16
#define MAX_UPDATES 4096
#define MAX_LAT 4096

/* ------------------------------------------------------------------------ */
/* Shared between the bench and its children                                */
/* ------------------------------------------------------------------------ */

typedef struct pull_slot {
    uint32_t ready;       /* has applied update 0 */
    uint32_t last;        /* last update index it has shown */
    uint32_t nlat;
    uint64_t batches;     /* local batches committed */
    int64_t cpu_ns;       /* CPU time of the pull process at its end */
    double lat[MAX_LAT];  /* update -> committed on this mirror, ns */
} pull_slot;

typedef struct mir_shm {
    uint32_t stop;
    uint32_t want;        /* M1: sample the consumer waits for */
    uint32_t seen;        /* M1: last sample the consumer saw (futex word) */
    uint32_t raw_seen;    /* M1: raw XREAD samples seen (futex word) */
    uint32_t chain_go;    /* M1 chain by hand: sample to XADD (futex word) */
    uint32_t chain_read;  /* ... the sample its XREAD got (futex word) */
    uint32_t chain_seen;  /* ... the sample its last process saw (futex word) */
    int64_t t_seen, t_raw, t_chain;
    uint64_t push_batches, push_bytes, push_payload;
    int64_t push_cpu_ns;     /* CPU time of the push process at its end */
    uint32_t lost;           /* connections the push and pulls lost (a reply
                                slower than io_timeout_ms) and retried */
    int64_t t0[MAX_UPDATES]; /* M2: producer clock of update i */
    pull_slot pulls[MAX_PULLS];
} mir_shm;

static mir_shm *S;
static mf_mirror *child_mirror; /* the mirror of this child, for SIGTERM */

static void wait_word(uint32_t *w, uint32_t target, int64_t timeout_ns, const char *what)
{
    int64_t end = now_ns() + timeout_ns;
    uint32_t v;
    while ((v = LOAD(w)) < target) {
        if (now_ns() > end)
            die("%s: nothing after %.0f s", what, (double)timeout_ns / 1e9);
        struct timespec ts = {0, 50 * 1000000};
        syscall(SYS_futex, w, FUTEX_WAIT, v, &ts, NULL, 0);
    }
}

static void futex_wake_word(uint32_t *w) { syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0); }

static void quiet_log(void *ud, int level, const char *msg)
{
    (void)ud;
    if (level >= MF_MIRROR_LOG_WARN)
        fprintf(stderr, "\nmirror: %s\n", msg);
}

static mf_mirror_options mirror_opts(void)
{
    mf_mirror_options o = MF_MIRROR_OPTIONS_INIT;
    o.ns = "bench";
    o.log = quiet_log;
    o.block_ms = 200;
    o.max_size = B.max_size;
    return o;
}

static void endpoint(char *buf, size_t cap) { strfmt(buf, cap, "unix:%s", B.redis_sock); }

static redisContext *redis_connect(void)
{
    redisContext *c = redisConnectUnix(B.redis_sock);
    if (!c || c->err)
        die("cannot connect to %s", B.redis_sock);
    return c;
}

static void redis_do(redisContext *c, const char *cmd)
{
    redisReply *r = redisCommand(c, cmd);
    if (!r || r->type == REDIS_REPLY_ERROR)
        die("redis %s: %s", cmd, r ? r->str : c->errstr);
    freeReplyObject(r);
}

static int64_t redis_info(redisContext *c, const char *field)
{
    redisReply *r = redisCommand(c, "INFO");
    int64_t v = -1;
    char pat[64];
    strfmt(pat, sizeof pat, "\n%s:", field);
    if (r && r->type == REDIS_REPLY_STRING) {
        const char *p = strstr(r->str, pat);
        if (p)
            v = strtoll(p + strlen(pat), NULL, 10);
    }
    if (r)
        freeReplyObject(r);
    return v;
}

/* ------------------------------------------------------------------------ */
/* Children: push, pull, consumer, raw reader                               */
/* ------------------------------------------------------------------------ */

static void on_term(int sig)
{
    (void)sig;
    STORE(&S->stop, 1u);
    if (child_mirror)
        mf_mirror_stop(child_mirror);
}

static void child_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
}

/* A lost connection (a reply slower than the timeout on a loaded machine)
 * is retried at once, as mf_mirror_run() would after its backoff, and
 * counted: a result, not a failure of the bench. */
static bool lost_connection(int rc)
{
    if (rc != MF_MIRROR_EREDIS && rc != MF_MIRROR_ECONNECT)
        return false;
    __atomic_add_fetch(&S->lost, 1u, __ATOMIC_RELAXED);
    return true;
}

/* The push of file @p arg (a name in the bench directory). */
static void push_child(void *arg)
{
    child_signals();
    mf_file *src = open_reader(arg);
    char ep[400];
    endpoint(ep, sizeof ep);
    mf_mirror_options o = mirror_opts();
    mfok(mf_mirror_push_create(&child_mirror, src, ep, &o), "mf_mirror_push_create");
    uint64_t seen = 0;
    while (!LOAD(&S->stop)) {
        int rc = mf_mirror_push(child_mirror);
        if (rc && rc != MF_EBUSY && !lost_connection(rc))
            die("mf_mirror_push: %s", mf_mirror_errdetail());
        mf_mirror_stats st;
        mf_mirror_stats_get(child_mirror, &st);
        STORE(&S->push_batches, st.batches);
        STORE(&S->push_bytes, st.bytes_sent);
        STORE(&S->push_payload, st.payload_bytes);
        int w = mf_wait(src, &seen, 100);
        if (w && w != MF_ETIMEDOUT)
            mfok(w, "mf_wait (push)");
    }
    STORE(&S->push_cpu_ns, cpu_ns());
    mf_mirror_close(child_mirror);
    mf_close(src);
}

typedef struct pull_arg {
    int idx;
    char file[64];
    bool clock; /* M2: note when each update shows (M1's consumer does that) */
} pull_arg;

/* The update index the record "clock" of a mirror holds, or -1. */
static long clock_of(mf_file *mf)
{
    uint64_t v;
    mf_record_info info;
    if (mf_get_raw(mf, "clock", &v, sizeof v, &info) != 0 || info.size != sizeof v)
        return -1;
    return (long)v;
}

/* A pull that notes when each update became visible on its mirror. */
static void pull_child(void *arg)
{
    pull_arg *a = arg;
    pull_slot *slot = &S->pulls[a->idx];
    child_signals();
    char ep[400];
    endpoint(ep, sizeof ep);
    mf_mirror_options o = mirror_opts();
    mfok(mf_mirror_pull_create(&child_mirror, ep, bpath(a->file), &o), "mf_mirror_pull_create");
    mf_file *mir = NULL;
    while (!LOAD(&S->stop)) {
        unsigned applied = 0;
        int rc = mf_mirror_pull(child_mirror, 100, &applied);
        int64_t t = now_ns();
        if (rc && rc != MF_MIRROR_ENOSOURCE && rc != MF_EBUSY && !lost_connection(rc))
            die("mf_mirror_pull: %s", mf_mirror_errdetail());
        if (!applied)
            continue;
        STORE(&slot->batches, slot->batches + applied);
        STORE(&slot->ready, 1u);
        if (!a->clock)
            continue; /* nothing to read beside M1's consumer, which needs the CPU */
        if (!mir)
            mir = open_reader(a->file);
        long idx = clock_of(mir);
        if (idx < 0 || idx >= MAX_UPDATES)
            continue;
        if (idx > 0 && (uint32_t)idx > slot->last && slot->nlat < MAX_LAT && LOAD(&S->t0[idx]))
            slot->lat[slot->nlat++] = (double)(t - LOAD(&S->t0[idx]));
        STORE(&slot->last, (uint32_t)idx);
    }
    STORE(&slot->cpu_ns, cpu_ns());
    mf_close(mir);
    mf_mirror_close(child_mirror);
}

/* M1: blocked in mf_wait on the mirror; notes when the wanted sample is
 * there. */
static void consumer_child(void *arg)
{
    (void)arg;
    child_signals();
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.wait_ms = 30000;
    mf_file *mf;
    mfok(mf_open(&mf, bpath("mlat-mirror.map"), MF_READ, &o), "open the mirror");
    uint64_t seen = 0;
    while (!LOAD(&S->stop)) {
        int rc = mf_wait(mf, &seen, 100);
        if (rc == MF_ETIMEDOUT)
            continue;
        mfok(rc, "mf_wait (mirror)");
        int64_t t = now_ns();
        uint32_t v[16];
        mf_record_info info;
        if (mf_get_raw(mf, "lat", v, sizeof v, &info) != 0)
            continue;
        if (v[0] == LOAD(&S->want) && v[0] > LOAD(&S->seen)) {
            STORE(&S->t_seen, t);
            STORE(&S->seen, v[0]);
            futex_wake_word(&S->seen);
        }
    }
    mf_close(mf);
}

/* One XREAD BLOCK of @p stream after @p last (moved on): how many entries
 * came, the field value "i" of the last one, and when the reply arrived. */
static uint32_t xread_next(redisContext *c, const char *stream, char last[64],
                           uint32_t *value, int64_t *t)
{
    redisReply *r = redisCommand(c, "XREAD BLOCK 200 STREAMS %s %s", stream, last);
    *t = now_ns();
    if (!r)
        die("XREAD %s: %s", stream, c->errstr);
    uint32_t n = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
        redisReply *entries = r->element[0]->element[1];
        redisReply *e = entries->element[entries->elements - 1];
        strfmt(last, 64, "%s", e->element[0]->str);
        *value = (uint32_t)strtoul(e->element[1]->element[1]->str, NULL, 10);
        n = (uint32_t)entries->elements;
    }
    freeReplyObject(r);
    return n;
}

/* M1 peers blocked in XREAD on a plain stream: "bench:raw" notes when each
 * XADD arrived; "bench:chain" (the chain by hand below) passes the sample
 * on to the chain's last process. */
static void xread_child(void *arg)
{
    const char *stream = arg;
    bool chain = strcmp(stream, "bench:chain") == 0;
    child_signals();
    redisContext *c = redis_connect();
    char last[64] = "$";
    while (!LOAD(&S->stop)) {
        uint32_t v;
        int64_t t;
        uint32_t n = xread_next(c, stream, last, &v, &t);
        if (n && chain) {
            STORE(&S->chain_read, v);
            futex_wake_word(&S->chain_read);
        } else if (n) {
            STORE(&S->t_raw, t);
            STORE(&S->raw_seen, LOAD(&S->raw_seen) + n);
            futex_wake_word(&S->raw_seen);
        }
    }
    redisFree(c);
}

/* M1 chain by hand, the same four hops as a mirror's without mapfile:
 * a futex wakes a process that XADDs; a reader blocked in XREAD
 * (xread_child) gets it and wakes a last process with a futex. What the
 * machine's wake-ups and Redis cost before the mirror does any work of its
 * own. */

/* The value of @p w once it differs from @p seen; @p seen after a 100 ms
 * sleep without a change (the caller looks at S->stop). */
static uint32_t next_word(uint32_t *w, uint32_t seen)
{
    uint32_t v = LOAD(w);
    if (v == seen) {
        struct timespec ts = {0, 100 * 1000000};
        syscall(SYS_futex, w, FUTEX_WAIT, seen, &ts, NULL, 0);
        v = LOAD(w);
    }
    return v;
}

static void chain_adder(void *arg)
{
    (void)arg;
    child_signals();
    redisContext *c = redis_connect();
    for (uint32_t done = 0; !LOAD(&S->stop);) {
        uint32_t go = next_word(&S->chain_go, done);
        if (go == done)
            continue;
        redisReply *r = redisCommand(c, "XADD bench:chain MAXLEN ~ 100 * i %u", go);
        if (!r || r->type != REDIS_REPLY_STRING)
            die("chain XADD: %s", c->errstr);
        freeReplyObject(r);
        done = go;
    }
    redisFree(c);
}

static void chain_last(void *arg)
{
    (void)arg;
    child_signals();
    for (uint32_t seen = 0; !LOAD(&S->stop);) {
        uint32_t v = next_word(&S->chain_read, seen);
        if (v == seen)
            continue;
        STORE(&S->t_chain, now_ns());
        STORE(&S->chain_seen, v);
        futex_wake_word(&S->chain_seen);
        seen = v;
    }
}

static void stop_child(pid_t pid, const char *what)
{
    kill(pid, SIGTERM);
    reap(pid, what);
}

/* ------------------------------------------------------------------------ */
/* M1. Update to visible on a mirror                                        */
/* ------------------------------------------------------------------------ */

typedef struct m1_samples {
    double *mirror, *ping, *raw, *chain;
    unsigned n;
} m1_samples;

static void m1_sample(mf_file *src, redisContext *c, unsigned i, m1_samples *s)
{
    uint32_t payload[16] = {i};
    STORE(&S->want, i);
    sleep_ns(2000000); /* let push, pull and consumer block again */
    int64_t t0 = now_ns();
    mfok(mf_put_raw(src, "lat", MF_BLOB_CLASS, 1, payload, sizeof payload), "mf_put_raw");
    wait_word(&S->seen, i, 10 * 1000000000ll, "the mirror's consumer");
    s->mirror[s->n] = (double)(LOAD(&S->t_seen) - t0);

    t0 = now_ns();
    redisReply *r = redisCommand(c, "PING");
    s->ping[s->n] = (double)(now_ns() - t0);
    if (!r || r->type != REDIS_REPLY_STATUS)
        die("PING: %s", c->errstr);
    freeReplyObject(r);

    uint32_t before = LOAD(&S->raw_seen);
    sleep_ns(1000000);
    t0 = now_ns();
    r = redisCommand(c, "XADD bench:raw MAXLEN ~ 100 * i %u", i);
    if (!r || r->type != REDIS_REPLY_STRING)
        die("XADD: %s", c->errstr);
    freeReplyObject(r);
    wait_word(&S->raw_seen, before + 1, 10 * 1000000000ll, "the raw XREAD reader");
    s->raw[s->n] = (double)(LOAD(&S->t_raw) - t0);

    sleep_ns(2000000); /* as before the mirror's sample */
    t0 = now_ns();
    STORE(&S->chain_go, i);
    futex_wake_word(&S->chain_go);
    wait_word(&S->chain_seen, i, 10 * 1000000000ll, "the chain by hand");
    s->chain[s->n] = (double)(LOAD(&S->t_chain) - t0);
    s->n++;
}

static void m1_add(const char *fig, double v, unsigned n, const double ref[3],
                   const char *goal, bool met)
{
    static const char *const peers[3] = {
        "Redis PING round trip", "XADD -> blocked XREAD wakes",
        "the same 4 hops by hand (futex, XADD, XREAD, futex)"};
    for (int i = 0; i < 3; i++) {
        result r = result_make("M1 mirror wake", fig, U_NS, v, (int)n);
        result_ref_single(&r, peers[i], ref[i]);
        if (i == 0 && goal)
            result_goal(&r, goal, met);
        add_result(&r);
    }
}

static void m1_results(m1_samples *s)
{
    double *sets[3] = {s->ping, s->raw, s->chain}, p50[3], p99[3];
    for (int i = 0; i < 3; i++) {
        p50[i] = stat_percentile(sets[i], s->n, 50);
        p99[i] = stat_percentile(sets[i], s->n, 99);
    }
    double m50 = stat_percentile(s->mirror, s->n, 50), m99 = stat_percentile(s->mirror, s->n, 99);
    m1_add("update -> mirror's mf_wait wakes, p50", m50, s->n, p50, "p50 <= 3x Redis RTT",
           m50 <= 3 * p50[0]);
    m1_add("update -> mirror's mf_wait wakes, p99", m99, s->n, p99, NULL, false);
}

/* CPU time per update of the push and the pull processes: what the mirror
 * costs whatever else the machine runs. */
static void m1_cpu(unsigned n)
{
    result r = result_make("M1 mirror wake", "push process CPU per update", U_NS,
                           (double)LOAD(&S->push_cpu_ns) / n, (int)n);
    strfmt(r.note, sizeof r.note, "whole process over %u updates, start and idle "
           "checks included", n);
    add_result(&r);
    r = result_make("M1 mirror wake", "pull process CPU per update", U_NS,
                    (double)LOAD(&S->pulls[0].cpu_ns) / n, (int)n);
    add_result(&r);
}

void sc_mirror_wake(void)
{
    progress_scenario("M1 mirror wake");
    if (!B.redis_sock[0]) {
        printf("\nM1. skipped: no Redis (%s)\n", B.redis_note);
        return;
    }
    S = shm_alloc(sizeof *S);
    memset(S, 0, sizeof *S);
    redisContext *c = redis_connect();
    redis_do(c, "FLUSHALL");
    mf_file *src = open_writer("mlat.map", 0);
    uint32_t zero[16] = {0};
    mfok(mf_put_raw(src, "lat", MF_BLOB_CLASS, 1, zero, sizeof zero), "mf_put_raw");
    pid_t push = spawn(push_child, (void *)"mlat.map");
    pull_arg pa = {0, "mlat-mirror.map", false};
    pid_t pull = spawn(pull_child, &pa);
    pid_t cons = spawn(consumer_child, NULL);
    pid_t raw = spawn(xread_child, (void *)"bench:raw");
    pid_t chain[3] = {spawn(chain_adder, NULL), spawn(xread_child, (void *)"bench:chain"),
                      spawn(chain_last, NULL)};
    wait_word(&S->pulls[0].ready, 1, 30 * 1000000000ll, "the first sync");
    sleep_ns(200000000); /* the consumer and the raw reader are blocked */

    unsigned n = B.quick ? 200 : 2000;
    m1_samples s = {calloc(n, sizeof(double)), calloc(n, sizeof(double)),
                    calloc(n, sizeof(double)), calloc(n, sizeof(double)), 0};
    if (!s.mirror || !s.ping || !s.raw || !s.chain)
        die("out of memory");
    for (unsigned i = 1; i <= n; i++) {
        if (i % 50 == 0)
            progress_step("sample %u of %u", i, n);
        m1_sample(src, c, i, &s);
    }
    STORE(&S->stop, 1u);
    stop_child(cons, "mirror consumer");
    stop_child(raw, "raw XREAD reader");
    for (int i = 0; i < 3; i++)
        stop_child(chain[i], "chain by hand");
    stop_child(pull, "pull");
    stop_child(push, "push");
    m1_results(&s);
    m1_cpu(n);
    char how[400];
    strfmt(how, sizeof how, "one 64 B record updated on the source; push, pull and a "
           "consumer blocked in mf_wait on the mirror are separate processes; each "
           "sample interleaved with a PING, an XADD to a reader blocked in XREAD, and "
           "the mirror's four hops done by hand in four processes, on the same "
           "redis-server (unix socket)");
    report_section("M1. Update to visible on a mirror (through Redis)", how);
    free(s.mirror);
    free(s.ping);
    free(s.raw);
    free(s.chain);
    mfok(mf_close(src), "mf_close");
    redisFree(c);
    shm_free(S, sizeof *S);
    S = NULL;
    rm_tree(bpath("mlat.map"));
    rm_tree(bpath("mlat-mirror.map"));
}

/* ------------------------------------------------------------------------ */
/* M2. A and B through 1, 4 and 16 pulls                                    */
/* ------------------------------------------------------------------------ */

typedef struct setup {
    const char *name, *scn;
    size_t nh1, nh2;
    int bins1, nx, fills;
    int64_t period, duration;
} setup;

typedef struct run_out {
    double updates_per_s;      /* source updates per second */
    double applied_per_s;      /* local batches per second, mean over mirrors */
    double lat50, lat99;       /* update -> visible, over every mirror */
    double sent_per_update;    /* bytes the push sent per source update */
    double payload_per_update; /* payload bytes of the changed records */
    double out_per_update;     /* bytes Redis sent per source update */
    double used_memory;        /* Redis used_memory at the end */
    double state_bytes;        /* payload bytes of every record at the end */
    double catch_up;           /* s after the last update until all mirrors show it */
    bool caught_up;            /* within 300 s */
    unsigned updates, nlat;
    unsigned lost;             /* connections lost and retried */
} run_out;

/* Wait until every pull's counter reaches @p want; false after @p s s. */
static bool wait_pulls(int n, uint32_t (*get)(int), uint32_t want, int s)
{
    int64_t end = now_ns() + (int64_t)s * 1000000000;
    for (int i = 0; i < n; i++)
        while (get(i) < want) {
            if (now_ns() > end)
                return false;
            sleep_ns(2000000);
        }
    return true;
}

static uint32_t pull_ready(int i) { return LOAD(&S->pulls[i].ready); }
static uint32_t pull_last(int i) { return LOAD(&S->pulls[i].last); }

static void produce_updates(mf_file *mf, objset *set, uint64_t *clock, const setup *su,
                            run_out *o)
{
    uint64_t seed = 77;
    int64_t start = now_ns(), next = start;
    unsigned i = 0;
    while (now_ns() - start < su->duration && i + 1 < MAX_UPDATES) {
        objset_fill(set, su->fills, &seed);
        *clock = ++i;
        STORE(&S->t0[i], now_ns());
        mfok(mf_update(mf, NULL), "mf_update(NULL)");
        progress_step("%s: update %u", su->name, i);
        next += su->period;
        sleep_until_ns(next);
    }
    o->updates = i;
    o->updates_per_s = (double)i * 1e9 / (double)(now_ns() - start);
}

static void collect(int npulls, run_out *o, double seconds)
{
    size_t total = 0;
    for (int p = 0; p < npulls; p++)
        total += S->pulls[p].nlat;
    double *all = malloc((total ? total : 1) * sizeof *all), applied = 0;
    if (!all)
        die("out of memory");
    size_t k = 0;
    for (int p = 0; p < npulls; p++) {
        memcpy(all + k, S->pulls[p].lat, S->pulls[p].nlat * sizeof *all);
        k += S->pulls[p].nlat;
        applied += (double)LOAD(&S->pulls[p].batches);
    }
    o->nlat = (unsigned)total;
    o->lat50 = stat_percentile(all, total, 50);
    o->lat99 = stat_percentile(all, total, 99);
    o->applied_per_s = applied / npulls / seconds;
    free(all);
}

static void one_run(const setup *su, int npulls, run_out *o)
{
    memset(o, 0, sizeof *o);
    memset(S, 0, sizeof *S);
    redisContext *c = redis_connect();
    redis_do(c, "FLUSHALL");
    objset set;
    objset_init(&set, su->nh1, su->bins1, su->nh2, su->nx, su->name);
    uint64_t seed = 5, clock = 0;
    objset_fill(&set, su->fills * 10, &seed);
    mf_file *mf = open_writer("msetup.map", 16u << 20);
    objset_add(&set, mf);
    mf_blob cb = {sizeof clock, (unsigned char *)&clock};
    mfok(mf_add(mf, "clock", MF_BLOB_CLASS, &cb), "mf_add clock");
    mfok(mf_update(mf, NULL), "mf_update(NULL)");
    pid_t push = spawn(push_child, (void *)"msetup.map");
    pid_t pulls[MAX_PULLS];
    pull_arg pa[MAX_PULLS];
    for (int p = 0; p < npulls; p++) {
        pa[p].idx = p;
        pa[p].clock = true;
        strfmt(pa[p].file, sizeof pa[p].file, "msetup-%d.map", p);
        pulls[p] = spawn(pull_child, &pa[p]);
    }
    if (!wait_pulls(npulls, pull_ready, 1, 600))
        die("%s: the %d pulls did not all sync within 600 s", su->name, npulls);
    uint64_t b0 = LOAD(&S->push_bytes), p0 = LOAD(&S->push_payload);
    int64_t out0 = redis_info(c, "total_net_output_bytes");
    int64_t t0 = now_ns();
    produce_updates(mf, &set, &clock, su, o);
    int64_t t_last = now_ns();
    /* A pull that cannot keep up is a result, not a failure. */
    o->caught_up = wait_pulls(npulls, pull_last, o->updates, 300);
    o->catch_up = (double)(now_ns() - t_last) / 1e9;
    double seconds = (double)(now_ns() - t0) / 1e9;
    o->sent_per_update = (double)(LOAD(&S->push_bytes) - b0) / o->updates;
    o->payload_per_update = (double)(LOAD(&S->push_payload) - p0) / o->updates;
    o->out_per_update = (double)(redis_info(c, "total_net_output_bytes") - out0) / o->updates;
    o->used_memory = (double)redis_info(c, "used_memory");
    mf_iter it;
    mf_record_info info;
    mf_iter_init(&it, mf, NULL);
    while (mf_iter_next(&it, &info) == 1)
        o->state_bytes += (double)info.size;
    collect(npulls, o, seconds);
    o->lost = LOAD(&S->lost);
    STORE(&S->stop, 1u);
    for (int p = 0; p < npulls; p++)
        stop_child(pulls[p], "pull");
    stop_child(push, "push");
    mfok(mf_close(mf), "mf_close");
    objset_free(&set);
    redisFree(c);
    rm_tree(bpath("msetup.map"));
    for (int p = 0; p < npulls; p++)
        rm_tree(bpath(pa[p].file));
}

static void report_run(const setup *su, int npulls, const run_out *o, const run_out *one)
{
    char fig[80];
    strfmt(fig, sizeof fig, "%d pull%s: updates/s applied per mirror", npulls,
           npulls == 1 ? "" : "s");
    result r = result_make(su->scn, fig, U_RATE, o->applied_per_s, (int)o->updates);
    result_ref_single(&r, "source updates/s", o->updates_per_s);
    if (o->caught_up)
        strfmt(r.note, sizeof r.note, "all mirrors equal the source %.2g s after the last "
               "update", o->catch_up);
    else
        strfmt(r.note, sizeof r.note, "the mirrors had not all caught up %.3g s after the "
               "last update", o->catch_up);
    if (o->lost) {
        size_t n = strlen(r.note);
        strfmt(r.note + n, sizeof r.note - n, "; %u lost connection%s "
               "retried", o->lost, o->lost == 1 ? "" : "s");
    }
    add_result(&r);
    strfmt(fig, sizeof fig, "%d pull%s: update -> visible, p50", npulls,
           npulls == 1 ? "" : "s");
    r = result_make(su->scn, fig, U_NS, o->lat50, (int)o->nlat);
    if (one != o)
        result_ref_single(&r, "1 pull", one->lat50);
    add_result(&r);
    strfmt(fig, sizeof fig, "%d pull%s: update -> visible, p99", npulls,
           npulls == 1 ? "" : "s");
    r = result_make(su->scn, fig, U_NS, o->lat99, (int)o->nlat);
    if (one != o)
        result_ref_single(&r, "1 pull", one->lat99);
    add_result(&r);
    strfmt(fig, sizeof fig, "%d pull%s: bytes sent by the push per update", npulls,
           npulls == 1 ? "" : "s");
    r = result_make(su->scn, fig, U_BYTES, o->sent_per_update, (int)o->updates);
    result_ref_single(&r, "payload bytes changed", o->payload_per_update);
    add_result(&r);
    strfmt(fig, sizeof fig, "%d pull%s: bytes Redis sent per update", npulls,
           npulls == 1 ? "" : "s");
    r = result_make(su->scn, fig, U_BYTES, o->out_per_update, (int)o->updates);
    result_ref_single(&r, "payload bytes x pulls", o->payload_per_update * npulls);
    add_result(&r);
    strfmt(fig, sizeof fig, "%d pull%s: Redis used_memory", npulls, npulls == 1 ? "" : "s");
    r = result_make(su->scn, fig, U_BYTES, o->used_memory, 1);
    result_ref_single(&r, "payload of every record", o->state_bytes);
    add_result(&r);
}

static void run_setup(const setup *su)
{
    static const int counts[] = {1, 4, 16};
    run_out out[3];
    for (int k = 0; k < 3; k++) {
        progress_step("%s through %d pulls", su->name, counts[k]);
        one_run(su, counts[k], &out[k]);
        report_run(su, counts[k], &out[k], &out[0]);
    }
    char how[300];
    strfmt(how, sizeof how, "%zu hist1d x %d bins + %zu hist2d %dx%d, mf_update(NULL) "
           "every %.3g s for %.3g s; one push, N pulls (each its own process and "
           "mirror file); update -> visible: producer's update to the pull's commit",
           su->nh1, su->bins1, su->nh2, su->nx, su->nx, (double)su->period / 1e9,
           (double)su->duration / 1e9);
    char title[80];
    strfmt(title, sizeof title, "%s through one push and 1, 4, 16 pulls", su->scn);
    report_section(title, how);
}

void sc_mirror_setups(void)
{
    progress_scenario("M2 mirror set-ups");
    if (!B.redis_sock[0]) {
        printf("\nM2. skipped: no Redis (%s)\n", B.redis_note);
        return;
    }
    S = shm_alloc(sizeof *S);
    setup a = {"mA", "M2 A test beam", 40, 10, 4096, 128, 200, 100000000,
               B.quick ? 1500000000 : 5000000000};
    setup b = {"mB", "M2 B DQM", B.quick ? 300 : 3000, B.quick ? 5 : 50, 2048, 160, 20,
               B.quick ? 250000000 : 1000000000, B.quick ? 2000000000 : 10000000000};
    run_setup(&a);
    run_setup(&b);
    shm_free(S, sizeof *S);
    S = NULL;
}
