/* bad_bitfield.h - mapf gen must refuse field b (tests/gen_roundtrip.sh). */
#include <stdint.h>
#include <mapfile/gen.h>
struct bad {
    int32_t ok;
    unsigned b : 3;
};
