/*
 * conn.c - the Redis connection: connect with a timeout, AUTH, socket
 * timeouts (a cut link is noticed, never waited on forever), TCP
 * keepalive, and a pipeline of commands whose bytes are counted.
 */
#include "mirror_internal.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#include <hiredis/sds.h>

/* ------------------------------------------------------------------------ */
/* Building commands                                                        */
/* ------------------------------------------------------------------------ */

void mm_args_init(mm_args *a) { memset(a, 0, sizeof *a); }

void mm_args_reset(mm_args *a)
{
    for (int i = 0; i < a->nowned; i++)
        free(a->owned[i]);
    a->nowned = 0;
    a->argc = 0;
    a->oom = false;
    a->used = 0;
}

void mm_args_free(mm_args *a)
{
    mm_args_reset(a);
    free(a->argv);
    free(a->lens);
    free(a->owned);
    mm_args_init(a);
}

void mm_args_add(mm_args *a, const void *p, size_t len)
{
    if (a->oom)
        return;
    if (a->argc == a->cap) {
        int cap = a->cap ? a->cap * 2 : 16;
        const char **argv = realloc(a->argv, (size_t)cap * sizeof *argv);
        if (argv)
            a->argv = argv;
        size_t *lens = argv ? realloc(a->lens, (size_t)cap * sizeof *lens) : NULL;
        if (!lens) {
            a->oom = true;
            return;
        }
        a->lens = lens;
        a->cap = cap;
    }
    a->argv[a->argc] = p;
    a->lens[a->argc] = len;
    a->argc++;
}

void mm_args_str(mm_args *a, const char *s) { mm_args_add(a, s, strlen(s)); }

static bool own(mm_args *a, char *s)
{
    if (a->nowned == a->owned_cap) {
        int cap = a->owned_cap ? a->owned_cap * 2 : 8;
        char **o = realloc(a->owned, (size_t)cap * sizeof *o);
        if (!o)
            return false;
        a->owned = o;
        a->owned_cap = cap;
    }
    a->owned[a->nowned++] = s;
    return true;
}

void mm_args_take(mm_args *a, char *buf, size_t len)
{
    if (!buf || a->oom || !own(a, buf)) {
        free(buf);
        a->oom = true;
        return;
    }
    mm_args_add(a, buf, len);
}

