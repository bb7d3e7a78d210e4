/* testutil.h - small helpers shared by the Criterion tests. */
#ifndef MF_TESTUTIL_H
#define MF_TESTUTIL_H

#include <stddef.h>

/* A fresh private directory for this test process (mkdtemp under TMPDIR),
 * removed with its contents at exit. */
const char *mf_test_dir(void);
/* mf_test_dir() + "/" + name, in a static rotating buffer. */
const char *mf_test_path(const char *name);
/* Path of the running test executable (for re-running it as a helper). */
const char *mf_test_self(void);

#endif
