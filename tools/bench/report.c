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

void result_ref(result *r, const char *peer, double pv, double ratio)
{
    snprintf(r->peer, sizeof r->peer, "%s", peer);
    r->peer_value = pv;
    r->rk = RK_OF;
    r->ratio = ratio;
    r->paired = true;
}

void result_ref_single(result *r, const char *peer, double pv)
{
    snprintf(r->peer, sizeof r->peer, "%s", peer);
    r->peer_value = pv;
    r->rk = RK_OF;
    r->ratio = r->value / pv;
    r->paired = false;
}

void result_ref_diff(result *r, const char *peer, double pv)
{
    snprintf(r->peer, sizeof r->peer, "%s", peer);
    r->peer_value = pv;
    r->rk = RK_DIFF;
    r->ratio = r->value - pv;
    r->paired = false;
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
/* Goals of issue 14                                                        */
/* ------------------------------------------------------------------------ */

typedef struct goal_def {
    const char *figure;
    const char *reference;
    double bound;
    bool at_most;         /* ratio <= bound (else >= bound) */
    const char *scenario; /* --only name that measures it */
} goal_def;

static const goal_def goal_defs[NGOALS] = {
    [G_UPDATE_64] = {"update 64 B, rotating", "one LMDB put (1 txn, NOSYNC|WRITEMAP)",
                     0.12, true, "update"},
    [G_UPDATE_1K] = {"update 1 KiB, rotating", "one LMDB put (1 txn, NOSYNC|WRITEMAP)",
                     0.25, true, "update"},
    [G_UPDATE_64K] = {"update 64 KiB, rotating", "memcpy + XXH3 limit, same slots",
                      1.3, true, "update"},
    [G_UPDATE_1M] = {"update 1 MiB, rotating", "memcpy + XXH3 limit, same slots",
                     1.3, true, "update"},
    [G_GET_64] = {"get 64 B, 10,000 records, random names", "LMDB get + copy",
                  0.3, true, "update"},
    [G_GET_1K] = {"get 1 KiB verified, rotating", "LMDB get + copy", 0.6, true,
                  "update"},
    [G_LOOKUP] = {"lookup at 1,000,000 records", "one random 64 B read, same file",
                  1.5, true, "lookup"},
    [G_WRITER] = {"writer 1 KiB with 1 reader process", "the same writer alone",
                  0.65, false, "readers"},
    [G_HEAP] = {"heap per 64 B record (100,000)", "LMDB pages per record", 1.5,
                true, "memory"},
    [G_DQM] = {"B: full update CPU", "encode + memcpy of the same objects", 1.5,
               true, "dqm"},
    [G_WAKE] = {"update -> woken consumer, p50", "raw futex one-way, 2 processes",
                1.3, true, "wake"},
};

typedef struct goal_rec {
    bool have;
    double ratio;
    char figures[128];
    char set[200];
} goal_rec;

static goal_rec goals[NGOALS];

const char *goal_bound(goal_id g)
{
    static char b[NGOALS][24];
    snprintf(b[g], sizeof b[g], "%s %.3gx", goal_defs[g].at_most ? "<=" : ">=",
             goal_defs[g].bound);
    return b[g];
}

bool goal_met(goal_id g, double ratio)
{
    return goal_defs[g].at_most ? ratio <= goal_defs[g].bound
                                : ratio >= goal_defs[g].bound;
}

void goal_record(goal_id g, double ratio, const char *figures, const char *set)
{
    goal_rec *r = &goals[g];
    r->have = true;
    r->ratio = ratio;
    snprintf(r->figures, sizeof r->figures, "%s", figures ? figures : "");
    snprintf(r->set, sizeof r->set, "%s", set ? set : "");
}

void report_goals(void)
{
    progress_done();
    printf("\nGoals of issue 14 (ratio = mapfile / reference, the median of per-round "
           "ratios of interleaved rounds)\n");
    printf("  machine: %s\n", machine_line());
    printf("  %-40s %-40s %-8s %-9s %s\n", "figure", "reference", "ratio", "goal",
           "");
    int met = 0, missed = 0;
    for (int g = 0; g < NGOALS; g++) {
        const goal_def *d = &goal_defs[g];
        const goal_rec *r = &goals[g];
        char ratio[24];
        const char *verdict;
        if (!r->have || isnan(r->ratio)) {
            snprintf(ratio, sizeof ratio, "-");
            verdict = "not measured";
        } else {
            snprintf(ratio, sizeof ratio, "%.3gx", r->ratio);
            bool ok = goal_met((goal_id)g, r->ratio);
            verdict = ok ? "met" : "MISSED";
            if (ok)
                met++;
            else
                missed++;
        }
        printf("  %-40s %-40s %-8s %-9s %s\n", d->figure, d->reference, ratio,
               goal_bound((goal_id)g), verdict);
        if (!r->have)
            printf("  %-40s   scenario '%s' did not run\n", "", d->scenario);
        else
            printf("  %-40s   %s%s%s\n", "", r->figures, r->set[0] ? "; " : "", r->set);
    }
    printf("  %d met, %d missed, %d not measured\n", met, missed, NGOALS - met - missed);
    fflush(stdout);
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

void fmt_value(char *b, size_t cap, unit u, double v)
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
    case RK_OF:
        snprintf(b, cap, "%.3gx%s", r->ratio, r->paired ? "" : " (apart)");
        break;
    case RK_DIFF: {
        char v[48];
        fmt_value(v, sizeof v, r->u, fabs(r->ratio));
        strfmt(b, cap, "%s%s", r->ratio < 0 ? "-" : "+", v);
        break;
    }
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
    printf("  %-50s %-22s %-44s %-14s %s\n", "figure", "mapfile", "reference",
           "ratio", "goal");
    const char *last_fig = NULL;
    for (size_t i = printed; i < nresults; i++) {
        const result *r = &results[i];
        char val[64], peer[160], ratio[48], goal[96], pv[64];
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
        printf("  %-50s %-22s %-44s %-14s %s\n", same ? "" : r->figure,
               same ? "" : val, peer, ratio, goal);
        if (r->note[0])
            printf("  %-50s   %s\n", "", r->note);
        last_fig = r->figure;
    }
    printed = nresults;
    fflush(stdout);
}

void report_legend(void)
{
    printf("\nHow to read the tables:\n"
           "  ratio   mapfile's figure / the reference's, in the figure's unit: for times\n"
           "          below 1 means mapfile is faster, for bytes smaller; for rates (the\n"
           "          writer with readers) above 1 means faster. The median of per-round\n"
           "          ratios: the contenders ran in interleaved rounds (A B, B A, ...).\n"
           "          \"(apart)\" marks a ratio of figures not measured side by side.\n"
           "  ns      for loops in this process, CPU ns of the measuring thread per\n"
           "          operation (CLOCK_THREAD_CPUTIME_ID: a time slice lost to another\n"
           "          process is not charged to either side); wall ns where a side waits\n"
           "          for another process (Redis, the file system, wake-ups, readers)\n"
           "  +N      mapfile's figure minus the reference's\n"
           "  limit   the work mapfile cannot avoid, done by hand: an update's limit\n"
           "          checksums (XXH3-64, as the library) and copies the same bytes into\n"
           "          the same rotating slots of a MAP_SHARED file mapping\n"
           "  rotating  each operation takes a random record of a set sized from the\n"
           "          last-level cache (the row says how large); \"cache-hot\" rows\n"
           "          hit one record over and over\n"
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
    static const char *const n[] = {"none", "of_reference", "difference"};
    return n[k];
}

static void json_machine(FILE *f)
{
    const machine *m = &B.m;
    fprintf(f, "  \"machine\": {\"vendor\": ");
    json_str(f, m->vendor);
    fprintf(f, ", \"model\": ");
    json_str(f, m->model);
    fprintf(f, ", \"family\": %d, \"model_number\": %d, \"stepping\": %d, "
               "\"cpus_online\": %ld, \"physical_cores\": %d, "
               "\"virtual_machine\": %s, \"llc_bytes\": %llu, \"llc_source\": ",
            m->family, m->model_no, m->stepping, m->cpus, m->cores,
            m->virtual_machine ? "true" : "false", (unsigned long long)m->llc);
    json_str(f, m->llc_source);
    fprintf(f, ", \"checksum_path\": ");
    json_str(f, m->checksum_path);
    fprintf(f, ", \"library_checksum_path\": ");
    json_str(f, m->lib_checksum_path);
    fprintf(f, ", \"ram_bytes\": %llu, \"kernel\": ", (unsigned long long)m->ram);
    json_str(f, m->kernel);
    fprintf(f, ", \"filesystem\": ");
    json_str(f, m->fs);
    fprintf(f, ", \"line\": ");
    json_str(f, machine_line());
    fprintf(f, "},\n  \"set_target_bytes\": %llu,\n  \"set_budget_bytes\": %llu,\n",
            (unsigned long long)B.set_target, (unsigned long long)B.set_budget);
}

static void json_goals(FILE *f)
{
    fprintf(f, "  \"goals\": [\n");
    for (int g = 0; g < NGOALS; g++) {
        const goal_def *d = &goal_defs[g];
        const goal_rec *r = &goals[g];
        fprintf(f, "    {\"figure\": ");
        json_str(f, d->figure);
        fprintf(f, ", \"reference\": ");
        json_str(f, d->reference);
        fprintf(f, ", \"goal\": ");
        json_str(f, goal_bound((goal_id)g));
        fprintf(f, ", \"measured\": %s, \"ratio\": ", r->have ? "true" : "false");
        json_num(f, r->have ? r->ratio : NAN);
        fprintf(f, ", \"met\": %s, \"figures\": ",
                r->have && !isnan(r->ratio) && goal_met((goal_id)g, r->ratio) ? "true"
                                                                              : "false");
        json_str(f, r->figures);
        fprintf(f, ", \"set\": ");
        json_str(f, r->set);
        fprintf(f, "}%s\n", g + 1 < NGOALS ? "," : "");
    }
    fprintf(f, "  ],\n");
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
    fprintf(f, ",\n  \"cpus\": %ld,\n  \"quick\": %s,\n  \"rounds\": %d,\n"
               "  \"round_seconds\": %g,\n  \"total_seconds\": %.1f,\n",
            sysconf(_SC_NPROCESSORS_ONLN), B.quick ? "true" : "false", B.rounds,
            B.target_s, total_s);
    json_machine(f);
    fprintf(f, "  \"loadavg_start\": ");
    json_str(f, B.load_start);
    fprintf(f, ",\n  \"loadavg_end\": ");
    json_str(f, B.load_end);
    fprintf(f, ",\n  \"lmdb_flags\": \"MDB_NOSYNC|MDB_WRITEMAP|MDB_NOMETASYNC\",\n"
               "  \"redis\": ");
    json_str(f, B.redis_note);
    fprintf(f, ",\n");
    json_goals(f);
    fprintf(f, "  \"results\": [\n");
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
            fprintf(f, ", \"paired\": %s", r->paired ? "true" : "false");
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
