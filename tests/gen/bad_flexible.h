/* bad_flexible.h - mapf gen must refuse field tail (tests/gen_roundtrip.sh). */
#include <stdint.h>
#include <mapfile/gen.h>
struct bad {
    uint32_t ntail;
    int32_t tail[];
};
