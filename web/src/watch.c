/* watch.c - the watcher thread and the change table.
 *
 * One thread opens the map file (waiting for it to appear, like `mapf
 * watch`), then sleeps in mf_wait. Each wake-up scans the directory once:
 * a record whose generation moved is "changed" at this scan's sequence
 * number (seq), one that disappeared leaves a tombstone. Event streams
 * read this table to tell a client what changed since the seq it has seen,
 * however many scans it missed: coalescing costs no memory per client.
 * Updates faster than a scan are coalesced by mf_wait itself (it returns
 * the newest generation).
 *
 * A replaced file (a producer's RECREATE; mf_wait follows it) is seen as a
 * generation that went backwards or a new inode at the path: the table
 * starts over and the epoch moves, which sends every client a "resync". */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

void mfw_state_init(mfw_state *st)
{
    memset(st, 0, sizeof *st);
    pthread_rwlock_init(&st->lock, NULL);
    atomic_store(&st->epoch, 1);
}

static void free_recs(mfw_rec *recs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(recs[i].name);
    free(recs);
}

static void clear_history(mfw_state *st)
{
    for (size_t i = 0; i < st->tomb_n; i++)
        free(st->tombs[(st->tomb_head + i) % MFW_TOMBSTONES].name);
    st->tomb_n = st->tomb_head = 0;
    st->gen_n = st->gen_head = 0;
}

void mfw_state_free(mfw_state *st)
{
    free_recs(st->recs, st->nrecs);
    st->recs = NULL;
    st->nrecs = 0;
    clear_history(st);
    pthread_rwlock_destroy(&st->lock);
}

static void add_tomb(mfw_state *st, char *name, uint64_t seq)
{
    if (st->tomb_n == MFW_TOMBSTONES) {
        mfw_tomb *old = &st->tombs[st->tomb_head];
        /* A client older than this removal can no longer be told it. */
        st->resume_floor = old->seq;
        free(old->name);
        st->tomb_head = (st->tomb_head + 1) % MFW_TOMBSTONES;
        st->tomb_n--;
    }
    mfw_tomb *t = &st->tombs[(st->tomb_head + st->tomb_n++) % MFW_TOMBSTONES];
    t->name = name;
    t->seq = seq;
}

static void add_gen(mfw_state *st, uint64_t gen, uint64_t seq)
{
    if (st->gen_n == MFW_HISTORY) {
        st->gen_head = (st->gen_head + 1) % MFW_HISTORY;
        st->gen_n--;
    }
    size_t i = (st->gen_head + st->gen_n++) % MFW_HISTORY;
    st->gen_seq[i][0] = gen;
    st->gen_seq[i][1] = seq;
}

/* Merge the new scan (sorted) into the table; returns non-zero if a record
 * was added, removed or changed. Names of the new scan are taken. */
static int merge(mfw_state *st, mfw_rec *recs, size_t n, uint64_t seq,
                 int *tree)
{
    size_t i = 0, j = 0;
    int changed = 0;
    while (i < st->nrecs || j < n) {
        int c = i == st->nrecs ? 1 : j == n ? -1
                                            : strcmp(st->recs[i].name, recs[j].name);
        if (c < 0) { /* removed */
            add_tomb(st, st->recs[i].name, seq);
            st->recs[i++].name = NULL;
            changed = *tree = 1;
        } else if (c > 0) { /* added */
            recs[j++].changed_seq = seq;
            changed = *tree = 1;
        } else {
            recs[j].changed_seq = st->recs[i].changed_seq;
            if (recs[j].gen != st->recs[i].gen) {
                recs[j].changed_seq = seq;
                changed = 1;
            }
            i++;
            j++;
        }
    }
    return changed;
}

int mfw_state_apply(mfw_state *st, mfw_rec *recs, size_t n, uint64_t gen,
                    int restart)
{
    pthread_rwlock_wrlock(&st->lock);
    uint64_t seq = atomic_load(&st->seq) + 1;
    int tree = 0, changed;
    if (restart) {
        /* Nothing said about the old file holds: clients start over. */
        free_recs(st->recs, st->nrecs);
        st->recs = NULL;
        st->nrecs = 0;
        clear_history(st);
        st->resume_floor = seq;
        atomic_fetch_add(&st->epoch, 1);
    }
    changed = merge(st, recs, n, seq, &tree) || restart;
    free_recs(st->recs, st->nrecs);
    st->recs = recs;
    st->nrecs = n;
    atomic_store(&st->generation, gen);
    if (changed) {
        if (tree || restart)
            st->tree_seq = seq;
        add_gen(st, gen, seq);
        atomic_store(&st->seq, seq);
        atomic_fetch_add(&st->updates, 1);
    }
    pthread_rwlock_unlock(&st->lock);
    return changed;
}

static int rec_cmp(const void *a, const void *b)
{
    return strcmp(((const mfw_rec *)a)->name, ((const mfw_rec *)b)->name);
}

