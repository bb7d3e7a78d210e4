/*
 * limits.c - the work mapfile cannot avoid, done by hand: checksum the
 * payload with the library's hash (XXH3-64 through the same entry points)
 * and copy it into slots of a MAP_SHARED file mapping, and the reverse.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include <xxhash.h>
#if defined(MF_BENCH_HAVE_XXH_DISPATCH)
/* Keep XXH3_64bits the plain entry point: the header would rename it to
 * the dispatcher (the core does the same, core/src/checksum.c). */
#define XXH_DISPATCH_DISABLE_REPLACE
#include <xxh_x86dispatch.h>
#endif

/* XXH3 takes vector code only above this length (XXH3_MIDSIZE_MAX). */
#define XXH3_SHORT 240u

#if defined(MF_BENCH_HAVE_XXH_DISPATCH)
static int has_avx = -1;

static uint64_t long_checksum(const void *data, size_t n)
{
    uint64_t h = XXH3_64bits_dispatch(data, n);
    if (has_avx < 0) {
        __builtin_cpu_init();
        has_avx = __builtin_cpu_supports("avx") != 0;
    }
    /* The dispatcher's AVX-512 code returns with the upper vector state
     * dirty; without this the limit would pay a transition penalty the
     * library does not. */
    if (has_avx)
        __asm__ volatile("vzeroupper" ::: "memory");
    return h;
}
#else
static uint64_t long_checksum(const void *data, size_t n)
{
    return XXH3_64bits(data, n);
}
#endif

uint64_t limit_checksum(const void *data, size_t n)
{
    return n <= XXH3_SHORT ? XXH3_64bits(data, n) : long_checksum(data, n);
}

void limit_open(limit_map *m, const char *name, size_t n, size_t size)
{
    memset(m, 0, sizeof *m);
    m->n = n;
    m->size = size;
    m->stride = (8 + size + 63) & ~(size_t)63;
    m->bytes = n * m->stride;
    snprintf(m->path, sizeof m->path, "%s", bpath(name));
    int fd = open(m->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)m->bytes) != 0)
        die("limit file %s: %s", m->path, strerror(errno));
    void *p = mmap(NULL, m->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        die("mmap of the limit file %s (%zu bytes): %s", m->path, m->bytes,
            strerror(errno));
    m->base = p;
    /* Write every page once, as a filled store has written its set. */
    memset(m->base, 0x5a, m->bytes);
}

void limit_close(limit_map *m)
{
    if (m->base)
        munmap(m->base, m->bytes);
    if (m->path[0])
        unlink(m->path);
    memset(m, 0, sizeof *m);
}

void limit_put(limit_map *m, size_t i, const void *src, size_t n)
{
    unsigned char *slot = limit_slot(m, i);
    uint64_t h = limit_checksum(src, n);
    memcpy(slot + 8, src, n);
    memcpy(slot, &h, 8);
}

int limit_get(const limit_map *m, size_t i, void *dst, bool verify)
{
    const unsigned char *slot = limit_slot(m, i);
    uint64_t want;
    memcpy(&want, slot, 8);
    memcpy(dst, slot + 8, m->size);
    if (verify && limit_checksum(dst, m->size) != want)
        return -1;
    return 0;
}
