/**
 * @file mapfile/web.h
 * @brief `mapf serve`: a read-only HTTP view of one map file.
 *
 * The server is a consumer of the public API (mapfile/mapfile.h) on
 * libmicrohttpd. It answers THttpServer's requests, so stock JSROOT (and
 * tools written for ROOT's THttpServer) browse and draw the records, and it
 * pushes changes with Server-Sent Events the moment mf_wait() sees them.
 *
 * ## Endpoints (paths are interfaces)
 * - `/`                 the dashboard page (embedded in the binary)
 * - `/h.json`           the record tree in THttpServer's hierarchy format
 * - `/NAME/root.json`   the object in ROOT's TBufferJSON layout (the
 *                       class's to_root_json hook), else its to_json;
 *                       `root.json.gz` answers the same, uncompressed
 * - `/NAME/get.json`    exactly what `mapf get --json FILE NAME` prints
 * - `/info.json`        file, title, generation, record count, state
 * - `/events`           Server-Sent Events, one per change (see events.c)
 * - `/jsrootsys/...`    JSROOT's files from the jsroot npm package
 *
 * Nothing is ever written. Only GET and HEAD are answered.
 */
#ifndef MAPFILE_WEB_H
#define MAPFILE_WEB_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Default address: loopback only. Any other address needs a token or an
 *  explicit no_auth. */
#define MFW_DEFAULT_LISTEN "127.0.0.1:8080"
/** Default cap on /events streams; the next one gets a 503. */
#define MFW_DEFAULT_MAX_CLIENTS 256
/** Default cap on open HTTP connections; past it requests get a 503.
 *  Connections still sending their request count only against a hard cap
 *  64 above it (further ones are closed unanswered) and are closed after
 *  30 s without a byte; beyond loopback one client address may hold at
 *  most an eighth of the cap (at least 16). */
#define MFW_DEFAULT_MAX_CONNECTIONS 1024
/** Seconds between keep-alive comments on an idle event stream. */
#define MFW_DEFAULT_KEEPALIVE 15

/** Server options. Start from #MFW_OPTIONS_INIT. */
typedef struct mfw_options {
    const char *file;       /**< map file path (may not exist yet) */
    const char *listen;     /**< "ADDR:PORT", "[V6]:PORT"; port 0 picks one */
    const char *token;      /**< required on every request when set */
    int no_auth;            /**< allow a non-loopback address without token */
    const char *title;      /**< page title; NULL: the file's title */
    const char *jsroot_dir; /**< JSROOT package dir; NULL: searched */
    unsigned max_clients;   /**< cap on /events streams */
    unsigned max_connections; /**< cap on open connections */
    unsigned keepalive_s;   /**< idle seconds before a keep-alive comment */
    unsigned threads;       /**< HTTP threads (0: 2) */
    size_t reply_budget;    /**< bytes the bodies of replies still being
                                 sent may hold at once (each keeps its body
                                 until the client has read it); a body over
                                 1 MiB that does not fit gets a 503 with
                                 Retry-After. 0: #MFW_DEFAULT_REPLY_BUDGET */
} mfw_options;

/** Default reply budget: slow readers of big records cannot pile up more. */
#define MFW_DEFAULT_REPLY_BUDGET ((size_t)512 << 20)

#define MFW_OPTIONS_INIT                                                   \
    {NULL, MFW_DEFAULT_LISTEN, NULL, 0, NULL, NULL,                        \
     MFW_DEFAULT_MAX_CLIENTS, MFW_DEFAULT_MAX_CONNECTIONS,                 \
     MFW_DEFAULT_KEEPALIVE, 0, 0}

/** A running server. */
typedef struct mfw_server mfw_server;

/**
 * Check the options, bind the address and start serving. The map file is
 * opened (and waited for, if missing) in the background; until it exists,
 * record endpoints answer 503.
 * @param[out] out  the server; stop it with mfw_server_stop()
 * @param err       receives a message naming what is wrong on failure
 * @return 0; -1 for bad options (a usage error: a non-loopback address
 *         without a token or no_auth, a malformed address, a jsroot_dir
 *         that holds no JSROOT package); -2 when the
 *         server could not start (address in use, no memory)
 */
int mfw_server_start(mfw_server **out, const mfw_options *opts, char *err,
                     size_t errcap);

/** The URL the server answers on, e.g. "http://127.0.0.1:8080/". Valid
 *  until mfw_server_stop(). */
const char *mfw_server_url(const mfw_server *s);

/** Stop serving, close every connection and free the server. NULL is
 *  ignored. */
void mfw_server_stop(mfw_server *s);

/**
 * Serve until SIGINT or SIGTERM: start the server, print
 * "PROG serve: FILE on URL" on stdout, wait for the signal, stop. What the
 * `serve` subcommand runs once it has parsed its arguments.
 * @param prog  program name for messages ("mapf")
 * @return the exit status: 0 (stopped by a signal), 1 (could not start),
 *         2 (bad options, with the reason on stderr)
 */
int mfw_serve_run(const char *prog, const mfw_options *opts);

/** Longest token --token-file reads. */
#define MFW_TOKEN_MAX 256

/**
 * The first line of @p path (without its newline) as a new string, for
 * `--token-file`. free() it.
 * @return the token, or NULL with errno: fopen's (ENOENT, EACCES...), EIO
 *         (read error), ENODATA (empty first line), EMSGSIZE (longer than
 *         #MFW_TOKEN_MAX), ENOMEM
 */
char *mfw_read_token_file(const char *path);

#ifdef __cplusplus
}
#endif

#endif /* MAPFILE_WEB_H */
