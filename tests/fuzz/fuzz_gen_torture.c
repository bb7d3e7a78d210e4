/* fuzz_gen_torture.c - libFuzzer harness for a codec `mapf gen` writes: the
 * one of tests/gen/torture.h (every field kind), linked in statically
 * (MF_CODEC_STATIC) beside the hand-written reference codec
 * (tests/gen/torture_ref.c).
 *
 * Input: byte 0 picks the class version passed to stream_in, as fuzz_codec
 * does (0: the version the codec writes, 1: its oldest readable version,
 * 2: one newer than it writes, 3: zero); the rest is the payload.
 *
 * The contract checked (abort on a breach):
 * - stream_in returns an object, or NULL with the reader's error set, and
 *   never reads outside the payload (ASan) or allocates beyond what the
 *   payload justifies (-malloc_limit_mb);
 * - an accepted object writes JSON, prints, and round-trips: stream_out
 *   succeeds, its bytes decode again and encode to the same bytes;
 * - at the version it writes, the generated codec accepts exactly what the
 *   reference accepts, and both objects encode to the same bytes;
 * - destroy frees everything (LeakSanitizer).
 *
 * tests/fuzz/replay.c runs the same function over the regression corpus
 * (tests/fuzz/corpus/fuzz_gen_torture) in the ordinary test run. */
#include "fuzz_writer.h"
#include <mapfile/codec.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "torture_ref.h"

MF_DECLARE_PLUGIN(torture);

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const mf_class *cls;
static FILE *sink;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const mf_plugin *p = MF_PLUGIN_FUNCTION(torture)();
    if (!p || !p->classes || !(cls = p->classes[0]) || strcmp(cls->name, "torture") != 0)
        abort();
    if (!(sink = fopen("/dev/null", "w")))
        abort();
    return 0;
}

static void breach(const char *what)
{
    fprintf(stderr, "contract broken by the generated codec 'torture': %s\n", what);
    abort();
}

/* Bytes of @p obj by the generated codec (ref: by the reference); NULL if
 * the writer failed. */
static unsigned char *encode(const void *obj, int ref, size_t *len)
{
    mf_writer w = {.reserve = fz_reserve};
    int rc = ref ? torture_ref_out(obj, &w) : cls->stream_out(obj, &w);
    if (rc != 0 || w.err) {
        free(w.buf);
        return NULL;
    }
    *len = w.len;
    return w.buf ? w.buf : malloc(1);
}

static void use(const void *obj)
{
    mf_writer w = {.reserve = fz_reserve};
    if (cls->to_json(obj, &w) != 0 || w.err)
        breach("to_json failed on an object stream_in accepted");
    free(w.buf);
    cls->print(obj, sink);
}

static void round_trip(const void *obj)
{
    size_t n1, n2;
    unsigned char *b1 = encode(obj, 0, &n1);
    if (!b1)
        breach("stream_out failed on an object stream_in accepted");
    mf_reader r = mf_reader_make(b1, n1);
    void *again = cls->stream_in(&r, cls->version);
    if (!again || r.err)
        breach("its own encoding of a decoded object does not decode");
    unsigned char *b2 = encode(again, 0, &n2);
    if (!b2 || n1 != n2 || memcmp(b1, b2, n1) != 0)
        breach("encode(decode(encode(x))) differs from encode(x)");
    free(b1);
    free(b2);
    cls->destroy(again);
}

/* The reference decodes the same bytes: the same verdict, the same object. */
static void against_reference(const uint8_t *p, size_t n, const void *obj)
{
    mf_reader r = mf_reader_make(p, n);
    struct torture *ref = torture_ref_in(&r);
    if (!ref != !obj)
        breach(obj ? "it accepts a payload the hand-written reference refuses"
                   : "it refuses a payload the hand-written reference accepts");
    if (!ref)
        return;
    size_t ng, nr, nw;
    unsigned char *g = encode(obj, 1, &ng), *h = encode(ref, 1, &nr);
    unsigned char *w = encode(obj, 0, &nw);
    if (!g || !h || !w || ng != nr || memcmp(g, h, ng) != 0)
        breach("its object differs from the reference's");
    if (nw != ng || memcmp(w, g, ng) != 0)
        breach("its stream_out differs from the reference's on the same object");
    free(g);
    free(h);
    free(w);
    torture_ref_free(ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint32_t version;
    switch (data[0] & 3) {
    case 0: version = cls->version; break;
    case 1: version = cls->min_version; break;
    case 2: version = cls->version + 1; break;
    default: version = 0; break;
    }
    mf_reader r = mf_reader_make(data + 1, size - 1);
    void *obj = cls->stream_in(&r, version);
    if (r.pos > r.len)
        breach("the reader position ran past the payload");
    if (!obj && !r.err)
        breach("stream_in returned NULL without setting the reader's error");
    if (obj && r.err)
        breach("stream_in returned an object and an error");
    if (version == cls->version)
        against_reference(data + 1, size - 1, obj);
    if (!obj)
        return 0;
    use(obj);
    round_trip(obj);
    cls->destroy(obj);
    return 0;
}
