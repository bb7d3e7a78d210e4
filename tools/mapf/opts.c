/*
 * opts.c - the argument parser shared by every `mapf` subcommand, driven
 * by the options each command's descriptor lists, and usage errors.
 */
#include "mapf.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void mapf_print_usage_line(const mapf_command *c, FILE *out)
{
    fprintf(out, "usage: mapf %s %s\n", c->name, c->synopsis);
}

void mapf_print_command_help(const mapf_command *c)
{
    mapf_print_usage_line(c, stdout);
    putchar('\n');
    fputs(c->help, stdout);
}

int usage_error(const mapf_command *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "mapf: %s: ", c->name);
    va_start(ap, fmt);
    vfprintf_safe(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    mapf_print_usage_line(c, stderr);
    fprintf(stderr, "Try 'mapf %s --help' for more.\n", c->name);
    return EXIT_USAGE;
}

/* Index of the option of @p c that argument @p s names, or -1. A flag
 * matches only exactly; an option with a value also as "--name=VALUE". */
static int find_option(const mapf_command *c, const char *s)
{
    const char *eq = strchr(s, '=');
    size_t klen = eq ? (size_t)(eq - s) : strlen(s);
    for (int i = 0; c->options && c->options[i].name; i++) {
        const mapf_option *o = &c->options[i];
        if (strcmp(s, o->name) == 0 || (o->alias && strcmp(s, o->alias) == 0))
            return i;
        if (o->takes_value && klen == strlen(o->name) && strncmp(s, o->name, klen) == 0)
            return i;
    }
    return -1;
}

/* Store the value of option @p k; 0 or EXIT_USAGE. */
static int take_value(const mapf_command *c, int k, mapf_args *a, const char *s,
                      int argc, char **argv, int *i)
{
    const char *opt = c->options[k].name;
    const char *eq = strchr(s, '=');
    if (a->value[k])
        return usage_error(c, "option '%s' given twice", opt);
    if (eq) {
        a->value[k] = eq + 1;
        return 0;
    }
    if (*i + 1 >= argc)
        return usage_error(c, "option '%s' needs a value", opt);
    a->value[k] = argv[++*i];
    return 0;
}

int mapf_parse_args(const mapf_command *c, int argc, char **argv, mapf_args *a)
{
    int literal = 0;
    const char *bad = NULL;
    int rc = 0;
    memset(a, 0, sizeof *a);
    a->cmd = c;
    a->pos = calloc((size_t)argc + 1, sizeof *a->pos);
    if (!a->pos) {
        errorf(c->name, "out of memory");
        return EXIT_USAGE;
    }
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (!literal && c->literal_after > 0 && a->npos >= c->literal_after)
            literal = 1;
        if (literal || s[0] != '-' || s[1] == '\0') {
            a->pos[a->npos++] = s;
            continue;
        }
        if (strcmp(s, "--") == 0) {
            literal = 1;
            continue;
        }
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            a->help = 1;
            continue;
        }
        if (rc || bad)
            continue; /* keep scanning only for --help */
        int k = find_option(c, s);
        if (k < 0)
            bad = s;
        else if (c->options[k].takes_value)
            rc = take_value(c, k, a, s, argc, argv, &i);
        else
            a->value[k] = "";
    }
    if (a->help)
        return 0;
    if (rc)
        return rc;
    if (bad)
        return usage_error(c, "unknown option '%s'", bad);
    if (a->npos < c->min_pos)
        return usage_error(c, "missing argument");
    if (c->max_pos >= 0 && a->npos > c->max_pos)
        return usage_error(c, "unexpected argument '%s'", a->pos[c->max_pos]);
    return 0;
}

void mapf_args_free(mapf_args *a)
{
    free(a->pos);
    a->pos = NULL;
}

/* The slot of option @p name. Asking for an option the command does not
 * declare is a bug in mapf itself: say so loudly rather than read "not
 * given" forever. */
static const char *option_slot(const mapf_args *a, const char *name)
{
    const mapf_option *o = a->cmd->options;
    for (int i = 0; o && o[i].name; i++)
        if (strcmp(o[i].name, name) == 0)
            return a->value[i];
    fprintf(stderr, "mapf: internal error: '%s' asks for undeclared option '%s'\n",
            a->cmd->name, name);
    abort();
}

int mapf_flag(const mapf_args *a, const char *name)
{
    return option_slot(a, name) != NULL;
}

const char *mapf_value(const mapf_args *a, const char *name)
{
    return option_slot(a, name);
}
