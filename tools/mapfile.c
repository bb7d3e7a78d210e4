/*
 * mapfile.c - the `mapfile` command-line tool: inspect, edit, check and
 * watch map files, list codecs and call methods on stored objects.
 *
 * Exit codes (every subcommand):
 *   0  success
 *   1  the thing asked for is missing or unusable (record, codec, method
 *      result), or `check` found problems
 *   2  usage error, or a file that cannot be opened (missing, not a map
 *      file, wrong version, corrupt header...)
 *
 * Errors go to stderr as "mapfile: FILE: what is wrong". Everything read
 * from a map file is printed through sanitizers: a hostile name cannot
 * inject terminal escapes or break the JSON output.
 *
 * Layout: small helpers (errors, output, JSON, tables, formatting), the
 * argument parser, then one cmd_* function per subcommand in the order of
 * the help text, then the command table and main().
 */
#include <mapfile/builtin.h>
#include <mapfile/mapfile.h>

#include "mirror_cmd.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_OK = 0, EXIT_MISSING = 1, EXIT_USAGE = 2 };

/* Biggest blob `put --blob` reads: the default map size limit. Anything
 * larger could never be stored, and /dev/zero must not eat all memory. */
#define BLOB_MAX ((uint64_t)1 << 30)

/* ------------------------------------------------------------------------ */
/* Safe text                                                                */
/* ------------------------------------------------------------------------ */

/* Copy @p s into @p dst (cap bytes) replacing control bytes and DEL by '?',
 * so names from a hostile file cannot drive the terminal. */
static void sanitize(char *dst, size_t cap, const char *s)
{
    size_t i = 0;
    if (!cap)
        return;
    for (; s && *s && i + 1 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        dst[i++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    dst[i] = '\0';
}

/* Print @p s to @p out with control bytes replaced, as sanitize(). */
static void fput_safe(const char *s, FILE *out)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        fputc((c < 0x20 || c == 0x7f) ? '?' : c, out);
    }
}

/* Display width of a UTF-8 string: one column per non-continuation byte. */
static size_t text_width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/* Format a message and print it sanitized: its arguments are names,
 * prefixes and options from the command line or a file. */
static void vfprintf_safe(FILE *out, const char *fmt, va_list ap)
{
    char small[1024];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    if ((size_t)n < sizeof small) {
        fput_safe(small, out);
    } else {
        char *big = malloc((size_t)n + 1);
        if (big) {
            vsnprintf(big, (size_t)n + 1, fmt, ap2);
            fput_safe(big, out);
            free(big);
        } else {
            fput_safe(small, out);
        }
    }
    va_end(ap2);
}

/* "mapfile: WHAT: message" where WHAT is a file or a subcommand. */
static void errorf(const char *what, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void errorf(const char *what, const char *fmt, ...)
{
    va_list ap;
    fputs("mapfile: ", stderr);
    if (what) {
        fput_safe(what, stderr);
        fputs(": ", stderr);
    }
    va_start(ap, fmt);
    vfprintf_safe(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Report a library error about @p file (and @p name, a record, if given):
 * "mapfile: FILE[: NAME]: short message[: detail]". The detail is read
 * first because any later library call may replace it. */
static void report_mf(const char *file, const char *name, int err)
{
    char raw[1024];
    sanitize(raw, sizeof raw, mf_errdetail());
    /* The library's detail starts with the path; we print it once. */
    const char *detail = raw;
    size_t flen = strlen(file);
    if (strncmp(detail, file, flen) == 0 && strncmp(detail + flen, ": ", 2) == 0)
        detail += flen + 2;
    fputs("mapfile: ", stderr);
    fput_safe(file, stderr);
    if (name) {
        fputs(": ", stderr);
        fput_safe(name, stderr);
    }
    /* The detail usually starts with the short message ("no codec for
     * class 'x': searched ..."); then it says everything on its own. */
    const char *msg = mf_strerror(err);
    if (strncmp(detail, msg, strlen(msg)) == 0)
        fprintf(stderr, ": %s\n", detail);
    else if (detail[0])
        fprintf(stderr, ": %s: %s\n", msg, detail);
    else
        fprintf(stderr, ": %s\n", msg);
}

/* Exit status for a failed record operation: a malformed argument is a
 * usage error, anything else means the record could not be had. */
static int record_status(int err)
{
    return (err == MF_ENAME || err == MF_EINVAL) ? EXIT_USAGE : EXIT_MISSING;
}

/* ------------------------------------------------------------------------ */
/* Growable output buffer (an mf_writer with a realloc reserve) and JSON     */
/* ------------------------------------------------------------------------ */

static int buf_reserve(mf_writer *w, size_t need)
{
    size_t want = w->len + need; /* mf_w_room() checked the overflow */
    size_t cap = w->cap ? w->cap : 256;
    while (cap < want)
        cap = cap > SIZE_MAX / 2 ? want : cap * 2;
    unsigned char *p = realloc(w->buf, cap);
    if (!p)
        return -1;
    w->buf = p;
    w->cap = cap;
    return 0;
}

static void buf_init(mf_writer *w)
{
    memset(w, 0, sizeof *w);
    w->reserve = buf_reserve;
}

static void buf_free(mf_writer *w)
{
    free(w->buf);
    memset(w, 0, sizeof *w);
}

/* Write the buffer to stdout; 0 or -1 (writer error or short write). */
static int buf_flush_stdout(mf_writer *w)
{
    if (w->err)
        return -1;
    if (w->len && fwrite(w->buf, 1, w->len, stdout) != w->len)
        return -1;
    return 0;
}

/* Length of a valid UTF-8 sequence at @p s (1-4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    unsigned cp = c & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0; /* also stops at the NUL */
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* A JSON string: escapes quotes, backslashes and control bytes, and turns
 * invalid UTF-8 (possible in a hostile file) into U+FFFD so the output is
 * always valid JSON. */
static void json_str(mf_writer *w, const char *str)
{
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    mf_w_u8(w, '"');
    while (*s) {
        unsigned c = *s;
        if (c == '"' || c == '\\') {
            mf_w_u8(w, '\\');
            mf_w_u8(w, (uint8_t)c);
            s++;
        } else if (c < 0x20 || c == 0x7f) {
            mf_w_printf(w, "\\u%04x", c);
            s++;
        } else {
            size_t n = utf8_seq(s);
            if (n) {
                mf_w_bytes(w, s, n);
                s += n;
            } else {
                mf_w_printf(w, "\\ufffd");
                s++;
            }
        }
    }
    mf_w_u8(w, '"');
}

static void json_key(mf_writer *w, int *first, const char *key)
{
    if (!*first)
        mf_w_u8(w, ',');
    *first = 0;
    json_str(w, key);
    mf_w_u8(w, ':');
}

static void json_kv_str(mf_writer *w, int *first, const char *key, const char *v)
{
    json_key(w, first, key);
    if (v)
        json_str(w, v);
    else
        mf_w_printf(w, "null");
}

static void json_kv_u64(mf_writer *w, int *first, const char *key, uint64_t v)
{
    json_key(w, first, key);
    mf_w_printf(w, "%" PRIu64, v);
}

static void json_kv_num(mf_writer *w, int *first, const char *key, double v)
{
    json_key(w, first, key);
    mf_w_json_num(w, v);
}

static void json_kv_bool(mf_writer *w, int *first, const char *key, int v)
{
    json_key(w, first, key);
    mf_w_printf(w, "%s", v ? "true" : "false");
}

/* ------------------------------------------------------------------------ */
/* Formatting                                                               */
/* ------------------------------------------------------------------------ */

static uint64_t now_realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double now_monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "1.2s", "42s", "3m", "5h", "12d"; "-" for a time never set. A time in
 * the future (clock skew between hosts) counts as just now. */
static void fmt_age(char *buf, size_t cap, uint64_t now_ns, uint64_t t_ns)
{
    if (t_ns == 0) {
        snprintf(buf, cap, "-");
        return;
    }
    uint64_t d = now_ns > t_ns ? now_ns - t_ns : 0;
    double s = (double)d / 1e9;
    uint64_t whole = d / 1000000000u;
    if (s < 10)
        snprintf(buf, cap, "%.1fs", s);
    else if (whole < 60)
        snprintf(buf, cap, "%" PRIu64 "s", whole);
    else if (whole < 3600)
        snprintf(buf, cap, "%" PRIu64 "m", whole / 60);
    else if (whole < 86400)
        snprintf(buf, cap, "%" PRIu64 "h", whole / 3600);
    else
        snprintf(buf, cap, "%" PRIu64 "d", whole / 86400);
}

/* ISO-8601 UTC with microseconds: 2024-11-25T17:01:02.123456Z. */
static void fmt_time(char *buf, size_t cap, uint64_t t_ns)
{
    time_t sec = (time_t)(t_ns / 1000000000u);
    unsigned usec = (unsigned)(t_ns % 1000000000u / 1000u);
    struct tm tm;
    if (t_ns == 0) {
        snprintf(buf, cap, "never");
        return;
    }
    if (!gmtime_r(&sec, &tm)) {
        snprintf(buf, cap, "%" PRIu64 " ns since the epoch", t_ns);
        return;
    }
    char date[32];
    size_t n = strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, cap, "%.*s.%06uZ", (int)n, date, usec % 1000000u);
}

/* "512.0 KiB", "3 B". */
static void fmt_bytes(char *buf, size_t cap, uint64_t n)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)n;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof unit / sizeof unit[0]) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%" PRIu64 " B", n);
    else
        snprintf(buf, cap, "%.1f %s", v, unit[u]);
}

