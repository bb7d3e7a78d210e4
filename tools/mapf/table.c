/* table.c - text tables for `mapf`: see table.h. */
#include "table.h"

#include "output.h"

#include <stdlib.h>
#include <string.h>

#define CELL_MAX 1024

void table_init(table *t, size_t ncols, const char *const *head, const int *right)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    for (size_t c = 0; c < ncols; c++) {
        t->head[c] = head[c];
        t->right[c] = right[c];
        t->width[c] = text_width(head[c]);
    }
}

void table_free(table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

int table_add(table *t, const char *const *row)
{
    if (t->oom)
        return -1;
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        char **p = realloc(t->cells, cap * t->ncols * sizeof *p);
        if (!p) {
            t->oom = 1;
            return -1;
        }
        t->cells = p;
        t->cap = cap;
    }
    char **dst = t->cells + t->nrows * t->ncols;
    for (size_t c = 0; c < t->ncols; c++) {
        char tmp[CELL_MAX];
        sanitize(tmp, sizeof tmp, row[c]);
        dst[c] = strdup(tmp);
        if (!dst[c]) {
            for (size_t k = 0; k < c; k++)
                free(dst[k]);
            t->oom = 1;
            return -1;
        }
        size_t wd = text_width(tmp);
        if (wd > t->width[c])
            t->width[c] = wd;
    }
    t->nrows++;
    return 0;
}

static void print_cell(FILE *out, const char *s, size_t width, int right, int last)
{
    size_t pad = width - text_width(s);
    if (right)
        for (size_t i = 0; i < pad; i++)
            fputc(' ', out);
    fputs(s, out);
    if (!right && !last)
        for (size_t i = 0; i < pad; i++)
            fputc(' ', out);
}

static void print_row(const table *t, FILE *out, const char *const *row)
{
    for (size_t c = 0; c < t->ncols; c++) {
        if (c)
            fputs("  ", out);
        print_cell(out, row[c], t->width[c], t->right[c], c + 1 == t->ncols);
    }
    fputc('\n', out);
}

size_t table_print(const table *t, FILE *out, size_t max_rows)
{
    print_row(t, out, t->head);
    size_t n = t->nrows < max_rows ? t->nrows : max_rows;
    for (size_t r = 0; r < n; r++)
        print_row(t, out, (const char *const *)(t->cells + r * t->ncols));
    return t->nrows - n;
}
