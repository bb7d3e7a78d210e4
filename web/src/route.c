/* route.c - URL decoding and routing.
 *
 * Paths are decoded once, strictly (a bad %XX, an encoded NUL, a control
 * byte or invalid UTF-8 is a 400), then classified. Record endpoints are
 * recognised by their last segment, so a record named "jsrootsys/x" is
 * still a record at /jsrootsys/x/root.json. Record names are never turned
 * into file paths; only /jsrootsys/ reaches the file system, through
 * mfw_safe_relpath and openat2(RESOLVE_BENEATH) in assets.c. */
#include "internal.h"

#include <string.h>

static int hexdig(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static size_t mark_bad(char *uri)
{
    uri[0] = '\x01';
    uri[1] = '\0';
    return 1;
}

size_t mfw_unescape(void *cls, struct MHD_Connection *c, char *uri)
{
    (void)cls;
    (void)c;
    size_t o = 0;
    for (size_t i = 0; uri[i]; i++) {
        unsigned char ch = (unsigned char)uri[i];
        if (ch == '%') {
            int hi = hexdig(uri[i + 1]), lo = hi < 0 ? -1 : hexdig(uri[i + 2]);
            if (hi < 0 || lo < 0)
                return mark_bad(uri);
            ch = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        if (ch < 0x20 || ch == 0x7f)
            return mark_bad(uri);
        uri[o++] = (char)ch;
    }
    uri[o] = '\0';
    for (size_t i = 0; i < o;) {
        size_t n = mf_utf8_len((const unsigned char *)uri + i); /* stops at the NUL */
        if (!n)
            return mark_bad(uri);
        i += n;
    }
    return o;
}

int mfw_safe_relpath(const char *rel)
{
    const char *seg = rel;
    if (!*rel || strlen(rel) > MF_NAME_MAX)
        return 0;
    for (const char *p = rel;; p++) {
        if (*p == '/' || *p == '\0') {
            size_t n = (size_t)(p - seg);
            if (n == 0 || (n == 1 && seg[0] == '.') ||
                (n == 2 && seg[0] == '.' && seg[1] == '.'))
                return 0;
            if (!*p)
                return 1;
            seg = p + 1;
        } else if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
                     *p == '-')) {
            return 0;
        }
    }
}

/* If path is "/NAME/SUFFIX", copy NAME into r->name and return 1. */
static int record_path(const char *path, const char *suffix, mfw_route *r)
{
    size_t n = strlen(path), k = strlen(suffix);
    if (n < k + 3 || strcmp(path + n - k, suffix) != 0 || path[n - k - 1] != '/')
        return 0;
    size_t len = n - k - 2; /* between the leading '/' and "/SUFFIX" */
    if (len > MF_NAME_MAX) {
        r->kind = MFW_R_BAD;
        r->why = "record name longer than 255 bytes";
        return 1;
    }
    memcpy(r->name, path + 1, len);
    r->name[len] = '\0';
    return 1;
}

void mfw_route_path(const char *path, mfw_route *r)
{
    static const struct {
        const char *path;
        mfw_route_kind kind;
    } fixed[] = {
        {"/", MFW_R_PAGE},         {"/index.html", MFW_R_PAGE},
        {"/h.json", MFW_R_HIER},   {"/h.json.gz", MFW_R_HIER},
        {"/info.json", MFW_R_INFO}, {"/events", MFW_R_EVENTS},
        {"/favicon.ico", MFW_R_FAVICON},
    };
    memset(r, 0, sizeof *r);
    if (path[0] != '/') {
        r->kind = MFW_R_BAD;
        r->why = "malformed URL (bad %-escape, control byte or invalid UTF-8)";
        return;
    }
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (strcmp(path, fixed[i].path) == 0) {
            r->kind = fixed[i].kind;
            return;
        }
    r->kind = MFW_R_ROOT_JSON;
    if (record_path(path, "root.json", r) || record_path(path, "root.json.gz", r))
        return;
    r->kind = MFW_R_GET_JSON;
    if (record_path(path, "get.json", r))
        return;
    if (strncmp(path, "/jsrootsys/", 11) == 0) {
        if (!mfw_safe_relpath(path + 11)) {
            r->kind = MFW_R_BAD;
            r->why = "JSROOT path must be plain segments of [A-Za-z0-9._-], no '..'";
            return;
        }
        r->kind = MFW_R_JSROOT;
        strcpy(r->name, path + 11); /* length checked by mfw_safe_relpath */
        return;
    }
    r->kind = mfw_asset(path, &(size_t){0}, &(const char *){NULL}) ? MFW_R_ASSET
                                                                    : MFW_R_NOTFOUND;
}
