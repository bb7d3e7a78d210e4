/* bad_recursive.h - mapf gen must refuse field next (tests/gen_roundtrip.sh). */
#include <stdint.h>
struct bad {
    int32_t value;
    struct bad *next; /* a list: payloads could nest it without bound */
};