/* Every record's name and generation, sorted by name. 0, or an MF_E*. */
static int scan(mf_file *mf, mfw_rec **out, size_t *count)
{
    mf_iter it;
    mf_record_info info;
    size_t n = 0, cap = 64;
    mfw_rec *recs = malloc(cap * sizeof *recs);
    int rc = recs ? 0 : MF_ENOMEM;
    mf_iter_init(&it, mf, NULL);
    while (rc == 0 && (rc = mf_iter_next(&it, &info)) == 1) {
        if (n == cap) {
            mfw_rec *r = realloc(recs, (cap *= 2) * sizeof *recs);
            if (!r) {
                rc = MF_ENOMEM;
                break;
            }
            recs = r;
        }
        recs[n].name = strdup(info.name);
        recs[n].gen = info.generation;
        recs[n].changed_seq = 0;
        if (!recs[n++].name)
            rc = MF_ENOMEM;
        else
            rc = 0;
    }
    if (rc < 0) {
        free_recs(recs, n);
        return rc;
    }
    qsort(recs, n, sizeof *recs, rec_cmp);
    *out = recs;
    *count = n;
    return 0;
}

mf_file *mfw_file(mfw_server *s) { return atomic_load(&s->mf); }

/* Open the file, waiting for it in short steps so stop stays prompt. */
static mf_file *open_file(mfw_server *s)
{
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.wait_ms = 250;
    while (!atomic_load(&s->stopping)) {
        mf_file *mf;
        mfw_events_wake(s, 1); /* keep-alives and hung-up streams meanwhile */
        int rc = mf_open(&mf, s->file, MF_READ, &o);
        if (rc == 0)
            return mf;
        if (rc != MF_ETIMEDOUT && rc != MF_ENOENT) {
            /* Not a map file (yet?), unreadable, ...: say why, retry. */
            const char *why = mf_errdetail();
            size_t flen = strlen(s->file);
            if (strncmp(why, s->file, flen) == 0 && strncmp(why + flen, ": ", 2) == 0)
                why += flen + 2; /* the reply names the file already */
            pthread_rwlock_wrlock(&s->st.lock);
            snprintf(s->file_error, sizeof s->file_error, "%s", why);
            atomic_store(&s->file_state, -1);
            pthread_rwlock_unlock(&s->st.lock);
            struct timespec ts = {0, 250 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

static void file_identity(const char *path, dev_t *dev, ino_t *ino)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        *dev = st.st_dev;
        *ino = st.st_ino;
    }
}

/* A new file (first open or a replacement): its title, and its id for
 * the event ids. */
static void note_file(mfw_server *s, mf_file *mf)
{
    mf_file_info fi;
    if (mf_file_stat(mf, &fi) == 0) {
        pthread_rwlock_wrlock(&s->st.lock);
        snprintf(s->file_title, sizeof s->file_title, "%s", fi.title);
        atomic_store(&s->st.file_id, fi.file_id);
        pthread_rwlock_unlock(&s->st.lock);
    }
}

/* One scan after a wake-up; fans out to the event streams. 0, or -1 when
 * it could not scan (a producer mid-change; the next wake-up rescans). */
static int rescan(mfw_server *s, mf_file *mf, uint64_t gen, int restart)
{
    mfw_rec *recs;
    size_t n;
    if (scan(mf, &recs, &n) != 0)
        return -1;
    if (restart)
        note_file(s, mf);
    if (mfw_state_apply(&s->st, recs, n, gen, restart))
        mfw_events_wake(s, 0);
    return 0;
}

/* Is mf another file than the one the events speak of? */
static int other_file(mfw_server *s, mf_file *mf)
{
    mf_file_info fi;
    return mf_file_stat(mf, &fi) == 0 && fi.file_id != atomic_load(&s->st.file_id);
}

static void *watch_main(void *arg)
{
    mfw_server *s = arg;
    mf_file *mf = atomic_load(&s->mf);
    if (!mf && !(mf = open_file(s)))
        return NULL;
    dev_t dev = 0;
    ino_t ino = 0;
    file_identity(s->file, &dev, &ino);
    atomic_store(&s->mf, mf);
    atomic_store(&s->file_state, 1);
    uint64_t seen = 0, last = 0;
    int restart = 1;
    while (!atomic_load(&s->stopping)) {
        int rc = mf_wait(mf, &seen, 250);
        if (rc == MF_ETIMEDOUT) {
            mfw_events_wake(s, 1);
            continue;
        }
        if (rc != 0) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
            continue;
        }
        dev_t d2 = dev;
        ino_t i2 = ino;
        file_identity(s->file, &d2, &i2);
        if (seen < last || d2 != dev || i2 != ino || other_file(s, mf))
            restart = 1;
        dev = d2;
        ino = i2;
        last = seen;
        if (rescan(s, mf, seen, restart) == 0)
            restart = 0;
    }
    return NULL;
}

int mfw_watch_start(mfw_server *s)
{
    /* A file that is already there is served from the first request on;
     * the watcher publishes it again (same pointer) and scans it. */
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    mf_file *mf;
    if (mf_open(&mf, s->file, MF_READ, &o) == 0) {
        atomic_store(&s->mf, mf);
        atomic_store(&s->file_state, 1);
    }
    if (pthread_create(&s->watcher, NULL, watch_main, s) != 0)
        return -1;
    s->watcher_started = 1;
    return 0;
}

void mfw_watch_stop(mfw_server *s)
{
    atomic_store(&s->stopping, 1);
    if (s->watcher_started)
        pthread_join(s->watcher, NULL);
    s->watcher_started = 0;
}
