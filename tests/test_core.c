/* test_core.c - the TMapFile workflow on one file: open modes, put/get,
 * remove, lookup, listing, errors, the best-buffer estimate. */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mapfile/mapfile.h>

#include "file.h"
#include "testutil.h"

static mf_file *open_or_die(const char *path, int mode)
{
    mf_file *mf = NULL;
    int rc = mf_open(&mf, path, mode, NULL);
    cr_assert_eq(rc, 0, "open %s mode %d: %s (%s)", path, mode, mf_strerror(rc),
                 mf_errdetail());
    return mf;
}

static char *get_text(mf_file *mf, const char *name)
{
    void *obj;
    const mf_class *cls;
    int rc = mf_get(mf, name, &obj, &cls);
    cr_assert_eq(rc, 0, "get %s: %s", name, mf_errdetail());
    cr_assert_str_eq(cls->name, "text");
    char *copy = strdup(obj);
    mf_object_free(cls, obj);
    return copy;
}

static void write_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(content, f);
    fclose(f);
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert(f);
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* ---- open modes ---------------------------------------------------------- */

Test(open, new_and_create_fail_on_existing_file_and_leave_it_untouched)
{
    const char *p = mf_test_path("exists.map");
    write_file(p, "precious data");
    mf_file *mf = NULL;
    cr_assert_eq(mf_open(&mf, p, MF_NEW, NULL), MF_EEXIST);
    cr_assert_null(mf);
    cr_assert_eq(mf_open(&mf, p, MF_CREATE, NULL), MF_EEXIST);
    cr_assert(strstr(mf_errdetail(), "exists.map"), "detail: %s", mf_errdetail());
    cr_assert_str_eq(read_all(p), "precious data");
}