/* "12.5%" of a whole, or "-" when the whole is zero. */
static void fmt_percent(char *buf, size_t cap, uint64_t part, uint64_t whole)
{
    if (whole == 0)
        snprintf(buf, cap, "-");
    else if (part && 1000.0 * (double)part < (double)whole)
        snprintf(buf, cap, "<0.1%%"); /* not "0.0%" when something is used */
    else
        snprintf(buf, cap, "%.1f%%", 100.0 * (double)part / (double)whole);
}

/* ------------------------------------------------------------------------ */
/* Tables                                                                   */
/* ------------------------------------------------------------------------ */

#define TABLE_MAX_COLS 8
#define CELL_MAX 1024

/* A table is built row by row (cells are copied and sanitized), then
 * printed with columns sized to their widest cell. */
typedef struct table {
    size_t ncols;
    const char *head[TABLE_MAX_COLS];
    int right[TABLE_MAX_COLS]; /* right-align (numbers) */
    size_t width[TABLE_MAX_COLS];
    char **cells; /* nrows * ncols */
    size_t nrows, cap;
    int oom;
} table;

static void table_init(table *t, size_t ncols, const char *const *head,
                       const int *right)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    for (size_t c = 0; c < ncols; c++) {
        t->head[c] = head[c];
        t->right[c] = right[c];
        t->width[c] = text_width(head[c]);
    }
}

static void table_free(table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

/* Add a row of ncols strings. Returns 0 or -1 (out of memory, sticky). */
static int table_add(table *t, const char *const *row)
{
    if (t->oom)
        return -1;
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        char **p = realloc(t->cells, cap * t->ncols * sizeof *p);
        if (!p) {
            t->oom = 1;
            return -1;
        }
        t->cells = p;
        t->cap = cap;
    }
    char **dst = t->cells + t->nrows * t->ncols;
    for (size_t c = 0; c < t->ncols; c++) {
        char tmp[CELL_MAX];
        sanitize(tmp, sizeof tmp, row[c]);
        dst[c] = strdup(tmp);
        if (!dst[c]) {
            for (size_t k = 0; k < c; k++)
                free(dst[k]);
            t->oom = 1;
            return -1;
        }
        size_t wd = text_width(tmp);
        if (wd > t->width[c])
            t->width[c] = wd;
    }
    t->nrows++;
    return 0;
}

static void print_cell(FILE *out, const char *s, size_t width, int right, int last)
{
    size_t pad = width - text_width(s);
    if (right)
        for (size_t i = 0; i < pad; i++)
            fputc(' ', out);
    fputs(s, out);
    if (!right && !last)
        for (size_t i = 0; i < pad; i++)
            fputc(' ', out);
}

static void print_row(const table *t, FILE *out, const char *const *row)
{
    for (size_t c = 0; c < t->ncols; c++) {
        if (c)
            fputs("  ", out);
        print_cell(out, row[c], t->width[c], t->right[c], c + 1 == t->ncols);
    }
    fputc('\n', out);
}

/* Print the header and at most @p max_rows rows (SIZE_MAX for all);
 * returns how many rows were left out. */
static size_t table_print(const table *t, FILE *out, size_t max_rows)
{
    print_row(t, out, t->head);
    size_t n = t->nrows < max_rows ? t->nrows : max_rows;
    for (size_t r = 0; r < n; r++)
        print_row(t, out, (const char *const *)(t->cells + r * t->ncols));
    return t->nrows - n;
}

/* ------------------------------------------------------------------------ */
/* Records                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct record_list {
    mf_record_info *v;
    size_t n, cap;
} record_list;

/* All records under @p prefix in insertion order. On error the list holds
 * what was read before it. Returns 0 or a negative MF_E* code. */
static int collect_records(mf_file *mf, const char *prefix, record_list *out)
{
    mf_iter it;
    mf_record_info info;
    int rc;
    out->n = 0;
    mf_iter_init(&it, mf, prefix);
    while ((rc = mf_iter_next(&it, &info)) == 1) {
        if (out->n == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 64;
            mf_record_info *p = realloc(out->v, cap * sizeof *p);
            if (!p)
                return MF_ENOMEM;
            out->v = p;
            out->cap = cap;
        }
        /* The library fills fixed arrays; terminate them anyway. */
        info.name[MF_NAME_MAX] = '\0';
        info.class_name[MF_CLASS_NAME_MAX] = '\0';
        out->v[out->n++] = info;
    }
    return rc < 0 ? rc : 0;
}

