/*
 * format.h - the on-disk layout of a map file, and the argument for why
 * lock-free readers and crashed writers can never see or leave a torn or
 * half-committed state. version.c is the one home of the protocol below;
 * every other file calls its named operations.
 *
 * Everything in the file is an offset from the start of the file, so any
 * process may map it at any address. The file is:
 *
 *   [0, 4096)            struct mf__header (with the heap control block)
 *   [4096, capacity)     the heap: TLSF blocks (heap.h) holding the index
 *                        and the payloads
 *
 * ## Objects
 * - A *payload* block is one version of one record: a 64-byte header, the
 *   record's name and class name, then the encoded bytes. It is written
 *   completely before anything points at it and never written again,
 *   except its `next` word (below).
 * - The *index* block is the directory: an open-addressing hash table of
 *   8-byte slots {name hash tag, current payload}, plus the insertion-order
 *   array (slot numbers in the order names were added, for ls). A lookup of
 *   a present name costs the slot and the payload: the payload is what the
 *   reader copies anyway.
 *
 * ## One commit point (the batch protocol)
 * Every change is a batch with a new number B, greater than every number
 * used before (header.staging remembers the last one handed out, even if
 * never committed). A batch is:
 *   1. stage: every new version is written into a new, unreachable payload
 *      with batch = B; failure here frees them and publishes nothing;
 *   2. link: each is made reachable *as uncommitted*: an existing record's
 *      current payload gets next = the new version (or next = REMOVED|B for
 *      a removal); a new name gets a slot marked PENDING;
 *   3. commit: ONE release store of header.committed = B;
 *   4. fold: slots move to the new versions (PENDING cleared;
 *      removed names become tombstones) and the old versions are retired.
 * A version is visible iff its batch <= committed. Readers resolve a slot
 * by following `next` while the successor's batch is committed, so before
 * the store in step 3 every reader sees the whole old state and after it
 * the whole new state, whatever the fold has done yet. A writer killed
 * anywhere leaves a file whose readers need nothing from it; the repair
 * (recover.c) rolls staged versions back (batch > committed) or forward
 * (batch <= committed) by that one number. Readers read `committed` only
 * when they meet a PENDING slot or a non-zero `next`, i.e. only for records
 * inside a batch's short link-to-fold window.
 *
 * ## Reclamation: why no reader ever reads reused memory unknowingly
 * Blocks that readers may still hold (replaced versions, removed records,
 * old index tables) are *retired*, not freed: appended to the limbo, a ring
 * of block offsets in a heap block of its own that only writers read, as
 * "young". A reclaim does: reclaim_epoch++ (release store), then frees the
 * old ones, then old = young, young = none. So a block is freed only by the
 * second reclaim after it was retired, with the epoch bumped before.
 * A reader loads reclaim_epoch (e1, acquire) before its first access and
 * again (e2, after an acquire fence) after its last. Every block it reaches
 * was reachable at some moment after e1 was loaded, so it is retired with
 * an epoch >= e1 and freed only once the epoch is >= e1 + 2, and any reuse
 * of it is ordered after that store: if e2 - e1 <= 1 nothing the reader
 * read was freed meanwhile, and the values it read are exactly values the
 * writers published. This holds whatever the allocator writes into freed
 * memory (headers of split blocks, new payload bytes): no word needs to be
 * "never reused", and there are no per-block stamps to get wrong.
 * Hence the rule every read path follows: a check that fails while the
 * epoch is stable is corruption (it is a state the writers really left,
 * which no writer step ever leaves: see the list below); a check that fails
 * while the epoch moved is retried. A live writer is never needed for a
 * reader to finish, and nothing here ever spins on a writer.
 *
 * ## What a reader may see change, and how each is safe
 * - a slot and payload.next: single aligned 8-byte stores (release);
 *   readers load them with acquire;
 * - a new slot: one word (release);
 * - header.index_off: swung (release) to a completely built table;
 * - index.order_len: bumped (release) after the order entry is written;
 * - header.capacity: raised (release) after the heap covers the new space;
 *   a reader meeting an offset past its mapping remaps and retries;
 * - header.committed, reclaim_epoch, generation: monotonic counters.
 * Nothing else a reader reads ever changes while it is reachable.
 *
 * ## Crash repair (recover.c)
 * header.flags has DIRTY set by the writer that finds the lock's owner dead,
 * before anything else, and cleared when the repair is done: a repair that
 * dies is redone. The repair builds a fresh index from the resolved
 * versions (in insertion order), installs it, clears the `next` words of
 * the kept versions, bumps the epoch by two, and rebuilds the heap from the
 * live set (the index, the limbo ring and the kept payloads): staged,
 * retired and limbo
 * blocks become free space. Its memory is bounded by the index's slot
 * count, not by the file size.
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

/* The writer lock's binary layout: what libc and word size built the
 * process-shared mutex in the header. A writer built differently (musl,
 * 32-bit) would misread it, so writable opens refuse a mismatch; readers
 * never touch the lock. */
