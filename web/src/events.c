/* events.c - /events: one Server-Sent Events stream per client.
 *
 * Messages (each with `id:` GENERATION-FILEID, the file's generation and
 * its random id: a client reconnecting with the id of a file since
 * replaced gets a resync, even if the new file's generations reached the
 * same number):
 * - `event: hello`  on connect: {"generation", "title", "file"};
 * - a plain message per change: {"generation", "changed": [names],
 *   "removed": [names], "tree": true if records came or went};
 * - `event: resync` when the client cannot be told exactly what it missed
 *   (its Last-Event-ID is unknown or too old, the file was replaced, or
 *   the change list would pass MFW_MAX_EVENT): refetch everything;
 * - a `: keepalive` comment after keepalive_s idle seconds.
 *
 * A client only remembers the seq it has been told about. When its socket
 * can take more, it is told everything that changed since (the change
 * table in watch.c), in one message: a slow reader is coalesced, never
 * queued for. When there is nothing to say the connection is suspended;
 * the watcher resumes it on the next change or keep-alive tick. */
#include "internal.h"

#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mfw_client {
    mfw_server *s;
    struct MHD_Connection *conn;
    mfw_client *prev, *next;
    uint64_t seq;      /* changes up to this scan have been sent */
    uint64_t epoch;    /* file incarnation the client was told about */
    int resync;        /* next message must be a resync */
    int hello;         /* next message is the hello */
    int suspended;     /* guarded by s->clients_lock */
    int gone;          /* the peer hung up while suspended */
    double last_send;  /* monotonic seconds */
    mf_writer out;     /* the message being sent */
    size_t off;        /* bytes of out already handed to MHD */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- composing ------------------------------------------------------------ */

static int out_reserve(mf_writer *w, size_t need)
{
    size_t want = w->len + need;
    if (want > MFW_MAX_EVENT + 1024)
        return -1;
    size_t cap = w->cap ? w->cap : 512;
    while (cap < want)
        cap *= 2;
    unsigned char *p = realloc(w->buf, cap);
    if (!p)
        return -1;
    w->buf = p;
    w->cap = cap;
    return 0;
}

void mfw_event_id(const mfw_state *st, uint64_t gen, mf_writer *w)
{
    mf_w_printf(w, "id: %" PRIu64 "-%016" PRIx64 "\n", gen, atomic_load(&st->file_id));
}

int mfw_event_id_parse(const char *v, uint64_t *gen, uint64_t *file_id)
{
    uint64_t n = 0, f = 0;
    size_t i = 0;
    if (!v)
        return -1;
    for (; v[i] >= '0' && v[i] <= '9'; i++) {
        uint64_t d = (uint64_t)(v[i] - '0');
        if (i >= 20 || n > (UINT64_MAX - d) / 10)
            return -1;
        n = n * 10 + d;
    }
    if (i == 0 || v[i] != '-')
        return -1;
    const char *h = v + i + 1;
    for (i = 0; i < 16; i++) {
        char c = h[i];
        int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (x < 0)
            return -1;
        f = f << 4 | (uint64_t)x;
    }
    if (h[16] != '\0')
        return -1;
    *gen = n;
    *file_id = f;
    return 0;
}

static void resync_event(const mfw_state *st, mf_writer *w)
{
    uint64_t g = atomic_load(&st->generation);
    w->err = 0;
    w->len = 0;
    mfw_event_id(st, g, w);
    mf_w_printf(w, "event: resync\ndata: {\"generation\":%" PRIu64 "}\n\n", g);
}

static void name_list(mf_writer *w, const char *key, int *first)
{
    mf_w_printf(w, "%s\"%s\":[", *first ? "" : "],", key);
    *first = 0;
}

uint64_t mfw_events_compose(const mfw_state *st, uint64_t seq, int resync,
                            mf_writer *w)
{
    uint64_t cur = atomic_load(&st->seq), g = atomic_load(&st->generation);
    if (resync || seq < st->resume_floor || seq > cur) {
        resync_event(st, w);
        return cur;
    }
    if (seq == cur)
        return seq;
    size_t start = w->len;
    int first = 1, n = 0;
    mfw_event_id(st, g, w);
    mf_w_printf(w, "data: {\"generation\":%" PRIu64 ",", g);
    name_list(w, "changed", &first);
    for (size_t i = 0; i < st->nrecs && !w->err; i++)
        if (st->recs[i].changed_seq > seq) {
            if (n++)
                mf_w_u8(w, ',');
            mf_w_json_str(w, st->recs[i].name);
        }
    name_list(w, "removed", &first);
    n = 0;
    for (size_t i = 0; i < st->tomb_n && !w->err; i++) {
        const mfw_tomb *t = &st->tombs[(st->tomb_head + i) % MFW_TOMBSTONES];
        if (t->seq > seq) {
            if (n++)
                mf_w_u8(w, ',');
            mf_w_json_str(w, t->name);
        }
    }
    mf_w_printf(w, "],\"tree\":%s}\n\n", st->tree_seq > seq ? "true" : "false");
    if (w->err || w->len - start > MFW_MAX_EVENT)
        resync_event(st, w); /* too many names: "refetch everything" */
    return cur;
}