static void record_list_free(record_list *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* ------------------------------------------------------------------------ */
/* Command-line parsing                                                     */
/* ------------------------------------------------------------------------ */

enum opt_bit {
    OPT_LONG = 1u << 0,  /* -l, --long */
    OPT_JSON = 1u << 1,  /* --json */
    OPT_TEXT = 1u << 2,  /* --text STRING */
    OPT_BLOB = 1u << 3,  /* --blob FILE */
    OPT_COUNT = 1u << 4  /* --count N */
};

typedef struct args {
    const char *cmd;
    int help;
    int long_fmt, json;
    const char *text, *blob, *count;
    int npos;
    const char **pos;
} args;

typedef struct command {
    const char *name;
    int (*run)(const args *a);
    unsigned opts;      /* allowed enum opt_bit */
    int min_pos, max_pos; /* max_pos < 0: unlimited */
    int literal_after;  /* > 0: arguments after this many positionals are
                           never options (method arguments like -5) */
    const char *synopsis;
    const char *help;
} command;

static const command *find_command(const char *name);

static void print_usage_line(const command *c, FILE *out)
{
    fprintf(out, "usage: mapfile %s %s\n", c->name, c->synopsis);
}

static void print_command_help(const command *c)
{
    print_usage_line(c, stdout);
    putchar('\n');
    fputs(c->help, stdout);
}

/* Report a usage error for command @p c and return EXIT_USAGE. */
static int usage_error(const command *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int usage_error(const command *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "mapfile: %s: ", c->name);
    va_start(ap, fmt);
    vfprintf_safe(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    print_usage_line(c, stderr);
    fprintf(stderr, "Try 'mapfile %s --help' for more.\n", c->name);
    return EXIT_USAGE;
}

/* Store the value of an option that takes one; 0 or EXIT_USAGE. */
static int take_value(const command *c, const char *opt, const char **slot,
                      const char *inline_val, int argc, char **argv, int *i)
{
    if (*slot)
        return usage_error(c, "option '%s' given twice", opt);
    if (inline_val) {
        *slot = inline_val;
        return 0;
    }
    if (*i + 1 >= argc)
        return usage_error(c, "option '%s' needs a value", opt);
    *slot = argv[++*i];
    return 0;
}

/*
 * Parse argv (after the command name). Options may come anywhere, as
 * `--opt VALUE` or `--opt=VALUE`; `--` ends them. A lone "-" is a
 * positional. --help wins over every other problem. Returns 0, or
 * EXIT_USAGE after printing the problem.
 */
static int parse_args(const command *c, int argc, char **argv, args *a)
{
    int literal = 0;
    const char *bad = NULL;
    int rc = 0;
    memset(a, 0, sizeof *a);
    a->cmd = c->name;
    a->pos = calloc((size_t)argc + 1, sizeof *a->pos);
    if (!a->pos) {
        errorf(c->name, "out of memory");
        return EXIT_USAGE;
    }
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (!literal && c->literal_after > 0 && a->npos >= c->literal_after)
            literal = 1;
        if (literal || s[0] != '-' || s[1] == '\0') {
            a->pos[a->npos++] = s;
            continue;
        }
        if (strcmp(s, "--") == 0) {
            literal = 1;
            continue;
        }
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            a->help = 1;
            continue;
        }
        if (rc || bad)
            continue; /* keep scanning only for --help */
        const char *eq = strchr(s, '=');
        size_t klen = eq ? (size_t)(eq - s) : strlen(s);
        const char *val = eq ? eq + 1 : NULL;
#define IS(name) (klen == strlen(name) && strncmp(s, name, klen) == 0)
        if ((c->opts & OPT_LONG) && (strcmp(s, "-l") == 0 || strcmp(s, "--long") == 0)) {
            a->long_fmt = 1;
        } else if ((c->opts & OPT_JSON) && strcmp(s, "--json") == 0) {
            a->json = 1;
        } else if ((c->opts & OPT_TEXT) && IS("--text")) {
            rc = take_value(c, "--text", &a->text, val, argc, argv, &i);
        } else if ((c->opts & OPT_BLOB) && IS("--blob")) {
            rc = take_value(c, "--blob", &a->blob, val, argc, argv, &i);
        } else if ((c->opts & OPT_COUNT) && IS("--count")) {
            rc = take_value(c, "--count", &a->count, val, argc, argv, &i);
        } else {
            bad = s;
        }
#undef IS
    }
    if (a->help)
        return 0;
    if (rc)
        return rc;
    if (bad)
        return usage_error(c, "unknown option '%s'", bad);
    if (a->npos < c->min_pos)
        return usage_error(c, "missing argument");
    if (c->max_pos >= 0 && a->npos > c->max_pos)
        return usage_error(c, "unexpected argument '%s'", a->pos[c->max_pos]);
    return 0;
}

/* Open @p path for reading; on failure report and return non-zero. */
static int open_read(mf_file **mf, const char *path, int wait_ms)
{
    mf_open_options opts = MF_OPEN_OPTIONS_INIT;
    opts.wait_ms = wait_ms;
    int rc = mf_open(mf, path, MF_READ, &opts);
    if (rc < 0) {
        report_mf(path, NULL, rc);
        return rc;
    }
    return 0;
}

/* Finish writing stdout; a failed write (full disk, closed pipe) is an
 * error, never silent. */
static int finish_stdout(int status)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        errorf(NULL, "cannot write output: %s", strerror(errno));
        return status ? status : EXIT_USAGE;
    }
    return status;
}

/* ------------------------------------------------------------------------ */
/* info                                                                     */
/* ------------------------------------------------------------------------ */

static const char *writer_state_name(int s)
{
    switch (s) {
    case MF_WRITER_FREE:
        return "free";
    case MF_WRITER_HELD:
        return "held (a writer is updating the file)";
    case MF_WRITER_DEAD:
        return "abandoned by a crashed writer (the next writer repairs it)";
    }
    return "unknown";
}

static int cmd_info(const args *a)
{
    const char *path = a->pos[0];
    mf_file *mf;
    mf_file_info fi;
    char b1[64], b2[64], b3[64], b4[64];
    if (open_read(&mf, path, 0))
        return EXIT_USAGE;
    int rc = mf_file_stat(mf, &fi);
    if (rc < 0) {
        report_mf(path, NULL, rc);
        mf_close(mf);
        return EXIT_MISSING;
    }
    fi.title[sizeof fi.title - 1] = '\0';

    printf("Map file:        ");
    fput_safe(fi.path ? fi.path : path, stdout);
    printf("\nTitle:           ");
    fput_safe(fi.title, stdout);
    printf("\nFormat version:  %" PRIu32 "\n", fi.format_version);
    fmt_bytes(b1, sizeof b1, fi.capacity);
    fmt_percent(b2, sizeof b2, fi.capacity, fi.max_size);
    printf("Capacity:        %" PRIu64 " bytes (%s), %s of max size\n",
           fi.capacity, b1, b2);
    fmt_bytes(b1, sizeof b1, fi.heap_used);
    fmt_percent(b2, sizeof b2, fi.heap_used, fi.heap_size);
    fmt_percent(b3, sizeof b3, fi.heap_used, fi.max_size);
    printf("Used:            %" PRIu64 " bytes (%s), %s of heap, %s of max size\n",
           fi.heap_used, b1, b2, b3);
    fmt_bytes(b1, sizeof b1, fi.heap_size);
    fmt_bytes(b4, sizeof b4, fi.heap_free);
    printf("Heap:            %" PRIu64 " bytes (%s), %" PRIu64 " free (%s)\n",
           fi.heap_size, b1, fi.heap_free, b4);
    fmt_bytes(b1, sizeof b1, fi.max_size);
    printf("Max size:        %" PRIu64 " bytes (%s)\n", fi.max_size, b1);
    printf("Records:         %" PRIu64 "\n", fi.records);
    printf("Generation:      %" PRIu64 "\n", fi.generation);
    printf("Batch:           %" PRIu64 "\n", fi.batch);
    printf("Writer:          %s\n", writer_state_name(fi.writer_state));
    printf("Recoveries:      %" PRIu64 "%s\n", fi.recoveries,
           fi.recoveries ? " (crashed writers repaired)" : "");
    if (fi.retired)
        printf("Retired:         yes (replaced by a newer file at this path)\n");
    fmt_bytes(b1, sizeof b1, fi.best_buffer);
    printf("Best buffer:     %" PRIu64 " bytes (%s)\n", fi.best_buffer, b1);
    mf_close(mf);
    return finish_stdout(EXIT_OK);
}

/* ------------------------------------------------------------------------ */
/* ls                                                                       */
/* ------------------------------------------------------------------------ */

static int check_prefix(const command *c, const char *prefix)
{
    if (prefix && strlen(prefix) > MF_NAME_MAX)
        return usage_error(c, "prefix longer than %d bytes", MF_NAME_MAX);
    return 0;
}

