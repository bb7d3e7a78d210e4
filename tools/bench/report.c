/*
 * report.c - results: the readable table on stdout and the JSON file.
 */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static result *results;
static size_t nresults, cap_results, printed;

result result_make(const char *scenario, const char *figure, unit u,
                   double value, int repeats)
{
    result r;
    memset(&r, 0, sizeof r);
    snprintf(r.scenario, sizeof r.scenario, "%s", scenario);
    snprintf(r.figure, sizeof r.figure, "%s", figure);
    r.u = u;
    r.u2 = u;
    r.value = value;
    r.value2 = NAN;
    r.peer_value = NAN;
    r.peer_value2 = NAN;
    r.ratio = NAN;
    r.rk = RK_NONE;
    r.goal_met = -1;
    r.repeats = repeats;
    return r;
}

void result_peer(result *r, const char *peer, double pv, ratio_kind rk)
{
    snprintf(r->peer, sizeof r->peer, "%s", peer);
    r->peer_value = pv;
    r->rk = rk;
    double v = r->value;
    bool time_like = r->u == U_NS;
    switch (rk) {
    case RK_FASTER:
    case RK_LIMIT:
        /* Speed ratio: for times, peer time / mapfile time. */
        r->ratio = time_like ? pv / v : v / pv;
        break;
    case RK_BASE:
        r->ratio = v / pv;
        break;
    case RK_DIFF:
        r->ratio = v - pv;
        break;
    case RK_SMALLER:
        r->ratio = pv / v;
        break;
    default:
        r->ratio = NAN;
    }
}

void result_goal(result *r, const char *goal, bool met)
{
    snprintf(r->goal, sizeof r->goal, "%s", goal);
    r->goal_met = met ? 1 : 0;
}

void add_result(const result *r)
{
    if (nresults == cap_results) {
        size_t cap = cap_results ? cap_results * 2 : 64;
        result *n = realloc(results, cap * sizeof *n);
        if (!n)
            die("out of memory for results");
        results = n;
        cap_results = cap;
    }
    results[nresults++] = *r;
}

/* ------------------------------------------------------------------------ */
/* Formatting                                                               */
/* ------------------------------------------------------------------------ */

static void fmt_si(char *b, size_t cap, double v, const char *suffix)
{
    const char *p = "";
    double a = fabs(v);
    if (a >= 1e9) {
        v /= 1e9;
        p = "G";
    } else if (a >= 1e6) {
        v /= 1e6;
        p = "M";
    } else if (a >= 1e3) {
        v /= 1e3;
        p = "k";
    }
    snprintf(b, cap, "%.3g %s%s", v, p, suffix);
}

static void fmt_value(char *b, size_t cap, unit u, double v)
{
    if (isnan(v)) {
        snprintf(b, cap, "n/a");
        return;
    }
    switch (u) {
    case U_RATE:
        fmt_si(b, cap, v, "/s");
        break;
    case U_BPS:
        if (v >= 1e9)
            snprintf(b, cap, "%.3g GB/s", v / 1e9);
        else if (v >= 1e6)
            snprintf(b, cap, "%.3g MB/s", v / 1e6);
        else
            snprintf(b, cap, "%.3g kB/s", v / 1e3);
        break;
    case U_NS:
        if (v >= 1e9)
            snprintf(b, cap, "%.3g s", v / 1e9);
        else if (v >= 1e6)
            snprintf(b, cap, "%.3g ms", v / 1e6);
        else if (v >= 1e3)
            snprintf(b, cap, "%.3g us", v / 1e3);
        else
            snprintf(b, cap, "%.3g ns", v);
        break;
    case U_BYTES:
        if (fabs(v) >= 1048576.0 * 10)
            snprintf(b, cap, "%.3g MiB", v / 1048576.0);
        else if (fabs(v) >= 1024.0 * 10)
            snprintf(b, cap, "%.3g KiB", v / 1024.0);
        else
            snprintf(b, cap, "%.4g B", v);
        break;
    case U_FRAC:
        snprintf(b, cap, "%.3f", v);
        break;
    case U_COUNT:
        snprintf(b, cap, "%.4g", v);
        break;
    }
}

