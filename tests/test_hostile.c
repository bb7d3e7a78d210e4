/* test_hostile.c - no file can crash a consumer (issue 7).
 *
 * - golden: the corrupt files in tests/fixtures/corrupt give exactly the
 *   errors their manifest names, and records they do not touch stay
 *   readable; the generator that made them still makes files that do.
 * - mutation: tens of thousands of seeded random corruptions of a valid
 *   file with every shipped class; every consumer operation on each one
 *   returns, with 0 or a documented error code and a detail message.
 * - retired: a retired file left at its path costs a reader nothing per read.
 * - truncated: a file cut short under a reader that has it mapped.
 *
 * Every hostile input is handled in a forked child, so a crash or a hang
 * is reported as a failure that names the input instead of killing the
 * test run. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include <mapfile/builtin.h>
#include <mapfile/hist.h>
#include <mapfile/mapfile.h>
#include <mapfile/shapes.h>

#include "file.h"
#include "testutil.h"

#define MF_MAKE_CORRUPT_NO_MAIN
#include "fixtures/corrupt/make_corrupt.c"

#if defined(__SANITIZE_ADDRESS__)
#define MF_HOSTILE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MF_HOSTILE_LSAN 1
#endif
#endif
#ifdef MF_HOSTILE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

/* Seconds one hostile input may take before the child is presumed to hang.
 * Not a timing assertion: anything that returns at all returns far sooner. */
#define WATCHDOG_SECONDS 60

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

/* A registry knowing every shipped class in-process: no plugin loading. */
static mf_registry *all_classes(void)
{
    static mf_registry *reg;
    if (reg)
        return reg;
    cr_assert_eq(mf_registry_create(&reg), 0);
    const mf_class *cls[] = {&mf_hist1d_class, &mf_hist2d_class, &mf_profile_class,
                             &mf_circle_class, &mf_rect_class};
    for (size_t i = 0; i < sizeof cls / sizeof cls[0]; i++)
        cr_assert_eq(mf_registry_add_class(reg, cls[i]), 0, "%s", mf_errdetail());
    return reg;
}

static int open_read(mf_file **mf, const char *path)
{
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.registry = all_classes();
    return mf_open(mf, path, MF_READ, &o);
}

/* Error codes each function documents in mapfile.h. (A name that is not a
 * valid record name, as a hostile file may list, must give MF_ENAME and
 * nothing else: see consume().) */
static const int open_codes[] = {MF_EINVAL, MF_EEXIST, MF_ENOENT, MF_EACCES,
                                 MF_ENOTMAPFILE, MF_EVERSION, MF_ECORRUPT,
                                 MF_ETIMEDOUT, MF_ESYS, MF_ENOMEM, 0};
static const int get_codes[] = {MF_ENOTFOUND, MF_ENOCODEC, MF_ECLASSVERSION,
                                MF_ECODEC, MF_ECHECKSUM, MF_ECORRUPT,
                                MF_EREPLACED, MF_ENOMEM, 0};
static const int raw_codes[] = {MF_ENOTFOUND, MF_ETOOSMALL, MF_ECHECKSUM,
                                MF_ECORRUPT, MF_EREPLACED, 0};
static const int stat_codes[] = {MF_ENOTFOUND, MF_ECORRUPT, MF_EREPLACED, 0};
static const int name_codes[] = {MF_ENAME, 0};
static const int iter_codes[] = {MF_ECORRUPT, MF_EREPLACED, 0};
static const int snapshot_codes[] = {MF_ENOTFOUND, MF_ENOCODEC, MF_ECLASSVERSION,
                                     MF_ECODEC, MF_ECHECKSUM, MF_ECORRUPT,
                                     MF_EREPLACED, MF_ENOMEM, 0};
static const int wait_codes[] = {MF_ETIMEDOUT, MF_EREPLACED, 0};
/* mf_file_stat documents only 0; entering a file can still fail. */
static const int file_stat_codes[] = {MF_ECORRUPT, MF_EREPLACED, 0};
/* mf_check: "an error if it could not run". */
static const int check_codes[] = {MF_ECORRUPT, MF_EREPLACED, MF_ENOMEM, 0};

static bool code_in(int rc, const int *codes)
{
    for (; *codes; codes++)
        if (rc == *codes)
            return true;
    return false;
}

/* A message buffer that hostile-input checks append their findings to. */
struct verdict {
    char msg[2048];
    size_t len;
};

