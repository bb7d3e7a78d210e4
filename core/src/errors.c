/* errors.c - error codes, messages and the thread-local detail message. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

const char *mf_strerror(int err)
{
    switch (err) {
    case MF_OK:
        return "success";
#define MF__ERR_MSG(name, val, msg) \
    case MF_##name:                 \
        return msg;
        MF_ERRNO_MAP(MF__ERR_MSG)
#undef MF__ERR_MSG
    }
    return "unknown error";
}

const char *mf_err_name(int err)
{
    switch (err) {
    case MF_OK:
        return "MF_OK";
#define MF__ERR_NAME(name, val, msg) \
    case MF_##name:                  \
        return "MF_" #name;
        MF_ERRNO_MAP(MF__ERR_NAME)
#undef MF__ERR_NAME
    }
    return "MF_EUNKNOWN";
}

static _Thread_local char detail[1024];

const char *mf_errdetail(void) { return detail; }

const char *mf__detail(void) { return detail; }

void mf__clear_detail(void) { detail[0] = '\0'; }

int mf__fail(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return err;
}

const char *mf__quote(char *buf, size_t cap, const char *s)
{
    size_t o = 0;
    if (!s) {
        snprintf(buf, cap, "(null)");
        return buf;
    }
    for (size_t i = 0; s[i] && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == MF__QUOTE_MAX) {
            o += (size_t)snprintf(buf + o, cap - o, "...");
            break;
        }
        if (c < 0x20 || c >= 0x7f || c == '\\')
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    buf[o] = '\0';
    return buf;
}

const char *mf__wire_error_text(int wire_err)
{
    switch (wire_err) {
    case MF_WIRE_TRUNCATED:
        return "payload truncated";
    case MF_WIRE_MALFORMED:
        return "malformed value";
    case MF_WIRE_NOMEM:
        return "out of memory";
    case MF_WIRE_TOO_LARGE:
        return "length exceeds the payload";
    case MF_WIRE_CODEC:
        return "codec rejected the content";
    default:
        return "unknown codec error";
    }
}
