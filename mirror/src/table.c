/*
 * table.c - an open-addressing hash table from record name to what is
 * known about it (the push's picture of Redis, the pull's name sets).
 */
#include "mirror_internal.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

char mm_tomb[1];

void mm_table_init(mm_table *t) { memset(t, 0, sizeof *t); }

void mm_table_clear(mm_table *t)
{
    for (size_t i = 0; i < t->cap; i++) {
        if (t->v[i].name && t->v[i].name != MM_TOMB)
            free(t->v[i].name);
        t->v[i].name = NULL;
    }
    t->count = 0;
    t->used = 0;
}

void mm_table_free(mm_table *t)
{
    mm_table_clear(t);
    free(t->v);
    mm_table_init(t);
}

static uint64_t hash_name(const char *name) { return XXH3_64bits(name, strlen(name)); }

static mm_entry *slot_of(const mm_table *t, const char *name, uint64_t h)
{
    if (!t->cap)
        return NULL;
    size_t mask = t->cap - 1;
    for (size_t i = (size_t)h & mask, n = 0; n < t->cap; i = (i + 1) & mask, n++) {
        mm_entry *e = &t->v[i];
        if (!e->name)
            return NULL;
        if (e->name != MM_TOMB && e->hash == h && strcmp(e->name, name) == 0)
            return e;
    }
    return NULL;
}

mm_meta *mm_table_find(const mm_table *t, const char *name)
{
    mm_entry *e = slot_of(t, name, hash_name(name));
    return e ? &e->meta : NULL;
}

static int grow(mm_table *t)
{
    size_t cap = t->cap ? t->cap * 2 : 8; /* a pull step names a few records */
    if (t->count * 4 < t->cap)
        cap = t->cap; /* mostly tombstones: rehash in place */
    mm_entry *v = calloc(cap, sizeof *v);
    if (!v)
        return -1;
    for (size_t i = 0; i < t->cap; i++) {
        mm_entry *e = &t->v[i];
        if (!e->name || e->name == MM_TOMB)
            continue;
        size_t j = (size_t)e->hash & (cap - 1);
        while (v[j].name)
            j = (j + 1) & (cap - 1);
        v[j] = *e;
    }
    free(t->v);
    t->v = v;
    t->cap = cap;
    t->used = t->count;
    return 0;
}

mm_entry *mm_table_put(mm_table *t, const char *name, bool *added)
{
    uint64_t h = hash_name(name);
    mm_entry *e = slot_of(t, name, h);
    *added = false;
    if (e)
        return e;
    if ((t->used + 1) * 4 > t->cap * 3 && grow(t) != 0)
        return NULL;
    char *copy = strdup(name);
    if (!copy)
        return NULL;
    size_t mask = t->cap - 1, i = (size_t)h & mask;
    while (t->v[i].name && t->v[i].name != MM_TOMB)
        i = (i + 1) & mask;
    if (!t->v[i].name)
        t->used++;
    t->v[i] = (mm_entry){.name = copy, .hash = h};
    t->count++;
    *added = true;
    return &t->v[i];
}

void mm_table_del(mm_table *t, const char *name)
{
    mm_entry *e = slot_of(t, name, hash_name(name));
    if (!e)
        return;
    free(e->name);
    e->name = MM_TOMB;
    t->count--;
}

mm_entry *mm_table_next(const mm_table *t, size_t *pos)
{
    while (*pos < t->cap) {
        mm_entry *e = &t->v[(*pos)++];
        if (e->name && e->name != MM_TOMB)
            return e;
    }
    return NULL;
}
