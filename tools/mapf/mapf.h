/*
 * mapf.h - the frame every `mapf` subcommand plugs into: its descriptor
 * (name, options, arguments, usage, help, function), the parsed arguments,
 * and the helpers most subcommands use (opening a file, listing records).
 *
 * Adding a subcommand NAME (see also README.md beside this file):
 *   1. Write tools/mapf/NAME.c with a `static int run(const mapf_args *a)`
 *      returning an exit status (output.h) and its descriptor:
 *
 *        static const mapf_option options[] = {
 *            {"--json", NULL, 0}, {"--port", NULL, 1}, {NULL, NULL, 0}};
 *        const mapf_command mapf_cmd_NAME = {
 *            .name = "NAME", .run = run, .options = options,
 *            .min_pos = 1, .max_pos = 1,
 *            .synopsis = "[--json] [--port N] FILE",
 *            .help = "What it does, one paragraph.\n\n  --json ...\n"};
 *
 *      Read options with mapf_flag(a, "--json") and mapf_value(a, "--port"),
 *      positionals from a->pos[0 .. a->npos-1].
 *   2. Add X(NAME) to MAPF_COMMANDS in main.c, where `mapf --help` should
 *      list it.
 *   3. Add mapf/NAME.c to MAPF_SOURCES in tools/CMakeLists.txt.
 * `mapf NAME --help`, `mapf help NAME`, usage errors and exit code 2 for
 * bad arguments then come for free.
 */
#ifndef MAPF_MAPF_H
#define MAPF_MAPF_H

#include <mapfile/mapfile.h>

#include <stddef.h>
#include <stdio.h>

#include "output.h"

/* One option of a subcommand. A flag matches only exactly (`--json`, or
 * its alias `-l`); an option with a value is given as `--name VALUE` or
 * `--name=VALUE`, at most once. */
typedef struct mapf_option {
    const char *name;  /* "--json"; NULL ends a list */
    const char *alias; /* "-l", or NULL */
    int takes_value;
} mapf_option;

#define MAPF_MAX_OPTIONS 16

struct mapf_args;

typedef struct mapf_command {
    const char *name;
    int (*run)(const struct mapf_args *a); /* returns an exit status */
    const mapf_option *options; /* NULL, or ends with a NULL name */
    int min_pos, max_pos;       /* positional arguments; max_pos < 0: any */
    int literal_after;          /* > 0: arguments after this many positionals
                                   are never options (like -5 for a method) */
    const char *synopsis;       /* after "usage: mapf NAME " */
    const char *help;           /* paragraphs, each line ending in \n */
} mapf_command;

typedef struct mapf_args {
    const mapf_command *cmd;
    int help;                              /* --help or -h was given */
    const char *value[MAPF_MAX_OPTIONS];   /* per option: NULL if not given,
                                              "" for a flag that was */
    int npos;
    const char **pos;
} mapf_args;

/* Parse argv (after the command name) for @p c. Options may come anywhere;
 * `--` ends them; a lone "-" is a positional; --help wins over every other
 * problem. Returns 0, or EXIT_USAGE after printing the problem. Free with
 * mapf_args_free() either way. */
int mapf_parse_args(const mapf_command *c, int argc, char **argv, mapf_args *a);
void mapf_args_free(mapf_args *a);
/* Whether flag @p name was given / the value of option @p name (NULL if not
 * given). @p name must be one of the command's options. */
int mapf_flag(const mapf_args *a, const char *name);
const char *mapf_value(const mapf_args *a, const char *name);

/* "usage: mapf NAME SYNOPSIS" to @p out. */
void mapf_print_usage_line(const mapf_command *c, FILE *out);
/* The usage line, a blank line and the help text, to stdout. */
void mapf_print_command_help(const mapf_command *c);
/* Report a usage error for @p c (message, usage line, hint) and return
 * EXIT_USAGE. */
int usage_error(const mapf_command *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Open @p path read-only (waiting up to @p wait_ms for it to appear, -1
 * forever); on failure report it and return non-zero. */
int open_read(mf_file **mf, const char *path, int wait_ms);
/* A PREFIX argument longer than any name is a usage error. */
int check_prefix(const mapf_command *c, const char *prefix);

/* Fetch and rebuild record @p name of @p mf (opened from @p path); reports
 * errors. Returns EXIT_OK (free the object with mf_object_free()) or an
 * exit status. */
int get_object(mf_file *mf, const char *path, const char *name, void **obj,
               const mf_class **cls);

/* emulate.c: print record @p name decoded with the schema stored in the
 * file (no codec needed), JSON (or, without @p json, "CLASS JSON"), with a
 * note on stderr that it is emulated. Returns an exit status, or -1 when
 * the file holds no schema for its class (nothing reported). */
/* Is @p name a class name: 1 to MF_CLASS_NAME_MAX bytes of [A-Za-z0-9_.:-]? */
int mapf_class_name_ok(const char *name);
/* Class @p name as a C identifier, the ID of a codec project's files and
 * symbols (ID_codec.c, ID.schema), the same for `mapf new-codec` and
 * `mapf gen`: other characters become '_', and a name that does not start
 * with a letter or '_' gets a 'c' in front. @p cap: MF_CLASS_NAME_MAX + 2. */
void mapf_c_identifier(const char *name, char *id, size_t cap);
int get_emulated(mf_file *mf, const char *path, const char *name, int json);
/* emulate.c: for `mapf dump`: the JSON decoded with the stored schema, if
 * the file holds one for the record's class and version. */
void dump_emulated(mf_file *mf, const char *path, const char *name,
                   const mf_record_info *ri);

typedef struct record_list {
    mf_record_info *v;
    size_t n, cap;
} record_list;

/* All records under @p prefix (NULL: all) in insertion order, names and
 * class names terminated. On error the list holds what was read before it.
 * Returns 0 or a negative MF_E* code. */
int collect_records(mf_file *mf, const char *prefix, record_list *out);
void record_list_free(record_list *l);

#endif
