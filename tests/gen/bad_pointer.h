/* bad_pointer.h - mapf gen must refuse field values (tests/gen_roundtrip.sh). */
#include <stdint.h>
#include <mapfile/gen.h>
struct bad {
    uint32_t nvalues;
    double *values; /* no MF_COUNT(nvalues) */
};
