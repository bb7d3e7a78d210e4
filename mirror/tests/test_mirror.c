/*
 * test_mirror.c - mf_mirror_* against a real redis-server (started per
 * test on a private unix socket): round trips, only changed records sent,
 * removals, producer restarts, class changes, the file appearing complete,
 * a trimmed stream, passwords, namespaces, Redis restarts with and without
 * persistence, and batches that never mix on the mirror while a producer,
 * a push and a pull run as separate processes.
 */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mapfile/hist.h>

#include "mirror_internal.h"
#include "mirror_util.h"
#include "redis_fixture.h"
#include "testutil.h"

static void up(void)
{
    mf_registry_add_class(mf_registry_default(), &mf_hist1d_class);
    fx_redis_start(false, NULL);
}
static void down(void) { fx_redis_stop(false); }

TestSuite(mirror, .init = up, .fini = down, .timeout = 120);

/* ------------------------------------------------------------------------ */
/* Endpoints                                                                */
/* ------------------------------------------------------------------------ */

static int parse(mm_endpoint *ep, const char *text)
{
    return mm_endpoint_parse(ep, text, NULL);
}

Test(endpoint, parses_every_documented_form)
{
    unsetenv("MAPFILE_REDIS_PASSWORD");
    mm_endpoint ep;
    cr_assert_eq(parse(&ep, "redis://db1.example.org"), 0);
    cr_assert_str_eq(ep.host, "db1.example.org");
    cr_assert_eq(ep.port, 6379);
    cr_assert(!ep.has_password);
    cr_assert_eq(parse(&ep, "redis://10.0.0.2:6380/"), 0);
    cr_assert_str_eq(ep.host, "10.0.0.2");
    cr_assert_eq(ep.port, 6380);
    cr_assert_eq(parse(&ep, "redis://:s3cr%40t@h:1"), 0);
    cr_assert_str_eq(ep.password, "s3cr@t");
    cr_assert_str_eq(ep.user, "");
    cr_assert_str_eq(ep.shown, "redis://h:1");
    cr_assert_eq(parse(&ep, "redis://alice:pw@[::1]:7000"), 0);
    cr_assert_str_eq(ep.host, "::1");
    cr_assert_str_eq(ep.user, "alice");
    cr_assert_str_eq(ep.shown, "redis://alice@[::1]:7000");
    cr_assert(strstr(ep.shown, "pw") == NULL);
    cr_assert_eq(parse(&ep, "unix:/run/redis.sock"), 0);
    cr_assert(ep.is_unix);
    cr_assert_str_eq(ep.host, "/run/redis.sock");
}

Test(endpoint, refuses_what_it_cannot_reach_with_a_reason)
{
    unsetenv("MAPFILE_REDIS_PASSWORD");
    mm_endpoint ep;
    const char *bad[] = {"",
                         "localhost:6379",
                         "ftp://h",
                         "rediss://h",
                         "redis://",
                         "redis://h:0",
                         "redis://h:65536",
                         "redis://h:12x",
                         "redis://h/3",
                         "redis://pw@h",
                         "redis://alice:@h",
                         "redis://:%4@h",
                         "redis://:%zz@h",
                         "redis://[::1",
                         "unix:"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq(parse(&ep, bad[i]), MF_MIRROR_EENDPOINT, "'%s' was accepted", bad[i]);
        cr_expect(strstr(mf_mirror_errdetail(), "redis://") != NULL,
                  "'%s': the detail does not say what an endpoint is: %s", bad[i],
                  mf_mirror_errdetail());
    }
}

Test(endpoint, password_from_the_environment_unless_given)
{
    mm_endpoint ep;
    setenv("MAPFILE_REDIS_PASSWORD", "fromenv", 1);
    cr_assert_eq(parse(&ep, "redis://h"), 0);
    cr_assert_str_eq(ep.password, "fromenv");
    cr_assert_eq(parse(&ep, "redis://:inurl@h"), 0);
    cr_assert_str_eq(ep.password, "inurl");
    cr_assert_eq(mm_endpoint_parse(&ep, "redis://:inurl@h", "given"), 0);
    cr_assert_str_eq(ep.password, "given");
    /* A user name with the password left out, or left empty. */
    cr_assert_eq(parse(&ep, "redis://alice@h"), 0, "%s", mf_mirror_errdetail());
    cr_assert_str_eq(ep.user, "alice");
    cr_assert_str_eq(ep.password, "fromenv");
    cr_assert_eq(parse(&ep, "redis://alice:@h:7"), 0, "%s", mf_mirror_errdetail());
    cr_assert_str_eq(ep.user, "alice");
    cr_assert_str_eq(ep.password, "fromenv");
    cr_assert_str_eq(ep.shown, "redis://alice@h:7");
    setenv("MAPFILE_REDIS_PASSWORD", "al:ice@pw", 1);
    cr_assert_eq(parse(&ep, "redis://alice@h"), 0, "%s", mf_mirror_errdetail());
    cr_assert_str_eq(ep.password, "al:ice@pw");
    unsetenv("MAPFILE_REDIS_PASSWORD");
}

