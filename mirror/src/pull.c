/*
 * pull.c - read what a push published and hand it to apply.c as states
 * of the source: a full sync from the keys, or the records named by new
 * stream entries, read in one MULTI/EXEC together with the stream's tail
 * so the pull can prove that what it read is one source batch.
 */
#include "mirror_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Entries one XREAD takes; more wait for the next step. */
#define PULL_XREAD_COUNT 1024
/* Entries a stream tail may hold before the pull syncs in full instead. */
#define PULL_TAIL_MAX 10000
/* Rounds of reading before giving up on a namespace that never holds
 * still long enough. */
#define PULL_ROUNDS 16

/* Queue "HMGET key fields..." for one name. */
static int queue_hmget(struct mf_mirror *m, const char *name, size_t len)
{
    size_t kl;
    char *key = mm_rec_key(m, name, len, &kl);
    if (!key) {
        mm_disconnect(m);
        return mm_fail(MF_ENOMEM, "no memory for a key");
    }
    mm_args a;
    mm_args_init(&a);
    mm_args_str(&a, "HMGET");
    mm_args_add(&a, key, kl);
    for (int i = 0; i < MM_NFIELDS; i++)
        mm_args_str(&a, mm_record_fields[i]);
    int rc = mm_append(m, &a);
    mm_args_free(&a);
    free(key);
    return rc;
}

static int queue_simple(struct mf_mirror *m, int argc, const char *const *argv)
{
    mm_args a;
    mm_args_init(&a);
    for (int i = 0; i < argc; i++)
        mm_args_str(&a, argv[i]);
    int rc = mm_append(m, &a);
    mm_args_free(&a);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Full sync                                                                */
/* ------------------------------------------------------------------------ */

/* The names, from ZRANGE (sorted by insertion order). */
static int read_names(struct mf_mirror *m, const redisReply *r, bool scores,
                      const redisReply ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    if (r->type == REDIS_REPLY_ERROR)
        return mm_reply_error(m, r, m->k_names);
    size_t step = scores ? 2 : 1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % step)
        return mm_fail(MF_MIRROR_EREMOTE, "%s: %s is %s, not a sorted set of names",
                       m->ep.shown, m->k_names, mm_type_name(r));
    size_t count = r->elements / step;
    *names = count ? calloc(count, sizeof **names) : NULL;
    if (count && !*names)
        return mm_fail(MF_ENOMEM, "no memory for %zu names", count);
    for (size_t i = 0; i < count; i++) {
        const redisReply *e = r->element[i * step];
        const char *why = e->type != REDIS_REPLY_STRING ? "not a string"
                          : strlen(e->str) != e->len     ? "it holds a NUL byte"
                                                         : mm_name_problem(e->str, e->len);
        if (why) {
            char q[MM_QUOTE_CAP];
            free(*names);
            *names = NULL;
            return mm_fail(MF_MIRROR_EREMOTE, "%s: %s holds an invalid record name "
                           "'%s' (%s)", m->ep.shown, m->k_names,
                           e->type == REDIS_REPLY_STRING ? mm_quote(q, sizeof q, e->str, e->len)
                                                         : "",
                           why);
        }
        (*names)[i] = e;
    }
    *n = count;
    return 0;
}

static bool same_names(const redisReply **a, size_t na, const redisReply **b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (a[i]->len != b[i]->len || memcmp(a[i]->str, b[i]->str, a[i]->len) != 0)
            return false;
    return true;
}

typedef struct full_read {
    redisReply *names_reply;   /* the first look at the names */
    const redisReply **names;
    size_t n;
    redisReply *exec;          /* head, names, last entry, records */
    mm_head head;
    mm_id last_id;
    mm_record *recs;
} full_read;

static void full_read_free(full_read *f)
{
    free(f->names);
    free(f->recs);
    if (f->names_reply)
        freeReplyObject(f->names_reply);
    if (f->exec)
        freeReplyObject(f->exec);
    memset(f, 0, sizeof *f);
}

