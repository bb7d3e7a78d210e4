/*
 * file.h - the open-file handle and what the core's subsystems share:
 * mapping and growth (file.c), the batch protocol (version.c), the
 * directory (directory.c), the writer lock (lock.c) and repair (recover.c).
 */
#ifndef MF_FILE_H
#define MF_FILE_H

#include "format.h"
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

struct mf__wake;

/* Relaxed/acquire/release access to plain uint64_t/uint32_t fields in the
 * map. The map is shared with other processes, so every field that can
 * change under a reader is read with these. */
#define MF__LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define MF__LOAD_ACQ(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define MF__STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define MF__STORE_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* A read path's answer "a writer moved something under me: start over". */
#define MF__RETRY 1

/* One mapping of the whole file. A grown file gets a new mapping; the old
 * one is unmapped once no operation in the process is inside it. */
struct mf__map {
    unsigned char *base;
    uint64_t len;
    struct mf__map *older;
};

/* One incarnation of the file at `path`: the descriptor, the header page and
 * the mappings. A reader that follows a producer's RECREATE moves to a new
 * incarnation; the old one is unmapped once no operation is inside it. */
struct mf__inc {
    int fd;
    dev_t dev;
    ino_t ino;
    struct mf__header *hdr;        /* header page, mapped once: a stable
                                      address for the robust mutex and futex */
    _Atomic(struct mf__map *) map; /* current whole-file mapping */
    struct mf__inc *older;         /* retired, waiting to be unmapped */
    _Atomic bool retired_seen;     /* a reader met its RETIRED flag */
    _Atomic(struct mf__wake *) wake; /* its wake page, once found (wake.c) */
    uint64_t wake_ino;             /* the page's inode, to notice a new one */
    int64_t wake_next_look;        /* writer: when to look for the page */
};

/* An object remembered by mf_add(). */
struct mf__added {
    char *name;
    const mf_class *cls;
    const void *obj;
    uint64_t hash;
};

/* One change of a batch: a new version of a name, or its removal. */
struct mf__op {
    const char *name;
    size_t name_len;
    uint64_t hash;
    const char *class_name;  /* NULL for a removal */
    uint32_t class_version;
    const void *data;        /* the encoded bytes */
    size_t size;
    uint64_t checksum;
    bool summed;             /* checksum is set (when the bytes were hot) */
    /* Or an object that mf__publish encodes while staging it (writer lock
     * held), into the handle's encode buffer: data, size and checksum are
     * set then, while the bytes are still in the cache. */
    const struct mf_class *cls;
    const void *obj;
    uint64_t keep_count, keep_time; /* mf_copy: stat fields to keep, or 0 */
    /* Filled by the writer while staging: */
    uint64_t slot;           /* the name's slot (existing names) */
    uint64_t old;            /* its current payload, or 0 for a new name */
    uint64_t count, order;   /* the new version's update count and order */
    uint64_t pay;            /* the staged payload */
};

struct mf_file {
    char *path;                  /* absolute */
    int mode;
    bool writable;
    unsigned flags;              /* mf_open_flags */
    mf_registry *reg;
    _Atomic(struct mf__inc *) inc; /* current incarnation */
    pthread_mutex_t map_lock;    /* serializes remaps, reopens and unmaps */
    /* Operations inside (mf__enter .. mf__leave): retired mappings and
     * incarnations are unmapped when it is 0 (map.c). */
    _Atomic unsigned long users;
    struct mf__map *dead_maps;   /* retired; written with map_lock held */
    struct mf__inc *dead_incs;
    _Atomic int64_t next_path_check; /* CLOCK_MONOTONIC_COARSE ns */
    _Atomic uint64_t wait_file_id; /* file_id of the last mf_wait answer */

    /* Producer-side state, guarded by prod_lock. */
    pthread_mutex_t prod_lock;
    struct mf__added *added;
    size_t nadded, cap_added;
    unsigned char *enc;          /* reusable encode buffer */
    size_t enc_cap;
    struct mf__op *ops;
    size_t cap_ops;
    uint64_t enc_grows;          /* encode buffer reallocations, for tests */
    const mf_class **schemas;    /* classes whose schema this handle stored */
    size_t nschemas, cap_schemas;

