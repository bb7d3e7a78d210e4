/* ls.c - `mapf ls FILE [PREFIX]`: list records. */
#include "mapf.h"

#include "json.h"
#include "table.h"

#include <inttypes.h>
#include <stdint.h>

static void ls_json(const record_list *l, int long_fmt, uint64_t now, mf_writer *w)
{
    mf_w_u8(w, '[');
    for (size_t i = 0; i < l->n; i++) {
        const mf_record_info *r = &l->v[i];
        int first = 1;
        char t[64];
        if (i)
            mf_w_u8(w, ',');
        mf_w_u8(w, '{');
        json_kv_str(w, &first, "name", r->name);
        json_kv_str(w, &first, "class", r->class_name);
        json_kv_u64(w, &first, "size", r->size);
        if (long_fmt) {
            json_kv_u64(w, &first, "version", r->class_version);
            json_kv_u64(w, &first, "updates", r->update_count);
            uint64_t d = now > r->update_time_ns ? now - r->update_time_ns : 0;
            json_kv_num(w, &first, "age", (double)d / 1e9);
            fmt_time(t, sizeof t, r->update_time_ns);
            json_kv_str(w, &first, "updated", t);
            json_kv_u64(w, &first, "generation", r->generation);
        }
        mf_w_u8(w, '}');
    }
    mf_w_printf(w, "]\n");
}

static int ls_table(const record_list *l, int long_fmt, uint64_t now)
{
    static const char *const head[] = {"NAME", "CLASS", "SIZE", "VERSION",
                                       "UPDATES", "AGE", "GENERATION"};
    static const int right[] = {0, 0, 1, 1, 1, 1, 1};
    table t;
    table_init(&t, long_fmt ? 7 : 3, head, right);
    for (size_t i = 0; i < l->n; i++) {
        const mf_record_info *r = &l->v[i];
        char size[24], ver[16], upd[24], age[32], gen[24];
        snprintf(size, sizeof size, "%" PRIu64, r->size);
        snprintf(ver, sizeof ver, "%" PRIu32, r->class_version);
        snprintf(upd, sizeof upd, "%" PRIu64, r->update_count);
        fmt_age(age, sizeof age, now, r->update_time_ns);
        snprintf(gen, sizeof gen, "%" PRIu64, r->generation);
        const char *row[] = {r->name, r->class_name, size, ver, upd, age, gen};
        table_add(&t, row);
    }
    int rc = t.oom ? -1 : 0;
    if (!rc)
        table_print(&t, stdout, SIZE_MAX);
    table_free(&t);
    return rc;
}

static int run_ls(const mapf_args *a)
{
    const char *path = a->pos[0];
    const char *prefix = a->npos > 1 ? a->pos[1] : NULL;
    int long_fmt = mapf_flag(a, "--long");
    record_list l = {0};
    mf_file *mf;
    int status = EXIT_OK;
    if (check_prefix(a->cmd, prefix))
        return EXIT_USAGE;
    if (open_read(&mf, path, 0))
        return EXIT_USAGE;
    int rc = collect_records(mf, prefix, &l);
    if (rc < 0) {
        report_mf(path, NULL, rc);
        status = EXIT_MISSING;
    } else if (prefix && prefix[0] && l.n == 0) {
        errorf(path, "no records under '%s'", prefix);
        status = EXIT_MISSING;
    }
    uint64_t now = now_realtime_ns();
    if (mapf_flag(a, "--json")) {
        mf_writer w;
        buf_init(&w);
        ls_json(&l, long_fmt, now, &w);
        if (buf_flush_stdout(&w)) {
            errorf(path, "out of memory");
            status = EXIT_MISSING;
        }
        buf_free(&w);
    } else if (l.n && ls_table(&l, long_fmt, now)) {
        errorf(path, "out of memory");
        status = EXIT_MISSING;
    }
    record_list_free(&l);
    mf_close(mf);
    return finish_stdout(status);
}

static const mapf_option ls_options[] = {
    {"--long", "-l", 0},
    {"--json", NULL, 0},
    {NULL, NULL, 0},
};

const mapf_command mapf_cmd_ls = {
    .name = "ls",
    .run = run_ls,
    .options = ls_options,
    .min_pos = 1,
    .max_pos = 2,
    .synopsis = "[-l] [--json] FILE [PREFIX]",
    .help = "List records in insertion order: name, class and payload size.\n"
            "PREFIX lists only names starting with it; end it with '/' to list one\n"
            "folder of path-like names. Exit 1 if PREFIX matches nothing.\n"
            "\n"
            "  -l, --long  also show class version, update count, age since the last\n"
            "              update and generation\n"
            "  --json      print one JSON array of objects\n",
};
