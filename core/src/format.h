/*
 * format.h - the on-disk layout of a map file.
 *
 * Everything in the file is an offset from the start of the file, so any
 * process may map it at any address. The file is:
 *
 *   [0, 4096)            struct mf__header (with the heap control block)
 *   [4096, capacity)     the heap: TLSF blocks holding the hash index,
 *                        records and payloads
 *
 * Publication model (see DESIGN.md "Concurrency"):
 * - A record (name, class, links) lives in one heap block for its whole
 *   life. Its `payload` field points at the current payload block.
 * - An update never writes into a published payload. It fills a new block,
 *   seals it with an even stamp, then swings record->payload to it with a
 *   release store, and only then retires (odd stamp) and frees the old one.
 *   A reader copies or decodes, then re-checks the stamp and the checksum.
 * - So a writer killed at any instant leaves every published payload
 *   intact: the worst it leaves is an unreachable block, which recovery
 *   reclaims.
 * - Stamps come from one counter in the header and are never reused, so a
 *   block freed and reused between a reader's two stamp reads is detected.
 */
#ifndef MF_FORMAT_H
#define MF_FORMAT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "heap.h"

#define MF__MAGIC "MAPFILE"          /* 8 bytes with the NUL */
#define MF__HEADER_SIZE 4096u
#define MF__ENDIAN_TAG 0x01020304u
#define MF__MIN_SIZE (64u * 1024u)
#define MF__MAX_SIZE (1ull << 40)     /* 1 TiB: TLSF first level bound */
#define MF__DEFAULT_MAX_SIZE (1ull << 30)
#define MF__TITLE_MAX 127

/* header.flags */
#define MF__HF_RETIRED 1u   /* replaced by a RECREATE: readers move on */
#define MF__HF_DIRTY 2u     /* a writer died holding the lock: repair first */

/* header.intent_op: the directory change in progress (crash journal) */
#define MF__INTENT_NONE 0u
#define MF__INTENT_ADD 1u     /* linking intent_rec into the order list */
#define MF__INTENT_REMOVE 2u  /* unlinking intent_rec */

/* Fields are grouped by who touches them, so readers' hot loads never share
 * a cache line with what every publish writes (false sharing cost readers
 * and the writer 20-30% in mapfile-bench). */
struct mf__header {
    /* Read by every reader operation, written almost never. */
    char magic[8];
    uint32_t format_version;
    uint32_t header_size;
    uint32_t endian;
    uint32_t flags;            /* MF__HF_*; atomic */
    uint64_t capacity;         /* file size in bytes; atomic, only grows */
    uint64_t max_size;
    uint64_t created_ns;
    uint64_t file_id;          /* random, tells one incarnation from the next */
    uint64_t index_off;        /* atomic; user offset of the hash index block */
    uint64_t reserved0;
    char title[MF__TITLE_MAX + 1];

    /* The robust mutex serializes every writer thread and process. */
    _Alignas(64) union {
        pthread_mutex_t m;
        unsigned char pad[64];
    } lock;

    /* Written by every publish. */
    _Alignas(64) uint32_t writer_pid; /* atomic; 0 when free */
    uint32_t change_futex;     /* atomic; low 32 bits of generation, futex word */
    uint64_t generation;       /* atomic; bumped after every change */
    uint64_t pub_seq;          /* atomic; odd while publishing (snapshot seqlock) */
    uint64_t batch;            /* atomic; number of the last batch published */
    uint64_t stamp_counter;    /* last stamp handed out (even) */
    uint64_t recoveries;       /* crashed writers repaired */
    uint64_t intent_op;        /* MF__INTENT_* */
    uint64_t intent_rec;       /* record offset the intent is about */

    /* Directory. */
    uint64_t first_rec;        /* atomic; insertion-ordered list */
    uint64_t last_rec;
    uint64_t record_count;     /* atomic */
    uint64_t order_counter;    /* order_seq of the last record added */

    /* TMapFile's best-buffer statistics. */
    double sum_buffer;
    double sum2_buffer;
    uint64_t written;

    uint64_t reserved[8];

    /* Writer-only (readers use capacity, never heap_end). */
    _Alignas(64) struct mf__heap_ctl heap;
};

_Static_assert(sizeof(struct mf__header) <= MF__HEADER_SIZE,
               "header must fit in its page");
_Static_assert(sizeof(pthread_mutex_t) <= 64, "robust mutex slot too small");
_Static_assert(offsetof(struct mf__header, magic) == 0, "magic first");
_Static_assert(offsetof(struct mf__header, format_version) == 8, "layout");
_Static_assert(offsetof(struct mf__header, capacity) == 24, "layout");
_Static_assert(offsetof(struct mf__header, index_off) < 64, "index_off on the first line");

/* The hash index: open addressing with linear probing. Slots are never
 * moved while the table is current (deletes leave tombstones), so a lookup
 * racing a writer can never miss a live key; a rehash builds a new table
 * and swings header.index_off. */
struct mf__index {
    uint64_t stamp;            /* atomic; even while current, odd once retired */
    uint64_t nslots;           /* power of two */
    uint64_t used;             /* live entries */
    uint64_t tombstones;
    struct mf__slot {
        uint64_t hash;         /* written before rec */
        uint64_t rec;          /* atomic; 0 empty, 1 tombstone, else record */
    } slots[];
};
#define MF__SLOT_EMPTY 0u
#define MF__SLOT_TOMB 1u

/* A record: one per name, for its whole life. */
struct mf__record {
    uint64_t stamp;            /* atomic; even and unique while live, odd once removed */
    uint64_t payload;          /* atomic; user offset of the current payload, 0 none */
    uint64_t next;             /* atomic; insertion-order list */
    uint64_t prev;
    uint64_t order_seq;        /* position in insertion order, increasing */
    uint64_t hash;
    uint32_t name_len;
    uint32_t class_len;
    uint64_t prev_payload;     /* the payload before `payload`, kept sealed for
                                  one more update if large, or 0 */
    char strings[];            /* name NUL class NUL */
};

/* A payload block: written once, sealed, then only ever read until freed. */
struct mf__payload {
    uint64_t stamp;            /* atomic; odd while being written or retired */
    uint64_t record;           /* owning record, checked by readers */
    uint64_t size;
    uint64_t checksum;         /* XXH3-64 of data */
    uint64_t update_count;
    uint64_t time_ns;
    uint64_t batch;
    uint32_t class_version;
    uint32_t reserved;
    unsigned char data[];
};

_Static_assert(sizeof(struct mf__payload) == 64, "payload header is 64 bytes");
_Static_assert(sizeof(struct mf__record) == 64, "record header is 64 bytes");

#endif