static void complain(struct verdict *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void complain(struct verdict *v, const char *fmt, ...)
{
    if (v->len >= sizeof v->msg - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(v->msg + v->len, sizeof v->msg - v->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        v->len += (size_t)n < sizeof v->msg - v->len ? (size_t)n : sizeof v->msg - 1 - v->len;
}

/* rc is 0, or one of codes with a non-empty detail. */
static bool rc_ok(struct verdict *v, const char *what, int rc, const int *codes)
{
    if (rc == 0)
        return true;
    if (!code_in(rc, codes)) {
        complain(v, "%s returned %d (%s), not a documented code; detail: %s\n",
                 what, rc, mf_err_name(rc), mf_errdetail());
        return false;
    }
    if (!mf_errdetail()[0]) {
        complain(v, "%s failed with %s but mf_errdetail() is empty\n", what,
                 mf_err_name(rc));
        return false;
    }
    return true;
}

/* Run fn(arg, &verdict) in a child; returns the child's complaint (or a
 * description of its crash or hang) in out, empty if it passed. */
static void in_child(void (*fn)(void *arg, struct verdict *v), void *arg,
                     char *out, size_t cap)
{
    struct verdict *shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE,
                                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(shared, MAP_FAILED);
    memset(shared, 0, sizeof *shared);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        alarm(WATCHDOG_SECONDS);
        struct verdict v = {{0}, 0};
        fn(arg, &v);
        memcpy(shared, &v, sizeof v);
        _exit(v.len ? 1 : 0);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    if (WIFSIGNALED(st))
        snprintf(out, cap, "%scrashed with signal %d (%s)%s", shared->msg,
                 WTERMSIG(st), strsignal(WTERMSIG(st)),
                 WTERMSIG(st) == SIGALRM ? ": it hangs" : "");
    else if (WEXITSTATUS(st) != 0 && shared->len)
        snprintf(out, cap, "%s", shared->msg);
    else if (WEXITSTATUS(st) != 0)
        snprintf(out, cap, "exited with status %d before finishing (see the "
                 "sanitizer report above, if any)", WEXITSTATUS(st));
    else
        out[0] = '\0';
    munmap(shared, sizeof *shared);
}

static int json_reserve(mf_writer *w, size_t need)
{
    size_t cap = w->cap ? w->cap : 256;
    while (cap - w->len < need)
        cap *= 2;
    unsigned char *nb = realloc(w->buf, cap);
    if (!nb)
        return -1;
    w->buf = nb;
    w->cap = cap;
    return 0;
}

/* A decoded object must be usable: print it and write its JSON. */
static void use_object(const mf_class *cls, const void *obj, FILE *sink)
{
    if (cls->print)
        cls->print(obj, sink);
    if (cls->to_json) {
        mf_writer w = {NULL, 0, 0, 0, json_reserve, NULL};
        cls->to_json(obj, &w);
        free(w.buf);
    }
}

/* ------------------------------------------------------------------------ */
/* Golden corrupt files                                                     */
/* ------------------------------------------------------------------------ */

struct expectation {
    char file[128], op[16], arg[MF_NAME_MAX + 1], expect[32], detail[256];
    int want;          /* expect as a code (check lines: unused) */
    const char *dir;
};

/* The code an MF_ name stands for, or 1 if there is no such code. */
static int code_by_name(const char *name)
{
    if (strcmp(name, "MF_OK") == 0)
        return 0;
    for (int e = -1; e >= -64; e--)
        if (strcmp(mf_err_name(e), name) == 0)
            return e;
    return 1;
}

struct problems {
    const char *want;
    unsigned seen, matched;
    char first[512];
};

static void collect_problem(void *ud, const char *msg)
{
    struct problems *p = ud;
    if (!p->seen++)
        snprintf(p->first, sizeof p->first, "%s", msg);
    if (strstr(msg, p->want))
        p->matched++;
}

static void expect_code(struct verdict *v, const struct expectation *e, int rc)
{
    int want = e->want;
    if (rc != want) {
        complain(v, "returned %s, want %s; detail: %s", mf_err_name(rc), e->expect,
                 mf_errdetail());
        return;
    }
    if (want == 0)
        return;
    if (!mf_errdetail()[0])
        complain(v, "failed with %s but mf_errdetail() is empty", e->expect);
    else if (strcmp(e->detail, "-") != 0 && !strstr(mf_errdetail(), e->detail))
        complain(v, "detail \"%s\" does not contain \"%s\"", mf_errdetail(), e->detail);
}

static void run_expectation(void *arg, struct verdict *v)
{
    const struct expectation *e = arg;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", e->dir, e->file);
    mf_file *mf = NULL;
    int rc = open_read(&mf, path);
    if (strcmp(e->op, "open") == 0) {
        expect_code(v, e, rc);
        if (rc == 0)
            mf_close(mf);
        return;
    }
    if (rc) {
        complain(v, "open failed with %s: %s", mf_err_name(rc), mf_errdetail());
        return;
    }
    if (strcmp(e->op, "get") == 0 || strcmp(e->op, "print") == 0) {
        void *obj = NULL;
        const mf_class *cls = NULL;
        rc = mf_get(mf, e->arg, &obj, &cls);
        expect_code(v, e, rc);
        if (rc == 0 && (!obj || !cls))
            complain(v, "succeeded without an object");
        if (rc != 0 && obj)
            complain(v, "failed but left an object behind");
        if (rc == 0 && obj && cls && strcmp(e->op, "print") == 0) {
            FILE *sink = fopen("/dev/null", "w");
            if (sink) {
                use_object(cls, obj, sink);
                fclose(sink);
            }
        }
        if (rc == 0)
            mf_object_free(cls, obj);
    } else if (strcmp(e->op, "snapshot") == 0) {
        const char *names[1] = {e->arg};
        void *objs[1] = {NULL};
        const mf_class *classes[1] = {NULL};
        rc = mf_get_snapshot(mf, names, 1, objs, classes, NULL);
        expect_code(v, e, rc);
        if (rc == 0)
            mf_object_free(classes[0], objs[0]);
    } else if (strcmp(e->op, "raw") == 0) {
        static unsigned char buf[MC_SIZE];
        mf_record_info ri;
        expect_code(v, e, mf_get_raw(mf, e->arg, buf, sizeof buf, &ri));
    } else if (strcmp(e->op, "stat") == 0) {
        mf_record_info ri;
        expect_code(v, e, mf_stat(mf, e->arg, &ri));
    } else if (strcmp(e->op, "iterate") == 0) {
        mf_iter it;
        mf_record_info ri;
        mf_iter_init(&it, mf, NULL);
        unsigned n = 0;
        while ((rc = mf_iter_next(&it, &ri)) == 1 && n < 100000)
            n++;
        if (n >= 100000)
            complain(v, "iteration returned more than 100000 records");
        else
            expect_code(v, e, rc);
    } else if (strcmp(e->op, "check") == 0) {
        struct problems p = {e->detail, 0, 0, ""};
        mf_check_result res = {sizeof res, 0, 0, 0, 0, 0};
        rc = mf_check_file(mf, collect_problem, &p, &res);
        bool pending = strcmp(e->expect, "pending") == 0;
        if (rc)
            complain(v, "mf_check could not run: %s", mf_errdetail());
        else if (res.problems != p.seen)
            complain(v, "mf_check counted %u problems but reported %u", res.problems,
                     p.seen);
        else if (pending && (!res.repair_pending || p.seen))
            complain(v, "mf_check says repair_pending %d with %u problems (first: "
                     "%s), want a pending repair and no problem", res.repair_pending,
                     p.seen, p.first);
        else if (!pending && !p.matched)
            complain(v, "no problem mentions \"%s\" (%u reported%s%s)", e->detail,
                     p.seen, p.seen ? ", first: " : "", p.first);
    } else {
        complain(v, "unknown manifest operation '%s'", e->op);
    }
    mf_close(mf);
}

static bool same_file(const char *a, const char *b)
{
    static unsigned char ba[MC_SIZE + 1], bb[MC_SIZE + 1];
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    size_t na = fa ? fread(ba, 1, sizeof ba, fa) : 0;
    size_t nb = fb ? fread(bb, 1, sizeof bb, fb) : 1;
    bool same = fa && fb && na == nb && memcmp(ba, bb, na) == 0;
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

/* Why committed files might fail: they no longer match what the generator
 * makes (the format changed). "" if they all match. */
static const char *staleness(const char *committed)
{
    static char why[512];
    char fresh[4096], err[512];
    snprintf(fresh, sizeof fresh, "%s", mf_test_path("golden-fresh"));
    why[0] = '\0';
    if (mkdir(fresh, 0755) != 0 || mc_generate(fresh, err, sizeof err) != 0)
        return why;
    for (size_t i = 0; i < MC_NCASES; i++) {
        char a[4096 + 160], b[4096 + 160];
        snprintf(a, sizeof a, "%s/%s", committed, mc_cases[i].file);
        snprintf(b, sizeof b, "%s/%s", fresh, mc_cases[i].file);
        if (!same_file(a, b)) {
            snprintf(why, sizeof why, "\n%s (and maybe more) differs from what "
                     "make_corrupt.c generates now: if the format changed, "
                     "regenerate the files as its header says.", mc_cases[i].file);
            break;
        }
    }
    return why;
}

/* Check every line of dir/EXPECTED; returns how many lines there were. */
static unsigned check_manifest(const char *dir, bool committed)
{
    char mpath[4096];
    snprintf(mpath, sizeof mpath, "%s/EXPECTED", dir);
    FILE *m = fopen(mpath, "r");
    cr_assert(m, "cannot read %s: %s", mpath, strerror(errno));
    char line[1024], failures[16384] = "";
    size_t flen = 0;
    unsigned lines = 0, failed = 0;
    while (fgets(line, sizeof line, m)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        struct expectation e = {.dir = dir};
        int used = 0;
        int n = sscanf(line, "%127s %15s %255s %31s %n", e.file, e.op, e.arg,
                       e.expect, &used);
        cr_assert_eq(n, 4, "bad manifest line: %s", line);
        snprintf(e.detail, sizeof e.detail, "%s", line + used);
        cr_assert(e.detail[0], "manifest line without a detail: %s", line);
        if (strcmp(e.op, "check") == 0)
            cr_assert(strcmp(e.expect, "problem") == 0 || strcmp(e.expect, "pending") == 0,
                      "check lines expect \"problem\" or \"pending\": %s", line);
        else
            cr_assert_leq((e.want = code_by_name(e.expect)), 0,
                          "manifest names an unknown code: %s", line);
        lines++;
        char why[4096];
        in_child(run_expectation, &e, why, sizeof why);
        if (why[0]) {
            failed++;
            int k = snprintf(failures + flen, sizeof failures - flen, "\n  %s %s %s: %s",
                             e.file, e.op, strcmp(e.arg, "-") ? e.arg : "", why);
            if (k > 0)
                flen = flen + (size_t)k < sizeof failures ? flen + (size_t)k
                                                          : sizeof failures - 1;
        }
    }
    fclose(m);
    cr_assert_eq(failed, 0, "%u of %u expectations in %s failed:%s%s", failed, lines,
                 mpath, failures, committed ? staleness(dir) : "");
    return lines;
}

static const char *fixture_dir(void)
{
    return MF_TEST_SOURCE_DIR "/tests/fixtures/corrupt";
}

Test(golden, committed_corrupt_files_give_their_expected_errors, .timeout = 600)
{
    unsigned lines = check_manifest(fixture_dir(), true);
    cr_assert_geq(lines, MC_NCASES, "the manifest has %u lines for %zu files", lines,
                  MC_NCASES);
}

Test(golden, every_committed_corrupt_file_is_in_the_manifest)
{
    char mpath[4096];
    snprintf(mpath, sizeof mpath, "%s/EXPECTED", fixture_dir());
    FILE *m = fopen(mpath, "r");
    cr_assert(m, "cannot read %s", mpath);
    static char manifest[1 << 16];
    size_t n = fread(manifest, 1, sizeof manifest - 1, m);
    manifest[n] = '\0';
    fclose(m);
    DIR *d = opendir(fixture_dir());
    cr_assert(d);
    unsigned files = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 4 || strcmp(de->d_name + len - 4, ".map") != 0)
            continue;
        files++;
        char key[300];
        snprintf(key, sizeof key, "\n%s ", de->d_name);
        cr_expect(strstr(manifest, key), "%s has no line in EXPECTED", de->d_name);
    }
    closedir(d);
    cr_assert_eq(files, MC_NCASES, "%u .map files for %zu generator cases", files,
                 MC_NCASES);
}

Test(golden, generator_still_makes_files_that_give_the_expected_errors, .timeout = 600)
{
    char dir[4096], err[512];
    snprintf(dir, sizeof dir, "%s", mf_test_path("golden"));
    cr_assert_eq(mkdir(dir, 0755), 0);
    cr_assert_eq(mc_generate(dir, err, sizeof err), 0, "%s", err);
    /* Deterministic: a second run writes the same bytes. */
    char dir2[4096];
    snprintf(dir2, sizeof dir2, "%s", mf_test_path("golden2"));
    cr_assert_eq(mkdir(dir2, 0755), 0);
    cr_assert_eq(mc_generate(dir2, err, sizeof err), 0, "%s", err);
    for (size_t i = 0; i < MC_NCASES; i++) {
        char a[4096 + 160], b[4096 + 160];
        snprintf(a, sizeof a, "%s/%s", dir, mc_cases[i].file);
        snprintf(b, sizeof b, "%s/%s", dir2, mc_cases[i].file);
        cr_assert(same_file(a, b), "%s differs between two runs", mc_cases[i].file);
    }
    check_manifest(dir, false);
}

/* ------------------------------------------------------------------------ */
/* Seeded mutations                                                         */
/* ------------------------------------------------------------------------ */

#define MUT_SIZE (64u * 1024u)
#define MUT_BATCH 500
#define MUT_DEFAULT 20000
#define MUT_DEFAULT_SEED 0x6d61706669756cull
#define MUT_MAX_NAMES 96
#define CODEC_ERRORS_MIN 50

enum mut_kind {
    MUT_HEADER,        /* bytes of the header only */
    MUT_META,          /* bytes of heap metadata: blocks, records, payload
                          headers, the index */
    MUT_WORD,          /* an aligned 64-bit field set to a telling value */
    MUT_PAYLOAD_FIXED, /* payload bytes, checksum recomputed: codecs see it */
    MUT_PAYLOAD,       /* payload bytes of one record, checksum kept */
    MUT_ANYWHERE,      /* bytes anywhere in the used part of the file */
    MUT_TRUNCATE,      /* the file cut short, nothing else */
    MUT_EXTEND,        /* garbage appended after the heap */
    MUT_NKINDS
};

static const char *const mut_kind_names[] = {"header", "metadata", "word",
                                             "payload+checksum", "payload",
                                             "anywhere", "truncate", "extend"};

/* Out of 100. */
static const unsigned mut_kind_weight[MUT_NKINDS] = {15, 20, 20, 20, 5, 12, 6, 2};

struct range {
    uint64_t off, len;
};

struct base {
    _Alignas(64) unsigned char img[MUT_SIZE]; /* the header wants 64 */
    char names[MUT_MAX_NAMES][MF_NAME_MAX + 1];
    size_t nnames;
    struct range meta[1024];   /* metadata byte ranges */
    size_t nmeta;
    uint64_t words[512];       /* offsets of 8-byte metadata fields */
    size_t nwords;
    struct range payload[MUT_MAX_NAMES]; /* payload data */
    uint64_t payload_hdr[MUT_MAX_NAMES]; /* their payload headers */
    size_t npayload;
    uint64_t recs[MUT_MAX_NAMES];
    size_t nrecs;
    uint64_t used_end;         /* end of the last allocated block */
};

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t below(uint64_t *s, uint64_t n)
{
    return n ? splitmix(s) % n : 0;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);
    return s && *s ? strtoull(s, NULL, 0) : dflt;
}

static void add_meta(struct base *b, uint64_t off, uint64_t len)
{
    cr_assert_lt(b->nmeta, sizeof b->meta / sizeof b->meta[0]);
    b->meta[b->nmeta++] = (struct range){off, len};
    for (uint64_t w = 0; w + 8 <= len && b->nwords < 512; w += 8)
        b->words[b->nwords++] = off + w;
}

/* The valid file every mutation starts from: every shipped class, folders,
 * updates (freed payloads), removals (free blocks, index tombstones) and an
 * index rehash. */
static void build_base(struct base *b)
{
    const char *path = mf_test_path("mutation-base.map");
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.initial_size = MUT_SIZE;
    o.max_size = MUT_SIZE;
    o.registry = all_classes();
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, path, MF_RECREATE, &o), 0, "%s", mf_errdetail());

    mf_hist1d *h1 = mf_hist1d_new("h1 title", 12, -3, 3);
    mf_hist2d *h2 = mf_hist2d_new("h2", 5, 0, 1, 4, -1, 1);
    mf_profile *pr = mf_profile_new("prof", 6, 0, 10);
    mf_circle *ci = mf_circle_new("wheel", 1, 2, 3);
    mf_rect *re = mf_rect_new("door", 0, 0, 2, 1);
    for (int i = 0; i < 200; i++) {
        mf_hist1d_fill(h1, (i % 17) * 0.4 - 3.5);
        mf_hist2d_fill(h2, (i % 7) / 7.0, (i % 5) / 2.5 - 1);
        mf_profile_fill(pr, i % 11, i * 0.5);
    }
    unsigned char bytes[100];
    for (int i = 0; i < 100; i++)
        bytes[i] = (unsigned char)(i * 37 + 1);
    mf_blob blob = {sizeof bytes, bytes}, empty = {0, NULL};

    char name[64];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "pad/%02d", i);
        cr_assert_eq(mf_put(mf, name, "text", "padding that will mostly go away"), 0);
    }
    cr_assert_eq(mf_put(mf, "run/title", MF_TEXT_CLASS, "mutation base"), 0);
    cr_assert_eq(mf_put(mf, "run/empty", MF_TEXT_CLASS, ""), 0);
    cr_assert_eq(mf_put(mf, "data/blob", MF_BLOB_CLASS, &blob), 0);
    cr_assert_eq(mf_put(mf, "data/empty", MF_BLOB_CLASS, &empty), 0);
    cr_assert_eq(mf_add(mf, "hist/h1", "hist1d", h1), 0);
    cr_assert_eq(mf_add(mf, "hist/h2", "hist2d", h2), 0);
    cr_assert_eq(mf_add(mf, "hist/prof", "profile", pr), 0);
    cr_assert_eq(mf_add(mf, "shapes/circle", "circle", ci), 0);
    cr_assert_eq(mf_add(mf, "shapes/rect", "rect", re), 0);
    cr_assert_eq(mf_update(mf, NULL), 0, "%s", mf_errdetail());
    mf_hist1d_fill(h1, 0.5);
    mf_profile_fill(pr, 3, 4);
    cr_assert_eq(mf_update(mf, NULL), 0, "%s", mf_errdetail());
    for (int i = 0; i < 40; i += 3) {
        snprintf(name, sizeof name, "pad/%02d", i);
        cr_assert_eq(mf_remove(mf, name), 0);
    }
    cr_assert_eq(mf_put(mf, "run/title", MF_TEXT_CLASS, "mutation base, updated"), 0);
    unsigned problems = 99;
    cr_assert_eq(mf_check(mf, NULL, NULL, &problems), 0);
    cr_assert_eq(problems, 0, "the base file must be valid");
    mf_close(mf);
    mf_hist1d_free(h1);
    mf_hist2d_free(h2);
    mf_profile_free(pr);
    mf_circle_free(ci);
    mf_rect_free(re);

    FILE *f = fopen(path, "rb");
    cr_assert(f);
    cr_assert_eq(fread(b->img, 1, MUT_SIZE, f), MUT_SIZE);
    fclose(f);

    /* Map out the structure so mutations can aim at it. */
    const struct mf__header *h = (const struct mf__header *)b->img;
    add_meta(b, 0, offsetof(struct mf__header, heap));
    add_meta(b, offsetof(struct mf__header, heap), sizeof(struct mf__heap_ctl));
    for (uint64_t off = h->heap.heap_start; off < h->heap.heap_end;) {
        uint64_t sf, size;
        memcpy(&sf, b->img + off + 8, 8);
        size = sf & ~(uint64_t)MF__BLK_FLAGS;
        cr_assert(size >= MF__BLOCK_MIN && size <= h->heap.heap_end - off);
        add_meta(b, off, MF__BLOCK_HEADER);
        if (!(sf & MF__BLK_FREE))
            b->used_end = off + size;
        off += size;
    }
    const struct mf__index *ix = (const void *)(b->img + h->index_off);
    const uint32_t *order = (const void *)((const unsigned char *)ix + ix->order_at);
    add_meta(b, h->index_off, sizeof *ix);
    add_meta(b, h->index_off + ix->order_at, ix->order_len * sizeof *order);
    for (uint64_t i = 0; i < ix->order_len; i++) {
        const uint64_t *slot = &ix->slots[order[i]];
        if (!mf__slot_used(*slot))
            continue;
        uint64_t pay = mf__slot_off(*slot);
        const struct mf__payload *p = (const void *)(b->img + pay);
        cr_assert_lt(b->nnames, MUT_MAX_NAMES);
        snprintf(b->names[b->nnames++], MF_NAME_MAX + 1, "%s", p->strings);
        b->recs[b->nrecs++] = (uint64_t)((const unsigned char *)slot - b->img);
        add_meta(b, b->recs[b->nrecs - 1], sizeof *slot);
        uint64_t data_at = mf__payload_data_at(p->name_len, p->class_len);
        add_meta(b, pay, data_at);
        b->payload_hdr[b->npayload] = pay;
        b->payload[b->npayload++] = (struct range){pay + data_at, p->size};
    }
    cr_assert_eq(b->nnames, 40 - 14 + 9, "records in the base file");
}

