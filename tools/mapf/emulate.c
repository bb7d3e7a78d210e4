/*
 * emulate.c - `mapf get` and `mapf dump` of an object whose codec plugin is
 * not installed, decoded with the schema its producer stored in the file
 * (mapfile/schema.h). The object is emulated: JSON only, read-only. The
 * JSON is exactly what the plugin's to_json writes; the mark that it is
 * emulated goes to stderr, so `mapf get --json` output stays comparable.
 */
#include "mapf.h"

#include "json.h"

#include <mapfile/schema.h>

#include <inttypes.h>
#include <stdlib.h>

/* The note on stderr that marks an emulated object. */
static void emulated_note(const char *path, const char *name, const mf_record_info *ri)
{
    char cname[MF_CLASS_NAME_MAX + 1], rec[MF_NAME_MAX + 1];
    sanitize(cname, sizeof cname, ri->class_name);
    if (mf_schema_record_name(rec, sizeof rec, ri->class_name, ri->class_version))
        snprintf(rec, sizeof rec, "%s...", MF_SCHEMA_PREFIX);
    errorf("note", "%s: %s: class '%s' version %" PRIu32 " has no codec here: emulated "
           "from the schema stored in the file (%s), JSON only, read-only",
           path, name, cname, ri->class_version, rec);
}

int get_emulated(mf_file *mf, const char *path, const char *name, int json)
{
    mf_writer w;
    mf_record_info ri;
    buf_init(&w);
    int rc = mf_get_emulated_json(mf, name, &w, &ri);
    if (rc == MF_ENOCODEC) {
        buf_free(&w);
        return -1; /* no schema either: the caller reports its own error */
    }
    int status = EXIT_OK;
    if (rc < 0) {
        report_mf(path, name, rc);
        status = record_status(rc);
    } else {
        emulated_note(path, name, &ri);
        if (!json) {
            char cname[MF_CLASS_NAME_MAX + 1];
            sanitize(cname, sizeof cname, ri.class_name);
            fputs(cname, stdout);
            putchar(' ');
        }
        mf_w_u8(&w, '\n');
        if (buf_flush_stdout(&w))
            status = EXIT_MISSING;
    }
    buf_free(&w);
    return status;
}

void dump_emulated(mf_file *mf, const char *path, const char *name, const mf_record_info *ri)
{
    char rec[MF_NAME_MAX + 1];
    void *schema = NULL;
    mf_record_info si;
    if (mf_schema_record_name(rec, sizeof rec, ri->class_name, ri->class_version) ||
        mf_get_raw_alloc(mf, rec, &schema, &si) < 0)
        return; /* no stored schema: the hex dump says it all */
    free(schema);
    mf_writer w;
    buf_init(&w);
    int rc = mf_get_emulated_json(mf, name, &w, NULL);
    printf("\nemulated (decoded with the stored schema %s, read-only):\n", rec);
    if (rc < 0) {
        fflush(stdout);
        warn_mf(path, name, rc);
        printf("(cannot decode: %s)\n", mf_strerror(rc));
    } else {
        mf_w_u8(&w, '\n');
        buf_flush_stdout(&w);
    }
    buf_free(&w);
}