static void ls_json(const record_list *l, int long_fmt, uint64_t now, mf_writer *w)
{
    mf_w_u8(w, '[');
    for (size_t i = 0; i < l->n; i++) {
        const mf_record_info *r = &l->v[i];
        int first = 1;
        char t[64];
        if (i)
            mf_w_u8(w, ',');
        mf_w_u8(w, '{');
        json_kv_str(w, &first, "name", r->name);
        json_kv_str(w, &first, "class", r->class_name);
        json_kv_u64(w, &first, "size", r->size);
        if (long_fmt) {
            json_kv_u64(w, &first, "version", r->class_version);
            json_kv_u64(w, &first, "updates", r->update_count);
            uint64_t d = now > r->update_time_ns ? now - r->update_time_ns : 0;
            json_kv_num(w, &first, "age", (double)d / 1e9);
            fmt_time(t, sizeof t, r->update_time_ns);
            json_kv_str(w, &first, "updated", t);
            json_kv_u64(w, &first, "generation", r->generation);
        }
        mf_w_u8(w, '}');
    }
    mf_w_printf(w, "]\n");
}

static int ls_table(const record_list *l, int long_fmt, uint64_t now)
{
    static const char *const head[] = {"NAME", "CLASS", "SIZE", "VERSION",
                                       "UPDATES", "AGE", "GENERATION"};
    static const int right[] = {0, 0, 1, 1, 1, 1, 1};
    table t;
    table_init(&t, long_fmt ? 7 : 3, head, right);
    for (size_t i = 0; i < l->n; i++) {
        const mf_record_info *r = &l->v[i];
        char size[24], ver[16], upd[24], age[32], gen[24];
        snprintf(size, sizeof size, "%" PRIu64, r->size);
        snprintf(ver, sizeof ver, "%" PRIu32, r->class_version);
        snprintf(upd, sizeof upd, "%" PRIu64, r->update_count);
        fmt_age(age, sizeof age, now, r->update_time_ns);
        snprintf(gen, sizeof gen, "%" PRIu64, r->generation);
        const char *row[] = {r->name, r->class_name, size, ver, upd, age, gen};
        table_add(&t, row);
    }
    int rc = t.oom ? -1 : 0;
    if (!rc)
        table_print(&t, stdout, SIZE_MAX);
    table_free(&t);
    return rc;
}

static int cmd_ls(const args *a)
{
    const command *c = find_command("ls");
    const char *path = a->pos[0];
    const char *prefix = a->npos > 1 ? a->pos[1] : NULL;
    record_list l = {0};
    mf_file *mf;
    int status = EXIT_OK;
    if (check_prefix(c, prefix))
        return EXIT_USAGE;
    if (open_read(&mf, path, 0))
        return EXIT_USAGE;
    int rc = collect_records(mf, prefix, &l);
    if (rc < 0) {
        report_mf(path, NULL, rc);
        status = EXIT_MISSING;
    } else if (prefix && prefix[0] && l.n == 0) {
        errorf(path, "no records under '%s'", prefix);
        status = EXIT_MISSING;
    }
    uint64_t now = now_realtime_ns();
    if (a->json) {
        mf_writer w;
        buf_init(&w);
        ls_json(&l, a->long_fmt, now, &w);
        if (buf_flush_stdout(&w)) {
            errorf(path, "out of memory");
            status = EXIT_MISSING;
        }
        buf_free(&w);
    } else if (l.n && ls_table(&l, a->long_fmt, now)) {
        errorf(path, "out of memory");
        status = EXIT_MISSING;
    }
    record_list_free(&l);
    mf_close(mf);
    return finish_stdout(status);
}

/* ------------------------------------------------------------------------ */
/* get                                                                      */
/* ------------------------------------------------------------------------ */

/* Fetch and rebuild record @p name; reports errors. Returns 0 or an exit
 * status. */
static int get_object(mf_file *mf, const char *path, const char *name,
                      void **obj, const mf_class **cls)
{
    int rc = mf_get(mf, name, obj, cls);
    if (rc < 0) {
        report_mf(path, name, rc);
        return record_status(rc);
    }
    return 0;
}

static int print_json_object(const char *path, const char *name,
                             const mf_class *cls, const void *obj)
{
    char cname[MF_CLASS_NAME_MAX + 1];
    sanitize(cname, sizeof cname, cls->name);
    if (!cls->to_json) {
        errorf(path, "%s: class '%s' has no to_json method (try 'mapfile dump')",
               name, cname);
        return EXIT_MISSING;
    }
    mf_writer w;
    buf_init(&w);
    int rc = cls->to_json(obj, &w);
    mf_w_u8(&w, '\n');
    int status = EXIT_OK;
    if (rc != 0 || w.err) {
        errorf(path, "%s: class '%s' failed to write JSON", name, cname);
        status = EXIT_MISSING;
    } else if (buf_flush_stdout(&w)) {
        status = EXIT_MISSING;
    }
    buf_free(&w);
    return status;
}

static int cmd_get(const args *a)
{
    const char *path = a->pos[0], *name = a->pos[1];
    mf_file *mf;
    void *obj;
    const mf_class *cls;
    int status;
    if (open_read(&mf, path, 0))
        return EXIT_USAGE;
    status = get_object(mf, path, name, &obj, &cls);
    if (status == 0) {
        if (!a->json && !cls->print && !cls->to_json) {
            char cname[MF_CLASS_NAME_MAX + 1];
            sanitize(cname, sizeof cname, cls->name);
            errorf(path, "%s: class '%s' has no print or to_json method (try "
                   "'mapfile dump')", name, cname);
            status = EXIT_MISSING;
        } else if (a->json || !cls->print) {
            status = print_json_object(path, name, cls, obj);
        } else {
            cls->print(obj, stdout);
            status = EXIT_OK;
        }
        mf_object_free(cls, obj);
    }
    mf_close(mf);
    return finish_stdout(status);
}

/* ------------------------------------------------------------------------ */
/* dump                                                                     */
/* ------------------------------------------------------------------------ */

/* hexdump -C style: offset, 16 bytes in two groups of 8, ASCII column. */
static void hexdump(const unsigned char *p, size_t n, FILE *out)
{
    for (size_t off = 0; off < n; off += 16) {
        size_t k = n - off < 16 ? n - off : 16;
        fprintf(out, "%08zx ", off);
        for (size_t i = 0; i < 16; i++) {
            if (i == 8)
                fputc(' ', out);
            if (i < k)
                fprintf(out, " %02x", p[off + i]);
            else
                fputs("   ", out);
        }
        fputs("  |", out);
        for (size_t i = 0; i < k; i++) {
            unsigned char c = p[off + i];
            fputc(c >= 0x20 && c < 0x7f ? c : '.', out);
        }
        fputs("|\n", out);
    }
}

static int cmd_dump(const args *a)
{
    const char *path = a->pos[0], *name = a->pos[1];
    mf_file *mf;
    void *data = NULL;
    mf_record_info ri;
    char t[64];
    if (open_read(&mf, path, 0))
        return EXIT_USAGE;
    int rc = mf_get_raw_alloc(mf, name, &data, &ri);
    if (rc < 0) {
        report_mf(path, name, rc);
        mf_close(mf);
        return record_status(rc);
    }
    ri.name[MF_NAME_MAX] = '\0';
    ri.class_name[MF_CLASS_NAME_MAX] = '\0';
    fmt_time(t, sizeof t, ri.update_time_ns);
    printf("name:       ");
    fput_safe(ri.name, stdout);
    printf("\nclass:      ");
    fput_safe(ri.class_name, stdout);
    printf("\nversion:    %" PRIu32 "\n", ri.class_version);
    printf("size:       %" PRIu64 "\n", ri.size);
    printf("checksum:   0x%016" PRIx64 "\n", ri.checksum);
    printf("generation: %" PRIu64 "\n", ri.generation);
    printf("updates:    %" PRIu64 "\n", ri.update_count);
    printf("updated:    %s\n", t);
    printf("batch:      %" PRIu64 "\n", ri.batch);
    if (ri.size) {
        putchar('\n');
        hexdump(data, (size_t)ri.size, stdout);
    }
    free(data);
    mf_close(mf);
    return finish_stdout(EXIT_OK);
}