#if defined(__GLIBC__)
#define MF__LOCK_LIBC 1u
#else
#define MF__LOCK_LIBC 2u
#endif
#define MF__LOCK_ABI                                                  \
    ((uint32_t)(MF__LOCK_LIBC << 24 | (uint32_t)sizeof(void *) << 16 | \
                (uint32_t)sizeof(pthread_mutex_t)))

/* Who holds (or last held) the writer lock, so another process can tell a
 * live holder from one that is gone without the kernel's help (a copied
 * file, a host that crashed, a restored backup). */
struct mf__owner {
    uint32_t pid;              /* 0 when free */
    uint32_t tid;
    uint64_t start_time;       /* /proc/PID/stat field 22, clock ticks */
    uint64_t pidns;            /* inode of /proc/self/ns/pid */
    uint64_t file_dev, file_ino; /* the file the lock was taken in */
    unsigned char boot_id[16]; /* /proc/sys/kernel/random/boot_id */
};

/* Fields are grouped by who touches them: a reader's get touches only the
 * first cache line (rarely written), so the writer's per-update stores
 * never evict it from readers' caches. */
struct mf__header {
    /* Read by every reader operation; written rarely (growth, rehash,
     * reclaim: about once per thousand updates at most). */
    char magic[8];
    uint32_t format_version;
    uint32_t header_size;
    uint32_t endian;
    uint32_t flags;            /* MF__HF_*; atomic */
    uint64_t capacity;         /* mapped size readers need; atomic, only grows */
    uint64_t index_off;        /* atomic; user offset of the current index */
    uint64_t reclaim_epoch;    /* atomic; see "Reclamation" */
    uint64_t max_size;
    uint64_t file_id;          /* random, tells one incarnation from the next */
    uint64_t created_ns;

    char title[MF__TITLE_MAX + 1];
    uint32_t lock_abi;         /* MF__LOCK_ABI of the creator */
    uint32_t reserved0;

    /* The robust mutex serializes every writer thread and process. */
    _Alignas(64) union {
        pthread_mutex_t m;
        unsigned char pad[64];
    } lock;
    _Alignas(64) struct mf__owner owner; /* atomic fields, writer-written */
    uint64_t write_seq;        /* atomic; odd while a writer holds the lock */

    /* Written by every publish. */
    _Alignas(64) uint64_t committed; /* atomic; THE commit store */
    uint64_t staging;          /* last batch number handed out */
    uint64_t generation;       /* atomic; bumped after every change */
    uint32_t change_futex;     /* atomic; low 32 bits of generation */
    uint32_t reserved1;
    uint64_t removed_batch;    /* atomic; last batch that removed a name,
                                  stored before its commit */
    uint64_t record_count;     /* atomic; visible records */
    uint64_t order_counter;    /* order_seq of the last name added */
    uint64_t recoveries;       /* crashed writers repaired */

    /* Writer-only bookkeeping. */
    _Alignas(64) uint64_t limbo_off; /* the limbo ring: uint64_t[MF__LIMBO_CAP] */
    uint64_t limbo_head;       /* ring position of the oldest entry */
    uint64_t old_count, young_count; /* old entries first, then young */
    uint64_t young_bytes;
    uint64_t index_serial;     /* serial of the last index table made */
    double sum_buffer;         /* TMapFile's best-buffer statistics */
    double sum2_buffer;
    uint64_t written;
    uint64_t reserved[6];

    _Alignas(64) struct mf__heap_ctl heap;
};

_Static_assert(sizeof(struct mf__header) <= MF__HEADER_SIZE,
               "header must fit in its page");
_Static_assert(sizeof(pthread_mutex_t) <= 64, "robust mutex slot too small");
_Static_assert(offsetof(struct mf__header, magic) == 0, "magic first");
_Static_assert(offsetof(struct mf__header, format_version) == 8, "layout");
_Static_assert(offsetof(struct mf__header, capacity) == 24, "layout");
_Static_assert(offsetof(struct mf__header, max_size) < 64,
               "what readers load per get sits on the first line");

