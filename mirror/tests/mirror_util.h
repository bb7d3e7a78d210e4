/* mirror_util.h - what the mirror tests share: sources, mirrors, and
 * comparing two map files record by record. */
#ifndef MF_MIRROR_UTIL_H
#define MF_MIRROR_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include <mapfile/mapfile.h>
#include <mapfile/mirror.h>

/* Options with short timeouts whose log lines go to mu_log (not stderr). */
mf_mirror_options mu_opts(void);
/* Every line logged through mu_opts() so far ("" if none). */
extern char mu_log[65536];

/* A new writable source file at mf_test_path(name), or at a full path
 * (children of a test have a test directory of their own: they take paths
 * made before the fork). */
mf_file *mu_source(const char *name);
mf_file *mu_source_at(const char *path);
/* Put bytes (class "blob") or a string as a record. */
void mu_put(mf_file *mf, const char *name, const char *text);
void mu_remove(mf_file *mf, const char *name);

/* A push of @p src, a pull into mf_test_path(name); failures fail the test. */
mf_mirror *mu_push(mf_file *src);
mf_mirror *mu_pull(const char *name);
mf_mirror *mu_pull_at(const char *path);
void mu_push_ok(mf_mirror *m);
void mu_pull_ok(mf_mirror *m);

/* Whether two files hold the same records in the same order with the same
 * class, version and bytes; *why says the first difference. */
bool mu_same(const char *a, const char *b, char *why, size_t cap);
void mu_assert_same(const char *a, const char *b);
/* The same records, in any order: a name removed and added again keeps
 * its first place on a mirror that got both changes in one batch. */
void mu_assert_same_records(const char *a, const char *b);

/* A fingerprint of a file's records (names, classes, checksums, order):
 * equal fingerprints mean equal contents. */
unsigned long long mu_fingerprint(const char *path);
/* mf_check_file finds no problem. */
void mu_assert_clean(const char *path);

#endif
