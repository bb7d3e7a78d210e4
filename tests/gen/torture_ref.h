/*
 * torture_ref.h - the hand-written reference codec of struct torture
 * (torture_ref.c), the yardstick of the codec `mapf gen` writes.
 */
#ifndef TORTURE_REF_H
#define TORTURE_REF_H

#include <mapfile/codec.h>

#include "torture.h"

/* Write @p t; 0, or -1 with w->err set (a count without its array, a
 * negative nitems, or the writer's own error). */
int torture_ref_out(const struct torture *t, mf_writer *w);
/* Read a whole payload: a new object (its ops set by torture_set_ops()),
 * or NULL with r->err set. */
struct torture *torture_ref_in(mf_reader *r);
/* Free an object torture_ref_in() returned (NULL is fine). */
void torture_ref_free(struct torture *t);

#endif
