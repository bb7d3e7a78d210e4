/*
 * test_mirror_hostile.c - everything read from Redis is hostile. Each test
 * publishes a good namespace, syncs a mirror, damages what Redis holds the
 * way a buggy tool or an attacker could, and pulls: the pull must fail
 * with MF_MIRROR_EREMOTE and a detail naming the key (or resync, where the
 * stream alone is at fault), and the mirror must stay exactly as it was
 * and pass mf_check. A seeded loop then applies random damage. Last, a
 * server that is no Redis at all answers with an enormous array.
 */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mirror_util.h"
#include "redis_fixture.h"
#include "testutil.h"

#define HEAD "mf:{mapfile}:head"
#define NAMES "mf:{mapfile}:names"
#define LOG "mf:{mapfile}:log"
#define REC "mf:{mapfile}:r:"

static mf_file *src;
static mf_mirror *push, *pull;

/* A published namespace (a, b, c) and a mirror in step with it. */
static void setup(void)
{
    fx_redis_start(false, NULL);
    src = mu_source("src.map");
    mu_put(src, "a", "alpha payload");
    mu_put(src, "b", "bravo payload");
    mu_put(src, "c", "charlie payload");
    push = mu_push(src);
    pull = mu_pull("mirror.map");
    mu_push_ok(push);
    mu_pull_ok(pull);
}

static void teardown(void)
{
    mf_mirror_close(pull);
    mf_mirror_close(push);
    mf_close(src);
    fx_redis_stop(false);
}

TestSuite(hostile, .init = setup, .fini = teardown, .timeout = 60);

/* The pull of mirror.map, or a new one in its place (one pull per file:
 * as when a pull restarts, its first step is a full sync). */
static mf_mirror *the_pull(bool fresh)
{
    if (fresh) {
        mf_mirror_close(pull);
        pull = mu_pull("mirror.map");
    }
    return pull;
}

/* A pull fails with @p code, says @p what, and leaves the mirror as it
 * was. @p fresh: a new pull (full sync) on the existing mirror file. */
static void expect_refused(bool fresh, int code, const char *what)
{
    const char *path = mf_test_path("mirror.map");
    unsigned long long before = mu_fingerprint(path);
    mf_mirror *p = the_pull(fresh);
    int rc = mf_mirror_pull(p, 0, NULL);
    cr_assert_eq(rc, code, "pull gave %s, not %s: %s", mf_mirror_err_name(rc),
                 mf_mirror_err_name(code), mf_mirror_errdetail());
    cr_assert(strstr(mf_mirror_errdetail(), what), "the detail does not say '%s': %s",
              what, mf_mirror_errdetail());
    cr_assert_eq(mu_fingerprint(path), before, "the mirror changed");
    mu_assert_clean(path);
}

/* The head's epoch and the seq of the batch after it; with @p bump, the
 * head names that batch already (as a push leaves it). */
static void next_batch(char epoch[32], char seq[32], bool bump)
{
    redisReply *h = fx_cmd("HMGET " HEAD " epoch seq");
    cr_assert_eq(h->type, REDIS_REPLY_ARRAY);
    snprintf(epoch, 32, "%s", h->element[0]->str);
    snprintf(seq, 32, "%llu", strtoull(h->element[1]->str, NULL, 10) + 1);
    freeReplyObject(h);
    if (bump)
        fx_do("HSET " HEAD " seq %s", seq);
}

/* Append a stream entry as a push would, one batch after the head. */
static void fake_entry(const char *put, const char *del)
{
    char epoch[32], seq[32];
    next_batch(epoch, seq, true);
    fx_do("XADD " LOG " * epoch %s seq %s batch 1 put %b del %b", epoch, seq, put,
          strlen(put), del, strlen(del));
}

/* ---- the head ------------------------------------------------------------ */

Test(hostile, head_of_the_wrong_type)
{
    fx_do("DEL " HEAD);
    fx_do("SET " HEAD " not-a-hash");
    expect_refused(true, MF_MIRROR_EREMOTE, "WRONGTYPE");
}

