/*
 * peers.c - the stores mapfile is compared with, each used the fast-but-fair
 * way: LMDB (one write transaction per put, MDB_NOSYNC | MDB_WRITEMAP |
 * MDB_NOMETASYNC; gets in a reset/renewed read transaction), Redis (SET/GET
 * over a unix socket to a private server with persistence off) and plain
 * files (write to a temporary name + rename, no fsync; get = open + read).
 * Also the encode/decode helpers that make a peer pay for the same codec.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <hiredis/hiredis.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* Keys of the Redis peer carry this prefix so a shared server is only
 * cleaned of our own keys. */
#define REDIS_PREFIX "mfbench:"

/* ------------------------------------------------------------------------ */
/* Codec helpers                                                            */
/* ------------------------------------------------------------------------ */

static int enc_grow(mf_writer *w, size_t need)
{
    encbuf *e = w->host;
    size_t want = w->len + need, cap = e->cap ? e->cap : 4096;
    while (cap < want)
        cap *= 2;
    unsigned char *b = realloc(e->buf, cap);
    if (!b)
        return -1;
    e->buf = b;
    e->cap = cap;
    w->buf = b;
    w->cap = cap;
    return 0;
}

int enc_object(encbuf *e, const mf_class *cls, const void *obj)
{
    mf_writer w = {e->buf, 0, e->cap, 0, enc_grow, e};
    int rc = cls->stream_out(obj, &w);
    if (rc || w.err)
        return MF_ECODEC;
    e->len = w.len;
    return 0;
}

void enc_free(encbuf *e)
{
    free(e->buf);
    memset(e, 0, sizeof *e);
}

int dec_object(const mf_class *cls, const void *data, size_t n)
{
    mf_reader r = mf_reader_make(data, n);
    void *o = cls->stream_in(&r, cls->version);
    if (!o || r.err) {
        if (o)
            cls->destroy(o);
        return MF_ECODEC;
    }
    cls->destroy(o);
    return 0;
}

void store_die(store *s)
{
    die("%s: %s", s->name, s->err);
}

void mf_put_set(mf_file *mf, uint64_t salt, size_t first, size_t count,
                const char *class_name, uint32_t class_version, const void *data,
                size_t n)
{
    /* Batches of about 8 MiB: a fill of millions of records in one commit
     * per record would take longer than the figures. */
    size_t per_batch = (8u << 20) / (n + 64);
    if (per_batch < 1)
        per_batch = 1;
    if (per_batch > 16384)
        per_batch = 16384;
    for (size_t done = first; done < count;) {
        if ((done - first) % (per_batch * 16) == 0)
            progress_step("filling a map file: %zu of %zu records", done, count);
        mf_batch *b;
        mfok(mf_batch_begin(mf, &b), "mf_batch_begin");
        size_t end = done + per_batch < count ? done + per_batch : count;
        for (; done < end; done++) {
            char key[SET_NAME_CAP];
            set_name(key, salt, done);
            int rc = mf_batch_put_raw(b, key, class_name, class_version, data, n);
            if (rc) {
                mf_batch_abort(b);
                mfok(rc, "mf_batch_put_raw");
            }
        }
        mfok(mf_batch_commit(b), "mf_batch_commit");
    }
}

/* ------------------------------------------------------------------------ */
/* LMDB                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct lmdb_store {
    store s;
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *rtxn; /* reset between gets, renewed for each */
} lmdb_store;

static int lmdb_fail(store *s, const char *what, int e)
{
    snprintf(s->err, sizeof s->err, "LMDB %s: %s", what, mdb_strerror(e));
    return -1;
}

static int lmdb_put(store *s, const char *key, const void *data, size_t n)
{
    lmdb_store *l = (lmdb_store *)s;
    MDB_txn *txn;
    int e = mdb_txn_begin(l->env, NULL, 0, &txn);
    if (e)
        return lmdb_fail(s, "txn_begin", e);
    MDB_val k = {strlen(key), (void *)key}, v = {n, (void *)data};
    if ((e = mdb_put(txn, l->dbi, &k, &v, 0))) {
        mdb_txn_abort(txn);
        return lmdb_fail(s, "put", e);
    }
    if ((e = mdb_txn_commit(txn)))
        return lmdb_fail(s, "commit", e);
    return 0;
}

