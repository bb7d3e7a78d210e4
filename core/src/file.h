/*
 * file.h - the open-file handle and what the core's file subsystems share:
 * mapping, growth, the writer lock, the directory and publication.
 */
#ifndef MF_FILE_H
#define MF_FILE_H

#include "format.h"
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

/* Relaxed/acquire/release access to plain uint64_t/uint32_t fields in the
 * map. The map is shared with other processes, so every field that can
 * change under a reader is read with these. */
#define MF__LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define MF__LOAD_ACQ(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define MF__STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define MF__STORE_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* One mapping of the whole file. A grown file gets a new mapping; old ones
 * stay mapped until close because other threads may still read them. */
struct mf__map {
    unsigned char *base;
    uint64_t len;
    struct mf__map *older;
};

/* An object remembered by mf_add(). */
struct mf__added {
    char *name;
    const mf_class *cls;
    const void *obj;
    uint64_t hash;
};

/* One encoded object waiting to be published. */
struct mf__pending {
    const char *name;
    const char *class_name;
    uint32_t class_version;
    const void *data;     /* the bytes; NULL until encoding is finished */
    size_t off, size;     /* where they sit in the encode buffer */
    uint64_t checksum;
    /* Staged by the writer before the commit: */
    uint64_t rec, pay, old;
    bool is_new;
};

/* One incarnation of the file at `path`: the descriptor, the header page and
 * the mappings. A reader that follows a producer's RECREATE moves to a new
 * incarnation; old ones stay mapped until close because other threads may
 * still be reading them. */
struct mf__inc {
    int fd;
    dev_t dev;
    ino_t ino;
    struct mf__header *hdr;        /* header page, mapped once: a stable
                                      address for the robust mutex and futex */
    _Atomic(struct mf__map *) map; /* current whole-file mapping */
    struct mf__inc *older;
};

struct mf_file {
    char *path;
    int mode;
    bool writable;
    unsigned flags;              /* mf_open_flags */
    mf_registry *reg;
    _Atomic(struct mf__inc *) inc; /* current incarnation */
    pthread_mutex_t map_lock;    /* serializes remaps and reopens */

    /* Producer-side state, guarded by prod_lock. */
    pthread_mutex_t prod_lock;
    struct mf__added *added;
    size_t nadded, cap_added;
    unsigned char *enc;          /* reusable encode buffer */
    size_t enc_cap;
    struct mf__pending *pend;
    size_t cap_pend;
    uint64_t enc_grows;          /* encode buffer reallocations, for tests */

    uint64_t initial_size, max_size;
    unsigned file_mode;
    char title[MF__TITLE_MAX + 1];
};

/* What one operation works on: the incarnation and its current mapping,
 * taken once at the start so the operation sees one consistent file. */
struct mf__ctx {
    mf_file *mf;
    struct mf__inc *inc;
    struct mf__header *hdr;
    struct mf__map *m;
};

/* file.c */
/* Start an operation: the current incarnation (following a replaced file
 * unless the handle says not to) and its mapping, remapped if the file grew. */
int mf__enter(mf_file *mf, struct mf__ctx *c);
/* Remap if the file grew beyond c->m (after a failed bounds check). Returns
 * 1 if the mapping changed, 0 if not, or an error. */
int mf__refresh(struct mf__ctx *c);
/* Move the handle to the file now at its path (lock-free readers only). */
int mf__follow(mf_file *mf, struct mf__inc *inc);
/* Writer: grow the file so the heap can hold a block of `need` user bytes;
 * MF_EFULL with a detail naming the sizes at the maximum. Lock held. */
int mf__grow(struct mf__ctx *c, uint64_t need);
/* Bounds check: [off, off + len) inside a mapping of map_len bytes. */
static inline bool mf__in_map(uint64_t map_len, uint64_t off, uint64_t len)
{
    return off <= map_len && len <= map_len - off;
}
uint64_t mf__now_ns(void);
uint64_t mf__hash_name(const char *name, size_t len);

/* An #mf_writer_state: free, held, or held by a process that died. */
int mf__writer_state(const struct mf__header *h, bool writable);

/* lock.c */
int mf__writer_lock(mf_file *mf);
void mf__writer_unlock(mf_file *mf);
/* Bump the generation and wake waiters. Lock held. */
void mf__announce(mf_file *mf);

/* recover.c: repair after a writer died holding the lock. Lock held. */
int mf__recover(mf_file *mf);

/* directory.c */
struct mf__heap mf__heap_view(struct mf__ctx *c);
/* Allocate a heap block, growing the file if needed (lock held). */
int mf__alloc(struct mf__ctx *c, uint64_t size, uint64_t *off);
int mf__free(struct mf__ctx *c, uint64_t off);
/* Lock-free lookup. *rec and *stamp describe the live record. */
int mf__lookup(struct mf__ctx *c, const char *name, size_t len, uint64_t hash,
               uint64_t *rec, uint64_t *stamp);
/* Validated pointers into the map, or NULL. */
struct mf__record *mf__record_at(const struct mf__map *m, uint64_t off);
struct mf__index *mf__index_at(const struct mf__map *m, uint64_t off);
/* Writer: index and list maintenance. Lock held. */
int mf__dir_insert(struct mf__ctx *c, uint64_t rec_off);
/* Make the index big enough for `extra` more names (rehash now). */
int mf__dir_reserve(struct mf__ctx *c, uint64_t extra);
int mf__dir_unlink(struct mf__ctx *c, uint64_t rec_off);
uint64_t mf__next_stamp(struct mf__ctx *c);
int mf__index_create(struct mf__ctx *c, uint64_t nslots, uint64_t *out);
void mf__index_install(struct mf__ctx *c, uint64_t new_off);

/* read.c */
/* A validated view of a record's current payload. */
struct mf__view {
    uint64_t rec, rec_stamp;
    uint64_t payload, payload_stamp;
    const struct mf__record *r;
    const struct mf__payload *p;
    const unsigned char *data;
    uint64_t size;
    uint32_t name_len, class_len; /* as validated */
};
/* 0 with v filled, MF__RETRY (1) if a writer moved it, or an error. */
int mf__view_record(struct mf__ctx *c, uint64_t rec, uint64_t rec_stamp,
                    struct mf__view *v);
bool mf__view_still_valid(const struct mf__view *v);
void mf__fill_info(const struct mf__view *v, mf_record_info *info);

/* Names: 1..MF_NAME_MAX bytes, no control characters. */
int mf__check_record_name(const char *name);

#endif
