/*
 * get.c - `mapf get FILE NAME` (rebuild an object with its codec and print
 * it) and `mapf dump FILE NAME` (the record header and raw payload, no
 * codec needed).
 */
#include "mapf.h"

#include "json.h"
#include "objjson.h"

#include <inttypes.h>
#include <stdlib.h>

/* ------------------------------------------------------------------------ */
/* get                                                                      */
/* ------------------------------------------------------------------------ */

static int print_json_object(const char *path, const char *name,
                             const mf_class *cls, const void *obj)
{
    char cname[MF_CLASS_NAME_MAX + 1];
    sanitize(cname, sizeof cname, cls->name);
    mf_writer w;
    buf_init(&w);
    /* The same bytes `mapf serve` answers for /NAME/get.json. */
    int rc = mft_object_json(cls, obj, &w);
    int status = EXIT_OK;
    if (rc == MFT_JSON_NO_METHOD) {
        errorf(path, "%s: class '%s' has no to_json method (try 'mapf dump')",
               name, cname);
        status = EXIT_MISSING;
    } else if (rc != MFT_JSON_OK) {
        errorf(path, "%s: class '%s' failed to write JSON", name, cname);
        status = EXIT_MISSING;
    } else if (buf_flush_stdout(&w)) {
        status = EXIT_MISSING;
    }
    buf_free(&w);
    return status;
}

/* Print @p obj with its class's print, or as JSON when asked or when the
 * class has no print. */
static int print_object(const char *path, const char *name, const mf_class *cls,
                        const void *obj, int json)
{
    if (!json && !cls->print && !cls->to_json) {
        char cname[MF_CLASS_NAME_MAX + 1];
        sanitize(cname, sizeof cname, cls->name);
        errorf(path, "%s: class '%s' has no print or to_json method (try "
               "'mapf dump')", name, cname);
        return EXIT_MISSING;
    }
    if (json || !cls->print)
        return print_json_object(path, name, cls, obj);
    cls->print(obj, stdout);
    return EXIT_OK;
}

static int run_get(const mapf_args *a)
{
    const char *path = a->pos[0], *name = a->pos[1];
    mf_file *mf;
    void *obj = NULL;
    const mf_class *cls = NULL;
    int status, json = mapf_flag(a, "--json");
    if (open_read(&mf, path, 0))
        return EXIT_USAGE;
    int rc = mf_get(mf, name, &obj, &cls);
    /* No plugin for its class: the schema stored in the file, if any. */
    if (rc == MF_ENOCODEC && (status = get_emulated(mf, path, name, json)) >= 0) {
        mf_close(mf);
        return finish_stdout(status);
    }
    if (rc < 0)
        status = get_object(mf, path, name, &obj, &cls); /* reports it */
    else
        status = EXIT_OK;
    if (status == EXIT_OK) {
        status = print_object(path, name, cls, obj, json);
        mf_object_free(cls, obj);
    }
    mf_close(mf);
    return finish_stdout(status);
}

static const mapf_option get_options[] = {
    {"--json", NULL, 0},
    {NULL, NULL, 0},
};

const mapf_command mapf_cmd_get = {
    .name = "get",
    .run = run_get,
    .options = get_options,
    .min_pos = 2,
    .max_pos = 2,
    .synopsis = "[--json] FILE NAME",
    .help = "Rebuild the object NAME with its codec and print it. Exit 1 if there is\n"
            "no such record or no codec for its class (the error names the class\n"
            "and the plugin search path). Without a plugin, a class whose producer\n"
            "stored its schema in the file (codecs made by mapf gen) is decoded with\n"
            "it: the same JSON, marked emulated by a note on stderr.\n"
            "\n"
            "  --json  print the object as JSON (numbers at full precision)\n",
};

/* ------------------------------------------------------------------------ */
/* dump                                                                     */
/* ------------------------------------------------------------------------ */