    uint64_t initial_size, max_size;
    unsigned file_mode;
    char title[MF__TITLE_MAX + 1];
};

/* What one operation works on: the incarnation and its mapping, taken once
 * at the start so the operation sees one consistent file; and, for reads,
 * the reclamation epoch it started in. */
struct mf__ctx {
    mf_file *mf;
    struct mf__inc *inc;
    struct mf__header *hdr;
    struct mf__map *m;
    uint64_t epoch;              /* reader: reclaim_epoch at the start */
    uint64_t committed;          /* reader: cached header.committed, 0 unknown */
};

/* ---- file.c: opening, validating, describing ------------------------- */
/* Open the file at path as a new incarnation, validated. */
int mf__inc_open(const char *path, bool writable, struct mf__inc **out);

/* ---- create.c: building new files ------------------------------------- */
/* Build a complete, empty map file in fd (size bytes). */
int mf__format_file(int fd, uint64_t size, uint64_t max, const char *title,
                    const char *path);
/* Create a formatted file under a temporary name beside path. */
int mf__create_temp(const char *path, unsigned mode, uint64_t size, uint64_t max,
                    const char *title, char *tmp, size_t tmpcap, int *fd_out);
/* Put a file built under tmp at path: link it (exclusive: MF_EEXIST if path
 * exists) or rename it over path, retiring the map file that was there so
 * its readers follow. tmp is gone afterwards either way. */
int mf__install_temp(const char *tmp, const char *path, bool exclusive);

/* ---- map.c: mappings, operations, growth ------------------------------- */
int mf__map_file(int fd, uint64_t len, bool writable, struct mf__map **out,
                 const char *path);
void mf__inc_free(struct mf__inc *inc);
/* Unmap every retired mapping and incarnation nobody is inside (close). */
void mf__users_drain(mf_file *mf);
/* Reader: move to the file now at the path if ours was replaced. */
int mf__follow_if_replaced(mf_file *mf, struct mf__inc *inc);
/* Start an operation: the current incarnation (following a replaced file
 * unless the handle says not to) and its mapping, remapped if the file grew.
 * Every successful mf__enter is paired with one mf__leave. */
int mf__enter(mf_file *mf, struct mf__ctx *c);
void mf__leave(struct mf__ctx *c);
/* Remap if the file grew beyond c->m (after a failed bounds check). Returns
 * 1 if the mapping changed, 0 if not, or an error. */
int mf__refresh(struct mf__ctx *c);
/* Writer: grow the file so the heap can hold a block of `need` user bytes;
 * MF_EFULL with a detail naming the sizes at the maximum. Lock held. */
int mf__grow(struct mf__ctx *c, uint64_t need);
/* Bounds check: [off, off + len) inside a mapping of map_len bytes. */
static inline bool mf__in_map(uint64_t map_len, uint64_t off, uint64_t len)
{
    return off <= map_len && len <= map_len - off;
}
/* Wall-clock ns (stored in the file); monotonic ns for deadlines; the
 * coarse monotonic clock (a few ms resolution, no syscall cost) for
 * rate limits. */
uint64_t mf__now_ns(void);
int64_t mf__mono_ns(void);
int64_t mf__coarse_ns(void);
uint64_t mf__hash_name(const char *name, size_t len);

/* ---- lock.c ------------------------------------------------------------ */
int mf__writer_lock(mf_file *mf);
void mf__writer_unlock(mf_file *mf);

/* An #mf_writer_state for the lock in h, judged by the owner's identity
 * (pid, start time, pid namespace, boot, file). *pid gets the owner's pid. */
int mf__writer_state(const struct mf__header *h, const struct mf__inc *inc,
                     uint32_t *pid);

/* ---- wake.c: change notification ------------------------------------- */
/* Writer (lock held): bump the generation; wake waiters if there are any. */
void mf__announce(struct mf__inc *inc);
/* The same for a file we only hold the header of: always wakes. */
void mf__announce_header(struct mf__header *h);
/* Waiter: sleep until change_futex differs from word, at most ts. */
void mf__sleep(struct mf__inc *inc, uint32_t word, struct timespec ts);
/* Process-wide counts, for tests: publishes that skipped the wake system
 * call (nobody waited), and sleeps that ran to their timeout although the
 * file had changed (a lost wake; must stay 0). */
