/*
 * apply.c - write states of the source into the local map file, each as
 * one batch (mf_batch_*): a reader of the mirror sees all of it or none,
 * even if the pull is killed in the middle.
 *
 * The file is created complete: the first state is written into a
 * temporary file beside it, which is then linked into place, so a consumer
 * waiting for the file never sees it empty. A record that changes class
 * cannot be replaced inside a batch (MF_ECLASS), so then the whole state
 * goes into a new file that mf_copy(MF_COPY_REPLACE) installs; readers of
 * the old file move to it at once.
 *
 * The pull is the file's only writer: an exclusive flock on
 * "DIR/.BASE.mirror-lock" keeps a second pull out (two would interleave
 * their batches, and a reader could see the mirror go back), and before
 * every step the pull looks whether its file is still the one at the path
 * and whether anybody else wrote it (the file's generation moved past the
 * pull's own last batch): then it syncs in full, which makes the file at
 * the path equal to the source again.
 */
#include "mirror_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>

#define MM_GIB (1ull << 30)

static void temp_prefix(const struct mf_mirror *m, char *buf, size_t cap);

static bool path_names(const struct mf_mirror *m, const struct stat *st)
{
    return (uint64_t)st->st_dev == m->dst_dev && (uint64_t)st->st_ino == m->dst_ino;
}

/* The generation of the open file, 0 if it cannot be read. */
static uint64_t local_generation(struct mf_mirror *m)
{
    mf_file_info fi;
    return mf_file_stat(m->dst, &fi) == 0 ? fi.generation : 0;
}

/* Open the file at the path, and remember which file that was: the path
 * is looked at before and after, so a file swapped in meanwhile is not
 * mistaken for the one opened. */
static int open_local(struct mf_mirror *m)
{
    if (m->dst)
        return 0;
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.flags = MF_OPEN_NO_CREATE;
    for (int tries = 0; tries < 8; tries++) {
        struct stat before, after;
        if (stat(m->path, &before) != 0)
            return errno == ENOENT ? MF_ENOENT
                                   : mm_fail(MF_ESYS, "cannot look at the mirror %s: %s",
                                             m->path, strerror(errno));
        int rc = mf_open(&m->dst, m->path, MF_UPDATE, &o);
        if (rc == MF_ENOENT)
            continue;
        if (rc)
            return mm_fail_core(rc, "cannot open the mirror %s", m->path);
        if (stat(m->path, &after) == 0 && after.st_dev == before.st_dev &&
            after.st_ino == before.st_ino) {
            m->dst_dev = (uint64_t)after.st_dev;
            m->dst_ino = (uint64_t)after.st_ino;
            m->dst_gen = local_generation(m);
            return 0;
        }
        mf_close(m->dst);
        m->dst = NULL;
    }
    return mm_fail(MF_EREPLACED, "the mirror %s kept being replaced while the pull "
                   "opened it", m->path);
}

static void close_local(struct mf_mirror *m)
{
    mf_close(m->dst);
    m->dst = NULL;
    m->dst_gen = 0;
}

int mm_local_claim(struct mf_mirror *m)
{
    char path[4300];
    temp_prefix(m, path, sizeof path - 8);
    strcat(path, "lock");
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        return mm_fail(e == ENOENT ? MF_ENOENT : e == EACCES || e == EROFS ? MF_EACCES
                                                                          : MF_ESYS,
                       "cannot make the pull's lock file %s: %s", path, strerror(e));
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return mm_fail(MF_MIRROR_EOWNED, "another mirror pull writes %s (it holds "
                           "%s); one pull per file", m->path, path);
        return mm_fail(MF_ESYS, "cannot lock %s: %s", path, strerror(e));
    }
    m->lock_fd = fd;
    return 0;
}

void mm_local_check(struct mf_mirror *m)
{
    if (!m->dst || !m->synced)
        return;
    struct stat st;
    const char *why = NULL;
    /* What others wrote (or another file) is not brought in step record by
     * record: a new file holds the source's state exactly, order too. */
    bool rebuild = true;
    if (stat(m->path, &st) != 0) {
        if (errno != ENOENT)
            return; /* cannot tell now (EACCES on a directory, ENOMEM): next step */
        why = "was removed";
        rebuild = false;
    } else if (!path_names(m, &st)) {
        why = "was replaced by another file";
    } else if (m->dst_gen && local_generation(m) != m->dst_gen) {
        why = "was written by another writer than this pull";
    }
    if (!why)
        return;
    mm_log(m, MF_MIRROR_LOG_WARN, "the mirror %s %s: syncing in full", m->path, why);
    close_local(m);
    m->synced = false;
    m->rebuild = rebuild;
}

/* ------------------------------------------------------------------------ */
/* A new file beside the mirror                                             */
/* ------------------------------------------------------------------------ */

