/* calib_consumer.c - a consumer of `calib` tables, built once against
 * v1/calib.h and once against v2/calib.h (calib_consumer_v1/_v2). The
 * codec comes from the default registry (MAPFILE_PLUGIN_PATH).
 *
 *   calib_consumer MAP NAME [--until-run N]
 *
 * Gets NAME and prints what it rebuilt, one field per line, doubles in %a
 * so a test can compare bits:
 *   class_version V   (stored with the record)
 *   codec_version V   (what the codec it loaded writes)
 *   detector TEXT
 *   run R
 *   gains N G0 G1 ...
 *   temperature T     (v2 consumers only; "nan" for v1 data)
 * With --until-run it waits for MAP to appear and then for the record to
 * reach run N (mf_wait, no polling) before printing.
 *
 * Exit: 0 printed, 1 mapfile error ("error MF_E... detail"), 2 usage. */
#include <mapfile/mapfile.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib.h"

static int fail(mf_file *mf, const char *what, int rc)
{
    printf("error %s %s: %s\n", mf_err_name(rc), what, mf_errdetail());
    fflush(stdout);
    mf_close(mf);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 3 && !(argc == 5 && !strcmp(argv[3], "--until-run"))) {
        fprintf(stderr, "usage: %s MAP NAME [--until-run N]\n", argv[0]);
        return 2;
    }
    const char *path = argv[1], *name = argv[2];
    int until = argc == 5;
    uint32_t want = until ? (uint32_t)strtoul(argv[4], NULL, 10) : 0;
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.wait_ms = until ? -1 : 0;
    mf_file *mf;
    int rc = mf_open(&mf, path, MF_READ, &o);
    if (rc)
        return fail(NULL, "open", rc);
    uint64_t seen = 0;
    void *obj = NULL;
    const mf_class *cls = NULL;
    mf_record_info info;
    for (;;) {
        if (until && (rc = mf_wait(mf, &seen, -1)))
            return fail(mf, "wait", rc);
        rc = mf_get(mf, name, &obj, &cls);
        if (rc == MF_ENOTFOUND && until)
            continue;
        if (rc)
            return fail(mf, "get", rc);
        if (!until || ((calib *)obj)->run == want)
            break;
        mf_object_free(cls, obj);
    }
    /* The stored version of what we just read: the producer may move on,
     * but it writes one version only. */
    if ((rc = mf_stat(mf, name, &info))) {
        mf_object_free(cls, obj);
        return fail(mf, "stat", rc);
    }
    const calib *c = obj;
    printf("class_version %u\n", (unsigned)info.class_version);
    printf("codec_version %u\n", (unsigned)cls->version);
    printf("detector %s\n", c->detector);
    printf("run %u\n", (unsigned)c->run);
    printf("gains %u", (unsigned)c->ngains);
    for (uint32_t i = 0; i < c->ngains; i++)
        printf(" %a", c->gains[i]);
    printf("\n");
#if CALIB_VERSION >= 2
    printf("temperature %a\n", c->temperature);
#endif
    mf_object_free(cls, obj);
    mf_close(mf);
    return 0;
}
