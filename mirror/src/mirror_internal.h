/*
 * mirror_internal.h - what the parts of libmapfile_mirror share.
 *
 * Sections follow the files: errors.c (codes, detail, log), endpoint.c
 * (ENDPOINT strings), conn.c (the Redis connection and pipelining),
 * table.c (a name -> record-summary hash table), remote.c (checking
 * everything Redis returns), push.c, pull.c (reading Redis), apply.c
 * (writing the local file), run.c (loops, stop, backoff, stats).
 * Internal names start with mm_.
 */
#ifndef MF_MIRROR_INTERNAL_H
#define MF_MIRROR_INTERNAL_H

#include <mapfile/mirror.h>

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

/* ------------------------------------------------------------------------ */
/* errors.c                                                                 */
/* ------------------------------------------------------------------------ */

void mm_clear_detail(void);
/* snprintf where cutting a long string short is fine (messages, shown
 * endpoints): never a -Wformat-truncation warning. */
void mm_strfmt(char *dst, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Set the detail (printf) and return err. */
int mm_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A core call failed with rc: the detail is our context, then the core's
 * own detail. Returns rc. */
int mm_fail_core(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix the current detail with more context. Returns err. */
int mm_context(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Bytes from Redis made safe to print: control and non-ASCII bytes as \xNN,
 * at most about 80 characters. Returns buf. */
const char *mm_quote(char *buf, size_t cap, const char *s, size_t len);
#define MM_QUOTE_CAP 400
/* Redis's default proto-max-bulk-len: the largest string it takes. */
#define MM_BULK_MAX_DEFAULT (512ull << 20)

struct mf_mirror;
void mm_log(struct mf_mirror *m, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------------ */
/* endpoint.c                                                               */
/* ------------------------------------------------------------------------ */

typedef struct mm_endpoint {
    bool is_unix;
    char host[256];     /* host name or address, or the socket path */
    int port;
    char user[128];     /* ACL user, "" for the default user */
    char password[512];
    bool has_password;
    char shown[320];    /* for messages: never holds the password */
} mm_endpoint;

/* Parse ENDPOINT; the password falls back to @p password, then to
 * MAPFILE_REDIS_PASSWORD. Returns 0 or MF_MIRROR_EENDPOINT. */
int mm_endpoint_parse(mm_endpoint *ep, const char *text, const char *password);
/* 0 if ns is a valid namespace, else MF_MIRROR_EENDPOINT with the detail. */
int mm_ns_check(const char *ns);

/* ------------------------------------------------------------------------ */
/* table.c: name -> what is known about the record                          */
/* ------------------------------------------------------------------------ */

typedef struct mm_meta {
    char class_name[MF_CLASS_NAME_MAX + 1];
    size_t idx;         /* pull: position in a step's order */
    uint32_t version;
    uint64_t size;
    uint64_t checksum;
    uint64_t generation;
    double score;       /* insertion order in the names set */
    bool valid;         /* push: Redis holds a good copy with these values */
    bool seen;          /* scratch mark of one scan */
} mm_meta;

typedef struct mm_entry {
    char *name;         /* NULL: empty; MM_TOMB: removed */
    uint64_t hash;
    mm_meta meta;
} mm_entry;

typedef struct mm_table {
    mm_entry *v;
    size_t cap;         /* power of two, or 0 */
    size_t count;       /* live entries */
    size_t used;        /* live + tombstones */
} mm_table;

extern char mm_tomb[];
#define MM_TOMB mm_tomb

void mm_table_init(mm_table *t);
void mm_table_free(mm_table *t);
void mm_table_clear(mm_table *t);
mm_meta *mm_table_find(const mm_table *t, const char *name);
/* Find or add @p name (copied); *added tells which. NULL: out of memory.
 * The entry moves when the table grows; its name string does not. */
mm_entry *mm_table_put(mm_table *t, const char *name, bool *added);
void mm_table_del(mm_table *t, const char *name);
/* Iterate: start with *pos = 0; NULL at the end. */
mm_entry *mm_table_next(const mm_table *t, size_t *pos);

/* ------------------------------------------------------------------------ */
/* conn.c: the connection and a pipeline that counts bytes                  */
/* ------------------------------------------------------------------------ */

/* One command being built: argument pointers and lengths, and the strings
 * formatted for it (in @c scratch while they fit, else malloc'd and freed
 * by mm_args_free). */
typedef struct mm_args {
    const char **argv;
    size_t *lens;
    int argc, cap;
    char **owned;
    int nowned, owned_cap;
    bool oom;
    size_t used;        /* bytes of scratch in use */
    char scratch[512];  /* numbers of the command (no malloc each) */
} mm_args;

void mm_args_init(mm_args *a);
void mm_args_free(mm_args *a);
void mm_args_reset(mm_args *a);
void mm_args_add(mm_args *a, const void *p, size_t len);
void mm_args_str(mm_args *a, const char *s);
void mm_args_fmt(mm_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* @p v in decimal, without printf (a push formats a dozen numbers per
 * batch). */
void mm_args_u64(mm_args *a, uint64_t v);
/* Add a malloc'd buffer that the arguments own from now on (NULL: no
 * memory). */
void mm_args_take(mm_args *a, char *buf, size_t len);

/* The longest array reply a reader accepts (the names of a full sync, two
 * elements per record, stay far below it). */
#define MM_ARRAY_MAX (1u << 24)
/* Make @p r refuse longer arrays (every connection's reader gets it). */
void mm_reader_bound(redisReader *r);
/* Whether this thread's last reader error was such an array (and forget
 * it). */
bool mm_reader_refused(void);

/* Connect (and AUTH) unless connected. Returns 0, ECONNECT, EAUTH. */
int mm_connect(struct mf_mirror *m);
void mm_disconnect(struct mf_mirror *m);
/* Queue one command. Returns 0 or ENOMEM (the connection is dropped). */
int mm_append(struct mf_mirror *m, mm_args *a);
/* Read the next reply (sending what is queued first). An error reply is
 * returned as a reply, not as a failure. Returns 0, or EREDIS / EAUTH with
 * the connection dropped. */
int mm_reply(struct mf_mirror *m, redisReply **out);
/* Send one command and read its reply. */
int mm_command(struct mf_mirror *m, mm_args *a, redisReply **out);
/* Socket timeout for the next replies (ms beyond the usual one; it stays
 * until changed). */
void mm_timeout_extra(struct mf_mirror *m, int extra_ms);
/* Read the MULTI reply and @p queued QUEUED replies, then EXEC's array.
 * Returns 0 with *exec an array of @p queued replies, EREDIS (EXECABORT,
 * the connection dropped) or EREMOTE. */
int mm_exec_replies(struct mf_mirror *m, int queued, redisReply **exec,
                    const char *what);
/* An error reply: EREDIS with a detail naming @p what (the key, or what was
 * done) and a hint (OOM, READONLY, LOADING; NOAUTH -> EAUTH; WRONGTYPE ->
 * EREMOTE). Drops the connection. */
int mm_reply_error(struct mf_mirror *m, const redisReply *r, const char *what);

/* ------------------------------------------------------------------------ */
/* remote.c: checking what Redis returned                                   */
/* ------------------------------------------------------------------------ */

const char *mm_type_name(const redisReply *r);
/* Strict parsers of reply strings. 0 or -1. */
int mm_parse_u64(const char *s, size_t len, uint64_t *out);
int mm_parse_hex64(const char *s, size_t len, uint64_t *out);
void mm_hex64(uint64_t v, char out[17]);
/* NULL if the name is a valid record name, else why not. */
const char *mm_name_problem(const char *s, size_t len);
const char *mm_class_problem(const char *s, size_t len);

typedef struct mm_id {
    uint64_t ms, seq;
} mm_id;
int mm_parse_id(const char *s, size_t len, mm_id *out);
int mm_id_cmp(mm_id a, mm_id b);
void mm_id_str(mm_id id, char *buf, size_t cap);

/* The head hash. */
typedef struct mm_head {
    char epoch[17];
    uint64_t seq;
    uint64_t batch;
    uint64_t records;
    uint64_t max_size;
    char title[128];
} mm_head;
/* Parse an HGETALL reply of the head. Returns 0, MF_MIRROR_ENOSOURCE (no
 * head: an empty array), or EREMOTE. */
int mm_parse_head(struct mf_mirror *m, const redisReply *r, mm_head *h);

/* The fields HMGET reads from a record hash, in this order. */
enum {
    MM_F_CLASS, MM_F_VERSION, MM_F_SIZE, MM_F_CHECKSUM, MM_F_GENERATION,
    MM_F_UPDATES, MM_F_TIME, MM_F_BATCH, MM_F_DATA, MM_NFIELDS
};
extern const char *const mm_record_fields[MM_NFIELDS];

/* A record read from Redis; strings point into the reply. */
typedef struct mm_record {
    const char *name;           /* NUL-terminated copy (owned by caller) */
    char class_name[MF_CLASS_NAME_MAX + 1];
    uint32_t version;
    uint64_t size, checksum;
    const void *data;
    double score;
} mm_record;

/* One stream entry. Names point into the reply. */
typedef struct mm_name {
    const char *s;
    size_t len;
} mm_name;

typedef struct mm_entry_info {
    mm_id id;
    char epoch[17];
    uint64_t seq;
    uint64_t batch;
    bool reset;
    mm_name *put, *del;
    size_t nput, ndel;
    /* Small batches carry their records too ("rec" fields, one per put in
     * order): a pull applies them without reading the keys. recs[i] is
     * put[i]'s record (name NULL: set by the caller); data points into the
     * reply. */
    mm_record *recs;
    size_t nrecs, recs_cap;
} mm_entry_info;

/* Records of at most this many payload bytes in all (and at most
 * MM_INLINE_RECORDS records) travel inside their stream entry. */
#define MM_INLINE_BYTES (32u << 10)
#define MM_INLINE_RECORDS 256

/* Parse one [id, [field, value...]] stream entry. Names are checked.
 * Returns 0, ENOMEM or EREMOTE. Free with mm_entry_info_free. */
int mm_parse_entry(struct mf_mirror *m, const redisReply *r, mm_entry_info *e);
void mm_entry_info_free(mm_entry_info *e);

/* Check an HMGET reply of a record: 1 with *rec filled, 0 if the key does
 * not exist (every field nil), or EREMOTE (the detail names the key). */
int mm_parse_record(struct mf_mirror *m, const char *name, const redisReply *r,
                    mm_record *rec);

/* ------------------------------------------------------------------------ */
/* push.c / pull.c / apply.c                                                */
/* ------------------------------------------------------------------------ */

int mm_push_probe(struct mf_mirror *m);
/* Records to write into the local file as one batch. */
typedef struct mm_state {
    mm_record *recs;
    size_t n;
    bool full;          /* recs is everything: remove what it lacks */
    const char **removed;
    size_t nremoved;
    char title[128];
    uint64_t max_size;
} mm_state;
/* Write @p st into the local file as one batch (creating or rebuilding the
 * file when needed). *replace_needed is set (and nothing written) when a
 * record changes class and @p st is not the full state. */
int mm_apply(struct mf_mirror *m, const mm_state *st, bool *replace_needed,
             bool *committed);

/* Make this pull the local file's only writer (an exclusive lock beside
 * it): 0, #MF_MIRROR_EOWNED when another pull holds it, or an error. */
int mm_local_claim(struct mf_mirror *m);

/* Is the local file still the one this pull wrote, unchanged by others?
 * When it was removed, replaced or written by another writer, says so in
 * the log and asks for a full sync (m->synced = false). */
void mm_local_check(struct mf_mirror *m);

/* ------------------------------------------------------------------------ */
/* The mirror                                                               */
/* ------------------------------------------------------------------------ */

struct mf_mirror {
    bool is_push;
    mm_endpoint ep;
    char ns[MF_MIRROR_NS_MAX + 1];
    char k_head[96], k_names[96], k_log[96], k_rec[96]; /* k_rec: prefix */
    size_t k_rec_len;
    uint64_t maxlen;
    int connect_timeout_ms, io_timeout_ms, block_ms, backoff_max_ms;
    uint64_t max_size;
    mf_mirror_log_fn log;
    void *log_ud;
    redisContext *c;
    int timeout_extra;  /* ms beyond io_timeout_ms the socket has now */
    atomic_int stop;
    mf_mirror_stats st;

    /* push */
    mf_file *src;
    mm_table pushed;    /* what Redis holds, per name */
    mm_table too_big;   /* records over bulk_max, with the generation
                           last reported */
    uint64_t bulk_max;  /* the largest string Redis takes
                           (proto-max-bulk-len) */
    char pusher[128];   /* "HOST pid N", in the head: who writes it */
    bool loaded;        /* pushed/epoch/seq were read since connecting */
    bool fresh;         /* the next batch writes the namespace from nothing */
    uint64_t next_score;
    char epoch[17];
    uint64_t seq;

    /* pull */
    char *path;
    mf_file *dst;
    int lock_fd;        /* the flock that makes this pull the file's writer */
    uint64_t dst_dev, dst_ino; /* the file dst has open, as its path named it */
    uint64_t dst_gen;   /* its generation after this pull's last write; 0
                           when not known */
    bool rebuild;       /* others wrote the file: the next full state goes
                           into a new one, in the source's order */
    bool synced;        /* following the stream from last_id */
    bool head_gone;     /* logged that the head disappeared */
    unsigned ahead;     /* idle checks in a row that found the head ahead */
    mm_id last_id;
};

/* The key of record @p name: k_rec + name (malloc'd; NULL if no memory). */
char *mm_rec_key(const struct mf_mirror *m, const char *name, size_t len,
                 size_t *key_len);
/* Whether mf_mirror_stop() was called. */
static inline bool mm_stopped(struct mf_mirror *m)
{
    return atomic_load(&m->stop) != 0;
}
uint64_t mm_now_ns(void);

#endif
