/*
 * remote.c - everything read from Redis is hostile: every reply's type,
 * every number, name, class name, size and checksum is checked here before
 * anything uses it. A failure is MF_MIRROR_EREMOTE naming the key.
 */
#include "mirror_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

const char *const mm_record_fields[MM_NFIELDS] = {
    "class", "version", "size", "checksum", "generation",
    "update_count", "time_ns", "batch", "data"};

const char *mm_type_name(const redisReply *r)
{
    switch (r ? r->type : 0) {
    case REDIS_REPLY_STRING:
        return "a string";
    case REDIS_REPLY_ARRAY:
        return "an array";
    case REDIS_REPLY_INTEGER:
        return "an integer";
    case REDIS_REPLY_NIL:
        return "nil";
    case REDIS_REPLY_STATUS:
        return "a status";
    case REDIS_REPLY_ERROR:
        return "an error";
    }
    return "nothing";
}

int mm_parse_u64(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > 20)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int mm_parse_hex64(const char *s, size_t len, uint64_t *out)
{
    if (len != 16)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 0;
}

void mm_hex64(uint64_t v, char out[17])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, v >>= 4)
        out[i] = digits[v & 15];
    out[16] = '\0';
}

const char *mm_name_problem(const char *s, size_t len)
{
    if (len == 0)
        return "the name is empty";
    if (len > MF_NAME_MAX)
        return "the name is longer than 255 bytes";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return "the name contains a control character";
    }
    return NULL;
}

const char *mm_class_problem(const char *s, size_t len)
{
    if (len == 0 || len > MF_CLASS_NAME_MAX)
        return "a class name must be 1 to 127 bytes";
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' || c == '-';
        if (!ok)
            return "a class name holds only letters, digits and _ . : -";
    }
    return NULL;
}

int mm_parse_id(const char *s, size_t len, mm_id *out)
{
    const char *dash = memchr(s, '-', len);
    if (!dash)
        return -1;
    size_t a = (size_t)(dash - s);
    if (mm_parse_u64(s, a, &out->ms) || mm_parse_u64(dash + 1, len - a - 1, &out->seq))
        return -1;
    return 0;
}

int mm_id_cmp(mm_id a, mm_id b)
{
    if (a.ms != b.ms)
        return a.ms < b.ms ? -1 : 1;
    if (a.seq != b.seq)
        return a.seq < b.seq ? -1 : 1;
    return 0;
}

void mm_id_str(mm_id id, char *buf, size_t cap)
{
    snprintf(buf, cap, "%llu-%llu", (unsigned long long)id.ms, (unsigned long long)id.seq);
}

static bool is_str(const redisReply *r)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

static bool field_is(const redisReply *r, const char *name)
{
    return is_str(r) && r->len == strlen(name) && memcmp(r->str, name, r->len) == 0;
}

/* ------------------------------------------------------------------------ */
/* The head                                                                 */
/* ------------------------------------------------------------------------ */

static int head_bad(struct mf_mirror *m, const char *why)
{
    return mm_fail(MF_MIRROR_EREMOTE, "%s: %s %s; it was not written by `mapf mirror "
                   "push` (format %d): delete the namespace's keys or use another "
                   "--ns", m->ep.shown, m->k_head, why, MF_MIRROR_FORMAT);
}

static int head_field(struct mf_mirror *m, mm_head *h, const redisReply *k,
                      const redisReply *v, unsigned *have)
{
    if (!is_str(k) || !is_str(v))
        return head_bad(m, "holds a field that is not a string");
    if (field_is(k, "format")) {
        if (!field_is(v, "1"))
            return head_bad(m, "has another format");
        *have |= 1;
    } else if (field_is(k, "epoch")) {
        uint64_t e;
        if (mm_parse_hex64(v->str, v->len, &e))
            return head_bad(m, "has an epoch that is not 16 hex digits");
        memcpy(h->epoch, v->str, 16);
        h->epoch[16] = '\0';
        *have |= 2;
    } else if (field_is(k, "seq")) {
        if (mm_parse_u64(v->str, v->len, &h->seq))
            return head_bad(m, "has a seq that is not a number");
        *have |= 4;
    } else if (field_is(k, "batch")) {
        if (mm_parse_u64(v->str, v->len, &h->batch))
            return head_bad(m, "has a batch that is not a number");
    } else if (field_is(k, "records")) {
        if (mm_parse_u64(v->str, v->len, &h->records))
            return head_bad(m, "has a record count that is not a number");
        *have |= 8;
    } else if (field_is(k, "max_size")) {
        if (mm_parse_u64(v->str, v->len, &h->max_size))
            return head_bad(m, "has a max_size that is not a number");
    } else if (field_is(k, "title")) {
        size_t n = v->len < sizeof h->title - 1 ? v->len : sizeof h->title - 1;
        for (size_t i = 0; i < n; i++) /* printable only: it becomes a file title */
            h->title[i] = (unsigned char)v->str[i] < 0x20 || v->str[i] == 0x7f ? '?' : v->str[i];
        h->title[n] = '\0';
    }
    return 0; /* unknown fields are left for later formats */
}