static int lmdb_put_set(store *s, uint64_t salt, size_t count, const void *data,
                        size_t n)
{
    lmdb_store *l = (lmdb_store *)s;
    /* Several transactions: one would grow LMDB's dirty list without bound. */
    size_t per_txn = (64u << 20) / (n + 64);
    if (per_txn < 1)
        per_txn = 1;
    if (per_txn > 65536)
        per_txn = 65536;
    for (size_t done = 0; done < count;) {
        MDB_txn *txn;
        int e = mdb_txn_begin(l->env, NULL, 0, &txn);
        if (e)
            return lmdb_fail(s, "txn_begin", e);
        size_t end = done + per_txn < count ? done + per_txn : count;
        for (; done < end; done++) {
            char key[SET_NAME_CAP];
            set_name(key, salt, done);
            MDB_val k = {strlen(key), key}, v = {n, (void *)data};
            if ((e = mdb_put(txn, l->dbi, &k, &v, 0))) {
                mdb_txn_abort(txn);
                return lmdb_fail(s, "put", e);
            }
        }
        if ((e = mdb_txn_commit(txn)))
            return lmdb_fail(s, "commit", e);
    }
    return 0;
}

static int lmdb_get(store *s, const char *key, const void **data, size_t *n,
                    bool *priv)
{
    lmdb_store *l = (lmdb_store *)s;
    int e = l->rtxn ? mdb_txn_renew(l->rtxn)
                    : mdb_txn_begin(l->env, NULL, MDB_RDONLY, &l->rtxn);
    if (e)
        return lmdb_fail(s, "read txn", e);
    MDB_val k = {strlen(key), (void *)key}, v;
    if ((e = mdb_get(l->rtxn, l->dbi, &k, &v))) {
        mdb_txn_reset(l->rtxn);
        return lmdb_fail(s, "get", e);
    }
    *data = v.mv_data;
    *n = v.mv_size;
    *priv = false;
    return 0;
}

static void lmdb_get_done(store *s)
{
    lmdb_store *l = (lmdb_store *)s;
    mdb_txn_reset(l->rtxn);
}

static int64_t lmdb_footprint(store *s)
{
    lmdb_store *l = (lmdb_store *)s;
    MDB_envinfo info;
    MDB_stat st;
    if (mdb_env_info(l->env, &info) || mdb_env_stat(l->env, &st))
        return -1;
    return (int64_t)(info.me_last_pgno + 1) * st.ms_psize;
}

int64_t lmdb_pages_bytes(store *s)
{
    lmdb_store *l = (lmdb_store *)s;
    MDB_stat st;
    if (mdb_env_stat(l->env, &st))
        return -1;
    return (int64_t)(st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) *
           st.ms_psize;
}

static void lmdb_close(store *s)
{
    lmdb_store *l = (lmdb_store *)s;
    if (l->rtxn)
        mdb_txn_abort(l->rtxn);
    mdb_env_close(l->env);
    free(l);
}

store *lmdb_open_store(const char *dir, uint64_t map_size)
{
    lmdb_store *l = calloc(1, sizeof *l);
    if (!l)
        die("out of memory");
    if (mkdir(dir, 0700) && errno != EEXIST)
        die("mkdir %s: %s", dir, strerror(errno));
    int e = mdb_env_create(&l->env);
    if (!e)
        e = mdb_env_set_mapsize(l->env, (size_t)map_size);
    if (!e)
        e = mdb_env_open(l->env, dir, MDB_NOSYNC | MDB_WRITEMAP | MDB_NOMETASYNC,
                         0600);
    MDB_txn *txn = NULL;
    if (!e)
        e = mdb_txn_begin(l->env, NULL, 0, &txn);
    if (!e)
        e = mdb_dbi_open(txn, NULL, 0, &l->dbi);
    if (!e)
        e = mdb_txn_commit(txn);
    if (e)
        die("LMDB environment in %s: %s", dir, mdb_strerror(e));
    l->s.name = "LMDB";
    l->s.put = lmdb_put;
    l->s.put_set = lmdb_put_set;
    l->s.get = lmdb_get;
    l->s.get_done = lmdb_get_done;
    l->s.footprint = lmdb_footprint;
    l->s.close = lmdb_close;
    return &l->s;
}