struct mf__wake_stats {
    _Atomic unsigned long skipped, late;
};
extern struct mf__wake_stats mf__wake_stats;
/* Unmap an incarnation's wake page; remove the page of a replaced file. */
void mf__wake_forget(struct mf__inc *inc);
void mf__wake_unlink(uint64_t file_id);

/* ---- recover.c: repair after a writer died holding the lock ----------- */
int mf__recover(mf_file *mf);

/* ---- version.c: the batch protocol of format.h ------------------------- */
/* A validated copy of one payload's header: read once, used from here. */
struct mf__version {
    uint64_t off;
    uint64_t next, batch, size, checksum, update_count, time_ns, order_seq;
    uint32_t class_version;
    unsigned name_len, class_len;
    const char *name;            /* in the map: name_len bytes, then NUL */
    const char *class_name;      /* in the map: class_len bytes, then NUL */
    const unsigned char *data;   /* in the map: size bytes */
};
/* Resolve at the latest committed batch (not a snapshot). */
#define MF__LATEST UINT64_MAX
/* mf__resolve answers beside 0 (visible) and errors: */
#define MF__INVISIBLE 2          /* not there at that batch */
#define MF__GONE 3               /* the state at that batch was replaced */

/* Reader: note the epoch before the first access to the map. */
void mf__read_begin(struct mf__ctx *c);
/* Reader: after the last access: did no reclaim free what was read? */
bool mf__read_stable(struct mf__ctx *c);
/* Reader: the committed batch, loaded once per read. */
uint64_t mf__committed(struct mf__ctx *c);
/* A check failed: MF__RETRY if a writer may have caused it (the epoch
 * moved, or the file grew past our mapping), else MF_ECORRUPT with the
 * formatted detail. */
