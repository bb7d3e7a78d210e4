/* records.c - the endpoints that read records: /h.json, /info.json,
 * /NAME/root.json and /NAME/get.json.
 *
 * The server knows no class: ROOT's layout comes from a codec's optional
 * to_root_json hook (tested with MF_CLASS_HAS), everything else from its
 * to_json. /NAME/get.json is the CLI's `get --json` output, produced by the
 * same source (tools/common/objjson.c). */
#include "internal.h"

#include "json.h"
#include "objjson.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <mapfile/schema.h>

/* The start of an object's JSON is enough to read its type and title: the
 * writer stops (sticky error) past this many bytes, so listing a file of
 * big histograms does not format every bin. */
#define HEAD_BYTES 8192

/* Why there is no file yet, copied under the lock the watcher writes it
 * with. */
static const char *no_file_reason(mfw_server *s, char *buf, size_t cap)
{
    pthread_rwlock_rdlock(&s->st.lock);
    snprintf(buf, cap, "%s", atomic_load(&s->file_state) == -1 ? s->file_error
                                                               : "the file does not exist yet");
    pthread_rwlock_unlock(&s->st.lock);
    return buf;
}

static enum MHD_Result reply_waiting(mfw_server *s, struct MHD_Connection *c)
{
    char why[256];
    return mfw_reply_error(c, 503, "WAITING",
                           "%s: %s; the server opens it as soon as it can",
                           s->file, no_file_reason(s, why, sizeof why));
}

/* An mf_get failure as an HTTP status. */
static unsigned status_of(int rc)
{
    switch (rc) {
    case MF_ENOTFOUND: return 404;
    case MF_ENAME:
    case MF_EINVAL: return 400;
    case MF_EBUSY:
    case MF_EREPLACED:
    case MF_ENOMEM: return 503;
    default: return 500; /* no codec, unreadable version, corrupt payload */
    }
}

static enum MHD_Result reply_mf_error(mfw_server *s, struct MHD_Connection *c,
                                      const char *name, int rc)
{
    char raw[512];
    snprintf(raw, sizeof raw, "%s", mf_errdetail());
    /* The library's detail usually starts with the path: say it once. */
    const char *detail = raw, *msg = mf_strerror(rc);
    size_t flen = strlen(s->file);
    mf_file *mf = atomic_load(&s->mf);
    mf_file_info fi;
    if (strncmp(detail, s->file, flen) == 0 && strncmp(detail + flen, ": ", 2) == 0)
        detail += flen + 2;
    else if (mf && mf_file_stat(mf, &fi) == 0 && fi.path &&
             strncmp(detail, fi.path, strlen(fi.path)) == 0 &&
             strncmp(detail + strlen(fi.path), ": ", 2) == 0)
        detail += strlen(fi.path) + 2; /* the absolute path of a relative FILE */
    if (detail[0]) /* the detail says it better than the code's short text */
        msg = "";
    return mfw_reply_error(c, status_of(rc), mf_err_name(rc), "%s: record '%s': %s%s%s",
                           s->file, name, msg, msg[0] && detail[0] ? ": " : "", detail);
}

/* ---- /h.json ---------------------------------------------------------------- */

typedef struct mfw_hrec {
    char *name;
    char cls[MF_CLASS_NAME_MAX + 1];
    uint64_t gen;        /* the record's generation when kind was found */
    char *kind, *title;  /* NULL until found */
} hrec;

static int hrec_cmp(const void *a, const void *b)
{
    return strcmp(((const hrec *)a)->name, ((const hrec *)b)->name);
}

static void hrecs_free(hrec *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].name);
        free(r[i].kind);
        free(r[i].title);
    }
    free(r);
}

void mfw_hier_cache_free(mfw_server *s)
{
    hrecs_free(s->hier_cache, s->hier_n);
    s->hier_cache = NULL;
    s->hier_n = 0;
}

/* Every record's name and class, sorted by name (folders contiguous). */
static int list_records(mf_file *mf, hrec **out, size_t *count)
{
    mf_iter it;
    mf_record_info info;
    size_t n = 0, cap = 64;
    hrec *r = malloc(cap * sizeof *r);
    int rc = r ? 0 : MF_ENOMEM;
    mf_iter_init(&it, mf, NULL);
    while (rc == 0 && (rc = mf_iter_next(&it, &info)) == 1) {
        rc = 0;
        /* Stored schemas are the file's own records, not objects to draw
         * (their get.json and root.json are errors): not in the tree. */
        if (strncmp(info.name, MF_RESERVED_PREFIX, sizeof MF_RESERVED_PREFIX - 1) == 0)
            continue;
        if (n == cap) {
            hrec *g = realloc(r, (cap *= 2) * sizeof *r);
            if (!g) {
                rc = MF_ENOMEM;
                break;
            }
            r = g;
        }
        memcpy(r[n].cls, info.class_name, sizeof r[n].cls);
        r[n].gen = info.generation;
        r[n].kind = r[n].title = NULL;
        if (!(r[n++].name = strdup(info.name)))
            rc = MF_ENOMEM;
    }
    if (rc < 0) {
        hrecs_free(r, n);
        return rc;
    }
    qsort(r, n, sizeof *r, hrec_cmp);
    *out = r;
    *count = n;
    return 0;
}

