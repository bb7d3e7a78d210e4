/* info.c - `mapf info FILE`: describe a map file. */
#include "mapf.h"

#include "json.h"

#include <inttypes.h>

static const char *writer_state_name(int s)
{
    switch (s) {
    case MF_WRITER_FREE:
        return "free";
    case MF_WRITER_HELD:
        return "held (a writer is updating the file)";
    case MF_WRITER_DEAD:
        return "abandoned by a crashed writer (the next writer repairs it)";
    }
    return "unknown";
}

/* The writer state as one word, for JSON. */
static const char *writer_state_word(int s)
{
    switch (s) {
    case MF_WRITER_FREE:
        return "free";
    case MF_WRITER_HELD:
        return "held";
    case MF_WRITER_DEAD:
        return "dead";
    }
    return "unknown";
}

/* One JSON object; sizes in bytes, fields named as in mf_file_info. */
static void info_json(const mf_file_info *fi, const char *path, mf_writer *w)
{
    int f = 1;
    mf_w_u8(w, '{');
    json_kv_str(w, &f, "path", fi->path ? fi->path : path);
    json_kv_str(w, &f, "title", fi->title);
    json_kv_u64(w, &f, "format_version", fi->format_version);
    json_kv_u64(w, &f, "capacity", fi->capacity);
    json_kv_u64(w, &f, "max_size", fi->max_size);
    json_kv_u64(w, &f, "heap_size", fi->heap_size);
    json_kv_u64(w, &f, "heap_used", fi->heap_used);
    json_kv_u64(w, &f, "heap_free", fi->heap_free);
    json_kv_u64(w, &f, "records", fi->records);
    json_kv_u64(w, &f, "generation", fi->generation);
    json_kv_u64(w, &f, "batch", fi->batch);
    json_kv_str(w, &f, "writer", writer_state_word(fi->writer_state));
    json_kv_u64(w, &f, "recoveries", fi->recoveries);
    json_kv_bool(w, &f, "retired", fi->retired);
    json_kv_u64(w, &f, "best_buffer", fi->best_buffer);
    mf_w_printf(w, "}\n");
}

static void info_text(const mf_file_info *fi, const char *path)
{
    char b1[64], b2[64], b3[64], b4[64];
    printf("Map file:        ");
    fput_safe(fi->path ? fi->path : path, stdout);
    printf("\nTitle:           ");
    fput_safe(fi->title, stdout);
    printf("\nFormat version:  %" PRIu32 "\n", fi->format_version);
    fmt_bytes(b1, sizeof b1, fi->capacity);
    fmt_percent(b2, sizeof b2, fi->capacity, fi->max_size);
    printf("Capacity:        %" PRIu64 " bytes (%s), %s of max size\n",
           fi->capacity, b1, b2);
    fmt_bytes(b1, sizeof b1, fi->heap_used);
    fmt_percent(b2, sizeof b2, fi->heap_used, fi->heap_size);
    fmt_percent(b3, sizeof b3, fi->heap_used, fi->max_size);
    printf("Used:            %" PRIu64 " bytes (%s), %s of heap, %s of max size\n",
           fi->heap_used, b1, b2, b3);
    fmt_bytes(b1, sizeof b1, fi->heap_size);
    fmt_bytes(b4, sizeof b4, fi->heap_free);
    printf("Heap:            %" PRIu64 " bytes (%s), %" PRIu64 " free (%s)\n",
           fi->heap_size, b1, fi->heap_free, b4);
    fmt_bytes(b1, sizeof b1, fi->max_size);
    printf("Max size:        %" PRIu64 " bytes (%s)\n", fi->max_size, b1);
    printf("Records:         %" PRIu64 "\n", fi->records);
    printf("Generation:      %" PRIu64 "\n", fi->generation);
    printf("Batch:           %" PRIu64 "\n", fi->batch);
    printf("Writer:          %s\n", writer_state_name(fi->writer_state));
    printf("Recoveries:      %" PRIu64 "%s\n", fi->recoveries,
           fi->recoveries ? " (crashed writers repaired)" : "");
    if (fi->retired)
        printf("Retired:         yes (replaced by a newer file at this path)\n");
    fmt_bytes(b1, sizeof b1, fi->best_buffer);
    printf("Best buffer:     %" PRIu64 " bytes (%s)\n", fi->best_buffer, b1);
}

static int run_info(const mapf_args *a)
{
    const char *path = a->pos[0];
    mf_file *mf;
    mf_file_info fi;
    if (open_read(&mf, path, 0))
        return EXIT_USAGE;
    int rc = mf_file_stat(mf, &fi);
    if (rc < 0) {
        report_mf(path, NULL, rc);
        mf_close(mf);
        return EXIT_MISSING;
    }
    fi.title[sizeof fi.title - 1] = '\0';
    int status = EXIT_OK;
    if (mapf_flag(a, "--json")) {
        mf_writer w;
        buf_init(&w);
        info_json(&fi, path, &w);
        if (buf_flush_stdout(&w)) {
            errorf(path, "out of memory");
            status = EXIT_MISSING;
        }
        buf_free(&w);
    } else {
        info_text(&fi, path);
    }
    mf_close(mf);
    return finish_stdout(status);
}

static const mapf_option info_options[] = {
    {"--json", NULL, 0},
    {NULL, NULL, 0},
};

const mapf_command mapf_cmd_info = {
    .name = "info",
    .run = run_info,
    .options = info_options,
    .min_pos = 1,
    .max_pos = 1,
    .synopsis = "[--json] FILE",
    .help = "Describe a map file: path, title, format version, capacity and used\n"
            "bytes (and how close they are to the maximum size), records,\n"
            "generation, batch, writer lock state, crash recoveries and the\n"
            "producer's best-buffer estimate.\n"
            "\n"
            "  --json  print one JSON object (sizes in bytes; writer is \"free\",\n"
            "          \"held\" or \"dead\")\n",
};
