/*
 * bench.h - what the parts of mapfile-bench share: configuration, the
 * machine, working sets, timing, paired measurement, child processes,
 * results and goals, the limits and the comparison stores.
 *
 * The rules every figure follows (README "Performance"):
 * - measured in this run, never remembered or made up;
 * - per-operation figures rotate over a working set sized from the
 *   last-level cache, with names that look random, and the cache-hot
 *   one-record figure stands beside them, labelled as such;
 * - contenders run in interleaved rounds (A B, B A, ...) and a ratio is the
 *   median of the per-round ratios, so load from other processes hits both
 *   sides alike;
 * - a limit does the work mapfile cannot avoid (an update's limit copies
 *   and checksums the same bytes into the same rotating slots).
 * A failed API call ends the run with exit 1. Nothing about speed is
 * asserted.
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

/* Most interleaved rounds a paired figure may have. */
#define MAX_ROUNDS 32
/* A rotating set aims at this many times the last-level cache. */
#define SET_FACTOR 4

typedef struct machine {
    char vendor[32];
    char model[96];
    int family, model_no, stepping;
    long cpus;            /* online */
    int cores;            /* physical cores, -1 if /proc/cpuinfo does not say */
    bool virtual_machine; /* the hypervisor flag is set */
    uint64_t llc;         /* last-level cache bytes */
    char llc_source[80];  /* where llc came from */
    const char *checksum_path;     /* "AVX-512", "AVX2" or "SSE2" */
    const char *lib_checksum_path; /* what the library says it does */
    uint64_t ram;
    char kernel[64];
    char fs[24];          /* file system of the bench directory */
} machine;

typedef struct bench_cfg {
    bool quick;
    int rounds;           /* interleaved rounds of a paired figure */
    double target_s;      /* timed length of one contender in one round */
    double warm_cap_s;    /* longest warm-up of one contender */
    const char *only;     /* run only this scenario (NULL: all) */
    bool trace;           /* MAPFILE_BENCH_TRACE: every round on stderr */
    const char *json_path;
    char dir[256];        /* private mkdtemp directory, removed at exit */
    char redis_sock[300]; /* unix socket of the Redis peer, "" if none */
    char redis_note[128]; /* why there is no Redis peer, or its version */
    mf_registry *reg;     /* in-process hist codecs + built-ins */
    uint64_t max_size;    /* mf_open_options.max_size for every map file */
    uint64_t set_target;  /* bytes a rotating set aims at (SET_FACTOR x LLC) */
    uint64_t set_budget;  /* bytes one store may spend on a rotating set */
    machine m;
    char load_start[64];  /* /proc/loadavg when the run started and ended: */
    char load_end[64];    /* other processes on the machine skew figures */
} bench_cfg;

extern bench_cfg B;

/* ------------------------------------------------------------------------ */
/* The machine (machine.c)                                                  */
/* ------------------------------------------------------------------------ */

/* Fill B.m: CPU, cores, LLC, checksum path, memory, kernel, file system. */
void machine_probe(void);
/* One line describing B.m (static buffer). */
const char *machine_line(void);

/* ------------------------------------------------------------------------ */
/* Working sets (set.c)                                                     */
/* ------------------------------------------------------------------------ */

/* Longest name set_name() writes, with the NUL. */
#define SET_NAME_CAP 24

/* Name of record i of a set: 14 characters that look random, unique per
 * (salt, i), computed in registers (no table to miss in the cache). */
void set_name(char out[SET_NAME_CAP], uint64_t salt, uint64_t i);
/* Records of `payload` bytes in a rotating set: SET_FACTOR x LLC of
 * payload lines, cut to what fits B.set_budget in one store. */
size_t set_records(size_t payload);
/* "N records, mapfile heap X MiB = Y x the LLC" for a row's note;
 * budgeted: the set's size came from set_records() (--set-mib). */
void set_describe(char *dst, size_t cap, size_t records, double bytes, bool budgeted);
/* Next record of a rotation over n records. */
size_t set_pick(uint64_t *rng, size_t n);

/* ------------------------------------------------------------------------ */
/* Utilities (util.c)                                                       */
/* ------------------------------------------------------------------------ */

int64_t now_ns(void);
/* CPU time of the calling process (CLOCK_PROCESS_CPUTIME_ID). */
int64_t cpu_ns(void);
/* CPU time of the calling thread. */
int64_t thread_cpu_ns(void);
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
mf_file *open_updater(const char *name); /* MF_UPDATE of an existing file */
mf_file *open_reader(const char *name);
/* The same with mf_open_options.flags (e.g. MF_OPEN_NO_VERIFY). */
mf_file *open_reader_flags(const char *name, unsigned flags);