/* ------------------------------------------------------------------------ */
/* put                                                                      */
/* ------------------------------------------------------------------------ */

/* Read all of @p file ("-" for stdin) into a new buffer. Returns 0 or
 * reports and returns EXIT_USAGE. */
static int read_blob(const char *file, unsigned char **out, size_t *len)
{
    int is_stdin = strcmp(file, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(file, "rb");
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    if (!f) {
        errorf(file, "cannot open: %s", strerror(errno));
        return EXIT_USAGE;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
        (uint64_t)st.st_size > BLOB_MAX) {
        errorf(file, "larger than %" PRIu64 " bytes", BLOB_MAX);
        goto fail;
    }
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            if (ncap > BLOB_MAX + 1)
                ncap = BLOB_MAX + 1;
            unsigned char *p = realloc(buf, ncap);
            if (!p) {
                errorf(file, "out of memory");
                goto fail;
            }
            buf = p;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n > BLOB_MAX) {
            errorf(file, "larger than %" PRIu64 " bytes", BLOB_MAX);
            goto fail;
        }
        if (got == 0) {
            if (ferror(f)) {
                errorf(file, "cannot read: %s", strerror(errno));
                goto fail;
            }
            break;
        }
    }
    if (!is_stdin)
        fclose(f);
    *out = buf;
    *len = n;
    return 0;
fail:
    if (!is_stdin)
        fclose(f);
    free(buf);
    return EXIT_USAGE;
}

static int cmd_put(const args *a)
{
    const command *c = find_command("put");
    const char *path = a->pos[0], *name = a->pos[1];
    unsigned char *blob = NULL;
    size_t blob_len = 0;
    mf_file *mf;
    if (!a->text == !a->blob)
        return usage_error(c, "give exactly one of --text STRING or --blob FILE");
    if (a->blob && read_blob(a->blob, &blob, &blob_len))
        return EXIT_USAGE;
    int rc = mf_open(&mf, path, MF_UPDATE, NULL);
    if (rc < 0) {
        report_mf(path, NULL, rc);
        free(blob);
        return EXIT_USAGE;
    }
    /* Both go through the built-in codecs, so what is stored is exactly
     * what `get` rebuilds, whatever their payload format. */
    if (a->text) {
        rc = mf_put(mf, name, MF_TEXT_CLASS, a->text);
    } else {
        mf_blob b = {blob_len, blob};
        rc = mf_put(mf, name, MF_BLOB_CLASS, &b);
    }
    int status = EXIT_OK;
    if (rc < 0) {
        report_mf(path, name, rc);
        status = record_status(rc);
    }
    free(blob);
    rc = mf_close(mf);
    if (rc < 0 && status == EXIT_OK) {
        report_mf(path, NULL, rc);
        status = EXIT_MISSING;
    }
    return status;
}

/* ------------------------------------------------------------------------ */
/* rm                                                                       */
/* ------------------------------------------------------------------------ */

static int cmd_rm(const args *a)
{
    const char *path = a->pos[0];
    mf_file *mf;
    /* Validate read-only first: UPDATE would create a missing file, and rm
     * must never create or convert anything. */
    if (open_read(&mf, path, 0))
        return EXIT_USAGE;
    mf_close(mf);
    mf_open_options opts = MF_OPEN_OPTIONS_INIT;
    int rc = mf_open(&mf, path, MF_UPDATE, &opts);
    if (rc < 0) {
        report_mf(path, NULL, rc);
        return EXIT_USAGE;
    }
    int status = EXIT_OK;
    for (int i = 1; i < a->npos; i++) {
        rc = mf_remove(mf, a->pos[i]);
        if (rc < 0) {
            report_mf(path, a->pos[i], rc);
            int s = record_status(rc);
            if (s > status)
                status = s;
        }
    }
    rc = mf_close(mf);
    if (rc < 0 && status == EXIT_OK) {
        report_mf(path, NULL, rc);
        status = EXIT_MISSING;
    }
    return status;
}

/* ------------------------------------------------------------------------ */
/* check                                                                    */
/* ------------------------------------------------------------------------ */

static void check_report(void *ud, const char *problem)
{
    unsigned *seen = ud;
    (*seen)++;
    fputs("problem: ", stdout);
    fput_safe(problem, stdout);
    fputc('\n', stdout);
}

static int cmd_check(const args *a)
{
    const char *path = a->pos[0];
    mf_file *mf;
    mf_file_info fi;
    unsigned problems = 0, printed = 0;
    if (open_read(&mf, path, 0))
        return EXIT_USAGE;
    int rc = mf_check(mf, check_report, &printed, &problems);
    if (rc < 0) {
        report_mf(path, NULL, rc);
        mf_close(mf);
        finish_stdout(EXIT_MISSING);
        return EXIT_MISSING;
    }
    if (printed > problems)
        problems = printed;
    int status;
    if (problems) {
        fput_safe(path, stdout);
        printf(": %u problem%s\n", problems, problems == 1 ? "" : "s");
        status = EXIT_MISSING;
    } else {
        mf_file_stat(mf, &fi);
        fput_safe(path, stdout);
        printf(": ok, %" PRIu64 " record%s\n", fi.records, fi.records == 1 ? "" : "s");
        status = EXIT_OK;
    }
    mf_close(mf);
    return finish_stdout(status);
}

/* ------------------------------------------------------------------------ */
/* watch                                                                    */
/* ------------------------------------------------------------------------ */

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* SIGINT/SIGTERM set a flag; no SA_RESTART so a blocking wait returns. */
static void install_stop_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Update counts of the previous redraw, sorted by name for lookup. */
typedef struct prev_count {
    char name[MF_NAME_MAX + 1];
    uint64_t updates;
} prev_count;

typedef struct watch_state {
    prev_count *prev;
    size_t nprev;
    double prev_t; /* monotonic seconds of the previous redraw, 0 if none */
} watch_state;

static int prev_cmp(const void *x, const void *y)
{
    return strcmp(((const prev_count *)x)->name, ((const prev_count *)y)->name);
}

/* Remember this redraw's counts; keeps the old ones if out of memory. */
static void watch_remember(watch_state *ws, const record_list *l, double t)
{
    prev_count *p = l->n ? malloc(l->n * sizeof *p) : NULL;
    if (l->n && !p) {
        return;
    }
    for (size_t i = 0; i < l->n; i++) {
        memcpy(p[i].name, l->v[i].name, sizeof p[i].name);
        p[i].updates = l->v[i].update_count;
    }
    if (l->n)
        qsort(p, l->n, sizeof *p, prev_cmp);
    free(ws->prev);
    ws->prev = p;
    ws->nprev = l->n;
    ws->prev_t = t;
}

/* Updates per second since the previous redraw, or "-" when unknown (first
 * redraw, new record, or a recreated file whose counts restarted). */
static void watch_rate(const watch_state *ws, const mf_record_info *r, double t,
                       char *buf, size_t cap)
{
    prev_count key;
    snprintf(buf, cap, "-");
    if (!ws->prev || t <= ws->prev_t)
        return;
    memcpy(key.name, r->name, sizeof key.name);
    const prev_count *p = bsearch(&key, ws->prev, ws->nprev, sizeof *p, prev_cmp);
    if (!p || r->update_count < p->updates)
        return;
    snprintf(buf, cap, "%.1f", (double)(r->update_count - p->updates) / (t - ws->prev_t));
}

static int terminal_rows(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0)
        return ws.ws_row;
    return 24;
}

/*
 * Draw one table of the records under @p prefix. @p counted: a redraw for a
 * change (the update rates advance); otherwise an age refresh on a tty that
 * keeps the previous rates' baseline.
 */