/* The index. Slots are never moved while a table is current and a slot is
 * never reused after its record is removed (it stays a tombstone until the
 * next rebuild), so an order entry names one record for the table's life
 * and a lookup racing the writer cannot miss a name that stays present.
 *
 * A slot is one 8-byte word, always stored and loaded whole (atomic):
 *   0 empty, 1 tombstone, else
 *   bits 38..63  the top 26 bits of the name's hash (a tag: a lookup reads
 *                the payload only when it matches; the full name decides)
 *   bits  2..37  the current payload's offset / 16 (offsets < 2^40)
 *   bit   1      PENDING: a staged add, visible once its batch commits */
#define MF__SLOT_EMPTY 0u
#define MF__SLOT_TOMB 1u
#define MF__SLOT_PENDING 2u

static inline uint64_t mf__slot_word(uint64_t hash, uint64_t off, int pending)
{
    return (hash >> 38) << 38 | (off >> 4) << 2 | (pending ? MF__SLOT_PENDING : 0u);
}
static inline uint64_t mf__slot_off(uint64_t w)
{
    return ((w >> 2) & ((1ull << 36) - 1)) << 4;
}
static inline int mf__slot_pending(uint64_t w) { return (w & MF__SLOT_PENDING) != 0; }
static inline int mf__slot_used(uint64_t w) { return w > MF__SLOT_TOMB; }
static inline int mf__slot_tag_is(uint64_t w, uint64_t hash)
{
    return (w >> 38) == (hash >> 38);
}
/* Linear probing over a table of any size n (not a power of two, so it
 * is built exactly half full): a hash's probe path starts at its home
 * slot, taken from the hash's low 32 bits (the tag is its top bits). */
static inline uint64_t mf__slot_home(uint64_t hash, uint64_t n)
{
    return ((hash & 0xffffffffu) * n) >> 32;
}
static inline uint64_t mf__slot_next(uint64_t i, uint64_t n)
{
    return i + 1 == n ? 0 : i + 1;
}

struct mf__index {
    /* Fixed when the table is built. */
    uint64_t nslots;           /* 64 to 2^32 */
    uint64_t order_cap;        /* entries the order array can hold */
    uint64_t serial;           /* unique per table, for iterators */
    uint64_t order_at;         /* byte offset of the order array in the block */
    uint64_t reserved[4];
    /* Changed by the writer as names come and go (the second line, so
     * lookups never share a line with them). */
    uint64_t order_len;        /* atomic; entries in use */
    uint64_t used;             /* slots holding a record (live or staged) */
    uint64_t tombstones;
    uint64_t reserved2[5];
    uint64_t slots[];          /* then uint32_t order[order_cap] */
};
_Static_assert(sizeof(struct mf__index) == 128, "index header is two lines");

/* Entries of the limbo ring. A reclaim is due at half of it (so old and
 * young always fit), and every reclaim moves the epoch: 256 retirements
 * between reclaims keep them rare next to any read. */
#define MF__LIMBO_CAP 512u

/* payload.next */
#define MF__NEXT_REMOVED (1ull << 63) /* | batch: removed by that batch */

/* One version of one record. */
struct mf__payload {
    uint64_t next;             /* atomic; staged successor, REMOVED|batch, or 0 */
    uint64_t batch;            /* the batch that published this version */
    uint64_t size;             /* bytes of data */
    uint64_t checksum;         /* XXH3-64 of data */
    uint64_t update_count;     /* versions of this record so far */
    uint64_t time_ns;          /* CLOCK_REALTIME when staged */
    uint64_t order_seq;        /* when the name was added (insertion order) */
    uint32_t class_version;
    uint8_t name_len;          /* 1..255 */
    uint8_t class_len;         /* 1..127 */
    uint16_t reserved;
    char strings[];            /* name NUL class NUL, padded to 8; then data */
};
_Static_assert(sizeof(struct mf__payload) == 64, "payload header is 64 bytes");

/* Where a payload's data starts, from the validated string lengths. */
static inline uint64_t mf__payload_data_at(unsigned name_len, unsigned class_len)
{
    return (sizeof(struct mf__payload) + name_len + 1u + class_len + 1u + 7u) &
           ~(uint64_t)7u;
}

#endif
