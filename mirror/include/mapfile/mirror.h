/**
 * @file mapfile/mirror.h
 * @brief libmapfile_mirror: keep map files on other hosts in step through
 *        Redis (`mapf mirror push` / `mapf mirror pull`).
 *
 * A **push** follows one map file and publishes every change to a Redis
 * server; a **pull** on any other host keeps a local map file equal to it,
 * which every local tool and consumer reads as usual (mf_get, mf_wait,
 * `mapf watch`, the web view, Python). Neither side needs codecs: payloads
 * travel as bytes with their class name and class version.
 *
 * ## What is stored in Redis (namespace NS, default "mapfile")
 * Every key carries the hash tag `{NS}`, so a Redis Cluster keeps one
 * namespace in one slot and MULTI/EXEC spans all of it.
 * - `mf:{NS}:head` (hash): `format` ("1"), `epoch` (16 hex digits, new each
 *   time the namespace is written from nothing), `seq` (number of the last
 *   batch published), `batch` (the source file's committed batch it
 *   showed), `title` and `max_size` (of the source file), `records`,
 *   `time_ns`.
 * - `mf:{NS}:names` (sorted set): every record name, scored by insertion
 *   order, so a mirror lists records in the source's order.
 * - `mf:{NS}:r:NAME` (hash, one per record): `class`, `version`, `size`,
 *   `checksum` (XXH3-64 of the payload, 16 hex digits), `generation`,
 *   `update_count`, `time_ns`, `batch` (the source's stat fields) and
 *   `data` (the raw payload).
 * - `mf:{NS}:log` (stream, trimmed with `MAXLEN ~`): one entry per batch,
 *   fields `epoch`, `seq`, `batch`, `put` and `del` (the names changed and
 *   removed, separated by newlines, which names cannot contain), `reset`
 *   ("1" when the batch rewrote the namespace from nothing) and, for a
 *   small batch (at most 32 KiB of payload and 256 records), one `rec`
 *   field per name in `put`: `CLASS\nVERSION\nCHECKSUM\n` then the
 *   payload.
 *
 * ## Batch atomicity
 * The push reads the source through one read view (mf_txn_begin(): every
 * record as of one committed batch), compares every record's generation,
 * checksum, size and class with what Redis holds, and sends only the
 * changed and removed records, with the head and the stream entry, in one
 * MULTI/EXEC. Redis applies it whole, so the keys always show one source
 * batch.
 *
 * A pull reads the new stream entries (XREAD BLOCK). Entries that carry
 * their records give the source's state after the last of them at once.
 * Otherwise it reads, in one MULTI/EXEC, the stream after them and the keys
 * of every name they change: if that stream tail names nothing it did not
 * read, what it read is exactly the source at the stream's last entry;
 * otherwise it reads again with the larger set. It applies the state as
 * one local batch (mf_batch_commit(): readers see all of it or none, even
 * across a crash). Several remote batches may fold into one local batch,
 * but a reader of the mirror never sees a state that mixes two source
 * batches. (mirror/DESIGN.md says why in more words.)
 *
 * ## Resync
 * A pull starts with a full sync: in one MULTI/EXEC the head, the names,
 * the last stream entry and every record (repeated while the set of names
 * changes between its first look and the transaction). Only records that
 * differ from the local file are written; local records Redis does not
 * hold are removed; all in one local batch. It syncs in full again whenever
 * it cannot follow the stream: an entry of another epoch, a gap in `seq`
 * (it fell behind the trimmed stream, or Redis restarted with older data),
 * a reset entry, or a head that went back. A record that changed class
 * cannot be replaced inside a local batch (mf_batch_commit() gives
 * #MF_ECLASS), so that sync builds the whole state in a new file and
 * installs it with mf_copy(#MF_COPY_REPLACE): readers move to it at once.
 *
 * The push takes what Redis holds as its starting point whenever it
 * connects, so a restarted push, a lost connection or a Redis server that
 * restarted with older data all end in one batch that brings Redis back to
 * the source. A namespace with no head (a new server, or one that
 * restarted without persistence) is written from nothing under a new
 * epoch, with a reset entry.
 *
 * ## Everything read from Redis is hostile
 * Wrong key types, fields that are not numbers, truncated or oversized
 * payloads, checksums that do not match, invalid names or class names, a
 * stream entry naming a key that does not exist: each gives
 * #MF_MIRROR_EREMOTE with a detail naming the key, and nothing is applied:
 * the local file stays as it was (intact and consistent).
 *
 * ## Conventions
 * As in mapfile.h: functions return 0 or a negative code (core `MF_E*`
 * codes from the map file side, `MF_MIRROR_E*` from this library);
 * mf_mirror_strerror() describes both and mf_mirror_errdetail() says what
 * is at fault. One #mf_mirror is used by one thread at a time, except
 * mf_mirror_stop(), which any thread or a signal handler may call.
 */
