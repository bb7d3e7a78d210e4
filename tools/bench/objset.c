/*
 * objset.c - the producer's histograms of set-ups A and B (sc_setups.c)
 * and of the mirror scenarios (sc_mirror.c).
 */
#include "bench.h"

#include <mapfile/hist.h>

#include <stdio.h>
#include <stdlib.h>

void objset_init(objset *s, size_t nh1, int bins1, size_t nh2, int nx,
                 const char *prefix)
{
    s->n = nh1 + nh2;
    s->names = calloc(s->n, sizeof *s->names);
    s->cls = calloc(s->n, sizeof *s->cls);
    s->obj = calloc(s->n, sizeof *s->obj);
    if (!s->names || !s->cls || !s->obj)
        die("out of memory");
    for (size_t i = 0; i < s->n; i++) {
        if (i < nh1) {
            snprintf(s->names[i], sizeof s->names[i], "%s/h1/%05zu", prefix, i);
            s->cls[i] = &mf_hist1d_class;
            s->obj[i] = mf_hist1d_new(s->names[i], bins1, -5, 5);
        } else {
            snprintf(s->names[i], sizeof s->names[i], "%s/h2/%05zu", prefix, i - nh1);
            s->cls[i] = &mf_hist2d_class;
            s->obj[i] = mf_hist2d_new(s->names[i], nx, -5, 5, nx, -5, 5);
        }
        if (!s->obj[i])
            die("cannot create histogram %s", s->names[i]);
    }
}

void objset_fill(objset *s, int fills, uint64_t *seed)
{
    for (size_t i = 0; i < s->n; i++)
        for (int k = 0; k < fills; k++) {
            double x = rng_unit(seed) + rng_unit(seed) + rng_unit(seed) - 1.5;
            double y = rng_unit(seed) + rng_unit(seed) + rng_unit(seed) - 1.5;
            if (s->cls[i] == &mf_hist1d_class)
                mf_hist1d_fill(s->obj[i], 2 * x);
            else
                mf_hist2d_fill(s->obj[i], 2 * x, 2 * y);
        }
}

void objset_add(objset *s, mf_file *mf)
{
    for (size_t i = 0; i < s->n; i++)
        mfok(mf_add(mf, s->names[i], s->cls[i]->name, s->obj[i]), "mf_add");
}

void objset_free(objset *s)
{
    for (size_t i = 0; i < s->n; i++)
        s->cls[i]->destroy(s->obj[i]);
    free(s->names);
    free(s->cls);
    free(s->obj);
}
