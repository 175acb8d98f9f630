/*
 * report.h — JSON lines to Node over the IPC channel, and fd passing with NODE_HANDLE.
 *
 * Supervisor only.
 */
#ifndef SANDKIT_REPORT_H
#define SANDKIT_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctl.h"
#include "error.h"

/* Use fd as the channel; makes it non-blocking (output is queued, never blocks on Node). */
int report_init(int fd, struct err *e);
/* Write what is queued. Returns -1 when the channel is gone. */
int report_flush(void);
bool report_pending(void);
/* True while so much waits for Node that the supervisor should stop taking in more. */
bool report_backlogged(void);

void report_hello(void);
void report_features(long long req);
void report_step(const char *sandbox, enum step step);
/* upper_fd: the supervisor's fd of the writable layer (limits.disk), or -1: not reported. */
void report_created(long long req, const char *sandbox, pid_t pid, int upper_fd);
void report_destroyed(long long req, const char *sandbox);
void report_ok(long long req);
/* A UDP relay is bound on the host port `port`. */
void report_relay(long long req, const char *relay, int port);
/* pid <= 0: unknown (null). */
void report_spawned(long long req, const char *process, pid_t pid, uint32_t pre_exec_us);
void report_exit(const char *sandbox, const char *process, const struct exit_info *x);
/* The same for a program the sandbox's death took down (adds "sandboxDied":true). */
void report_exit_sandbox_died(const char *sandbox, const char *process, const struct exit_info *x);
void report_sandbox_exit(const char *sandbox, int status);
/* req < 0: null. */
void report_error(long long req, const char *sandbox, const char *process, const struct err *e);
/* The same, for a request cut short by a `destroy` of its sandbox: adds "destroyed":true. */
void report_destroyed_error(long long req, const char *sandbox, const char *process,
			    const struct err *e);
/* Send fd (ownership passes to the report queue) as stdio handle number n of process. */
void report_stdio_handle(const char *process, int n, int fd);
/* Send fd as the socket of files channel `channel` ({"type":"fs","channel":...}). */
/* A socket connected inside a sandbox (ports.c), named by its connect request's conn. */
void report_connection_handle(const char *conn, int fd);
void report_files_handle(const char *channel, int fd);

#endif