Test(hostile, head_of_another_format)
{
    fx_do("HSET " HEAD " format 2");
    expect_refused(true, MF_MIRROR_EREMOTE, "another format");
}

Test(hostile, head_with_a_seq_that_is_no_number)
{
    fx_do("HSET " HEAD " seq 99999999999999999999999");
    expect_refused(true, MF_MIRROR_EREMOTE, "seq that is not a number");
}

Test(hostile, push_leaves_a_namespace_it_did_not_write_alone)
{
    fx_do("HSET " HEAD " format 9");
    mf_mirror *p2 = mu_push(src);
    mu_put(src, "a", "changed");
    cr_assert_eq(mf_mirror_push(p2), MF_MIRROR_EREMOTE, "%s", mf_mirror_errdetail());
    cr_assert(strstr(mf_mirror_errdetail(), "another --ns"), "%s", mf_mirror_errdetail());
    redisReply *r = fx_cmd("HGET " REC "a data");
    cr_assert_str_eq(r->str, "alpha payload", "the push overwrote a foreign namespace");
    freeReplyObject(r);
    mf_mirror_close(p2);
}

/* ---- records --------------------------------------------------------------- */

Test(hostile, record_key_of_the_wrong_type)
{
    fx_do("DEL " REC "b");
    fx_do("RPUSH " REC "b x y");
    expect_refused(true, MF_MIRROR_EREMOTE, REC "b");
}

Test(hostile, truncated_payload)
{
    fx_do("HSET " REC "b data brav");
    expect_refused(true, MF_MIRROR_EREMOTE, "truncated");
}

Test(hostile, size_field_claims_a_huge_payload)
{
    fx_do("HSET " REC "b size 1099511627776");
    expect_refused(true, MF_MIRROR_EREMOTE, "truncated or padded");
}

Test(hostile, payload_that_does_not_match_its_checksum)
{
    fx_do("HSET " REC "b data BRAVO-payload");
    expect_refused(true, MF_MIRROR_EREMOTE, "checksum");
}

Test(hostile, bogus_class_name)
{
    fx_do("HSET " REC "b class ../../lib/evil");
    expect_refused(true, MF_MIRROR_EREMOTE, "bogus class name");
}

Test(hostile, class_version_that_is_no_number)
{
    fx_do("HSET " REC "b version 7a");
    expect_refused(true, MF_MIRROR_EREMOTE, "'version'");
}

Test(hostile, record_without_its_data_field)
{
    fx_do("HDEL " REC "c data");
    expect_refused(true, MF_MIRROR_EREMOTE, "'data'");
}

Test(hostile, names_set_holding_an_invalid_name)
{
    fx_do("ZADD " NAMES " 99 %b", "bad\x01name", (size_t)8);
    fx_do("HSET " HEAD " records 4");
    expect_refused(true, MF_MIRROR_EREMOTE, "invalid record name");
}

Test(hostile, names_set_listing_a_missing_key)
{
    fx_do("ZADD " NAMES " 99 ghost");
    fx_do("HSET " HEAD " records 4");
    expect_refused(true, MF_MIRROR_EREMOTE, "does not exist");
}

Test(hostile, names_set_deleted_under_a_head_that_counts_records)
{
    fx_do("DEL " NAMES);
    expect_refused(true, MF_MIRROR_EREMOTE, "says 3 records");
}

Test(hostile, names_of_the_wrong_type)
{
    fx_do("DEL " NAMES);
    fx_do("SET " NAMES " x");
    expect_refused(true, MF_MIRROR_EREMOTE, NAMES);
}

/* A payload bigger than the mirror may grow: the core refuses it, the
 * mirror keeps what it had. */