static int queue_full(struct mf_mirror *m, full_read *f)
{
    const char *multi[] = {"MULTI"}, *head[] = {"HGETALL", m->k_head},
               *names[] = {"ZRANGE", m->k_names, "0", "-1", "WITHSCORES"},
               *last[] = {"XREVRANGE", m->k_log, "+", "-", "COUNT", "1"},
               *exec[] = {"EXEC"};
    int rc = queue_simple(m, 1, multi);
    if (!rc)
        rc = queue_simple(m, 2, head);
    if (!rc)
        rc = queue_simple(m, 5, names);
    if (!rc)
        rc = queue_simple(m, 6, last);
    for (size_t i = 0; i < f->n && !rc; i++)
        rc = queue_hmget(m, f->names[i]->str, f->names[i]->len);
    if (!rc)
        rc = queue_simple(m, 1, exec);
    return rc;
}

/* The stream's last entry must be the batch the head names. */
static int check_last(struct mf_mirror *m, const redisReply *r, full_read *f)
{
    f->last_id = (mm_id){0, 0};
    if (r->type == REDIS_REPLY_ERROR)
        return mm_reply_error(m, r, m->k_log);
    if (r->type != REDIS_REPLY_ARRAY || r->elements > 1)
        return mm_fail(MF_MIRROR_EREMOTE, "%s: %s is %s, not a stream", m->ep.shown,
                       m->k_log, mm_type_name(r));
    if (r->elements == 0)
        return 0; /* no stream: follow it from its first entry */
    mm_entry_info e;
    int rc = mm_parse_entry(m, r->element[0], &e);
    if (rc)
        return rc;
    mm_entry_info_free(&e);
    if (memcmp(e.epoch, f->head.epoch, 16) != 0 || e.seq != f->head.seq)
        return mm_fail(MF_MIRROR_EREMOTE, "%s: %s names batch %llu of epoch %s but the "
                       "last entry of %s is batch %llu of epoch %.16s", m->ep.shown,
                       m->k_head, (unsigned long long)f->head.seq, f->head.epoch, m->k_log,
                       (unsigned long long)e.seq, e.epoch);
    f->last_id = e.id;
    return 0;
}

static int check_records(struct mf_mirror *m, full_read *f, const redisReply *scores)
{
    f->recs = f->n ? calloc(f->n, sizeof *f->recs) : NULL;
    if (f->n && !f->recs)
        return mm_fail(MF_ENOMEM, "no memory for %zu records", f->n);
    for (size_t i = 0; i < f->n; i++) {
        const char *name = f->names[i]->str;
        int rc = mm_parse_record(m, name, f->exec->element[3 + i], &f->recs[i]);
        if (rc == 0) {
            char q[MM_QUOTE_CAP];
            return mm_fail(MF_MIRROR_EREMOTE, "%s: %s lists '%s' but %s%s does not "
                           "exist; nothing was applied", m->ep.shown, m->k_names,
                           mm_quote(q, sizeof q, name, strlen(name)), m->k_rec,
                           mm_quote(q, sizeof q, name, strlen(name)));
        }
        if (rc < 0)
            return rc;
        f->recs[i].score = strtod(scores->element[2 * i + 1]->str, NULL);
    }
    return 0;
}

/* Check one EXEC of a full read. 1: the names moved, read again. */
static int check_full(struct mf_mirror *m, full_read *f)
{
    const redisReply *const *el = (const redisReply *const *)f->exec->element;
    int rc = mm_parse_head(m, el[0], &f->head);
    if (rc)
        return rc;
    const redisReply **names;
    size_t n;
    if ((rc = read_names(m, el[1], true, &names, &n)))
        return rc;
    bool same = same_names(names, n, f->names, f->n);
    free(names);
    if (!same)
        return 1;
    if (f->head.records != n) /* written in the same transaction */
        return mm_fail(MF_MIRROR_EREMOTE, "%s: %s says %llu records but %s holds %zu; "
                       "nothing was applied", m->ep.shown, m->k_head,
                       (unsigned long long)f->head.records, m->k_names, n);
    if ((rc = check_last(m, el[2], f)))
        return rc;
    return check_records(m, f, el[1]);
}

static int read_full_once(struct mf_mirror *m, full_read *f)
{
    const char *zr[] = {"ZRANGE", m->k_names, "0", "-1"};
    int rc = queue_simple(m, 4, zr);
    if (!rc)
        rc = mm_reply(m, &f->names_reply);
    if (!rc)
        rc = read_names(m, f->names_reply, false, &f->names, &f->n);
    if (!rc)
        rc = queue_full(m, f);
    if (!rc)
        rc = mm_exec_replies(m, (int)(3 + f->n), &f->exec, "reading the namespace");
    return rc ? rc : check_full(m, f);
}

