/*
 * mapfile-demo.c - a producer and a consumer of live histograms, after
 * ROOT's tutorials hprod.C and hcons.C.
 *
 *   mapfile-demo produce FILE [--fills N] [--every K] [--rate HZ] [--seed S]
 *   mapfile-demo consume FILE [--seconds S]
 *
 * The producer links the histogram codecs and registers them in-process.
 * The consumer deliberately does not: it finds "hist1d", "hist2d" and
 * "profile" in the plugin mapfile-hist.so through the registry, rebuilds
 * the objects with the plugin's code, and asks them for their statistics
 * by method name (mf_call), as a display that knows nothing of histograms
 * would.
 *
 * Exit codes: 0 success, 1 runtime failure, 2 usage error.
 */
#include <mapfile/hist.h>
#include <mapfile/mapfile.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

#define SYNOPSIS                                                               \
    "usage: mapfile-demo produce FILE [--fills N] [--every K] [--rate HZ] [--seed S]\n" \
    "       mapfile-demo consume FILE [--seconds S]\n"                         \
    "       mapfile-demo --help\n"

static const char *const usage_text =
    SYNOPSIS
    "\n"
    "produce  (re)create FILE and fill three histograms with gaussian random\n"
    "         numbers, like ROOT's hprod.C: hpx (hist1d of px), hpxpy (hist2d\n"
    "         of py vs px) and hprof (profile of px*px+py*py vs px).\n"
    "  --fills N    stop after N fills (default: run until Ctrl-C)\n"
    "  --every K    publish all three with mf_update every K fills (default 10)\n"
    "  --rate HZ    at most HZ updates per second, 0 for no limit (default 50)\n"
    "  --seed S     random seed (default 12345)\n"
    "\n"
    "consume  open FILE read-only (waiting for it to appear), then redraw hpx\n"
    "         with its entries, mean and RMS whenever the producer updates,\n"
    "         like ROOT's hcons.C. The codecs come from the mapfile-hist\n"
    "         plugin. Stops when the producer has stopped (no new entries for\n"
    "         1 s), on Ctrl-C, or after S seconds.\n"
    "  --seconds S  give up after S seconds (default: no limit)\n";

static const char *const demo_title = "Demo memory mapped file with histograms";
static const char *const record_names[3] = {"hpx", "hpxpy", "hprof"};

/* Set by SIGINT/SIGTERM; the loops check it and shut down cleanly. */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a pending sleep or wait returns early on Ctrl-C. */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "mapfile-demo: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", SYNOPSIS);
    return EXIT_USAGE;
}

static void report(const char *what, const char *file, int rc)
{
    const char *detail = mf_errdetail();
    fprintf(stderr, "mapfile-demo: %s %s: %s%s%s\n", what, file,
            mf_strerror(rc), detail[0] ? ": " : "", detail);
}

/* ------------------------------------------------------------------------ */
/* Argument parsing                                                         */
/* ------------------------------------------------------------------------ */

/* One "--name VALUE" or "--name=VALUE" option; advances *i past it.
 * Returns the value, or NULL if argv[*i] is not this option. Sets *missing
 * when the option is there without a value. */
static const char *option_value(int argc, char **argv, int *i, const char *name,
                                int *missing)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

static int parse_u64(const char *s, uint64_t min, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min)
        return -1;
    *out = v;
    return 0;
}

static int parse_seconds(const char *s, double *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    /* Bounded so that it converts to the int milliseconds of wait_ms. */
    if (errno || *end || !(v > 0.0) || v > 1e6)
        return -1;
    *out = v;
    return 0;
}

typedef struct demo_args {
    const char *file;
    uint64_t fills;   /* 0: until stopped */
    uint64_t every;
    uint64_t rate;    /* updates per second, 0: no limit */
    uint64_t seed;
    double seconds;   /* consumer limit, 0: none */
} demo_args;

/* Returned by parse_args() after printing --help. */
#define HELP_SHOWN (-1)

/* Parses the options after "produce FILE" / "consume FILE". Returns 0,
 * HELP_SHOWN, or the exit code of a usage error. */