static int watch_draw(mf_file *mf, const char *path, const char *prefix,
                      int tty, uint64_t gen, watch_state *ws, record_list *l,
                      int counted)
{
    static const char *const head[] = {"NAME", "CLASS", "SIZE", "UPDATES", "UPD/S", "AGE"};
    static const int right[] = {0, 0, 1, 1, 1, 1};
    int rc = collect_records(mf, prefix, l);
    if (rc < 0) {
        report_mf(path, NULL, rc);
        return EXIT_MISSING;
    }
    double t = now_monotonic_s();
    uint64_t now = now_realtime_ns();
    char when[64];
    fmt_time(when, sizeof when, now);

    table tb;
    table_init(&tb, 6, head, right);
    for (size_t i = 0; i < l->n; i++) {
        const mf_record_info *r = &l->v[i];
        char size[24], upd[24], rate[32], age[32];
        snprintf(size, sizeof size, "%" PRIu64, r->size);
        snprintf(upd, sizeof upd, "%" PRIu64, r->update_count);
        watch_rate(ws, r, t, rate, sizeof rate);
        fmt_age(age, sizeof age, now, r->update_time_ns);
        const char *row[] = {r->name, r->class_name, size, upd, rate, age};
        table_add(&tb, row);
    }
    if (tb.oom) {
        table_free(&tb);
        errorf(path, "out of memory");
        return EXIT_MISSING;
    }
    if (tty)
        fputs("\033[H\033[2J", stdout);
    printf("--- ");
    fput_safe(path, stdout);
    printf("  %s  generation %" PRIu64 "  %zu record%s ---\n", when, gen, l->n,
           l->n == 1 ? "" : "s");
    size_t max_rows = SIZE_MAX;
    if (tty) {
        int rows = terminal_rows() - 3; /* title, header, "more" line */
        max_rows = rows > 1 ? (size_t)rows : 1;
    }
    size_t left = table_print(&tb, stdout, max_rows);
    if (left)
        printf("... %zu more\n", left);
    table_free(&tb);
    if (counted)
        watch_remember(ws, l, t);
    fflush(stdout);
    return ferror(stdout) ? finish_stdout(EXIT_USAGE) : 0;
}

/* On a terminal, redraw at most this often: a producer updating at kHz
 * rates would otherwise make the screen flicker and burn a core. Changes
 * made meanwhile are merged into the next redraw, never lost. */
#define WATCH_TTY_MIN_INTERVAL_S 0.05

static void sleep_until(double t_mono)
{
    double d = t_mono - now_monotonic_s();
    if (d <= 0)
        return;
    struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
    nanosleep(&ts, NULL); /* a signal cuts it short: fine, we check after */
}

static int parse_count(const command *c, const char *s, unsigned long *out)
{
    char *end;
    if (!s) {
        *out = 0;
        return 0;
    }
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end || errno || v == 0)
        return usage_error(c, "--count needs a positive integer, not '%s'", s);
    *out = v;
    return 0;
}

static int cmd_watch(const args *a)
{
    const command *c = find_command("watch");
    const char *path = a->pos[0];
    const char *prefix = a->npos > 1 ? a->pos[1] : NULL;
    unsigned long count = 0, redraws = 0;
    mf_file *mf;
    mf_file_info fi;
    record_list l = {0};
    watch_state ws = {0};
    int tty = isatty(STDOUT_FILENO);
    if (parse_count(c, a->count, &count) || check_prefix(c, prefix))
        return EXIT_USAGE;
    if (access(path, F_OK) != 0 && errno == ENOENT)
        errorf(path, "waiting for the file to appear");
    /* Before the file is open Ctrl-C simply ends the process: there is
     * nothing to clean up yet. */
    if (open_read(&mf, path, -1))
        return EXIT_USAGE;
    install_stop_handlers();

    /* Take the generation before reading the records: a change made while
     * drawing then wakes the next wait instead of being missed. */
    mf_file_stat(mf, &fi);
    uint64_t seen = fi.generation;
    int status = watch_draw(mf, path, prefix, tty, seen, &ws, &l, 1);
    if (!status)
        redraws++;
    double last_draw = now_monotonic_s();
    while (!status && !stop_requested && (count == 0 || redraws < count)) {
        if (tty)
            sleep_until(last_draw + WATCH_TTY_MIN_INTERVAL_S);
        if (stop_requested)
            break;
        int rc = mf_wait(mf, &seen, 1000);
        if (stop_requested)
            break;
        if (rc == MF_ETIMEDOUT) {
            if (tty)
                status = watch_draw(mf, path, prefix, tty, seen, &ws, &l, 0);
            continue;
        }
        if (rc < 0) {
            report_mf(path, NULL, rc);
            status = EXIT_MISSING;
            break;
        }
        status = watch_draw(mf, path, prefix, tty, seen, &ws, &l, 1);
        last_draw = now_monotonic_s();
        if (!status)
            redraws++;
    }
    free(ws.prev);
    record_list_free(&l);
    mf_close(mf);
    return finish_stdout(status);
}

/* ------------------------------------------------------------------------ */
/* plugins                                                                  */
/* ------------------------------------------------------------------------ */

static void plugins_json(const mf_registry_plugin *pl, size_t n,
                         const char *const *dirs, int long_fmt, mf_writer *w)
{
    int first = 1;
    mf_w_u8(w, '{');
    json_key(w, &first, "search_path");
    mf_w_u8(w, '[');
    for (size_t i = 0; dirs && dirs[i]; i++) {
        if (i)
            mf_w_u8(w, ',');
        json_str(w, dirs[i]);
    }
    mf_w_u8(w, ']');
    json_key(w, &first, "plugins");
    mf_w_u8(w, '[');
    for (size_t i = 0; i < n; i++) {
        const mf_registry_plugin *p = &pl[i];
        int f = 1;
        if (i)
            mf_w_u8(w, ',');
        mf_w_u8(w, '{');
        json_kv_str(w, &f, "path", p->path);
        json_kv_str(w, &f, "name", p->name);
        json_kv_bool(w, &f, "loaded", p->loaded);
        json_kv_u64(w, &f, "abi_major", p->abi_major);
        json_kv_u64(w, &f, "abi_minor", p->abi_minor);
        json_kv_str(w, &f, "error", p->loaded ? NULL : mf_err_name(p->error));
        json_kv_str(w, &f, "error_msg", p->loaded ? NULL : p->error_msg);
        json_key(w, &f, "classes");
        mf_w_u8(w, '[');
        for (size_t k = 0; k < p->nclasses; k++) {
            const mf_registry_class *rc = &p->classes[k];
            int g = 1;
            if (k)
                mf_w_u8(w, ',');
            mf_w_u8(w, '{');
            json_kv_str(w, &g, "name", rc->name);
            json_kv_u64(w, &g, "version", rc->version);
            json_kv_u64(w, &g, "min_version", rc->min_version);
            json_kv_bool(w, &g, "shadowed", rc->shadowed);
            json_kv_str(w, &g, "shadowed_by", rc->shadowed ? rc->shadowed_by : NULL);
            if (long_fmt) {
                const mf_method_info *m = NULL;
                int nm = rc->cls ? mf_class_methods(rc->cls, &m) : 0;
                json_key(w, &g, "methods");
                mf_w_u8(w, '[');
                for (int j = 0; j < nm; j++) {
                    int h = 1;
                    if (j)
                        mf_w_u8(w, ',');
                    mf_w_u8(w, '{');
                    json_kv_str(w, &h, "name", m[j].name);
                    json_kv_str(w, &h, "signature", m[j].signature);
                    mf_w_u8(w, '}');
                }
                mf_w_u8(w, ']');
            }
            mf_w_u8(w, '}');
        }
        mf_w_printf(w, "]}");
    }
    mf_w_printf(w, "]}\n");
}