Test(endpoint, namespaces_are_checked)
{
    cr_assert_eq(mm_ns_check("dqm.run-7_b"), 0);
    cr_assert_eq(mm_ns_check(""), MF_MIRROR_EENDPOINT);
    cr_assert_eq(mm_ns_check("a}b"), MF_MIRROR_EENDPOINT);
    cr_assert_eq(mm_ns_check("a*"), MF_MIRROR_EENDPOINT);
    char longer[80];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    cr_assert_eq(mm_ns_check(longer), MF_MIRROR_EENDPOINT);
    mf_mirror *m;
    mf_mirror_options o = MF_MIRROR_OPTIONS_INIT;
    o.ns = "no spaces";
    cr_assert_eq(mf_mirror_pull_create(&m, "unix:/x", "/tmp/x.map", &o),
                 MF_MIRROR_EENDPOINT);
}

/* ------------------------------------------------------------------------ */
/* Round trips                                                              */
/* ------------------------------------------------------------------------ */

Test(mirror, round_trip_keeps_bytes_classes_versions_and_order)
{
    mf_file *src = mu_source("src.map");
    mf_hist1d *h = mf_hist1d_new("energy", 50, 0, 10);
    for (int i = 0; i < 1000; i++)
        mf_hist1d_fill(h, i % 10);
    cr_assert_eq(mf_put(src, "det/energy", "hist1d", h), 0, "%s", mf_errdetail());
    mf_hist1d_free(h);
    mu_put(src, "zeta", "last letter, first record");
    mu_put(src, "alpha", "first letter");
    cr_assert_eq(mf_put_raw(src, "v7", "blob", 7, "seven", 5), 0);
    cr_assert_eq(mf_put_raw(src, "empty", "blob", 1, "", 0), 0);
    /* The producer pushes from inside its own process, on its own handle. */
    mf_mirror *push = mu_push(src);
    mu_push_ok(push);
    mf_mirror *pull = mu_pull("mirror.map");
    mu_pull_ok(pull);
    mu_assert_same(mf_test_path("src.map"), mf_test_path("mirror.map"));
    mf_file *mir;
    cr_assert_eq(mf_open(&mir, mf_test_path("mirror.map"), MF_READ, NULL), 0);
    mf_file_info fi;
    cr_assert_eq(mf_file_stat(mir, &fi), 0);
    cr_assert_str_eq(fi.title, "mirror test source");
    mf_record_info info;
    cr_assert_eq(mf_stat(mir, "v7", &info), 0);
    cr_assert_eq(info.class_version, 7);
    mf_close(mir);
    mu_assert_clean(mf_test_path("mirror.map"));
    mf_mirror_close(pull);
    mf_mirror_close(push);
    mf_close(src);
}

Test(mirror, only_changed_records_are_sent_and_removals_propagate)
{
    mf_file *src = mu_source("src.map");
    char name[32], text[64];
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "r/%03d", i);
        snprintf(text, sizeof text, "value %d of a record that is not tiny", i);
        mu_put(src, name, text);
    }
    mf_mirror *push = mu_push(src), *pull = mu_pull("mirror.map");
    mu_push_ok(push);
    mu_pull_ok(pull);
    mf_mirror_stats s0, s1;
    cr_assert_eq(mf_mirror_stats_get(push, &s0), 0);
    cr_assert_eq(s0.records, 200);

    mu_put(src, "r/007", "seven changed");
    mu_put(src, "r/100", "hundred changed");
    mu_remove(src, "r/150");
    mu_put(src, "new", "added");
    mu_push_ok(push);
    cr_assert_eq(mf_mirror_stats_get(push, &s1), 0);
    cr_assert_eq(s1.batches - s0.batches, 1, "one batch for the changes");
    cr_assert_eq(s1.records - s0.records, 3, "sent %llu records, not the 3 changed",
                 (unsigned long long)(s1.records - s0.records));
    cr_assert_eq(s1.removed - s0.removed, 1);
    cr_assert_lt(s1.bytes_sent - s0.bytes_sent, 2000,
                 "%llu bytes sent for 3 small records",
                 (unsigned long long)(s1.bytes_sent - s0.bytes_sent));
    mu_push_ok(push); /* nothing changed: nothing sent */
    mf_mirror_stats s2;
    mf_mirror_stats_get(push, &s2);
    cr_assert_eq(s2.bytes_sent, s1.bytes_sent);
    cr_assert_eq(s2.batches, s1.batches);

    mu_pull_ok(pull);
    mf_mirror_stats ps;
    mf_mirror_stats_get(pull, &ps);
    cr_assert_eq(ps.full_syncs, 1, "the second pull followed the stream");
    cr_assert_eq(ps.remote_batches, 1);
    mu_assert_same(mf_test_path("src.map"), mf_test_path("mirror.map"));
    mf_mirror_close(pull);
    mf_mirror_close(push);
    mf_close(src);
}

