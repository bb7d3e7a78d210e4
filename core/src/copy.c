/*
 * copy.c - mf_copy: a consistent, compacted copy of a live file.
 *
 * One read view (every record as of one committed batch), copied record by
 * record into a fresh file built under a temporary name beside the
 * destination, which is linked (or renamed) into place only once complete.
 * A view that writers outran (MF_ESNAPSHOT) starts the copy over.
 */
#include "file.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Records copied per batch into the copy: bounds the memory held. */
#define MF__COPY_CHUNK_BYTES (64u << 20)
#define MF__COPY_TRIES 100

struct chunk {
    struct mf__op *ops;
    void **bufs;
    size_t n, cap, bytes;
};

static void chunk_clear(struct chunk *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->bufs[i]);
    k->n = 0;
    k->bytes = 0;
}

static int chunk_flush(mf_file *dst, struct chunk *k)
{
    int rc = k->n ? mf__publish(dst, k->ops, k->n) : 0;
    chunk_clear(k);
    return rc;
}

/* Take one record's bytes (owned by the chunk from now on). */
static int chunk_add(struct chunk *k, const mf_record_info *info, void *data,
                     const char *name_copy)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 64;
        struct mf__op *ops = realloc(k->ops, cap * sizeof *ops);
        void **bufs = ops ? realloc(k->bufs, cap * 2 * sizeof *bufs) : NULL;
        if (ops)
            k->ops = ops;
        if (!bufs) {
            free(data);
            return MF_ENOMEM;
        }
        k->bufs = bufs;
        k->cap = cap;
    }
    struct mf__op *op = &k->ops[k->n];
    *op = (struct mf__op){0};
    op->name = name_copy;
    op->name_len = strlen(name_copy);
    op->hash = mf__hash_name(name_copy, op->name_len);
    op->class_name = name_copy + op->name_len + 1;
    op->class_version = info->class_version;
    op->data = data;
    op->size = info->size;
    op->keep_count = info->update_count;
    op->keep_time = info->update_time_ns;
    k->bufs[k->n++] = data;
    k->bytes += info->size;
    return 0;
}

/* Copy every record of the view into dst. */
static int copy_records(mf_txn *txn, mf_file *dst, struct chunk *k)
{
    mf_iter it;
    mf_record_info info;
    mf_txn_iter_init(&it, txn, NULL);
    int rc;
    while ((rc = mf_iter_next(&it, &info)) == 1) {
        void *data;
        mf_record_info got;
        if ((rc = mf_txn_get_raw_alloc(txn, info.name, &data, &got)))
            return rc;
        /* Name and class ride behind the data, in one allocation. */
        size_t nl = strlen(got.name), cl = strlen(got.class_name);
        char *buf = realloc(data, got.size + nl + cl + 2);
        if (!buf) {
            free(data);
            return MF_ENOMEM;
        }
        memcpy(buf + got.size, got.name, nl + 1);
        memcpy(buf + got.size + nl + 1, got.class_name, cl + 1);
        if ((rc = chunk_add(k, &got, buf, buf + got.size)))
            return rc;
        if (k->bytes >= MF__COPY_CHUNK_BYTES && (rc = chunk_flush(dst, k)))
            return rc;
    }
    return rc < 0 ? rc : chunk_flush(dst, k);
}

/* Room for the records of the source, for the copy's initial size. */
static uint64_t estimate(mf_file *src)
{
    mf_file_info fi;
    if (mf_file_stat(src, &fi) != 0)
        return MF_DEFAULT_SIZE;
    uint64_t want = fi.heap_used + fi.heap_used / 4 + fi.records * 64;
    return want < MF_DEFAULT_SIZE ? MF_DEFAULT_SIZE : want;
}

/* One attempt: a view, a temporary file, every record, then the link. */
static int copy_once(mf_file *src, const char *dst_path, unsigned flags,
                     unsigned mode)
{
    mf_file_info fi;
    int rc = mf_file_stat(src, &fi);
    if (rc)
        return rc;
    char tmp[PATH_MAX + 32];
    int fd;
    uint64_t size = estimate(src), max = fi.max_size > size ? fi.max_size : size;
    if ((rc = mf__create_temp(dst_path, mode, (size + 4095) & ~4095ull,
                              (max + 4095) & ~4095ull, fi.title, tmp, sizeof tmp, &fd)))
        return rc;
    close(fd);
    mf_open_options o = MF_OPEN_OPTIONS_INIT;
    o.flags = MF_OPEN_NO_CREATE;
    o.registry = src->reg;
    mf_file *dst;
    mf_txn *txn = NULL;
    struct chunk k = {0};
    if ((rc = mf_open(&dst, tmp, MF_UPDATE, &o)) == 0) {
        if ((rc = mf_txn_begin(src, &txn)) == 0)
            rc = copy_records(txn, dst, &k);
        mf_txn_end(txn);
        chunk_clear(&k);
        free(k.ops);
        free(k.bufs);
        mf_close(dst);
    }
    if (rc) {
        unlink(tmp);
        return rc == MF_ENOMEM ? mf__fail(rc, "%s: out of memory while copying",
                                          dst_path)
                               : rc;
    }
    return mf__install_temp(tmp, dst_path, !(flags & MF_COPY_REPLACE));
}

int mf_copy(mf_file *mf, const char *dst_path, unsigned flags)
{
    mf__clear_detail();
    if (!mf || !dst_path || !*dst_path)
        return mf__fail(MF_EINVAL, "mf_copy: NULL argument");
    if (flags & ~(unsigned)MF_COPY_REPLACE)
        return mf__fail(MF_EINVAL, "%s: mf_copy: unknown flags 0x%x", mf->path, flags);
    struct stat st;
    unsigned mode = 0644;
    struct mf__inc *inc = atomic_load(&mf->inc);
    if (inc->fd >= 0 && fstat(inc->fd, &st) == 0)
        mode = st.st_mode & 0777;
    if (!(flags & MF_COPY_REPLACE) && access(dst_path, F_OK) == 0)
        return mf__fail(MF_EEXIST, "%s exists and is kept (MF_COPY_REPLACE, or "
                        "mapf copy --replace, replaces it)", dst_path);
    int rc = MF_ESNAPSHOT;
    for (int attempt = 0; attempt < MF__COPY_TRIES && rc == MF_ESNAPSHOT; attempt++)
        rc = copy_once(mf, dst_path, flags, mode);
    if (rc == MF_ESNAPSHOT)
        return mf__fail(MF_EBUSY, "%s: writers replaced records faster than a "
                        "copy could read them, %d times", mf->path, MF__COPY_TRIES);
    return rc;
}