/* @p v in decimal at @p buf (room for 20 digits, no NUL); its length. */
static size_t put_decimal(char *buf, uint64_t v)
{
    char digits[20];
    size_t k = 0, o = 0;
    do {
        digits[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (k)
        buf[o++] = digits[--k];
    return o;
}

/* A copy of @p buf (NUL-terminated, @p n bytes) as the next argument: in
 * the scratch space while it lasts. */
static void add_copy(mm_args *a, const char *buf, size_t n)
{
    if (n < sizeof a->scratch - a->used) {
        char *dst = a->scratch + a->used;
        memcpy(dst, buf, n + 1);
        a->used += n + 1;
        mm_args_add(a, dst, n);
        return;
    }
    mm_args_take(a, strdup(buf), n);
}

void mm_args_fmt(mm_args *a, const char *fmt, ...)
{
    if (a->oom)
        return;
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf) {
        a->oom = true;
        return;
    }
    add_copy(a, buf, (size_t)n);
}

void mm_args_u64(mm_args *a, uint64_t v)
{
    if (a->oom)
        return;
    char buf[21];
    size_t k = put_decimal(buf, v);
    buf[k] = '\0';
    add_copy(a, buf, k);
}

/* ------------------------------------------------------------------------ */
/* Bounded replies                                                          */
/* ------------------------------------------------------------------------ */

/* hiredis allocates an array reply's element pointers as soon as it reads
 * the header: "*2000000000" alone from a hostile server would ask for
 * 16 GB. Every reader the mirror uses refuses arrays longer than any reply
 * it asks for; the other reply objects are hiredis' own. */
static redisReplyObjectFunctions bounded_fns;
static void *(*default_array)(const redisReadTask *, int);
static pthread_once_t bounded_once = PTHREAD_ONCE_INIT;
static _Thread_local bool array_refused;

static void *bounded_array(const redisReadTask *task, int elements)
{
    if (elements < 0 || (unsigned long long)elements > MM_ARRAY_MAX) {
        array_refused = true;
        return NULL; /* the reader fails the reply ("Out of memory") */
    }
    return default_array(task, elements);
}

static void bounded_init(void)
{
    redisReader *r = redisReaderCreate();
    if (!r || !r->fn)
        abort(); /* no memory at the first connection: nothing works */
    bounded_fns = *r->fn;
    default_array = bounded_fns.createArray;
    bounded_fns.createArray = bounded_array;
    redisReaderFree(r);
}

void mm_reader_bound(redisReader *r)
{
    pthread_once(&bounded_once, bounded_init);
    if (r->fn && r->fn->createArray != bounded_array)
        r->fn = &bounded_fns;
}

bool mm_reader_refused(void)
{
    bool was = array_refused;
    array_refused = false;
    return was;
}

/* ------------------------------------------------------------------------ */
/* Connecting                                                               */
/* ------------------------------------------------------------------------ */

static struct timeval tv_ms(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

void mm_disconnect(struct mf_mirror *m)
{
    if (m->c)
        redisFree(m->c);
    m->c = NULL;
    m->loaded = false;
}

static int auth(struct mf_mirror *m)
{
    mm_args a;
    mm_args_init(&a);
    mm_args_str(&a, "AUTH");
    if (m->ep.user[0])
        mm_args_str(&a, m->ep.user);
    mm_args_str(&a, m->ep.password);
    redisReply *r = NULL;
    int rc = mm_command(m, &a, &r);
    mm_args_free(&a);
    if (rc)
        return rc;
    if (r->type == REDIS_REPLY_ERROR) {
        char q[MM_QUOTE_CAP];
        rc = mm_fail(MF_MIRROR_EAUTH, "%s refused the password (%s); check the "
                     "endpoint's password or MAPFILE_REDIS_PASSWORD", m->ep.shown,
                     mm_quote(q, sizeof q, r->str, r->len));
        mm_disconnect(m);
    }
    freeReplyObject(r);
    return rc;
}

/* The largest string Redis takes (proto-max-bulk-len): a record above it
 * cannot be published (Redis drops the connection). A server that does not
 * say (CONFIG renamed or not allowed) is taken to have the default. */
static int bulk_limit(struct mf_mirror *m)
{
    const char *argv[] = {"CONFIG", "GET", "proto-max-bulk-len"};
    mm_args a;
    mm_args_init(&a);
    for (int i = 0; i < 3; i++)
        mm_args_str(&a, argv[i]);
    redisReply *r = NULL;
    int rc = mm_command(m, &a, &r);
    mm_args_free(&a);
    if (rc)
        return rc;
    uint64_t v;
    m->bulk_max = MM_BULK_MAX_DEFAULT;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[1]->type == REDIS_REPLY_STRING &&
        mm_parse_u64(r->element[1]->str, r->element[1]->len, &v) == 0 && v >= (1u << 20))
        m->bulk_max = v;
    freeReplyObject(r);
    return 0;
}

int mm_connect(struct mf_mirror *m)
{
    if (m->c)
        return 0;
    struct timeval ct = tv_ms(m->connect_timeout_ms);
    redisContext *c = m->ep.is_unix ? redisConnectUnixWithTimeout(m->ep.host, ct)
                                    : redisConnectWithTimeout(m->ep.host, m->ep.port, ct);
    if (!c)
        return mm_fail(MF_ENOMEM, "%s: no memory for a connection", m->ep.shown);
    if (c->err) {
        int rc = mm_fail(MF_MIRROR_ECONNECT, "cannot connect to %s: %s", m->ep.shown,
                         c->errstr);
        redisFree(c);
        return rc;
    }
    m->c = c;
    mm_reader_bound(c->reader);
    m->timeout_extra = -1;
    mm_timeout_extra(m, 0);
    if (!m->ep.is_unix)
        redisEnableKeepAlive(c);
    if (m->ep.has_password) {
        int rc = auth(m);
        if (rc)
            return rc;
    }
    if (m->is_push) {
        int rc = bulk_limit(m);
        if (rc)
            return rc;
    }
    m->st.connects++;
    mm_log(m, MF_MIRROR_LOG_INFO, "connected to %s, namespace '%s'", m->ep.shown, m->ns);
    return 0;
}

void mm_timeout_extra(struct mf_mirror *m, int extra_ms)
{
    /* Two system calls: only when it changes. */
    if (m->c && extra_ms != m->timeout_extra) {
        redisSetTimeout(m->c, tv_ms(m->io_timeout_ms + extra_ms));
        m->timeout_extra = extra_ms;
    }
}

/* ------------------------------------------------------------------------ */
/* Commands and replies                                                     */
/* ------------------------------------------------------------------------ */

/* A RESP header ("*N" or "$N" and CRLF) at @p buf; its length. */
static size_t resp_head(char *buf, char type, size_t n)
{
    size_t o = 0;
    buf[o++] = type;
    o += put_decimal(buf + o, n);
    buf[o++] = '\r';
    buf[o++] = '\n';
    return o;
}

/* The command goes straight into hiredis' output buffer as RESP ("*argc",
 * then "$len" and the bytes of each argument): no formatted copy of it to
 * make and free first. */
int mm_append(struct mf_mirror *m, mm_args *a)
{
    if (a->oom) {
        mm_disconnect(m);
        return mm_fail(MF_ENOMEM, "no memory for a Redis command");
    }
    char head[32];
    size_t need = resp_head(head, '*', (size_t)a->argc);
    for (int i = 0; i < a->argc; i++)
        need += resp_head(head, '$', a->lens[i]) + a->lens[i] + 2;
    sds o = need <= INT_MAX ? sdsMakeRoomFor(m->c->obuf, need) : NULL;
    if (!o) {
        mm_disconnect(m);
        return mm_fail(MF_ENOMEM, "no memory for a Redis command of %d arguments "
                       "(%zu bytes)", a->argc, need);
    }
    m->c->obuf = o;
    char *p = o + sdslen(o);
    p += resp_head(p, '*', (size_t)a->argc);
    for (int i = 0; i < a->argc; i++) {
        p += resp_head(p, '$', a->lens[i]);
        if (a->lens[i])
            memcpy(p, a->argv[i], a->lens[i]);
        p += a->lens[i];
        *p++ = '\r';
        *p++ = '\n';
    }
    sdsIncrLen(o, (int)need);
    m->st.bytes_sent += (uint64_t)need;
    return 0;
}

static uint64_t reply_bytes(const redisReply *r)
{
    uint64_t n = 0;
    if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++)
            n += reply_bytes(r->element[i]);
    } else if (r->type != REDIS_REPLY_NIL) {
        n = (uint64_t)r->len;
    }
    return n;
}