static int head_reserve(mf_writer *w, size_t need)
{
    size_t want = w->len + need;
    if (want > HEAD_BYTES)
        return -1;
    unsigned char *p = realloc(w->buf, HEAD_BYTES);
    if (!p)
        return -1;
    w->buf = p;
    w->cap = HEAD_BYTES;
    return 0;
}

/* A top-level string member of the JSON head, decoded into out. */
static int head_string(const mf_writer *w, const char *key, char *out, size_t cap)
{
    size_t vs, ve;
    out[0] = '\0';
    if (mfw_json_top_field((const char *)w->buf, w->len, key, &vs, &ve) != 1)
        return -1;
    return mfw_json_decode_string((const char *)w->buf + vs, ve - vs, out, cap);
}

/* The item's _kind ("ROOT.TH1D" from the object's own _typename, else
 * "mapfile.CLASS") and _title. */
static void item_kind(mf_file *mf, const hrec *r, char *kind, size_t kcap,
                      char *title, size_t tcap)
{
    void *obj;
    const mf_class *cls;
    char tn[128];
    snprintf(kind, kcap, "mapfile.%s", r->cls);
    title[0] = '\0';
    if (mf_get(mf, r->name, &obj, &cls) != 0)
        return;
    mf_writer w = {NULL, 0, 0, 0, head_reserve, NULL};
    if (MF_CLASS_HAS(cls, to_root_json)) {
        cls->to_root_json(obj, &w);
        if (head_string(&w, "_typename", tn, sizeof tn) == 0 && tn[0])
            snprintf(kind, kcap, "ROOT.%s", tn);
        head_string(&w, "fTitle", title, tcap);
    } else if (cls->to_json) {
        cls->to_json(obj, &w);
        head_string(&w, "title", title, tcap);
    }
    free(w.buf);
    mf_object_free(cls, obj);
}

static void hier_item(const hrec *r, const char *leaf, mf_writer *w)
{
    mf_w_printf(w, "{\"_name\":");
    mf_w_json_str(w, leaf);
    mf_w_printf(w, ",\"_kind\":");
    mf_w_json_str(w, r->kind ? r->kind : "");
    mf_w_printf(w, ",\"_title\":");
    mf_w_json_str(w, r->title ? r->title : "");
    mf_w_printf(w, ",\"_record\":");
    mf_w_json_str(w, r->name);
    mf_w_printf(w, ",\"_class\":");
    mf_w_json_str(w, r->cls);
    mf_w_u8(w, '}');
}

/* Children of the folder whose names start at byte @p off of r[lo..hi). */
static void hier_level(const hrec *r, size_t lo, size_t hi, size_t off, mf_writer *w)
{
    for (size_t i = lo; i < hi && !w->err;) {
        const char *rest = r[i].name + off, *slash = strchr(rest, '/');
        if (i > lo)
            mf_w_u8(w, ',');
        if (!slash) {
            hier_item(&r[i], rest, w);
            i++;
            continue;
        }
        size_t seg = (size_t)(slash - rest), j = i + 1;
        while (j < hi && strncmp(r[j].name + off, rest, seg + 1) == 0)
            j++;
        char name[MF_NAME_MAX + 1];
        memcpy(name, rest, seg);
        name[seg] = '\0';
        mf_w_printf(w, "{\"_name\":");
        mf_w_json_str(w, name);
        mf_w_printf(w, ",\"_kind\":\"ROOT.TFolder\",\"_title\":\"\",\"_childs\":[");
        hier_level(r, i, j, off + seg + 1, w);
        mf_w_printf(w, "]}");
        i = j;
    }
}

/* Each record's kind and title: from the last listing when the record has
 * not changed since (same generation and class), else decoded now. Decoding
 * a big record is the cost of a listing: a file with one 40 MB record took
 * 79 ms per h.json when every listing decoded everything. */
