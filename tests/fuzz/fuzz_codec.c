/* fuzz_codec.c - libFuzzer harness for every shipped codec's stream_in.
 *
 * Input: byte 0 picks the class (modulo the number of classes, in the order
 * of fz_class_names: text, blob, hist1d, hist2d, profile, circle, rect);
 * byte 1 picks the class version passed to stream_in (0: the version the
 * codec writes, 1: its oldest readable version, 2: one newer than it
 * writes, 3: zero); the rest is the payload.
 *
 * The contract checked (abort on a breach):
 * - stream_in returns an object or NULL with the reader's error set, and
 *   never reads outside the payload (ASan) or allocates beyond what the
 *   payload justifies (libFuzzer's -rss_limit_mb / -malloc_limit_mb);
 * - an accepted object prints, writes JSON, answers every method that
 *   takes no argument, and round-trips: stream_out succeeds, its bytes
 *   decode again, and encoding that gives the same bytes. */
#include "fuzz_common.h"

#include <stdint.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const mf_class *classes[FZ_NCLASSES];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    mf_registry *reg = fz_registry();
    for (size_t i = 0; i < FZ_NCLASSES; i++)
        if (mf_registry_find(reg, fz_class_names[i], &classes[i]))
            abort();
    return 0;
}

static void breach(const mf_class *cls, const char *what)
{
    fprintf(stderr, "contract broken by codec '%s': %s\n", cls->name, what);
    abort();
}

static void call_methods(const mf_class *cls, void *obj)
{
    const mf_method_info *ms;
    int n = mf_class_methods(cls, &ms);
    if (n < 0)
        breach(cls, "a registry class has no method table");
    for (int i = 0; i < n; i++) {
        const char *sig = ms[i].signature;
        if (strlen(sig) != 4 || strcmp(sig + 1, "(o)") != 0)
            continue;
        mf_value ret;
        int rc = mf_call(cls, obj, ms[i].name, NULL, 0, &ret);
        if (rc)
            breach(cls, "a method without arguments failed");
        if (ret.type == MF_T_STR && !ret.v.s)
            breach(cls, "a string method returned NULL");
    }
}

/* Encode obj into a new buffer; NULL if stream_out failed. */
static unsigned char *encode(const mf_class *cls, const void *obj, size_t *len)
{
    mf_writer w = {NULL, 0, 0, 0, fz_reserve, NULL};
    /* Start with a buffer: mf_w_room() on an empty writer computes
     * NULL + 0 (reported separately), which is not what is fuzzed here. */
    if (fz_reserve(&w, 64))
        abort();
    if (cls->stream_out(obj, &w) != 0 || w.err) {
        free(w.buf);
        return NULL;
    }
    *len = w.len;
    return w.buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const mf_class *cls = classes[data[0] % FZ_NCLASSES];
    uint32_t version;
    switch (data[1] & 3) {
    case 0: version = cls->version; break;
    case 1: version = cls->min_version; break;
    case 2: version = cls->version + 1; break;
    default: version = 0; break;
    }
    mf_reader r = mf_reader_make(data + 2, size - 2);
    void *obj = cls->stream_in(&r, version);
    if (r.pos > r.len)
        breach(cls, "the reader position ran past the payload");
    if (!obj) {
        if (!r.err)
            breach(cls, "stream_in returned NULL without setting the reader's error");
        return 0;
    }
    if (r.err) {
        /* The core throws such an object away (read.c); so do we. */
        cls->destroy(obj);
        return 0;
    }
    fz_use_object(cls, obj);
    call_methods(cls, obj);

    size_t n1, n2;
    unsigned char *b1 = encode(cls, obj, &n1);
    if (!b1)
        breach(cls, "stream_out failed on an object stream_in accepted");
    mf_reader r2 = mf_reader_make(b1, n1);
    void *again = cls->stream_in(&r2, cls->version);
    if (!again || r2.err)
        breach(cls, "its own encoding of a decoded object does not decode");
    unsigned char *b2 = encode(cls, again, &n2);
    if (!b2)
        breach(cls, "stream_out failed on a round-tripped object");
    if (n1 != n2 || memcmp(b1, b2, n1) != 0)
        breach(cls, "encode(decode(encode(x))) differs from encode(x)");
    free(b1);
    free(b2);
    cls->destroy(again);
    cls->destroy(obj);
    return 0;
}
