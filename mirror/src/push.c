/*
 * push.c - publish a map file's changes to Redis.
 *
 * On connecting, the push reads what Redis holds (the head, the names and
 * each record's class, version, size, checksum and generation) into its
 * table. A push then reads the source through one read view, sends every
 * record that differs from the table and removes every name the source no
 * longer holds, with the head and a stream entry, in one MULTI/EXEC.
 */
#include "mirror_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* Tries of one read view before giving up with MF_EBUSY. */
#define PUSH_VIEW_TRIES 100
/* Source fields read back from Redis when connecting. */
static const char *const remote_fields[] = {"class", "version", "size", "checksum",
                                            "generation"};
enum { NREMOTE = 5 };

typedef struct push_put {
    char *name;
    mf_record_info info;
    void *data;
    bool is_new;  /* not yet in the names set, or moving to its end */
    double score;
} push_put;

typedef struct push_plan {
    push_put *puts;
    size_t nputs, cap;
    char **dels;
    size_t ndels, dcap;
    uint64_t batch, records, payload, max_size;
    char title[128];
} push_plan;

static void plan_free(push_plan *p)
{
    for (size_t i = 0; i < p->nputs; i++) {
        free(p->puts[i].name);
        free(p->puts[i].data);
    }
    for (size_t i = 0; i < p->ndels; i++)
        free(p->dels[i]);
    free(p->puts);
    free(p->dels);
    memset(p, 0, sizeof *p);
}

/* ------------------------------------------------------------------------ */
/* What Redis holds                                                         */
/* ------------------------------------------------------------------------ */

static void new_epoch(struct mf_mirror *m)
{
    uint64_t e = 0;
    if (getrandom(&e, sizeof e, 0) != (ssize_t)sizeof e)
        e = mm_now_ns() ^ ((uint64_t)getpid() << 32);
    mm_hex64(e, m->epoch);
    m->seq = 0;
    m->next_score = 1;
    m->fresh = true;
    mm_table_clear(&m->pushed);
}

static int start_fresh(struct mf_mirror *m, const char *why)
{
    if (why)
        mm_log(m, MF_MIRROR_LOG_WARN, "%s: %s: rewriting namespace '%s' from the source",
               m->ep.shown, why, m->ns);
    new_epoch(m);
    m->loaded = true;
    return 0;
}

static int parse_score(const redisReply *r, double *out)
{
    if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len > 40)
        return -1;
    char buf[48];
    memcpy(buf, r->str, r->len);
    buf[r->len] = '\0';
    char *end;
    double d = strtod(buf, &end);
    if (*end || !isfinite(d))
        return -1;
    *out = d;
    return 0;
}

/* Names and scores from ZRANGE WITHSCORES into the table. */
static const char *load_names(struct mf_mirror *m, const redisReply *r)
{
    if (r->type == REDIS_REPLY_ERROR)
        return "the names key is not a sorted set";
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2)
        return "ZRANGE of the names gave no name/score list";
    for (size_t i = 0; i < r->elements; i += 2) {
        const redisReply *n = r->element[i];
        double score;
        if (n->type != REDIS_REPLY_STRING || mm_name_problem(n->str, n->len) ||
            strlen(n->str) != n->len || parse_score(r->element[i + 1], &score))
            return "the names set holds an invalid name or score";
        bool added;
        mm_entry *e = mm_table_put(&m->pushed, n->str, &added);
        if (!e)
            return "no memory for the names";
        mm_meta *meta = &e->meta;
        memset(meta, 0, sizeof *meta);
        meta->score = score;
        if (score >= (double)m->next_score)
            m->next_score = (uint64_t)score + 1;
    }
    return NULL;
}