static void find_kinds(mfw_server *s, mf_file *mf, hrec *r, size_t n)
{
    /* Generations start over in a replaced file: nothing carries over. */
    mf_file_info fi;
    memset(&fi, 0, sizeof fi);
    if (mf_file_stat(mf, &fi) != 0 || fi.file_id != s->hier_file_id) {
        mfw_hier_cache_free(s);
        s->hier_file_id = fi.file_id;
    }
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        while (j < s->hier_n && strcmp(s->hier_cache[j].name, r[i].name) < 0)
            j++;
        hrec *old = j < s->hier_n && strcmp(s->hier_cache[j].name, r[i].name) == 0
                        ? &s->hier_cache[j]
                        : NULL;
        if (old && old->gen == r[i].gen && strcmp(old->cls, r[i].cls) == 0 && old->kind) {
            r[i].kind = old->kind; /* moved: the old list is freed below */
            r[i].title = old->title;
            old->kind = old->title = NULL;
            continue;
        }
        char kind[160], title[512];
        item_kind(mf, &r[i], kind, sizeof kind, title, sizeof title);
        r[i].kind = strdup(kind);
        r[i].title = strdup(title);
    }
}

enum MHD_Result mfw_serve_hier(mfw_server *s, struct MHD_Connection *c)
{
    mf_file *mf = mfw_file(s);
    hrec *r = NULL;
    size_t n = 0;
    int rc;
    if (mf && (rc = list_records(mf, &r, &n)) != 0)
        return reply_mf_error(s, c, "*", rc);
    mf_writer w;
    mft_buf_init(&w, MFW_MAX_BODY);
    mf_w_printf(&w, "{\"_name\":\"\",\"_kind\":\"ROOT.Session\",\"_title\":");
    pthread_rwlock_rdlock(&s->st.lock);
    mf_w_json_str(&w, s->title ? s->title : s->file_title);
    pthread_rwlock_unlock(&s->st.lock);
    mf_w_printf(&w, ",\"_file\":");
    mf_w_json_str(&w, s->file);
    mf_w_printf(&w, ",\"_generation\":%" PRIu64 ",\"_childs\":[",
                atomic_load(&s->st.generation));
    if (mf) {
        /* One listing at a time: each takes over what the last one found. */
        pthread_mutex_lock(&s->hier_lock);
        find_kinds(s, mf, r, n);
        hier_level(r, 0, n, 0, &w);
        mfw_hier_cache_free(s);
        s->hier_cache = r;
        s->hier_n = n;
        pthread_mutex_unlock(&s->hier_lock);
    } else {
        hrecs_free(r, n);
    }
    mf_w_printf(&w, "]}");
    if (w.err) {
        mft_buf_free(&w);
        return mfw_reply_error(c, 507, "TOO_LARGE", "the hierarchy exceeds %zu bytes",
                               MFW_MAX_BODY);
    }
    size_t len;
    unsigned char *body = mft_buf_take(&w, &len);
    return mfw_reply(s, c, 200, "application/json", body, len, 0);
}

/* ---- /info.json ----------------------------------------------------------- */

enum MHD_Result mfw_serve_info(mfw_server *s, struct MHD_Connection *c)
{
    mf_file *mf = mfw_file(s);
    mf_file_info fi;
    int have = mf && mf_file_stat(mf, &fi) == 0;
    mf_writer w;
    mft_buf_init(&w, 1 << 16);
    mf_w_printf(&w, "{\"file\":");
    mf_w_json_str(&w, s->file);
    mf_w_printf(&w, ",\"title\":");
    pthread_rwlock_rdlock(&s->st.lock);
    mf_w_json_str(&w, s->title ? s->title : s->file_title);
    pthread_rwlock_unlock(&s->st.lock);
    char why[256];
    mf_w_printf(&w, ",\"open\":%s,\"state\":", have ? "true" : "false");
    mf_w_json_str(&w, have ? "open" : no_file_reason(s, why, sizeof why));
    pthread_mutex_lock(&s->clients_lock);
    unsigned nclients = s->nclients;
    pthread_mutex_unlock(&s->clients_lock);
    mf_w_printf(&w, ",\"generation\":%" PRIu64 ",\"records\":%" PRIu64
                    ",\"capacity\":%" PRIu64 ",\"updates_seen\":%" PRIu64
                    ",\"event_clients\":%u,\"server\":\"mapf serve\"}",
                have ? fi.generation : 0, have ? fi.records : 0, have ? fi.capacity : 0,
                atomic_load(&s->st.updates), nclients);
    size_t len;
    unsigned char *body = mft_buf_take(&w, &len);
    return mfw_reply(s, c, 200, "application/json", body, len, 0);
}

/* ---- /NAME/root.json and /NAME/get.json -------------------------------- */

/* ROOT objects carry a name the codec cannot know: fill an empty fName
 * with the record name's last segment, as THttpServer shows objects. */