/* hexdump -C style: offset, 16 bytes in two groups of 8, ASCII column. */
static void hexdump(const unsigned char *p, size_t n, FILE *out)
{
    for (size_t off = 0; off < n; off += 16) {
        size_t k = n - off < 16 ? n - off : 16;
        fprintf(out, "%08zx ", off);
        for (size_t i = 0; i < 16; i++) {
            if (i == 8)
                fputc(' ', out);
            if (i < k)
                fprintf(out, " %02x", p[off + i]);
            else
                fputs("   ", out);
        }
        fputs("  |", out);
        for (size_t i = 0; i < k; i++) {
            unsigned char c = p[off + i];
            fputc(c >= 0x20 && c < 0x7f ? c : '.', out);
        }
        fputs("|\n", out);
    }
}

static void print_record_header(mf_record_info *ri)
{
    char t[64];
    ri->name[MF_NAME_MAX] = '\0';
    ri->class_name[MF_CLASS_NAME_MAX] = '\0';
    fmt_time(t, sizeof t, ri->update_time_ns);
    printf("name:       ");
    fput_safe(ri->name, stdout);
    printf("\nclass:      ");
    fput_safe(ri->class_name, stdout);
    printf("\nversion:    %" PRIu32 "\n", ri->class_version);
    printf("size:       %" PRIu64 "\n", ri->size);
    printf("checksum:   0x%016" PRIx64 "\n", ri->checksum);
    printf("generation: %" PRIu64 "\n", ri->generation);
    printf("updates:    %" PRIu64 "\n", ri->update_count);
    printf("updated:    %s\n", t);
    printf("batch:      %" PRIu64 "\n", ri->batch);
}

/* The payload of a record whose checksum fails, read again through a
 * handle that skips the checksum (MF_OPEN_NO_VERIFY): the one time a user
 * wants the bytes is when they are damaged. The read is still never torn.
 * Returns 0 or a negative MF_E* code (reported). */
static int get_raw_unverified(const char *path, const char *name, void **data,
                              mf_record_info *ri)
{
    mf_open_options opts = MF_OPEN_OPTIONS_INIT;
    opts.flags = MF_OPEN_NO_VERIFY;
    mf_file *mf;
    int rc = mf_open(&mf, path, MF_READ, &opts);
    if (rc == 0) {
        rc = mf_get_raw_alloc(mf, name, data, ri);
        mf_close(mf);
    }
    if (rc < 0)
        report_mf(path, name, rc);
    return rc;
}

static int run_dump(const mapf_args *a)
{
    const char *path = a->pos[0], *name = a->pos[1];
    mf_file *mf;
    void *data = NULL;
    mf_record_info ri;
    int status = EXIT_OK;
    if (open_read(&mf, path, 0))
        return EXIT_USAGE;
    int rc = mf_get_raw_alloc(mf, name, &data, &ri);
    if (rc == MF_ECHECKSUM) {
        warn_mf(path, name, rc);
        errorf("warning", "%s: %s: showing the payload anyway; it does not "
               "match its stored checksum", path, name);
        status = EXIT_MISSING;
        rc = get_raw_unverified(path, name, &data, &ri);
        if (rc < 0) {
            mf_close(mf);
            return record_status(rc);
        }
    } else if (rc < 0) {
        report_mf(path, name, rc);
        mf_close(mf);
        return record_status(rc);
    }
    print_record_header(&ri);
    if (ri.size) {
        putchar('\n');
        hexdump(data, (size_t)ri.size, stdout);
    }
    free(data);
    if (status == EXIT_OK) /* a damaged payload is not decoded */
        dump_emulated(mf, path, name, &ri);
    mf_close(mf);
    return finish_stdout(status);
}

const mapf_command mapf_cmd_dump = {
    .name = "dump",
    .run = run_dump,
    .min_pos = 2,
    .max_pos = 2,
    .synopsis = "FILE NAME",
    .help = "Print the record header of NAME and its raw payload as a hex dump\n"
            "(offset, 16 bytes, ASCII). Needs no codec. A payload that fails its\n"
            "checksum is shown anyway, with a warning on stderr, and exits 1.\n"
            "When the file holds the schema of the record's class (a codec made by\n"
            "mapf gen stores it), the payload decoded with it follows as JSON.\n",
};
