/* fuzz_mapfile.c - libFuzzer harness: the input is a map file.
 *
 * Input: one mode byte, then the file image. With mode bit 0 set, the image
 * is padded with zeros up to the capacity its header states (at most 4 MiB),
 * so seeds and mutants need not carry the empty tail of a 64 KiB file; with
 * it clear the image is the whole file, so truncation stays reachable.
 *
 * The file lives in a memfd, opened through /proc/self/fd like any path.
 * Each input is opened read-only, iterated, and every record found (by the
 * list, or by a few well-known names) is fetched with mf_stat, mf_get
 * (decoded, printed and turned to JSON by every shipped codec) and
 * mf_get_raw; then come a snapshot of them all, mf_print, mf_ls, mf_wait,
 * mf_check and mf_file_stat. */
#include "fuzz_common.h"

#include "file.h"

#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#define FZ_MAX_PAD (4u << 20)
#define FZ_MAX_NAMES 64

static int fz_fd = -1;
static char fz_path[64];

/* Documented error codes (mapfile.h). A name listed by a hostile file may
 * be invalid as an argument: MF_ENAME, and only then (see below). */
static const int open_codes[] = {MF_EINVAL, MF_ENOENT, MF_EACCES, MF_ENOTMAPFILE,
                                 MF_EVERSION, MF_ECORRUPT, MF_ESYS, MF_ENOMEM, 0};
static const int get_codes[] = {MF_ENOTFOUND, MF_ENOCODEC, MF_ECLASSVERSION,
                                MF_ECODEC, MF_ECHECKSUM, MF_ECORRUPT, MF_EREPLACED,
                                MF_ENOMEM, 0};
static const int raw_codes[] = {MF_ENOTFOUND, MF_ETOOSMALL, MF_ECHECKSUM,
                                MF_ECORRUPT, MF_EREPLACED, 0};
static const int stat_codes[] = {MF_ENOTFOUND, MF_ECORRUPT, MF_EREPLACED, 0};
static const int name_codes[] = {MF_ENAME, 0};
static const int iter_codes[] = {MF_ECORRUPT, MF_EREPLACED, 0};
static const int snapshot_codes[] = {MF_ENOTFOUND, MF_ENOCODEC, MF_ECLASSVERSION,
                                     MF_ECODEC, MF_ECHECKSUM, MF_ECORRUPT,
                                     MF_EREPLACED, MF_ENOMEM, MF_ENAME, 0};
/* No file without a writer may give MF_EBUSY: nothing there changes. */
static const int check_codes[] = {MF_ECORRUPT, MF_EREPLACED, MF_ENOMEM, 0};
static const int wait_codes[] = {MF_ETIMEDOUT, MF_EREPLACED, 0};

/* Names of the seed files' records, tried even when the list is broken. */
static const char *const known_names[] = {"alpha", "victim", "blob", "hist",
                                          "bystander", "h1", "h2", "prof", "c",
                                          "r", "t", "b"};

/* Readers back off with sched_yield() while a writer seems to move things
 * (a snapshot facing an odd publish sequence retries to its bound). Here
 * no writer exists, so yielding only costs time, and on a busy machine a
 * lot of it: the fuzzer must not crawl on such inputs. */
int sched_yield(void)
{
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_registry();
    fz_fd = memfd_create("fuzz_mapfile", MFD_CLOEXEC);
    if (fz_fd < 0)
        abort();
    snprintf(fz_path, sizeof fz_path, "/proc/self/fd/%d", fz_fd);
    return 0;
}

static void count_problem(void *ud, const char *msg)
{
    if (!msg || !msg[0])
        abort(); /* every reported problem says something */
    (*(unsigned *)ud)++;
}