static void plugins_text(const mf_registry_plugin *pl, size_t n,
                         const char *const *dirs, int long_fmt)
{
    printf("Search path:\n");
    if (!dirs || !dirs[0])
        printf("  (empty)\n");
    for (size_t i = 0; dirs && dirs[i]; i++) {
        printf("  %zu. ", i + 1);
        fput_safe(dirs[i], stdout);
        putchar('\n');
    }
    printf("Plugins:\n");
    if (n == 0)
        printf("  (none found)\n");
    for (size_t i = 0; i < n; i++) {
        const mf_registry_plugin *p = &pl[i];
        printf("  ");
        fput_safe(p->path, stdout);
        if (p->loaded) {
            printf("  [");
            if (p->name) {
                fput_safe(p->name, stdout);
                printf(", ");
            }
            printf("ABI %u.%u]\n", p->abi_major, p->abi_minor);
        } else {
            printf("  FAILED: %s", mf_strerror(p->error));
            if (p->error_msg) {
                printf(": ");
                fput_safe(p->error_msg, stdout);
            }
            putchar('\n');
        }
        for (size_t k = 0; k < p->nclasses; k++) {
            const mf_registry_class *rc = &p->classes[k];
            printf("    ");
            fput_safe(rc->name, stdout);
            printf("  version %" PRIu32 ", reads %" PRIu32 "..%" PRIu32,
                   rc->version, rc->min_version, rc->version);
            if (rc->shadowed) {
                printf("  SHADOWED by ");
                fput_safe(rc->shadowed_by ? rc->shadowed_by : "?", stdout);
            }
            putchar('\n');
            if (long_fmt && rc->cls) {
                const mf_method_info *m = NULL;
                int nm = mf_class_methods(rc->cls, &m);
                for (int j = 0; j < nm; j++) {
                    printf("      ");
                    fput_safe(m[j].name, stdout);
                    putchar(' ');
                    fput_safe(m[j].signature, stdout);
                    putchar('\n');
                }
            }
        }
    }
}

static int cmd_plugins(const args *a)
{
    const mf_registry_plugin *pl;
    size_t n;
    const char *const *dirs = NULL;
    mf_registry *reg = mf_registry_default();
    if (!reg) {
        errorf("plugins", "cannot create the codec registry: out of memory");
        return EXIT_MISSING;
    }
    int rc = mf_registry_list(reg, &pl, &n, &dirs);
    if (rc < 0) {
        report_mf("plugins", NULL, rc);
        return EXIT_MISSING;
    }
    int status = EXIT_OK;
    if (a->json) {
        mf_writer w;
        buf_init(&w);
        plugins_json(pl, n, dirs, a->long_fmt, &w);
        if (buf_flush_stdout(&w)) {
            errorf("plugins", "out of memory");
            status = EXIT_MISSING;
        }
        buf_free(&w);
    } else {
        plugins_text(pl, n, dirs, a->long_fmt);
    }
    return finish_stdout(status);
}

/* ------------------------------------------------------------------------ */
/* call                                                                     */
/* ------------------------------------------------------------------------ */

/* Split a signature "R(o,A,B)" into its return letter and argument letters
 * after the object. Returns the number of arguments, or -1 if malformed. */
static int parse_signature(const char *sig, char *ret, char *argl, size_t cap)
{
    size_t n = 0;
    if (!sig || !sig[0] || sig[1] != '(' || sig[2] != 'o')
        return -1;
    *ret = sig[0];
    const char *p = sig + 3;
    while (*p == ',') {
        if (!p[1] || p[1] == ',' || p[1] == ')' || n >= cap)
            return -1;
        argl[n++] = p[1];
        p += 2;
    }
    if (p[0] != ')' || p[1] != '\0')
        return -1;
    return (int)n;
}

static const char *type_word(char t)
{
    switch (t) {
    case 'i':
        return "a signed integer";
    case 'u':
        return "an unsigned integer";
    case 'd':
        return "a number";
    case 's':
        return "a string";
    }
    return "a value of an unsupported type";
}

