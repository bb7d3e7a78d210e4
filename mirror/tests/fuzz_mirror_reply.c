/*
 * fuzz_mirror_reply.c - libFuzzer: the input is what a Redis server sends
 * (RESP bytes). Every reply hiredis makes of it goes through each of the
 * mirror's checks of Redis content: as a head (HGETALL), a record (HMGET),
 * a stream entry, and a list of entries (XRANGE, XREAD). None may crash,
 * hang, read out of bounds or allocate without bound, whatever the bytes
 * (the reader is bounded as the mirror's connections are).
 *
 * Built with -DMAPFILE_FUZZ=ON and clang (tools/run fuzz); seeds in
 * tests/fuzz/corpus/fuzz_mirror_reply.
 */
#include "mirror_internal.h"

#include <stdint.h>
#include <stdlib.h>

#include <hiredis/read.h>

static mf_mirror *m;

static void as_entries(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < r->elements; i++) {
        mm_entry_info e;
        if (mm_parse_entry(m, r->element[i], &e) == 0)
            mm_entry_info_free(&e);
        as_entries(r->element[i]); /* XREAD nests [key, entries] */
    }
}

static void check_reply(const redisReply *r)
{
    mm_head h;
    mm_parse_head(m, r, &h);
    mm_record rec;
    mm_parse_record(m, "fuzz/record", r, &rec);
    mm_entry_info e;
    if (mm_parse_entry(m, r, &e) == 0)
        mm_entry_info_free(&e);
    as_entries(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!m && mf_mirror_pull_create(&m, "unix:/nonexistent/fuzz.sock",
                                    "/nonexistent/fuzz.map", NULL) != 0)
        abort();
    redisReader *reader = redisReaderCreate();
    if (!reader)
        return 0;
    mm_reader_bound(reader); /* as on every connection of the mirror */
    redisReaderFeed(reader, (const char *)data, size);
    void *reply = NULL;
    for (int i = 0; i < 16 && redisReaderGetReply(reader, &reply) == REDIS_OK && reply; i++) {
        check_reply(reply);
        freeReplyObject(reply);
        reply = NULL;
    }
    (void)mm_reader_refused();
    redisReaderFree(reader);
    return 0;
}