Test(hostile, payload_larger_than_the_mirror_may_grow)
{
    mf_mirror_options o = mu_opts();
    o.max_size = 1u << 20;
    mf_mirror *small;
    cr_assert_eq(mf_mirror_pull_create(&small, fx_endpoint, mf_test_path("small.map"), &o),
                 0);
    cr_assert_eq(mf_mirror_pull(small, 0, NULL), 0, "%s", mf_mirror_errdetail());
    size_t n = 3u << 20;
    char *big = malloc(n + 1);
    memset(big, 'z', n);
    big[n] = '\0';
    mu_put(src, "big", big);
    free(big);
    mu_push_ok(push);
    unsigned long long before = mu_fingerprint(mf_test_path("small.map"));
    int rc = mf_mirror_pull(small, 0, NULL);
    cr_assert_eq(rc, MF_EFULL, "%s: %s", mf_mirror_err_name(rc), mf_mirror_errdetail());
    cr_assert(strstr(mf_mirror_errdetail(), "small.map"), "%s", mf_mirror_errdetail());
    cr_assert_eq(mu_fingerprint(mf_test_path("small.map")), before);
    mu_assert_clean(mf_test_path("small.map"));
    mf_mirror_close(small);
}

/* ---- the stream -------------------------------------------------------------- */

Test(hostile, entry_naming_a_missing_key_then_recovers_from_the_keys)
{
    fake_entry("ghost", "");
    expect_refused(false, MF_MIRROR_EREMOTE, "puts 'ghost'");
    /* The next step syncs from the keys, which are sound. */
    mu_pull_ok(pull);
    mu_assert_same(mf_test_path("src.map"), mf_test_path("mirror.map"));
}

Test(hostile, entry_removing_a_record_whose_key_exists)
{
    fake_entry("b", "a"); /* b's record is not carried: the keys are read */
    expect_refused(false, MF_MIRROR_EREMOTE, "still exists");
}

Test(hostile, entry_without_epoch_or_seq)
{
    fx_do("XADD " LOG " * junk 1");
    expect_refused(false, MF_MIRROR_EREMOTE, "lacks epoch or seq");
    /* The full sync meets the same last entry: refused too, until the push
     * publishes again. */
    expect_refused(false, MF_MIRROR_EREMOTE, "lacks epoch or seq");
    mu_put(src, "a", "alpha again");
    mu_push_ok(push);
    mu_pull_ok(pull);
    mu_assert_same(mf_test_path("src.map"), mf_test_path("mirror.map"));
}

Test(hostile, entry_naming_an_invalid_record)
{
    fake_entry("ok\nbad\x7fname", "");
    expect_refused(false, MF_MIRROR_EREMOTE, "invalid record");
}

/* An entry that carries its records: the pull applies them without the
 * keys, so each carried record is checked like a key's. */
static void fake_carried(const char *name, const char *rec, size_t len)
{
    char epoch[32], seq[32];
    next_batch(epoch, seq, true);
    fx_do("XADD " LOG " * epoch %s seq %s batch 1 put %s del %b rec %b", epoch, seq, name,
          "", (size_t)0, rec, len);
}

Test(hostile, carried_record_that_does_not_match_its_checksum)
{
    const char rec[] = "blob\n1\n0123456789abcdef\nnot what the checksum says";
    fake_carried("a", rec, sizeof rec - 1);
    expect_refused(false, MF_MIRROR_EREMOTE, "does not match its checksum");
}

Test(hostile, carried_record_with_a_bogus_class)
{
    const char rec[] = "../x\n1\n0123456789abcdef\npayload";
    fake_carried("a", rec, sizeof rec - 1);
    expect_refused(false, MF_MIRROR_EREMOTE, "bogus class name");
}

Test(hostile, carried_record_cut_short)
{
    const char rec[] = "blob\n1";
    fake_carried("a", rec, sizeof rec - 1);
    expect_refused(false, MF_MIRROR_EREMOTE, "without class, version and checksum");
}

Test(hostile, carried_records_fewer_than_names)
{
    char epoch[32], seq[32];
    next_batch(epoch, seq, false);
    fx_do("XADD " LOG " * epoch %s seq %s put %s rec %s", epoch, seq, "a\nb",
          "blob\n1\n2d06800538d394c2\n");
    expect_refused(false, MF_MIRROR_EREMOTE, "record count");
}

