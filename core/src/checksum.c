/* checksum.c - the one hash every payload checksum and name hash uses. */
#include "internal.h"

#if defined(MF_HAVE_XXH_DISPATCH)
#include <xxh_x86dispatch.h>
#define MF__XXH3 XXH3_64bits_dispatch
#else
#include <xxhash.h>
#define MF__XXH3 XXH3_64bits
#endif

uint64_t mf__checksum(const void *data, size_t len)
{
    return MF__XXH3(data, len);
}
