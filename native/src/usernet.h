/*
 * usernet.h — user-mode networks: pasta attached to a sandbox's network namespace.
 *
 * Supervisor only. pasta (Debian `passt`) runs as the grandchild of a keeper process, as PID 1's
 * only child in a pid namespace of its own, so the kernel kills it when the keeper chain dies:
 * with the sandbox (usernet_forget), or with the supervisor (death signals), whatever pasta
 * does with its own credentials.
 */
#ifndef SANDKIT_USERNET_H
#define SANDKIT_USERNET_H

#include <poll.h>
#include <stdbool.h>
#include <sys/types.h>

/* The `usernet` request: start pasta; `ok` once it has set the namespace up. */
void usernet_start_from_parent(long long req, const char *sandbox, const char *address,
			       int prefix_length, const char *gateway, bool map_gateway);
/* The sandbox is gone: kill its pasta, fail a start still pending. */
void usernet_forget(const char *sandbox);
/* SIGCHLD: true when pid was a keeper. */
int usernet_reaped(pid_t pid);

/* Starts in progress, for the event loop (called through ports_poll_*). */
int usernet_poll_count(void);
void usernet_poll_fill(struct pollfd *pfd);
void usernet_poll_done(const struct pollfd *pfd);
int usernet_poll_timeout(void);

#endif