static void add_name(char (*names)[MF_NAME_MAX + 1], size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(names[i], name) == 0)
            return;
    if (*n < FZ_MAX_NAMES)
        snprintf(names[(*n)++], MF_NAME_MAX + 1, "%s", name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    data++;
    size--;
    uint64_t len = size;
    const size_t cap_at = offsetof(struct mf__header, capacity);
    if ((mode & 1) && size >= cap_at + 8) {
        uint64_t cap;
        memcpy(&cap, data + cap_at, 8);
        if (cap > len && cap <= FZ_MAX_PAD)
            len = cap;
    }
    if (ftruncate(fz_fd, 0) || (size && pwrite(fz_fd, data, size, 0) != (ssize_t)size) ||
        ftruncate(fz_fd, (off_t)len))
        abort();

    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.registry = fz_registry();
    mf_file *mf = NULL;
    int rc = mf_open(&mf, fz_path, MF_READ, &o);
    fz_expect("mf_open", rc, open_codes);
    if (rc)
        return 0;

    static char names[FZ_MAX_NAMES][MF_NAME_MAX + 1];
    size_t nnames = 0;
    for (size_t i = 0; i < sizeof known_names / sizeof known_names[0]; i++)
        add_name(names, &nnames, known_names[i]);
    mf_iter it;
    mf_record_info ri;
    mf_iter_init(&it, mf, NULL);
    unsigned listed = 0;
    while ((rc = mf_iter_next(&it, &ri)) == 1) {
        if (++listed > len / sizeof(struct mf__payload) + 1)
            abort(); /* more records than the file can hold: a cycle */
        if (!memchr(ri.name, 0, sizeof ri.name) || !memchr(ri.class_name, 0,
                                                          sizeof ri.class_name))
            abort();
        add_name(names, &nnames, ri.name);
    }
    fz_expect("mf_iter_next", rc < 0 ? rc : 0, iter_codes);

    static unsigned char buf[1 << 16];
    for (size_t i = 0; i < nnames; i++) {
        /* An invalid name gives MF_ENAME; a valid one never does. */
        const int *nc = mf__check_record_name(names[i]) ? name_codes : NULL;
        rc = mf_stat(mf, names[i], &ri);
        fz_expect("mf_stat", rc, nc ? nc : stat_codes);
        if (nc && rc != MF_ENAME)
            fz_violation("mf_stat of an invalid name", rc);
        void *obj = NULL;
        const mf_class *cls = NULL;
        rc = mf_get(mf, names[i], &obj, &cls);
        fz_expect("mf_get", rc, nc ? nc : get_codes);
        if (rc == 0) {
            if (!obj || !cls)
                abort();
            fz_use_object(cls, obj);
            mf_object_free(cls, obj);
        } else if (obj) {
            abort();
        }
        rc = mf_get_raw(mf, names[i], buf, sizeof buf, &ri);
        fz_expect("mf_get_raw", rc, nc ? nc : raw_codes);
    }
    static const char *snap[FZ_MAX_NAMES];
    static void *objs[FZ_MAX_NAMES];
    static const mf_class *classes[FZ_MAX_NAMES];
    for (size_t i = 0; i < nnames; i++)
        snap[i] = names[i];
    rc = mf_get_snapshot(mf, snap, nnames, objs, classes, NULL);
    fz_expect("mf_get_snapshot", rc, snapshot_codes);
    if (rc == 0)
        for (size_t i = 0; i < nnames; i++)
            mf_object_free(classes[i], objs[i]);
    static FILE *sink;
    if (!sink && !(sink = fopen("/dev/null", "w")))
        abort();
    mf_print(mf, sink);
    mf_ls(mf, sink);
    uint64_t seen = 0;
    fz_expect("mf_wait", mf_wait(mf, &seen, 0), wait_codes);
    fz_expect("mf_wait", mf_wait(mf, &seen, 0), wait_codes);

    unsigned problems = 0, reported = 0;
    rc = mf_check(mf, count_problem, &reported, &problems);
    fz_expect("mf_check", rc, check_codes);
    if (rc == 0 && problems != reported)
        abort();
    mf_file_info fi;
    fz_expect("mf_file_stat", mf_file_stat(mf, &fi), check_codes);
    mf_close(mf);
    return 0;
}
