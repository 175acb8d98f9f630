/*
 * ports.h — ports published into loopback-only sandboxes: TCP connections made inside a
 * sandbox's network namespace and handed to Node.
 *
 * Supervisor only. Per sandbox, a small worker process that has joined the sandbox's user and
 * network namespaces makes sockets on request (it never connects, reads or writes); the
 * supervisor connects them without blocking, polls them in its event loop, and sends each
 * connected socket to Node as a `connection` handle, or an error when nothing listens.
 */
#ifndef SANDKIT_PORTS_H
#define SANDKIT_PORTS_H

#include <poll.h>
#include <sys/types.h>

/* Keep the namespaces of a new sandbox's init, while it is still dumpable. */
void ports_take_namespaces(const char *sandbox, pid_t init);
/* The sandbox is gone: stop its worker, fail its pending connections. */
void ports_forget(const char *sandbox);
/* SIGCHLD: a worker may have ended. True when pid was one. */
int ports_reaped(pid_t pid);

void ports_connect_from_parent(long long req, const char *sandbox, const char *conn, int port);

/* The event loop's part: how many pollfds pending connections need, filling them in; then
 * handling what poll() said (and connections past their deadline); the poll timeout in ms
 * (-1: none pending). */
int ports_poll_count(void);
void ports_poll_fill(struct pollfd *pfd);
void ports_poll_done(const struct pollfd *pfd, int n);
int ports_poll_timeout(void);

#endif