/* Bytes changed by one mutation, for the failure message. */
struct mutation {
    enum mut_kind kind;
    size_t len;        /* file length */
    int victim;        /* MUT_PAYLOAD: index of the record whose data changed */
    char what[256];
};

static void note_change(struct mutation *m, uint64_t off)
{
    size_t n = strlen(m->what);
    if (n < sizeof m->what - 24)
        snprintf(m->what + n, sizeof m->what - n, " %#llx", (unsigned long long)off);
}

static void poke_byte(unsigned char *img, uint64_t off, uint64_t *s)
{
    switch (below(s, 10)) {
    case 0:
        img[off] = 0;
        break;
    case 1:
        img[off] = 0xff;
        break;
    case 2: case 3: case 4:
        img[off] = (unsigned char)splitmix(s);
        break;
    default:
        img[off] ^= (unsigned char)(1u << below(s, 8));
        break;
    }
}

/* A value that makes an offset, size or count field tell a lie worth
 * telling: out of range, cross-linked, self-linked, odd, huge. */
static uint64_t telling_value(const struct base *b, uint64_t field, uint64_t *s)
{
    uint64_t old;
    memcpy(&old, b->img + field, 8);
    switch (below(s, 14)) {
    case 0: return 0;
    case 1: return 1;
    case 2: return old | 1;
    case 3: return old + 16;
    case 4: return old - 16;
    case 5: return MUT_SIZE;
    case 6: return MUT_SIZE - 16;
    case 7: return MUT_SIZE + 4096;
    case 8: return 1ull << 60;
    case 9: return UINT64_MAX;
    case 10: return b->recs[below(s, b->nrecs)];
    case 11: return b->payload_hdr[below(s, b->npayload)];
    case 12: return field & ~15ull;
    default: return MF__HEADER_SIZE + 16 * below(s, (MUT_SIZE - MF__HEADER_SIZE) / 16);
    }
}

