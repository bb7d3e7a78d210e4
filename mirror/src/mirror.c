/* mirror.c - making, describing and freeing a push or a pull. */
#include "mirror_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int opt_int(int v, int def) { return v > 0 ? v : def; }

static int make(mf_mirror **out, bool is_push, const char *endpoint,
                const mf_mirror_options *opts)
{
    mf_mirror_options o = MF_MIRROR_OPTIONS_INIT;
    if (opts) {
        if (opts->struct_size < offsetof(mf_mirror_options, max_size) + sizeof(uint64_t))
            return mm_fail(MF_EINVAL, "mf_mirror_options.struct_size is %zu: start "
                           "from MF_MIRROR_OPTIONS_INIT", opts->struct_size);
        o = *opts;
    }
    const char *ns = o.ns ? o.ns : MF_MIRROR_DEFAULT_NS;
    int rc = mm_ns_check(ns);
    if (rc)
        return rc;
    mf_mirror *m = calloc(1, sizeof *m);
    if (!m)
        return mm_fail(MF_ENOMEM, "no memory for a mirror");
    if ((rc = mm_endpoint_parse(&m->ep, endpoint, o.password))) {
        free(m);
        return rc;
    }
    m->is_push = is_push;
    m->lock_fd = -1;
    char host[64] = "";
    if (gethostname(host, sizeof host - 1) != 0)
        snprintf(host, sizeof host, "?");
    snprintf(m->pusher, sizeof m->pusher, "%s pid %ld", host, (long)getpid());
    snprintf(m->ns, sizeof m->ns, "%s", ns);
    snprintf(m->k_head, sizeof m->k_head, "mf:{%s}:head", ns);
    snprintf(m->k_names, sizeof m->k_names, "mf:{%s}:names", ns);
    snprintf(m->k_log, sizeof m->k_log, "mf:{%s}:log", ns);
    snprintf(m->k_rec, sizeof m->k_rec, "mf:{%s}:r:", ns);
    m->k_rec_len = strlen(m->k_rec);
    m->maxlen = o.maxlen ? o.maxlen : 1000;
    m->connect_timeout_ms = opt_int(o.connect_timeout_ms, 3000);
    m->io_timeout_ms = opt_int(o.io_timeout_ms, 10000);
    m->block_ms = opt_int(o.block_ms, 1000);
    m->backoff_max_ms = opt_int(o.backoff_max_ms, 5000);
    m->max_size = o.max_size;
    m->log = o.log;
    m->log_ud = o.log_ud;
    mm_table_init(&m->pushed);
    mm_table_init(&m->too_big);
    m->bulk_max = MM_BULK_MAX_DEFAULT;
    atomic_init(&m->stop, 0);
    *out = m;
    return 0;
}

int mf_mirror_push_create(mf_mirror **out, mf_file *src, const char *endpoint,
                          const mf_mirror_options *opts)
{
    mm_clear_detail();
    if (!out || !src || !endpoint)
        return mm_fail(MF_EINVAL, "mf_mirror_push_create: NULL argument");
    *out = NULL;
    int rc = make(out, true, endpoint, opts);
    if (!rc)
        (*out)->src = src;
    return rc;
}

int mf_mirror_pull_create(mf_mirror **out, const char *endpoint, const char *path,
                          const mf_mirror_options *opts)
{
    mm_clear_detail();
    if (!out || !endpoint || !path || !path[0])
        return mm_fail(MF_EINVAL, "mf_mirror_pull_create: NULL argument");
    *out = NULL;
    if (strlen(path) > 4000)
        return mm_fail(MF_EINVAL, "the mirror's path is longer than 4000 bytes");
    int rc = make(out, false, endpoint, opts);
    if (rc)
        return rc;
    if (!((*out)->path = strdup(path)))
        rc = mm_fail(MF_ENOMEM, "no memory for a mirror");
    else
        rc = mm_local_claim(*out);
    if (rc) {
        mf_mirror_close(*out);
        *out = NULL;
    }
    return rc;
}

void mf_mirror_stop(mf_mirror *m)
{
    if (m)
        atomic_store(&m->stop, 1);
}

int mf_mirror_stats_get(const mf_mirror *m, mf_mirror_stats *st)
{
    if (!m || !st)
        return mm_fail(MF_EINVAL, "mf_mirror_stats_get: NULL argument");
    *st = m->st;
    return 0;
}

void mf_mirror_close(mf_mirror *m)
{
    if (!m)
        return;
    mm_disconnect(m);
    mm_table_free(&m->pushed);
    mm_table_free(&m->too_big);
    mf_close(m->dst);
    if (m->lock_fd >= 0)
        close(m->lock_fd);
    free(m->path);
    memset(&m->ep, 0, sizeof m->ep); /* the password */
    free(m);
}
