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
/* The `udp-relay` request: bind host_address:host_port and relay its datagrams to `port` inside
 * the sandbox (answers `relay` with the bound port). Relays end with their sandbox. */
void ports_udp_relay_from_parent(long long req, const char *sandbox, const char *name, int port,
				 const char *host_address, int host_port);
/* The user and network namespace fds kept for a sandbox (userns -1: the supervisor's own);
 * -1 when there are none. The fds stay owned by ports.c. */
int ports_namespaces(const char *sandbox, int *userns, int *netns);

/* The event loop's part: how many pollfds pending connections and UDP relays need, filling
 * them in; then handling what poll() said (and what is past its deadline); the poll timeout
 * in ms (-1: nothing pending). */
int ports_poll_count(void);
void ports_poll_fill(struct pollfd *pfd);
void ports_poll_done(const struct pollfd *pfd, int n);
int ports_poll_timeout(void);

#endif