static int parse_args(int argc, char **argv, int producer, demo_args *a)
{
    a->fills = 0;
    a->every = 10;
    a->rate = 50;
    a->seed = 12345;
    a->seconds = 0.0;
    a->file = NULL;
    for (int i = 2; i < argc; i++) {
        const char *v;
        int missing = 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return HELP_SHOWN;
        }
        if (producer && (v = option_value(argc, argv, &i, "--fills", &missing))) {
            if (parse_u64(v, 1, &a->fills))
                return usage_error("--fills needs a whole number >= 1, not '%s'", v);
        } else if (producer && (v = option_value(argc, argv, &i, "--every", &missing))) {
            if (parse_u64(v, 1, &a->every))
                return usage_error("--every needs a whole number >= 1, not '%s'", v);
        } else if (producer && (v = option_value(argc, argv, &i, "--rate", &missing))) {
            if (parse_u64(v, 0, &a->rate) || a->rate > 1000000)
                return usage_error("--rate needs updates per second (0 to 1000000), not '%s'", v);
        } else if (producer && (v = option_value(argc, argv, &i, "--seed", &missing))) {
            if (parse_u64(v, 0, &a->seed))
                return usage_error("--seed needs a whole number, not '%s'", v);
        } else if (!producer &&
                   (v = option_value(argc, argv, &i, "--seconds", &missing))) {
            if (parse_seconds(v, &a->seconds))
                return usage_error("--seconds needs a number of seconds > 0, not '%s'", v);
        } else if (missing) {
            return usage_error("%s needs a value", argv[i]);
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return usage_error("unknown option '%s'", argv[i]);
        } else if (!a->file) {
            a->file = argv[i];
        } else {
            return usage_error("unexpected argument '%s'", argv[i]);
        }
    }
    if (!a->file)
        return usage_error("%s needs a FILE", argv[1]);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Producer                                                                 */
/* ------------------------------------------------------------------------ */

/* xorshift64*: small, seedable, good enough for a demo. */
static uint64_t rng_state;

static double rng_unit(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717u) >> 11) * 0x1.0p-53;
}

/* Two independent standard gaussians (Box-Muller), like TRandom::Rannor. */
static void rannor(double *a, double *b)
{
    double u = rng_unit(), v = rng_unit();
    if (u < 1e-300)
        u = 1e-300;
    double r = sqrt(-2.0 * log(u));
    double phi = 2.0 * 3.14159265358979323846 * v;
    *a = r * cos(phi);
    *b = r * sin(phi);
}

/* Sleeps until the absolute monotonic time *next, then schedules the next
 * tick. A late tick is not made up for: the demo just runs slower. */
/* A bounded run at a limited rate can take a while: say how long before
 * starting, so a silent terminal is not mistaken for a hang. */
static void announce_duration(const demo_args *a)
{
    if (a->fills == 0 || a->rate == 0)
        return;
    double seconds = (double)(a->fills / a->every) / (double)a->rate;
    if (seconds < 2)
        return;
    printf("filling %llu times, publishing every %llu fills at most %llu times "
           "a second: about %.0f s (--rate 0 for no limit)\n",
           (unsigned long long)a->fills, (unsigned long long)a->every,
           (unsigned long long)a->rate, seconds);
    fflush(stdout);
}

static void pace(struct timespec *next, uint64_t rate)
{
    long step = (long)(1000000000ull / rate);
    next->tv_nsec += step;
    while (next->tv_nsec >= 1000000000L) {
        next->tv_nsec -= 1000000000L;
        next->tv_sec++;
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec > next->tv_sec ||
        (now.tv_sec == next->tv_sec && now.tv_nsec > next->tv_nsec)) {
        *next = now;
        return;
    }
    /* Returns early with EINTR on Ctrl-C; the caller checks the flag. */
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, next, NULL);
}

static int register_hist_classes(void)
{
    const mf_class *classes[] = {&mf_hist1d_class, &mf_hist2d_class,
                                 &mf_profile_class};
    for (int i = 0; i < 3; i++) {
        int rc = mf_registry_add_class(mf_registry_default(), classes[i]);
        if (rc != 0 && rc != MF_EDUPLICATE) {
            fprintf(stderr, "mapfile-demo: cannot register %s: %s\n",
                    classes[i]->name, mf_strerror(rc));
            return rc;
        }
    }
    return 0;
}

