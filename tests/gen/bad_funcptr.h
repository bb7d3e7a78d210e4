/* bad_funcptr.h - mapf gen must refuse field callback (tests/gen_roundtrip.sh). */
#include <stdint.h>
#include <mapfile/gen.h>
struct bad {
    int32_t ok;
    int (*callback)(int); /* not in an MF_OPS table */
};