/* Send the queued commands with send(MSG_NOSIGNAL) before hiredis reads
 * the replies. hiredis itself writes with write(), and a peer that went
 * away would raise SIGPIPE and kill the whole process; MSG_NOSIGNAL gives
 * EPIPE instead, with no signal to block and take back: no system calls
 * around a round trip but the send and the read, and none between a reply
 * arriving and its use (the pull's XREAD wakes straight into its batch).
 * The socket's send timeout (SO_SNDTIMEO) still bounds a stuck write. */
static int flush_commands(struct mf_mirror *m)
{
    redisContext *c = m->c;
    size_t len = sdslen(c->obuf), off = 0;
    while (off < len) {
        ssize_t n = send(c->fd, c->obuf + off, len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        int err = n < 0 ? errno : EPIPE;
        int rc = mm_fail(MF_MIRROR_EREDIS, "connection to %s lost: %s", m->ep.shown,
                         err == EAGAIN || err == EWOULDBLOCK
                             ? "sending timed out"
                             : strerror(err));
        mm_disconnect(m);
        return rc;
    }
    sdsclear(c->obuf);
    return 0;
}

int mm_reply(struct mf_mirror *m, redisReply **out)
{
    void *r = NULL;
    *out = NULL;
    if (!m->c)
        return mm_fail(MF_MIRROR_EREDIS, "%s: not connected", m->ep.shown);
    /* Only the first reply after commands were queued sends them. */
    if (m->c->obuf && sdslen(m->c->obuf) > 0) {
        int rc = flush_commands(m);
        if (rc)
            return rc;
    }
    (void)mm_reader_refused(); /* a flag of another connection's failure */
    int got = redisGetReply(m->c, &r); /* reads only: nothing left to write */
    if (got != REDIS_OK || !r) {
        int rc = mm_reader_refused()
                     ? mm_fail(MF_MIRROR_EREDIS, "%s announced an array reply of more than "
                               "%u elements, longer than any reply mapfile asks for: "
                               "dropped the connection (is this a Redis server?)",
                               m->ep.shown, (unsigned)MM_ARRAY_MAX)
                     : mm_fail(MF_MIRROR_EREDIS, "connection to %s lost: %s", m->ep.shown,
                               m->c->errstr[0] ? m->c->errstr : "no reply");
        if (r)
            freeReplyObject(r);
        mm_disconnect(m);
        return rc;
    }
    *out = r;
    m->st.bytes_received += reply_bytes(*out);
    return 0;
}

int mm_command(struct mf_mirror *m, mm_args *a, redisReply **out)
{
    int rc = mm_append(m, a);
    return rc ? rc : mm_reply(m, out);
}

int mm_reply_error(struct mf_mirror *m, const redisReply *r, const char *what)
{
    char q[MM_QUOTE_CAP];
    mm_quote(q, sizeof q, r->str, r->len);
    const char *hint = "";
    int code = MF_MIRROR_EREDIS;
    if (strncmp(q, "NOAUTH", 6) == 0 || strncmp(q, "WRONGPASS", 9) == 0) {
        code = MF_MIRROR_EAUTH;
        hint = "; give the password in the endpoint or MAPFILE_REDIS_PASSWORD";
    } else if (strncmp(q, "OOM", 3) == 0) {
        hint = m->is_push ? "; Redis reached maxmemory: raise it, or keep a shorter stream "
                            "(--maxlen)"
                          : "; Redis reached maxmemory and refuses even a pull's reads "
                            "(they run in MULTI): raise it";
    } else if (strncmp(q, "READONLY", 8) == 0) {
        hint = "; this server is a read-only replica: push to the primary";
    } else if (strncmp(q, "LOADING", 7) == 0) {
        hint = "; Redis is loading its data after a restart: retrying";
    } else if (strncmp(q, "WRONGTYPE", 9) == 0) {
        code = MF_MIRROR_EREMOTE;
        hint = "; a key of this namespace has a type mapfile never writes";
    }
    mm_disconnect(m);
    return mm_fail(code, "%s: %s: %s%s", m->ep.shown, what, q, hint);
}

int mm_exec_replies(struct mf_mirror *m, int queued, redisReply **exec, const char *what)
{
    redisReply *r;
    int rc, first_err = 0;
    char err[MM_QUOTE_CAP]; /* the first error as Redis sent it (quoted once, below) */
    size_t err_len = 0;
    *exec = NULL;
    for (int i = 0; i <= queued; i++) { /* MULTI's +OK, then one +QUEUED each */
        if ((rc = mm_reply(m, &r)))
            return rc;
        if (r->type == REDIS_REPLY_ERROR && !first_err) {
            first_err = 1;
            err_len = r->len < sizeof err ? r->len : sizeof err;
            memcpy(err, r->str, err_len);
        }
        freeReplyObject(r);
    }
    if ((rc = mm_reply(m, &r)))
        return rc;
    if (r->type == REDIS_REPLY_ERROR) {
        if (first_err) { /* EXECABORT: the queued error says why */
            redisReply fake = {.type = REDIS_REPLY_ERROR, .str = err, .len = err_len};
            rc = mm_reply_error(m, &fake, what);
        } else {
            rc = mm_reply_error(m, r, what);
        }
        freeReplyObject(r);
        return rc;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != (size_t)queued) {
        rc = mm_fail(MF_MIRROR_EREDIS, "%s: %s: EXEC gave %s of %zu elements, not %d "
                     "replies", m->ep.shown, what, mm_type_name(r),
                     r->type == REDIS_REPLY_ARRAY ? r->elements : 0, queued);
        freeReplyObject(r);
        mm_disconnect(m);
        return rc;
    }
    *exec = r;
    return 0;
}

char *mm_rec_key(const struct mf_mirror *m, const char *name, size_t len, size_t *key_len)
{
    char *k = malloc(m->k_rec_len + len + 1);
    if (!k)
        return NULL;
    memcpy(k, m->k_rec, m->k_rec_len);
    memcpy(k + m->k_rec_len, name, len);
    k[m->k_rec_len + len] = '\0';
    *key_len = m->k_rec_len + len;
    return k;
}