/* Shared anonymous memory, inherited by children. */
void *shm_alloc(size_t size);
void shm_free(void *p, size_t size);

/* Futex on a shared (not private) word. */
void futex_wait_u32(uint32_t *word, uint32_t expect);
void futex_wake_u32(uint32_t *word);

/* splitmix64's finaliser: a bijection that scatters its input. */
static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

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
/* Run op in growing batches for about `seconds`; ns per operation of wall
 * time, and (if cpu_ns_op) of the thread's own CPU time. */
double measure_ns(bench_op op, void *ctx, double seconds, const char *what,
                  double *cpu_ns_op);

/* Run op untimed for at least min_s, at least `ops` operations and until
 * 256 operations and 10 ms went by without a page fault, but stop at
 * max_s: reaches the steady state (a store whose heap has cycled once,
 * whose file has stopped growing into fresh pages) before anything is
 * timed. */
void warm_up(bench_op op, void *ctx, size_t ops, double min_s, double max_s,
             const char *what);

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
/* Paired measurement (pair.c)                                              */
/* ------------------------------------------------------------------------ */

/* One side of a paired figure: an operation and what each round gave. */
typedef struct contender {
    const char *name;
    bench_op op;
    void *ctx;
    bool not_cpu;         /* waits for another process: not in the CPU share */
    size_t warm_ops;      /* operations the warm-up must do at least (e.g. one
                             pass over a rotating set), within B.warm_cap_s */
    double ns[MAX_ROUNDS];  /* wall ns per operation, per round */
    double cpu[MAX_ROUNDS]; /* the thread's CPU ns per operation, per round */
    int n;                /* rounds done */
} contender;

/* A contender with nothing measured yet. */
#define CONTENDER(nm, fn, arg, waits) \
    {.name = (nm), .op = (fn), .ctx = (arg), .not_cpu = (waits)}

/* Warm every contender up (warm_up(): B.target_s / 4, warm_ops operations
 * and no page faults, within B.warm_cap_s), then run B.rounds rounds; in each round every
 * contender runs for B.target_s, in an order that turns each round (A B C,
 * B C A, ...) so no side always goes first or right after another. */
void pair_run(contender *c, int k, const char *what);
/* Median over rounds of a's figure / b's figure: the thread's CPU ns per
 * operation when both run in this process without waiting for another,
 * else wall ns (both sides alike). */
double pair_ratio(const contender *a, const contender *b);
/* c's median figure in the unit pair_ratio(c, other) compares (other may
 * be NULL: c's own kind). */
double pair_value(const contender *c, const contender *other);
/* Median of a contender's wall (or CPU) ns per operation. */
double pair_median_wall(const contender *c);
double pair_median_cpu(const contender *c);
/* Median over pairs of a[i] / b[i]. */
double ratio_median(const double *a, const double *b, size_t n);

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
    RK_OF,   /* mapfile's figure / the reference's, in the figure's unit */
    RK_DIFF  /* mapfile's figure - the reference's */
} ratio_kind;

typedef struct result {
    char scenario[48];
    char figure[96];
    unit u;
    double value;          /* the mapfile figure (NaN: not measured) */
    double value2;         /* secondary figure (GB/s, p99...) or NaN */
    unit u2;
    char peer[80];         /* reference: a limit or a peer; "" if none */
    double peer_value;
    double peer_value2;
    ratio_kind rk;
    double ratio;
    bool paired;           /* ratio is the median of per-round ratios */
    char goal[64];         /* "" if the figure has no goal */
    int goal_met;          /* -1 no goal, 0 missed, 1 met */
    int repeats;           /* rounds (or samples) behind the figure */
    char note[200];
} result;

/* Start a result for a figure; fill the rest and call add_result. */
result result_make(const char *scenario, const char *figure, unit u,
                   double value, int repeats);
/* Attach a reference with a paired ratio measured beside it. */
void result_ref(result *r, const char *peer, double peer_value, double ratio);
/* Attach a reference measured apart (ratio of the two figures). */
void result_ref_single(result *r, const char *peer, double peer_value);
/* Attach a reference and report the difference (mapfile - reference). */
void result_ref_diff(result *r, const char *peer, double peer_value);
void result_goal(result *r, const char *goal, bool met);
void add_result(const result *r);
/* Print the table of one scenario (results added since the last call). */
void report_section(const char *title, const char *how);
void report_legend(void);
int report_json(const char *path, double total_s);

