/* bad_union.h - mapf gen must refuse field u (tests/gen_roundtrip.sh). */
#include <stdint.h>
#include <mapfile/gen.h>
struct bad {
    int32_t ok;
    union { int32_t i; float f; } u;
};
