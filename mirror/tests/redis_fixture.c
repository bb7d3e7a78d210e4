/* redis_fixture.c - see redis_fixture.h. */
#include "redis_fixture.h"

#include <criterion/criterion.h>

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

char fx_endpoint[300];
char fx_sock[256];
static pid_t redis_pid;
static char password_used[64];
static redisContext *ctx;

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void exec_redis(bool aof, const char *password)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    const char *dir = mf_test_dir();
    const char *argv[32];
    int n = 0;
    argv[n++] = "redis-server";
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--unixsocket";
    argv[n++] = fx_sock;
    argv[n++] = "--unixsocketperm";
    argv[n++] = "700";
    argv[n++] = "--dir";
    argv[n++] = dir;
    argv[n++] = "--save";
    argv[n++] = "";
    argv[n++] = "--appendonly";
    argv[n++] = aof ? "yes" : "no";
    argv[n++] = "--appendfsync";
    argv[n++] = "always";
    argv[n++] = "--logfile";
    argv[n++] = mf_test_path("redis.log");
    if (password) {
        argv[n++] = "--requirepass";
        argv[n++] = password;
    }
    argv[n] = NULL;
    execvp("redis-server", (char *const *)argv);
    _exit(127);
}

static void disconnect(void)
{
    if (ctx)
        redisFree(ctx);
    ctx = NULL;
}

static bool try_connect(void)
{
    disconnect();
    struct timeval tv = {1, 0};
    ctx = redisConnectUnixWithTimeout(fx_sock, tv);
    if (!ctx || ctx->err) {
        disconnect();
        return false;
    }
    redisReply *r = password_used[0] ? redisCommand(ctx, "AUTH %s", password_used)
                                     : redisCommand(ctx, "PING");
    bool ok = r && r->type != REDIS_REPLY_ERROR;
    if (r)
        freeReplyObject(r);
    if (!ok)
        disconnect();
    return ok;
}

void fx_redis_start(bool aof, const char *password)
{
    snprintf(fx_sock, sizeof fx_sock, "%s/redis.sock", mf_test_dir());
    snprintf(fx_endpoint, sizeof fx_endpoint, "unix:%s", fx_sock);
    snprintf(password_used, sizeof password_used, "%s", password ? password : "");
    unlink(fx_sock);
    redis_pid = fork();
    cr_assert(redis_pid >= 0, "fork failed");
    if (redis_pid == 0)
        exec_redis(aof, password);
    for (int i = 0; i < 500; i++) {
        if (try_connect())
            return;
        int st;
        cr_assert(waitpid(redis_pid, &st, WNOHANG) == 0,
                  "redis-server exited at start (see %s)", mf_test_path("redis.log"));
        nap_ms(10);
    }
    cr_assert_fail("redis-server did not answer on %s within 5 s", fx_sock);
}

void fx_redis_stop(bool kill9)
{
    disconnect();
    if (redis_pid > 0) {
        kill(redis_pid, kill9 ? SIGKILL : SIGTERM);
        waitpid(redis_pid, NULL, 0);
    }
    redis_pid = 0;
    unlink(fx_sock);
}

static redisReply *checked(redisReply *r)
{
    cr_assert(r, "redis command failed: %s", ctx && ctx->err ? ctx->errstr : "?");
    return r;
}

redisReply *fx_cmd(const char *fmt, ...)
{
    if (!ctx)
        cr_assert(try_connect(), "cannot reconnect to the test's redis-server");
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(ctx, fmt, ap);
    va_end(ap);
    return checked(r);
}

void fx_do(const char *fmt, ...)
{
    if (!ctx)
        cr_assert(try_connect(), "cannot reconnect to the test's redis-server");
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = checked(redisvCommand(ctx, fmt, ap));
    va_end(ap);
    cr_assert(r->type != REDIS_REPLY_ERROR, "redis: %s", r->str);
    freeReplyObject(r);
}

redisReply *fx_cmd_argv(int argc, const char **argv, const size_t *lens)
{
    if (!ctx)
        cr_assert(try_connect(), "cannot reconnect to the test's redis-server");
    return checked(redisCommandArgv(ctx, argc, argv, lens));
}
