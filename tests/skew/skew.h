/* skew.h - where tests/skew builds its plugins and executables (see
 * tests/skew/CMakeLists.txt). Include as "skew/skew.h". */
#ifndef MF_SKEW_H
#define MF_SKEW_H

#define MF_SKEW_ROOT MF_TEST_BUILD_DIR "/tests/skew"
/* calib.so, version 1 (reads 1 to 1) */
#define MF_SKEW_V1 MF_SKEW_ROOT "/v1"
/* calib.so, version 2 (reads 1 to 2) */
#define MF_SKEW_V2 MF_SKEW_ROOT "/v2"
#define MF_SKEW_BIN MF_SKEW_ROOT "/bin"

/* The checked-in v1 payload (see tests/fixtures/v1/README.md). */
#define MF_SKEW_FIXTURE_V1 MF_TEST_SOURCE_DIR "/tests/fixtures/v1/calib_v1.bin"
/* The run the fixture holds. */
#define MF_SKEW_FIXTURE_RUN 4242u

#endif
