/*
 * bench.h - what the parts of mapfile-bench share: configuration, timing,
 * statistics, child processes, results and the comparison stores.
 *
 * Every figure is measured in this run: nothing is remembered between runs
 * and no number is ever made up. A failed API call ends the run with exit 1.
 */
#ifndef MF_BENCH_H
#define MF_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <mapfile/mapfile.h>

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */
/* ------------------------------------------------------------------------ */

typedef struct bench_cfg {
    bool quick;
    int repeats;          /* repeats of each loop figure (median reported) */
    double target_s;      /* timed length of one repeat of a loop figure */
    const char *only;     /* run only this scenario (NULL: all) */
    const char *json_path;
    char dir[256];        /* private mkdtemp directory, removed at exit */
    char redis_sock[300]; /* unix socket of the Redis peer, "" if none */
    char redis_note[128]; /* why there is no Redis peer, or its version */
    mf_registry *reg;     /* in-process hist codecs + built-ins */
    uint64_t max_size;    /* mf_open_options.max_size for every map file */
    char load_start[64];  /* /proc/loadavg when the run started and ended: */
    char load_end[64];    /* other processes on the machine skew figures */
} bench_cfg;

extern bench_cfg B;

/* ------------------------------------------------------------------------ */
/* Utilities (util.c)                                                       */
/* ------------------------------------------------------------------------ */

int64_t now_ns(void);
/* CPU time of the calling process (CLOCK_PROCESS_CPUTIME_ID). */
int64_t cpu_ns(void);
void sleep_ns(int64_t ns);
/* Sleep until an absolute CLOCK_MONOTONIC time. */
void sleep_until_ns(int64_t t);

/* Report a failure and end the run (exit 1; _exit(1) in a child). */
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* die() with mf_strerror and mf_errdetail when rc is an error. */
void mfok(int rc, const char *what);

/* snprintf where cutting a long string short is fine (a message). */
void strfmt(char *dst, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The first three fields of /proc/loadavg ("" if unreadable). */
void read_loadavg(char *dst, size_t cap);
/* Path of a file in the private directory (static rotating buffers). */
const char *bpath(const char *name);
/* Remove a file or a directory tree. */
void rm_tree(const char *path);
/* Open map files with the benchmark's options. */
mf_file *open_writer(const char *name, uint64_t initial_size);
mf_file *open_reader(const char *name);
/* The same with mf_open_options.flags (e.g. MF_OPEN_NO_VERIFY). */
mf_file *open_reader_flags(const char *name, unsigned flags);

/* Shared anonymous memory, inherited by children. */
void *shm_alloc(size_t size);
void shm_free(void *p, size_t size);

/* Futex on a shared (not private) word. */
void futex_wait_u32(uint32_t *word, uint32_t expect);
void futex_wake_u32(uint32_t *word);

/* xorshift64* */
static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}
static inline double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}
void fill_random(void *buf, size_t n, uint64_t seed);

/* Statistics. These sort v in place. */
double stat_median(double *v, size_t n);
double stat_percentile(double *v, size_t n, double p);

/* One operation of a loop figure: 0, or an error that ends the run. */
typedef int (*bench_op)(void *ctx);
/* Run op in growing batches for about `seconds`; ops per second. */
double measure_rate(bench_op op, void *ctx, double seconds, const char *what);
/* The same, also giving ops per second of the thread's own CPU time, which
 * does not count the time other processes took the CPU away. */
double measure_rate_cpu(bench_op op, void *ctx, double seconds, const char *what,
                        double *cpu_rate);

/* Share of a CPU the measuring thread got during the loops since the last
 * call (-1 if none ran): below 1, other processes took the CPU from it
 * (or it waited for a peer's server or the kernel). Resets the count. */
double loop_cpu_share(void);
/* Leave loops that wait for another process (Redis) out of the share. */
void loop_cpu_count(bool on);

