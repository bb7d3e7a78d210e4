/*
 * output.c - safe text, error reporting and formats shared by every `mapf`
 * subcommand. Everything read from a map file or the command line is
 * printed through the sanitizers here.
 */
#include "output.h"

#include <mapfile/mapfile.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------------ */
/* Safe text                                                                */
/* ------------------------------------------------------------------------ */

void sanitize(char *dst, size_t cap, const char *s)
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

void fput_safe(const char *s, FILE *out)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        fputc((c < 0x20 || c == 0x7f) ? '?' : c, out);
    }
}

size_t text_width(const char *s)
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

/* Its arguments are names, prefixes and options from the command line or a
 * file: the whole message goes through fput_safe(). */
void vfprintf_safe(FILE *out, const char *fmt, va_list ap)
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

void errorf(const char *what, const char *fmt, ...)
{
    va_list ap;
    fputs("mapf: ", stderr);
    if (what) {
        fput_safe(what, stderr);
        fputs(": ", stderr);
    }
    va_start(ap, fmt);
    vfprintf_safe(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* "LEAD FILE[: NAME]: short message[: detail]". The detail is read first
 * because any later library call may replace it. */
static void report(const char *lead, const char *file, const char *name, int err)
{
    char raw[1024];
    sanitize(raw, sizeof raw, mf_errdetail());
    /* The library's detail starts with the path; we print it once. */
    const char *detail = raw;
    size_t flen = strlen(file);
    if (strncmp(detail, file, flen) == 0 && strncmp(detail + flen, ": ", 2) == 0)
        detail += flen + 2;
    fputs(lead, stderr);
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

void report_mf(const char *file, const char *name, int err)
{
    report("mapf: ", file, name, err);
}

void warn_mf(const char *file, const char *name, int err)
{
    report("mapf: warning: ", file, name, err);
}

int record_status(int err)
{
    return (err == MF_ENAME || err == MF_EINVAL) ? EXIT_USAGE : EXIT_MISSING;
}

int finish_stdout(int status)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        errorf(NULL, "cannot write output: %s", strerror(errno));
        return status ? status : EXIT_USAGE;
    }
    return status;
}

/* ------------------------------------------------------------------------ */
/* Formats                                                                  */
/* ------------------------------------------------------------------------ */

uint64_t now_realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double now_monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A time in the future (clock skew between hosts) counts as just now. */
void fmt_age(char *buf, size_t cap, uint64_t now_ns, uint64_t t_ns)
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

void fmt_time(char *buf, size_t cap, uint64_t t_ns)
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

void fmt_bytes(char *buf, size_t cap, uint64_t n)
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

void fmt_percent(char *buf, size_t cap, uint64_t part, uint64_t whole)
{
    if (whole == 0)
        snprintf(buf, cap, "-");
    else if (part && 1000.0 * (double)part < (double)whole)
        snprintf(buf, cap, "<0.1%%"); /* not "0.0%" when something is used */
    else
        snprintf(buf, cap, "%.1f%%", 100.0 * (double)part / (double)whole);
}
