/* testutil.h - small helpers shared by the Criterion tests. */
#ifndef MF_TESTUTIL_H
#define MF_TESTUTIL_H

#include <stddef.h>

#include <mapfile/codec.h>

/* A fresh private directory for this test process (mkdtemp under TMPDIR),
 * removed with its contents at exit. */
const char *mf_test_dir(void);
/* mf_test_dir() + "/" + name, in a static rotating buffer. */
const char *mf_test_path(const char *name);
/* Path of the running test executable (for re-running it as a helper). */
const char *mf_test_self(void);

/* Remove the wake page in /dev/shm of the map file at path: a file
 * deleted by hand (or replaced by a rename) leaves its page behind
 * (core/src/wake.c), and a test must leave nothing. */
void mf_test_forget_wake_page(const char *path);
/* mf_test_forget_wake_page(path), then unlink(path); returns unlink's. */
int mf_test_unlink(const char *path);

/* An empty mf_writer that grows its own buffer with realloc (free w.buf). */
mf_writer mf_test_writer(void);

/* Flip the first byte of `needle` found in the file at path (to the other
 * letter case), to damage a payload at rest. Returns 0, or -1 if absent. */
int mf_test_damage(const char *path, const char *needle);

#endif