int mm_parse_head(struct mf_mirror *m, const redisReply *r, mm_head *h)
{
    memset(h, 0, sizeof *h);
    if (r->type == REDIS_REPLY_ERROR)
        return mm_reply_error(m, r, m->k_head);
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2)
        return head_bad(m, "is not a hash");
    if (r->elements == 0)
        return mm_fail(MF_MIRROR_ENOSOURCE, "%s: nothing is published under namespace "
                       "'%s' (no %s): start `mapf mirror push` for it", m->ep.shown,
                       m->ns, m->k_head);
    unsigned have = 0;
    for (size_t i = 0; i < r->elements; i += 2) {
        int rc = head_field(m, h, r->element[i], r->element[i + 1], &have);
        if (rc)
            return rc;
    }
    if (have != 15)
        return head_bad(m, "lacks format, epoch, seq or records");
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Stream entries                                                           */
/* ------------------------------------------------------------------------ */

static int entry_bad(struct mf_mirror *m, const char *id, const char *why)
{
    return mm_fail(MF_MIRROR_EREMOTE, "%s: %s entry %s: %s", m->ep.shown, m->k_log, id, why);
}

/* Split "a\nb\nc" into checked names. */
static int split_names(struct mf_mirror *m, const char *id, const redisReply *v,
                       mm_name **out, size_t *n)
{
    size_t count = v->len ? 1 : 0;
    for (size_t i = 0; i < v->len; i++)
        count += v->str[i] == '\n';
    *out = count ? calloc(count, sizeof **out) : NULL;
    *n = 0;
    if (count && !*out)
        return mm_fail(MF_ENOMEM, "no memory for the names of a stream entry");
    const char *s = v->str, *end = v->str + v->len;
    while (count && s <= end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t len = (size_t)((nl ? nl : end) - s);
        const char *why = mm_name_problem(s, len);
        if (why) {
            char q[MM_QUOTE_CAP], msg[MM_QUOTE_CAP + 128];
            snprintf(msg, sizeof msg, "names an invalid record '%s' (%s)",
                     mm_quote(q, sizeof q, s, len), why);
            return entry_bad(m, id, msg);
        }
        (*out)[(*n)++] = (mm_name){s, len};
        if (!nl)
            break;
        s = nl + 1;
    }
    return 0;
}

/* "CLASS\nVERSION\nCHECKSUM\nPAYLOAD": one record carried by an entry. */
static int entry_rec(struct mf_mirror *m, const char *id, mm_entry_info *e,
                     const redisReply *v)
{
    if (e->nrecs >= e->recs_cap)
        return entry_bad(m, id, "carries too many records");
    mm_record *rec = &e->recs[e->nrecs];
    const char *s = v->str, *end = v->str + v->len, *nl[3];
    for (int i = 0; i < 3; i++) {
        nl[i] = memchr(s, '\n', (size_t)(end - s));
        if (!nl[i])
            return entry_bad(m, id, "carries a record without class, version and checksum");
        s = nl[i] + 1;
    }
    size_t cl = (size_t)(nl[0] - v->str);
    uint64_t version;
    if (mm_class_problem(v->str, cl))
        return entry_bad(m, id, "carries a record with a bogus class name");
    if (mm_parse_u64(nl[0] + 1, (size_t)(nl[1] - nl[0] - 1), &version) || version > UINT32_MAX)
        return entry_bad(m, id, "carries a record whose version is not a number");
    if (mm_parse_hex64(nl[1] + 1, (size_t)(nl[2] - nl[1] - 1), &rec->checksum))
        return entry_bad(m, id, "carries a record whose checksum is not 16 hex digits");
    memcpy(rec->class_name, v->str, cl);
    rec->class_name[cl] = '\0';
    rec->version = (uint32_t)version;
    rec->data = s;
    rec->size = (uint64_t)(end - s);
    if (XXH3_64bits(rec->data, (size_t)rec->size) != rec->checksum)
        return entry_bad(m, id, "carries a record whose payload does not match its "
                         "checksum (damaged)");
    e->nrecs++;
    return 0;
}