/* "DIR/.BASE.mirror-" : the prefix of our temporary files. */
static void temp_prefix(const struct mf_mirror *m, char *buf, size_t cap)
{
    const char *slash = strrchr(m->path, '/');
    int dl = slash ? (int)(slash - m->path + 1) : 0;
    snprintf(buf, cap, "%.*s.%s.mirror-", dl, m->path, slash ? slash + 1 : m->path);
}

/* Remove temporary files a killed pull left (their pid is gone). */
static void remove_stale_temps(const struct mf_mirror *m)
{
    char prefix[4200];
    temp_prefix(m, prefix, sizeof prefix);
    char *base = strrchr(prefix, '/');
    char dir[4200];
    snprintf(dir, sizeof dir, "%.*s", base ? (int)(base - prefix) : 1, base ? prefix : ".");
    const char *bp = base ? base + 1 : prefix;
    DIR *d = opendir(dir);
    if (!d)
        return;
    size_t bl = strlen(bp);
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, bp, bl) != 0)
            continue;
        char *end;
        long pid = strtol(e->d_name + bl, &end, 10);
        if (pid <= 0 || strcmp(end, ".tmp") != 0)
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char path[8500];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
}

static uint64_t limit_of(const struct mf_mirror *m, const mm_state *st)
{
    if (m->max_size)
        return m->max_size;
    if (st->max_size >= (1u << 20) && st->max_size <= (1ull << 40))
        return st->max_size;
    return MM_GIB;
}

static int put_all(mf_batch *b, const mm_state *st)
{
    for (size_t i = 0; i < st->n; i++) {
        const mm_record *r = &st->recs[i];
        int rc = mf_batch_put_raw(b, r->name, r->class_name, r->version, r->data,
                                  (size_t)r->size);
        if (rc)
            return rc;
    }
    return 0;
}

/* Build the whole state into a new file at @p tmp. */
static int build_temp(struct mf_mirror *m, const mm_state *st, const char *tmp,
                      mf_file **out)
{
    uint64_t payload = 0;
    for (size_t i = 0; i < st->n; i++)
        payload += st->recs[i].size;
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.max_size = limit_of(m, st);
    uint64_t want = payload + payload / 4 + (uint64_t)st->n * 512 + (64u << 10);
    want = (want + 4095) & ~4095ull;
    o.initial_size = want < o.max_size ? want : o.max_size;
    o.title = st->title;
    unlink(tmp); /* ours from an earlier life of this pid */
    int rc = mf_open(out, tmp, MF_CREATE, &o);
    if (rc)
        return mm_fail_core(rc, "cannot create %s", tmp);
    mf_batch *b;
    if ((rc = mf_batch_begin(*out, &b)) == 0) {
        if ((rc = put_all(b, st)))
            mf_batch_abort(b);
        else
            rc = mf_batch_commit(b);
    }
    if (rc) {
        rc = mm_fail_core(rc, "cannot write %zu records into %s", st->n, tmp);
        mf_close(*out);
        unlink(tmp);
    }
    return rc;
}

static int create_local(struct mf_mirror *m, const mm_state *st, bool replace)
{
    char tmp[4300];
    temp_prefix(m, tmp, sizeof tmp - 32);
    snprintf(tmp + strlen(tmp), 32, "%ld.tmp", (long)getpid());
    remove_stale_temps(m);
    mf_file *t;
    int rc = build_temp(m, st, tmp, &t);
    if (rc)
        return rc;
    if (replace) {
        close_local(m);
        rc = mf_copy(t, m->path, MF_COPY_REPLACE);
        if (rc)
            rc = mm_fail_core(rc, "cannot replace %s", m->path);
    } else if (link(tmp, m->path) != 0) {
        rc = mm_fail(errno == EEXIST ? MF_EEXIST : MF_ESYS, "cannot link the new mirror "
                     "%s into place: %s", m->path, strerror(errno));
    }
    mf_close(t);
    unlink(tmp);
    if (rc)
        return rc;
    m->st.replaced += replace;
    m->st.records += st->n;
    for (size_t i = 0; i < st->n; i++)
        m->st.payload_bytes += st->recs[i].size;
    rc = open_local(m);
    return rc == MF_ENOENT ? mm_fail(rc, "%s vanished right after it was made", m->path)
                           : rc;
}

/* ------------------------------------------------------------------------ */
/* One batch into the existing file                                         */
/* ------------------------------------------------------------------------ */

static bool same_record(const mm_record *r, const mf_record_info *info)
{
    return strcmp(info->class_name, r->class_name) == 0 &&
           info->class_version == r->version && info->size == r->size &&
           info->checksum == r->checksum;
}

/* Whether a record of the state changes class (needs a new file), and
 * which records are already as they should be (skip). */
static int compare_local(struct mf_mirror *m, const mm_state *st, bool *skip,
                         bool *class_change)
{
    *class_change = false;
    for (size_t i = 0; i < st->n; i++) {
        mf_record_info info;
        int rc = mf_stat(m->dst, st->recs[i].name, &info);
        skip[i] = false;
        if (rc == MF_ENOTFOUND)
            continue;
        if (rc)
            return mm_fail_core(rc, "cannot read the mirror %s", m->path);
        if (strcmp(info.class_name, st->recs[i].class_name) != 0)
            *class_change = true;
        skip[i] = st->full && same_record(&st->recs[i], &info);
    }
    return 0;
}

