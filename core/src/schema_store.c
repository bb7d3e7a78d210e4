/*
 * schema_store.c - schemas that travel in the file (mapfile/schema.h): the
 * producer stores each generated class's schema once, in the reserved
 * record ".mapfile/schema/CLASS@VERSION"; readers without the plugin
 * decode with it (mf_get_emulated_json()).
 */
#include "file.h"

#include <mapfile/schema.h>

#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The schema a class carries (ABI 1.2), or NULL. */
static const unsigned char *class_schema(const mf_class *cls, size_t *size)
{
    if (cls->struct_size < offsetof(mf_class, schema_size) + sizeof cls->schema_size ||
        !cls->schema || !cls->schema_size)
        return NULL;
    *size = cls->schema_size;
    return cls->schema;
}

int mf_schema_record_name(char *buf, size_t cap, const char *class_name, uint32_t version)
{
    int rc = mf__check_class_name(class_name);
    if (rc)
        return rc;
    int n = snprintf(buf, cap, "%s%s@%" PRIu32, MF_SCHEMA_PREFIX, class_name, version);
    if (n < 0 || (size_t)n >= cap)
        return mf__fail(MF_ETOOSMALL, "schema record name of class '%s' needs %d bytes",
                        class_name, n + 1);
    return 0;
}

int mf__check_user_name(const char *name, const char *class_name)
{
    int rc = mf__check_record_name(name);
    if (rc)
        return rc;
    if (strncmp(name, MF_RESERVED_PREFIX, strlen(MF_RESERVED_PREFIX)) != 0)
        return 0;
    if (class_name && strcmp(class_name, MF_SCHEMA_CLASS) == 0)
        return 0;
    char q[MF__QUOTE_MAX * 4 + 8];
    return mf__fail(MF_ENAME, "record name '%s' starts with '%s', which is reserved for "
                    "mapfile's own records (stored schemas): choose another name",
                    mf__quote(q, sizeof q, name), MF_RESERVED_PREFIX);
}

static int memo_has(const mf_file *mf, const mf_class *cls)
{
    for (size_t i = 0; i < mf->nschemas; i++)
        if (mf->schemas[i] == cls)
            return 1;
    return 0;
}

static int memo_add(mf_file *mf, const mf_class *cls)
{
    if (mf->nschemas == mf->cap_schemas) {
        size_t cap = mf->cap_schemas ? mf->cap_schemas * 2 : 8;
        const mf_class **p = realloc(mf->schemas, cap * sizeof *p);
        if (!p)
            return mf__fail(MF_ENOMEM, "%s: out of memory", mf->path);
        mf->schemas = p;
        mf->cap_schemas = cap;
    }
    mf->schemas[mf->nschemas++] = cls;
    return 0;
}

/* Does the file already hold exactly these schema bytes under @p rec? */
static int stored_equal(mf_file *mf, const char *rec, const unsigned char *s, size_t size)
{
    void *data = NULL;
    mf_record_info ri;
    int same = mf_get_raw_alloc(mf, rec, &data, &ri) == 0 && ri.size == size &&
               strcmp(ri.class_name, MF_SCHEMA_CLASS) == 0 &&
               ri.class_version == MF_SCHEMA_FORMAT && memcmp(data, s, size) == 0;
    free(data);
    return same;
}

int mf__schema_ensure(mf_file *mf, const mf_class *cls)
{
    size_t size = 0;
    const unsigned char *s = class_schema(cls, &size);
    if (!s || memo_has(mf, cls))
        return 0;
    char rec[MF_NAME_MAX + 1];
    int rc = mf_schema_record_name(rec, sizeof rec, cls->name, cls->version);
    if (rc)
        return rc;
    if ((rc = mf_schema_check(s, size)))
        return mf__fail(MF_ECODEC, "%s: class '%s' carries an invalid schema (%s); "
                        "regenerate its codec with mapf gen", mf->path, cls->name,
                        mf__detail());
    if (!stored_equal(mf, rec, s, size)) {
        struct mf__op op = {0};
        op.name = rec;
        op.name_len = strlen(rec);
        op.hash = mf__hash_name(rec, op.name_len);
        op.class_name = MF_SCHEMA_CLASS;
        op.class_version = MF_SCHEMA_FORMAT;
        op.data = s;
        op.size = size;
        if ((rc = mf__publish(mf, &op, 1)))
            return rc;
    }
    mf__clear_detail();
    return memo_add(mf, cls);
}

int mf_get_emulated_json(mf_file *mf, const char *name, mf_writer *w, mf_record_info *info)
{
    mf__clear_detail();
    if (!mf || !w)
        return mf__fail(MF_EINVAL, "mf_get_emulated_json: NULL argument");
    void *data = NULL, *schema = NULL;
    mf_record_info ri, si;
    int rc = mf_get_raw_alloc(mf, name, &data, &ri);
    if (rc)
        return rc;
    ri.class_name[MF_CLASS_NAME_MAX] = '\0';
    if (info)
        *info = ri;
    char rec[MF_NAME_MAX + 1];
    if ((rc = mf_schema_record_name(rec, sizeof rec, ri.class_name, ri.class_version)))
        goto out;
    rc = mf_get_raw_alloc(mf, rec, &schema, &si);
    if (rc == MF_ENOTFOUND) {
        rc = mf__fail(MF_ENOCODEC, "%s: '%s' is of class '%s' version %" PRIu32 ": no "
                      "codec, and the file holds no schema for it (%s)", mf->path, name,
                      ri.class_name, ri.class_version, rec);
        goto out;
    }
    if (rc)
        goto out;
    si.class_name[MF_CLASS_NAME_MAX] = '\0';
    if (strcmp(si.class_name, MF_SCHEMA_CLASS) != 0 || si.class_version != MF_SCHEMA_FORMAT) {
        rc = mf__fail(MF_ECORRUPT, "%s: schema record '%s' is of class '%s' version %" PRIu32
                      ", not %s version %d", mf->path, rec, si.class_name,
                      si.class_version, MF_SCHEMA_CLASS, MF_SCHEMA_FORMAT);
        goto out;
    }
    rc = mf_schema_to_json(schema ? schema : (void *)"", (size_t)si.size, data, (size_t)ri.size, w);
    if (rc) {
        char detail[512];
        snprintf(detail, sizeof detail, "%s", mf__detail());
        rc = mf__fail(rc, "%s: '%s' (class '%s', emulated with the stored schema '%s'): %s",
                      mf->path, name, ri.class_name, rec, detail);
    }
out:
    free(data);
    free(schema);
    return rc;
}