static int entry_field(struct mf_mirror *m, const char *id, mm_entry_info *e,
                       const redisReply *k, const redisReply *v, unsigned *have)
{
    if (!is_str(k) || !is_str(v))
        return entry_bad(m, id, "has a field that is not a string");
    if (field_is(k, "epoch")) {
        uint64_t x;
        if (mm_parse_hex64(v->str, v->len, &x))
            return entry_bad(m, id, "has an epoch that is not 16 hex digits");
        memcpy(e->epoch, v->str, 16);
        *have |= 1;
    } else if (field_is(k, "seq")) {
        if (mm_parse_u64(v->str, v->len, &e->seq))
            return entry_bad(m, id, "has a seq that is not a number");
        *have |= 2;
    } else if (field_is(k, "batch")) {
        if (mm_parse_u64(v->str, v->len, &e->batch))
            return entry_bad(m, id, "has a batch that is not a number");
    } else if (field_is(k, "reset")) {
        e->reset = field_is(v, "1");
    } else if (field_is(k, "put")) {
        if (e->put)
            return entry_bad(m, id, "has two put fields");
        return split_names(m, id, v, &e->put, &e->nput);
    } else if (field_is(k, "del")) {
        if (e->del)
            return entry_bad(m, id, "has two del fields");
        return split_names(m, id, v, &e->del, &e->ndel);
    } else if (field_is(k, "rec")) {
        return entry_rec(m, id, e, v);
    }
    return 0;
}

int mm_parse_entry(struct mf_mirror *m, const redisReply *r, mm_entry_info *e)
{
    memset(e, 0, sizeof *e);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || !is_str(r->element[0]))
        return entry_bad(m, "?", "is not [id, fields]");
    const redisReply *idr = r->element[0], *f = r->element[1];
    char id[MM_QUOTE_CAP];
    mm_quote(id, sizeof id, idr->str, idr->len);
    if (mm_parse_id(idr->str, idr->len, &e->id))
        return entry_bad(m, id, "has an invalid id");
    if (f->type != REDIS_REPLY_ARRAY || f->elements % 2)
        return entry_bad(m, id, "has no field list");
    /* Room for the records the entry carries, counted first: a pull's
     * every step parses entries, and most carry one record or none. */
    size_t nrec = 0;
    for (size_t i = 0; i < f->elements; i += 2)
        nrec += field_is(f->element[i], "rec");
    if (nrec > MM_INLINE_RECORDS)
        return entry_bad(m, id, "carries too many records");
    if (nrec && !(e->recs = calloc(nrec, sizeof *e->recs)))
        return mm_fail(MF_ENOMEM, "no memory for the records of a stream entry");
    e->recs_cap = nrec;
    unsigned have = 0;
    for (size_t i = 0; i < f->elements; i += 2) {
        int rc = entry_field(m, id, e, f->element[i], f->element[i + 1], &have);
        if (rc) {
            mm_entry_info_free(e);
            return rc;
        }
    }
    if (have != 3) {
        mm_entry_info_free(e);
        return entry_bad(m, id, "lacks epoch or seq");
    }
    if (e->nrecs && e->nrecs != e->nput) {
        mm_entry_info_free(e);
        return entry_bad(m, id, "carries a record count that differs from its names");
    }
    for (size_t i = 0; i < e->nrecs; i++)
        e->recs[i].name = NULL; /* the caller names them */
    return 0;
}