/* One HMGET reply of a record into its table entry (valid or not). */
static void load_record(mm_meta *meta, const redisReply *r)
{
    meta->valid = false;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != NREMOTE)
        return;
    const redisReply *const *f = (const redisReply *const *)r->element;
    for (int i = 0; i < NREMOTE; i++)
        if (f[i]->type != REDIS_REPLY_STRING)
            return;
    uint64_t version;
    if (mm_class_problem(f[0]->str, f[0]->len) ||
        mm_parse_u64(f[1]->str, f[1]->len, &version) || version > UINT32_MAX ||
        mm_parse_u64(f[2]->str, f[2]->len, &meta->size) ||
        mm_parse_hex64(f[3]->str, f[3]->len, &meta->checksum) ||
        mm_parse_u64(f[4]->str, f[4]->len, &meta->generation))
        return;
    memcpy(meta->class_name, f[0]->str, f[0]->len);
    meta->class_name[f[0]->len] = '\0';
    meta->version = (uint32_t)version;
    meta->valid = true;
}

static int load_records(struct mf_mirror *m)
{
    mm_args a;
    mm_args_init(&a);
    size_t pos = 0;
    int rc = 0;
    for (mm_entry *e; !rc && (e = mm_table_next(&m->pushed, &pos));) {
        size_t kl;
        char *key = mm_rec_key(m, e->name, strlen(e->name), &kl);
        mm_args_reset(&a);
        mm_args_str(&a, "HMGET");
        mm_args_add(&a, key ? key : "", key ? kl : 0);
        for (int i = 0; i < NREMOTE; i++)
            mm_args_str(&a, remote_fields[i]);
        if (!key)
            a.oom = true;
        rc = mm_append(m, &a);
        free(key);
    }
    mm_args_free(&a);
    pos = 0;
    for (mm_entry *e; !rc && (e = mm_table_next(&m->pushed, &pos));) {
        redisReply *r;
        if ((rc = mm_reply(m, &r)))
            break;
        load_record(&e->meta, r);
        freeReplyObject(r);
    }
    return rc;
}

static int simple(struct mf_mirror *m, redisReply **r, const char *cmd, const char *key,
                  const char *a1, const char *a2, const char *a3)
{
    mm_args a;
    mm_args_init(&a);
    mm_args_str(&a, cmd);
    mm_args_str(&a, key);
    if (a1)
        mm_args_str(&a, a1);
    if (a2)
        mm_args_str(&a, a2);
    if (a3)
        mm_args_str(&a, a3);
    int rc = mm_command(m, &a, r);
    mm_args_free(&a);
    return rc;
}