static int apply_full(struct mf_mirror *m, full_read *f, bool *committed)
{
    mm_state st = {.recs = f->recs, .n = f->n, .full = true,
                   .max_size = f->head.max_size};
    snprintf(st.title, sizeof st.title, "%s", f->head.title);
    bool replace;
    return mm_apply(m, &st, &replace, committed);
}

static int full_sync(struct mf_mirror *m, unsigned *applied)
{
    full_read f = {0};
    int rc = 1;
    for (int round = 0; round < PULL_ROUNDS && rc == 1; round++) {
        full_read_free(&f);
        rc = read_full_once(m, &f);
    }
    if (rc == 1)
        rc = mm_fail(MF_EBUSY, "%s: the names of namespace '%s' changed on each of %d "
                     "reads", m->ep.shown, m->ns, PULL_ROUNDS);
    bool committed = false;
    if (!rc)
        rc = apply_full(m, &f, &committed);
    if (!rc) {
        memcpy(m->epoch, f.head.epoch, sizeof m->epoch);
        m->seq = f.head.seq;
        m->last_id = f.last_id;
        m->synced = true;
        m->head_gone = false;
        m->ahead = 0;
        m->st.full_syncs++;
        m->st.seq = m->seq;
        *applied += committed;
        mm_log(m, MF_MIRROR_LOG_INFO, "full sync from %s: %zu record%s at batch %llu of "
               "namespace '%s'", m->ep.shown, f.n, f.n == 1 ? "" : "s",
               (unsigned long long)m->seq, m->ns);
    }
    full_read_free(&f);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Following the stream                                                     */
/* ------------------------------------------------------------------------ */

/* The names the entries since the local state change: meta.valid says
 * whether the last change of each is a put. */
typedef struct step {
    mm_table names;
    const char **order;  /* first appearance; strings owned by names */
    mm_record *recs;     /* per order position: the last record carried by
                            an entry (data points into a reply) */
    size_t n, cap;
    bool carried;        /* every entry so far carried its records */
    uint64_t seq;
    mm_id last_id;
    uint64_t entries;
    bool grew;           /* this round added names */
    const char *resync;  /* why the stream cannot be followed */
} step;

static void step_free(step *s)
{
    mm_table_free(&s->names);
    free(s->order);
    free(s->recs);
}

/* Note a change of one name; @p rec is the record an entry carried (or
 * NULL). */
static int step_name(step *s, const mm_name *nm, bool put, const mm_record *rec)
{
    char buf[MF_NAME_MAX + 1];
    memcpy(buf, nm->s, nm->len);
    buf[nm->len] = '\0';
    bool added;
    mm_entry *e = mm_table_put(&s->names, buf, &added);
    if (!e)
        return MF_ENOMEM;
    e->meta.valid = put;
    if (added) {
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 64;
            const char **v = realloc(s->order, cap * sizeof *v);
            mm_record *r = v ? realloc(s->recs, cap * sizeof *r) : NULL;
            if (v)
                s->order = v;
            if (!r)
                return MF_ENOMEM;
            s->recs = r;
            s->cap = cap;
        }
        /* The table keeps each name's string where it is when it grows. */
        e->meta.idx = s->n;
        s->order[s->n++] = e->name;
        s->grew = true;
    }
    if (rec) {
        s->recs[e->meta.idx] = *rec;
        s->recs[e->meta.idx].name = s->order[e->meta.idx];
    }
    return 0;
}

static int step_entry(struct mf_mirror *m, step *s, const mm_entry_info *e)
{
    if (memcmp(e->epoch, m->epoch, 16) != 0) {
        s->resync = "the stream belongs to another epoch (the namespace was rewritten)";
        return 0;
    }
    if (e->reset) {
        s->resync = "the push rewrote the namespace";
        return 0;
    }
    if (e->seq != s->seq + 1) {
        s->resync = e->seq <= s->seq ? "the stream went back (Redis lost batches)"
                                     : "batches are missing (the pull fell behind the "
                                       "trimmed stream)";
        return 0;
    }
    s->seq = e->seq;
    s->last_id = e->id;
    s->entries++;
    bool carried = e->nrecs == e->nput;
    s->carried = s->carried && carried;
    int rc = 0;
    for (size_t i = 0; i < e->ndel && !rc; i++)
        rc = step_name(s, &e->del[i], false, NULL);
    for (size_t i = 0; i < e->nput && !rc; i++)
        rc = step_name(s, &e->put[i], true, carried ? &e->recs[i] : NULL);
    return rc == MF_ENOMEM ? mm_fail(rc, "no memory for the names of a batch") : rc;
}