static void fill_fname(mf_writer *w, const char *record)
{
    size_t vs, ve;
    if (mfw_json_top_field((const char *)w->buf, w->len, "fName", &vs, &ve) != 1 ||
        ve - vs != 2)
        return;
    const char *leaf = strrchr(record, '/');
    leaf = leaf ? leaf + 1 : record;
    mf_writer n;
    mft_buf_init(&n, MFW_MAX_BODY);
    mf_w_bytes(&n, w->buf, vs);
    mf_w_json_str(&n, leaf);
    mf_w_bytes(&n, w->buf + ve, w->len - ve);
    if (n.err) {
        mft_buf_free(&n);
        return; /* keep the unnamed object rather than fail */
    }
    mft_buf_free(w);
    *w = n;
}

/* Writes the body for route r; returns 0, or an HTTP status on failure. */
static unsigned record_body(const mfw_route *r, const mf_class *cls, void *obj,
                            mf_writer *w)
{
    if (r->kind == MFW_R_GET_JSON) {
        int rc = mft_object_json(cls, obj, w);
        return rc == MFT_JSON_OK ? 0 : rc == MFT_JSON_NO_METHOD ? 501 : 500;
    }
    if (MF_CLASS_HAS(cls, to_root_json)) {
        if (cls->to_root_json(obj, w) != 0 || w->err)
            return 500;
        fill_fname(w, r->name);
        return 0;
    }
    if (!cls->to_json)
        return 501;
    return cls->to_json(obj, w) != 0 || w->err ? 500 : 0;
}

/* A record's JSON outgrew MFW_MAX_BODY (or memory). */
static enum MHD_Result reply_too_large(struct MHD_Connection *c, const char *name)
{
    return mfw_reply_error(c, 507, "TOO_LARGE", "record '%s': its JSON exceeds %zu bytes, "
                           "or memory ran out", name, MFW_MAX_BODY);
}

/* /NAME/get.json of a record whose codec this server lacks: decoded with
 * the schema its producer stored in the file, as `mapf get --json` does
 * (the JSON its codec's to_json writes), and marked by the header
 * X-Mapfile-Emulated naming that schema record. root.json needs the
 * codec's ROOT layout, so it stays an MF_ENOCODEC error. */
static enum MHD_Result serve_emulated(mfw_server *s, struct MHD_Connection *c,
                                      const mfw_route *r, mf_file *mf)
{
    mf_writer w;
    mft_buf_init(&w, MFW_MAX_BODY);
    mf_record_info ri;
    int rc = mf_get_emulated_json(mf, r->name, &w, &ri);
    mf_w_u8(&w, '\n'); /* as `mapf get --json` and every get.json end */
    char schema[MF_NAME_MAX + 1];
    if (rc == 0 && mf_schema_record_name(schema, sizeof schema, ri.class_name,
                                         ri.class_version) != 0)
        rc = MF_ENOCODEC;
    if (rc != 0) {
        int too_big = w.err == MF_WIRE_NOMEM;
        mft_buf_free(&w);
        if (too_big)
            return reply_too_large(c, r->name);
        return reply_mf_error(s, c, r->name, rc);
    }
    size_t len;
    unsigned char *body = mft_buf_take(&w, &len);
    return mfw_reply_with(s, c, 200, "application/json", body, len, 0, "X-Mapfile-Emulated",
                          schema);
}

enum MHD_Result mfw_serve_record(mfw_server *s, struct MHD_Connection *c,
                                 const mfw_route *r)
{
    mf_file *mf = mfw_file(s);
    if (!mf)
        return reply_waiting(s, c);
    void *obj;
    const mf_class *cls;
    int rc = mf_get(mf, r->name, &obj, &cls);
    if (rc == MF_ENOCODEC && r->kind == MFW_R_GET_JSON)
        return serve_emulated(s, c, r, mf);
    if (rc != 0)
        return reply_mf_error(s, c, r->name, rc);
    mf_writer w;
    mft_buf_init(&w, MFW_MAX_BODY);
    unsigned status = record_body(r, cls, obj, &w);
    char cname[MF_CLASS_NAME_MAX + 1];
    snprintf(cname, sizeof cname, "%s", cls->name);
    mf_object_free(cls, obj);
    if (status) {
        int too_big = w.err == MF_WIRE_NOMEM;
        mft_buf_free(&w);
        if (too_big)
            return reply_too_large(c, r->name);
        if (status == 501)
            return mfw_reply_error(c, 501, "NO_JSON",
                                   "record '%s': class '%s' has no to_json; try "
                                   "'mapf dump %s %s'", r->name, cname, s->file, r->name);
        return mfw_reply_error(c, 500, "ECODEC",
                               "record '%s': class '%s' failed to write JSON",
                               r->name, cname);
    }
    size_t len;
    unsigned char *body = mft_buf_take(&w, &len);
    return mfw_reply(s, c, 200, "application/json", body, len, 0);
}