static void fix_checksum(unsigned char *img, uint64_t payload_hdr)
{
    struct mf__payload *p = (struct mf__payload *)(img + payload_hdr);
    p->checksum = XXH3_64bits((unsigned char *)p + mf__payload_data_at(p->name_len,
                                                                      p->class_len),
                              p->size);
}

/* Apply mutation `index` of the run seeded `seed` to img. */
static void mutate(const struct base *b, unsigned char *img, uint64_t seed,
                   uint64_t index, struct mutation *m)
{
    uint64_t s = seed ^ (index * 0x9e3779b97f4a7c15ull);
    splitmix(&s);
    memcpy(img, b->img, MUT_SIZE);
    memset(m, 0, sizeof *m);
    m->len = MUT_SIZE;
    m->victim = -1;
    unsigned pick = (unsigned)below(&s, 100), acc = 0;
    for (m->kind = 0; m->kind < MUT_NKINDS - 1; m->kind++) {
        acc += mut_kind_weight[m->kind];
        if (pick < acc)
            break;
    }
    unsigned flips = 1 + (unsigned)below(&s, 8);
    switch (m->kind) {
    case MUT_HEADER:
        for (unsigned i = 0; i < flips; i++) {
            /* Half of them in the fields before the heap control block. */
            uint64_t lim = below(&s, 2) ? offsetof(struct mf__header, heap)
                                        : sizeof(struct mf__header);
            uint64_t off = below(&s, lim);
            poke_byte(img, off, &s);
            note_change(m, off);
        }
        break;
    case MUT_META:
        for (unsigned i = 0; i < flips; i++) {
            const struct range *r = &b->meta[below(&s, b->nmeta)];
            uint64_t off = r->off + below(&s, r->len);
            poke_byte(img, off, &s);
            note_change(m, off);
        }
        break;
    case MUT_WORD: {
        unsigned n = 1 + (unsigned)below(&s, 2);
        for (unsigned i = 0; i < n; i++) {
            uint64_t field = b->words[below(&s, b->nwords)];
            uint64_t v = telling_value(b, field, &s);
            memcpy(img + field, &v, 8);
            note_change(m, field);
        }
        break;
    }
    case MUT_PAYLOAD_FIXED:
    case MUT_PAYLOAD: {
        size_t k = below(&s, b->npayload);
        while (b->payload[k].len == 0)
            k = below(&s, b->npayload);
        const struct range *r = &b->payload[k];
        for (unsigned i = 0; i < flips; i++) {
            uint64_t off = r->off + below(&s, r->len);
            unsigned char before = img[off];
            do
                poke_byte(img, off, &s);
            while (m->kind == MUT_PAYLOAD && img[off] == before);
            note_change(m, off);
        }
        if (m->kind == MUT_PAYLOAD_FIXED)
            fix_checksum(img, b->payload_hdr[k]);
        else if (memcmp(img + r->off, b->img + r->off, r->len) != 0)
            m->victim = (int)k;
        break;
    }
    case MUT_ANYWHERE:
        for (unsigned i = 0; i < flips; i++) {
            uint64_t lim = below(&s, 4) ? b->used_end : MUT_SIZE;
            uint64_t off = below(&s, lim);
            poke_byte(img, off, &s);
            note_change(m, off);
        }
        break;
    case MUT_TRUNCATE:
        m->len = below(&s, 3) ? below(&s, MUT_SIZE)
                              : 4096 * below(&s, MUT_SIZE / 4096);
        snprintf(m->what, sizeof m->what, " to %zu bytes", m->len);
        break;
    case MUT_EXTEND:
        m->len = MUT_SIZE + 1 + below(&s, 3 * 4096);
        for (size_t i = MUT_SIZE; i < m->len; i++)
            img[i] = (unsigned char)splitmix(&s);
        snprintf(m->what, sizeof m->what, " to %zu bytes", m->len);
        break;
    case MUT_NKINDS:
        break;
    }
}