/* The pull sizes an entry's records from its rec fields: more than any
 * push writes (256) is refused before anything is allocated for them. */
Test(hostile, entry_carrying_more_records_than_a_push_writes)
{
    enum { NREC = 257 };
    char epoch[32], seq[32];
    next_batch(epoch, seq, true);
    static char names[NREC * 8];
    size_t used = 0;
    for (int i = 0; i < NREC; i++)
        used += (size_t)snprintf(names + used, sizeof names - used, "%sr%d", i ? "\n" : "", i);
    const char *rec = "blob\n1\n2d06800538d394c2\n"; /* XXH3 of nothing */
    static const char *argv[9 + 2 * NREC];
    int argc = 0;
    const char *head[] = {"XADD", LOG, "*", "epoch", epoch, "seq", seq, "put", names};
    for (size_t i = 0; i < sizeof head / sizeof *head; i++)
        argv[argc++] = head[i];
    for (int i = 0; i < NREC; i++) {
        argv[argc++] = "rec";
        argv[argc++] = rec;
    }
    freeReplyObject(fx_cmd_argv(argc, argv, NULL));
    expect_refused(false, MF_MIRROR_EREMOTE, "too many records");
}

Test(hostile, log_of_the_wrong_type)
{
    fx_do("DEL " LOG);
    fx_do("SET " LOG " x");
    expect_refused(false, MF_MIRROR_EREMOTE, "WRONGTYPE");
}

Test(hostile, gap_in_the_stream_is_a_resync_not_an_error)
{
    fake_entry("a", "");
    fake_entry("a", ""); /* then drop the first: batches are missing */
    redisReply *r = fx_cmd("XRANGE " LOG " - + COUNT 100");
    cr_assert(r->elements >= 2);
    fx_do("XDEL " LOG " %s", r->element[r->elements - 2]->element[0]->str);
    freeReplyObject(r);
    mu_pull_ok(pull);
    mf_mirror_stats st;
    mf_mirror_stats_get(pull, &st);
    cr_assert_eq(st.full_syncs, 2);
    cr_assert(strstr(mu_log, "batches are missing"), "%s", mu_log);
    mu_assert_same(mf_test_path("src.map"), mf_test_path("mirror.map"));
}

/* ---- random damage --------------------------------------------------------- */

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void damage(uint64_t *s)
{
    static const char *const keys[] = {HEAD, NAMES, LOG, REC "a", REC "b", REC "c"};
    static const char *const fields[] = {"format", "epoch", "seq", "class", "version",
                                         "size", "checksum", "data", "title", "max_size"};
    static const char *const values[] = {"", "0", "-1", "1e9", "ffffffffffffffff",
                                         "18446744073709551616", "a\nb", "\x01", "blob",
                                         "xyz"};
    const char *key = keys[rnd(s) % 6];
    switch (rnd(s) % 5) {
    case 0:
        fx_do("DEL %s", key);
        fx_do("SET %s %s", key, values[rnd(s) % 10]);
        break;
    case 1: {
        redisReply *r = fx_cmd("HSET %s %s %s", key, fields[rnd(s) % 10], values[rnd(s) % 10]);
        freeReplyObject(r); /* WRONGTYPE on a non-hash is fine */
        break;
    }
    case 2:
        fx_do("ZADD " NAMES " %llu %s", (unsigned long long)(rnd(s) % 5),
              values[rnd(s) % 10][0] ? values[rnd(s) % 10] : "zz");
        break;
    case 3: {
        redisReply *r = fx_cmd("XADD " LOG " * seq %s epoch %s put %s", values[rnd(s) % 10],
                               values[rnd(s) % 10], values[rnd(s) % 10]);
        freeReplyObject(r);
        break;
    }
    default:
        fx_do("DEL %s", key);
    }
}

