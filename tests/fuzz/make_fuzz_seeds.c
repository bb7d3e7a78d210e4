/* make_fuzz_seeds.c - writes the seed corpora of the libFuzzer harnesses,
 * tests/fuzz/corpus/fuzz_codec and tests/fuzz/corpus/fuzz_mapfile, from
 * valid objects of every shipped class, valid map files and the golden
 * corrupt files of tests/fixtures/corrupt. Output is deterministic.
 *
 *   build-fuzz/tests/fuzz/make_fuzz_seeds [CORPUS_DIR]
 *
 * (default: the source tree's tests/fuzz/corpus). See fuzz_codec.c and
 * fuzz_mapfile.c for the input formats. */
#include "fuzz_writer.h"
#include <mapfile/builtin.h>
#include <mapfile/hist.h>
#include <mapfile/mapfile.h>
#include <mapfile/shapes.h>

#include "format.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *out_dir;
static mf_registry *reg;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "make_fuzz_seeds: %s: %s\n", what, detail);
    exit(1);
}

static void write_seed(const char *sub, const char *name, unsigned char prefix0,
                       int has_prefix1, unsigned char prefix1,
                       const unsigned char *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s", out_dir, sub, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        die(path, strerror(errno));
    fputc(prefix0, f);
    if (has_prefix1)
        fputc(prefix1, f);
    if (len && fwrite(data, 1, len, f) != len)
        die(path, "short write");
    if (fclose(f))
        die(path, strerror(errno));
}

/* One fuzz_codec seed: class selector, version selector 0, the encoding. */
static void codec_seed(unsigned selector, const char *cls_name, const char *name,
                       const void *obj)
{
    const mf_class *cls;
    if (mf_registry_find(reg, cls_name, &cls))
        die(cls_name, mf_errdetail());
    mf_writer w = {NULL, 0, 0, 0, fz_reserve, NULL};
    if (fz_reserve(&w, 64) || cls->stream_out(obj, &w) || w.err)
        die(name, "stream_out failed");
    write_seed("fuzz_codec", name, (unsigned char)selector, 1, 0, w.buf, w.len);
    free(w.buf);
}

static void codec_seeds(void)
{
    /* Selectors follow fz_class_names in fuzz_common.h. */
    codec_seed(0, "text", "text_hello", "hello, world");
    codec_seed(0, "text", "text_empty", "");
    unsigned char bytes[5] = {0, 1, 2, 0xfe, 0xff};
    mf_blob b5 = {sizeof bytes, bytes}, b0 = {0, NULL};
    codec_seed(1, "blob", "blob_5", &b5);
    codec_seed(1, "blob", "blob_empty", &b0);
    mf_hist1d *h1 = mf_hist1d_new("h1", 4, 0, 4);
    mf_hist2d *h2 = mf_hist2d_new("h2", 2, 0, 1, 3, -1, 1);
    mf_profile *pr = mf_profile_new("p", 3, 0, 3);
    for (int i = 0; i < 10; i++) {
        mf_hist1d_fill(h1, i * 0.5 - 0.5);
        mf_hist2d_fill(h2, i * 0.1, i * 0.2 - 1);
        mf_profile_fill(pr, i * 0.4, i);
    }
    mf_circle *c = mf_circle_new("wheel", 1, 2, 0.5);
    mf_rect *r = mf_rect_new("door", 0, 0, 1, 2);
    codec_seed(2, "hist1d", "hist1d", h1);
    codec_seed(3, "hist2d", "hist2d", h2);
    codec_seed(4, "profile", "profile", pr);
    codec_seed(5, "circle", "circle", c);
    codec_seed(6, "rect", "rect", r);
    mf_hist1d_free(h1);
    mf_hist2d_free(h2);
    mf_profile_free(pr);
    mf_circle_free(c);
    mf_rect_free(r);
}

/* A map file image as a fuzz_mapfile seed: trailing zeros trimmed, with
 * mode bit 0 set when the header's capacity restores them (a truncated
 * file stays truncated, only shorter). */
static void file_seed(const char *name, unsigned char *img, size_t len)
{
    const struct mf__header *h = (const struct mf__header *)img;
    int pad = len >= sizeof *h && h->capacity == len;
    size_t keep = len;
    while (keep && img[keep - 1] == 0)
        keep--;
    write_seed("fuzz_mapfile", name, pad ? 1 : 0, 0, 0, img, keep);
}