Test(open, create_makes_a_valid_empty_file_with_title_and_mode)
{
    const char *p = mf_test_path("new.map");
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.title = "my title";
    o.file_mode = 0640;
    mode_t old = umask(022);
    mf_file *mf = NULL;
    cr_assert_eq(mf_open(&mf, p, MF_CREATE, &o), 0, "%s", mf_errdetail());
    umask(old);
    struct stat st;
    cr_assert_eq(stat(p, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0640);
    cr_assert_eq((uint64_t)st.st_size, MF_DEFAULT_SIZE);
    mf_file_info fi;
    cr_assert_eq(mf_file_stat(mf, &fi), 0);
    cr_assert_str_eq(fi.title, "my title");
    cr_assert_eq(fi.records, 0);
    cr_assert_eq(fi.capacity, MF_DEFAULT_SIZE);
    cr_assert_eq(fi.format_version, MF_FORMAT_VERSION);
    mf_close(mf);
}

Test(open, default_mode_is_0644_less_umask)
{
    const char *p = mf_test_path("mode.map");
    mode_t old = umask(027);
    mf_file *mf = open_or_die(p, MF_NEW);
    umask(old);
    struct stat st;
    cr_assert_eq(stat(p, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0640);
    mf_close(mf);
}

Test(open, recreate_replaces_existing_contents)
{
    const char *p = mf_test_path("re.map");
    mf_file *mf = open_or_die(p, MF_RECREATE);
    cr_assert_eq(mf_put(mf, "a", "text", "one"), 0);
    mf_close(mf);
    mf = open_or_die(p, MF_RECREATE);
    mf_record_info ri;
    cr_assert_eq(mf_stat(mf, "a", &ri), MF_ENOTFOUND);
    mf_close(mf);
    /* RECREATE also replaces something that is not a map file. */
    write_file(p, "junk");
    mf = open_or_die(p, MF_RECREATE);
    mf_close(mf);
}

Test(open, recreate_never_follows_a_planted_symlink)
{
    const char *target = mf_test_path("victim.txt");
    const char *p = mf_test_path("link.map");
    write_file(target, "do not touch");
    cr_assert_eq(symlink(target, p), 0);
    mf_file *mf = open_or_die(p, MF_RECREATE);
    mf_close(mf);
    cr_assert_str_eq(read_all(target), "do not touch");
    struct stat st;
    cr_assert_eq(lstat(p, &st), 0);
    cr_assert(S_ISREG(st.st_mode), "the link was replaced by a regular file");
}

Test(open, update_creates_a_missing_file_and_keeps_an_existing_one)
{
    const char *p = mf_test_path("upd.map");
    mf_file *mf = open_or_die(p, MF_UPDATE);
    cr_assert_eq(mf_put(mf, "k", "text", "kept"), 0);
    mf_close(mf);
    mf = open_or_die(p, MF_UPDATE);
    char *s = get_text(mf, "k");
    cr_assert_str_eq(s, "kept");
    free(s);
    mf_close(mf);
}

Test(open, read_needs_an_existing_file)
{
    mf_file *mf = NULL;
    cr_assert_eq(mf_open(&mf, mf_test_path("missing.map"), MF_READ, NULL), MF_ENOENT);
    cr_assert(strstr(mf_errdetail(), "missing.map"));
}

Test(open, read_is_read_only_and_refuses_every_write)
{
    const char *p = mf_test_path("ro.map");
    mf_file *w = open_or_die(p, MF_NEW);
    cr_assert_eq(mf_put(w, "x", "text", "v"), 0);
    mf_close(w);
    mf_file *r = open_or_die(p, MF_READ);
    cr_assert_eq(mf_put(r, "y", "text", "v"), MF_EREADONLY);
    cr_assert_eq(mf_add(r, "y", "text", "v"), MF_EREADONLY);
    cr_assert_eq(mf_update(r, NULL), MF_EREADONLY);
    cr_assert_eq(mf_remove(r, "x"), MF_EREADONLY);
    cr_assert_eq(mf_remove_all(r), MF_EREADONLY);
    char *s = get_text(r, "x");
    cr_assert_str_eq(s, "v");
    free(s);
    mf_close(r);
}

Test(open, rejects_files_that_are_not_map_files)
{
    const char *p = mf_test_path("plain.txt");
    write_file(p, "this is just text, and it is long enough to have a header? no");
    mf_file *mf = NULL;
    cr_assert_eq(mf_open(&mf, p, MF_READ, NULL), MF_ENOTMAPFILE);
    char big[8192];
    memset(big, 'x', sizeof big);
    big[sizeof big - 1] = '\0';
    write_file(p, big);
    cr_assert_eq(mf_open(&mf, p, MF_READ, NULL), MF_ENOTMAPFILE);
    cr_assert_eq(mf_open(&mf, p, MF_UPDATE, NULL), MF_ENOTMAPFILE);
    struct stat st;
    cr_assert_eq(stat(p, &st), 0);
    cr_assert_eq(st.st_size, (off_t)sizeof big - 1, "UPDATE must not touch a foreign file");
    cr_assert_eq(strspn(read_all(p), "x"), 4095);
}

Test(open, rejects_a_future_format_version)
{
    const char *p = mf_test_path("future.map");
    mf_close(open_or_die(p, MF_NEW));
    int fd = open(p, O_RDWR);
    uint32_t v = MF_FORMAT_VERSION + 1;
    cr_assert_eq(pwrite(fd, &v, 4, offsetof(struct mf__header, format_version)), 4);
    close(fd);
    mf_file *mf = NULL;
    cr_assert_eq(mf_open(&mf, p, MF_READ, NULL), MF_EVERSION);
    cr_assert(strstr(mf_errdetail(), "version 2"), "%s", mf_errdetail());
}

Test(open, bad_arguments_are_refused)
{
    mf_file *mf = NULL;
    cr_assert_eq(mf_open(NULL, "x", MF_READ, NULL), MF_EINVAL);
    cr_assert_eq(mf_open(&mf, NULL, MF_READ, NULL), MF_EINVAL);
    cr_assert_eq(mf_open(&mf, "", MF_READ, NULL), MF_EINVAL);
    cr_assert_eq(mf_open(&mf, mf_test_path("m"), 99, NULL), MF_EINVAL);
}

/* ---- records --------------------------------------------------------------- */

Test(records, add_then_update_shares_the_current_state)
{
    mf_file *mf = open_or_die(mf_test_path("au.map"), MF_NEW);
    char text[32] = "first";
    cr_assert_eq(mf_add(mf, "t", "text", text), 0);
    mf_record_info ri;
    cr_assert_eq(mf_stat(mf, "t", &ri), MF_ENOTFOUND, "add alone writes nothing");
    cr_assert_eq(mf_update(mf, NULL), 0);
    char *s = get_text(mf, "t");
    cr_assert_str_eq(s, "first");
    free(s);
    strcpy(text, "second");
    cr_assert_eq(mf_update(mf, "t"), 0);
    s = get_text(mf, "t");
    cr_assert_str_eq(s, "second");
    free(s);
    cr_assert_eq(mf_stat(mf, "t", &ri), 0);
    cr_assert_eq(ri.update_count, 2);
    cr_assert_str_eq(ri.class_name, "text");
    cr_assert_eq(ri.class_version, 1);
    cr_assert_eq(mf_update(mf, "never-added"), MF_ENOTFOUND);
    mf_close(mf);
}

Test(records, stat_reports_size_checksum_generation_and_time)
{
    mf_file *mf = open_or_die(mf_test_path("st.map"), MF_NEW);
    uint64_t before = mf__now_ns();
    cr_assert_eq(mf_put_raw(mf, "b", "blob", 1, "abcdef", 6), 0);
    mf_record_info a, b;
    cr_assert_eq(mf_stat(mf, "b", &a), 0);
    cr_assert_eq(a.size, 6);
    cr_assert_neq(a.checksum, 0);
    cr_assert_geq(a.update_time_ns, before);
    cr_assert_eq(mf_put_raw(mf, "b", "blob", 1, "abcdeg", 6), 0);
    cr_assert_eq(mf_stat(mf, "b", &b), 0);
    cr_assert_gt(b.generation, a.generation, "generation moves on update");
    cr_assert_neq(b.checksum, a.checksum);
    cr_assert_eq(b.update_count, 2);
    mf_close(mf);
}

Test(records, get_raw_copies_exact_bytes_and_reports_small_buffers)
{
    mf_file *mf = open_or_die(mf_test_path("raw.map"), MF_NEW);
    unsigned char data[300];
    for (int i = 0; i < 300; i++)
        data[i] = (unsigned char)(i * 7);
    cr_assert_eq(mf_put_raw(mf, "r", "blob", 1, data, sizeof data), 0);
    unsigned char out[300];
    mf_record_info ri;
    cr_assert_eq(mf_get_raw(mf, "r", out, 10, &ri), MF_ETOOSMALL);
    cr_assert_eq(ri.size, 300);
    cr_assert_eq(mf_get_raw(mf, "r", out, sizeof out, &ri), 0);
    cr_assert_arr_eq(out, data, sizeof data);
    void *copy;
    cr_assert_eq(mf_get_raw_alloc(mf, "r", &copy, NULL), 0);
    cr_assert_arr_eq(copy, data, sizeof data);
    free(copy);
    mf_close(mf);
}

Test(records, ten_thousand_records_are_found_by_name_and_listed_in_order)
{
    mf_file *mf = open_or_die(mf_test_path("many.map"), MF_NEW);
    char name[64], val[64];
    for (int i = 0; i < 10000; i++) {
        snprintf(name, sizeof name, "det/%05d/occupancy", (i * 7919) % 10000);
        snprintf(val, sizeof val, "value %d", i);
        cr_assert_eq(mf_put(mf, name, "text", val), 0, "%s", mf_errdetail());
    }
    for (int i = 0; i < 10000; i++) {
        snprintf(name, sizeof name, "det/%05d/occupancy", (i * 7919) % 10000);
        snprintf(val, sizeof val, "value %d", i);
        char *s = get_text(mf, name);
        cr_assert_str_eq(s, val);
        free(s);
    }
    mf_iter it;
    mf_record_info ri;
    mf_iter_init(&it, mf, NULL);
    int i = 0;
    while (mf_iter_next(&it, &ri) == 1) {
        snprintf(name, sizeof name, "det/%05d/occupancy", (i * 7919) % 10000);
        cr_assert_str_eq(ri.name, name, "insertion order at %d", i);
        i++;
    }
    cr_assert_eq(i, 10000);
    unsigned problems = 99;
    cr_assert_eq(mf_check(mf, NULL, NULL, &problems), 0);
    cr_assert_eq(problems, 0);
    mf_close(mf);
}

Test(records, prefix_lists_one_folder)
{
    mf_file *mf = open_or_die(mf_test_path("folders.map"), MF_NEW);
    const char *names[] = {"tpc/a", "tof/x", "tpc/b", "tpcx/c", "tpc/sub/d"};
    for (int i = 0; i < 5; i++)
        cr_assert_eq(mf_put(mf, names[i], "text", "v"), 0);
    mf_iter it;
    mf_record_info ri;
    mf_iter_init(&it, mf, "tpc/");
    const char *want[] = {"tpc/a", "tpc/b", "tpc/sub/d"};
    int n = 0;
    while (mf_iter_next(&it, &ri) == 1) {
        cr_assert_lt(n, 3);
        cr_assert_str_eq(ri.name, want[n]);
        n++;
    }
    cr_assert_eq(n, 3);
    mf_close(mf);
}

Test(records, class_of_a_name_is_fixed_until_removed)
{
    mf_file *mf = open_or_die(mf_test_path("cls.map"), MF_NEW);
    cr_assert_eq(mf_put(mf, "n", "text", "v"), 0);
    cr_assert_eq(mf_put_raw(mf, "n", "blob", 1, "x", 1), MF_ECLASS);
    cr_assert(strstr(mf_errdetail(), "'text'"), "%s", mf_errdetail());
    cr_assert_eq(mf_remove(mf, "n"), 0);
    cr_assert_eq(mf_put_raw(mf, "n", "blob", 1, "x", 1), 0);
    mf_close(mf);
}

Test(records, remove_and_remove_all)
{
    mf_file *mf = open_or_die(mf_test_path("rm.map"), MF_NEW);
    cr_assert_eq(mf_put(mf, "a", "text", "1"), 0);
    cr_assert_eq(mf_put(mf, "b", "text", "2"), 0);
    cr_assert_eq(mf_put(mf, "c", "text", "3"), 0);
    cr_assert_eq(mf_remove(mf, "b"), 0);
    cr_assert_eq(mf_remove(mf, "b"), MF_ENOTFOUND);
    mf_record_info ri;
    cr_assert_eq(mf_stat(mf, "b", &ri), MF_ENOTFOUND);
    cr_assert_eq(mf_stat(mf, "a", &ri), 0);
    cr_assert_eq(mf_stat(mf, "c", &ri), 0);
    cr_assert_eq(mf_remove_all(mf), 0);
    mf_file_info fi;
    cr_assert_eq(mf_file_stat(mf, &fi), 0);
    cr_assert_eq(fi.records, 0);
    unsigned problems = 1;
    cr_assert_eq(mf_check(mf, NULL, NULL, &problems), 0);
    cr_assert_eq(problems, 0);
    /* Only the index, the retired-block ring and the payloads just retired
     * (freed by the next reclaims) are left allocated. */
    cr_assert_lt(fi.heap_used, 8192);
    mf_close(mf);
}

Test(records, remove_gives_space_back_over_100000_cycles)
{
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.initial_size = 64 * 1024;
    mf_file *mf = NULL;
    cr_assert_eq(mf_open(&mf, mf_test_path("churn.map"), MF_NEW, &o), 0);
    static unsigned char data[65536];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)i;
    uint64_t seed = 42, high_water = 0;
    char name[32];
    for (int cycle = 0; cycle < 100000; cycle++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        size_t size = 16 + (size_t)((seed >> 33) % (65536 - 16 + 1));
        snprintf(name, sizeof name, "obj%d", (int)((seed >> 20) % 8));
        int rc = mf_put_raw(mf, name, "blob", 1, data, size);
        cr_assert_eq(rc, 0, "cycle %d: %s", cycle, mf_errdetail());
        if ((seed >> 40) % 2)
            cr_assert_eq(mf_remove(mf, name), 0);
        mf_file_info fi;
        mf_file_stat(mf, &fi);
        if (cycle == 999)
            high_water = fi.capacity;
        if (cycle >= 1000)
            cr_assert_leq(fi.capacity, 2 * high_water,
                          "cycle %d: file grew to %llu, high water %llu", cycle,
                          (unsigned long long)fi.capacity,
                          (unsigned long long)high_water);
    }
    unsigned problems = 1;
    cr_assert_eq(mf_check(mf, NULL, NULL, &problems), 0);
    cr_assert_eq(problems, 0);
    mf_close(mf);
}

/* ---- errors ---------------------------------------------------------------- */

Test(errors, missing_name_is_reported_with_the_name)
{
    mf_file *mf = open_or_die(mf_test_path("e1.map"), MF_NEW);
    void *obj = (void *)1;
    cr_assert_eq(mf_get(mf, "no/such/thing", &obj, NULL), MF_ENOTFOUND);
    cr_assert_null(obj);
    cr_assert(strstr(mf_errdetail(), "no/such/thing"), "%s", mf_errdetail());
    cr_assert_str_eq(mf_strerror(MF_ENOTFOUND), "no record with that name");
    mf_close(mf);
}

Test(errors, class_without_codec_names_the_class_and_the_path)
{
    mf_file *mf = open_or_die(mf_test_path("e2.map"), MF_NEW);
    cr_assert_eq(mf_put_raw(mf, "mystery", "nobody.knows", 3, "abc", 3), 0);
    void *obj;
    const mf_class *cls;
    cr_assert_eq(mf_get(mf, "mystery", &obj, &cls), MF_ENOCODEC);
    const char *d = mf_errdetail();
    cr_assert(strstr(d, "nobody.knows"), "%s", d);
    cr_assert(strstr(d, "mystery"), "%s", d);
    cr_assert(strstr(d, "in-process"), "names the search path: %s", d);
    /* The raw bytes are still there for tools. */
    char buf[3];
    cr_assert_eq(mf_get_raw(mf, "mystery", buf, 3, NULL), 0);
    mf_close(mf);
}

Test(errors, corrupted_payload_gives_checksum_error_and_check_reports_it)
{
    const char *p = mf_test_path("e3.map");
    mf_file *mf = open_or_die(p, MF_NEW);
    cr_assert_eq(mf_put(mf, "victim", "text", "A RATHER DISTINCTIVE PAYLOAD"), 0);
    cr_assert_eq(mf_put(mf, "bystander", "text", "fine"), 0);
    mf_close(mf);
    /* Flip one byte of the payload on disk ("D" becomes "d"). */
    cr_assert_eq(mf_test_damage(p, "DISTINCTIVE"), 0);

    mf = open_or_die(p, MF_READ);
    void *obj;
    cr_assert_eq(mf_get(mf, "victim", &obj, NULL), MF_ECHECKSUM);
    cr_assert(strstr(mf_errdetail(), "victim"), "%s", mf_errdetail());
    char *s = get_text(mf, "bystander");
    cr_assert_str_eq(s, "fine");
    free(s);
    unsigned problems = 0;
    cr_assert_eq(mf_check(mf, NULL, NULL, &problems), 0);
    cr_assert_eq(problems, 1);
    mf_close(mf);
}

Test(errors, invalid_names_are_refused)
{
    mf_file *mf = open_or_die(mf_test_path("e4.map"), MF_NEW);
    char longname[MF_NAME_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    cr_assert_eq(mf_put(mf, "", "text", "v"), MF_ENAME);
    cr_assert_eq(mf_put(mf, longname, "text", "v"), MF_ENAME);
    cr_assert_eq(mf_put(mf, "bad\nname", "text", "v"), MF_ENAME);
    cr_assert_eq(mf_put_raw(mf, "ok", "../../etc/passwd", 1, "x", 1), MF_ENAME);
    cr_assert_eq(mf_put(mf, "ok", "no-such-class", "v"), MF_ENOCODEC);
    mf_close(mf);
}

/* What a name check must answer, byte by byte. */
static int reference_name_code(const char *name)
{
    size_t n = 0;
    for (; n <= MF_NAME_MAX && name[n]; n++)
        if ((unsigned char)name[n] < 0x20 || name[n] == 0x7f)
            return MF_ENAME;
    return n == 0 || n > MF_NAME_MAX ? MF_ENAME : MF_ENOTFOUND;
}

/* The check reads names a word at a time: every length, start alignment
 * and control-character position, each name ending on the last byte of
 * a page whose next page is not mapped (a read past it would crash). */
Test(errors, name_check_at_every_length_alignment_and_position)
{
    mf_file *mf = open_or_die(mf_test_path("e5.map"), MF_NEW);
    long page = sysconf(_SC_PAGESIZE);
    char *two = mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(two, MAP_FAILED);
    cr_assert_eq(mprotect(two + page, (size_t)page, PROT_NONE), 0);
    static const unsigned char bad[] = {0x01, 0x09, 0x1f, 0x7f};
    mf_record_info info;
    unsigned checked = 0;
    for (size_t len = 0; len <= MF_NAME_MAX + 9; len++) {
        char *name = two + page - len - 1; /* its NUL is the page's last byte */
        for (size_t i = 0; i < len; i++)
            name[i] = (char)(i % 3 == 0 ? 0xc3 : 'a' + (char)(i % 26)); /* UTF-8 too */
        name[len] = '\0';
        cr_assert_eq(mf_stat(mf, name, &info), reference_name_code(name), "length %zu", len);
        /* A control character at every position (and every word offset,
         * since the start moves with the length). */
        for (size_t at = 0; at < len; at++) {
            char keep = name[at];
            name[at] = (char)bad[(at + len) % sizeof bad];
            int want = reference_name_code(name);
            cr_assert_eq(mf_stat(mf, name, &info), want, "length %zu, control at %zu",
                         len, at);
            name[at] = keep;
            checked++;
        }
    }
    /* Every start alignment of one short and one long name. */
    for (size_t lead = 0; lead < 16; lead++)
        for (size_t len = 1; len <= 24; len += 23) {
            char *name = two + page - 32 + lead - len;
            memset(name, 'x', len);
            name[len] = '\0';
            cr_assert_eq(mf_stat(mf, name, &info), MF_ENOTFOUND, "lead %zu", lead);
        }
    cr_assert_gt(checked, 30000u);
    munmap(two, 2 * (size_t)page);
    mf_close(mf);
}

Test(errors, every_code_has_a_message_and_a_name)
{
    for (int e = -1; e >= MF_ETOOSMALL; e--) {
        cr_assert_str_neq(mf_strerror(e), "unknown error", "code %d", e);
        cr_assert(strncmp(mf_err_name(e), "MF_E", 4) == 0);
    }
    cr_assert_str_eq(mf_strerror(-1000), "unknown error");
}

/* ---- the producer's buffer ----------------------------------------------- */

Test(buffer, best_buffer_is_mean_plus_one_sigma)
{
    mf_file *mf = open_or_die(mf_test_path("bb.map"), MF_NEW);
    static char data[300];
    /* sizes 100 and 300: mean 200, sigma 100 */
    cr_assert_eq(mf_put_raw(mf, "a", "blob", 1, data, 100), 0);
    cr_assert_eq(mf_put_raw(mf, "b", "blob", 1, data, 300), 0);
    mf_file_info fi;
    cr_assert_eq(mf_file_stat(mf, &fi), 0);
    cr_assert_eq(fi.best_buffer, 300);
    mf_close(mf);
}

Test(buffer, steady_state_update_does_not_reallocate)
{
    mf_file *mf = open_or_die(mf_test_path("steady.map"), MF_NEW);
    static char texts[50][200];
    char name[16];
    for (int i = 0; i < 50; i++) {
        memset(texts[i], 'a' + i % 26, 150);
        snprintf(name, sizeof name, "t%d", i);
        cr_assert_eq(mf_add(mf, name, "text", texts[i]), 0);
    }
    cr_assert_eq(mf_update(mf, NULL), 0);
    uint64_t grows = mf->enc_grows;
    for (int round = 0; round < 200; round++) {
        texts[round % 50][0] = (char)('A' + round % 26);
        cr_assert_eq(mf_update(mf, NULL), 0);
        cr_assert_eq(mf_update(mf, "t3"), 0);
    }
    cr_assert_eq(mf->enc_grows, grows, "the encode buffer was reallocated");
    /* Objects are encoded one at a time while the batch is staged: the
     * buffer holds one, not the batch's 50. */
    cr_assert_lt(mf->enc_cap, 50 * 151, "encode buffer of %zu bytes", mf->enc_cap);
    mf_close(mf);
}

/* The encode buffer grows in the middle of a batch (a small first object
 * sizes it) and shrinks in use again: every object is stored byte for byte. */
Test(buffer, a_batch_of_very_different_sizes_is_stored_exactly)
{
    mf_file *mf = open_or_die(mf_test_path("sizes.map"), MF_NEW);
    static const size_t sizes[6] = {5, 100000, 7, 300000, 1, 4096};
    static char texts[6][300001];
    char name[16];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 6; i++) {
            size_t n = round ? sizes[5 - i] : sizes[i];
            for (size_t k = 0; k < n; k++)
                texts[i][k] = (char)('a' + (k * 7 + (size_t)i + (size_t)round) % 26);
            texts[i][n] = '\0';
            snprintf(name, sizeof name, "s%d", i);
            if (round == 0)
                cr_assert_eq(mf_add(mf, name, "text", texts[i]), 0);
        }
        cr_assert_eq(mf_update(mf, NULL), 0, "%s", mf_errdetail());
        for (int i = 0; i < 6; i++) {
            snprintf(name, sizeof name, "s%d", i);
            char *s = get_text(mf, name);
            cr_assert_str_eq(s, texts[i], "round %d: %s", round, name);
            free(s);
        }
    }
    unsigned problems = 1;
    cr_assert_eq(mf_check(mf, NULL, NULL, &problems), 0);
    cr_assert_eq(problems, 0);
    mf_close(mf);
}

