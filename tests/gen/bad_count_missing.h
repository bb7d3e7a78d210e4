/* bad_count_missing.h - mapf gen must refuse field data (tests/gen_roundtrip.sh). */
#include <stdint.h>
#include <mapfile/gen.h>
struct bad {
    int *data MF_COUNT(ndata); /* no field ndata */
};