static void add_name(char (*names)[MF_NAME_MAX + 1], size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(names[i], name) == 0)
            return;
    if (*n < 2 * MUT_MAX_NAMES)
        snprintf(names[(*n)++], MF_NAME_MAX + 1, "%s", name);
}

/* Every consumer operation on the file at path. Complaints go to v. */
static void consume(const struct base *b, const char *path, const struct mutation *m,
                    FILE *sink, struct verdict *v)
{
    mf_file *mf = NULL;
    int rc = open_read(&mf, path);
    if (!rc_ok(v, "mf_open", rc, open_codes))
        return;
    if (m->kind == MUT_TRUNCATE && m->len < MUT_SIZE && rc == 0)
        complain(v, "a file cut to %zu of %u bytes opened without error\n", m->len,
                 MUT_SIZE);
    if (rc)
        return;

    static char names[2 * MUT_MAX_NAMES][MF_NAME_MAX + 1];
    size_t nnames = 0;
    for (size_t i = 0; i < b->nnames; i++)
        add_name(names, &nnames, b->names[i]);

    mf_iter it;
    mf_record_info ri;
    mf_iter_init(&it, mf, NULL);
    unsigned listed = 0;
    while ((rc = mf_iter_next(&it, &ri)) == 1) {
        if (++listed > MUT_SIZE / sizeof(struct mf__payload)) {
            complain(v, "iteration returned %u records from a %u-byte file\n", listed,
                     MUT_SIZE);
            break;
        }
        if (memchr(ri.name, 0, sizeof ri.name) == NULL ||
            memchr(ri.class_name, 0, sizeof ri.class_name) == NULL)
            complain(v, "iteration returned an unterminated name\n");
        add_name(names, &nnames, ri.name);
    }
    rc_ok(v, "mf_iter_next", rc < 0 ? rc : 0, iter_codes);

    static unsigned char buf[MUT_SIZE];
    for (size_t i = 0; i < nnames; i++) {
        bool bad_name = mf__check_record_name(names[i]) != 0;
        void *obj = NULL;
        const mf_class *cls = NULL;
        rc = mf_get(mf, names[i], &obj, &cls);
        char what[300];
        snprintf(what, sizeof what, "mf_get('%s')", names[i]);
        if (bad_name && rc != MF_ENAME)
            complain(v, "%s of an invalid name returned %s, not MF_ENAME\n", what,
                     mf_err_name(rc));
        if (rc_ok(v, what, rc, bad_name ? name_codes : get_codes) && rc == 0) {
            if (!obj || !cls)
                complain(v, "%s succeeded without an object\n", what);
            else {
                use_object(cls, obj, sink);
                mf_object_free(cls, obj);
            }
        } else if (obj) {
            complain(v, "%s failed but returned an object\n", what);
        }
        if (m->victim >= 0 && strcmp(names[i], b->names[m->victim]) == 0 &&
            rc != MF_ECHECKSUM)
            complain(v, "%s of a record whose payload changed returned %s, not "
                     "MF_ECHECKSUM\n", what, mf_err_name(rc));
        snprintf(what, sizeof what, "mf_get_raw('%s')", names[i]);
        rc = mf_get_raw(mf, names[i], buf, sizeof buf, &ri);
        if (rc_ok(v, what, rc, bad_name ? name_codes : raw_codes) && rc == 0 &&
            ri.size > sizeof buf)
            complain(v, "%s copied %llu bytes into %zu\n", what,
                     (unsigned long long)ri.size, sizeof buf);
        if (m->victim >= 0 && strcmp(names[i], b->names[m->victim]) == 0 &&
            rc != MF_ECHECKSUM)
            complain(v, "%s of a record whose payload changed returned %s, not "
                     "MF_ECHECKSUM\n", what, mf_err_name(rc));
        snprintf(what, sizeof what, "mf_stat('%s')", names[i]);
        rc_ok(v, what, mf_stat(mf, names[i], &ri), bad_name ? name_codes : stat_codes);
    }

    /* The whole-file calls: snapshot, stat, print, ls, wait. */
    const char *snap[MUT_MAX_NAMES];
    void *objs[MUT_MAX_NAMES];
    const mf_class *classes[MUT_MAX_NAMES];
    for (size_t i = 0; i < b->nnames; i++)
        snap[i] = b->names[i];
    rc = mf_get_snapshot(mf, snap, b->nnames, objs, classes, NULL);
    if (rc_ok(v, "mf_get_snapshot", rc, snapshot_codes) && rc == 0)
        for (size_t i = 0; i < b->nnames; i++)
            mf_object_free(classes[i], objs[i]);
    mf_file_info fi;
    rc_ok(v, "mf_file_stat", mf_file_stat(mf, &fi), file_stat_codes);
    mf_print(mf, sink);
    mf_ls(mf, sink);
    uint64_t seen = 0;
    rc = mf_wait(mf, &seen, 0);
    rc_ok(v, "mf_wait (first)", rc, wait_codes);
    if (rc == MF_ETIMEDOUT)
        complain(v, "mf_wait from generation 0 timed out instead of returning "
                 "the current generation\n");
    rc_ok(v, "mf_wait", mf_wait(mf, &seen, 0), wait_codes);

    struct problems p = {"checksum mismatch", 0, 0, ""};
    unsigned count = 0;
    rc = mf_check(mf, collect_problem, &p, &count);
    if (rc_ok(v, "mf_check", rc, check_codes) && rc == 0) {
        if (count != p.seen)
            complain(v, "mf_check counted %u problems but reported %u\n", count, p.seen);
        if (m->victim >= 0 && !p.matched)
            complain(v, "mf_check did not report the changed payload of '%s'\n",
                     b->names[m->victim]);
    }
    mf_close(mf);
}

