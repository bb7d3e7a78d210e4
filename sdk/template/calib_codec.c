/*
 * calib_codec.c - a complete mapfile codec plugin for one C struct
 * (struct calib_table, see calib.h). Copy this file to start your own.
 *
 * What a plugin is: a shared object that includes only <mapfile/codec.h>,
 * links nothing from mapfile, and exports one symbol, mapfile_plugin_entry,
 * which returns a descriptor listing its classes (MF_DEFINE_PLUGIN at the
 * bottom). The host dlopen()s it RTLD_LOCAL, so nothing else in here is
 * seen from outside: keep every other function static.
 *
 * Build it with CMake (CMakeLists.txt beside this file) or with plain cc:
 *   cc -shared -fPIC $(pkg-config --cflags mapfile-sdk) -o calib_codec.so calib_codec.c
 *
 * The rules a codec keeps (README.md explains each):
 *   - never write a pointer into the payload: only values, counts, strings;
 *   - write every multi-byte value with mf_w_*() (fixed little-endian;
 *     every C scalar type and arrays of each: mf_w_u16(), mf_w_f32_array(),
 *     ...), strings with mf_w_str() and bytes that may hold NULs with
 *     mf_w_blob(); refuse an object you cannot store with mf_w_fail();
 *   - read with mf_r_*(), which never read outside the payload and make
 *     errors sticky: read everything, then check mf_reader_failed() once;
 *   - size every allocation from mf_r_count(), so a hostile count fails
 *     before it reaches malloc;
 *   - stream_in() may see bytes that a writer changes while it decodes
 *     (the core then discards the object): never assert, log or keep a
 *     pointer into the payload (mf_r_take() pointers die when it returns);
 *   - stream_in() receives the version the payload was written with: branch
 *     on it to keep reading old data after you change the layout.
 */
#include <mapfile/codec.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib.h"

/*
 * Class versions. Bump CALIB_VERSION whenever the wire layout changes, and
 * keep stream_in() able to read every version from CALIB_MIN_VERSION on.
 * The host refuses records outside [CALIB_MIN_VERSION, CALIB_VERSION] with a
 * clear error before calling stream_in(), so a new producer never gets its
 * data misread by an old consumer.
 */
#define CALIB_VERSION 1
#define CALIB_MIN_VERSION 1

/*
 * Wire layout, version 1:
 *   str      name
 *   str      comment
 *   u32      first_run
 *   f64 x 4  gains             (fixed size: the version pins the count)
 *   varint   nchannels
 *   nchannels times:
 *     u32    id
 *     varint ncoeffs
 *     f64 x ncoeffs  coeffs
 */

/* Smallest encoding of one channel: a u32 id and a one-byte varint count.
 * mf_r_count() uses it to prove the payload can hold nchannels channels. */
#define CALIB_MIN_CHANNEL_BYTES (4 + 1)

static int calib_stream_out(const void *obj, mf_writer *w)
{
    const calib_table *t = obj;

    /* The name is a fixed buffer: refuse one that is not NUL-terminated
     * instead of reading past it (consumers would refuse it too). */
    if (!memchr(t->name, '\0', sizeof t->name)) {
        mf_w_fail(w, MF_WIRE_CODEC);
        return -1;
    }
    mf_w_str(w, t->name);
    mf_w_str(w, t->comment);
    mf_w_u32(w, t->first_run);
    mf_w_f64_array(w, t->gains, CALIB_NGAINS);
    mf_w_varint(w, t->nchannels);
    for (size_t i = 0; i < t->nchannels; i++) {
        const calib_channel *c = &t->channels[i];
        mf_w_u32(w, c->id);
        mf_w_varint(w, c->ncoeffs);
        mf_w_f64_array(w, c->coeffs, c->ncoeffs);
    }
    /* Writer errors are sticky too: one check covers every call above. */
    return w->err ? -1 : 0;
}

/* Read the channels of a v1 payload into t; errors go to r. */
static void calib_read_channels_v1(mf_reader *r, calib_table *t)
{
    size_t n = mf_r_count(r, CALIB_MIN_CHANNEL_BYTES);
    if (n == 0)
        return;
    t->channels = calloc(n, sizeof *t->channels);
    if (!t->channels) {
        mf_r_fail(r, MF_WIRE_NOMEM);
        return;
    }
    /* Set the count only once the array exists, so calib_table_free()
     * is right whatever happens below. */
    t->nchannels = n;
    for (size_t i = 0; i < n && !mf_reader_failed(r); i++) {
        calib_channel *c = &t->channels[i];
        c->id = mf_r_u32(r);
        size_t m = mf_r_count(r, 8); /* each coefficient takes 8 bytes */
        if (m == 0)
            continue;
        c->coeffs = malloc(m * sizeof *c->coeffs);
        if (!c->coeffs) {
            mf_r_fail(r, MF_WIRE_NOMEM);
            return;
        }
        c->ncoeffs = m;
        mf_r_f64_array(r, c->coeffs, m);
    }
}