static void fmt_pair(char *b, size_t cap, unit u, double v, unit u2, double v2)
{
    char x[48], y[48];
    fmt_value(x, sizeof x, u, v);
    if (isnan(v2)) {
        snprintf(b, cap, "%s", x);
        return;
    }
    fmt_value(y, sizeof y, u2, v2);
    strfmt(b, cap, "%s, %s", x, y);
}

static void fmt_ratio(char *b, size_t cap, const result *r)
{
    if (isnan(r->ratio)) {
        snprintf(b, cap, "%s", r->rk == RK_NONE ? "" : "n/a");
        return;
    }
    switch (r->rk) {
    case RK_FASTER:
        snprintf(b, cap, "%.3gx", r->ratio);
        break;
    case RK_LIMIT:
        snprintf(b, cap, "%.2g%% of limit", r->ratio * 100);
        break;
    case RK_BASE:
        snprintf(b, cap, "%.3gx base", r->ratio);
        break;
    case RK_DIFF: {
        char v[48];
        fmt_value(v, sizeof v, r->u, fabs(r->ratio));
        strfmt(b, cap, "%s%s", r->ratio < 0 ? "-" : "+", v);
        break;
    }
    case RK_SMALLER:
        snprintf(b, cap, "%.3gx smaller", r->ratio);
        break;
    default:
        b[0] = '\0';
    }
}

void report_section(const char *title, const char *how)
{
    progress_done();
    printf("\n%s\n", title);
    if (how && how[0])
        printf("  (%s)\n", how);
    double share = loop_cpu_share();
    if (share >= 0)
        printf("  (the measuring thread was on a CPU %.0f%% of the wall time of its "
               "in-process loops: the rest went to other processes)\n", share * 100);
    printf("  %-46s %-24s %-46s %-15s %s\n", "figure", "mapfile",
           "limit or peer", "ratio", "goal");
    const char *last_fig = NULL;
    for (size_t i = printed; i < nresults; i++) {
        const result *r = &results[i];
        char val[64], peer[128], ratio[48], goal[96], pv[64];
        bool same = last_fig && strcmp(last_fig, r->figure) == 0 &&
                    strcmp(results[i - 1].scenario, r->scenario) == 0;
        fmt_pair(val, sizeof val, r->u, r->value, r->u2, r->value2);
        if (r->peer[0]) {
            fmt_pair(pv, sizeof pv, r->u, r->peer_value, r->u2, r->peer_value2);
            snprintf(peer, sizeof peer, "%s %s", r->peer, pv);
        } else {
            peer[0] = '\0';
        }
        fmt_ratio(ratio, sizeof ratio, r);
        if (r->goal_met >= 0)
            snprintf(goal, sizeof goal, "%s: %s", r->goal,
                     r->goal_met ? "met" : "MISSED");
        else
            goal[0] = '\0';
        printf("  %-46s %-24s %-46s %-15s %s\n", same ? "" : r->figure,
               same ? "" : val, peer, ratio, goal);
        if (r->note[0])
            printf("  %-46s   %s\n", "", r->note);
        last_fig = r->figure;
    }
    printed = nresults;
    fflush(stdout);
}

void report_legend(void)
{
    printf("\nWhat the ratio means:\n"
           "  Nx          mapfile speed / peer speed (for times: peer time / mapfile time);\n"
           "              above 1 mapfile is faster, below 1 slower\n"
           "  N%% of limit mapfile speed as a share of the limit (memcpy into a MAP_SHARED\n"
           "              file mapping, or a raw futex), which mapfile cannot beat\n"
           "  Nx base     figure / the base figure named in the peer column (above 1: bigger\n"
           "              or slower than the base)\n"
           "  +N          figure minus the peer's figure\n"
           "  Nx smaller  peer size / mapfile size (above 1: mapfile uses less)\n"
           "Goals are informational; the benchmark asserts nothing about speed.\n");
}

