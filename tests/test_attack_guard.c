/* test_attack_guard.c - the SIGBUS guard catches only faults on the map
 * (issue 12, item 9).
 *
 * mapfile.h: a read function returns MF_ECORRUPT when *the map file* was
 * truncated under it. A fault on anything else is not the library's: a
 * codec or a plugin touching a file of its own that shrank must meet the
 * process's own SIGBUS disposition, and the library must hold no lock
 * across such a fault. With the plugins of tests/plugins/sigbus.c:
 * - nobody handles SIGBUS: mf_get of a tp.sigbus_in record kills the
 *   process with SIGBUS (it must not return MF_ECORRUPT "the map file
 *   shrank");
 * - the process handles it (a handler installed first maps a zero page
 *   where the fault was, the way a program that owns such mappings does):
 *   the codec's stream_in, or the plugin's entry while the registry loads
 *   it, goes on and mf_get returns the object; and every later registry
 *   lookup in the process answers (a registry lock left held by a jump out
 *   of the loading code would hang it: each case runs in a child with a
 *   20 s watchdog).
 * Under ASan the child sets SIGBUS to its default disposition first, so
 * ASan's own report does not stand in for the signal. */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "attackutil.h"
#include "plugins/testplugins.h"
#include "testutil.h"

#define WATCHDOG_S 20

/* A record of the class, written without its codec (no plugin loaded). */
static void make_file(const char *path, const char *class_name)
{
    mf_file *mf;
    cr_assert_eq(mf_open(&mf, path, MF_RECREATE, NULL), 0, "%s", mf_errdetail());
    int64_t v = 4242;
    cr_assert_eq(mf_put_raw(mf, "obj", class_name, 1, &v, sizeof v), 0, "%s",
                 mf_errdetail());
    cr_assert_eq(mf_put(mf, "note", MF_TEXT_CLASS, "plain text"), 0);
    mf_close(mf);
}

static mf_file *open_with_plugins(const char *path, const char *dir, mf_registry **reg)
{
    if (mf_registry_create(reg) || mf_registry_add_path(*reg, dir))
        _exit(20);
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.registry = *reg;
    mf_file *mf;
    if (mf_open(&mf, path, MF_READ, &o)) {
        fprintf(stderr, "open: %s\n", mf_errdetail());
        _exit(21);
    }
    return mf;
}

static void default_sigbus(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGBUS, &sa, NULL);
}

/* ---- nobody handles the fault -------------------------------------------------- */

Test(attack_guard, a_codec_fault_on_its_own_file_is_not_reported_as_a_shrunk_map,
     .timeout = 120)
{
    const char *path = mf_test_path("guard.map");
    make_file(path, "tp.sigbus_in");
    pid_t c = at_fork();
    if (c == 0) {
        default_sigbus();
        mf_registry *reg;
        mf_file *mf = open_with_plugins(path, MF_TP_SIGBUS_IN, &reg);
        void *obj;
        const mf_class *cls;
        int rc = mf_get(mf, "obj", &obj, &cls);
        fprintf(stderr, "mf_get returned %s: %s\n", mf_err_name(rc), mf_errdetail());
        _exit(42);
    }
    int st = at_wait_for(c, WATCHDOG_S);
    cr_assert_eq(st, 100 + SIGBUS, "a codec faulted on its own truncated file: the process "
                 "should die of SIGBUS, but %s%s", at_status_text(st),
                 st == 42 ? " (mf_get returned instead: see stderr)" : "");
}

/* ---- the process handles the fault --------------------------------------------------- */

static volatile sig_atomic_t faults;

/* Put a zero page where the fault was: the faulting read then succeeds. */
static void own_sigbus_handler(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    long page = sysconf(_SC_PAGESIZE);
    void *at = (void *)((uintptr_t)si->si_addr & ~(uintptr_t)(page - 1));
    if (mmap(at, (size_t)page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
        MAP_FAILED)
        _exit(31);
    faults++;
}

static void install_own_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = own_sigbus_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
}

/* In a child: the process's handler first, then the library; get "obj"
 * and look classes up again. Exits with a bit per failed step (1: mf_get
 * failed, 2: wrong object or no fault handled, 4: a lookup failed, 8: the
 * text record failed); a lookup that hangs is the watchdog's. */
static void handled_fault_child(const char *path, const char *dir, const char *cls_name)
{
    install_own_handler();
    mf_registry *reg;
    mf_file *mf = open_with_plugins(path, dir, &reg);
    int bad = 0;
    void *obj;
    const mf_class *cls;
    int rc = mf_get(mf, "obj", &obj, &cls);
    if (rc) {
        fprintf(stderr, "mf_get of a %s record: %s: %s\n", cls_name, mf_err_name(rc),
                mf_errdetail());
        bad |= 1;
    } else {
        if (((const int64_t *)obj)[0] != 4242 || faults < 1) {
            fprintf(stderr, "value %lld, %d faults handled\n",
                    (long long)((int64_t *)obj)[0], (int)faults);
            bad |= 2;
        }
        mf_object_free(cls, obj);
    }
    /* The registry still answers: another class, then this one again. */
    const mf_class *again;
    if (mf_registry_find(reg, "text", &again) || mf_registry_find(reg, cls_name, &again))
        bad |= 4;
    if (mf_get(mf, "note", &obj, &cls) == 0)
        mf_object_free(cls, obj);
    else
        bad |= 8;
    mf_close(mf);
    _exit(bad);
}

static void handled_fault(const char *cls_name, const char *dir)
{
    const char *path = mf_test_path("guard.map");
    make_file(path, cls_name);
    pid_t c = at_fork();
    if (c == 0)
        handled_fault_child(path, dir, cls_name);
    int st = at_wait_for(c, WATCHDOG_S);
    char why[200] = "";
    if (st == 200)
        snprintf(why, sizeof why, " (a registry lookup after the fault never returned)");
    else if (st > 0 && st < 16)
        snprintf(why, sizeof why, "%s%s%s%s", st & 1 ? " (mf_get failed: see stderr)" : "",
                 st & 2 ? " (wrong object, or the fault was not the handler's)" : "",
                 st & 4 ? " (a registry lookup failed)" : "",
                 st & 8 ? " (a plain text record could not be read)" : "");
    cr_assert_eq(st, 0, "the process handles SIGBUS on its own mappings; a %s fault in "
                 "plugin code: %s%s", cls_name, at_status_text(st), why);
}

Test(attack_guard, a_codec_handling_its_own_fault_gets_its_object, .timeout = 120)
{
    handled_fault("tp.sigbus_in", MF_TP_SIGBUS_IN);
}

Test(attack_guard, a_fault_while_a_plugin_loads_leaves_no_lock_held, .timeout = 120)
{
    handled_fault("tp.sigbus_entry", MF_TP_SIGBUS_ENTRY);
}
