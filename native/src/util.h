/*
 * util.h — small helpers shared by every process: process creation, fds, time, memory.
 */
#ifndef SANDKIT_UTIL_H
#define SANDKIT_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Start a child running fn(arg) in new namespaces (flags: CLONE_NEW*; 0 for a plain fork),
 * inside the v2 cgroup directory cgroup_fd unless it is -1. The child exits with fn's return
 * value. Returns the child's pid, or -1 with errno. */
pid_t proc_start(unsigned long flags, int cgroup_fd, int (*fn)(void *), void *arg);

/* Close every fd except those in keep[]. */
void fd_close_except(const int *keep, int n);

/* First steps of a supervisor's worker process: die with the supervisor (-1 if it is already
 * gone), default SIGCHLD, only the fds in keep[] open, and `name` in ps. */
int worker_begin(const int *keep, int n, const char *name);

/* Make sure fds 0, 1 and 2 are open (on /dev/null), so no later fd lands there. */
int fd_stdio_null(void);

int fd_set_nonblock(int fd);

/* Read or write exactly n bytes, retrying on EINTR; read_full returns bytes read (< n on EOF). */
ssize_t read_full(int fd, void *buf, size_t n);
ssize_t write_full(int fd, const void *buf, size_t n);

uint64_t now_us(void);

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* "SIGKILL" for 9; NULL when unknown. */
const char *signal_name(int signo);

#endif
