/* errors.c - error codes, the thread-local detail, quoting and the log. */
#include "mirror_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

const char *mf_mirror_strerror(int err)
{
    switch (err) {
#define MM_ERR_MSG(name, val, msg) \
    case MF_MIRROR_##name:         \
        return msg;
        MF_MIRROR_ERRNO_MAP(MM_ERR_MSG)
#undef MM_ERR_MSG
    }
    return mf_strerror(err);
}

const char *mf_mirror_err_name(int err)
{
    switch (err) {
#define MM_ERR_NAME(name, val, msg) \
    case MF_MIRROR_##name:          \
        return "MF_MIRROR_" #name;
        MF_MIRROR_ERRNO_MAP(MM_ERR_NAME)
#undef MM_ERR_NAME
    }
    return mf_err_name(err);
}

static _Thread_local char detail[1536];

const char *mf_mirror_errdetail(void) { return detail; }

void mm_clear_detail(void) { detail[0] = '\0'; }

void mm_strfmt(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

int mm_fail(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return err;
}

int mm_fail_core(int rc, const char *fmt, ...)
{
    char ctx[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    const char *core = mf_errdetail();
    mm_strfmt(detail, sizeof detail, "%s: %s%s%s", ctx, mf_strerror(rc),
             core[0] ? ": " : "", core);
    return rc;
}

int mm_context(int err, const char *fmt, ...)
{
    char ctx[512], old[sizeof detail];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    snprintf(old, sizeof old, "%s", detail);
    mm_strfmt(detail, sizeof detail, "%s: %s", ctx, old[0] ? old : mf_mirror_strerror(err));
    return err;
}

const char *mm_quote(char *buf, size_t cap, const char *s, size_t len)
{
    size_t o = 0;
    if (!s) {
        snprintf(buf, cap, "(null)");
        return buf;
    }
    for (size_t i = 0; i < len && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == 80) {
            o += (size_t)snprintf(buf + o, cap - o, "...");
            break;
        }
        if (c < 0x20 || c >= 0x7f || c == '\\' || c == '\'')
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    buf[o] = '\0';
    return buf;
}

void mm_log(struct mf_mirror *m, int level, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (m->log) {
        m->log(m->log_ud, level, msg);
        return;
    }
    fprintf(stderr, "mapf mirror %s: %s\n", m->is_push ? "push" : "pull", msg);
}

uint64_t mm_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
