/* server.c - the daemon: start and stop, the checks every request passes
 * (method, connection cap, token, Host), dispatch, and replies.
 *
 * libmicrohttpd runs a small pool of threads over epoll; event streams are
 * suspended while they have nothing to say, so 100 idle streams cost no
 * thread and no wake-up. A request body is never read (GET and HEAD
 * only): one is answered at once and its connection closed. */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- replies -------------------------------------------------------------- */

void mfw_common_headers(struct MHD_Response *r, int cache_s)
{
    char cc[64];
    if (cache_s > 0)
        snprintf(cc, sizeof cc, "max-age=%d", cache_s);
    MHD_add_response_header(r, "Cache-Control", cache_s > 0 ? cc : "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
}

struct held_body {
    mfw_server *s;
    void *body;
    size_t len;
};

static void release_body(void *cls)
{
    struct held_body *h = cls;
    atomic_fetch_sub(&h->s->bodies_held, h->len);
    free(h->body);
    free(h);
}

/* A response that owns body and counts it until MHD frees it; NULL (body
 * freed) when out of memory or, for a big body, over the budget (*busy). */
static struct MHD_Response *counted_response(mfw_server *s, void *body, size_t len,
                                             int *busy)
{
    size_t budget = s->o.reply_budget ? s->o.reply_budget : MFW_DEFAULT_REPLY_BUDGET;
    *busy = 0;
    size_t before = atomic_fetch_add(&s->bodies_held, len);
    struct held_body *h = NULL;
    if (len > MFW_BIG_BODY && before + len > budget)
        *busy = 1;
    else if ((h = malloc(sizeof *h))) {
        *h = (struct held_body){s, body, len};
        struct MHD_Response *r =
            MHD_create_response_from_buffer_with_free_callback_cls(len, body, release_body, h);
        if (r)
            return r;
    }
    atomic_fetch_sub(&s->bodies_held, len);
    free(h);
    free(body);
    return NULL;
}

enum MHD_Result mfw_reply_with(mfw_server *s, struct MHD_Connection *c, unsigned status,
                               const char *ctype, void *body, size_t len, int cache_s,
                               const char *hdr, const char *val)
{
    int busy;
    struct MHD_Response *r = counted_response(s, body, len, &busy);
    if (!r && busy)
        return mfw_reply_error(c, 503, "BUSY", "replies still being sent to slow readers "
                               "hold the server's reply budget; this one (%zu bytes) "
                               "waits", len);
    if (!r)
        return MHD_NO;
    mfw_common_headers(r, cache_s);
    MHD_add_response_header(r, "Content-Type", ctype);
    if (hdr)
        MHD_add_response_header(r, hdr, val);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result mfw_reply(mfw_server *s, struct MHD_Connection *c, unsigned status,
                          const char *ctype, void *body, size_t len, int cache_s)
{
    return mfw_reply_with(s, c, status, ctype, body, len, cache_s, NULL, NULL);
}

enum MHD_Result mfw_reply_static(struct MHD_Connection *c, unsigned status,
                                 const char *ctype, const char *body, size_t len,
                                 int cache_s)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    mfw_common_headers(r, cache_s);
    if (ctype)
        MHD_add_response_header(r, "Content-Type", ctype);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Build an error body; NULL when out of memory. */
static char *error_body(unsigned status, const char *code, const char *fmt,
                        va_list ap, size_t *len)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    mf_writer w = {NULL, 0, 0, 0, NULL, NULL};
    unsigned char small[2048];
    w.buf = small;
    w.cap = sizeof small;
    mf_w_printf(&w, "{\"error\":\"%s\",\"status\":%u,\"message\":", code, status);
    mf_w_json_str(&w, msg);
    mf_w_printf(&w, "}\n");
    if (w.err)
        return NULL;
    char *b = malloc(w.len);
    if (b)
        memcpy(b, small, w.len);
    *len = w.len;
    return b;
}

static enum MHD_Result reply_verror(struct MHD_Connection *c, unsigned status,
                                    const char *code, const char *extra_hdr,
                                    const char *extra_val, const char *fmt, va_list ap)
{
    size_t len = 0;
    char *body = error_body(status, code, fmt, ap, &len);
    struct MHD_Response *r =
        body ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    mfw_common_headers(r, 0);
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (extra_hdr)
        MHD_add_response_header(r, extra_hdr, extra_val);
    if (status == 503)
        MHD_add_response_header(r, "Retry-After", "5");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result mfw_reply_error(struct MHD_Connection *c, unsigned status,
                                const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum MHD_Result ret = reply_verror(c, status, code, NULL, NULL, fmt, ap);
    va_end(ap);
    return ret;
}

static enum MHD_Result reply_error_hdr(struct MHD_Connection *c, unsigned status,
                                       const char *code, const char *hdr,
                                       const char *val, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static enum MHD_Result reply_error_hdr(struct MHD_Connection *c, unsigned status,
                                       const char *code, const char *hdr,
                                       const char *val, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum MHD_Result ret = reply_verror(c, status, code, hdr, val, fmt, ap);
    va_end(ap);
    return ret;
}

/* ---- checks --------------------------------------------------------------- */

/* Constant time: a token is not guessed byte by byte from timings. */
static int token_eq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++)
        d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return d == 0;
}

/* 0 not authorised, 1 by header or cookie, 2 by ?token= (sets a cookie). */
static int authorised(mfw_server *s, struct MHD_Connection *c)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (v && strncmp(v, "Bearer ", 7) == 0 && token_eq(v + 7, s->token))
        return 1;
    v = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "mapf_token");
    if (v && token_eq(v, s->token))
        return 1;
    v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
    if (v && token_eq(v, s->token))
        return 2;
    return 0;
}