/* ------------------------------------------------------------------------ */
/* JSON                                                                     */
/* ------------------------------------------------------------------------ */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void json_num(FILE *f, double v)
{
    if (isnan(v) || isinf(v))
        fputs("null", f);
    else
        fprintf(f, "%.6g", v);
}

static const char *unit_name(unit u)
{
    static const char *const n[] = {"ops/s", "ns", "bytes", "fraction", "count",
                                    "bytes/s"};
    return n[u];
}

static const char *rk_name(ratio_kind k)
{
    static const char *const n[] = {"none", "faster", "of_limit", "of_base",
                                    "difference", "smaller"};
    return n[k];
}

int report_json(const char *path, double total_s)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "mapfile-bench: cannot write %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    char host[128] = "";
    gethostname(host, sizeof host - 1);
    time_t t = time(NULL);
    char when[64];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    fprintf(f, "{\n  \"tool\": \"mapfile-bench\",\n  \"mapfile_version\": \"%d.%d.%d\",\n",
            MF_VERSION_MAJOR, MF_VERSION_MINOR, MF_VERSION_PATCH);
    fprintf(f, "  \"date\": \"%s\",\n  \"host\": ", when);
    json_str(f, host);
    fprintf(f, ",\n  \"cpus\": %ld,\n  \"quick\": %s,\n  \"repeats\": %d,\n"
               "  \"repeat_seconds\": %g,\n  \"total_seconds\": %.1f,\n",
            sysconf(_SC_NPROCESSORS_ONLN), B.quick ? "true" : "false", B.repeats,
            B.target_s, total_s);
    fprintf(f, "  \"loadavg_start\": ");
    json_str(f, B.load_start);
    fprintf(f, ",\n  \"loadavg_end\": ");
    json_str(f, B.load_end);
    fprintf(f, ",\n  \"lmdb_flags\": \"MDB_NOSYNC|MDB_WRITEMAP|MDB_NOMETASYNC\",\n"
               "  \"redis\": ");
    json_str(f, B.redis_note);
    fprintf(f, ",\n  \"results\": [\n");
    for (size_t i = 0; i < nresults; i++) {
        const result *r = &results[i];
        fprintf(f, "    {\"scenario\": ");
        json_str(f, r->scenario);
        fprintf(f, ", \"figure\": ");
        json_str(f, r->figure);
        fprintf(f, ", \"unit\": \"%s\", \"value\": ", unit_name(r->u));
        json_num(f, r->value);
        if (!isnan(r->value2)) {
            fprintf(f, ", \"unit2\": \"%s\", \"value2\": ", unit_name(r->u2));
            json_num(f, r->value2);
        }
        if (r->peer[0]) {
            fprintf(f, ", \"peer\": ");
            json_str(f, r->peer);
            fprintf(f, ", \"peer_value\": ");
            json_num(f, r->peer_value);
            if (!isnan(r->peer_value2)) {
                fprintf(f, ", \"peer_value2\": ");
                json_num(f, r->peer_value2);
            }
            fprintf(f, ", \"ratio_kind\": \"%s\", \"ratio\": ", rk_name(r->rk));
            json_num(f, r->ratio);
        }
        if (r->goal_met >= 0) {
            fprintf(f, ", \"goal\": ");
            json_str(f, r->goal);
            fprintf(f, ", \"goal_met\": %s", r->goal_met ? "true" : "false");
        }
        if (r->note[0]) {
            fprintf(f, ", \"note\": ");
            json_str(f, r->note);
        }
        fprintf(f, ", \"repeats\": %d}%s\n", r->repeats,
                i + 1 < nresults ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    if (fclose(f) != 0) {
        fprintf(stderr, "mapfile-bench: writing %s failed\n", path);
        return -1;
    }
    return 0;
}
