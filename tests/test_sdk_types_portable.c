/* test_sdk_types_portable.c - test_sdk_types.c again, with the bulk arrays
 * forced onto the byte-by-byte path that big-endian hosts take (on a
 * little-endian host they would otherwise be one memcpy), so that path is
 * checked against the same exact wire bytes. */
#define MF_SDK_PORTABLE_ARRAYS 1
#include "test_sdk_types.c"