/* Constants for what differs between runs, as in make_corrupt.c. */
static void scrub(unsigned char *img)
{
    struct mf__header *h = (struct mf__header *)img;
    h->created_ns = 0;
    h->file_id = 0x6465657320677a66ull;
    memset(&h->owner, 0, sizeof h->owner);
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    memset(&h->lock, 0, sizeof h->lock);
    pthread_mutex_init(&h->lock.m, &a);
    pthread_mutexattr_destroy(&a);
    struct mf__index *ix = (struct mf__index *)(img + h->index_off);
    const uint32_t *order = (const uint32_t *)((unsigned char *)ix + ix->order_at);
    for (uint64_t i = 0; i < ix->order_len; i++) {
        uint64_t w = ix->slots[order[i]];
        if (mf__slot_used(w))
            ((struct mf__payload *)(img + mf__slot_off(w)))->time_ns =
                1700000000000000000ull;
    }
    for (uint64_t off = h->heap.heap_start; off < h->heap.heap_end;) {
        uint64_t sf;
        memcpy(&sf, img + off + 8, 8);
        uint64_t size = sf & ~(uint64_t)MF__BLK_FLAGS;
        if (sf & MF__BLK_FREE)
            memset(img + off + MF__BLOCK_HEADER, 0, size - MF__BLOCK_HEADER);
        off += size;
    }
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die(path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    /* Aligned for struct mf__header; aligned_alloc wants a multiple. */
    unsigned char *b = aligned_alloc(64, ((size_t)(n > 0 ? n : 1) + 63) & ~(size_t)63);
    if (!b || (n > 0 && fread(b, 1, (size_t)n, f) != (size_t)n))
        die(path, "cannot read");
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Build a valid file with fill(mf), then seed it. */
static void valid_seed(const char *name, void (*fill)(mf_file *mf))
{
    char path[4096];
    snprintf(path, sizeof path, "%s/.seed.map.tmp", out_dir);
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.initial_size = 64 * 1024;
    o.max_size = 64 * 1024;
    o.registry = reg;
    o.title = "seed";
    mf_file *mf;
    if (mf_open(&mf, path, MF_RECREATE, &o))
        die(name, mf_errdetail());
    fill(mf);
    mf_close(mf);
    size_t len;
    unsigned char *img = slurp(path, &len);
    unlink(path);
    scrub(img);
    file_seed(name, img, len);
    free(img);
}

static void put(mf_file *mf, const char *name, const char *cls, const void *obj)
{
    if (mf_put(mf, name, cls, obj))
        die(name, mf_errdetail());
}

static void fill_empty(mf_file *mf) { (void)mf; }

static void fill_all(mf_file *mf)
{
    mf_hist1d *h1 = mf_hist1d_new("h1", 4, 0, 4);
    mf_hist2d *h2 = mf_hist2d_new("h2", 2, 0, 1, 2, 0, 1);
    mf_profile *pr = mf_profile_new("p", 3, 0, 3);
    mf_hist1d_fill(h1, 1.5);
    mf_hist2d_fill(h2, 0.2, 0.7);
    mf_profile_fill(pr, 1, 5);
    mf_circle *c = mf_circle_new("c", 0, 0, 1);
    mf_rect *r = mf_rect_new("r", 0, 0, 1, 1);
    unsigned char bytes[3] = {1, 2, 3};
    mf_blob b = {3, bytes};
    put(mf, "t", "text", "text");
    put(mf, "b", "blob", &b);
    put(mf, "h1", "hist1d", h1);
    put(mf, "h2", "hist2d", h2);
    put(mf, "prof", "profile", pr);
    put(mf, "c", "circle", c);
    put(mf, "r", "rect", r);
    mf_hist1d_free(h1);
    mf_hist2d_free(h2);
    mf_profile_free(pr);
    mf_circle_free(c);
    mf_rect_free(r);
}

/* Updates, removals and a rehash: free blocks and tombstones. */
static void fill_churn(mf_file *mf)
{
    char name[32];
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof name, "n%d", i);
        put(mf, name, "text", "x");
    }
    for (int i = 0; i < 50; i += 2) {
        snprintf(name, sizeof name, "n%d", i);
        if (mf_remove(mf, name))
            die(name, mf_errdetail());
    }
    put(mf, "t", "text", "first");
    put(mf, "t", "text", "second, longer");
}

static void golden_seeds(void)
{
    const char *dir = MF_FUZZ_SOURCE_DIR "/tests/fixtures/corrupt";
    DIR *d = opendir(dir);
    if (!d)
        die(dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 4, ".map") != 0)
            continue;
        char path[4096], name[300];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        snprintf(name, sizeof name, "golden_%.*s", (int)(n - 4), de->d_name);
        size_t len;
        unsigned char *img = slurp(path, &len);
        file_seed(name, img, len);
        free(img);
    }
    closedir(d);
}

int main(int argc, char **argv)
{
    out_dir = argc > 1 ? argv[1] : MF_FUZZ_SOURCE_DIR "/tests/fuzz/corpus";
    char sub[4096];
    mkdir(out_dir, 0755);
    snprintf(sub, sizeof sub, "%s/fuzz_codec", out_dir);
    mkdir(sub, 0755);
    snprintf(sub, sizeof sub, "%s/fuzz_mapfile", out_dir);
    mkdir(sub, 0755);
    if (mf_registry_create(&reg))
        die("registry", "out of memory");
    const mf_class *cls[] = {&mf_hist1d_class, &mf_hist2d_class, &mf_profile_class,
                             &mf_circle_class, &mf_rect_class};
    for (size_t i = 0; i < sizeof cls / sizeof cls[0]; i++)
        if (mf_registry_add_class(reg, cls[i]))
            die(cls[i]->name, mf_errdetail());
    codec_seeds();
    valid_seed("valid_empty", fill_empty);
    valid_seed("valid_all_classes", fill_all);
    valid_seed("valid_churn", fill_churn);
    golden_seeds();
    mf_registry_free(reg);
    return 0;
}