/* Read what Redis holds into the table (after connecting). */
static int load_remote(struct mf_mirror *m)
{
    redisReply *r;
    mm_head h;
    int rc = simple(m, &r, "HGETALL", m->k_head, NULL, NULL, NULL);
    if (rc)
        return rc;
    rc = mm_parse_head(m, r, &h);
    freeReplyObject(r);
    if (rc == MF_MIRROR_ENOSOURCE) {
        mm_log(m, MF_MIRROR_LOG_INFO, "%s: namespace '%s' is empty: publishing every "
               "record", m->ep.shown, m->ns);
        return start_fresh(m, NULL);
    }
    if (rc)
        return rc; /* not ours: leave it alone */
    mm_table_clear(&m->pushed);
    memcpy(m->epoch, h.epoch, sizeof m->epoch);
    m->seq = h.seq;
    m->next_score = 1;
    m->fresh = false;
    if ((rc = simple(m, &r, "ZRANGE", m->k_names, "0", "-1", "WITHSCORES")))
        return rc;
    const char *why = load_names(m, r);
    freeReplyObject(r);
    if (why)
        return start_fresh(m, why);
    if ((rc = load_records(m)))
        return rc;
    m->loaded = true;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* What changed in the source                                               */
/* ------------------------------------------------------------------------ */

static bool unchanged(const mm_meta *meta, const mf_record_info *info)
{
    return meta && meta->valid && meta->generation == info->generation &&
           meta->checksum == info->checksum && meta->size == info->size &&
           meta->version == info->class_version &&
           strcmp(meta->class_name, info->class_name) == 0;
}

/* @p moved: the name has its place at the end of the names set to take
 * (scan_view). */
static int plan_put(push_plan *p, mf_txn *txn, const mf_record_info *info,
                    const mm_meta *meta, bool moved, struct mf_mirror *m)
{
    if (p->nputs == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4;
        push_put *v = realloc(p->puts, cap * sizeof *v);
        if (!v)
            return MF_ENOMEM;
        p->puts = v;
        p->cap = cap;
    }
    push_put *put = &p->puts[p->nputs];
    memset(put, 0, sizeof *put);
    int rc = mf_txn_get_raw_alloc(txn, info->name, &put->data, &put->info);
    if (rc)
        return rc;
    if (!(put->name = strdup(info->name))) {
        free(put->data);
        return MF_ENOMEM;
    }
    put->is_new = !meta || m->fresh || moved;
    put->score = meta && !m->fresh ? meta->score : 0;
    p->payload += put->info.size;
    p->nputs++;
    return 0;
}

static int plan_dels(push_plan *p, struct mf_mirror *m)
{
    size_t pos = 0;
    for (mm_entry *e; (e = mm_table_next(&m->pushed, &pos));) {
        if (e->meta.seen)
            continue;
        if (p->ndels == p->dcap) {
            size_t cap = p->dcap ? p->dcap * 2 : 64;
            char **v = realloc(p->dels, cap * sizeof *v);
            if (!v)
                return MF_ENOMEM;
            p->dels = v;
            p->dcap = cap;
        }
        if (!(p->dels[p->ndels] = strdup(e->name)))
            return MF_ENOMEM;
        p->ndels++;
    }
    return 0;
}

static void clear_seen(mm_table *t)
{
    size_t pos = 0;
    for (mm_entry *e; (e = mm_table_next(t, &pos));)
        e->meta.seen = false;
}

/* A record Redis cannot take (one string of more than proto-max-bulk-len
 * bytes; Redis would drop the connection, and the batch with it): it is
 * left out, as if removed, so no mirror shows an old version of it as
 * current, and said once per version of it. */
static bool too_big(struct mf_mirror *m, const mf_record_info *info)
{
    if (info->size <= m->bulk_max) {
        if (m->too_big.count)
            mm_table_del(&m->too_big, info->name);
        return false;
    }
    bool added;
    mm_entry *e = mm_table_put(&m->too_big, info->name, &added);
    if (!e || added || e->meta.generation != info->generation) {
        char q[MM_QUOTE_CAP];
        mm_log(m, MF_MIRROR_LOG_ERROR, "%s: record '%s' (%llu bytes) is larger than the "
               "largest string Redis takes (proto-max-bulk-len, %llu bytes): it is "
               "left out of the mirrors until it fits; raise proto-max-bulk-len in "
               "redis.conf to mirror it", m->ep.shown,
               mm_quote(q, sizeof q, info->name, strlen(info->name)),
               (unsigned long long)info->size, (unsigned long long)m->bulk_max);
        if (e)
            e->meta.generation = info->generation;
    }
    return true;
}

/* One read view: the changed records and the removed names. */
static int scan_view(struct mf_mirror *m, mf_txn *txn, push_plan *p)
{
    mf_iter it;
    mf_record_info info;
    int rc;
    clear_seen(&m->pushed);
    mf_txn_iter_init(&it, txn, NULL);
    /* The source lists names in insertion order, and the names set must
     * too. A known name scored below the one before it was removed and
     * added again since Redis saw it: it moves to the end, and so does
     * every known name after it (each takes a new, higher score). */
    double last = 0;
    bool moving = false;
    while ((rc = mf_iter_next(&it, &info)) == 1) {
        if (too_big(m, &info))
            continue; /* unseen: a copy Redis holds is deleted */
        mm_meta *meta = mm_table_find(&m->pushed, info.name);
        bool moved = false;
        if (meta) {
            meta->seen = true;
            moved = !m->fresh && (moving || meta->score <= last);
            moving |= moved;
            last = meta->score;
        }
        p->records++;
        if ((moved || !unchanged(meta, &info)) &&
            (rc = plan_put(p, txn, &info, meta, moved, m)))
            return rc;
    }
    if (rc < 0)
        return rc;
    p->batch = mf_txn_batch(txn);
    return plan_dels(p, m);
}

static int scan_source(struct mf_mirror *m, push_plan *p)
{
    mf_file_info fi;
    int rc = MF_ESNAPSHOT;
    for (int i = 0; i < PUSH_VIEW_TRIES && rc == MF_ESNAPSHOT; i++) {
        plan_free(p);
        mf_txn *txn;
        if ((rc = mf_txn_begin(m->src, &txn)) == 0) {
            rc = scan_view(m, txn, p);
            mf_txn_end(txn);
        }
    }
    if (rc == MF_ESNAPSHOT)
        return mm_fail(MF_EBUSY, "writers replaced records of the source faster than "
                       "a read view could read them, %d times", PUSH_VIEW_TRIES);
    if (rc)
        return mm_fail_core(rc, "reading the source");
    if ((rc = mf_file_stat(m->src, &fi)))
        return mm_fail_core(rc, "reading the source");
    snprintf(p->title, sizeof p->title, "%s", fi.title);
    p->max_size = fi.max_size;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Sending one batch                                                        */
/* ------------------------------------------------------------------------ */

/* Every record key of the namespace (a fresh write deletes them all). */
static int scan_keys(struct mf_mirror *m, char ***keys, size_t *n)
{
    char pattern[128], cursor[32] = "0";
    snprintf(pattern, sizeof pattern, "%s*", m->k_rec);
    size_t cap = 0;
    *keys = NULL;
    *n = 0;
    do {
        redisReply *r;
        int rc = simple(m, &r, "SCAN", cursor, "MATCH", pattern, NULL);
        if (rc)
            return rc;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[0]->len >= sizeof cursor ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            rc = r->type == REDIS_REPLY_ERROR ? mm_reply_error(m, r, "SCAN")
                                              : mm_fail(MF_MIRROR_EREDIS, "%s: SCAN gave %s",
                                                        m->ep.shown, mm_type_name(r));
            freeReplyObject(r);
            return rc;
        }
        memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);
        const redisReply *list = r->element[1];
        for (size_t i = 0; i < list->elements; i++) {
            const redisReply *k = list->element[i];
            if (k->type != REDIS_REPLY_STRING)
                continue;
            if (*n == cap) {
                cap = cap ? cap * 2 : 64;
                char **v = realloc(*keys, cap * sizeof *v);
                if (!v) {
                    freeReplyObject(r);
                    return MF_ENOMEM;
                }
                *keys = v;
            }
            char *copy = malloc(k->len + 1);
            if (!copy) {
                freeReplyObject(r);
                return MF_ENOMEM;
            }
            memcpy(copy, k->str, k->len + 1);
            (*keys)[(*n)++] = copy;
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

/* Append one command from the argument list and count it as queued. */
static int queue(struct mf_mirror *m, mm_args *a, int *queued)
{
    int rc = mm_append(m, a);
    mm_args_reset(a);
    if (!rc)
        (*queued)++;
    return rc;
}

static int queue_key(struct mf_mirror *m, mm_args *a, int *queued, const char *cmd,
                     const char *key, size_t kl)
{
    mm_args_str(a, cmd);
    mm_args_add(a, key, kl);
    return queue(m, a, queued);
}

static int queue_put(struct mf_mirror *m, mm_args *a, int *queued, push_put *put)
{
    size_t kl;
    char *key = mm_rec_key(m, put->name, strlen(put->name), &kl);
    if (!key)
        return MF_ENOMEM;
    char sum[17];
    mm_hex64(put->info.checksum, sum);
    /* DEL first: HSET then cannot meet a key of another type. */
    int rc = queue_key(m, a, queued, "DEL", key, kl);
    if (!rc) {
        const mf_record_info *i = &put->info;
        mm_args_str(a, "HSET");
        mm_args_add(a, key, kl);
        mm_args_str(a, "class");
        mm_args_str(a, i->class_name);
        mm_args_str(a, "version");
        mm_args_u64(a, i->class_version);
        mm_args_str(a, "size");
        mm_args_u64(a, i->size);
        mm_args_str(a, "checksum");
        mm_args_str(a, sum);
        mm_args_str(a, "generation");
        mm_args_u64(a, i->generation);
        mm_args_str(a, "update_count");
        mm_args_u64(a, i->update_count);
        mm_args_str(a, "time_ns");
        mm_args_u64(a, i->update_time_ns);
        mm_args_str(a, "batch");
        mm_args_u64(a, i->batch);
        mm_args_str(a, "data");
        mm_args_add(a, put->data ? put->data : "", (size_t)i->size);
        rc = queue(m, a, queued);
    }
    if (!rc && put->is_new) {
        put->score = (double)m->next_score++;
        mm_args_str(a, "ZADD");
        mm_args_str(a, m->k_names);
        mm_args_fmt(a, "%.17g", put->score);
        mm_args_str(a, put->name);
        rc = queue(m, a, queued);
    }
    free(key);
    return rc;
}

static int queue_del(struct mf_mirror *m, mm_args *a, int *queued, const char *name)
{
    size_t kl;
    char *key = mm_rec_key(m, name, strlen(name), &kl);
    if (!key)
        return MF_ENOMEM;
    int rc = queue_key(m, a, queued, "DEL", key, kl);
    free(key);
    if (!rc) {
        mm_args_str(a, "ZREM");
        mm_args_str(a, m->k_names);
        mm_args_str(a, name);
        rc = queue(m, a, queued);
    }
    return rc;
}

/* Names joined by newlines (names cannot hold one). */
static char *join_names(push_plan *p, bool dels, size_t *len)
{
    size_t n = dels ? p->ndels : p->nputs, total = 0;
    for (size_t i = 0; i < n; i++)
        total += strlen(dels ? p->dels[i] : p->puts[i].name) + 1;
    char *s = malloc(total + 1), *o = s;
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *name = dels ? p->dels[i] : p->puts[i].name;
        size_t l = strlen(name);
        memcpy(o, name, l);
        o += l;
        *o++ = '\n';
    }
    *len = total ? total - 1 : 0;
    s[*len] = '\0';
    return s;
}

static int queue_head(struct mf_mirror *m, mm_args *a, int *queued, push_plan *p)
{
    int rc = queue_key(m, a, queued, "DEL", m->k_head, strlen(m->k_head));
    if (rc)
        return rc;
    mm_args_str(a, "HSET");
    mm_args_str(a, m->k_head);
    mm_args_str(a, "format");
    mm_args_u64(a, MF_MIRROR_FORMAT);
    mm_args_str(a, "epoch");
    mm_args_str(a, m->epoch);
    mm_args_str(a, "seq");
    mm_args_u64(a, m->seq + 1);
    mm_args_str(a, "batch");
    mm_args_u64(a, p->batch);
    mm_args_str(a, "title");
    mm_args_str(a, p->title);
    mm_args_str(a, "max_size");
    mm_args_u64(a, p->max_size);
    mm_args_str(a, "records");
    mm_args_u64(a, p->records);
    mm_args_str(a, "time_ns");
    mm_args_u64(a, mm_now_ns());
    mm_args_str(a, "pusher");
    mm_args_str(a, m->pusher);
    return queue(m, a, queued);
}

/* "CLASS\nVERSION\nCHECKSUM\nPAYLOAD", malloc'd. */
static char *inline_rec(const push_put *put, size_t *len)
{
    char head[MF_CLASS_NAME_MAX + 48], sum[17];
    mm_hex64(put->info.checksum, sum);
    int hl = snprintf(head, sizeof head, "%s\n%u\n%s\n", put->info.class_name,
                      put->info.class_version, sum);
    size_t n = (size_t)hl + (size_t)put->info.size;
    char *buf = malloc(n ? n : 1);
    if (buf) {
        memcpy(buf, head, (size_t)hl);
        if (put->info.size)
            memcpy(buf + hl, put->data, (size_t)put->info.size);
    }
    *len = n;
    return buf;
}

/* A small batch rides in its stream entry as well: a pull applies it
 * without a second round trip. */
static bool carry_records(const push_plan *p)
{
    return p->nputs <= MM_INLINE_RECORDS && p->payload <= MM_INLINE_BYTES;
}

static int queue_entry(struct mf_mirror *m, mm_args *a, int *queued, push_plan *p)
{
    size_t pl = 0, dl = 0;
    char *puts = join_names(p, false, &pl), *dels = join_names(p, true, &dl);
    int rc = MF_ENOMEM;
    if (puts && dels) {
        mm_args_str(a, "XADD");
        mm_args_str(a, m->k_log);
        mm_args_str(a, "MAXLEN");
        mm_args_str(a, "~");
        mm_args_u64(a, m->maxlen);
        mm_args_str(a, "*");
        mm_args_str(a, "epoch");
        mm_args_str(a, m->epoch);
        mm_args_str(a, "seq");
        mm_args_u64(a, m->seq + 1);
        mm_args_str(a, "batch");
        mm_args_u64(a, p->batch);
        mm_args_str(a, "put");
        mm_args_add(a, puts, pl);
        mm_args_str(a, "del");
        mm_args_add(a, dels, dl);
        if (m->fresh) {
            mm_args_str(a, "reset");
            mm_args_str(a, "1");
        }
        for (size_t i = 0; i < p->nputs && carry_records(p) && !m->fresh; i++) {
            size_t len;
            char *rec = inline_rec(&p->puts[i], &len);
            mm_args_str(a, "rec");
            mm_args_take(a, rec, len);
        }
        rc = queue(m, a, queued);
    }
    free(puts);
    free(dels);
    return rc;
}

/* A fresh write starts from nothing: no stream, no names, no records. */
static int queue_wipe(struct mf_mirror *m, mm_args *a, int *queued, char **keys, size_t n)
{
    int rc = queue_key(m, a, queued, "DEL", m->k_log, strlen(m->k_log));
    if (!rc)
        rc = queue_key(m, a, queued, "DEL", m->k_names, strlen(m->k_names));
    for (size_t i = 0; i < n && !rc; i++)
        rc = queue_key(m, a, queued, "DEL", keys[i], strlen(keys[i]));
    return rc;
}

static int queue_batch(struct mf_mirror *m, push_plan *p, char **keys, size_t nkeys,
                       int *queued)
{
    mm_args a;
    mm_args_init(&a);
    mm_args_str(&a, "MULTI");
    int rc = mm_append(m, &a), q = 0;
    mm_args_reset(&a);
    if (!rc && m->fresh)
        rc = queue_wipe(m, &a, &q, keys, nkeys);
    for (size_t i = 0; i < p->ndels && !rc; i++)
        rc = queue_del(m, &a, &q, p->dels[i]);
    for (size_t i = 0; i < p->nputs && !rc; i++)
        rc = queue_put(m, &a, &q, &p->puts[i]);
    if (!rc)
        rc = queue_head(m, &a, &q, p);
    if (!rc)
        rc = queue_entry(m, &a, &q, p);
    if (!rc) {
        mm_args_str(&a, "EXEC");
        rc = mm_append(m, &a);
    }
    mm_args_free(&a);
    *queued = q;
    if (rc == MF_ENOMEM) {
        mm_disconnect(m);
        return mm_fail(rc, "no memory for a batch of %zu records", p->nputs);
    }
    return rc;
}

/* After EXEC: Redis holds the batch; so does the table. */
static int remember(struct mf_mirror *m, push_plan *p)
{
    for (size_t i = 0; i < p->ndels; i++)
        mm_table_del(&m->pushed, p->dels[i]);
    for (size_t i = 0; i < p->nputs; i++) {
        bool added;
        mm_entry *e = mm_table_put(&m->pushed, p->puts[i].name, &added);
        mm_meta *meta = e ? &e->meta : NULL;
        if (!meta) {
            m->loaded = false; /* re-read it from Redis next time */
            return mm_fail(MF_ENOMEM, "no memory for the push's table");
        }
        const mf_record_info *info = &p->puts[i].info;
        snprintf(meta->class_name, sizeof meta->class_name, "%s", info->class_name);
        meta->version = info->class_version;
        meta->size = info->size;
        meta->checksum = info->checksum;
        meta->generation = info->generation;
        meta->score = p->puts[i].score;
        meta->valid = true;
    }
    m->seq++;
    m->fresh = false;
    m->st.batches++;
    m->st.records += p->nputs;
    m->st.removed += p->ndels;
    m->st.payload_bytes += p->payload;
    m->st.seq = m->seq;
    return 0;
}

static int check_exec(struct mf_mirror *m, redisReply *exec)
{
    for (size_t i = 0; i < exec->elements; i++)
        if (exec->element[i]->type == REDIS_REPLY_ERROR) {
            /* Redis ran the rest: rewrite the namespace under a new epoch so
             * every pull syncs in full from a state written whole. */
            int rc = mm_reply_error(m, exec->element[i], "a command of the batch");
            m->loaded = false;
            return mm_context(rc == MF_MIRROR_EREMOTE ? MF_MIRROR_EREDIS : rc,
                              "Redis applied the batch only in part");
        }
    return 0;
}

static int send_batch(struct mf_mirror *m, push_plan *p)
{
    char **keys = NULL;
    size_t nkeys = 0;
    int queued = 0, rc = m->fresh ? scan_keys(m, &keys, &nkeys) : 0;
    if (!rc)
        rc = queue_batch(m, p, keys, nkeys, &queued);
    for (size_t i = 0; i < nkeys; i++)
        free(keys[i]);
    free(keys);
    if (rc)
        return rc;
    redisReply *exec;
    if ((rc = mm_exec_replies(m, queued, &exec, "publishing a batch")))
        return rc;
    rc = check_exec(m, exec);
    freeReplyObject(exec);
    if (rc) {
        mm_disconnect(m);
        m->fresh = true; /* after reconnecting, even if the head looks fine */
        return rc;
    }
    return remember(m, p);
}

/* ------------------------------------------------------------------------ */
/* The API                                                                  */
/* ------------------------------------------------------------------------ */

static int ensure_loaded(struct mf_mirror *m)
{
    bool force_fresh = m->fresh && !m->c;
    int rc = mm_connect(m);
    if (!rc && !m->loaded) {
        if ((rc = load_remote(m)))
            mm_disconnect(m);
        else if (force_fresh && !m->fresh)
            start_fresh(m, "the last batch was applied only in part");
    }
    return rc;
}

int mf_mirror_push(mf_mirror *m)
{
    mm_clear_detail();
    if (!m || !m->is_push)
        return mm_fail(MF_EINVAL, "mf_mirror_push: %s", m ? "not a push" : "NULL mirror");
    int rc = ensure_loaded(m);
    if (rc)
        return rc;
    push_plan p = {0};
    if ((rc = scan_source(m, &p)) == 0 && (p.nputs || p.ndels || m->fresh))
        rc = send_batch(m, &p);
    plan_free(&p);
    return rc;
}

/* An idle push checks that Redis still holds its namespace (a server that
 * restarted without persistence lost it, or a pull flushed it). */
int mm_push_probe(struct mf_mirror *m)
{
    if (!m->c || !m->loaded)
        return 0;
    redisReply *r;
    int rc = simple(m, &r, "HMGET", m->k_head, "epoch", "seq", "pusher");
    if (rc)
        return rc;
    char seq[24];
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)m->seq);
    bool same = r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
                r->element[0]->type == REDIS_REPLY_STRING &&
                r->element[1]->type == REDIS_REPLY_STRING &&
                r->element[0]->len == 16 && memcmp(r->element[0]->str, m->epoch, 16) == 0 &&
                strcmp(r->element[1]->str, seq) == 0;
    /* The head names the push that wrote it last: another one means two
     * pushes share the namespace, each rewriting what the other wrote. */
    char other[MM_QUOTE_CAP] = "";
    if (!same && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
        r->element[2]->type == REDIS_REPLY_STRING &&
        (r->element[2]->len != strlen(m->pusher) ||
         memcmp(r->element[2]->str, m->pusher, r->element[2]->len) != 0))
        mm_quote(other, sizeof other, r->element[2]->str, r->element[2]->len);
    freeReplyObject(r);
    if (!same && other[0]) {
        mm_log(m, MF_MIRROR_LOG_WARN, "%s: another push (%s) writes namespace '%s': run "
               "one push per namespace (each rewrites what the other wrote); reading it "
               "again", m->ep.shown, other, m->ns);
        m->loaded = false;
    } else if (!same) {
        mm_log(m, MF_MIRROR_LOG_WARN, "%s: namespace '%s' is not as this push left it "
               "(Redis restarted or was changed): reading it again", m->ep.shown, m->ns);
        m->loaded = false;
    }
    return 0;
}