static int produce(const demo_args *a)
{
    if (register_hist_classes() != 0)
        return EXIT_FAIL;

    mf_hist1d *hpx = mf_hist1d_new("This is the px distribution", 100, -4, 4);
    mf_hist2d *hpxpy = mf_hist2d_new("py vs px", 40, -4, 4, 40, -4, 4);
    mf_profile *hprof = mf_profile_new("Profile of pz versus px", 100, -4, 4);
    if (!hpx || !hpxpy || !hprof) {
        fprintf(stderr, "mapfile-demo: out of memory\n");
        mf_hist1d_free(hpx);
        mf_hist2d_free(hpxpy);
        mf_profile_free(hprof);
        return EXIT_FAIL;
    }

    mf_open_options opts = MF_OPEN_OPTIONS_INIT;
    opts.title = demo_title;
    mf_file *mf = NULL;
    int status = EXIT_OK;
    int rc = mf_open(&mf, a->file, MF_RECREATE, &opts);
    if (rc != 0) {
        report("cannot create", a->file, rc);
        status = EXIT_FAIL;
        goto out;
    }
    if ((rc = mf_add(mf, "hpx", "hist1d", hpx)) != 0 ||
        (rc = mf_add(mf, "hpxpy", "hist2d", hpxpy)) != 0 ||
        (rc = mf_add(mf, "hprof", "profile", hprof)) != 0) {
        report("cannot add histograms to", a->file, rc);
        status = EXIT_FAIL;
        goto out;
    }

    install_signal_handlers();
    rng_state = a->seed ? a->seed : 0x9e3779b97f4a7c15u; /* xorshift needs != 0 */
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);

    announce_duration(a);
    uint64_t fills = 0, updates = 0;
    int dirty = 0;
    while (!stop_requested && (a->fills == 0 || fills < a->fills)) {
        double px, py;
        rannor(&px, &py);
        double pz = px * px + py * py;
        mf_hist1d_fill(hpx, px);
        mf_hist2d_fill(hpxpy, px, py);
        mf_profile_fill(hprof, px, pz);
        fills++;
        dirty = 1;
        if (fills % a->every != 0)
            continue;
        if ((rc = mf_update(mf, NULL)) != 0) {
            report("cannot update", a->file, rc);
            status = EXIT_FAIL;
            goto out;
        }
        dirty = 0;
        if (++updates == 1) {
            mf_print(mf, stdout);
            mf_ls(mf, stdout);
            fflush(stdout);
        }
        if (a->rate)
            pace(&next, a->rate);
    }
    /* Publish the fills since the last update, so the file ends complete. */
    if (dirty) {
        if ((rc = mf_update(mf, NULL)) != 0) {
            report("cannot update", a->file, rc);
            status = EXIT_FAIL;
            goto out;
        }
        updates++;
    }
    printf("produced %llu fills in %llu updates%s; hpx entries %g mean %.4f "
           "rms %.4f\n",
           (unsigned long long)fills, (unsigned long long)updates,
           stop_requested ? " (interrupted)" : "", mf_hist1d_entries(hpx),
           mf_hist1d_mean(hpx), mf_hist1d_rms(hpx));

out:
    /* Close first: the added objects must outlive the handle. */
    if (mf && (rc = mf_close(mf)) != 0) {
        report("cannot close", a->file, rc);
        status = EXIT_FAIL;
    }
    mf_hist1d_free(hpx);
    mf_hist2d_free(hpxpy);
    mf_profile_free(hprof);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Consumer                                                                 */
/* ------------------------------------------------------------------------ */

/* Calls a d(o) method by name; NAN (and a message) if it cannot. */
static double call_double(const mf_class *cls, void *obj, const char *method)
{
    mf_value ret;
    int rc = mf_call(cls, obj, method, NULL, 0, &ret);
    if (rc != 0 || ret.type != MF_T_F64) {
        fprintf(stderr, "mapfile-demo: %s.%s: %s %s\n", cls->name, method,
                mf_strerror(rc), mf_errdetail());
        return NAN;
    }
    return ret.v.d;
}

