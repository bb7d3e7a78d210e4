/*
 * table.h - text tables for `mapf ls` and `mapf watch`: built row by row
 * (cells are copied and sanitized), then printed with each column as wide
 * as its widest cell.
 */
#ifndef MAPF_TABLE_H
#define MAPF_TABLE_H

#include <stddef.h>
#include <stdio.h>

#define TABLE_MAX_COLS 8

typedef struct table {
    size_t ncols;
    const char *head[TABLE_MAX_COLS];
    int right[TABLE_MAX_COLS]; /* right-align (numbers) */
    size_t width[TABLE_MAX_COLS];
    char **cells; /* nrows * ncols */
    size_t nrows, cap;
    int oom;
} table;

/* @p head and @p right have @p ncols entries; head must outlive the table. */
void table_init(table *t, size_t ncols, const char *const *head, const int *right);
void table_free(table *t);
/* Add a row of ncols strings. Returns 0 or -1 (out of memory, sticky in
 * t->oom). */
int table_add(table *t, const char *const *row);
/* Print the header and at most @p max_rows rows (SIZE_MAX for all); returns
 * how many rows were left out. */
size_t table_print(const table *t, FILE *out, size_t max_rows);
#endif