int mf__suspect(struct mf__ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Validate the payload at off and copy its header. 0, MF__RETRY, or
 * MF_ECORRUPT (through mf__suspect). */
int mf__version_at(struct mf__ctx *c, uint64_t off, struct mf__version *v);
/* The version of the record in a used slot (its word) visible at batch
 * `at` (or MF__LATEST): 0 with v filled, MF__INVISIBLE, MF__GONE,
 * MF__RETRY or an error. */
int mf__resolve(struct mf__ctx *c, uint64_t slot_word, uint64_t at,
                struct mf__version *v);
/* The same when v already holds the slot's payload (mf__version_at). */
int mf__resolve_loaded(struct mf__ctx *c, uint64_t slot_word, uint64_t at,
                       struct mf__version *v);

/* Writer (lock held): a new batch number, never used before. */
uint64_t mf__batch_begin(struct mf__ctx *c);
/* Writer: allocate and write a complete payload nobody can reach yet. */
int mf__stage(struct mf__ctx *c, const struct mf__op *op, uint64_t batch,
              uint64_t update_count, uint64_t order_seq, uint64_t *off);
/* Writer: make a staged change reachable as uncommitted: next of the
 * current version becomes the staged payload or MF__NEXT_REMOVED|batch. */
void mf__link(struct mf__ctx *c, uint64_t cur, uint64_t next);
/* Writer: THE commit: one store makes batch visible everywhere. */
void mf__commit(struct mf__ctx *c, uint64_t batch);
/* Writer: a block readers may still hold is no longer reachable: it is
 * freed by the second reclaim from now. The ring must have been checked
 * with mf__limbo_ok in this operation. */
void mf__retire(struct mf__ctx *c, uint64_t off);
/* Writer: check the limbo ring's header fields; 0 or MF_ECORRUPT. */
int mf__limbo_ok(struct mf__ctx *c);
/* Entry i of the ring (0 = the oldest), after mf__limbo_ok. */
uint64_t mf__limbo_entry(const struct mf__ctx *c, uint64_t i);
/* Writer: free what the epoch protocol allows (see format.h). `force`
 * reclaims even if little is waiting (allocation failed). Returns the
 * bytes freed. */
uint64_t mf__reclaim(struct mf__ctx *c, bool force);
/* Writer: reclaim if enough is waiting; called after every publish. */
void mf__reclaim_if_due(struct mf__ctx *c);

/* ---- directory.c ------------------------------------------------------- */
struct mf__heap mf__heap_view(struct mf__ctx *c);
/* Allocate a heap block, reclaiming and then growing the file if needed
 * (lock held). */
int mf__alloc(struct mf__ctx *c, uint64_t size, uint64_t *off);
/* Free a block nobody could ever reach (lock held). */
int mf__free(struct mf__ctx *c, uint64_t off);
/* A validated view of an index table, read once. */
struct mf__table {
    uint64_t off;
    struct mf__index *ix;
    uint64_t nslots, order_cap, serial;
    const uint32_t *order;       /* order_cap entries */
};
/* Reader or writer: the current index, validated. 0, MF__RETRY, error. */
int mf__table(struct mf__ctx *c, struct mf__table *t);
/* Reader: a slot's word (acquire). */
static inline uint64_t mf__slot_load(const struct mf__table *t, uint64_t slot)
{
    return MF__LOAD_ACQ(&t->ix->slots[slot]);
}
/* Reader: find a name and resolve it at `at`. 0 with v and *slot, MF_ENOTFOUND
 * (with a detail), MF__RETRY, MF__GONE, or an error. */
int mf__lookup(struct mf__ctx *c, const char *name, size_t len, uint64_t hash,
               uint64_t at, struct mf__version *v, uint64_t *slot);
/* Writer: the slot of a committed name, and its current version. 0 or
 * MF_ENOTFOUND (no detail) or MF_ECORRUPT. */
int mf__dir_find(struct mf__ctx *c, const char *name, size_t len, uint64_t hash,
                 uint64_t *slot, struct mf__version *v);
/* Writer: make room for `extra` more names (rehash now, while failing is
 * harmless). *rehashed: slot numbers found before did not survive. */
int mf__dir_reserve(struct mf__ctx *c, uint64_t extra, bool *rehashed);
/* Writer: add a name whose first version is staged (PENDING). Room must
 * have been reserved. Returns the slot. */
uint64_t mf__dir_add(struct mf__ctx *c, uint64_t hash, uint64_t pay);
/* Writer: fold: a slot moves to payload pay, or becomes a tombstone
 * (pay == 0). */
void mf__dir_set(struct mf__ctx *c, uint64_t slot, uint64_t pay);
/* Writer: build a table with room for n names, unreachable until
 * installed; slots are filled with mf__table_put. */
int mf__index_create(struct mf__ctx *c, uint64_t n, uint64_t *off);
void mf__table_put(struct mf__index *ix, uint64_t hash, uint64_t word);
/* Writer: swing header.index_off to a built table; the old one is retired
 * when `retire_old`. */
void mf__index_install(struct mf__ctx *c, uint64_t off, bool retire_old);

/* ---- publish.c --------------------------------------------------------- */
/* Publish n changes as one batch (checksums computed here). */
int mf__publish(mf_file *mf, struct mf__op *ops, size_t n);

/* ---- read.c ------------------------------------------------------------ */
void mf__fill_info(const struct mf__version *v, mf_record_info *info);

/* Names: 1..MF_NAME_MAX bytes, no control characters. */
int mf__check_record_name(const char *name);
/* The same, with the name's length (set when 0 is returned). */
int mf__check_record_name_len(const char *name, size_t *len);
/* schema_store.c: mf__check_record_name(), and names under
 * MF_RESERVED_PREFIX only for class MF_SCHEMA_CLASS (@p class_name NULL:
 * a codec put, never). MF_ENAME names the rule. */
int mf__check_user_name(const char *name, const char *class_name);
/* schema_store.c: store @p cls's schema (ABI 1.2) in the file unless this
 * handle already did or the file holds the same bytes. Call with prod_lock
 * held. 0, MF_ECODEC (an invalid schema), or a publish error. */
int mf__schema_ensure(mf_file *mf, const mf_class *cls);

#endif