/* Shared between the parent and the child running a batch. */
struct batch_state {
    uint64_t current;  /* mutation being run */
    char msg[2048 + 512];
};

static void run_batch(const struct base *b, uint64_t seed, uint64_t first,
                      uint64_t count, struct batch_state *st)
{
    static _Alignas(64) unsigned char img[MUT_SIZE + 4 * 4096];
    int fd = memfd_create("mutant", MFD_CLOEXEC);
    if (fd < 0)
        _exit(3);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    FILE *sink = fopen("/dev/null", "w");
    if (!sink)
        _exit(3);
    for (uint64_t i = first; i < first + count; i++) {
        st->current = i;
        struct mutation m;
        mutate(b, img, seed, i, &m);
        if (ftruncate(fd, 0) || pwrite(fd, img, m.len, 0) != (ssize_t)m.len)
            _exit(3);
        alarm(WATCHDOG_SECONDS);
        struct verdict v = {{0}, 0};
        consume(b, path, &m, sink, &v);
        if (v.len) {
            snprintf(st->msg, sizeof st->msg, "(%s:%s) %s", mut_kind_names[m.kind],
                     m.what, v.msg);
            _exit(1);
        }
    }
    alarm(0);
    fclose(sink);
    close(fd);
#ifdef MF_HOSTILE_LSAN
    /* A forked child still lists the parent's other threads, and LSan warns
     * about each on every check: check quietly, and again aloud (with the
     * report) only if something leaked. */
    fflush(stderr);
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
    if (saved >= 0 && devnull >= 0)
        dup2(devnull, 2);
    int leaked = __lsan_do_recoverable_leak_check();
    if (saved >= 0 && devnull >= 0)
        dup2(saved, 2);
    if (saved >= 0)
        close(saved);
    if (devnull >= 0)
        close(devnull);
    if (leaked && __lsan_do_recoverable_leak_check()) {
        snprintf(st->msg, sizeof st->msg, "memory leaked in this batch (see the "
                 "LeakSanitizer report above)");
        st->current = first + count; /* no single culprit */
        _exit(1);
    }
#endif
    _exit(0);
}

