/* calib_codec.c, version 1 - the `calib` codec as first released: writes
 * and reads class version 1 only. Built as tests/skew/v1/calib.so. */
#include <mapfile/codec.h>

#include <stdio.h>

#include "calib.h"

static int calib_stream_out(const void *obj, mf_writer *w)
{
    const calib *c = obj;
    mf_w_str(w, c->detector);
    mf_w_u32(w, c->run);
    mf_w_varint(w, c->ngains);
    mf_w_f64_array(w, c->gains, c->ngains);
    return w->err ? -1 : 0;
}

static void *calib_stream_in(mf_reader *r, uint32_t version)
{
    if (version != 1) {
        mf_r_fail(r, MF_WIRE_CODEC);
        return NULL;
    }
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
    fprintf(out, "calib v1 \"%s\" run %u, %u gains\n", c->detector,
            (unsigned)c->run, (unsigned)c->ngains);
}

static const mf_class calib_class = {
    sizeof(mf_class), CALIB_CLASS, CALIB_VERSION, CALIB_MIN_VERSION,
    calib_stream_out, calib_stream_in, calib_destroy, calib_print, NULL, NULL,
 NULL, NULL, NULL, 0};

MF_DEFINE_PLUGIN(skew_calib_v1, &calib_class)