void mm_entry_info_free(mm_entry_info *e)
{
    free(e->put);
    free(e->del);
    free(e->recs);
    e->put = e->del = NULL;
    e->recs = NULL;
    e->nput = e->ndel = e->nrecs = e->recs_cap = 0;
}

/* ------------------------------------------------------------------------ */
/* Records                                                                  */
/* ------------------------------------------------------------------------ */

static int rec_bad(struct mf_mirror *m, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int rec_bad(struct mf_mirror *m, const char *name, const char *fmt, ...)
{
    char why[512], q[MM_QUOTE_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return mm_fail(MF_MIRROR_EREMOTE, "%s: %s%s: %s; nothing was applied",
                   m->ep.shown, m->k_rec, mm_quote(q, sizeof q, name, strlen(name)), why);
}

static int rec_u64(struct mf_mirror *m, const char *name, const redisReply *v,
                   int field, uint64_t *out)
{
    if (!is_str(v) || mm_parse_u64(v->str, v->len, out))
        return rec_bad(m, name, "field '%s' is %s, not a number", mm_record_fields[field],
                       is_str(v) ? "a string" : mm_type_name(v));
    return 0;
}

static int rec_class(struct mf_mirror *m, const char *name, const redisReply *v,
                     mm_record *rec)
{
    const char *why = is_str(v) ? mm_class_problem(v->str, v->len) : "missing";
    if (why) {
        char q[MM_QUOTE_CAP];
        return rec_bad(m, name, "bogus class name '%s' (%s)",
                       is_str(v) ? mm_quote(q, sizeof q, v->str, v->len) : "", why);
    }
    memcpy(rec->class_name, v->str, v->len);
    rec->class_name[v->len] = '\0';
    return 0;
}

static int rec_payload(struct mf_mirror *m, const char *name, const redisReply *data,
                       const redisReply *sum, mm_record *rec)
{
    if (!is_str(data))
        return rec_bad(m, name, "field 'data' is %s, not the payload", mm_type_name(data));
    if ((uint64_t)data->len != rec->size)
        return rec_bad(m, name, "the payload is %zu bytes but its size field says "
                       "%llu (truncated or padded)", data->len,
                       (unsigned long long)rec->size);
    if (!is_str(sum) || mm_parse_hex64(sum->str, sum->len, &rec->checksum))
        return rec_bad(m, name, "field 'checksum' is not 16 hex digits");
    uint64_t got = XXH3_64bits(data->str, data->len);
    if (got != rec->checksum)
        return rec_bad(m, name, "the payload's checksum is %016llx, not %016llx as "
                       "stored (damaged)", (unsigned long long)got,
                       (unsigned long long)rec->checksum);
    rec->data = data->str;
    return 0;
}

int mm_parse_record(struct mf_mirror *m, const char *name, const redisReply *r,
                    mm_record *rec)
{
    memset(rec, 0, sizeof *rec);
    rec->name = name;
    if (r->type == REDIS_REPLY_ERROR) {
        char q[MM_QUOTE_CAP];
        return rec_bad(m, name, "%s (the key is not a hash)",
                       mm_quote(q, sizeof q, r->str, r->len));
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != MM_NFIELDS)
        return rec_bad(m, name, "HMGET gave %s", mm_type_name(r));
    size_t nil = 0;
    for (size_t i = 0; i < MM_NFIELDS; i++)
        nil += r->element[i]->type == REDIS_REPLY_NIL;
    if (nil == MM_NFIELDS)
        return 0;
    uint64_t v = 0;
    int rc = rec_class(m, name, r->element[MM_F_CLASS], rec);
    if (!rc)
        rc = rec_u64(m, name, r->element[MM_F_VERSION], MM_F_VERSION, &v);
    if (!rc && v > UINT32_MAX)
        rc = rec_bad(m, name, "class version %llu is out of range", (unsigned long long)v);
    rec->version = (uint32_t)v;
    if (!rc)
        rc = rec_u64(m, name, r->element[MM_F_SIZE], MM_F_SIZE, &rec->size);
    if (!rc)
        rc = rec_payload(m, name, r->element[MM_F_DATA], r->element[MM_F_CHECKSUM], rec);
    return rc ? rc : 1;
}