uint64_t mfw_events_resume_seq(const mfw_state *st, uint64_t last_gen)
{
    uint64_t best = UINT64_MAX;
    if (st->gen_n == 0 || last_gen > atomic_load(&st->generation))
        return UINT64_MAX;
    const uint64_t(*oldest)[2] = &st->gen_seq[st->gen_head];
    if (last_gen < (*oldest)[0])
        return UINT64_MAX; /* older than what we remember */
    for (size_t i = 0; i < st->gen_n; i++) {
        const uint64_t *e = st->gen_seq[(st->gen_head + i) % MFW_HISTORY];
        if (e[0] <= last_gen)
            best = e[1];
        else
            break;
    }
    return best;
}

static void hello_event(mfw_server *s, mfw_client *c, mf_writer *w)
{
    uint64_t g = atomic_load(&s->st.generation);
    mf_w_printf(w, "retry: 1000\n");
    mfw_event_id(&s->st, g, w);
    mf_w_printf(w, "event: hello\ndata: {\"generation\":%" PRIu64 ",\"file\":", g);
    mf_w_json_str(w, s->file);
    mf_w_printf(w, ",\"title\":");
    mf_w_json_str(w, s->title ? s->title : s->file_title);
    mf_w_printf(w, ",\"open\":%s}\n\n", atomic_load(&s->file_state) == 1 ? "true" : "false");
    c->hello = 0;
}

/* Fill c->out with the next message, if any. Caller holds no lock. */
static void compose(mfw_client *c)
{
    mfw_server *s = c->s;
    mfw_state *st = &s->st;
    c->out.len = 0;
    c->out.err = 0;
    c->off = 0;
    pthread_rwlock_rdlock(&st->lock);
    uint64_t epoch = atomic_load(&st->epoch);
    if (c->hello) {
        hello_event(s, c, &c->out);
        c->epoch = epoch;
        c->seq = atomic_load(&st->seq);
    } else if (c->epoch != epoch) {
        c->seq = mfw_events_compose(st, c->seq, 1, &c->out);
        c->epoch = epoch;
    } else {
        c->seq = mfw_events_compose(st, c->seq, c->resync, &c->out);
    }
    c->resync = 0;
    pthread_rwlock_unlock(&st->lock);
    if (c->out.len == 0 && now_s() - c->last_send >= s->o.keepalive_s)
        mf_w_printf(&c->out, ": keepalive\n\n");
    if (c->out.err)
        c->out.len = 0;
}

/* Something new for c? Caller holds clients_lock. */
static int has_news(const mfw_client *c)
{
    const mfw_state *st = &c->s->st;
    return c->hello || c->resync || atomic_load(&st->seq) != c->seq ||
           atomic_load(&st->epoch) != c->epoch;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    mfw_client *c = cls;
    mfw_server *s = c->s;
    (void)pos;
    for (int tries = 0; tries < 2; tries++) {
        if (atomic_load(&s->stopping) || c->gone)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (c->off >= c->out.len)
            compose(c);
        if (c->off < c->out.len) {
            size_t n = c->out.len - c->off;
            if (n > max)
                n = max;
            memcpy(buf, c->out.buf + c->off, n);
            c->off += n;
            c->last_send = now_s();
            return (ssize_t)n;
        }
        /* Nothing to say: sleep until the watcher has news, unless news
         * came in since compose() looked (checked under the lock the
         * watcher takes to resume, so no wake-up is lost). */
        pthread_mutex_lock(&s->clients_lock);
        if (!has_news(c) && !atomic_load(&s->stopping)) {
            c->suspended = 1;
            MHD_suspend_connection(c->conn);
            pthread_mutex_unlock(&s->clients_lock);
            return 0;
        }
        pthread_mutex_unlock(&s->clients_lock);
    }
    return 0; /* MHD calls again at once: the news is picked up then */
}

