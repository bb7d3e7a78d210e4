/* internal.h - what the files of the web server share.
 *
 *   server.c  the daemon: options, start/stop, each request's checks
 *             (method, connection cap, token, Host) and dispatch; replies
 *   route.c   URL decoding (strict) and which endpoint a path names
 *   watch.c   the watcher thread: opens the file (waiting for it),
 *             sleeps in mf_wait, and keeps the change table events use
 *   events.c  /events: Server-Sent Events clients, coalescing, resume
 *   records.c /h.json, /NAME/root.json, /NAME/get.json, /info.json
 *   assets.c  the embedded page and JSROOT's files
 *   serve_cmd.c  `mapf serve` argument parsing and the signal loop
 */
#ifndef MFW_INTERNAL_H
#define MFW_INTERNAL_H

#include <mapfile/mapfile.h>
#include <mapfile/web.h>

#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>

/* Largest response body built in memory (a hist2d of 2000x2000 is about
 * 80 MB of JSON); past it the request fails with 507, never an abort. */
#define MFW_MAX_BODY ((size_t)256 << 20)
/* A reply body over this size that does not fit in the reply budget
 * (mfw_options.reply_budget) gets a 503; smaller ones always pass. */
#define MFW_BIG_BODY ((size_t)1 << 20)
/* Largest SSE event, names included; past it a client gets "resync". */
#define MFW_MAX_EVENT ((size_t)64 << 10)
/* Change history kept for Last-Event-ID (scans) and removed names. */
#define MFW_HISTORY 4096
#define MFW_TOMBSTONES 1024

/* ---- route.c ------------------------------------------------------------ */

typedef enum mfw_route_kind {
    MFW_R_BAD,       /* malformed: 400 */
    MFW_R_NOTFOUND,  /* no such endpoint: 404 */
    MFW_R_PAGE,      /* "/" */
    MFW_R_ASSET,     /* one embedded file of the page */
    MFW_R_FAVICON,
    MFW_R_HIER,      /* /h.json */
    MFW_R_INFO,      /* /info.json */
    MFW_R_EVENTS,    /* /events */
    MFW_R_JSROOT,    /* /jsrootsys/REL */
    MFW_R_ROOT_JSON, /* /NAME/root.json(.gz) */
    MFW_R_GET_JSON   /* /NAME/get.json */
} mfw_route_kind;

typedef struct mfw_route {
    mfw_route_kind kind;
    char name[MF_NAME_MAX + 1]; /* record name, or JSROOT relative path */
    const char *why;            /* for MFW_R_BAD */
} mfw_route;

/* Strict %XX decoding in place, for MHD_OPTION_UNESCAPE_CALLBACK. A bad
 * escape, a NUL, a control byte or invalid UTF-8 turns the URL into
 * "\x01" (MHD cannot be told "400" from here; mfw_route does it). */
size_t mfw_unescape(void *cls, struct MHD_Connection *c, char *uri);
/* Classify a decoded path. */
void mfw_route_path(const char *path, mfw_route *r);
/* Non-zero if a JSROOT-relative path is safe: segments of [A-Za-z0-9._-]
 * that are not empty, "." or "..". */
int mfw_safe_relpath(const char *rel);

/* ---- watch.c ------------------------------------------------------------ */

typedef struct mfw_rec {
    char *name;
    uint64_t gen;         /* the record's generation when last scanned */
    uint64_t changed_seq; /* scan (seq) that last saw it change */
} mfw_rec;

typedef struct mfw_tomb {
    char *name;
    uint64_t seq; /* scan that saw it removed */
} mfw_tomb;

/* What the watcher knows; guarded by lock (events read it). */
typedef struct mfw_state {
    pthread_rwlock_t lock;
    mfw_rec *recs; /* sorted by name */
    size_t nrecs;
    _Atomic uint64_t seq;   /* last scan that found a change */
    _Atomic uint64_t epoch; /* bumped when the file appears or is replaced */
    uint64_t tree_seq;      /* last scan that added or removed a record */
    uint64_t resume_floor;  /* a client at a seq below this must resync */
    uint64_t gen_seq[MFW_HISTORY][2]; /* ring of (generation, seq) */
    size_t gen_n, gen_head;
    mfw_tomb tombs[MFW_TOMBSTONES];
    size_t tomb_n, tomb_head;
    _Atomic uint64_t generation; /* file generation of the last scan */
    _Atomic uint64_t file_id;    /* the file's random id (mf_file_info): event
                                    ids carry it, so a Last-Event-ID from a
                                    file since replaced is not resumed */
    _Atomic uint64_t updates;    /* scans that found a change */
} mfw_state;

/* ---- events.c ----------------------------------------------------------- */

typedef struct mfw_client mfw_client;

/* ---- the server --------------------------------------------------------- */

struct mfw_server {
    mfw_options o;
    char *file, *token, *title, *listen;
    char url[160];
    int loopback;
    struct MHD_Daemon *d;
    _Atomic(mf_file *) mf;
    _Atomic size_t bodies_held; /* bytes of reply bodies not yet sent */
    pthread_t watcher;
    int watcher_started;
    atomic_int stopping;
    mfw_state st;
    char file_title[128];
    atomic_int file_state; /* 0 waiting, 1 open, -1 cannot open */
    char file_error[256];