#ifndef MAPFILE_MIRROR_H
#define MAPFILE_MIRROR_H

#include <stddef.h>
#include <stdint.h>

#include <mapfile/mapfile.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MAPFILE_STATIC)
#define MF_MIRROR_API
#elif defined(MAPFILE_MIRROR_BUILDING)
#define MF_MIRROR_API __attribute__((visibility("default")))
#else
#define MF_MIRROR_API
#endif

/** Version of what is stored in Redis (`format` in the head). */
#define MF_MIRROR_FORMAT 1

/** Namespace used when none is given. */
#define MF_MIRROR_DEFAULT_NS "mapfile"

/** Longest namespace in bytes: letters, digits and `_ . -`. */
#define MF_MIRROR_NS_MAX 64

/** X-macro of the errors of this library: name, value, message. */
#define MF_MIRROR_ERRNO_MAP(XX)                                               \
    XX(EENDPOINT, -101, "invalid Redis endpoint")                             \
    XX(ECONNECT, -102, "cannot connect to Redis")                             \
    XX(EAUTH, -103, "Redis refused the password")                             \
    XX(EREDIS, -104, "Redis connection or command failed")                    \
    XX(EREMOTE, -105, "invalid content in Redis")                             \
    XX(ENOSOURCE, -106, "nothing is published under this namespace")         \
    XX(ESTOPPED, -107, "stopped")                                              \
    XX(EOWNED, -108, "another mirror pull writes this file")

/** Error codes of this library (the core's MF_E* codes are used too). */
typedef enum mf_mirror_errno {
#define MF_MIRROR__ERR_ENUM(name, val, msg) MF_MIRROR_##name = val,
    MF_MIRROR_ERRNO_MAP(MF_MIRROR__ERR_ENUM)
#undef MF_MIRROR__ERR_ENUM
} mf_mirror_errno;

/** Short fixed message for a mirror or core error code. */
MF_MIRROR_API const char *mf_mirror_strerror(int err);
/** Symbolic name of a mirror or core error code ("MF_MIRROR_EREMOTE"). */
MF_MIRROR_API const char *mf_mirror_err_name(int err);
/**
 * A longer message about the last failure of a mirror call in this thread:
 * the endpoint, key, record or file at fault and what to do. Valid until the
 * next mirror call in this thread; "" if there is none. Never contains the
 * password.
 */
MF_MIRROR_API const char *mf_mirror_errdetail(void);

/** Log levels passed to #mf_mirror_log_fn. */
typedef enum mf_mirror_log_level {
    MF_MIRROR_LOG_INFO = 0,  /**< connected, full sync done */
    MF_MIRROR_LOG_WARN = 1,  /**< connection lost, reconnecting, resync */
    MF_MIRROR_LOG_ERROR = 2  /**< a step failed; it is retried */
} mf_mirror_log_level;

/** Receives one line (without newline) about what the mirror does. */
typedef void (*mf_mirror_log_fn)(void *ud, int level, const char *msg);

/** Options for mf_mirror_push_create() and mf_mirror_pull_create().
 *  Start from #MF_MIRROR_OPTIONS_INIT. */
