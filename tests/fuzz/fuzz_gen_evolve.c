/* fuzz_gen_evolve.c - libFuzzer harness for a schema-evolved codec `mapf gen`
 * writes: class "evo" after tests/gen/evolve/v1.h .. v4.h were generated in
 * turn into one folder (cmake/gen_codec.cmake, mapfile_gen_evolved_codec),
 * so its stream_in reads version 4 and, through the generated older-version
 * readers, versions 1 to 3. Linked in statically (MF_CODEC_STATIC).
 *
 * Input: byte 0 is the stored class version; the rest is the payload.
 * Versions outside [min_version, version] are what the core refuses before
 * any codec sees them (core/src/read.c): the codec must refuse them too,
 * and they go no further.
 *
 * The contract checked (abort on a breach):
 * - stream_in returns an object, or NULL with the reader's error set, and
 *   never reads outside the payload (ASan) or allocates beyond what the
 *   payload justifies (-malloc_limit_mb);
 * - fields a stored version did not have stay zero (tags and corners before
 *   version 3, pos.stamp before version 4);
 * - an accepted object writes JSON, prints, and round-trips at version 4:
 *   stream_out succeeds, its bytes decode again and encode to the same bytes;
 * - destroy frees everything (LeakSanitizer).
 *
 * tests/fuzz/replay.c runs the same function over the regression corpus
 * (tests/fuzz/corpus/fuzz_gen_evolve) in the ordinary test run; the seeds
 * there (v1_full .. v4_sparse) are written by tests/fuzz/make_evolve_seeds.py. */
#include "fuzz_writer.h"
#include <mapfile/codec.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evo.h"

MF_DECLARE_PLUGIN(evo);

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const mf_class *cls;
static FILE *sink;

static void breach(const char *what)
{
    fprintf(stderr, "contract broken by the evolved generated codec 'evo': %s\n", what);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const mf_plugin *p = MF_PLUGIN_FUNCTION(evo)();
    if (!p || !p->classes || !(cls = p->classes[0]) || strcmp(cls->name, "evo") != 0)
        abort();
    if (cls->version != 4 || cls->min_version != 1)
        breach("the codec of v1.h .. v4.h does not write version 4 and read from version 1");
    if (!(sink = fopen("/dev/null", "w")))
        abort();
    return 0;
}

/* Bytes of @p obj at version 4; NULL if the writer failed. */
static unsigned char *encode(const void *obj, size_t *len)
{
    mf_writer w = {.reserve = fz_reserve};
    if (cls->stream_out(obj, &w) != 0 || w.err) {
        free(w.buf);
        return NULL;
    }
    *len = w.len;
    return w.buf ? w.buf : malloc(1);
}

static int pos_zero_stamp(const struct pos *p)
{
    return p->stamp == 0;
}

/* What @p version did not store must come out zero. */
static void added_fields_zero(const struct evo *e, uint32_t version)
{
    if (version < 3) {
        if (e->tags || e->ntags)
            breach("tags (added in version 3) set from older data");
        for (int i = 0; i < 2; i++)
            if (e->corners[i].x || e->corners[i].z || e->corners[i].stamp)
                breach("corners (added in version 3) set from older data");
    }
    if (version < 2 && (e->label || e->weights[0] != 0 || e->weights[1] != 0 || e->where.z))
        breach("label, weights or pos.z (added in version 2) set from version 1 data");
    if (version < 4 && (!pos_zero_stamp(&e->where) || !pos_zero_stamp(&e->corners[0]) ||
                        !pos_zero_stamp(&e->corners[1])))
        breach("pos.stamp (added in version 4) set from older data");
    if (e->cache)
        breach("cache (MF_SKIP, never stored) set by stream_in");
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
    unsigned char *b1 = encode(obj, &n1);
    if (!b1)
        breach("stream_out failed on an object stream_in accepted");
    mf_reader r = mf_reader_make(b1, n1);
    void *again = cls->stream_in(&r, cls->version);
    if (!again || r.err)
        breach("its own version 4 encoding of a decoded object does not decode");
    unsigned char *b2 = encode(again, &n2);
    if (!b2 || n1 != n2 || memcmp(b1, b2, n1) != 0)
        breach("encode(decode(encode(x))) differs from encode(x)");
    free(b1);
    free(b2);
    cls->destroy(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint32_t version = data[0];
    mf_reader r = mf_reader_make(data + 1, size - 1);
    if (version < cls->min_version || version > cls->version) {
        /* The core never passes it on; the codec's own check must agree. */
        void *obj = cls->stream_in(&r, version);
        if (obj || !r.err)
            breach("stream_in accepted a version outside [min_version, version]");
        return 0;
    }
    void *obj = cls->stream_in(&r, version);
    if (r.pos > r.len)
        breach("the reader position ran past the payload");
    if (!obj && !r.err)
        breach("stream_in returned NULL without setting the reader's error");
    if (obj && r.err)
        breach("stream_in returned an object and an error");
    if (!obj)
        return 0;
    added_fields_zero(obj, version);
    use(obj);
    round_trip(obj);
    cls->destroy(obj);
    return 0;
}
