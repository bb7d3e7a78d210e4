/*
 * watch.c - `mapf watch FILE [PREFIX]`: a live table of records redrawn on
 * every change (mf_wait, never polling). On a terminal the screen is
 * redrawn in place; otherwise one table is printed per change.
 */
#include "mapf.h"

#include "table.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* On a terminal, redraw at most this often: a producer updating at kHz
 * rates would otherwise make the screen flicker and burn a core. Changes
 * made meanwhile are merged into the next redraw, never lost. */
#define WATCH_TTY_MIN_INTERVAL_S 0.05

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
    if (l->n && !p)
        return;
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

/* The terminal's size; 24x80 when it does not say. */
static void terminal_size(int *rows, int *cols)
{
    struct winsize ws;
    int ok = ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0;
    *rows = ok && ws.ws_row > 0 ? ws.ws_row : 24;
    *cols = ok && ws.ws_col > 0 ? ws.ws_col : 80;
}

/*
 * Put a frame (lines ending in '\n', already sanitized) on the terminal:
 * clear it, then at most @p rows lines, each clipped to @p cols columns,
 * and no newline after the last one. A line that wrapped, or a newline on
 * the bottom row, would scroll the screen and take the title line with it.
 */
static void tty_put_frame(const char *frame, size_t len, int rows, int cols)
{
    const char *p = frame, *end = frame + len;
    fputs("\033[H\033[2J", stdout);
    for (int row = 0; row < rows && p < end; row++) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if (row)
            putchar('\n');
        int col = 0;
        for (const char *q = p; q < eol; q++) {
            /* A column starts at each byte that does not continue UTF-8. */
            if (((unsigned char)*q & 0xc0) != 0x80 && ++col > cols)
                break;
            putchar(*q);
        }
        p = eol + 1;
    }
}

/* Fill @p tb with one row per record of @p l; -1 if out of memory. */
static int watch_table(table *tb, const record_list *l, const watch_state *ws,
                       double t, uint64_t now)
{
    static const char *const head[] = {"NAME", "CLASS", "SIZE", "UPDATES", "UPD/S", "AGE"};
    static const int right[] = {0, 0, 1, 1, 1, 1};
    table_init(tb, 6, head, right);
    for (size_t i = 0; i < l->n; i++) {
        const mf_record_info *r = &l->v[i];
        char size[24], upd[24], rate[32], age[32];
        snprintf(size, sizeof size, "%" PRIu64, r->size);
        snprintf(upd, sizeof upd, "%" PRIu64, r->update_count);
        watch_rate(ws, r, t, rate, sizeof rate);
        fmt_age(age, sizeof age, now, r->update_time_ns);
        const char *row[] = {r->name, r->class_name, size, upd, rate, age};
        table_add(tb, row);
    }
    return tb->oom ? -1 : 0;
}

/* The title line (path, time, generation, record count), then the table
 * with at most @p max_rows rows and a "... N more" line if it had more. */
static void print_frame(FILE *out, const char *path, uint64_t now, uint64_t gen,
                        const table *tb, size_t max_rows)
{
    char when[64];
    fmt_time(when, sizeof when, now);
    fputs("--- ", out);
    fput_safe(path, out);
    fprintf(out, "  %s  generation %" PRIu64 "  %zu record%s ---\n", when, gen,
            tb->nrows, tb->nrows == 1 ? "" : "s");
    size_t left = table_print(tb, out, max_rows);
    if (left)
        fprintf(out, "... %zu more\n", left);
}

/* The frame built in memory, then fitted to the screen. 0, or -1 when out
 * of memory. */
static int draw_on_tty(const char *path, uint64_t now, uint64_t gen, const table *tb)
{
    int rows, cols;
    terminal_size(&rows, &cols);
    int fit = rows - 3; /* title, header, "more" line */
    char *frame = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&frame, &len);
    if (!out)
        return -1;
    print_frame(out, path, now, gen, tb, fit > 1 ? (size_t)fit : 1);
    if (fclose(out) != 0 || !frame) {
        free(frame);
        return -1;
    }
    tty_put_frame(frame, len, rows, cols);
    free(frame);
    return 0;
}

/*
 * Draw one table of the records under @p prefix: in place on a terminal,
 * else appended to stdout. @p counted: a redraw for a change (the update
 * rates advance); otherwise an age refresh on a tty that keeps the
 * previous rates' baseline.
 */
static int watch_draw(mf_file *mf, const char *path, const char *prefix,
                      int tty, uint64_t gen, watch_state *ws, record_list *l,
                      int counted)
{
    int rc = collect_records(mf, prefix, l);
    if (rc < 0) {
        report_mf(path, NULL, rc);
        return EXIT_MISSING;
    }
    double t = now_monotonic_s();
    uint64_t now = now_realtime_ns();
    table tb;
    int oom = watch_table(&tb, l, ws, t, now);
    if (!oom && tty)
        oom = draw_on_tty(path, now, gen, &tb);
    else if (!oom)
        print_frame(stdout, path, now, gen, &tb, SIZE_MAX);
    table_free(&tb);
    if (oom) {
        errorf(path, "out of memory");
        return EXIT_MISSING;
    }
    if (counted)
        watch_remember(ws, l, t);
    fflush(stdout);
    return ferror(stdout) ? finish_stdout(EXIT_USAGE) : 0;
}

static void sleep_until(double t_mono)
{
    double d = t_mono - now_monotonic_s();
    if (d <= 0)
        return;
    struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
    nanosleep(&ts, NULL); /* a signal cuts it short: fine, we check after */
}

static int parse_count(const mapf_command *c, const char *s, unsigned long *out)
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

static int run_watch(const mapf_args *a)
{
    const char *path = a->pos[0];
    const char *prefix = a->npos > 1 ? a->pos[1] : NULL;
    unsigned long count = 0, redraws = 0;
    mf_file *mf;
    mf_file_info fi;
    record_list l = {0};
    watch_state ws = {0};
    int tty = isatty(STDOUT_FILENO);
    if (parse_count(a->cmd, mapf_value(a, "--count"), &count) ||
        check_prefix(a->cmd, prefix))
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

static const mapf_option watch_options[] = {
    {"--count", NULL, 1},
    {NULL, NULL, 0},
};

const mapf_command mapf_cmd_watch = {
    .name = "watch",
    .run = run_watch,
    .options = watch_options,
    .min_pos = 1,
    .max_pos = 2,
    .synopsis = "FILE [PREFIX] [--count N]",
    .help = "Show a live table (name, class, size, updates, updates per second and\n"
            "age since the last update) redrawn on every change. Waits for FILE to\n"
            "appear and follows it when the producer recreates it. On a terminal\n"
            "the screen is redrawn in place (at most 20 times a second, and every\n"
            "second to refresh ages); otherwise one table is printed per change\n"
            "after a header line with the time and generation. Stops on Ctrl-C.\n"
            "\n"
            "  --count N  stop after N tables\n",
};