/* Progress on stderr: a line per scenario, and \r steps on a tty. */
void progress_scenario(const char *name);
void progress_step(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void progress_done(void);

/* ------------------------------------------------------------------------ */
/* Child processes (util.c)                                                 */
/* ------------------------------------------------------------------------ */

/* Fork a child that dies with the parent (PR_SET_PDEATHSIG) and runs
 * fn(arg), then _exit(0). The parent kills and reaps it on die(). */
pid_t spawn(void (*fn)(void *), void *arg);
/* Wait for a child; a child that failed ends the run. */
void reap(pid_t pid, const char *what);
/* Stop the extra processes (children and Redis) and remove the files. */
void cleanup_all(void);

/* A team of children started together: each reports ready on one pipe,
 * then blocks until the parent writes its go byte on the other. */
typedef struct team {
    int ready[2];
    int go[2];
    pid_t pids[16];
    int n;
} team;
void team_init(team *t);
void team_spawn(team *t, void (*fn)(void *), void *arg);
void team_wait_ready(team *t);
void team_go(team *t);
void team_join(team *t, const char *what);
/* Child side. */
void team_child_ready(team *t);
void team_child_wait_go(team *t);

/* ------------------------------------------------------------------------ */
/* Results (report.c)                                                       */
/* ------------------------------------------------------------------------ */

typedef enum unit {
    U_RATE,   /* operations per second */
    U_NS,     /* nanoseconds (latency or time per operation) */
    U_BYTES,  /* bytes */
    U_FRAC,   /* a fraction 0..1 */
    U_COUNT,  /* a plain number */
    U_BPS     /* bytes per second */
} unit;

typedef enum ratio_kind {
    RK_NONE,
    RK_FASTER, /* mapfile speed / peer speed: >1 means mapfile is faster */
    RK_LIMIT,  /* mapfile speed / limit speed: share of the limit reached */
    RK_BASE,   /* figure / base figure: >1 means bigger (slower) than base */
    RK_DIFF,   /* figure - peer, in the figure's unit */
    RK_SMALLER /* peer size / mapfile size: >1 means mapfile is smaller */
} ratio_kind;

typedef struct result {
    char scenario[48];
    char figure[80];
    unit u;
    double value;          /* the mapfile figure (NaN: not measured) */
    double value2;         /* secondary figure (GB/s, p99...) or NaN */
    unit u2;
    char peer[64];         /* "" if none */
    double peer_value;
    double peer_value2;
    ratio_kind rk;
    double ratio;
    char goal[64];         /* "" if the figure has no goal */
    int goal_met;          /* -1 no goal, 0 missed, 1 met */
    int repeats;           /* repeats (or samples) behind the figure */
    char note[96];
} result;

/* Start a result for a figure; fill the rest and call add_result. */
result result_make(const char *scenario, const char *figure, unit u,
                   double value, int repeats);
/* Attach a peer; computes the ratio of the given kind. */
void result_peer(result *r, const char *peer, double peer_value,
                 ratio_kind rk);
void result_goal(result *r, const char *goal, bool met);
void add_result(const result *r);
/* Print the table of one scenario (results added since the last call). */
void report_section(const char *title, const char *how);
void report_legend(void);
int report_json(const char *path, double total_s);

/* ------------------------------------------------------------------------ */
/* Comparison stores (peers.c)                                              */
/* ------------------------------------------------------------------------ */

typedef struct store store;
struct store {
    const char *name;
    /* Store one value under key (its own transaction / command / file). */
    int (*put)(store *s, const char *key, const void *data, size_t n);
    /* Many values at once, the fastest way the store offers (set-up only). */
    int (*put_many)(store *s, const char *prefix, size_t count,
                    const void *data, size_t n);
    /* Fetch: *data stays valid until get_done. *private_copy tells whether
     * the bytes are already the caller's own copy (read(), a Redis reply)
     * or still inside the store (an LMDB map). */
    int (*get)(store *s, const char *key, const void **data, size_t *n,
               bool *private_copy);
    void (*get_done)(store *s);
    /* Bytes the store uses for its data (file size, server memory...). */
    int64_t (*footprint)(store *s);
    void (*close)(store *s);
    char err[160];
};

store *lmdb_open_store(const char *dir, uint64_t map_size);
store *redis_open_store(const char *sock); /* NULL if unreachable */
store *file_open_store(const char *dir);
/* Run a private redis-server on a unix socket unless one is given by
 * MAPFILE_BENCH_REDIS_SOCKET; fills B.redis_sock and B.redis_note. */
void redis_start(void);
void redis_stop(void);
/* Flush the Redis peer's keys between scenarios. */
void redis_flush(void);

/* ------------------------------------------------------------------------ */
/* Encoding helpers for the peers (peers.c)                                 */
/* ------------------------------------------------------------------------ */

/* A reusable encode buffer, so a peer pays for stream_out like mapfile. */
typedef struct encbuf {
    unsigned char *buf;
    size_t cap;
    size_t len;
} encbuf;
int enc_object(encbuf *e, const mf_class *cls, const void *obj);
void enc_free(encbuf *e);
/* Decode with a codec and destroy the object: what a consumer pays. */
int dec_object(const mf_class *cls, const void *data, size_t n);

/* ------------------------------------------------------------------------ */
/* The histograms of set-ups A and B (objset.c)                             */
/* ------------------------------------------------------------------------ */

typedef struct objset {
    size_t n;
    char (*names)[32];
    const mf_class **cls;
    void **obj;
} objset;

/* nh1 hist1d of bins1 bins and nh2 hist2d of nx x nx, named PREFIX/h1/N
 * and PREFIX/h2/N. */
void objset_init(objset *s, size_t nh1, int bins1, size_t nh2, int nx,
                 const char *prefix);
/* Roughly gaussian fills, as a detector would make. */
void objset_fill(objset *s, int fills, uint64_t *seed);
/* mf_add every object. */
void objset_add(objset *s, mf_file *mf);
void objset_free(objset *s);

/* ------------------------------------------------------------------------ */
/* Scenarios                                                                */
/* ------------------------------------------------------------------------ */

void sc_update_get(void);  /* 1, 2 */
void sc_lookup(void);      /* 3 */
void sc_wake(void);        /* 4 */
void sc_readers(void);     /* 5 */
void sc_memory(void);      /* 6 */
void sc_testbeam(void);    /* A */
void sc_dqm(void);         /* B */
void sc_stress(void);      /* C */
void sc_call(void);        /* mf_call */
void sc_mirror_wake(void); /* M: update on the source -> a mirror wakes */
void sc_mirror_setups(void); /* M: A and B through 1, 4, 16 pulls */

#endif