/* max_size is a limit: a file never starts above it (initial_size is cut
 * to it), and both are at least 64 KiB. */
Test(records, max_size_caps_the_initial_size)
{
    const struct {
        uint64_t initial, max, want_capacity, want_max;
    } cases[] = {
        {1 << 20, 128 << 10, 128 << 10, 128 << 10},
        {0, 128 << 10, 128 << 10, 128 << 10},          /* the default initial */
        {1 << 20, 4 << 20, 1 << 20, 4 << 20},
        {1 << 20, 1000, 64 << 10, 64 << 10},           /* below the minimum */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mf_open_options o = MF_OPEN_OPTIONS_INIT;
        if (cases[i].initial)
            o.initial_size = cases[i].initial;
        o.max_size = cases[i].max;
        mf_file *mf = NULL;
        cr_assert_eq(mf_open(&mf, mf_test_path("caps.map"), MF_RECREATE, &o), 0, "%s",
                     mf_errdetail());
        mf_file_info fi;
        cr_assert_eq(mf_file_stat(mf, &fi), 0);
        cr_expect_eq(fi.capacity, cases[i].want_capacity, "case %zu: capacity %llu", i,
                     (unsigned long long)fi.capacity);
        cr_expect_eq(fi.max_size, cases[i].want_max, "case %zu: max %llu", i,
                     (unsigned long long)fi.max_size);
        mf_close(mf);
    }
}

