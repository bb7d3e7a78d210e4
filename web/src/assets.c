/* assets.c - the dashboard page (embedded at build time from web/page/)
 * and JSROOT's files (from the jsroot npm package, on disk).
 *
 * JSROOT paths were checked by mfw_safe_relpath; the file is then opened
 * with openat2(RESOLVE_BENEATH) below the package directory, so neither
 * "..", an absolute path nor a symlink can leave it. Only regular files
 * are served. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "assets_data.h"

/* Largest JSROOT file served (its biggest module is about 1 MB). */
#define MAX_ASSET ((off_t)64 << 20)

const char *mfw_asset(const char *path, size_t *len, const char **ctype)
{
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    for (size_t i = 0; i < mfw_assets_count; i++)
        if (strcmp(path + 1, mfw_assets[i].name) == 0) {
            *len = mfw_assets[i].len;
            *ctype = mfw_assets[i].ctype;
            return (const char *)mfw_assets[i].data;
        }
    return NULL;
}

/* The page may load only from this server: nothing from another host. */
static const char page_csp[] =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

enum MHD_Result mfw_serve_page(mfw_server *s, struct MHD_Connection *c,
                               const char *path)
{
    size_t len;
    const char *ctype;
    const char *data = mfw_asset(path, &len, &ctype);
    (void)s;
    if (!data)
        return mfw_reply_error(c, 404, "NOT_FOUND", "no such page");
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    mfw_common_headers(r, 0);
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Content-Security-Policy", page_csp);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static const char *type_of(const char *rel)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".mjs", "text/javascript; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},        {".json", "application/json"},
        {".svg", "image/svg+xml"},                  {".png", "image/png"},
        {".gif", "image/gif"},                      {".woff2", "font/woff2"},
        {".woff", "font/woff"},                     {".ttf", "font/ttf"},
        {".html", "text/html; charset=utf-8"},      {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(rel, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static int open_beneath(int dirfd, const char *rel)
{
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    return (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
}

enum MHD_Result mfw_serve_jsroot(mfw_server *s, struct MHD_Connection *c,
                                 const char *rel)
{
    if (s->jsroot_fd < 0)
        return mfw_reply_error(c, 404, "NO_JSROOT",
                               "JSROOT is not installed: tools/run installs the npm "
                               "package jsroot (web/package.json) and 'cmake --install' "
                               "puts it in share/mapfile/jsroot; or set "
                               "MAPFILE_JSROOT_DIR or pass --jsroot DIR");
    int fd = open_beneath(s->jsroot_fd, rel);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_ASSET) {
        if (fd >= 0)
            close(fd);
        return mfw_reply_error(c, 404, "NOT_FOUND", "no JSROOT file '%s'", rel);
    }
    struct MHD_Response *r = MHD_create_response_from_fd((size_t)st.st_size, fd);
    if (!r) {
        close(fd);
        return MHD_NO;
    }
    mfw_common_headers(r, 3600);
    MHD_add_response_header(r, "Content-Type", type_of(rel));
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

/* Non-zero if dir holds a JSROOT package. */
static int is_jsroot(const char *dir)
{
    char p[PATH_MAX];
    struct stat st;
    return snprintf(p, sizeof p, "%s/modules/core.mjs", dir) < (int)sizeof p &&
           stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* <dir of the executable>/../share/mapfile/jsroot, where install puts it. */
static int beside_exe(char *out, size_t cap)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    return snprintf(out, cap, "%s/../share/mapfile/jsroot", exe) < (int)cap ? 0 : -1;
}

void mfw_jsroot_find(mfw_server *s)
{
    char cand[4][PATH_MAX];
    int n = 0;
    const char *env = getenv("MAPFILE_JSROOT_DIR");
    s->jsroot[0] = '\0';
    s->jsroot_fd = -1;
    if (s->o.jsroot_dir)
        snprintf(cand[n++], PATH_MAX, "%s", s->o.jsroot_dir);
    else if (env && *env)
        snprintf(cand[n++], PATH_MAX, "%s", env);
    if (!s->o.jsroot_dir && beside_exe(cand[n], PATH_MAX) == 0)
        n++;
#ifdef MFW_JSROOT_BUILD_DIR
    if (!s->o.jsroot_dir)
        snprintf(cand[n++], PATH_MAX, "%s", MFW_JSROOT_BUILD_DIR);
#endif
    for (int i = 0; i < n; i++) {
        if (!is_jsroot(cand[i]))
            continue;
        char *real = realpath(cand[i], NULL);
        if (!real)
            continue;
        snprintf(s->jsroot, sizeof s->jsroot, "%s", real);
        free(real);
        s->jsroot_fd = open(s->jsroot, O_PATH | O_DIRECTORY | O_CLOEXEC);
        return;
    }
}