static void redraw(void *const objs[3], const mf_class *const cls[3], int tty)
{
    if (tty)
        fputs("\033[H\033[2J", stdout); /* home + clear: a live display */
    if (cls[0]->print)
        cls[0]->print(objs[0], stdout);
    printf("hpx:   entries %-10g mean %-10.4f rms %.4f\n",
           call_double(cls[0], objs[0], "entries"),
           call_double(cls[0], objs[0], "mean"),
           call_double(cls[0], objs[0], "rms"));
    printf("hpxpy: entries %-10g mean x %-8.4f mean y %-8.4f rms x %-8.4f "
           "rms y %.4f\n",
           call_double(cls[1], objs[1], "entries"),
           call_double(cls[1], objs[1], "mean_x"),
           call_double(cls[1], objs[1], "mean_y"),
           call_double(cls[1], objs[1], "rms_x"),
           call_double(cls[1], objs[1], "rms_y"));
    printf("hprof: entries %-10g mean of pz %.4f\n",
           call_double(cls[2], objs[2], "entries"),
           call_double(cls[2], objs[2], "mean_y"));
    fflush(stdout);
}

static void free_objects(void *objs[3], const mf_class *cls[3])
{
    for (int i = 0; i < 3; i++) {
        mf_object_free(cls[i], objs[i]);
        objs[i] = NULL;
    }
}

static int consume(const demo_args *a)
{
    mf_open_options opts = MF_OPEN_OPTIONS_INIT;
    /* Start before the producer: wait for the file to appear. */
    opts.wait_ms = a->seconds > 0 ? (int)ceil(a->seconds * 1000.0) : -1;
    double start = now_seconds();
    mf_file *mf = NULL;
    int rc = mf_open(&mf, a->file, MF_READ, &opts);
    if (rc != 0) {
        report("cannot open", a->file, rc);
        return EXIT_FAIL;
    }
    install_signal_handlers();
    mf_print(mf, stdout);
    mf_ls(mf, stdout);
    fflush(stdout);

    int tty = isatty(STDOUT_FILENO);
    int status = EXIT_OK, have_data = 0, producer_stopped = 0;
    double last_entries = -1.0, last_change = now_seconds();
    uint64_t seen = 0;
    int changed = 1; /* look once at what is already there */
    while (!stop_requested) {
        double now = now_seconds();
        if (a->seconds > 0 && now - start >= a->seconds)
            break;
        if (changed) {
            void *objs[3] = {NULL, NULL, NULL};
            const mf_class *cls[3] = {NULL, NULL, NULL};
            rc = mf_get_snapshot(mf, record_names, 3, objs, cls, NULL);
            if (rc == 0) {
                double entries = call_double(cls[0], objs[0], "entries");
                if (entries != last_entries) {
                    redraw(objs, cls, tty);
                    last_entries = entries;
                    last_change = now;
                    have_data = have_data || entries > 0;
                }
                free_objects(objs, cls);
            } else if (rc != MF_ENOTFOUND && rc != MF_EBUSY) {
                /* Not yet published or too busy are normal; this is not. */
                report("cannot read histograms from", a->file, rc);
                status = EXIT_FAIL;
                break;
            }
        }
        if (have_data && now - last_change >= 1.0) {
            producer_stopped = 1;
            break;
        }
        /* Sleep on the file's generation instead of polling blindly. */
        rc = mf_wait(mf, &seen, 100);
        if (rc == 0) {
            changed = 1;
        } else if (rc == MF_ETIMEDOUT) {
            changed = 0;
        } else {
            report("cannot wait on", a->file, rc);
            status = EXIT_FAIL;
            break;
        }
    }

    if (status == EXIT_OK) {
        if (producer_stopped)
            printf("producer stopped; hpx has %g entries\n", last_entries);
        else if (have_data)
            printf("stopped watching; hpx has %g entries\n", last_entries);
        else {
            fprintf(stderr, "mapfile-demo: no histograms appeared in %s\n",
                    a->file);
            status = stop_requested ? EXIT_OK : EXIT_FAIL;
        }
    }
    if ((rc = mf_close(mf)) != 0) {
        report("cannot close", a->file, rc);
        status = EXIT_FAIL;
    }
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("%s", "a command is needed");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage_text, stdout);
        return EXIT_OK;
    }
    int producer = !strcmp(argv[1], "produce");
    if (!producer && strcmp(argv[1], "consume") != 0)
        return usage_error("unknown command '%s'", argv[1]);

    demo_args a;
    int rc = parse_args(argc, argv, producer, &a);
    if (rc == HELP_SHOWN)
        return EXIT_OK;
    if (rc != 0)
        return rc;
    return producer ? produce(&a) : consume(&a);
}