typedef struct mf_mirror_options {
    size_t struct_size;     /**< sizeof(mf_mirror_options) */
    const char *ns;         /**< namespace; NULL: #MF_MIRROR_DEFAULT_NS */
    const char *password;   /**< NULL: the endpoint's, else the environment
                                 variable MAPFILE_REDIS_PASSWORD, else none */
    uint64_t maxlen;        /**< push: the stream keeps about this many
                                 entries (`XADD MAXLEN ~`); 0: 1000 */
    int connect_timeout_ms; /**< 0: 3000 */
    int io_timeout_ms;      /**< a reply that takes longer (not counting
                                 XREAD BLOCK) is a lost connection; 0: 10000 */
    int block_ms;           /**< mf_mirror_run(): how long one wait (for the
                                 source, or XREAD BLOCK) lasts before the
                                 connection is checked; 0: 1000 */
    int backoff_max_ms;     /**< mf_mirror_run(): longest wait between
                                 reconnects (it doubles from 100 ms); 0: 5000 */
    mf_mirror_log_fn log;   /**< NULL: lines go to stderr */
    void *log_ud;
    uint64_t max_size;      /**< pull: growth limit of the local file; 0: the
                                 source's */
} mf_mirror_options;

#define MF_MIRROR_OPTIONS_INIT \
    {sizeof(mf_mirror_options), NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, 0}

/** A push or a pull: one Redis connection and what it has synced. */
typedef struct mf_mirror mf_mirror;

/**
 * Prepare to publish the map file @p src to Redis at @p endpoint. Nothing
 * is sent yet (see mf_mirror_push()). @p src may be the producer's own
 * handle (a producer pushes from inside its process) or one opened
 * read-only; it must stay open until mf_mirror_close(). One push per
 * namespace.
 *
 * @param[in] endpoint  `redis://[[USER]:PASSWORD@]HOST[:PORT]` (port 6379 by
 *                      default; `[v6addr]` for IPv6; `%XX` escapes in the
 *                      password), `redis://USER@HOST[:PORT]`, or
 *                      `unix:PATH`; mf_mirror_options.password overrides
 *                      the endpoint's, and a password left out or empty
 *                      comes from MAPFILE_REDIS_PASSWORD
 * @return 0, #MF_EINVAL, #MF_ENOMEM, #MF_MIRROR_EENDPOINT (also for an
 *         invalid namespace)
 */
MF_MIRROR_API int mf_mirror_push_create(mf_mirror **out, mf_file *src,
                                        const char *endpoint,
                                        const mf_mirror_options *opts);

/**
 * Publish what changed in the source since the last push, as one batch:
 * connect (and read what Redis holds) if not connected, read the source
 * through one read view, and send only the changed and removed records in
 * one MULTI/EXEC. Does nothing (and sends nothing) when nothing changed.
 * A record larger than the largest string the server takes
 * (proto-max-bulk-len, read when connecting; 512 MiB by default) is left
 * out, as if removed, and the log says so once per version of it: the
 * rest is published, and no mirror shows an old version as current.
 * After an error the connection is dropped; the next call reconnects.
 * @return 0, #MF_EINVAL, #MF_MIRROR_ECONNECT, #MF_MIRROR_EAUTH,
 *         #MF_MIRROR_EREDIS (also when Redis ran a batch only in part: the
 *         next call rewrites the namespace under a new epoch),
 *         #MF_MIRROR_EREMOTE (the namespace holds keys mapfile did not
 *         write: it is left alone), #MF_EBUSY (writers replaced records
 *         faster than a view could read them), and for the source
 *         #MF_ECORRUPT, #MF_ECHECKSUM, #MF_EREPLACED (a writable handle's
 *         file was replaced), #MF_ENOMEM
 */
MF_MIRROR_API int mf_mirror_push(mf_mirror *m);

/**
 * Prepare to keep the map file at @p path equal to what is published at
 * @p endpoint. Nothing is read yet (see mf_mirror_pull()). The file is
 * created at the first sync, complete (a consumer waiting for it with
 * mf_open_options.wait_ms sees it only then); an existing file is brought
 * in step. The pull is the file's only writer: it holds an exclusive lock
 * (flock) on `.BASE.mirror-lock` beside the file until mf_mirror_close(),
 * so a second pull of the same file fails here; and a file removed,
 * replaced or written by anybody else meanwhile is noticed before the next
 * step (within one timeout of mf_mirror_pull()) and synced in full again.
 * @return 0, #MF_EINVAL, #MF_ENOMEM, #MF_MIRROR_EENDPOINT,
 *         #MF_MIRROR_EOWNED (another pull writes @p path), #MF_ENOENT (its
 *         directory does not exist), #MF_EACCES, #MF_ESYS (the lock file
 *         cannot be made)
 */
