/* test_e2e.c - ROOT's hprod/hcons, end to end: the mapfile-demo producer (a
 * separate executable) fills three histograms; this process, a different
 * executable that loads the hist codec from mapfile-hist.so, gets them back
 * and finds them equal to the producer's, bin for bin and sum for sum. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mapfile/hist.h>
#include <mapfile/mapfile.h>

#include "testutil.h"

#define DEMO MF_TEST_BUILD_DIR "/tools/mapfile-demo"

/* The demo's documented generator (--seed): xorshift64* and Box-Muller.
 * Repeated here so the test knows what the producer must have filled. */
static uint64_t state;
static double unit(void)
{
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return (double)((state * 2685821657736338717u) >> 11) * 0x1.0p-53;
}
static void rannor(double *a, double *b)
{
    double u = unit(), v = unit();
    if (u < 1e-300)
        u = 1e-300;
    double r = sqrt(-2.0 * log(u));
    double phi = 2.0 * 3.14159265358979323846 * v;
    *a = r * cos(phi);
    *b = r * sin(phi);
}

static int run_demo(char *const argv[])
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (!freopen("/dev/null", "w", stdout))
            _exit(126);
        execv(DEMO, argv);
        _exit(127);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void *get(mf_file *mf, const char *name, const char *cls_name)
{
    void *obj;
    const mf_class *cls;
    int rc = mf_get(mf, name, &obj, &cls);
    cr_assert_eq(rc, 0, "get %s: %s", name, mf_errdetail());
    cr_assert_str_eq(cls->name, cls_name);
    return obj;
}

#define SAME_ARRAY(a, b, n) cr_assert_eq(memcmp((a), (b), (n) * sizeof(double)), 0)

Test(e2e, consumer_gets_exactly_what_the_demo_producer_filled, .timeout = 120)
{
    const char *path = mf_test_path("demo.map");
    char fills[] = "20000", seed[] = "777";
    char *argv[] = {"mapfile-demo", "produce", (char *)path, "--fills", fills,
                    "--every", "10", "--rate", "0", "--seed", seed, NULL};
    cr_assert_eq(run_demo(argv), 0);

    mf_hist1d *hpx = mf_hist1d_new("This is the px distribution", 100, -4, 4);
    mf_hist2d *hpxpy = mf_hist2d_new("py vs px", 40, -4, 4, 40, -4, 4);
    mf_profile *hprof = mf_profile_new("Profile of pz versus px", 100, -4, 4);
    state = 777;
    for (int i = 0; i < 20000; i++) {
        double px, py;
        rannor(&px, &py);
        mf_hist1d_fill(hpx, px);
        mf_hist2d_fill(hpxpy, px, py);
        mf_profile_fill(hprof, px, px * px + py * py);
    }

    mf_file *mf;
    cr_assert_eq(mf_open(&mf, path, MF_READ, NULL), 0, "%s", mf_errdetail());
    mf_file_info fi;
    cr_assert_eq(mf_file_stat(mf, &fi), 0);
    cr_assert_str_eq(fi.title, "Demo memory mapped file with histograms");

    mf_hist1d *g1 = get(mf, "hpx", "hist1d");
    cr_assert_str_eq(g1->title, hpx->title);
    cr_assert_eq(g1->xaxis.nbins, 100);
    SAME_ARRAY(g1->bins, hpx->bins, 102);
    cr_assert_eq(g1->entries, 20000);
    cr_assert_eq(g1->entries, hpx->entries);
    cr_assert_eq(g1->sumw, hpx->sumw);
    cr_assert_eq(g1->sumw2, hpx->sumw2);
    cr_assert_eq(g1->sumwx, hpx->sumwx);
    cr_assert_eq(g1->sumwx2, hpx->sumwx2);
    cr_assert_eq(mf_hist1d_mean(g1), mf_hist1d_mean(hpx));

    mf_hist2d *g2 = get(mf, "hpxpy", "hist2d");
    SAME_ARRAY(g2->bins, hpxpy->bins, 42 * 42);
    cr_assert_eq(g2->entries, hpxpy->entries);
    cr_assert_eq(g2->sumw, hpxpy->sumw);
    cr_assert_eq(g2->sumw2, hpxpy->sumw2);
    cr_assert_eq(g2->sumwx, hpxpy->sumwx);
    cr_assert_eq(g2->sumwx2, hpxpy->sumwx2);
    cr_assert_eq(g2->sumwy, hpxpy->sumwy);
    cr_assert_eq(g2->sumwy2, hpxpy->sumwy2);
    cr_assert_eq(g2->sumwxy, hpxpy->sumwxy);

    mf_profile *g3 = get(mf, "hprof", "profile");
    SAME_ARRAY(g3->bin_sumwy, hprof->bin_sumwy, 102);
    SAME_ARRAY(g3->bin_sumwy2, hprof->bin_sumwy2, 102);
    SAME_ARRAY(g3->bin_sumw, hprof->bin_sumw, 102);
    SAME_ARRAY(g3->bin_sumw2, hprof->bin_sumw2, 102);
    cr_assert_eq(g3->entries, hprof->entries);
    cr_assert_eq(g3->sumw, hprof->sumw);
    cr_assert_eq(g3->sumwx, hprof->sumwx);
    cr_assert_eq(g3->sumwy, hprof->sumwy);
    cr_assert_eq(g3->sumwy2, hprof->sumwy2);

    /* 2000 updates of three objects: the counters say so. */
    mf_record_info ri;
    cr_assert_eq(mf_stat(mf, "hpx", &ri), 0);
    cr_assert_eq(ri.update_count, 2000);
    cr_assert_eq(fi.batch, 2000);

    mf_hist1d_free(g1);
    mf_hist2d_free(g2);
    mf_profile_free(g3);
    mf_hist1d_free(hpx);
    mf_hist2d_free(hpxpy);
    mf_profile_free(hprof);
    mf_close(mf);
}

Test(e2e, demo_consumer_follows_a_live_producer, .timeout = 120)
{
    const char *path = mf_test_path("live.map");
    pid_t cons = fork();
    if (cons == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (!freopen("/dev/null", "w", stdout))
            _exit(126);
        execl(DEMO, "mapfile-demo", "consume", path, "--seconds", "60", (char *)NULL);
        _exit(127);
    }
    char *argv[] = {"mapfile-demo", "produce", (char *)path, "--fills", "3000",
                    "--rate", "200", NULL};
    cr_assert_eq(run_demo(argv), 0);
    int st;
    cr_assert_eq(waitpid(cons, &st, 0), cons);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "the consumer stops by itself once the producer stopped");
}