/* Parse @p s as a whole for type letter @p t into @p v; 0 or -1. */
static int parse_arg(char t, const char *s, mf_value *v)
{
    char *end;
    /* strto* skip leading blanks and strtoull wraps "-1": the whole string
     * must be the number. */
    int starts_ok = s[0] && !(s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r'));
    errno = 0;
    switch (t) {
    case 'i':
        v->type = MF_T_I64;
        v->v.i = strtoll(s, &end, 10);
        return starts_ok && !*end && !errno ? 0 : -1;
    case 'u':
        v->type = MF_T_U64;
        if (s[0] == '-' || s[0] == '+')
            return -1;
        v->v.u = strtoull(s, &end, 10);
        return starts_ok && !*end && !errno ? 0 : -1;
    case 'd':
        v->type = MF_T_F64;
        v->v.d = strtod(s, &end);
        /* Underflow to a tiny value is fine; overflow is not. */
        if (errno == ERANGE && fabs(v->v.d) < 1.0)
            errno = 0;
        return starts_ok && !*end && !errno ? 0 : -1;
    case 's':
        v->type = MF_T_STR;
        v->v.s = s;
        return 0;
    }
    return -1;
}

static void list_methods(const mf_method_info *m, int n, const char *cname)
{
    if (n <= 0) {
        fprintf(stderr, "class '%s' has no methods\n", cname);
        return;
    }
    fprintf(stderr, "methods of class '%s':\n", cname);
    for (int i = 0; i < n; i++) {
        fputs("  ", stderr);
        fput_safe(m[i].name, stderr);
        fputc(' ', stderr);
        fput_safe(m[i].signature, stderr);
        fputc('\n', stderr);
    }
}

static void print_value(const mf_value *v)
{
    switch (v->type) {
    case MF_T_I64:
        printf("%" PRId64 "\n", v->v.i);
        break;
    case MF_T_U64:
        printf("%" PRIu64 "\n", v->v.u);
        break;
    case MF_T_F64:
        printf("%.17g\n", v->v.d);
        break;
    case MF_T_STR:
        printf("%s\n", v->v.s ? v->v.s : "");
        break;
    default:
        break; /* void */
    }
}

/* Find, check and call the method; the object is the caller's. */
static int call_method(const char *path, const char *name, const mf_class *cls,
                       void *obj, const char *method, int nargs,
                       const char *const *argv)
{
    const mf_method_info *m = NULL;
    char cname[MF_CLASS_NAME_MAX + 1];
    char ret, argl[64];
    mf_value vals[64], result;
    sanitize(cname, sizeof cname, cls->name);
    int nm = mf_class_methods(cls, &m);
    if (nm < 0) {
        report_mf(path, name, nm);
        return EXIT_MISSING;
    }
    const mf_method_info *mi = NULL;
    for (int i = 0; i < nm; i++)
        if (m[i].name && strcmp(m[i].name, method) == 0)
            mi = &m[i];
    if (!mi) {
        errorf(path, "%s: class '%s' has no method '%s'", name, cname, method);
        list_methods(m, nm, cname);
        return EXIT_USAGE;
    }
    int want = parse_signature(mi->signature, &ret, argl, sizeof argl);
    if (want < 0) {
        errorf(path, "%s: method '%s' of class '%s' has a malformed signature",
               name, method, cname);
        return EXIT_MISSING;
    }
    if (nargs != want) {
        errorf("call", "%s %s takes %d argument%s, got %d", method, mi->signature,
               want, want == 1 ? "" : "s", nargs);
        return EXIT_USAGE;
    }
    for (int i = 0; i < nargs; i++) {
        if (parse_arg(argl[i], argv[i], &vals[i]) != 0) {
            errorf("call", "%s %s: argument %d '%s' is not %s", method,
                   mi->signature, i + 1, argv[i], type_word(argl[i]));
            return EXIT_USAGE;
        }
    }
    memset(&result, 0, sizeof result);
    int rc = mf_call(cls, obj, method, vals, (size_t)nargs, &result);
    if (rc < 0) {
        report_mf(path, name, rc);
        return (rc == MF_EARGS || rc == MF_ENOMETHOD) ? EXIT_USAGE : EXIT_MISSING;
    }
    print_value(&result);
    return EXIT_OK;
}

static int cmd_call(const args *a)
{
    const char *path = a->pos[0], *name = a->pos[1], *method = a->pos[2];
    mf_file *mf;
    void *obj;
    const mf_class *cls;
    if (a->npos - 3 > 64)
        return usage_error(find_command("call"), "too many method arguments");
    if (open_read(&mf, path, 0))
        return EXIT_USAGE;
    int status = get_object(mf, path, name, &obj, &cls);
    if (status == 0) {
        status = call_method(path, name, cls, obj, method, a->npos - 3, a->pos + 3);
        mf_object_free(cls, obj);
    }
    mf_close(mf);
    return finish_stdout(status);
}

/* ------------------------------------------------------------------------ */
/* Command table, help and main                                             */
/* ------------------------------------------------------------------------ */

static int cmd_help(const args *a);

static const command commands[] = {
    {"info", cmd_info, 0, 1, 1, 0, "FILE",
     "Describe a map file: path, title, format version, capacity and used\n"
     "bytes (and how close they are to the maximum size), records,\n"
     "generation, batch, writer lock state, crash recoveries and the\n"
     "producer's best-buffer estimate.\n"},
    {"ls", cmd_ls, OPT_LONG | OPT_JSON, 1, 2, 0, "[-l] [--json] FILE [PREFIX]",
     "List records in insertion order: name, class and payload size.\n"
     "PREFIX lists only names starting with it; end it with '/' to list one\n"
     "folder of path-like names. Exit 1 if PREFIX matches nothing.\n"
     "\n"
     "  -l, --long  also show class version, update count, age since the last\n"
     "              update and generation\n"
     "  --json      print one JSON array of objects\n"},
    {"get", cmd_get, OPT_JSON, 2, 2, 0, "[--json] FILE NAME",
     "Rebuild the object NAME with its codec and print it. Exit 1 if there is\n"
     "no such record or no codec for its class (the error names the class\n"
     "and the plugin search path).\n"
     "\n"
     "  --json  print the object as JSON (numbers at full precision)\n"},
    {"dump", cmd_dump, 0, 2, 2, 0, "FILE NAME",
     "Print the record header of NAME and its raw payload as a hex dump\n"
     "(offset, 16 bytes, ASCII). Needs no codec.\n"},
    {"put", cmd_put, OPT_TEXT | OPT_BLOB, 2, 2, 0,
     "FILE NAME (--text STRING | --blob FILE)",
     "Store a record, opening FILE for update (it is created if missing).\n"
     "\n"
     "  --text STRING  store STRING as a record of class \"text\"\n"
     "  --blob FILE    store the bytes of FILE (\"-\" for stdin) as class \"blob\"\n"
     "                 (at most 1 GiB)\n"},
    {"rm", cmd_rm, 0, 2, -1, 0, "FILE NAME...",
     "Remove records. Every name is tried; exit 1 if any was missing.\n"},
    {"check", cmd_check, 0, 1, 1, 0, "FILE",
     "Verify the header, the heap, the directory and every record's checksum.\n"
     "Prints each problem as \"problem: ...\" then a summary line; exit 1 if\n"
     "there were problems.\n"},
    {"watch", cmd_watch, OPT_COUNT, 1, 2, 0, "FILE [PREFIX] [--count N]",
     "Show a live table (name, class, size, updates, updates per second and\n"
     "age since the last update) redrawn on every change. Waits for FILE to\n"
     "appear and follows it when the producer recreates it. On a terminal\n"
     "the screen is redrawn in place (at most 20 times a second, and every\n"
     "second to refresh ages); otherwise one table is printed per change\n"
     "after a header line with the time and generation. Stops on Ctrl-C.\n"
     "\n"
     "  --count N  stop after N tables\n"},
    {"plugins", cmd_plugins, OPT_LONG | OPT_JSON, 0, 0, 0, "[-l] [--json]",
     "List the codec search path in order, then every plugin found with its\n"
     "ABI and classes (version and oldest readable version), shadowed\n"
     "duplicates with the entry that wins, and plugins that failed to load\n"
     "with the reason. MAPFILE_PLUGIN_PATH (colon-separated) comes first.\n"
     "\n"
     "  -l, --long  also list each class's methods with their signatures\n"
     "  --json      print one JSON object\n"},
    {"call", cmd_call, 0, 3, -1, 3, "FILE NAME METHOD [ARG...]",
     "Rebuild the object NAME and call METHOD on it. Each ARG is parsed by\n"
     "the method's signature (i: integer, u: unsigned, d: number, s: string)\n"
     "and the result is printed (doubles with 17 significant digits).\n"
     "Arguments after METHOD are never options, so negative numbers work.\n"
     "Exit 2 for an unknown method or wrong arguments.\n"},
    {"mirror", NULL, 0, 0, -1, 0,
     "push FILE --redis ENDPOINT | pull ENDPOINT FILE",
     "Keep map files on other hosts in step through Redis; see\n"
     "'mapfile mirror --help'.\n"},
    {"help", cmd_help, 0, 0, 1, 0, "[COMMAND]", "Show help for mapfile or one command.\n"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void print_main_help(FILE *out)
{
    fputs("usage: mapfile COMMAND [ARGS...]\n"
          "       mapfile COMMAND --help\n"
          "\n"
          "Inspect and edit map files: live objects shared between processes\n"
          "through one memory-mapped file.\n"
          "\n"
          "Commands:\n",
          out);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].synopsis);
    fputs("\n"
          "Exit status: 0 success; 1 the record, codec or result asked for is\n"
          "missing, or check found problems; 2 usage error or a file that\n"
          "cannot be opened.\n"
          "Codecs are searched in MAPFILE_PLUGIN_PATH (colon-separated), then\n"
          "the built-in plugin directories; see 'mapfile plugins'.\n",
          out);
}

static int cmd_help(const args *a)
{
    if (a->npos == 0) {
        print_main_help(stdout);
        return finish_stdout(EXIT_OK);
    }
    const command *c = find_command(a->pos[0]);
    if (!c) {
        errorf(NULL, "unknown command '%s'", a->pos[0]);
        return EXIT_USAGE;
    }
    if (!c->run) {
        char help[] = "--help", *argv[] = {help, NULL};
        return mapfile_mirror_command(1, argv);
    }
    print_command_help(c);
    return finish_stdout(EXIT_OK);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_main_help(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        print_main_help(stdout);
        return finish_stdout(EXIT_OK);
    }
    if (strcmp(name, "--version") == 0) {
        printf("mapfile %d.%d.%d (file format %d)\n", MF_VERSION_MAJOR,
               MF_VERSION_MINOR, MF_VERSION_PATCH, MF_FORMAT_VERSION);
        return finish_stdout(EXIT_OK);
    }
    const command *c = find_command(name);
    if (!c) {
        errorf(NULL, "unknown command '%s'", name);
        fputs("Try 'mapfile --help'.\n", stderr);
        return EXIT_USAGE;
    }
    if (!c->run) /* mirror parses its own arguments */
        return mapfile_mirror_command(argc - 2, argv + 2);
    args a;
    int rc = parse_args(c, argc - 2, argv + 2, &a);
    if (rc == 0) {
        if (a.help) {
            print_command_help(c);
            rc = finish_stdout(EXIT_OK);
        } else {
            rc = c->run(&a);
        }
    }
    free(a.pos);
    return rc;
}