static void *calib_stream_in(mf_reader *r, uint32_t version)
{
    calib_table *t = calloc(1, sizeof *t);
    if (!t) {
        mf_r_fail(r, MF_WIRE_NOMEM);
        return NULL;
    }
    /*
     * One branch per stored version. When v2 adds a field at the end, this
     * becomes: read the v1 fields; if (version >= 2) read the new field,
     * else give it its default. The host has already checked that version
     * lies in [CALIB_MIN_VERSION, CALIB_VERSION].
     */
    switch (version) {
    case 1:
        /* A name that does not fit the fixed buffer is an error, never
         * silently cut. */
        mf_r_str_into(r, t->name, sizeof t->name);
        t->comment = mf_r_str_dup(r);
        t->first_run = mf_r_u32(r);
        mf_r_f64_array(r, t->gains, CALIB_NGAINS);
        calib_read_channels_v1(r, t);
        break;
    default:
        mf_r_fail(r, MF_WIRE_CODEC);
        break;
    }
    /* Reads after a failure return zeros and change nothing, so one check
     * at the end is enough. A v1 payload ends here: anything left over
     * means it is not what we wrote. */
    if (!mf_reader_failed(r) && mf_r_left(r) != 0)
        mf_r_fail(r, MF_WIRE_MALFORMED);
    if (mf_reader_failed(r)) {
        calib_table_free(t);
        return NULL;
    }
    return t;
}

static void calib_destroy(void *obj) { calib_table_free(obj); }

/* Optional: what `mapf get FILE NAME` prints. */
static void calib_print(const void *obj, FILE *out)
{
    const calib_table *t = obj;
    fprintf(out, "calib_table \"%s\" from run %u: %s\n", t->name,
            (unsigned)t->first_run, t->comment ? t->comment : "");
    fprintf(out, "  gains:");
    for (size_t i = 0; i < CALIB_NGAINS; i++)
        fprintf(out, " %g", t->gains[i]);
    fprintf(out, "\n");
    for (size_t i = 0; i < t->nchannels; i++) {
        const calib_channel *c = &t->channels[i];
        fprintf(out, "  channel %u:", (unsigned)c->id);
        for (size_t k = 0; k < c->ncoeffs; k++)
            fprintf(out, " %g", c->coeffs[k]);
        fprintf(out, "\n");
    }
}

/* Optional: one JSON object, for `mapf get --json` and bridges. */
static int calib_to_json(const void *obj, mf_writer *w)
{
    const calib_table *t = obj;
    mf_w_printf(w, "{\"name\":");
    mf_w_json_str(w, t->name);
    mf_w_printf(w, ",\"comment\":");
    mf_w_json_str(w, t->comment ? t->comment : "");
    mf_w_printf(w, ",\"first_run\":%u,\"gains\":[", (unsigned)t->first_run);
    for (size_t i = 0; i < CALIB_NGAINS; i++) {
        if (i)
            mf_w_u8(w, ',');
        mf_w_json_num(w, t->gains[i]);
    }
    mf_w_printf(w, "],\"channels\":[");
    for (size_t i = 0; i < t->nchannels; i++) {
        const calib_channel *c = &t->channels[i];
        mf_w_printf(w, "%s{\"id\":%u,\"coeffs\":[", i ? "," : "",
                    (unsigned)c->id);
        for (size_t k = 0; k < c->ncoeffs; k++) {
            if (k)
                mf_w_u8(w, ',');
            mf_w_json_num(w, c->coeffs[k]);
        }
        mf_w_printf(w, "]}");
    }
    mf_w_printf(w, "]}");
    return w->err ? -1 : 0;
}

/*
 * Optional methods, callable by name through mf_call() and `mapf call`
 * by a consumer that never saw calib.h. The first parameter is always the
 * object; see the signature letters in codec.h.
 */
static int64_t calib_m_nchannels(void *obj)
{
    return (int64_t)((const calib_table *)obj)->nchannels;
}

/* Evaluate channel number `index` (0-based) at x; NaN for a bad index. */
static double calib_m_eval(void *obj, int64_t index, double x)
{
    const calib_table *t = obj;
    if (index < 0 || (uint64_t)index >= t->nchannels)
        return NAN;
    const calib_channel *c = &t->channels[index];
    double y = 0;
    for (size_t k = c->ncoeffs; k-- > 0;)
        y = y * x + c->coeffs[k];
    return y;
}

/* A returned string is owned by the object (see codec.h). */
static const char *calib_m_name(void *obj)
{
    return ((const calib_table *)obj)->name;
}

static const mf_method calib_methods[] = {
    MF_METHOD("nchannels", "i(o)", calib_m_nchannels),
    MF_METHOD("eval", "d(o,i,d)", calib_m_eval),
    MF_METHOD("name", "s(o)", calib_m_name),
    {sizeof(mf_method), NULL, NULL, NULL},
};

/*
 * The class descriptor. struct_size lets a newer host see which fields this
 * plugin knows about: the struct only ever grows at the end, and a host
 * treats fields past struct_size as absent.
 */
static const mf_class calib_class = {
    .struct_size = sizeof(mf_class),
    .name = CALIB_CLASS_NAME,
    .version = CALIB_VERSION,
    .min_version = CALIB_MIN_VERSION,
    .stream_out = calib_stream_out,
    .stream_in = calib_stream_in,
    .destroy = calib_destroy,
    .print = calib_print,
    .to_json = calib_to_json,
    .methods = calib_methods,
};

/* The one exported symbol: plugin name and its NULL-terminated classes,
 * stamped with the ABI version this file was compiled against. */
MF_DEFINE_PLUGIN(calib, &calib_class)