/* A batch too big to ride in its stream entry is read from the keys. */
Test(mirror, big_batches_are_read_from_the_keys)
{
    mf_file *src = mu_source("src.map");
    mu_put(src, "small", "s");
    mf_mirror *push = mu_push(src), *pull = mu_pull("mirror.map");
    mu_push_ok(push);
    mu_pull_ok(pull);
    size_t n = 100000;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    big[n] = '\0';
    mu_put(src, "big", big);
    mu_put(src, "small", "t");
    free(big);
    mu_push_ok(push);
    redisReply *r = fx_cmd("XREVRANGE mf:{mapfile}:log + - COUNT 1");
    cr_assert_eq(r->elements, 1);
    size_t fields = r->element[0]->element[1]->elements;
    freeReplyObject(r);
    cr_assert_eq(fields, 10, "a big batch's entry carries no records (%zu fields)", fields);
    mu_pull_ok(pull);
    mu_assert_same(mf_test_path("src.map"), mf_test_path("mirror.map"));
    mf_mirror_close(pull);
    mf_mirror_close(push);
    mf_close(src);
}

Test(mirror, producer_restart_propagates_as_one_batch)
{
    mf_file *w = mu_source("src.map");
    mu_put(w, "kept", "1");
    mu_put(w, "dropped", "2");
    mf_file *src;
    cr_assert_eq(mf_open(&src, mf_test_path("src.map"), MF_READ, NULL), 0);
    mf_mirror *push = mu_push(src), *pull = mu_pull("mirror.map");
    mu_push_ok(push);
    mu_pull_ok(pull);
    mf_close(w);
    /* The producer restarts: a new file at the path, other records. */
    w = mu_source("src.map");
    mu_put(w, "kept", "1 again");
    mu_put(w, "fresh", "3");
    uint64_t seen = 0;
    mf_wait(src, &seen, 0); /* the push's handle follows the new file */
    mu_push_ok(push);
    mu_pull_ok(pull);
    mu_assert_same(mf_test_path("src.map"), mf_test_path("mirror.map"));
    mf_mirror_close(pull);
    mf_mirror_close(push);
    mf_close(src);
    mf_close(w);
}

Test(mirror, class_change_rebuilds_the_mirror_and_readers_follow)
{
    mf_file *src = mu_source("src.map");
    mu_put(src, "a", "first");
    cr_assert_eq(mf_put(src, "x", "text", "a text"), 0, "%s", mf_errdetail());
    mf_mirror *push = mu_push(src), *pull = mu_pull("mirror.map");
    mu_push_ok(push);
    mu_pull_ok(pull);
    mf_file *reader;
    cr_assert_eq(mf_open(&reader, mf_test_path("mirror.map"), MF_READ, NULL), 0);
    /* x becomes a blob: two batches on the source, one push. */
    mu_remove(src, "x");
    mu_put(src, "x", "now a blob");
    mu_push_ok(push);
    mu_pull_ok(pull);
    mf_mirror_stats st;
    mf_mirror_stats_get(pull, &st);
    cr_assert_eq(st.replaced, 1);
    mu_assert_same(mf_test_path("src.map"), mf_test_path("mirror.map"));
    mf_record_info info;
    cr_assert_eq(mf_stat(reader, "x", &info), 0, "%s", mf_errdetail());
    cr_assert_str_eq(info.class_name, "blob", "the open reader moved to the new file");
    mf_close(reader);
    /* And it keeps following the stream afterwards. */
    mu_put(src, "a", "second");
    mu_push_ok(push);
    mu_pull_ok(pull);
    mu_assert_same(mf_test_path("src.map"), mf_test_path("mirror.map"));
    mf_mirror_close(pull);
    mf_mirror_close(push);
    mf_close(src);
}

/* A consumer started before the first sync: it waits for the file, and
 * the file it finds already holds every record. */
Test(mirror, consumer_started_first_waits_and_finds_the_file_complete)
{
    mf_file *src = mu_source("src.map");
    char name[32];
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof name, "n%02d", i);
        mu_put(src, name, "payload");
    }
    mf_mirror *push = mu_push(src);
    mu_push_ok(push);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    char path[4096];
    snprintf(path, sizeof path, "%s", mf_test_path("mirror.map"));
    pid_t child = fork();
    if (child == 0) {
        close(fds[0]);
        mf_open_options o = MF_OPEN_OPTIONS_INIT;
        o.wait_ms = 20000;
        mf_file *mf;
        if (write(fds[1], "w", 1) != 1 || mf_open(&mf, path, MF_READ, &o) != 0)
            _exit(2);
        mf_file_info fi;
        int rc = mf_file_stat(mf, &fi);
        _exit(rc == 0 && fi.records == 50 ? 0 : 1);
    }
    close(fds[1]);
    char c;
    cr_assert_eq(read(fds[0], &c, 1), 1);
    close(fds[0]);
    usleep(100000); /* let it start waiting (it passes either way if slower) */
    mf_mirror *pull = mu_pull("mirror.map");
    mu_pull_ok(pull);
    int status;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the waiting consumer saw an incomplete file (status %d)", status);
    mf_mirror_close(pull);
    mf_mirror_close(push);
    mf_close(src);
}

