/* calib_producer.c - a producer of `calib` tables, built once against
 * v1/calib.h and once against v2/calib.h (calib_producer_v1/_v2). It finds
 * the codec the way any program does: the default registry, so
 * MAPFILE_PLUGIN_PATH decides which calib.so it gets, and it refuses to run
 * with a codec of another version than the header it was built with.
 *
 *   calib_producer MAP NAME RUN [--payload FILE] [--live]
 *
 * Puts calib_sample(RUN) under NAME in MAP (opened UPDATE) and prints
 * "put NAME run RUN version V". --payload writes the stored payload bytes
 * to FILE (how tests/fixtures/v1/calib_v1.bin was made). --live then reads
 * one run number per line from stdin and puts that run, printing a line
 * each time, until end of input.
 *
 * Exit: 0 done, 1 mapfile error ("error MF_E... detail" on stdout), 2 usage,
 * 3 wrong codec version. */
#include <mapfile/mapfile.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib.h"

static int fail(const char *what, int rc)
{
    printf("error %s %s: %s\n", mf_err_name(rc), what, mf_errdetail());
    fflush(stdout);
    return 1;
}

static int put_run(mf_file *mf, const char *name, uint32_t run)
{
    calib *c = calib_sample(run);
    if (!c)
        return fail("calib_sample", MF_ENOMEM);
    int rc = mf_put(mf, name, CALIB_CLASS, c);
    calib_free(c);
    if (rc)
        return fail("put", rc);
    printf("put %s run %u version %u\n", name, (unsigned)run, CALIB_VERSION);
    fflush(stdout);
    return 0;
}

static int write_payload(mf_file *mf, const char *name, const char *out)
{
    void *data;
    mf_record_info info;
    int rc = mf_get_raw_alloc(mf, name, &data, &info);
    if (rc)
        return fail("get_raw", rc);
    FILE *f = fopen(out, "wb");
    int ok = f && fwrite(data, 1, info.size, f) == info.size;
    if (f && fclose(f) != 0)
        ok = 0;
    free(data);
    if (!ok) {
        printf("error writing %s\n", out);
        fflush(stdout);
        return 1;
    }
    printf("payload %s %llu bytes class_version %u\n", out,
           (unsigned long long)info.size, (unsigned)info.class_version);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s MAP NAME RUN [--payload FILE] [--live]\n",
                argv[0]);
        return 2;
    }
    const char *path = argv[1], *name = argv[2];
    uint32_t run = (uint32_t)strtoul(argv[3], NULL, 10);
    const char *payload = NULL;
    int live = 0;
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "--live"))
            live = 1;
        else if (!strcmp(argv[i], "--payload") && i + 1 < argc)
            payload = argv[++i];
        else
            return 2;
    }
    const mf_class *cls;
    int rc = mf_registry_find(mf_registry_default(), CALIB_CLASS, &cls);
    if (rc)
        return fail("find codec", rc);
    if (cls->version != CALIB_VERSION) {
        printf("error codec writes version %u, this producer was built for %u\n",
               (unsigned)cls->version, CALIB_VERSION);
        fflush(stdout);
        return 3;
    }
    mf_file *mf;
    if ((rc = mf_open(&mf, path, MF_UPDATE, NULL)))
        return fail("open", rc);
    rc = put_run(mf, name, run);
    if (!rc && payload)
        rc = write_payload(mf, name, payload);
    if (!rc && live) {
        char line[64];
        while (!rc && fgets(line, sizeof line, stdin))
            rc = put_run(mf, name, (uint32_t)strtoul(line, NULL, 10));
    }
    mf_close(mf);
    fflush(stdout);
    return rc;
}
