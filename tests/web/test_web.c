/* test_web.c - the web server's pure parts: strict URL decoding, routing,
 * the JSROOT path check, the change table (changed, added, removed,
 * restarts) and the events built from it (coalescing, resume by
 * Last-Event-ID, resync when too far behind or too big), and the bounded
 * JSON scanner the server reads codec output with. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "json.h"

static char *decode(const char *in)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s", in);
    size_t n = mfw_unescape(NULL, NULL, buf);
    cr_assert_eq(n, strlen(buf));
    return buf;
}

Test(url, percent_escapes_decode_once)
{
    cr_assert_str_eq(decode("/det%2Ftpc/root.json"), "/det/tpc/root.json");
    cr_assert_str_eq(decode("/a%20b/get.json"), "/a b/get.json");
    cr_assert_str_eq(decode("/%252e%252e"), "/%2e%2e", "no double decoding");
    cr_assert_str_eq(decode("/caf%C3%A9"), "/caf\xc3\xa9");
}

Test(url, bad_escapes_nul_controls_and_bad_utf8_are_marked_bad)
{
    const char *bad[] = {"/%zz", "/%4", "/%", "/a%00b", "/a%0Ab", "/a%7F", "/%ff",
                         "/%C3", "/%C0%AF", "/%ED%A0%80", "/\x01x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mfw_route r;
        mfw_route_path(decode(bad[i]), &r);
        cr_assert_eq(r.kind, MFW_R_BAD, "%s should be refused", bad[i]);
    }
}

Test(route, fixed_paths_and_record_endpoints)
{
    mfw_route r;
    mfw_route_path("/", &r);
    cr_assert_eq(r.kind, MFW_R_PAGE);
    mfw_route_path("/h.json", &r);
    cr_assert_eq(r.kind, MFW_R_HIER);
    mfw_route_path("/events", &r);
    cr_assert_eq(r.kind, MFW_R_EVENTS);
    mfw_route_path("/det/tpc/occupancy/root.json", &r);
    cr_assert_eq(r.kind, MFW_R_ROOT_JSON);
    cr_assert_str_eq(r.name, "det/tpc/occupancy");
    mfw_route_path("/hpx/root.json.gz", &r);
    cr_assert_eq(r.kind, MFW_R_ROOT_JSON);
    cr_assert_str_eq(r.name, "hpx");
    mfw_route_path("/hpx/get.json", &r);
    cr_assert_eq(r.kind, MFW_R_GET_JSON);
    /* A record named like the JSROOT folder is still a record. */
    mfw_route_path("/jsrootsys/x/get.json", &r);
    cr_assert_eq(r.kind, MFW_R_GET_JSON);
    cr_assert_str_eq(r.name, "jsrootsys/x");
    mfw_route_path("/root.json", &r);
    cr_assert_eq(r.kind, MFW_R_NOTFOUND);
    mfw_route_path("/nothing", &r);
    cr_assert_eq(r.kind, MFW_R_NOTFOUND);
}

Test(route, record_names_longer_than_the_limit_are_bad)
{
    char path[600] = "/";
    memset(path + 1, 'a', 300);
    strcpy(path + 301, "/get.json");
    mfw_route r;
    mfw_route_path(path, &r);
    cr_assert_eq(r.kind, MFW_R_BAD);
}