    pthread_mutex_t clients_lock;
    /* h.json: each record's kind and title by generation (records.c), so
     * a listing decodes only what changed since the last one. */
    pthread_mutex_t hier_lock;
    struct mfw_hrec *hier_cache; /* sorted by name */
    size_t hier_n;
    uint64_t hier_file_id;       /* the file the cache describes */
    mfw_client *clients; /* /events streams, a doubly linked list */
    unsigned nclients;
    atomic_uint nconn;   /* open connections */

    char jsroot[4096];   /* JSROOT package dir, "" if none */
    int jsroot_fd;       /* O_PATH of jsroot/, or -1 */
};

/* records.c: frees the h.json cache (server stop). */
void mfw_hier_cache_free(mfw_server *s);

/* server.c: replies. Every body gets Cache-Control: no-store (live data)
 * unless @p cache_s > 0, and nosniff. @p body is taken (free()d) and
 * counted against the server's reply budget until it is sent: a big body
 * that does not fit gets a 503 instead. */
enum MHD_Result mfw_reply(mfw_server *s, struct MHD_Connection *c, unsigned status,
                          const char *ctype, void *body, size_t len,
                          int cache_s);
/* mfw_reply with one more header @p hdr: @p val (none if @p hdr is NULL). */
enum MHD_Result mfw_reply_with(mfw_server *s, struct MHD_Connection *c, unsigned status,
                               const char *ctype, void *body, size_t len, int cache_s,
                               const char *hdr, const char *val);
/* A JSON error {"error": CODE, "message": ...} with @p status. */
enum MHD_Result mfw_reply_error(struct MHD_Connection *c, unsigned status,
                                const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A static string body (never freed). */
enum MHD_Result mfw_reply_static(struct MHD_Connection *c, unsigned status,
                                 const char *ctype, const char *body,
                                 size_t len, int cache_s);
/* Adds the common security headers. */
void mfw_common_headers(struct MHD_Response *r, int cache_s);

/* watch.c */
int mfw_watch_start(mfw_server *s);
/* Joins the watcher; the file stays open (requests may still use it). */
void mfw_watch_stop(mfw_server *s);
/* The open map file, or NULL while waiting for it. */
mf_file *mfw_file(mfw_server *s);
void mfw_state_init(mfw_state *st);
void mfw_state_free(mfw_state *st);
/* Record one scan's view of the records (sorted names, their
 * generations) at file generation @p gen; returns non-zero if anything
 * changed. @p restart: the file appeared or was replaced. Takes the
 * names. Exposed for tests. */
int mfw_state_apply(mfw_state *st, mfw_rec *recs, size_t n, uint64_t gen,
                    int restart);

/* events.c */
enum MHD_Result mfw_events_open(mfw_server *s, struct MHD_Connection *c);
/* Wake every stream that has something to send (after a change), or that
 * has been idle for keepalive_s (on a tick). */
void mfw_events_wake(mfw_server *s, int tick);
/* Wake all streams so they end; before MHD_stop_daemon. */
void mfw_events_close_all(mfw_server *s);
/* The resume position for a Last-Event-ID: the seq the client has seen,
 * or UINT64_MAX when it must resync. Caller holds st->lock. */
uint64_t mfw_events_resume_seq(const mfw_state *st, uint64_t last_gen);
/* An event id: "GENERATION-FILEID" (16 hex digits). */
void mfw_event_id(const mfw_state *st, uint64_t gen, mf_writer *w);
/* Parse one; -1 unless it is well formed. */
int mfw_event_id_parse(const char *v, uint64_t *gen, uint64_t *file_id);
/* Compose the event for a client at @p seq into @p w (SSE text): a change
 * event naming what changed since @p seq, or a resync event. Returns the
 * seq now covered. Caller holds st->lock. Exposed for tests. */
uint64_t mfw_events_compose(const mfw_state *st, uint64_t seq, int resync,
                            mf_writer *w);

/* records.c */
enum MHD_Result mfw_serve_hier(mfw_server *s, struct MHD_Connection *c);
enum MHD_Result mfw_serve_info(mfw_server *s, struct MHD_Connection *c);
enum MHD_Result mfw_serve_record(mfw_server *s, struct MHD_Connection *c,
                                 const mfw_route *r);

/* assets.c */
enum MHD_Result mfw_serve_page(mfw_server *s, struct MHD_Connection *c,
                               const char *path);
enum MHD_Result mfw_serve_jsroot(mfw_server *s, struct MHD_Connection *c,
                                 const char *rel);
/* Find JSROOT: opts, $MAPFILE_JSROOT_DIR, next to the executable, the
 * build tree. Sets s->jsroot and s->jsroot_fd. */
void mfw_jsroot_find(mfw_server *s);
/* An embedded file of the page by path ("/", "/app.js"), or NULL. */
const char *mfw_asset(const char *path, size_t *len, const char **ctype);

#endif