/* Without a token the server trusts loopback; a page on another site could
 * still reach it through DNS rebinding, which a Host check stops. */
static int host_ok(const char *host)
{
    char h[256];
    if (!host)
        return 1; /* HTTP/1.0; on_request refuses HTTP/1.1 without Host */
    snprintf(h, sizeof h, "%s", host);
    if (h[0] == '[') {
        char *e = strchr(h, ']');
        if (!e)
            return 0;
        *e = '\0';
        return strcmp(h + 1, "::1") == 0;
    }
    char *colon = strchr(h, ':');
    if (colon)
        *colon = '\0';
    struct in_addr a;
    if (strcmp(h, "localhost") == 0)
        return 1;
    return inet_pton(AF_INET, h, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

/* ---- dispatch --------------------------------------------------------------- */

static enum MHD_Result dispatch(mfw_server *s, struct MHD_Connection *c,
                                const mfw_route *r, const char *url)
{
    switch (r->kind) {
    case MFW_R_BAD: return mfw_reply_error(c, 400, "BAD_REQUEST", "%s", r->why);
    case MFW_R_PAGE:
    case MFW_R_ASSET: return mfw_serve_page(s, c, url);
    case MFW_R_FAVICON: return mfw_reply_static(c, 204, NULL, "", 0, 3600);
    case MFW_R_HIER: return mfw_serve_hier(s, c);
    case MFW_R_INFO: return mfw_serve_info(s, c);
    case MFW_R_EVENTS: return mfw_events_open(s, c);
    case MFW_R_JSROOT: return mfw_serve_jsroot(s, c, r->name);
    case MFW_R_ROOT_JSON:
    case MFW_R_GET_JSON: return mfw_serve_record(s, c, r);
    case MFW_R_NOTFOUND: break;
    }
    return mfw_reply_error(c, 404, "NOT_FOUND",
                           "no such endpoint; try /, /h.json, /NAME/root.json, "
                           "/NAME/get.json, /info.json or /events");
}

/* The page reached with ?token=: keep the token in a cookie and drop it
 * from the address bar. */
static enum MHD_Result redirect_with_cookie(mfw_server *s, struct MHD_Connection *c)
{
    char cookie[600];
    snprintf(cookie, sizeof cookie, "mapf_token=%s; Path=/; HttpOnly; SameSite=Strict",
             s->token);
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    mfw_common_headers(r, 0);
    MHD_add_response_header(r, "Set-Cookie", cookie);
    MHD_add_response_header(r, "Location", "/");
    enum MHD_Result ret = MHD_queue_response(c, 303, r);
    MHD_destroy_response(r);
    return ret;
}

static int has_body(struct MHD_Connection *c)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding") ||
           (cl && strcmp(cl, "0") != 0);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    mfw_server *s = cls;
    static int seen_marker;
    (void)upload_data;
    (void)upload_data_size;
    /* A request answered before it is fully received closes its
     * connection. Plain GETs wait for the second call (keep-alive works);
     * anything with a body is answered at once, body unread, and closed. */
    if (!*req_cls && !has_body(c) && (!strcmp(method, "GET") || !strcmp(method, "HEAD"))) {
        *req_cls = &seen_marker;
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply_error_hdr(c, 405, "METHOD_NOT_ALLOWED", "Allow", "GET, HEAD",
                               "this server is read-only: only GET and HEAD");
    if (atomic_load(&s->nconn) > s->o.max_connections)
        return mfw_reply_error(c, 503, "TOO_MANY_CONNECTIONS",
                               "%u connections are open, the most this server allows; "
                               "try again later", s->o.max_connections);
    int auth = 1;
    if (s->token && !(auth = authorised(s, c)))
        return reply_error_hdr(c, 401, "UNAUTHORIZED", "WWW-Authenticate", "Bearer",
                               "this server needs its token: open /?token=TOKEN, or "
                               "send 'Authorization: Bearer TOKEN'");
    if (!s->token && s->loopback &&
        !host_ok(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host")))
        return mfw_reply_error(c, 403, "FORBIDDEN_HOST",
                               "the Host header does not name this loopback server "
                               "(a page of another site reaching it through DNS?)");
    if (strcmp(version, MHD_HTTP_VERSION_1_1) == 0 &&
        !MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host"))
        return mfw_reply_error(c, 400, "BAD_REQUEST", "HTTP/1.1 needs a Host header");
    mfw_route r;
    mfw_route_path(url, &r);
    if (auth == 2 && r.kind == MFW_R_PAGE)
        return redirect_with_cookie(s, c);
    return dispatch(s, c, &r, url);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
    mfw_server *s = cls;
    (void)c;
    (void)socket_ctx;
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        atomic_fetch_add(&s->nconn, 1);
    else
        atomic_fetch_sub(&s->nconn, 1);
}

/* ---- start and stop ----------------------------------------------------- */

typedef struct listen_addr {
    struct sockaddr_storage ss;
    int v6, loopback;
    char host[INET6_ADDRSTRLEN + 2];
} listen_addr;

static int parse_listen(const char *spec, listen_addr *a, char *err, size_t cap)
{
    char host[256];
    const char *colon;
    memset(a, 0, sizeof *a);
    if (spec[0] == '[') {
        const char *e = strchr(spec, ']');
        if (!e || e[1] != ':' || (size_t)(e - spec - 1) >= sizeof host)
            goto bad;
        memcpy(host, spec + 1, (size_t)(e - spec - 1));
        host[e - spec - 1] = '\0';
        colon = e + 1;
    } else {
        colon = strrchr(spec, ':');
        if (!colon || (size_t)(colon - spec) >= sizeof host || colon == spec)
            goto bad;
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = '\0';
    }
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || errno || port < 0 || port > 65535)
        goto bad;
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    struct sockaddr_in *v4 = (struct sockaddr_in *)&a->ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a->ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        a->loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
        snprintf(a->host, sizeof a->host, "%s", host);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        a->v6 = 1;
        a->loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
        snprintf(a->host, sizeof a->host, "[%s]", host);
    } else {
        goto bad;
    }
    return 0;
bad:
    snprintf(err, cap, "--listen '%s': expected ADDR:PORT with a numeric address "
                       "(127.0.0.1:8080, [::1]:8080, 0.0.0.0:8080) or localhost:PORT",
             spec);
    return -1;
}

static int check_options(const mfw_options *o, const listen_addr *a, char *err,
                         size_t cap)
{
    if (!o->file || !*o->file) {
        snprintf(err, cap, "no map file given");
        return -1;
    }
    if (o->token) {
        size_t n = strlen(o->token);
        if (n < 8 || n > MFW_TOKEN_MAX) {
            snprintf(err, cap, "--token must be 8 to %d characters", MFW_TOKEN_MAX);
            return -1;
        }
        for (const char *p = o->token; *p; p++)
            if (*p <= ' ' || *p > '~' || *p == ';' || *p == ',' || *p == '"' || *p == '\\') {
                snprintf(err, cap, "--token may hold printable ASCII without spaces, "
                                   "quotes, backslashes, ';' or ','");
                return -1;
            }
    }
    if (!a->loopback && !o->token && !o->no_auth) {
        snprintf(err, cap, "%s is not a loopback address: anyone who reaches it could "
                           "read %s; pass --token TOKEN (checked on every request) or "
                           "--no-auth", o->listen, o->file);
        return -1;
    }
    if (o->max_clients < 1 || o->max_connections < 8 || o->keepalive_s < 1) {
        snprintf(err, cap, "--max-clients must be >= 1, connections >= 8, keepalive >= 1 s");
        return -1;
    }
    return 0;
}

/* Enough descriptors for the connection cap (the soft limit may be 1024). */
static void raise_fd_limit(unsigned want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
    setrlimit(RLIMIT_NOFILE, &rl);
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static struct MHD_Daemon *start_daemon(mfw_server *s, listen_addr *a)
{
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME;
    if (a->v6)
        flags |= MHD_USE_IPv6;
    /* A connection counts only once its request is in, so clients that
     * trickle their headers (a slow-header flood) could fill the hard cap
     * and lock everyone out: beyond loopback one address may hold only an
     * eighth of the connections. (On loopback every client is one
     * address, and whoever can connect there can do worse.) */
    unsigned per_ip = a->loopback ? 0 : s->o.max_connections / 8;
    if (!a->loopback && per_ip < 16)
        per_ip = 16;
    return MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a->ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(s->o.threads ? s->o.threads : 2),
        /* the soft cap answers 503; this hard cap only stops a flood */
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)(s->o.max_connections + 64),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_UNESCAPE_CALLBACK, mfw_unescape, s,
        MHD_OPTION_END);
}

int mfw_server_start(mfw_server **out, const mfw_options *opts, char *err,
                     size_t errcap)
{
    listen_addr a;
    *out = NULL;
    if (parse_listen(opts->listen ? opts->listen : MFW_DEFAULT_LISTEN, &a, err, errcap) ||
        check_options(opts, &a, err, errcap))
        return -1;
    mfw_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errcap, "out of memory");
        return -2;
    }
    s->o = *opts;
    s->file = strdup(opts->file);
    s->token = dup_or_null(opts->token);
    s->title = dup_or_null(opts->title);
    s->loopback = a.loopback;
    mfw_state_init(&s->st);
    pthread_mutex_init(&s->clients_lock, NULL);
    pthread_mutex_init(&s->hier_lock, NULL);
    mfw_jsroot_find(s);
    if (opts->jsroot_dir && s->jsroot_fd < 0) {
        /* Said now, not as a 404 on every plot the page tries to draw. */
        snprintf(err, errcap, "%s holds no JSROOT package (no modules/core.mjs in it)",
                 opts->jsroot_dir);
        mfw_server_stop(s);
        return -1;
    }
    raise_fd_limit(s->o.max_connections * 2 + 256);
    s->d = start_daemon(s, &a);
    if (!s->d || !s->file) {
        snprintf(err, errcap, "cannot listen on %s: %s", opts->listen,
                 errno ? strerror(errno) : "libmicrohttpd refused to start");
        mfw_server_stop(s);
        return -2;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(s->url, sizeof s->url, "http://%s:%u/", a.host, info ? info->port : 0);
    if (mfw_watch_start(s) != 0) {
        snprintf(err, errcap, "cannot start the watcher thread");
        mfw_server_stop(s);
        return -2;
    }
    *out = s;
    return 0;
}

const char *mfw_server_url(const mfw_server *s) { return s->url; }

void mfw_server_stop(mfw_server *s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, 1);
    mfw_watch_stop(s);
    if (s->d) {
        mfw_events_close_all(s);
        MHD_stop_daemon(s->d);
    }
    mf_close(atomic_exchange(&s->mf, NULL));
    if (s->jsroot_fd >= 0)
        close(s->jsroot_fd);
    mfw_state_free(&s->st);
    pthread_mutex_destroy(&s->clients_lock);
    mfw_hier_cache_free(s);
    pthread_mutex_destroy(&s->hier_lock);
    free(s->file);
    free(s->token);
    free(s->title);
    free(s);
}