Test(route, jsroot_paths_stay_below_the_package)
{
    const char *ok[] = {"modules/core.mjs", "modules/hist/TH1Painter.mjs", "fonts/a-b_c.1.woff2"};
    const char *bad[] = {"../etc/passwd", "modules/../../x", "..", ".", "a//b", "/abs",
                         "a/./b", "a\\b", "a b", "", "modules/", "a%2e"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        cr_assert(mfw_safe_relpath(ok[i]), "%s", ok[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(mfw_safe_relpath(bad[i]), "%s", bad[i]);
    mfw_route r;
    mfw_route_path("/jsrootsys/../x", &r);
    cr_assert_eq(r.kind, MFW_R_BAD);
    mfw_route_path("/jsrootsys/modules/core.mjs", &r);
    cr_assert_eq(r.kind, MFW_R_JSROOT);
    cr_assert_str_eq(r.name, "modules/core.mjs");
}

/* ---- change table and events -------------------------------------------- */

/* A scan: "name=gen" pairs, sorted by name. */
static mfw_rec *scan_of(size_t n, const char *const *names, const uint64_t *gens)
{
    mfw_rec *r = calloc(n ? n : 1, sizeof *r);
    for (size_t i = 0; i < n; i++) {
        r[i].name = strdup(names[i]);
        r[i].gen = gens[i];
    }
    return r;
}

static char *compose(mfw_state *st, uint64_t seq, int resync, uint64_t *covered)
{
    mf_writer w = {NULL, 0, 0, 0, NULL, NULL};
    static unsigned char buf[1 << 17];
    w.buf = buf;
    w.cap = sizeof buf;
    *covered = mfw_events_compose(st, seq, resync, &w);
    buf[w.len] = '\0';
    return (char *)buf;
}

/* The JSON data line of an SSE message. */
static mfw_json *data_of(const char *msg)
{
    const char *d = strstr(msg, "data: ");
    cr_assert_not_null(d, "%s", msg);
    d += 6;
    const char *e = strstr(d, "\n\n");
    mfw_json *j = mfw_json_parse(d, (size_t)(e - d));
    cr_assert_not_null(j, "%s", msg);
    return j;
}

static int has_name(const mfw_json *arr, const char *name)
{
    for (size_t i = 0; i < arr->len; i++)
        if (strcmp(arr->kids[i]->str, name) == 0)
            return 1;
    return 0;
}

/* Event ids are GENERATION-FILEID; anything else is refused (and the
 * client resyncs). */
Test(events, event_ids_carry_the_generation_and_the_file_id)
{
    mfw_state st;
    mfw_state_init(&st);
    atomic_store(&st.file_id, 0x0123456789abcdefull);
    char buf[128];
    mf_writer w = {(unsigned char *)buf, 0, sizeof buf - 1, 0, NULL, NULL};
    mfw_event_id(&st, 42, &w);
    cr_assert_eq(w.err, 0);
    buf[w.len] = '\0';
    cr_assert_str_eq(buf, "id: 42-0123456789abcdef\n");
    uint64_t gen, fid;
    cr_assert_eq(mfw_event_id_parse("42-0123456789abcdef", &gen, &fid), 0);
    cr_assert_eq(gen, 42);
    cr_assert_eq(fid, 0x0123456789abcdefull);
    cr_assert_eq(mfw_event_id_parse("18446744073709551615-ffffffffffffffff", &gen, &fid), 0);
    cr_assert_eq(gen, UINT64_MAX);
    const char *bad[] = {"", "42", "-0123456789abcdef", "42-", "42-0123456789abcde",
                         "42-0123456789abcdef0", "42-0123456789ABCDEF", "x-0123456789abcdef",
                         "18446744073709551616-0123456789abcdef", "42 -0123456789abcdef",
                         "42-0123456789abcdeg"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_eq(mfw_event_id_parse(bad[i], &gen, &fid), -1, "'%s' accepted", bad[i]);
    cr_expect_eq(mfw_event_id_parse(NULL, &gen, &fid), -1);
    mfw_state_free(&st);
}

Test(events, changes_since_a_seq_are_coalesced_into_one_message)
{
    mfw_state st;
    mfw_state_init(&st);
    const char *n3[] = {"a", "b", "c"};
    uint64_t g1[] = {1, 2, 3}, g2[] = {1, 5, 3}, g3[] = {6, 5, 3};
    cr_assert(mfw_state_apply(&st, scan_of(3, n3, g1), 3, 3, 1));
    uint64_t base = atomic_load(&st.seq), cov;
    cr_assert(mfw_state_apply(&st, scan_of(3, n3, g2), 3, 5, 0));
    cr_assert(mfw_state_apply(&st, scan_of(3, n3, g3), 3, 6, 0));
    cr_assert_not(mfw_state_apply(&st, scan_of(3, n3, g3), 3, 6, 0), "no change, no event");

    char *msg = compose(&st, base, 0, &cov);
    cr_assert(strncmp(msg, "id: 6-0000000000000000\n", 23) == 0, "%s", msg);
    mfw_json *j = data_of(msg);
    const mfw_json *ch = mfw_json_get(j, "changed");
    cr_assert_eq(ch->len, 2, "%s", msg);
    cr_assert(has_name(ch, "a") && has_name(ch, "b"));
    cr_assert_eq(mfw_json_get(j, "tree")->type, MFW_JSON_FALSE);
    cr_assert_eq(cov, atomic_load(&st.seq));
    mfw_json_free(j);
    cr_assert_str_eq(compose(&st, cov, 0, &cov), "", "nothing new");
    mfw_state_free(&st);
}

Test(events, added_and_removed_records_say_tree)
{
    mfw_state st;
    mfw_state_init(&st);
    const char *n2[] = {"a", "b"}, *n2b[] = {"b", "c"};
    uint64_t g[] = {1, 2}, gb[] = {2, 7};
    mfw_state_apply(&st, scan_of(2, n2, g), 2, 2, 1);
    uint64_t base = atomic_load(&st.seq), cov;
    mfw_state_apply(&st, scan_of(2, n2b, gb), 2, 7, 0);
    mfw_json *j = data_of(compose(&st, base, 0, &cov));
    cr_assert(has_name(mfw_json_get(j, "changed"), "c"));
    cr_assert_not(has_name(mfw_json_get(j, "changed"), "b"));
    cr_assert(has_name(mfw_json_get(j, "removed"), "a"));
    cr_assert_eq(mfw_json_get(j, "tree")->type, MFW_JSON_TRUE);
    mfw_json_free(j);
    mfw_state_free(&st);
}

Test(events, last_event_id_resumes_or_resyncs)
{
    mfw_state st;
    mfw_state_init(&st);
    const char *n1[] = {"a"};
    uint64_t g = 10;
    mfw_state_apply(&st, scan_of(1, n1, &g), 1, 10, 1);
    uint64_t s10 = atomic_load(&st.seq);
    for (g = 11; g <= 20; g++)
        mfw_state_apply(&st, scan_of(1, n1, &g), 1, g, 0);
    cr_assert_eq(mfw_events_resume_seq(&st, 10), s10);
    cr_assert_eq(mfw_events_resume_seq(&st, 20), atomic_load(&st.seq));
    cr_assert_eq(mfw_events_resume_seq(&st, 9), UINT64_MAX, "older than remembered");
    cr_assert_eq(mfw_events_resume_seq(&st, 21), UINT64_MAX, "from the future");
    uint64_t cov;
    char *msg = compose(&st, UINT64_MAX, 0, &cov);
    cr_assert(strstr(msg, "event: resync\n"), "%s", msg);
    /* A restart (RECREATE) forgets everything: old ids resync. */
    g = 1;
    mfw_state_apply(&st, scan_of(1, n1, &g), 1, 1, 1);
    cr_assert_eq(mfw_events_resume_seq(&st, 15), UINT64_MAX);
    msg = compose(&st, s10, 0, &cov);
    cr_assert(strstr(msg, "event: resync\n"), "a client from before the restart resyncs");
    mfw_state_free(&st);
}

Test(events, removals_beyond_the_tombstone_window_resync)
{
    mfw_state st;
    mfw_state_init(&st);
    size_t n = MFW_TOMBSTONES + 10;
    const char **names = calloc(n, sizeof *names);
    uint64_t *gens = calloc(n, sizeof *gens);
    char (*buf)[16] = calloc(n, 16);
    for (size_t i = 0; i < n; i++) {
        snprintf(buf[i], 16, "r%06zu", i);
        names[i] = buf[i];
        gens[i] = 1;
    }
    mfw_state_apply(&st, scan_of(n, names, gens), n, 1, 1);
    uint64_t base = atomic_load(&st.seq), cov;
    for (size_t k = 1; k <= n; k++) /* remove one record per scan */
        mfw_state_apply(&st, scan_of(n - k, names + k, gens + k), n - k, 1 + k, 0);
    cr_assert(strstr(compose(&st, base, 0, &cov), "event: resync\n"),
              "a client that missed more removals than remembered resyncs");
    free(names);
    free(gens);
    free(buf);
    mfw_state_free(&st);
}

Test(events, a_change_list_past_the_size_cap_becomes_resync)
{
    mfw_state st;
    mfw_state_init(&st);
    size_t n = 2000;
    const char **names = calloc(n, sizeof *names);
    uint64_t *g1 = calloc(n, sizeof *g1), *g2 = calloc(n, sizeof *g2);
    char (*buf)[80] = calloc(n, 80);
    for (size_t i = 0; i < n; i++) {
        snprintf(buf[i], 80, "detector/%04zu/%s", i,
                 "a-rather-long-histogram-name-that-fills-events");
        names[i] = buf[i];
        g1[i] = 1;
        g2[i] = 2;
    }
    mfw_state_apply(&st, scan_of(n, names, g1), n, 1, 1);
    uint64_t base = atomic_load(&st.seq), cov;
    mfw_state_apply(&st, scan_of(n, names, g2), n, 2, 0);
    char *msg = compose(&st, base, 0, &cov);
    cr_assert(strstr(msg, "event: resync\n"), "160 kB of names: resync instead");
    cr_assert_lt(strlen(msg), MFW_MAX_EVENT);
    free(names);
    free(g1);
    free(g2);
    free(buf);
    mfw_state_free(&st);
}

/* ---- the JSON scanner ----------------------------------------------------- */

Test(json, top_field_finds_members_and_skips_nested_values)
{
    const char *js = "{\"a\":{\"fName\":\"inner\"},\"b\":[1,2,{\"c\":\"}\"}],"
                     "\"fName\":\"\",\"t\":\"x\\u00e9\\n\"}";
    size_t vs, ve;
    cr_assert_eq(mfw_json_top_field(js, strlen(js), "fName", &vs, &ve), 1);
    cr_assert_eq(ve - vs, 2);
    char out[32];
    cr_assert_eq(mfw_json_top_field(js, strlen(js), "t", &vs, &ve), 1);
    cr_assert_eq(mfw_json_decode_string(js + vs, ve - vs, out, sizeof out), 0);
    cr_assert_str_eq(out, "x\xc3\xa9\n");
    cr_assert_eq(mfw_json_top_field(js, strlen(js), "zz", &vs, &ve), 0);
}

Test(json, malformed_truncated_and_deep_input_fails_cleanly)
{
    const char *bad[] = {"", "{", "{\"a\"", "{\"a\":}", "{\"a\":1,}", "[1,2", "\"abc",
                         "{\"a\":\"\x01\"}", "{\"a\":tru}", "{\"a\":-}", "{\"a\":1e}",
                         "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{} x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mfw_json *j = mfw_json_parse(bad[i], strlen(bad[i]));
        cr_assert_null(j, "'%s' should not parse", bad[i]);
    }
    char deep[400];
    memset(deep, '[', 200);
    memset(deep + 200, ']', 200);
    cr_assert_null(mfw_json_parse(deep, sizeof deep), "nesting is bounded");
    cr_assert_null(mfw_json_skip_value(deep, deep + sizeof deep));
    size_t vs, ve;
    cr_assert_eq(mfw_json_top_field("{\"a\":[1,", 8, "b", &vs, &ve), -1);
}
