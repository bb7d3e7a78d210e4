/* calib_codec.c, version 2 - the `calib` codec one release later. It
 * writes class version 2 (a temperature appended) and still reads version
 * 1 by branching on the stored version, like a Redis module's encver.
 * Built as tests/skew/v2/calib.so. */
#include <mapfile/codec.h>

#include <math.h>
#include <stdio.h>

#include "calib.h"

static int calib_stream_out(const void *obj, mf_writer *w)
{
    const calib *c = obj;
    mf_w_str(w, c->detector);
    mf_w_u32(w, c->run);
    mf_w_varint(w, c->ngains);
    mf_w_f64_array(w, c->gains, c->ngains);
    mf_w_f64(w, c->temperature);
    return w->err ? -1 : 0;
}

/* The fields both versions share, in their version-1 order. */
static calib *read_common(mf_reader *r)
{
    size_t dlen = mf_r_count(r, 1);
    const unsigned char *det = mf_r_take(r, dlen);
    uint32_t run = mf_r_u32(r);
    size_t n = mf_r_count(r, 8);
    if (n > UINT32_MAX)
        mf_r_fail(r, MF_WIRE_TOO_LARGE);
    if (mf_reader_failed(r))
        return NULL;
    calib *c = calib_alloc((const char *)det, dlen, (uint32_t)n);
    if (!c) {
        mf_r_fail(r, MF_WIRE_NOMEM);
        return NULL;
    }
    c->run = run;
    mf_r_f64_array(r, c->gains, n);
    return c;
}

static void *calib_stream_in(mf_reader *r, uint32_t version)
{
    if (version < CALIB_MIN_VERSION || version > CALIB_VERSION) {
        mf_r_fail(r, MF_WIRE_CODEC);
        return NULL;
    }
    calib *c = read_common(r);
    if (!c)
        return NULL;
    if (version >= 2)
        c->temperature = mf_r_f64(r);
    else
        c->temperature = NAN; /* v1 data: not measured */
    if (!mf_reader_failed(r) && mf_r_left(r) != 0)
        mf_r_fail(r, MF_WIRE_MALFORMED);
    if (mf_reader_failed(r)) {
        calib_free(c);
        return NULL;
    }
    return c;
}

static void calib_destroy(void *obj) { calib_free(obj); }

static void calib_print(const void *obj, FILE *out)
{
    const calib *c = obj;
    fprintf(out, "calib v2 \"%s\" run %u, %u gains, temperature %g\n",
            c->detector, (unsigned)c->run, (unsigned)c->ngains, c->temperature);
}

static const mf_class calib_class = {
    sizeof(mf_class), CALIB_CLASS, CALIB_VERSION, CALIB_MIN_VERSION,
    calib_stream_out, calib_stream_in, calib_destroy, calib_print, NULL, NULL,
 NULL, NULL, NULL, 0};

MF_DEFINE_PLUGIN(skew_calib_v2, &calib_class)