static void sse_free(void *cls)
{
    mfw_client *c = cls;
    mfw_server *s = c->s;
    pthread_mutex_lock(&s->clients_lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nclients--;
    pthread_mutex_unlock(&s->clients_lock);
    free(c->out.buf);
    free(c);
}

static void set_start(mfw_server *s, mfw_client *c, struct MHD_Connection *conn)
{
    const char *last = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID");
    uint64_t gen;
    c->epoch = atomic_load(&s->st.epoch);
    if (!last) {
        c->hello = 1;
        return;
    }
    uint64_t file_id;
    pthread_rwlock_rdlock(&s->st.lock);
    /* Anything but an id of this file resyncs the client. */
    uint64_t seq = mfw_event_id_parse(last, &gen, &file_id) == 0 &&
                           file_id == atomic_load(&s->st.file_id)
                       ? mfw_events_resume_seq(&s->st, gen)
                       : UINT64_MAX;
    pthread_rwlock_unlock(&s->st.lock);
    if (seq == UINT64_MAX)
        c->resync = 1;
    else
        c->seq = seq;
}

enum MHD_Result mfw_events_open(mfw_server *s, struct MHD_Connection *conn)
{
    mfw_client *c = calloc(1, sizeof *c);
    if (!c)
        return mfw_reply_error(conn, 503, "ENOMEM", "out of memory for an event stream");
    c->s = s;
    c->conn = conn;
    c->out.reserve = out_reserve;
    c->last_send = now_s();
    set_start(s, c, conn);
    pthread_mutex_lock(&s->clients_lock);
    if (s->nclients >= s->o.max_clients) {
        unsigned n = s->nclients;
        pthread_mutex_unlock(&s->clients_lock);
        free(c);
        return mfw_reply_error(conn, 503, "TOO_MANY_CLIENTS",
                               "%u event streams are open, the most this server "
                               "allows (--max-clients %u); close a page or try "
                               "again later", n, s->o.max_clients);
    }
    c->next = s->clients;
    if (s->clients)
        s->clients->prev = c;
    s->clients = c;
    s->nclients++;
    pthread_mutex_unlock(&s->clients_lock);

    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_read, c, sse_free);
    if (!r) {
        sse_free(c);
        return mfw_reply_error(conn, 503, "ENOMEM", "cannot create an event stream");
    }
    mfw_common_headers(r, 0);
    MHD_add_response_header(r, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    enum MHD_Result ret = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return ret;
}

/* MHD does not watch a suspended connection, so a page that was closed
 * would hold its slot until the next write. On each tick, ask the kernel
 * which suspended peers hung up (poll does not consume anything). */
static void find_gone(mfw_server *s)
{
    enum { BATCH = 256 };
    struct pollfd fds[BATCH];
    mfw_client *who[BATCH];
    mfw_client *c = s->clients;
    while (c) {
        nfds_t n = 0;
        for (; c && n < BATCH; c = c->next) {
            const union MHD_ConnectionInfo *ci;
            if (!c->suspended || c->gone ||
                !(ci = MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CONNECTION_FD)))
                continue;
            fds[n].fd = ci->connect_fd;
            fds[n].events = POLLRDHUP;
            fds[n].revents = 0;
            who[n++] = c;
        }
        if (n && poll(fds, n, 0) > 0)
            for (nfds_t i = 0; i < n; i++)
                if (fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
                    who[i]->gone = 1;
    }
}

void mfw_events_wake(mfw_server *s, int tick)
{
    double now = now_s();
    pthread_mutex_lock(&s->clients_lock);
    if (tick)
        find_gone(s);
    for (mfw_client *c = s->clients; c; c = c->next) {
        if (!c->suspended)
            continue;
        if (tick && !c->gone && now - c->last_send < s->o.keepalive_s && !has_news(c))
            continue;
        c->suspended = 0;
        MHD_resume_connection(c->conn);
    }
    pthread_mutex_unlock(&s->clients_lock);
}

void mfw_events_close_all(mfw_server *s)
{
    /* stopping is set: every resumed stream ends at its next read. */
    pthread_mutex_lock(&s->clients_lock);
    for (mfw_client *c = s->clients; c; c = c->next)
        if (c->suspended) {
            c->suspended = 0;
            MHD_resume_connection(c->conn);
        }
    pthread_mutex_unlock(&s->clients_lock);
}