/* Take a list of stream entries (skipping those already taken). */
static int step_entries(struct mf_mirror *m, step *s, const redisReply *list)
{
    if (list->type != REDIS_REPLY_ARRAY)
        return mm_fail(MF_MIRROR_EREMOTE, "%s: %s gave %s, not a list of entries",
                       m->ep.shown, m->k_log, mm_type_name(list));
    for (size_t i = 0; i < list->elements && !s->resync; i++) {
        mm_entry_info e;
        int rc = mm_parse_entry(m, list->element[i], &e);
        if (rc)
            return rc;
        if (mm_id_cmp(e.id, s->last_id) > 0)
            rc = step_entry(m, s, &e);
        mm_entry_info_free(&e);
        if (rc)
            return rc;
    }
    return 0;
}

/* The XREAD reply: nil, or [[key, entries]]. */
static int xread_entries(struct mf_mirror *m, const redisReply *r, const redisReply **list)
{
    *list = NULL;
    if (r->type == REDIS_REPLY_NIL)
        return 0;
    if (r->type == REDIS_REPLY_ERROR)
        return mm_reply_error(m, r, m->k_log);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
        r->element[0]->type != REDIS_REPLY_ARRAY || r->element[0]->elements != 2)
        return mm_fail(MF_MIRROR_EREMOTE, "%s: XREAD of %s gave %s of an unexpected "
                       "shape", m->ep.shown, m->k_log, mm_type_name(r));
    *list = r->element[0]->element[1];
    return 0;
}

static int xread(struct mf_mirror *m, int timeout_ms, redisReply **out)
{
    char id[48], count[16], block[16];
    mm_id_str(m->last_id, id, sizeof id);
    snprintf(count, sizeof count, "%d", PULL_XREAD_COUNT);
    snprintf(block, sizeof block, "%d", timeout_ms);
    const char *with[] = {"XREAD", "COUNT", count, "BLOCK", block, "STREAMS", m->k_log, id};
    const char *without[] = {"XREAD", "COUNT", count, "STREAMS", m->k_log, id};
    /* The longer timeout stays for the commands that follow: they wait at
     * most that much longer on a dead link. */
    if (timeout_ms > 0)
        mm_timeout_extra(m, timeout_ms);
    int rc = timeout_ms > 0 ? queue_simple(m, 8, with) : queue_simple(m, 6, without);
    return rc ? rc : mm_reply(m, out);
}

/* The head's epoch and seq from HMGET: 1 if there is no head, 0, or -1 if
 * it is not what mapfile writes. */
static int head_epoch_seq(const redisReply *r, char epoch[17], uint64_t *seq)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
        return -1;
    const redisReply *e = r->element[0], *s = r->element[1];
    if (e->type == REDIS_REPLY_NIL)
        return 1;
    if (e->type != REDIS_REPLY_STRING || mm_parse_hex64(e->str, e->len, &(uint64_t){0}) ||
        s->type != REDIS_REPLY_STRING || mm_parse_u64(s->str, s->len, seq))
        return -1;
    memcpy(epoch, e->str, 16);
    epoch[16] = '\0';
    return 0;
}

/* Nothing new arrived: check that the head is still the one followed. A
 * head ahead of the pull is a batch published since the XREAD, unless it
 * stays ahead while XREAD finds nothing (a stream made anew). */