Test(mutation, no_corruption_crashes_hangs_or_gives_an_undocumented_error,
     .timeout = 1800)
{
    static struct base b;
    build_base(&b);
    uint64_t seed = env_u64("MF_MUTATION_SEED", MUT_DEFAULT_SEED);
    uint64_t first = env_u64("MF_MUTATION_FIRST", 0);
    uint64_t total = env_u64("MF_MUTATIONS", MUT_DEFAULT);
    struct batch_state *st = mmap(NULL, sizeof *st, PROT_READ | PROT_WRITE,
                                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(st, MAP_FAILED);
    fflush(NULL);
    for (uint64_t at = first; at < first + total; at += MUT_BATCH) {
        uint64_t n = first + total - at < MUT_BATCH ? first + total - at : MUT_BATCH;
        memset(st, 0, sizeof *st);
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0)
            run_batch(&b, seed, at, n, st);
        int ws;
        cr_assert_eq(waitpid(pid, &ws, 0), pid);
        if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0)
            continue;
        char how[128];
        if (WIFSIGNALED(ws))
            snprintf(how, sizeof how, "crashed with signal %d (%s)%s", WTERMSIG(ws),
                     strsignal(WTERMSIG(ws)),
                     WTERMSIG(ws) == SIGALRM ? ": an operation hangs" : "");
        else
            snprintf(how, sizeof how, "failed (exit %d)%s", WEXITSTATUS(ws),
                     st->msg[0] ? "" : ", see the sanitizer report above");
        cr_assert_fail("mutations %llu..%llu of seed %#llx: mutation %llu %s: %s\n"
                       "reproduce with MF_MUTATION_SEED=%#llx MF_MUTATION_FIRST=%llu "
                       "MF_MUTATIONS=%llu", (unsigned long long)at,
                       (unsigned long long)(at + n - 1), (unsigned long long)seed,
                       (unsigned long long)st->current, how, st->msg,
                       (unsigned long long)seed,
                       (unsigned long long)(st->current < at + n ? st->current : at),
                       (unsigned long long)(st->current < at + n ? 1 : n));
    }
    munmap(st, sizeof *st);
}

/* The mutations must reach deep: a fair share of them has to get past
 * mf_open and into the records and codecs, or the test proves little. */