Test(hostile, random_damage_never_harms_the_mirror, .timeout = 120)
{
    uint64_t seed = 0x2545f4914f6cdd1dull;
    const char *path = mf_test_path("mirror.map");
    for (int round = 0; round < 150; round++) {
        fx_do("FLUSHALL");
        mf_mirror *p = mu_push(src);
        mu_push_ok(p);
        mf_mirror_close(p);
        unsigned long long good = mu_fingerprint(path);
        int hits = 1 + (int)(rnd(&seed) % 3);
        for (int k = 0; k < hits; k++)
            damage(&seed);
        for (int fresh = 0; fresh < 2; fresh++) {
            mf_mirror *q = the_pull(fresh);
            int rc = mf_mirror_pull(q, 0, NULL);
            cr_assert(rc == 0 || rc == MF_MIRROR_EREMOTE || rc == MF_MIRROR_ENOSOURCE,
                      "round %d: %s: %s", round, mf_mirror_err_name(rc),
                      mf_mirror_errdetail());
            if (rc)
                cr_assert_eq(mu_fingerprint(path), good, "round %d: a refused pull "
                             "changed the mirror", round);
        }
        mu_assert_clean(path);
        /* Put the mirror back in step for the next round. */
        fx_do("FLUSHALL");
        p = mu_push(src);
        mu_push_ok(p);
        mf_mirror_close(p);
        for (int i = 0; i < 3 && mf_mirror_pull(pull, 0, NULL) != 0; i++)
            ;
    }
}

/* ---- a server that is not Redis -------------------------------------------- */

/* A process listening on @p path that answers every connection's first
 * command with @p reply and then keeps the connection open. */
static pid_t fake_server(const char *path, const char *reply)
{
    int ls = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert(ls >= 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    cr_assert(strlen(path) < sizeof a.sun_path);
    strcpy(a.sun_path, path);
    cr_assert_eq(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(ls, 4), 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid > 0) {
        close(ls);
        return pid;
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (;;) {
        int c = accept(ls, NULL, NULL);
        if (c < 0)
            _exit(1);
        char buf[4096];
        if (read(c, buf, sizeof buf) > 0 &&
            write(c, reply, strlen(reply)) == (ssize_t)strlen(reply))
            while (read(c, buf, sizeof buf) > 0)
                ;
        close(c);
    }
}

static void fake_server_stop(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* hiredis would allocate the element pointers of "*2000000000" (16 GB) at
 * the header: each side refuses it, says why, and creates no mirror. */
Test(not_redis, an_enormous_array_header_is_refused_by_both_sides, .timeout = 60)
{
    const char *sock = mf_test_path("not-redis.sock");
    char endpoint[300];
    snprintf(endpoint, sizeof endpoint, "unix:%s", sock);
    pid_t server = fake_server(sock, "*2000000000\r\n");
    mf_mirror_options o = mu_opts();

    char mirror_path[512];
    snprintf(mirror_path, sizeof mirror_path, "%s", mf_test_path("mirror.map"));
    mf_mirror *pull;
    cr_assert_eq(mf_mirror_pull_create(&pull, endpoint, mirror_path, &o), 0);
    int rc = mf_mirror_pull(pull, 0, NULL);
    cr_assert_eq(rc, MF_MIRROR_EREDIS, "pull gave %s: %s", mf_mirror_err_name(rc),
                 mf_mirror_errdetail());
    cr_assert(strstr(mf_mirror_errdetail(), "array reply of more than"), "%s",
              mf_mirror_errdetail());
    cr_assert_neq(access(mirror_path, F_OK), 0, "a mirror file was made");
    mf_mirror_close(pull);

    mf_file *s = mu_source("src.map");
    mu_put(s, "a", "alpha payload");
    mf_mirror *push;
    cr_assert_eq(mf_mirror_push_create(&push, s, endpoint, &o), 0);
    rc = mf_mirror_push(push);
    cr_assert_eq(rc, MF_MIRROR_EREDIS, "push gave %s: %s", mf_mirror_err_name(rc),
                 mf_mirror_errdetail());
    cr_assert(strstr(mf_mirror_errdetail(), "array reply of more than"), "%s",
              mf_mirror_errdetail());
    mf_mirror_close(push);
    mf_close(s);
    fake_server_stop(server);
}