Test(records, a_batch_that_does_not_fit_publishes_nothing)
{
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.initial_size = 64 * 1024;
    o.max_size = 256 * 1024;
    mf_file *mf = NULL;
    cr_assert_eq(mf_open(&mf, mf_test_path("batchfull.map"), MF_NEW, &o), 0);
    static char texts[8][40001];
    char name[16];
    for (int i = 0; i < 8; i++) {
        memset(texts[i], 'a' + i, 100);
        snprintf(name, sizeof name, "t%d", i);
        cr_assert_eq(mf_add(mf, name, "text", texts[i]), 0);
    }
    cr_assert_eq(mf_update(mf, NULL), 0);
    mf_file_info before;
    mf_file_stat(mf, &before);
    /* Now every object wants 40 KB: 320 KB cannot fit in 256 KB. */
    for (int i = 0; i < 8; i++)
        memset(texts[i], 'A' + i, 40000);
    cr_assert_eq(mf_update(mf, NULL), MF_EFULL);
    mf_file_info after;
    mf_file_stat(mf, &after);
    cr_assert_eq(after.batch, before.batch, "no batch was published");
    cr_assert_eq(after.heap_used, before.heap_used, "staged blocks were freed");
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof name, "t%d", i);
        char *s = get_text(mf, name);
        cr_assert_eq(strlen(s), 100, "%s still holds the earlier batch", name);
        cr_assert_eq(s[0], 'a' + i);
        free(s);
    }
    unsigned problems = 1;
    cr_assert_eq(mf_check(mf, NULL, NULL, &problems), 0);
    cr_assert_eq(problems, 0);
    mf_close(mf);
}

Test(errors, no_verify_skips_the_checksum_but_check_still_finds_the_damage)
{
    const char *p = mf_test_path("nv.map");
    mf_file *mf = open_or_die(p, MF_NEW);
    cr_assert_eq(mf_put(mf, "victim", "text", "A RATHER DISTINCTIVE PAYLOAD"), 0);
    mf_close(mf);
    cr_assert_eq(mf_test_damage(p, "DISTINCTIVE"), 0);
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.flags = MF_OPEN_NO_VERIFY;
    cr_assert_eq(mf_open(&mf, p, MF_READ, &o), 0);
    char *s = get_text(mf, "victim");
    cr_assert_str_eq(s, "A RATHER dISTINCTIVE PAYLOAD");
    free(s);
    unsigned problems = 0;
    cr_assert_eq(mf_check(mf, NULL, NULL, &problems), 0);
    cr_assert_eq(problems, 1);
    mf_close(mf);
}
