/*
 * producer.c - publish the sample calib_table in a map file.
 *
 *   calib_producer FILE
 *
 * The codec is not linked in: libmapfile finds the "calib_table" class in a
 * plugin on MAPFILE_PLUGIN_PATH (or the installed plugin folder), exactly as
 * any other producer or consumer would.
 */
#include <mapfile/mapfile.h>

#include <stdio.h>

#include "calib.h"
#include "calib_sample.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    calib_table *t = calib_sample();
    if (!t) {
        fprintf(stderr, "calib_producer: out of memory\n");
        return 2;
    }

    mf_file *mf = NULL;
    int rc = mf_open(&mf, argv[1], MF_RECREATE, NULL);
    if (rc == 0)
        rc = mf_put(mf, CALIB_SAMPLE_RECORD, CALIB_CLASS_NAME, t);
    if (rc != 0)
        fprintf(stderr, "calib_producer: %s: %s (%s)\n", argv[1],
                mf_strerror(rc), mf_errdetail());
    int crc = mf_close(mf);
    calib_table_free(t);
    if (rc == 0 && crc != 0) {
        fprintf(stderr, "calib_producer: close: %s\n", mf_strerror(crc));
        rc = crc;
    }
    if (rc == MF_ENOCODEC)
        return 3;
    return rc == 0 ? 0 : 2;
}