MF_MIRROR_API int mf_mirror_pull_create(mf_mirror **out, const char *endpoint,
                                        const char *path,
                                        const mf_mirror_options *opts);

/**
 * Bring the local file in step once: connect if needed; sync in full if
 * this pull has not synced yet or cannot follow the stream; then wait up to
 * @p timeout_ms for new batches (0: do not wait) and apply what arrived,
 * each group of batches as one local batch.
 * @param[out] applied  local batches committed by this call (may be NULL)
 * @return 0 (also when nothing new arrived in time), #MF_EINVAL,
 *         #MF_MIRROR_ECONNECT, #MF_MIRROR_EAUTH, #MF_MIRROR_EREDIS,
 *         #MF_MIRROR_EREMOTE (nothing was applied; the next call syncs in
 *         full), #MF_MIRROR_ENOSOURCE (no push has published under the
 *         namespace; a local file is left as it is), #MF_EBUSY (the names
 *         changed on each of 16 reads of a full sync), and for the local
 *         file #MF_ENOTMAPFILE, #MF_EVERSION, #MF_EACCES, #MF_EEXIST (it
 *         appeared while the first sync made it), #MF_EFULL (a record
 *         does not fit in its max_size), #MF_ECORRUPT, #MF_EREPLACED,
 *         #MF_ENOENT (it was removed: the next call makes it anew),
 *         #MF_ESYS, #MF_ENOMEM
 */
MF_MIRROR_API int mf_mirror_pull(mf_mirror *m, int timeout_ms,
                                 unsigned *applied);

/**
 * Run a push or a pull until mf_mirror_stop(): a push publishes every
 * change of the source (woken by mf_wait(), following producer restarts),
 * a pull applies every batch. Failures are logged and retried; a lost
 * connection is retried with backoff, saying so in the log.
 * @return 0 once stopped, or an error that retrying cannot cure:
 *         #MF_MIRROR_EAUTH, #MF_ENOTMAPFILE, #MF_EVERSION, #MF_EACCES,
 *         #MF_EINVAL
 */
MF_MIRROR_API int mf_mirror_run(mf_mirror *m);

/** Make mf_mirror_run() return, within about one block_ms (a pull or push
 *  in the middle of a step finishes it first). Async-signal-safe and
 *  thread-safe. */
MF_MIRROR_API void mf_mirror_stop(mf_mirror *m);

/** Counters since mf_mirror_*_create(). */
typedef struct mf_mirror_stats {
    uint64_t batches;       /**< push: batches published; pull: local
                                 batches committed */
    uint64_t remote_batches;/**< pull: stream entries (source batches)
                                 those covered */
    uint64_t records;       /**< records sent (push) or written (pull) */
    uint64_t removed;       /**< records removed */
    uint64_t payload_bytes; /**< payload bytes of those records */
    uint64_t bytes_sent;    /**< bytes of Redis commands sent */
    uint64_t bytes_received;/**< bytes of strings received in replies */
    uint64_t full_syncs;    /**< pull: full syncs (incl. the first) */
    uint64_t replaced;      /**< pull: times the file was rebuilt (class
                                 change) */
    uint64_t connects;      /**< successful connections */
    uint64_t seq;           /**< last batch number published or applied */
} mf_mirror_stats;

/** Copy the counters. @return 0, #MF_EINVAL */
MF_MIRROR_API int mf_mirror_stats_get(const mf_mirror *m, mf_mirror_stats *st);

/** Close the connection and free the mirror; a pull closes its local file,
 *  a push leaves the source open (it is the caller's). NULL is ignored. */
MF_MIRROR_API void mf_mirror_close(mf_mirror *m);

#ifdef __cplusplus
}
#endif

#endif /* MAPFILE_MIRROR_H */
