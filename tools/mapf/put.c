/* put.c - `mapf put` (store a text or blob record) and `mapf rm` (remove
 * records): the subcommands that write to a map file. */
#include "mapf.h"

#include <mapfile/builtin.h>

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Biggest blob `put --blob` reads: the default map size limit. Anything
 * larger could never be stored, and /dev/zero must not eat all memory. */
#define BLOB_MAX ((uint64_t)1 << 30)

/* ------------------------------------------------------------------------ */
/* put                                                                      */
/* ------------------------------------------------------------------------ */

/* Read all of @p f (named @p file) into *buf, growing it; 0 or EXIT_USAGE
 * after reporting. */
static int read_all(FILE *f, const char *file, unsigned char **buf, size_t *len)
{
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            if (ncap > BLOB_MAX + 1)
                ncap = BLOB_MAX + 1;
            unsigned char *p = realloc(*buf, ncap);
            if (!p) {
                errorf(file, "out of memory");
                return EXIT_USAGE;
            }
            *buf = p;
            cap = ncap;
        }
        size_t got = fread(*buf + n, 1, cap - n, f);
        n += got;
        if (n > BLOB_MAX) {
            errorf(file, "larger than %" PRIu64 " bytes", BLOB_MAX);
            return EXIT_USAGE;
        }
        if (got == 0) {
            if (ferror(f)) {
                errorf(file, "cannot read: %s", strerror(errno));
                return EXIT_USAGE;
            }
            *len = n;
            return 0;
        }
    }
}

/* Read all of @p file ("-" for stdin) into a new buffer. Returns 0 or
 * reports and returns EXIT_USAGE. */
static int read_blob(const char *file, unsigned char **out, size_t *len)
{
    int is_stdin = strcmp(file, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(file, "rb");
    unsigned char *buf = NULL;
    int status = 0;
    if (!f) {
        errorf(file, "cannot open: %s", strerror(errno));
        return EXIT_USAGE;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
        (uint64_t)st.st_size > BLOB_MAX) {
        errorf(file, "larger than %" PRIu64 " bytes", BLOB_MAX);
        status = EXIT_USAGE;
    } else {
        status = read_all(f, file, &buf, len);
    }
    if (!is_stdin)
        fclose(f);
    if (status) {
        free(buf);
        return status;
    }
    *out = buf;
    return 0;
}

static int run_put(const mapf_args *a)
{
    const char *path = a->pos[0], *name = a->pos[1];
    const char *text = mapf_value(a, "--text"), *blob_file = mapf_value(a, "--blob");
    unsigned char *blob = NULL;
    size_t blob_len = 0;
    mf_file *mf;
    if (!text == !blob_file)
        return usage_error(a->cmd, "give exactly one of --text STRING or --blob FILE");
    if (blob_file && read_blob(blob_file, &blob, &blob_len))
        return EXIT_USAGE;
    int rc = mf_open(&mf, path, MF_UPDATE, NULL);
    if (rc < 0) {
        report_mf(path, NULL, rc);
        free(blob);
        return EXIT_USAGE;
    }
    /* Both go through the built-in codecs, so what is stored is exactly
     * what `get` rebuilds, whatever their payload format. */
    if (text) {
        rc = mf_put(mf, name, MF_TEXT_CLASS, text);
    } else {
        mf_blob b = {blob_len, blob};
        rc = mf_put(mf, name, MF_BLOB_CLASS, &b);
    }
    int status = EXIT_OK;
    if (rc < 0) {
        report_mf(path, name, rc);
        status = record_status(rc);
    }
    free(blob);
    rc = mf_close(mf);
    if (rc < 0 && status == EXIT_OK) {
        report_mf(path, NULL, rc);
        status = EXIT_MISSING;
    }
    return status;
}

static const mapf_option put_options[] = {
    {"--text", NULL, 1},
    {"--blob", NULL, 1},
    {NULL, NULL, 0},
};

const mapf_command mapf_cmd_put = {
    .name = "put",
    .run = run_put,
    .options = put_options,
    .min_pos = 2,
    .max_pos = 2,
    .synopsis = "FILE NAME (--text STRING | --blob FILE)",
    .help = "Store a record, opening FILE for update (it is created if missing).\n"
            "\n"
            "  --text STRING  store STRING as a record of class \"text\"\n"
            "  --blob FILE    store the bytes of FILE (\"-\" for stdin) as class \"blob\"\n"
            "                 (at most 1 GiB)\n",
};

/* ------------------------------------------------------------------------ */
/* rm                                                                       */
/* ------------------------------------------------------------------------ */

static int run_rm(const mapf_args *a)
{
    const char *path = a->pos[0];
    mf_file *mf;
    /* Validate read-only first: UPDATE would create a missing file, and rm
     * must never create or convert anything. */
    if (open_read(&mf, path, 0))
        return EXIT_USAGE;
    mf_close(mf);
    mf_open_options opts = MF_OPEN_OPTIONS_INIT;
    int rc = mf_open(&mf, path, MF_UPDATE, &opts);
    if (rc < 0) {
        report_mf(path, NULL, rc);
        return EXIT_USAGE;
    }
    int status = EXIT_OK;
    for (int i = 1; i < a->npos; i++) {
        rc = mf_remove(mf, a->pos[i]);
        if (rc < 0) {
            report_mf(path, a->pos[i], rc);
            int s = record_status(rc);
            if (s > status)
                status = s;
        }
    }
    rc = mf_close(mf);
    if (rc < 0 && status == EXIT_OK) {
        report_mf(path, NULL, rc);
        status = EXIT_MISSING;
    }
    return status;
}

const mapf_command mapf_cmd_rm = {
    .name = "rm",
    .run = run_rm,
    .min_pos = 2,
    .max_pos = -1,
    .synopsis = "FILE NAME...",
    .help = "Remove records. Every name is tried; exit 1 if any was missing.\n",
};
