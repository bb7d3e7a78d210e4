/*
 * consumer.c - read the sample calib_table back and check it field by field
 * (decoded by the codec `mapf gen` wrote from calib.h).
 *
 *   calib_consumer FILE
 *
 * Exit status: 0 the object equals the sample; 1 it differs (each
 * difference is printed); 3 no codec for calib_table was found; 2 any other
 * error.
 */
#include <mapfile/mapfile.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "calib.h"
#include "calib_sample.h"

static int differences;

static void differ(const char *what)
{
    fprintf(stderr, "calib_consumer: %s differs from the sample\n", what);
    differences++;
}

/* Bit-for-bit: a codec must not lose the sign of -0.0 or any last bit. */
static int same_doubles(const double *a, const double *b, size_t n)
{
    return n == 0 || memcmp(a, b, n * sizeof *a) == 0;
}

static void compare(const calib_table *got, const calib_table *want)
{
    char what[64];

    if (strcmp(got->name, want->name) != 0)
        differ("name");
    if (strcmp(got->comment ? got->comment : "", want->comment) != 0)
        differ("comment");
    if (got->first_run != want->first_run)
        differ("first_run");
    if (!same_doubles(got->gains, want->gains, CALIB_NGAINS))
        differ("gains");
    if (got->nchannels != want->nchannels) {
        differ("nchannels");
        return;
    }
    for (size_t i = 0; i < want->nchannels; i++) {
        const calib_channel *g = &got->channels[i], *w = &want->channels[i];
        snprintf(what, sizeof what, "channels[%zu].id", i);
        if (g->id != w->id)
            differ(what);
        snprintf(what, sizeof what, "channels[%zu].ncoeffs", i);
        if (g->ncoeffs != w->ncoeffs) {
            differ(what);
            continue;
        }
        snprintf(what, sizeof what, "channels[%zu].coeffs", i);
        if (!same_doubles(g->coeffs, w->coeffs, w->ncoeffs))
            differ(what);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    calib_table *want = calib_sample();
    if (!want) {
        fprintf(stderr, "calib_consumer: out of memory\n");
        return 2;
    }

    mf_file *mf = NULL;
    void *obj = NULL;
    const mf_class *cls = NULL;
    mf_record_info info;
    int rc = mf_open(&mf, argv[1], MF_READ, NULL);
    if (rc == 0)
        rc = mf_stat(mf, CALIB_SAMPLE_RECORD, &info);
    if (rc == 0)
        rc = mf_get(mf, CALIB_SAMPLE_RECORD, &obj, &cls);
    if (rc != 0) {
        fprintf(stderr, "calib_consumer: %s: %s (%s)\n", argv[1],
                mf_strerror(rc), mf_errdetail());
        mf_close(mf);
        calib_table_free(want);
        return rc == MF_ENOCODEC ? 3 : 2;
    }

    if (strcmp(info.class_name, CALIB_CLASS_NAME) != 0)
        differ("stored class name");
    if (info.class_version != cls->version)
        differ("stored class version (not the version this codec writes)");
    if (strcmp(cls->name, CALIB_CLASS_NAME) != 0)
        differ("codec class name");
    compare(obj, want);

    mf_object_free(cls, obj);
    mf_close(mf);
    calib_table_free(want);
    if (differences) {
        fprintf(stderr, "calib_consumer: %d difference(s)\n", differences);
        return 1;
    }
    printf("calib_consumer: %s (%s v%" PRIu32 ", %" PRIu64
           " bytes) matches the sample\n",
           CALIB_SAMPLE_RECORD, info.class_name, info.class_version, info.size);
    return 0;
}