/* Local records the full state does not hold. */
static int remove_missing(struct mf_mirror *m, const mm_state *st, mf_batch *b,
                          size_t *removed)
{
    mm_table keep;
    mm_table_init(&keep);
    int rc = 0;
    for (size_t i = 0; i < st->n && !rc; i++) {
        bool added;
        if (!mm_table_put(&keep, st->recs[i].name, &added))
            rc = MF_ENOMEM;
    }
    mf_iter it;
    mf_record_info info;
    mf_iter_init(&it, m->dst, NULL);
    while (!rc && (rc = mf_iter_next(&it, &info)) == 1) {
        rc = 0;
        if (!mm_table_find(&keep, info.name)) {
            rc = mf_batch_remove(b, info.name);
            (*removed)++;
        }
    }
    mm_table_free(&keep);
    return rc < 0 ? rc : 0;
}

static int fill_batch(struct mf_mirror *m, const mm_state *st, const bool *skip,
                      mf_batch *b, size_t *puts, size_t *removed, uint64_t *bytes)
{
    int rc = 0;
    for (size_t i = 0; i < st->n && !rc; i++) {
        if (skip[i])
            continue;
        const mm_record *r = &st->recs[i];
        rc = mf_batch_put_raw(b, r->name, r->class_name, r->version, r->data, (size_t)r->size);
        (*puts)++;
        *bytes += r->size;
    }
    if (!rc && st->full)
        rc = remove_missing(m, st, b, removed);
    for (size_t i = 0; i < st->nremoved && !rc; i++) {
        rc = mf_batch_remove(b, st->removed[i]);
        (*removed)++;
    }
    return rc;
}

/* @p g0: the file's generation before the state was compared with it. */
static int commit_state(struct mf_mirror *m, const mm_state *st, const bool *skip,
                        uint64_t g0, bool *committed)
{
    mf_batch *b;
    size_t puts = 0, removed = 0;
    uint64_t bytes = 0;
    int rc = mf_batch_begin(m->dst, &b);
    if (rc)
        return mm_fail_core(rc, "cannot write the mirror %s", m->path);
    if ((rc = fill_batch(m, st, skip, b, &puts, &removed, &bytes))) {
        mf_batch_abort(b);
        return mm_fail_core(rc, "cannot write the mirror %s", m->path);
    }
    /* A batch moves the generation by one: any other step is another
     * writer's, which the next look (mm_local_check) then sees. A full
     * state was compared with the file at g0, so it starts the count
     * there: a write by others during the sync is seen too. */
    bool count_from_g0 = st->full || (m->dst_gen && g0 == m->dst_gen);
    if (!puts && !removed) {
        mf_batch_abort(b);
        if (st->full)
            m->dst_gen = g0;
        return 0;
    }
    if ((rc = mf_batch_commit(b)))
        return mm_fail_core(rc, "cannot write the mirror %s", m->path);
    if (count_from_g0)
        m->dst_gen = g0 + 1;
    *committed = true;
    m->st.batches++;
    m->st.records += puts;
    m->st.removed += removed;
    m->st.payload_bytes += bytes;
    return 0;
}

int mm_apply(struct mf_mirror *m, const mm_state *st, bool *replace_needed,
             bool *committed)
{
    *replace_needed = false;
    *committed = false;
    int rc = open_local(m);
    if (rc == MF_ENOENT) {
        if (!st->full)
            return mm_fail(MF_ENOENT, "the mirror %s was removed: syncing in full", m->path);
        rc = create_local(m, st, false);
        if (!rc) {
            *committed = true;
            m->st.batches++;
        }
        return rc;
    }
    if (rc)
        return rc;
    if (st->full && m->rebuild) {
        if ((rc = create_local(m, st, true)) == 0) {
            m->rebuild = false;
            *committed = true;
            m->st.batches++;
        }
        return rc;
    }
    uint64_t g0 = local_generation(m);
    bool *skip = calloc(st->n ? st->n : 1, sizeof *skip), class_change;
    if (!skip)
        return mm_fail(MF_ENOMEM, "no memory for %zu records", st->n);
    rc = compare_local(m, st, skip, &class_change);
    if (!rc && class_change && !st->full)
        *replace_needed = true;
    else if (!rc && class_change)
        rc = create_local(m, st, true);
    else if (!rc)
        rc = commit_state(m, st, skip, g0, committed);
    if (!rc && class_change && st->full) {
        *committed = true;
        m->st.batches++;
    }
    free(skip);
    if (rc == MF_EREPLACED || rc == MF_ENOENT)
        close_local(m); /* someone replaced or removed it: reopen next time */
    return rc;
}