Test(mirror, pull_that_fell_behind_the_trimmed_stream_resyncs)
{
    mf_file *src = mu_source("src.map");
    mu_put(src, "a", "0");
    mf_mirror_options o = mu_opts();
    o.maxlen = 5;
    mf_mirror *push;
    cr_assert_eq(mf_mirror_push_create(&push, src, fx_endpoint, &o), 0);
    mf_mirror *pull = mu_pull("mirror.map");
    mu_push_ok(push);
    mu_pull_ok(pull);
    char text[32];
    for (int i = 1; i <= 300; i++) { /* the pull sleeps meanwhile */
        snprintf(text, sizeof text, "%d", i);
        mu_put(src, i % 2 ? "a" : "b", text);
        mu_push_ok(push);
    }
    redisReply *r = fx_cmd("XLEN mf:{mapfile}:log");
    cr_assert_lt(r->integer, 250, "the stream was not trimmed (%lld)", r->integer);
    freeReplyObject(r);
    mu_pull_ok(pull);
    mf_mirror_stats st;
    mf_mirror_stats_get(pull, &st);
    cr_assert_eq(st.full_syncs, 2, "a gap in the stream means a full sync");
    cr_assert(strstr(mu_log, "fell behind"), "the log does not say why: %s", mu_log);
    mu_assert_same(mf_test_path("src.map"), mf_test_path("mirror.map"));
    mf_mirror_close(pull);
    mf_mirror_close(push);
    mf_close(src);
}

Test(mirror, namespaces_do_not_mix)
{
    mf_file *s1 = mu_source("one.map"), *s2 = mu_source("two.map");
    mu_put(s1, "x", "from one");
    mu_put(s2, "x", "from two");
    mu_put(s2, "y", "only two");
    mf_mirror_options o = mu_opts();
    mf_mirror *p1, *p2, *q1, *q2;
    o.ns = "one";
    cr_assert_eq(mf_mirror_push_create(&p1, s1, fx_endpoint, &o), 0);
    cr_assert_eq(mf_mirror_pull_create(&q1, fx_endpoint, mf_test_path("m1.map"), &o), 0);
    o.ns = "two";
    cr_assert_eq(mf_mirror_push_create(&p2, s2, fx_endpoint, &o), 0);
    cr_assert_eq(mf_mirror_pull_create(&q2, fx_endpoint, mf_test_path("m2.map"), &o), 0);
    mu_push_ok(p1);
    mu_push_ok(p2);
    mu_pull_ok(q1);
    mu_pull_ok(q2);
    mu_assert_same(mf_test_path("one.map"), mf_test_path("m1.map"));
    mu_assert_same(mf_test_path("two.map"), mf_test_path("m2.map"));
    mf_mirror_close(p1);
    mf_mirror_close(p2);
    mf_mirror_close(q1);
    mf_mirror_close(q2);
    mf_close(s1);
    mf_close(s2);
}

/* One pull per local file: a second is refused (two interleave their
 * batches, and a reader could see the mirror go back); once the first is
 * closed another may take over. A directory that does not exist fails at
 * once instead of at every retry. */
Test(mirror, a_second_pull_of_the_same_file_is_refused)
{
    mf_file *src = mu_source("src.map");
    mu_put(src, "a", "one");
    mf_mirror *push = mu_push(src), *pull = mu_pull("mirror.map");
    mu_push_ok(push);
    mu_pull_ok(pull);
    mf_mirror_options o = mu_opts();
    mf_mirror *second = NULL;
    cr_assert_eq(mf_mirror_pull_create(&second, fx_endpoint, mf_test_path("mirror.map"), &o),
                 MF_MIRROR_EOWNED, "%s", mf_mirror_errdetail());
    cr_assert_null(second);
    cr_assert(strstr(mf_mirror_errdetail(), "another mirror pull writes") &&
                  strstr(mf_mirror_errdetail(), "mirror.map"),
              "%s", mf_mirror_errdetail());
    cr_assert_eq(mf_mirror_pull_create(&second, fx_endpoint, mf_test_path("no/such/dir.map"),
                                       &o),
                 MF_ENOENT, "%s", mf_mirror_errdetail());
    mf_mirror_close(pull);
    second = mu_pull("mirror.map");
    mu_put(src, "b", "two");
    mu_push_ok(push);
    mu_pull_ok(second);
    mu_assert_same(mf_test_path("src.map"), mf_test_path("mirror.map"));
    mf_mirror_close(second);
    mf_mirror_close(push);
    mf_close(src);
}

