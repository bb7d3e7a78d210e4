/*
 * endpoint.c - ENDPOINT strings: redis://[[USER]:PASSWORD@]HOST[:PORT] and
 * unix:PATH, and namespaces. Messages never repeat the password.
 */
#include "mirror_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

static int bad(const char *why)
{
    return mm_fail(MF_MIRROR_EENDPOINT,
                   "%s; an endpoint is redis://[[USER]:PASSWORD@]HOST[:PORT], "
                   "redis://USER@HOST[:PORT] (the password in "
                   "MAPFILE_REDIS_PASSWORD) or unix:PATH", why);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode src[0..n) into dst (cap bytes with the NUL); @p what is
 * the complaint. */
static int decode(char *dst, size_t cap, const char *src, size_t n, const char *what)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '%') {
            int h = i + 2 < n ? hexval(src[i + 1]) : -1;
            int l = i + 2 < n ? hexval(src[i + 2]) : -1;
            if (h < 0 || l < 0)
                return bad(what);
            c = (char)(h * 16 + l);
            i += 2;
        }
        if (c == '\0' || o + 1 >= cap)
            return bad(what);
        dst[o++] = c;
    }
    dst[o] = '\0';
    return 0;
}

static int parse_unix(mm_endpoint *ep, const char *path)
{
    struct sockaddr_un sa;
    ep->is_unix = true;
    if (!path[0])
        return bad("unix: needs a socket path");
    if (strlen(path) >= sizeof sa.sun_path)
        return mm_fail(MF_MIRROR_EENDPOINT, "unix socket path is longer than %zu bytes",
                       sizeof sa.sun_path - 1);
    snprintf(ep->host, sizeof ep->host, "%s", path);
    mm_strfmt(ep->shown, sizeof ep->shown, "unix:%s", path);
    return 0;
}

/* USER:PASSWORD, :PASSWORD or USER. A password left out (or empty) may
 * come from MAPFILE_REDIS_PASSWORD (mm_endpoint_parse). */
static int parse_userinfo(mm_endpoint *ep, const char *s, size_t n)
{
    const char *colon = memchr(s, ':', n);
    size_t ul = colon ? (size_t)(colon - s) : n;
    int rc = decode(ep->user, sizeof ep->user, s, ul,
                    "the user name has a bad %XX escape, a NUL or is too long");
    if (rc == 0 && colon)
        rc = decode(ep->password, sizeof ep->password, colon + 1, n - ul - 1,
                    "the password has a bad %XX escape, a NUL or is too long");
    if (rc)
        return rc;
    ep->has_password = ep->password[0] != '\0';
    return 0;
}

static int parse_port(mm_endpoint *ep, const char *s, size_t n)
{
    if (n == 0 || n > 5)
        return bad("the port must be a number from 1 to 65535");
    int port = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return bad("the port must be a number from 1 to 65535");
        port = port * 10 + (s[i] - '0');
    }
    if (port < 1 || port > 65535)
        return bad("the port must be a number from 1 to 65535");
    ep->port = port;
    return 0;
}

/* HOST[:PORT] or [V6]:PORT */
static int parse_hostport(mm_endpoint *ep, const char *s, size_t n)
{
    const char *host = s, *port = NULL;
    size_t hl = n;
    if (n && s[0] == '[') {
        const char *end = memchr(s, ']', n);
        if (!end)
            return bad("an IPv6 address needs its closing ']'");
        host = s + 1;
        hl = (size_t)(end - s - 1);
        size_t rest = n - (size_t)(end - s) - 1;
        if (rest && end[1] != ':')
            return bad("only :PORT may follow ']'");
        if (rest)
            port = end + 2;
    } else {
        const char *colon = memchr(s, ':', n);
        if (colon) {
            hl = (size_t)(colon - s);
            port = colon + 1;
        }
    }
    if (hl == 0 || hl >= sizeof ep->host)
        return bad("the host is missing or too long");
    for (size_t i = 0; i < hl; i++) {
        unsigned char c = (unsigned char)host[i];
        if (c <= 0x20 || c >= 0x7f || c == '/' || c == '@' || c == '?' || c == '#')
            return bad("the host contains a character a host name cannot have");
    }
    memcpy(ep->host, host, hl);
    ep->host[hl] = '\0';
    ep->port = 6379;
    if (port) {
        int rc = parse_port(ep, port, (size_t)(s + n - port));
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_redis(mm_endpoint *ep, const char *rest)
{
    size_t n = strlen(rest);
    if (n && rest[n - 1] == '/')
        n--; /* redis://host:port/ */
    if (memchr(rest, '/', n))
        return bad("database numbers and paths are not supported");
    const char *at = NULL;
    for (size_t i = 0; i < n; i++)
        if (rest[i] == '@')
            at = rest + i; /* the last '@': a raw '@' may be in the password */
    const char *hp = rest;
    if (at) {
        int rc = parse_userinfo(ep, rest, (size_t)(at - rest));
        if (rc)
            return rc;
        hp = at + 1;
    }
    int rc = parse_hostport(ep, hp, (size_t)(rest + n - hp));
    if (rc)
        return rc;
    bool v6 = strchr(ep->host, ':') != NULL;
    mm_strfmt(ep->shown, sizeof ep->shown, "redis://%s%s%s%s%s:%d", ep->user,
             ep->user[0] ? "@" : "", v6 ? "[" : "", ep->host, v6 ? "]" : "", ep->port);
    return 0;
}

int mm_endpoint_parse(mm_endpoint *ep, const char *text, const char *password)
{
    memset(ep, 0, sizeof *ep);
    if (!text || !text[0])
        return bad("the endpoint is empty");
    int rc;
    if (strncmp(text, "unix:", 5) == 0)
        rc = parse_unix(ep, text + 5);
    else if (strncmp(text, "redis://", 8) == 0)
        rc = parse_redis(ep, text + 8);
    else if (strncmp(text, "rediss://", 9) == 0)
        rc = bad("TLS (rediss://) is not supported");
    else
        rc = bad("the endpoint must start with redis:// or unix:");
    if (rc)
        return rc;
    const char *env = getenv("MAPFILE_REDIS_PASSWORD");
    const char *pw = password ? password : ep->has_password ? NULL : env;
    if (pw && pw[0]) {
        if (strlen(pw) >= sizeof ep->password)
            return bad("the password is too long");
        snprintf(ep->password, sizeof ep->password, "%s", pw);
        ep->has_password = true;
    }
    if (ep->user[0] && !ep->has_password)
        return bad("a user name needs a password, in the endpoint or in "
                   "MAPFILE_REDIS_PASSWORD");
    return 0;
}

int mm_ns_check(const char *ns)
{
    size_t n = strlen(ns);
    if (n == 0 || n > MF_MIRROR_NS_MAX)
        return mm_fail(MF_MIRROR_EENDPOINT, "the namespace must be 1 to %d bytes",
                       MF_MIRROR_NS_MAX);
    for (size_t i = 0; i < n; i++) {
        char c = ns[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
        if (!ok)
            return mm_fail(MF_MIRROR_EENDPOINT, "the namespace may hold only letters, "
                           "digits and _ . - (byte %zu is not one)", i);
    }
    return 0;
}