/* ------------------------------------------------------------------------ */
/* Redis                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct redis_store {
    store s;
    redisContext *c;
    redisReply *last;
} redis_store;

static pid_t redis_pid;

static int redis_fail(store *s, const char *what, redisReply *r)
{
    redis_store *rs = (redis_store *)s;
    snprintf(s->err, sizeof s->err, "Redis %s: %s", what,
             r && r->type == REDIS_REPLY_ERROR ? r->str
             : rs->c->err                     ? rs->c->errstr
                                              : "unexpected reply");
    if (r)
        freeReplyObject(r);
    return -1;
}

static int redis_put(store *s, const char *key, const void *data, size_t n)
{
    redis_store *rs = (redis_store *)s;
    redisReply *r = redisCommand(rs->c, "SET " REDIS_PREFIX "%s %b", key, data, n);
    if (!r || r->type != REDIS_REPLY_STATUS)
        return redis_fail(s, "SET", r);
    freeReplyObject(r);
    return 0;
}

static int redis_put_set(store *s, uint64_t salt, size_t count, const void *data,
                         size_t n)
{
    redis_store *rs = (redis_store *)s;
    for (size_t done = 0; done < count;) {
        size_t chunk = count - done < 1000 ? count - done : 1000;
        for (size_t i = 0; i < chunk; i++) {
            char key[SET_NAME_CAP];
            set_name(key, salt, done + i);
            redisAppendCommand(rs->c, "SET " REDIS_PREFIX "%s %b", key, data, n);
        }
        for (size_t i = 0; i < chunk; i++) {
            redisReply *r;
            if (redisGetReply(rs->c, (void **)&r) != REDIS_OK || !r ||
                r->type != REDIS_REPLY_STATUS)
                return redis_fail(s, "SET (pipelined)", r);
            freeReplyObject(r);
        }
        done += chunk;
    }
    return 0;
}

static int redis_get(store *s, const char *key, const void **data, size_t *n,
                     bool *priv)
{
    redis_store *rs = (redis_store *)s;
    redisReply *r = redisCommand(rs->c, "GET " REDIS_PREFIX "%s", key);
    if (!r || r->type != REDIS_REPLY_STRING)
        return redis_fail(s, "GET", r);
    rs->last = r;
    *data = r->str;
    *n = r->len;
    *priv = true; /* the reply is the client's own copy */
    return 0;
}

static void redis_get_done(store *s)
{
    redis_store *rs = (redis_store *)s;
    freeReplyObject(rs->last);
    rs->last = NULL;
}

static int64_t redis_info_field(redisContext *c, const char *section,
                                const char *field, char *str, size_t cap)
{
    redisReply *r = redisCommand(c, "INFO %s", section);
    int64_t v = -1;
    if (r && r->type == REDIS_REPLY_STRING) {
        char pat[64];
        snprintf(pat, sizeof pat, "\r\n%s:", field);
        const char *p = strstr(r->str, pat);
        if (!p && strncmp(r->str, pat + 2, strlen(pat + 2)) == 0)
            p = r->str - 2;
        if (p) {
            p += strlen(pat);
            if (str) {
                size_t i = 0;
                while (p[i] && p[i] != '\r' && i + 1 < cap) {
                    str[i] = p[i];
                    i++;
                }
                str[i] = '\0';
            }
            v = strtoll(p, NULL, 10);
        }
    }
    if (r)
        freeReplyObject(r);
    return v;
}