/* The pull is the mirror's only writer, and the mirror is the file at its
 * path: a file removed, written by a local producer, or replaced by
 * another file is noticed at the next step, even when the source is idle,
 * and made equal to the source by a full sync. */
Test(mirror, a_mirror_removed_written_or_replaced_locally_is_synced_again)
{
    const char *mir = mf_test_path("mirror.map");
    char src_name[4096];
    snprintf(src_name, sizeof src_name, "%s", mf_test_path("src.map"));
    mf_file *src = mu_source("src.map");
    mu_put(src, "a", "one");
    mu_put(src, "b", "two");
    mf_mirror *push = mu_push(src), *pull = mu_pull("mirror.map");
    mu_push_ok(push);
    mu_pull_ok(pull);

    /* Removed, the source idle: made again. */
    cr_assert_eq(unlink(mir), 0);
    mu_pull_ok(pull);
    mu_pull_ok(pull);
    mu_assert_same(src_name, mir);
    cr_assert(strstr(mu_log, "was removed"), "%s", mu_log);

    /* Removed, then the source changes: the change lands in the new file. */
    cr_assert_eq(unlink(mir), 0);
    mu_put(src, "c", "three");
    mu_push_ok(push);
    mu_pull_ok(pull);
    mu_pull_ok(pull);
    mu_assert_same(src_name, mir);

    /* Written by a local producer: its changes are undone. */
    mf_file *local;
    cr_assert_eq(mf_open(&local, mir, MF_UPDATE, NULL), 0, "%s", mf_errdetail());
    mu_put(local, "a", "LOCAL");
    mu_put(local, "extra", "not in the source");
    cr_assert_eq(mf_remove(local, "b"), 0);
    mf_close(local);
    mu_pull_ok(pull);
    mu_pull_ok(pull);
    mu_assert_same(src_name, mir);
    cr_assert(strstr(mu_log, "was written by another writer"), "%s", mu_log);

    /* Replaced by another map file: brought in step. */
    mf_file *other = mu_source("other.map");
    mu_put(other, "z", "elsewhere");
    mf_close(other);
    cr_assert_eq(rename(mf_test_path("other.map"), mir), 0);
    mu_pull_ok(pull);
    mu_pull_ok(pull);
    mu_assert_same(src_name, mir);
    cr_assert(strstr(mu_log, "was replaced by another file"), "%s", mu_log);

    /* And it follows the stream again afterwards. */
    mu_put(src, "d", "four");
    mu_push_ok(push);
    mu_pull_ok(pull);
    mu_assert_same(src_name, mir);
    mu_assert_clean(mir);
    mf_mirror_close(pull);
    mf_mirror_close(push);
    mf_close(src);
}

/* Names removed and added again between two looks of the push move to the
 * end of the names set, as in the source: a new mirror lists the source's
 * order. "d" was the last name before: its old score alone would keep it
 * ahead of "a". */
Test(mirror, a_name_added_again_moves_to_the_end_in_redis_too)
{
    mf_file *src = mu_source("src.map");
    const char *names[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++)
        mu_put(src, names[i], names[i]);
    mf_mirror *push = mu_push(src);
    mu_push_ok(push);
    mu_remove(src, "a");
    mu_put(src, "a", "a again");
    mu_remove(src, "d");
    mu_put(src, "d", "d");
    mu_put(src, "e", "new");
    mu_push_ok(push);
    mf_mirror *pull = mu_pull("mirror.map");
    mu_pull_ok(pull);
    mu_assert_same(mf_test_path("src.map"), mf_test_path("mirror.map"));
    /* And the order holds for the names that did not move after that. */
    mu_put(src, "b", "b changed");
    mu_push_ok(push);
    mf_mirror_close(pull);
    cr_assert_eq(unlink(mf_test_path("mirror.map")), 0);
    pull = mu_pull("mirror.map");
    mu_pull_ok(pull);
    mu_assert_same(mf_test_path("src.map"), mf_test_path("mirror.map"));
    mf_mirror_close(pull);
    mf_mirror_close(push);
    mf_close(src);
}

