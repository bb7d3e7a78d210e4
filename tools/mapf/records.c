/* records.c - opening a map file to read it and listing its records, for
 * the subcommands that inspect files. */
#include "mapf.h"

#include <stdlib.h>
#include <string.h>

int open_read(mf_file **mf, const char *path, int wait_ms)
{
    mf_open_options opts = MF_OPEN_OPTIONS_INIT;
    opts.wait_ms = wait_ms;
    int rc = mf_open(mf, path, MF_READ, &opts);
    if (rc < 0) {
        report_mf(path, NULL, rc);
        return rc;
    }
    return 0;
}

int check_prefix(const mapf_command *c, const char *prefix)
{
    if (prefix && strlen(prefix) > MF_NAME_MAX)
        return usage_error(c, "prefix longer than %d bytes", MF_NAME_MAX);
    return 0;
}

int get_object(mf_file *mf, const char *path, const char *name, void **obj,
               const mf_class **cls)
{
    int rc = mf_get(mf, name, obj, cls);
    if (rc < 0) {
        report_mf(path, name, rc);
        return record_status(rc);
    }
    return EXIT_OK;
}

int collect_records(mf_file *mf, const char *prefix, record_list *out)
{
    mf_iter it;
    mf_record_info info;
    int rc;
    out->n = 0;
    mf_iter_init(&it, mf, prefix);
    while ((rc = mf_iter_next(&it, &info)) == 1) {
        if (out->n == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 64;
            mf_record_info *p = realloc(out->v, cap * sizeof *p);
            if (!p)
                return MF_ENOMEM;
            out->v = p;
            out->cap = cap;
        }
        /* The library fills fixed arrays; terminate them anyway. */
        info.name[MF_NAME_MAX] = '\0';
        info.class_name[MF_CLASS_NAME_MAX] = '\0';
        out->v[out->n++] = info;
    }
    return rc < 0 ? rc : 0;
}

void record_list_free(record_list *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}
