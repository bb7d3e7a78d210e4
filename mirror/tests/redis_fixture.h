/*
 * redis_fixture.h - a private redis-server per test: started on a unix
 * socket in the test's own directory, dying with the test process
 * (PR_SET_PDEATHSIG), stopped and restarted by the test.
 */
#ifndef MF_MIRROR_REDIS_FIXTURE_H
#define MF_MIRROR_REDIS_FIXTURE_H

#include <stdbool.h>
#include <sys/types.h>

#include <hiredis/hiredis.h>

/* The endpoint of the running server ("unix:/tmp/.../redis.sock"). */
extern char fx_endpoint[300];
extern char fx_sock[256];

/* Start redis-server. aof: appendonly yes + appendfsync always (a restart
 * keeps every acknowledged write); otherwise no persistence at all.
 * @p password: requirepass, or NULL. */
void fx_redis_start(bool aof, const char *password);
/* Stop it: SIGKILL (a crash) or SIGTERM (a clean shutdown). */
void fx_redis_stop(bool kill9);
/* A command on the fixture's own connection (reconnects after a restart).
 * The reply must be freed with freeReplyObject. */
redisReply *fx_cmd(const char *fmt, ...);
/* fx_cmd for a command whose reply is not needed (errors fail the test). */
void fx_do(const char *fmt, ...);
/* A command given as argv (binary-safe). */
redisReply *fx_cmd_argv(int argc, const char **argv, const size_t *lens);

#endif
