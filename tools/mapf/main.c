/*
 * main.c - `mapf`, the command-line tool of mapfile: inspect, edit, check
 * and watch map files, list codecs and call methods on stored objects.
 * (Not named `mapfile`: that is a bash builtin, which an interactive bash
 * runs instead of any file on PATH.)
 *
 * This file is the dispatch table and the global help; each subcommand
 * lives in its own file (mapf.h says how to add one). Errors go to stderr
 * as "mapf: FILE: what is wrong"; exit codes are in output.h.
 */
#include "mapf.h"

#include <string.h>

/* The subcommands, in the order `mapf --help` lists them. Each NAME here is
 * a `const mapf_command mapf_cmd_NAME` defined in NAME.c (or a file that
 * groups it with others: get.c has dump, put.c has rm). */
#define MAPF_COMMANDS(X) \
    X(info)              \
    X(ls)                \
    X(get)               \
    X(dump)              \
    X(put)               \
    X(rm)                \
    X(check)             \
    X(copy)              \
    X(watch)             \
    X(serve)             \
    X(plugins)           \
    X(call)              \
    X(new_codec)         \
    X(gen)               \
    X(mirror)            \
    X(help)

#define DECLARE_COMMAND(name) extern const mapf_command mapf_cmd_##name;
MAPF_COMMANDS(DECLARE_COMMAND)

static const mapf_command *const commands[] = {
#define COMMAND_ENTRY(name) &mapf_cmd_##name,
    MAPF_COMMANDS(COMMAND_ENTRY)
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const mapf_command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

static void print_main_help(FILE *out)
{
    fputs("usage: mapf COMMAND [ARGS...]\n"
          "       mapf COMMAND --help\n"
          "\n"
          "Inspect and edit map files: live objects shared between processes\n"
          "through one memory-mapped file.\n"
          "\n"
          "Commands:\n",
          out);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-9s %s\n", commands[i]->name, commands[i]->synopsis);
    fputs("\n"
          "Exit status: 0 success; 1 the record, codec or result asked for is\n"
          "missing, or check found problems; 2 usage error or a file that\n"
          "cannot be opened; 3 (check) a dead writer's change awaits repair.\n"
          "Codecs are searched in MAPFILE_PLUGIN_PATH (colon-separated), then\n"
          "the built-in plugin directories; see 'mapf plugins'.\n",
          out);
}

static int run_help(const mapf_args *a)
{
    if (a->npos == 0) {
        print_main_help(stdout);
        return finish_stdout(EXIT_OK);
    }
    const mapf_command *c = find_command(a->pos[0]);
    if (!c) {
        errorf(NULL, "unknown command '%s'", a->pos[0]);
        return EXIT_USAGE;
    }
    mapf_print_command_help(c);
    return finish_stdout(EXIT_OK);
}

const mapf_command mapf_cmd_help = {
    .name = "help",
    .run = run_help,
    .min_pos = 0,
    .max_pos = 1,
    .synopsis = "[COMMAND]",
    .help = "Show help for mapf or one command.\n",
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_main_help(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        print_main_help(stdout);
        return finish_stdout(EXIT_OK);
    }
    if (strcmp(name, "--version") == 0) {
        printf("mapf %d.%d.%d (file format %d)\n", MF_VERSION_MAJOR,
               MF_VERSION_MINOR, MF_VERSION_PATCH, MF_FORMAT_VERSION);
        return finish_stdout(EXIT_OK);
    }
    const mapf_command *c = find_command(name);
    if (!c) {
        errorf(NULL, "unknown command '%s'", name);
        fputs("Try 'mapf --help'.\n", stderr);
        return EXIT_USAGE;
    }
    mapf_args a;
    int rc = mapf_parse_args(c, argc - 2, argv + 2, &a);
    if (rc == 0) {
        if (a.help) {
            mapf_print_command_help(c);
            rc = finish_stdout(EXIT_OK);
        } else {
            rc = c->run(&a);
        }
    }
    mapf_args_free(&a);
    return rc;
}