static int64_t redis_footprint(store *s)
{
    redis_store *rs = (redis_store *)s;
    return redis_info_field(rs->c, "memory", "used_memory", NULL, 0);
}

static void redis_close(store *s)
{
    redis_store *rs = (redis_store *)s;
    redisFree(rs->c);
    free(rs);
}

store *redis_open_store(const char *sock)
{
    if (!sock || !sock[0])
        return NULL;
    redisContext *c = redisConnectUnix(sock);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    redis_store *rs = calloc(1, sizeof *rs);
    if (!rs)
        die("out of memory");
    rs->c = c;
    rs->s.name = "Redis";
    rs->s.put = redis_put;
    rs->s.put_set = redis_put_set;
    rs->s.get = redis_get;
    rs->s.get_done = redis_get_done;
    rs->s.footprint = redis_footprint;
    rs->s.close = redis_close;
    return &rs->s;
}

static bool redis_ping(const char *sock)
{
    redisContext *c = redisConnectUnix(sock);
    bool ok = false;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "PING");
        ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
        if (r)
            freeReplyObject(r);
    }
    if (c)
        redisFree(c);
    return ok;
}

static void redis_note_version(void)
{
    redisContext *c = redisConnectUnix(B.redis_sock);
    char ver[32] = "?";
    if (c && !c->err)
        redis_info_field(c, "server", "redis_version", ver, sizeof ver);
    if (c)
        redisFree(c);
    snprintf(B.redis_note, sizeof B.redis_note, "redis %s on unix socket%s",
             ver, redis_pid ? " (private server started by mapfile-bench)"
                            : " (MAPFILE_BENCH_REDIS_SOCKET)");
}

void redis_start(void)
{
    const char *env = getenv("MAPFILE_BENCH_REDIS_SOCKET");
    if (env && env[0]) {
        if (strlen(env) >= sizeof B.redis_sock || !redis_ping(env)) {
            snprintf(B.redis_note, sizeof B.redis_note,
                     "no Redis peer: MAPFILE_BENCH_REDIS_SOCKET=%s does not answer", env);
            return;
        }
        snprintf(B.redis_sock, sizeof B.redis_sock, "%s", env);
        redis_note_version();
        return;
    }
    char sock[sizeof B.redis_sock], dir[300];
    snprintf(sock, sizeof sock, "%s/redis.sock", B.dir);
    snprintf(dir, sizeof dir, "%s", B.dir);
    if (strlen(sock) >= 100) {
        strfmt(B.redis_note, sizeof B.redis_note,
               "no Redis peer: socket path too long (%s)", sock);
        return;
    }
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock,
               "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
               "--dir", dir, "--daemonize", "no", (char *)NULL);
        _exit(127);
    }
    redis_pid = pid;
    for (int i = 0; i < 500; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            redis_pid = 0;
            snprintf(B.redis_note, sizeof B.redis_note,
                     "no Redis peer: redis-server %s (exit %d)",
                     WIFEXITED(st) && WEXITSTATUS(st) == 127 ? "not found"
                                                             : "failed to start",
                     WIFEXITED(st) ? WEXITSTATUS(st) : -1);
            return;
        }
        if (redis_ping(sock)) {
            snprintf(B.redis_sock, sizeof B.redis_sock, "%s", sock);
            redis_note_version();
            return;
        }
        sleep_ns(10 * 1000000);
    }
    redis_stop();
    snprintf(B.redis_note, sizeof B.redis_note,
             "no Redis peer: redis-server did not answer PING within 5 s");
}

void redis_stop(void)
{
    if (redis_pid <= 0)
        return;
    kill(redis_pid, SIGTERM);
    int st;
    for (int i = 0; i < 300; i++) {
        if (waitpid(redis_pid, &st, WNOHANG) == redis_pid) {
            redis_pid = 0;
            return;
        }
        sleep_ns(10 * 1000000);
    }
    kill(redis_pid, SIGKILL);
    waitpid(redis_pid, &st, 0);
    redis_pid = 0;
}