static void count_reach(void *arg, struct verdict *v)
{
    const struct base *b = arg;
    static _Alignas(64) unsigned char img[MUT_SIZE + 4 * 4096];
    int fd = memfd_create("mutant", MFD_CLOEXEC);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    unsigned opened = 0, decoded = 0, codec_errors = 0, n = 2000;
    for (uint64_t i = 0; i < n && fd >= 0; i++) {
        struct mutation m;
        mutate(b, img, MUT_DEFAULT_SEED, i, &m);
        if (ftruncate(fd, 0) || pwrite(fd, img, m.len, 0) != (ssize_t)m.len)
            break;
        mf_file *mf;
        if (open_read(&mf, path))
            continue;
        opened++;
        for (size_t k = 0; k < b->nnames; k++) {
            void *obj;
            const mf_class *cls;
            int rc = mf_get(mf, b->names[k], &obj, &cls);
            if (rc == 0) {
                decoded++;
                mf_object_free(cls, obj);
            } else if (rc == MF_ECODEC) {
                codec_errors++;
            }
        }
        mf_close(mf);
    }
    if (fd >= 0)
        close(fd);
    fprintf(stderr, "reach: %u of %u mutants opened, %u objects decoded, %u codec "
            "errors\n", opened, n, decoded, codec_errors);
    if (opened < n / 2)
        complain(v, "only %u of %u mutants opened; ", opened, n);
    if (decoded < 10 * n)
        complain(v, "only %u objects decoded; ", decoded);
    if (codec_errors < CODEC_ERRORS_MIN)
        complain(v, "only %u codec errors: payload mutations do not reach "
                 "stream_in; ", codec_errors);
}

Test(mutation, mutations_reach_the_records_and_the_codecs, .timeout = 600)
{
    static struct base b;
    build_base(&b);
    char why[4096];
    in_child(count_reach, &b, why, sizeof why);
    cr_assert_eq(why[0], '\0', "%s", why);
}

/* ------------------------------------------------------------------------ */
/* A retired file left at its path                                          */
/* ------------------------------------------------------------------------ */

static int open_descriptors(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* A reader follows a retired file to the file now at its path. When that is
 * the same file (the RECREATE that retired it never renamed a new one over
 * it, or the file is hostile), following must not cost a descriptor and a
 * mapping per read until the handle is closed. */
static void read_retired_in_place(void *arg, struct verdict *v)
{
    (void)arg;
    char path[4096];
    snprintf(path, sizeof path, "%s/retired_in_place.map", fixture_dir());
    mf_file *mf;
    int rc = open_read(&mf, path);
    if (rc) {
        complain(v, "open: %s", mf_errdetail());
        return;
    }
    int before = open_descriptors();
    for (int i = 0; i < 500; i++) {
        void *obj;
        const mf_class *cls;
        if ((rc = mf_get(mf, "alpha", &obj, &cls)) != 0) {
            complain(v, "get %d returned %s: %s; ", i, mf_err_name(rc), mf_errdetail());
            break;
        }
        mf_object_free(cls, obj);
    }
    int after = open_descriptors();
    if (after > before + 2)
        complain(v, "500 gets left %d more descriptors open", after - before);
    mf_close(mf);
}

Test(retired, reading_a_retired_file_left_at_its_path_keeps_no_descriptors)
{
    char why[4096];
    in_child(read_retired_in_place, NULL, why, sizeof why);
    cr_assert_eq(why[0], '\0', "%s", why);
}

/* ------------------------------------------------------------------------ */
/* A file truncated under a reader                                          */
/* ------------------------------------------------------------------------ */

struct truncation {
    const char *path;
    off_t keep;
};

static void read_truncated(void *arg, struct verdict *v)
{
    const struct truncation *t = arg;
    mf_file *mf;
    int rc = open_read(&mf, t->path);
    if (rc) {
        complain(v, "open: %s", mf_errdetail());
        return;
    }
    int fd = open(t->path, O_RDWR);
    if (fd < 0 || ftruncate(fd, t->keep) != 0) {
        complain(v, "cannot truncate: %s", strerror(errno));
        return;
    }
    close(fd);
    void *obj = NULL;
    const mf_class *cls;
    rc = mf_get(mf, "first", &obj, &cls);
    if (rc != MF_ECORRUPT)
        complain(v, "mf_get returned %s, want MF_ECORRUPT; ", mf_err_name(rc));
    else if (!mf_errdetail()[0])
        complain(v, "mf_get: empty detail; ");
    mf_iter it;
    mf_record_info ri;
    mf_iter_init(&it, mf, NULL);
    rc = mf_iter_next(&it, &ri);
    if (rc != MF_ECORRUPT)
        complain(v, "mf_iter_next returned %d, want MF_ECORRUPT; ", rc);
    struct problems p = {"truncat", 0, 0, ""};
    unsigned count = 0;
    rc = mf_check(mf, collect_problem, &p, &count);
    if (rc != MF_ECORRUPT && !(rc == 0 && p.matched))
        complain(v, "mf_check returned %s with %u problems, none about the "
                 "truncation; ", mf_err_name(rc), count);
    mf_close(mf);
}

static void truncate_under_reader(off_t keep)
{
    const char *path = mf_test_path(keep ? "cut.map" : "emptied.map");
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.initial_size = 256 * 1024;
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, path, MF_RECREATE, &o), 0, "%s", mf_errdetail());
    char big[4000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cr_assert_eq(mf_put(mf, "first", "text", big), 0);
    for (int i = 0; i < 40; i++) {
        char name[16];
        snprintf(name, sizeof name, "more%d", i);
        cr_assert_eq(mf_put(mf, name, "text", big), 0, "%s", mf_errdetail());
    }
    mf_close(mf);
    struct truncation t = {path, keep};
    char why[4096];
    in_child(read_truncated, &t, why, sizeof why);
    cr_assert_eq(why[0], '\0', "file cut to %lld bytes under a reader: %s",
                 (long long)keep, why);
}

Test(truncated, file_cut_to_its_header_under_a_reader_gives_ecorrupt_not_sigbus)
{
    truncate_under_reader(MF__HEADER_SIZE);
}

Test(truncated, file_cut_to_nothing_under_a_reader_gives_ecorrupt_not_sigbus)
{
    truncate_under_reader(0);
}