/* ------------------------------------------------------------------------ */
/* Goals of issue 14 (report.c)                                             */
/* ------------------------------------------------------------------------ */

typedef enum goal_id {
    G_NONE = -1,
    G_UPDATE_64,
    G_UPDATE_1K,
    G_UPDATE_64K,
    G_UPDATE_1M,
    G_GET_64,
    G_GET_1K,
    G_LOOKUP,
    G_WRITER,
    G_HEAP,
    G_DQM,
    G_WAKE,
    NGOALS
} goal_id;

/* Record a goal's measured ratio (mapfile / reference) with the two
 * figures behind it and how the set was made (for the row's note). */
void goal_record(goal_id g, double ratio, const char *figures, const char *set);
/* The goal's bound as text ("<= 0.12x") and whether a ratio meets it. */
const char *goal_bound(goal_id g);
bool goal_met(goal_id g, double ratio);
/* Print the goals table (every goal, measured or not). */
void report_goals(void);

/* Formatting for notes. */
void fmt_value(char *b, size_t cap, unit u, double v);

/* ------------------------------------------------------------------------ */
/* Limits (limits.c)                                                        */
/* ------------------------------------------------------------------------ */

/* XXH3-64 the way the library takes it: the plain entry point up to 240
 * bytes, libxxhash's dispatcher above (AVX-512/AVX2/SSE2) followed by
 * vzeroupper on a CPU with AVX. */
uint64_t limit_checksum(const void *data, size_t n);

/* Slots in a MAP_SHARED file mapping, each a 64-byte-aligned 8-byte
 * checksum followed by the payload: the least a store of checksummed
 * values can touch. */
typedef struct limit_map {
    unsigned char *base;
    size_t n, size, stride, bytes;
    char path[512];
} limit_map;
/* n slots of size bytes in a new file in the bench directory, written
 * through once (no first-touch faults in the figures). */
void limit_open(limit_map *m, const char *name, size_t n, size_t size);
void limit_close(limit_map *m);
static inline unsigned char *limit_slot(const limit_map *m, size_t i)
{
    return m->base + i * m->stride;
}
/* checksum + memcpy into slot i. */
void limit_put(limit_map *m, size_t i, const void *src, size_t n);
/* memcpy out of slot i, then (verify) checksum the copy and compare.
 * Returns 0, or -1 on a checksum mismatch. */
int limit_get(const limit_map *m, size_t i, void *dst, bool verify);

/* ------------------------------------------------------------------------ */
/* Comparison stores (peers.c)                                              */
/* ------------------------------------------------------------------------ */

typedef struct store store;
struct store {
    const char *name;
    /* Store one value under key (its own transaction / command / file). */
    int (*put)(store *s, const char *key, const void *data, size_t n);
    /* Records 0..count-1 of the set `salt` (set_name), the fastest way the
     * store offers (set-up only). */
    int (*put_set)(store *s, uint64_t salt, size_t count, const void *data,
                   size_t n);
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
/* LMDB pages in use: (branch + leaf + overflow pages) x page size. */
int64_t lmdb_pages_bytes(store *s);
store *redis_open_store(const char *sock); /* NULL if unreachable */
store *file_open_store(const char *dir);
/* Run a private redis-server on a unix socket unless one is given by
 * MAPFILE_BENCH_REDIS_SOCKET; fills B.redis_sock and B.redis_note. */
void redis_start(void);
void redis_stop(void);
/* Flush the Redis peer's keys between scenarios. */
void redis_flush(void);
_Noreturn void store_die(store *s);

/* Put records first..count-1 of the set `salt` into a map file (batches
 * of a few MiB). */
void mf_put_set(mf_file *mf, uint64_t salt, size_t first, size_t count,
                const char *class_name, uint32_t class_version, const void *data,
                size_t n);

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

/* Class of raw blob records (mf_put_raw/mf_get_raw need no codec). */
#define RAW_CLASS "bench.raw"

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
void sc_gen(void);         /* issue 18: generated codec vs hist1d */
void sc_mirror_wake(void); /* M: update on the source -> a mirror wakes */
void sc_mirror_setups(void); /* M: A and B through 1, 4, 16 pulls */

#endif