void redis_flush(void)
{
    if (!B.redis_sock[0])
        return;
    redisContext *c = redisConnectUnix(B.redis_sock);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return;
    }
    unsigned long long cursor = 0;
    do {
        redisReply *r = redisCommand(c, "SCAN %llu MATCH " REDIS_PREFIX "* COUNT 1000",
                                     cursor);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            if (r)
                freeReplyObject(r);
            break;
        }
        cursor = strtoull(r->element[0]->str, NULL, 10);
        redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++)
            redisAppendCommand(c, "DEL %b", keys->element[i]->str,
                               (size_t)keys->element[i]->len);
        for (size_t i = 0; i < keys->elements; i++) {
            redisReply *d;
            if (redisGetReply(c, (void **)&d) == REDIS_OK && d)
                freeReplyObject(d);
        }
        freeReplyObject(r);
    } while (cursor != 0);
    redisFree(c);
}

/* ------------------------------------------------------------------------ */
/* Files: write to a temporary name, then rename                            */
/* ------------------------------------------------------------------------ */

typedef struct file_store {
    store s;
    char dir[300];
    unsigned char *buf;
    size_t cap;
} file_store;

static int file_fail(store *s, const char *what, const char *path)
{
    strfmt(s->err, sizeof s->err, "%s %s: %s", what, path, strerror(errno));
    return -1;
}

static int file_put(store *s, const char *key, const void *data, size_t n)
{
    file_store *f = (file_store *)s;
    char tmp[400], dst[400];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", f->dir, key);
    snprintf(dst, sizeof dst, "%s/%s", f->dir, key);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return file_fail(s, "open", tmp);
    const unsigned char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            return file_fail(s, "write", tmp);
        }
        p += w;
        n -= (size_t)w;
    }
    if (close(fd) != 0)
        return file_fail(s, "close", tmp);
    if (rename(tmp, dst) != 0)
        return file_fail(s, "rename", dst);
    return 0;
}

static int file_put_set(store *s, uint64_t salt, size_t count, const void *data,
                        size_t n)
{
    for (size_t i = 0; i < count; i++) {
        char key[SET_NAME_CAP];
        set_name(key, salt, i);
        if (file_put(s, key, data, n))
            return -1;
    }
    return 0;
}

static int file_get(store *s, const char *key, const void **data, size_t *n,
                    bool *priv)
{
    file_store *f = (file_store *)s;
    char path[400];
    snprintf(path, sizeof path, "%s/%s", f->dir, key);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return file_fail(s, "open", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return file_fail(s, "fstat", path);
    }
    size_t want = (size_t)st.st_size;
    if (want > f->cap) {
        unsigned char *b = realloc(f->buf, want);
        if (!b)
            die("out of memory");
        f->buf = b;
        f->cap = want;
    }
    size_t got = 0;
    while (got < want) {
        ssize_t r = read(fd, f->buf + got, want - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            close(fd);
            return file_fail(s, "read", path);
        }
        got += (size_t)r;
    }
    close(fd);
    *data = f->buf;
    *n = got;
    *priv = true;
    return 0;
}

static void file_get_done(store *s) { (void)s; }

static int64_t file_footprint(store *s)
{
    (void)s;
    return -1;
}

static void file_close(store *s)
{
    file_store *f = (file_store *)s;
    free(f->buf);
    free(f);
}

store *file_open_store(const char *dir)
{
    file_store *f = calloc(1, sizeof *f);
    if (!f)
        die("out of memory");
    if (mkdir(dir, 0700) && errno != EEXIST)
        die("mkdir %s: %s", dir, strerror(errno));
    snprintf(f->dir, sizeof f->dir, "%s", dir);
    f->s.name = "tmp+rename";
    f->s.put = file_put;
    f->s.put_set = file_put_set;
    f->s.get = file_get;
    f->s.get_done = file_get_done;
    f->s.footprint = file_footprint;
    f->s.close = file_close;
    return &f->s;
}
