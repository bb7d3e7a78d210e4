/*
 * output.h - what every subcommand of `mapf` prints with: exit codes, safe
 * text (names from a hostile file cannot drive the terminal), error
 * reporting, the number/time/size formats, and stdout's final check.
 */
#ifndef MAPF_OUTPUT_H
#define MAPF_OUTPUT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes, the same for every subcommand:
 *   0  success
 *   1  the thing asked for is missing or unusable (record, codec, method
 *      result), or `check` found problems
 *   2  usage error, or a file that cannot be opened (missing, not a map
 *      file, wrong version, corrupt header...) */
enum { EXIT_OK = 0, EXIT_MISSING = 1, EXIT_USAGE = 2 };

/* --- safe text ----------------------------------------------------------- */

/* Copy @p s into @p dst (cap bytes) replacing control bytes and DEL by '?'. */
void sanitize(char *dst, size_t cap, const char *s);
/* Print @p s with control bytes replaced, as sanitize(). */
void fput_safe(const char *s, FILE *out);
/* Display width of a UTF-8 string: one column per non-continuation byte. */
size_t text_width(const char *s);

/* --- errors -------------------------------------------------------------- */

/* "mapf: WHAT: message" on stderr, sanitized; WHAT (a file or a
 * subcommand) may be NULL. */
void errorf(const char *what, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Like errorf() with a va_list and no prefix or newline, to @p out. */
void vfprintf_safe(FILE *out, const char *fmt, va_list ap);
/* Report library error @p err about @p file (and record @p name, or NULL):
 * "mapf: FILE[: NAME]: short message[: detail]" with mf_errdetail(). */
void report_mf(const char *file, const char *name, int err);
/* Like report_mf() with "warning" instead of the message's error prefix:
 * "mapf: warning: FILE[: NAME]: short message[: detail]". */
void warn_mf(const char *file, const char *name, int err);
/* Exit status for a failed record operation: a malformed argument is a
 * usage error, anything else means the record could not be had. */
int record_status(int err);
/* Flush stdout; a failed write (full disk, closed pipe) is reported and
 * turns @p status into an error. Returns the final status. */
int finish_stdout(int status);

/* --- formats ------------------------------------------------------------- */

uint64_t now_realtime_ns(void);
double now_monotonic_s(void);
/* "1.2s", "42s", "3m", "5h", "12d"; "-" for a time never set. */
void fmt_age(char *buf, size_t cap, uint64_t now_ns, uint64_t t_ns);
/* ISO-8601 UTC with microseconds: 2024-11-25T17:01:02.123456Z; "never". */
void fmt_time(char *buf, size_t cap, uint64_t t_ns);
/* "512.0 KiB", "3 B". */
void fmt_bytes(char *buf, size_t cap, uint64_t n);
/* "12.5%" of a whole, "<0.1%", or "-" when the whole is zero. */
void fmt_percent(char *buf, size_t cap, uint64_t part, uint64_t whole);

#endif