static int idle_check(struct mf_mirror *m)
{
    const char *cmd[] = {"HMGET", m->k_head, "epoch", "seq"};
    redisReply *r;
    int rc = queue_simple(m, 4, cmd);
    if (!rc)
        rc = mm_reply(m, &r);
    if (rc)
        return rc;
    char epoch[17];
    uint64_t seq = 0;
    int got = r->type == REDIS_REPLY_ERROR ? -2 : head_epoch_seq(r, epoch, &seq);
    if (got == -2)
        rc = mm_reply_error(m, r, m->k_head);
    freeReplyObject(r);
    if (rc)
        return rc;
    const char *why = NULL;
    if (got == 1) {
        if (!m->head_gone)
            mm_log(m, MF_MIRROR_LOG_WARN, "%s: namespace '%s' has no head any more (Redis "
                   "restarted without its data?): keeping %s as it is until a push "
                   "publishes again", m->ep.shown, m->ns, m->path);
        m->head_gone = true;
        return 0;
    }
    if (got < 0)
        why = "its head is not what mapfile writes";
    else if (memcmp(epoch, m->epoch, 16) != 0)
        why = "the push rewrote it (a new epoch)";
    else if (seq < m->seq)
        why = "it went back to an older batch (Redis restarted with older data)";
    else if (seq > m->seq && ++m->ahead >= 2)
        why = "its stream no longer leads to its head";
    else if (seq == m->seq)
        m->ahead = 0;
    if (why) {
        mm_log(m, MF_MIRROR_LOG_WARN, "%s: namespace '%s': %s: syncing in full",
               m->ep.shown, m->ns, why);
        m->synced = false;
    }
    return 0;
}

/* One round: the stream after the step's entries and every name's record,
 * in one MULTI/EXEC. */
static int read_round(struct mf_mirror *m, step *s, redisReply **exec)
{
    char id[48], count[16];
    mm_id_str(s->last_id, id, sizeof id);
    snprintf(count, sizeof count, "%d", PULL_TAIL_MAX + 1);
    const char *multi[] = {"MULTI"}, *tail[] = {"XRANGE", m->k_log, id, "+", "COUNT", count},
               *ex[] = {"EXEC"};
    int rc = queue_simple(m, 1, multi);
    if (!rc)
        rc = queue_simple(m, 6, tail);
    for (size_t i = 0; i < s->n && !rc; i++)
        rc = queue_hmget(m, s->order[i], strlen(s->order[i]));
    if (!rc)
        rc = queue_simple(m, 1, ex);
    if (!rc)
        rc = mm_exec_replies(m, (int)(1 + s->n), exec, "reading a batch");
    return rc;
}

/* The records of one consistent read, as a state to apply. */
static int step_state(struct mf_mirror *m, step *s, redisReply *exec, mm_state *st)
{
    st->recs = calloc(s->n ? s->n : 1, sizeof *st->recs);
    st->removed = calloc(s->n ? s->n : 1, sizeof *st->removed);
    if (!st->recs || !st->removed)
        return mm_fail(MF_ENOMEM, "no memory for a batch of %zu names", s->n);
    for (size_t i = 0; i < s->n; i++) {
        const char *name = s->order[i];
        bool put = mm_table_find(&s->names, name)->valid;
        mm_record rec;
        int rc = mm_parse_record(m, name, exec->element[1 + i], &rec);
        if (rc < 0)
            return rc;
        char q[MM_QUOTE_CAP];
        if (rc == 0 && put)
            return mm_fail(MF_MIRROR_EREMOTE, "%s: a stream entry up to %s puts '%s' but "
                           "%s%s does not exist; nothing was applied", m->ep.shown,
                           m->k_log, mm_quote(q, sizeof q, name, strlen(name)), m->k_rec,
                           mm_quote(q, sizeof q, name, strlen(name)));
        if (rc == 1 && !put)
            return mm_fail(MF_MIRROR_EREMOTE, "%s: a stream entry removes '%s' but %s%s "
                           "still exists; nothing was applied", m->ep.shown,
                           mm_quote(q, sizeof q, name, strlen(name)), m->k_rec,
                           mm_quote(q, sizeof q, name, strlen(name)));
        if (rc == 1)
            st->recs[st->n++] = rec;
        else
            st->removed[st->nremoved++] = name;
    }
    return 0;
}

/* Apply a step's state as one local batch and move the pull's position
 * past it; a record that changed class asks for a resync instead. */
static int apply_step(struct mf_mirror *m, step *s, mm_state *st, unsigned *applied)
{
    bool replace = false, committed = false;
    int rc = mm_apply(m, st, &replace, &committed);
    if (!rc && replace)
        s->resync = "a record changed class";
    if (!rc && !replace) {
        m->seq = s->seq;
        m->last_id = s->last_id;
        m->st.seq = m->seq;
        m->st.remote_batches += s->entries;
        *applied += committed;
    }
    return rc;
}

