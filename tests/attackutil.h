/* attackutil.h - what the attack tests of issue 12 share: forked helpers
 * with watchdogs, the command-line tool run as a process, byte copies of a
 * file, the mappings and descriptors a process holds, and values encoded in
 * blobs.
 *
 * These tests use the public API (mapfile.h). The internal hooks they
 * reach: mf__crash_point, the test hook the core calls at every step of a
 * change where a writer could die (tests/test_concurrency.c uses it too),
 * mf__check_still_wait_ns and mf__check_entry_hook. */
#ifndef MF_ATTACKUTIL_H
#define MF_ATTACKUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <mapfile/builtin.h>
#include <mapfile/mapfile.h>

/* core/src/lock.c: called at every crash point of a change when set. */
extern void (*mf__crash_point)(void);
/* core/src/check.c: how long a read-only check waits for writers to pause
 * before it checks the records alone (1 s). */
extern int64_t mf__check_still_wait_ns;
/* core/src/check.c: called with each record entry a check is about to
 * check, inside its read window. */
extern void (*mf__check_entry_hook)(uint64_t entry);

/* Built with AddressSanitizer (setrlimit(RLIMIT_AS) and SIGBUS defaults
 * do not work there)? */
bool at_asan(void);

/* A number from the environment, or def when unset or not a number. */
long at_env(const char *name, long def);

/* fork(); in the child: die with the parent (PR_SET_PDEATHSIG). */
pid_t at_fork(void);
/* Wait for pid: its exit code, or 100 + the signal that killed it. */
int at_wait(pid_t pid);
/* The same, but after `seconds` the child is killed (SIGKILL) and 200 is
 * returned: a child that hangs is a failure, not a hung test. */
int at_wait_for(pid_t pid, int seconds);
/* Text for an at_wait status: "exit 3", "killed by signal 9 (Killed)",
 * "hung: killed by the watchdog". Static buffer. */
const char *at_status_text(int status);

/* Hold a writer inside a change. In a forked writer, before its changes:
 * at its n-th crash point (n >= 1) it writes 'h' to report_fd, then reads
 * one byte from go_fd: 'k' kills it there (SIGKILL, like a crash), any
 * other byte lets it go on (no further stops). The writer holds whatever
 * it held at that point (the writer lock, a half-made change) for as long
 * as the test likes: to copy the file, say. */
void at_hold_at_crash_point(long n, int report_fd, int go_fd);
/* Count crash points instead (n = 0 above): how many were passed. */
void at_count_crash_points(void);
long at_crash_points_passed(void);

/* Start fn(arg) in a new pid namespace, as process `as_pid` of it (2, or
 * 3 with a process sleeping as pid 2 first): the same pid number as a
 * process of another namespace, like a pid reused after a crash or on
 * another host. Returns the pid of the helper to at_wait_for; its status
 * is fn's (exit code, or 100 + signal), 77 if no pid namespace can be made
 * here (not root), 78 if fn did not get pid as_pid. fn runs in a forked
 * child: it may _exit. */
pid_t at_spawn_in_pid_ns(int as_pid, void (*fn)(void *), void *arg);

/* Sleep for a number of microseconds. */
void at_usleep(long us);

/* The command-line tool: build/tools/mapf, or build/tools/mapfile before
 * its rename. NULL if neither was built. */
const char *at_cli(void);
/* Run argv (argv[0] is the program) with stdin from /dev/null, stdout and
 * stderr captured together into out (NUL-terminated, truncated at cap).
 * Returns what at_wait_for returns (200 if it ran past timeout_s). */
int at_run(const char *const *argv, int timeout_s, char *out, size_t cap);

/* Copy the bytes of src to dst (created or truncated), like cp(1).
 * Returns 0 or -1. */
int at_copy(const char *src, const char *dst);

/* Mappings in /proc/self/maps whose path starts with prefix (a deleted
 * file's " (deleted)" suffix included), and the number of distinct files
 * (inodes) among them and among this process's descriptors. */
typedef struct at_pins {
    int mappings;
    int files;  /* distinct inodes, mapped or open */
    int fds;    /* descriptors open on such files */
} at_pins;
at_pins at_count_pins(const char *prefix);
/* Mappings of deleted files in /proc/self/maps, whatever they are (map
 * files, or any helper file the library keeps beside them). */
int at_count_deleted_mappings(void);

/* Blobs whose bytes are one 64-bit value repeated (the last word may be
 * cut short): how the tests tell which batch or update wrote an object. */
void at_fill(unsigned char *buf, size_t size, uint64_t value);
/* The value of such bytes, or -1 if they are not one value repeated (a
 * torn or foreign payload). size must be at least 8. */
int at_value_of(const unsigned char *buf, size_t size, uint64_t *value);

#endif