static int occurrences(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* A record larger than the largest string Redis takes (proto-max-bulk-len)
 * cannot be published: the push leaves it out (deleting the copy Redis
 * holds, so no mirror shows an old version as current), says so once per
 * version, and publishes everything else; once it fits it is mirrored. */
Test(mirror, a_record_too_large_for_redis_is_left_out_and_said)
{
    fx_do("CONFIG SET proto-max-bulk-len 1mb");
    const size_t big = 1500000;
    unsigned char *bytes = calloc(1, big);
    cr_assert_not_null(bytes);
    mf_file *src = mu_source("src.map");
    mu_put(src, "small", "fits");
    cr_assert_eq(mf_put_raw(src, "big", "blob", 1, bytes, 100), 0);
    mf_mirror *push = mu_push(src), *pull = mu_pull("mirror.map");
    mu_push_ok(push);
    mu_pull_ok(pull);
    mu_assert_same(mf_test_path("src.map"), mf_test_path("mirror.map"));

    cr_assert_eq(mf_put_raw(src, "big", "blob", 1, bytes, big), 0);
    mu_put(src, "small", "changed");
    mu_push_ok(push);
    const char *said = "larger than the largest string Redis takes";
    cr_assert_eq(occurrences(mu_log, said), 1, "%s", mu_log);
    cr_assert(strstr(mu_log, "1048576 bytes"), "%s", mu_log);
    mu_put(src, "small", "changed again");
    mu_push_ok(push);
    cr_assert_eq(occurrences(mu_log, said), 1, "said once per version: %s", mu_log);
    mu_pull_ok(pull);
    mf_file *mir;
    cr_assert_eq(mf_open(&mir, mf_test_path("mirror.map"), MF_READ, NULL), 0);
    mf_record_info info;
    cr_assert_eq(mf_stat(mir, "big", &info), MF_ENOTFOUND, "no old version shown as current");
    cr_assert_eq(mf_stat(mir, "small", &info), 0);
    mf_close(mir);

    /* A fresh pull (a full sync) sees a consistent namespace too. */
    mf_mirror_close(pull);
    cr_assert_eq(unlink(mf_test_path("mirror.map")), 0);
    pull = mu_pull("mirror.map");
    mu_pull_ok(pull);
    mu_assert_clean(mf_test_path("mirror.map"));

    cr_assert_eq(mf_put_raw(src, "big", "blob", 1, bytes, 200000), 0);
    mu_push_ok(push);
    mu_pull_ok(pull);
    mu_assert_same_records(mf_test_path("src.map"), mf_test_path("mirror.map"));
    mf_mirror_close(pull);
    mf_mirror_close(push);
    mf_close(src);
    free(bytes);
}

/* Two pushes on one namespace rewrite each other's batches: the head names
 * the push that wrote it, and an idle push that finds another's name there
 * says so. */
Test(mirror, a_second_push_on_the_namespace_is_named)
{
    mf_file *s1 = mu_source("one.map"), *s2 = mu_source("two.map");
    mu_put(s1, "a", "one");
    mu_put(s2, "b", "two");
    mf_mirror *p1 = mu_push(s1), *p2 = mu_push(s2);
    snprintf(p2->pusher, sizeof p2->pusher, "elsewhere pid 7");
    mu_push_ok(p1);
    cr_assert_eq(mm_push_probe(p1), 0);
    cr_assert(!strstr(mu_log, "another push"), "%s", mu_log);
    mu_push_ok(p2);
    cr_assert_eq(mm_push_probe(p1), 0);
    cr_assert(strstr(mu_log, "another push (elsewhere pid 7) writes namespace"), "%s",
              mu_log);
    mf_mirror_close(p2);
    mf_mirror_close(p1);
    mf_close(s2);
    mf_close(s1);
}

Test(mirror, nothing_published_is_enosource_and_leaves_the_file_alone)
{
    mf_mirror *pull = mu_pull("mirror.map");
    cr_assert_eq(mf_mirror_pull(pull, 0, NULL), MF_MIRROR_ENOSOURCE);
    cr_assert(strstr(mf_mirror_errdetail(), "mapf mirror push"), "%s", mf_mirror_errdetail());
    cr_assert_eq(access(mf_test_path("mirror.map"), F_OK), -1, "no file without a sync");
    mf_mirror_close(pull);
}

Test(mirror, unreachable_redis_is_econnect_with_the_endpoint)
{
    mf_mirror_options o = mu_opts();
    mf_mirror *pull;
    cr_assert_eq(mf_mirror_pull_create(&pull, "unix:/nonexistent/redis.sock",
                                       mf_test_path("m.map"), &o), 0);
    cr_assert_eq(mf_mirror_pull(pull, 0, NULL), MF_MIRROR_ECONNECT);
    cr_assert(strstr(mf_mirror_errdetail(), "unix:/nonexistent/redis.sock"), "%s",
              mf_mirror_errdetail());
    mf_mirror_close(pull);
}

Test(mirror_auth, password_is_required_and_never_shown)
{
    fx_redis_start(false, "hunter2");
    mf_file *src = mu_source("src.map");
    mu_put(src, "a", "1");
    char ep[400];
    snprintf(ep, sizeof ep, "%s", fx_endpoint);
    mf_mirror_options o = mu_opts();
    mf_mirror *push;
    unsetenv("MAPFILE_REDIS_PASSWORD");
    cr_assert_eq(mf_mirror_push_create(&push, src, ep, &o), 0);
    cr_assert_eq(mf_mirror_push(push), MF_MIRROR_EAUTH, "%s", mf_mirror_errdetail());
    mf_mirror_close(push);
    o.password = "wrong-one";
    cr_assert_eq(mf_mirror_push_create(&push, src, ep, &o), 0);
    cr_assert_eq(mf_mirror_push(push), MF_MIRROR_EAUTH);
    cr_assert(!strstr(mf_mirror_errdetail(), "wrong-one"), "%s", mf_mirror_errdetail());
    mf_mirror_close(push);
    o.password = NULL;
    setenv("MAPFILE_REDIS_PASSWORD", "hunter2", 1);
    cr_assert_eq(mf_mirror_push_create(&push, src, ep, &o), 0);
    mu_push_ok(push);
    mf_mirror *pull;
    cr_assert_eq(mf_mirror_pull_create(&pull, ep, mf_test_path("m.map"), &o), 0);
    mu_pull_ok(pull);
    unsetenv("MAPFILE_REDIS_PASSWORD");
    mu_assert_same(mf_test_path("src.map"), mf_test_path("m.map"));
    mf_mirror_close(pull);
    mf_mirror_close(push);
    mf_close(src);
    fx_redis_stop(false);
}

/* ------------------------------------------------------------------------ */
/* Redis restarts                                                           */
/* ------------------------------------------------------------------------ */

static void restart_case(bool aof)
{
    fx_redis_start(aof, NULL);
    mf_file *src = mu_source("src.map");
    mu_put(src, "a", "1");
    mu_put(src, "b", "2");
    mu_put(src, "c", "3");
    mf_mirror *push = mu_push(src), *pull = mu_pull("mirror.map");
    mu_push_ok(push);
    mu_pull_ok(pull);
    fx_redis_stop(true); /* a crash */
    mu_put(src, "a", "1 changed while Redis was down");
    mu_remove(src, "b");
    cr_assert_eq(mf_mirror_push(push), MF_MIRROR_EREDIS, "%s", mf_mirror_errdetail());
    cr_assert_eq(mf_mirror_pull(pull, 0, NULL), MF_MIRROR_EREDIS);
    unsigned long long before = mu_fingerprint(mf_test_path("mirror.map"));
    fx_redis_start(aof, NULL);
    if (!aof) { /* the pull comes back first: nothing to read, file kept */
        int rc = mf_mirror_pull(pull, 0, NULL);
        cr_assert(rc == 0 || rc == MF_MIRROR_ENOSOURCE, "%s", mf_mirror_errdetail());
        cr_assert_eq(mu_fingerprint(mf_test_path("mirror.map")), before,
                     "an empty Redis must not empty the mirror");
    }
    mu_push_ok(push);
    for (int i = 0; i < 3; i++) /* resync may take a step */
        mu_pull_ok(pull);
    mu_assert_same(mf_test_path("src.map"), mf_test_path("mirror.map"));
    mf_mirror_stats st;
    mf_mirror_stats_get(pull, &st);
    cr_assert_eq(st.connects, 2);
    mf_mirror_close(pull);
    mf_mirror_close(push);
    mf_close(src);
    fx_redis_stop(false);
}

Test(mirror_restart, redis_killed_and_restarted_without_persistence)
{
    restart_case(false);
}

Test(mirror_restart, redis_killed_and_restarted_with_persistence)
{
    restart_case(true);
}

/* ------------------------------------------------------------------------ */
/* Processes: batches never mix on the mirror                               */
/* ------------------------------------------------------------------------ */

#define NRECS 24

/* Batch b holds "tag" and every rec/i with (i + b) % 4 != 0, all "b". */
static bool in_batch(int i, unsigned long b) { return (i + b) % 4 != 0; }

static char src_path[4096], mir_path[4096];

/* Children of a test never call Criterion: they _exit with a code. */
static void produce(unsigned long batches)
{
    mf_file *mf;
    if (mf_open(&mf, src_path, MF_RECREATE, NULL))
        _exit(2);
    char name[32], text[32];
    for (unsigned long b = 1; b <= batches; b++) {
        mf_batch *bt;
        if (mf_batch_begin(mf, &bt))
            _exit(3);
        snprintf(text, sizeof text, "%lu", b);
        mf_batch_put_raw(bt, "tag", "blob", 1, text, strlen(text));
        for (int i = 0; i < NRECS; i++) {
            snprintf(name, sizeof name, "rec/%02d", i);
            if (in_batch(i, b))
                mf_batch_put_raw(bt, name, "blob", 1, text, strlen(text));
            else
                mf_batch_remove(bt, name);
        }
        if (mf_batch_commit(bt))
            _exit(4);
        /* The rest once the mirror is there (slow under valgrind), at a
         * pace that leaves the push and the pull batches to fold. */
        for (int i = 0; b == 1 && i < 6000 && access(mir_path, F_OK) != 0; i++)
            usleep(10000);
        usleep(500);
    }
    mf_close(mf);
}

static mf_mirror_options child_opts(void)
{
    mf_mirror_options o = mu_opts();
    o.log = NULL; /* stderr */
    return o;
}

static void run_mirror(mf_mirror *m, atomic_int *stop)
{
    while (!atomic_load(stop)) {
        int rc = m->is_push ? mf_mirror_push(m) : mf_mirror_pull(m, 50, NULL);
        if (rc && rc != MF_MIRROR_ENOSOURCE && rc != MF_EBUSY) {
            fprintf(stderr, "%s: %s\n", m->is_push ? "push" : "pull", mf_mirror_errdetail());
            _exit(5);
        }
        if (m->is_push) {
            uint64_t seen = 0;
            mf_wait(m->src, &seen, 0);
            mf_wait(m->src, &seen, 50);
        }
    }
}

static pid_t spawn(void (*fn)(void *), void *arg)
{
    fflush(NULL);
    pid_t p = fork();
    cr_assert(p >= 0);
    if (p == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        fn(arg);
        _exit(0);
    }
    return p;
}

static atomic_int *stop_flag;

static void producer_fn(void *arg) { produce(*(unsigned long *)arg); }

static void push_fn(void *arg)
{
    (void)arg;
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.wait_ms = 10000;
    mf_file *src;
    if (mf_open(&src, src_path, MF_READ, &o))
        _exit(6);
    mf_mirror_options mo = child_opts();
    mf_mirror *m;
    if (mf_mirror_push_create(&m, src, fx_endpoint, &mo))
        _exit(7);
    run_mirror(m, stop_flag);
    mf_mirror_close(m);
    mf_close(src);
}

static void pull_fn(void *arg)
{
    (void)arg;
    mf_mirror_options mo = child_opts();
    mf_mirror *m;
    if (mf_mirror_pull_create(&m, fx_endpoint, mir_path, &mo))
        _exit(7);
    run_mirror(m, stop_flag);
    mf_mirror_close(m);
}

/* One view of the mirror: the batch tag all its records carry, or -1 for
 * a view that mixes batches, 0 for a view to retry. */
static long check_view(mf_file *mf)
{
    mf_txn *t;
    if (mf_txn_begin(mf, &t))
        return 0;
    mf_iter it;
    mf_record_info info;
    long tag = -2;
    int count = 0, rc;
    bool seen[NRECS] = {false};
    mf_txn_iter_init(&it, t, NULL);
    while ((rc = mf_iter_next(&it, &info)) == 1 && tag != -1) {
        char buf[32] = {0};
        void *data;
        if ((rc = mf_txn_get_raw_alloc(t, info.name, &data, &info)))
            break;
        memcpy(buf, data, info.size < 31 ? info.size : 31);
        free(data);
        long v = strtol(buf, NULL, 10);
        if (tag == -2)
            tag = v;
        else if (v != tag)
            tag = -1;
        int i;
        if (sscanf(info.name, "rec/%d", &i) == 1 && i >= 0 && i < NRECS)
            seen[i] = true;
        count++;
    }
    mf_txn_end(t);
    if (rc < 0)
        return 0;
    for (int i = 0; i < NRECS && tag > 0; i++)
        if (seen[i] != in_batch(i, (unsigned long)tag))
            return -1;
    return count ? tag : 0;
}

Test(mirror_procs, snapshots_of_the_mirror_never_mix_batches, .init = up, .fini = down,
     .timeout = 120)
{
    /* tools/run asks for fewer under valgrind. */
    const char *env = getenv("MF_MIRROR_BATCHES");
    unsigned long batches = env && atol(env) > 0 ? (unsigned long)atol(env) : 2000;
    snprintf(src_path, sizeof src_path, "%s", mf_test_path("src.map"));
    snprintf(mir_path, sizeof mir_path, "%s", mf_test_path("mirror.map"));
    stop_flag = mmap(NULL, sizeof *stop_flag, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    atomic_init(stop_flag, 0);
    pid_t prod = spawn(producer_fn, &batches);
    pid_t push = spawn(push_fn, NULL);
    pid_t pull = spawn(pull_fn, NULL);
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.wait_ms = 20000;
    mf_file *mir;
    cr_assert_eq(mf_open(&mir, mir_path, MF_READ, &o), 0, "%s", mf_errdetail());
    long last = 0, views = 0, tags = 0;
    time_t deadline = time(NULL) + 60;
    while (last != (long)batches && time(NULL) < deadline) {
        long tag = check_view(mir);
        cr_assert_neq(tag, -1, "a snapshot of the mirror mixed two batches");
        if (tag > 0) {
            cr_assert_geq(tag, last, "the mirror went back from batch %ld to %ld", last, tag);
            tags += tag != last;
            last = tag;
            views++;
        }
    }
    atomic_store(stop_flag, 1);
    int st;
    waitpid(prod, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "producer status %d", st);
    waitpid(push, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "push status %d", st);
    waitpid(pull, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "pull status %d", st);
    cr_assert_eq(last, (long)batches, "the mirror reached batch %ld of %lu", last, batches);
    cr_log_info("%ld views checked, %ld distinct batches seen", views, tags);
    cr_assert_gt(tags, 1);
    mf_close(mir);
    mu_assert_same_records(src_path, mir_path);
    munmap(stop_flag, sizeof *stop_flag);
}
