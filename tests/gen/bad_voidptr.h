/* bad_voidptr.h - mapf gen must refuse field opaque (tests/gen_roundtrip.sh). */
#include <stdint.h>
#include <mapfile/gen.h>
struct bad {
    int32_t ok;
    void *opaque;
};