/* Read until the stream's tail names nothing unread, then apply. */
static int follow(struct mf_mirror *m, step *s, unsigned *applied)
{
    redisReply *exec = NULL;
    int rc = 0, round = 0;
    for (; round < PULL_ROUNDS; round++) {
        if ((rc = read_round(m, s, &exec)))
            return rc;
        s->grew = false;
        const redisReply *tail = exec->element[0];
        if (tail->type == REDIS_REPLY_ERROR) {
            rc = mm_reply_error(m, tail, m->k_log);
        } else if (tail->type == REDIS_REPLY_ARRAY && tail->elements > PULL_TAIL_MAX) {
            s->resync = "more than 10000 batches arrived while reading";
        } else {
            rc = step_entries(m, s, tail);
        }
        if (rc || s->resync || !s->grew)
            break;
        freeReplyObject(exec);
        exec = NULL;
    }
    if (!rc && !s->resync && round == PULL_ROUNDS)
        s->resync = "the records changed faster than the pull could read them";
    if (!rc && !s->resync) {
        mm_state st = {0};
        rc = step_state(m, s, exec, &st);
        if (!rc)
            rc = apply_step(m, s, &st, applied);
        free(st.recs);
        free(st.removed);
    }
    if (exec)
        freeReplyObject(exec);
    return rc;
}

/* Entries that carried every record they put: their state is known
 * without reading the keys. */
static int apply_carried(struct mf_mirror *m, step *s, unsigned *applied)
{
    mm_state st = {0};
    st.recs = calloc(s->n, sizeof *st.recs);
    st.removed = calloc(s->n, sizeof *st.removed);
    int rc = 0;
    if (!st.recs || !st.removed)
        rc = mm_fail(MF_ENOMEM, "no memory for a batch of %zu names", s->n);
    for (size_t i = 0; i < s->n && !rc; i++) {
        if (mm_table_find(&s->names, s->order[i])->valid)
            st.recs[st.n++] = s->recs[i];
        else
            st.removed[st.nremoved++] = s->order[i];
    }
    if (!rc)
        rc = apply_step(m, s, &st, applied);
    free(st.recs);
    free(st.removed);
    return rc;
}

static int incremental(struct mf_mirror *m, int timeout_ms, unsigned *applied)
{
    redisReply *r;
    int rc = xread(m, timeout_ms, &r);
    if (rc)
        return rc;
    const redisReply *list;
    if ((rc = xread_entries(m, r, &list)) || !list) {
        freeReplyObject(r);
        return rc ? rc : idle_check(m);
    }
    step s = {.seq = m->seq, .last_id = m->last_id, .carried = true};
    mm_table_init(&s.names);
    rc = step_entries(m, &s, list);
    m->head_gone = false;
    m->ahead = 0;
    if (!rc && !s.resync && s.n && s.carried)
        rc = apply_carried(m, &s, applied);
    else if (!rc && !s.resync && s.n)
        rc = follow(m, &s, applied);
    else if (!rc && !s.resync && s.entries) { /* batches that changed nothing */
        m->seq = s.seq;
        m->last_id = s.last_id;
        m->st.seq = m->seq;
    }
    if (!rc && s.resync) {
        mm_log(m, MF_MIRROR_LOG_WARN, "%s: %s: syncing in full", m->ep.shown, s.resync);
        m->synced = false;
    }
    if (rc == MF_MIRROR_EREMOTE || rc == MF_ENOENT || rc == MF_EREPLACED)
        m->synced = false; /* a bad entry is not read twice: the keys may be
                              fine; a mirror file removed is made anew */
    step_free(&s);
    freeReplyObject(r);
    return rc;
}

int mf_mirror_pull(mf_mirror *m, int timeout_ms, unsigned *applied)
{
    mm_clear_detail();
    unsigned n = 0;
    if (applied)
        *applied = 0;
    if (!m || m->is_push)
        return mm_fail(MF_EINVAL, "mf_mirror_pull: %s", m ? "not a pull" : "NULL mirror");
    mm_local_check(m);
    int rc = mm_connect(m);
    if (!rc && m->synced)
        rc = incremental(m, timeout_ms < 0 ? 0 : timeout_ms, &n);
    if (!rc && !m->synced)
        rc = full_sync(m, &n);
    if (applied)
        *applied = n;
    return rc;
}
