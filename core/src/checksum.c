/*
 * checksum.c - the one hash every payload checksum and name hash uses:
 * XXH3-64 (libxxhash), the same value whichever code path computes it.
 *
 * Long inputs go through libxxhash's CPU-dispatching entry point where
 * there is one (AVX2 or AVX-512 where the CPU has them). Debian's 0.8.1
 * returns from its AVX-512 code with the upper vector state dirty, and the
 * next legacy-SSE instruction anywhere in the process then pays a state
 * transition (about 125 ns on Intel, and it slows unrelated code too), so
 * the state is cleared after every call on a CPU with AVX. Short inputs
 * (names, small payloads: XXH3 uses no vector code below 241 bytes) call
 * the plain entry point: no dispatcher, no vector state to clear.
 */
#include "internal.h"

#include <xxhash.h>

#if defined(MF_HAVE_XXH_DISPATCH)
/* Keep XXH3_64bits the plain entry point: the header would rename it. */
#define XXH_DISPATCH_DISABLE_REPLACE
#include <xxh_x86dispatch.h>

static int cpu_has_avx = -1;

static int have_avx(void)
{
    if (cpu_has_avx < 0) {
        __builtin_cpu_init();
        cpu_has_avx = __builtin_cpu_supports("avx") != 0;
    }
    return cpu_has_avx;
}

static uint64_t long_input(const void *data, size_t len)
{
    uint64_t h = XXH3_64bits_dispatch(data, len);
    if (have_avx())
        __asm__ volatile("vzeroupper" ::: "memory");
    return h;
}
#else
static uint64_t long_input(const void *data, size_t len)
{
    return XXH3_64bits(data, len);
}
#endif

/* XXH3 takes vector code only above this length (XXH3_MIDSIZE_MAX). */
#define MF__XXH3_SHORT 240u

uint64_t mf__checksum(const void *data, size_t len)
{
    if (len <= MF__XXH3_SHORT)
        return XXH3_64bits(data, len);
    return long_input(data, len);
}

const char *mf__checksum_path(void)
{
#if defined(MF_HAVE_XXH_DISPATCH)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return "AVX-512 (libxxhash dispatch, vzeroupper after)";
    if (__builtin_cpu_supports("avx2"))
        return "AVX2 (libxxhash dispatch, vzeroupper after)";
    return "SSE2 (libxxhash dispatch)";
#else
    return "default build of libxxhash (no dispatch)";
#endif
}
