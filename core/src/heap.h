/*
 * heap.h - the allocator over file offsets (TLSF) that lives inside the map.
 *
 * Everything here works on offsets from the start of the file, never on
 * pointers, so the heap is valid wherever the file is mapped. All metadata
 * read from the file is treated as hostile: every offset, size and link is
 * bounds-checked before use and a bad one gives MF_ECORRUPT, never a crash.
 *
 * Layout of a block at offset `b` (16-byte aligned):
 *
 *     b + 0   uint64 prev_phys   offset of the previous physical block, or 0
 *     b + 8   uint64 size_flags  block size incl. header | MF__BLK_* flags
 *     b + 16  user area ...      (allocated)
 *     b + 16  uint64 next_free   free-list links (free blocks only: a free
 *     b + 24  uint64 prev_free   block's user area is nobody's)
 *
 * Callers only ever see *user offsets* (b + 16). Readers never depend on
 * what a freed block holds (format.h: the reclamation epoch), so the
 * allocator may write anywhere in a free block.
 */
#ifndef MF_HEAP_H
#define MF_HEAP_H

#include <stdint.h>
#include <stddef.h>

#define MF__HEAP_ALIGN 16u
#define MF__BLOCK_HEADER 16u
#define MF__BLOCK_MIN 32u /* header + the two free-list links */

#define MF__BLK_FREE 1u
#define MF__BLK_PREV_FREE 2u
#define MF__BLK_FLAGS 15u

/* TLSF parameters: first level up to 2^(MF__TLSF_FL-1) bytes, 8 second-level
 * lists per first level. */
#define MF__TLSF_FL 41
#define MF__TLSF_SL_LOG2 3
#define MF__TLSF_SL (1 << MF__TLSF_SL_LOG2)

/* The heap's control block, stored in the file header. */
struct mf__heap_ctl {
    uint64_t heap_start;  /* offset of the first block */
    uint64_t heap_end;    /* one past the last block (== file capacity) */
    uint64_t used_bytes;  /* bytes in allocated blocks, headers included */
    uint64_t free_bytes;  /* bytes in free blocks, headers included */
    uint64_t used_blocks;
    uint64_t free_blocks;
    uint64_t fl_bitmap;
    uint32_t sl_bitmap[MF__TLSF_FL];
    uint32_t pad_;
    uint64_t heads[MF__TLSF_FL][MF__TLSF_SL]; /* block offsets, 0 = empty */
    uint64_t last_block;  /* hint: offset of the last block, so grow is O(1) */
};

/* A writer's view of the heap: the mapping and the control block in it. */
struct mf__heap {
    unsigned char *base;       /* start of the mapping (file offset 0) */
    uint64_t map_len;          /* bytes mapped; every access stays below */
    struct mf__heap_ctl *ctl;  /* inside the mapping */
};

/* Format an empty heap over [start, end). start is 16-aligned, end - start
 * at least MF__BLOCK_MIN. Returns 0 or MF_EINVAL. */
int mf__heap_init(struct mf__heap *h, uint64_t start, uint64_t end);

/* Allocate a block with at least `size` user bytes. On success stores the
 * user offset (16-aligned) in *user_off. Returns 0, MF_EFULL when no free
 * block is large enough (the caller may grow and retry), MF_ECORRUPT. */
int mf__heap_alloc(struct mf__heap *h, uint64_t size, uint64_t *user_off);

/* Free a block by its user offset, coalescing with free neighbours.
 * Returns 0, or MF_ECORRUPT if the offset is not an allocated block. */
int mf__heap_free(struct mf__heap *h, uint64_t user_off);

/* Usable user bytes of the allocated block at user_off (0 if invalid).
 * Safe on hostile data: checks bounds against map_len. */
uint64_t mf__heap_usable(const unsigned char *base, uint64_t map_len,
                         uint64_t heap_start, uint64_t heap_end,
                         uint64_t user_off);

/* The file grew: extend the heap to new_end (> heap_end, mapped). The new
 * space becomes free, merged with a free last block. Returns 0 or an error. */
int mf__heap_grow(struct mf__heap *h, uint64_t new_end);

/* Crash recovery: rebuild all heap metadata so that exactly the blocks in
 * `live` (user offsets, sorted ascending, no duplicates) stay allocated and
 * everything else becomes free, coalesced. Each live block's size is taken
 * from its header and validated (in bounds, no overlap with the next live
 * block). Returns 0, MF_ECORRUPT if a live block is invalid. */
int mf__heap_rebuild(struct mf__heap *h, const uint64_t *live, size_t n);

/* Full consistency check for `mapf check` and the tests: blocks tile
 * [heap_start, heap_end) exactly, flags and prev_phys agree, no two free
 * blocks are adjacent, every free block is on the right free list exactly
 * once and lists are well-formed (bounded walks), counters match, and the
 * allocated blocks are exactly `live` (sorted user offsets): an allocated
 * block not in `live` is a leak, a `live` entry that is not an allocated
 * block is dangling. Each problem is passed to report(ud, message).
 * Returns the number of problems found. */
unsigned mf__heap_check(const struct mf__heap *h, const uint64_t *live,
                        size_t n, void (*report)(void *ud, const char *msg),
                        void *ud);

#endif
