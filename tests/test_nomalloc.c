/* test_nomalloc.c - in steady state, mf_update allocates no memory.
 *
 * This executable interposes malloc/calloc/realloc over glibc's and counts
 * the calls made by the current thread while counting is on. Sanitizers
 * bring their own allocator, so under ASan the test is skipped. */
#include <criterion/criterion.h>

#include <stddef.h>
#include <string.h>

#include <mapfile/hist.h>
#include <mapfile/mapfile.h>

#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#define MF_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MF_ASAN 1
#endif
#endif

#ifndef MF_ASAN
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

static _Thread_local int counting;
static _Thread_local long allocations;

void *malloc(size_t n)
{
    allocations += counting;
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b)
{
    allocations += counting;
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n)
{
    allocations += counting;
    return __libc_realloc(p, n);
}

Test(nomalloc, steady_state_update_allocates_nothing)
{
    mf_registry_add_class(mf_registry_default(), &mf_hist1d_class);
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, mf_test_path("nm.map"), MF_RECREATE, NULL), 0);
    mf_hist1d *h[20];
    char name[16];
    for (int i = 0; i < 20; i++) {
        h[i] = mf_hist1d_new("steady", 1000, 0, 1);
        snprintf(name, sizeof name, "h%d", i);
        cr_assert_eq(mf_add(mf, name, "hist1d", h[i]), 0);
    }
    /* Warm up: the first updates size the buffers and grow the file. */
    for (int round = 0; round < 5; round++)
        cr_assert_eq(mf_update(mf, NULL), 0);

    counting = 1;
    allocations = 0;
    for (int round = 0; round < 500; round++) {
        mf_hist1d_fill(h[round % 20], (round % 100) / 100.0);
        int a = mf_update(mf, NULL);
        int b = mf_update(mf, "h7");
        if (a || b)
            break;
    }
    long seen = allocations;
    counting = 0;
    cr_assert_eq(seen, 0, "mf_update allocated %ld times in steady state", seen);

    /* The counter itself works: a get allocates the new object. */
    void *obj;
    const mf_class *cls;
    counting = 1;
    allocations = 0;
    cr_assert_eq(mf_get(mf, "h3", &obj, &cls), 0);
    counting = 0;
    cr_assert_gt(allocations, 0);
    mf_object_free(cls, obj);
    for (int i = 0; i < 20; i++)
        mf_hist1d_free(h[i]);
    mf_close(mf);
}
#else
Test(nomalloc, steady_state_update_allocates_nothing, .disabled = true) {}
#endif
