/*
 * pty.h — a spawn's pseudo-terminal (pty.c).
 *
 *   supervisor  pty_decode_from_parent: the spawn request's "tty"
 *   reaper      pty_open: a terminal from the sandbox's own devpts, before the command forks;
 *               pty_stdio: the command's 0-2 (the terminal's slave); pty_poll/pty_relay: the
 *               relay between Node's sockets and the master in the reaper's wait loop;
 *               pty_finish: what the program wrote last, then the sockets close
 *   command     pty_take_controlling: the terminal becomes its session's controlling tty
 */
#ifndef SANDKIT_PTY_H
#define SANDKIT_PTY_H

#include <poll.h>

#include "ctl.h"
#include "error.h"
#include "json.h"
#include "proto.h"

/* Pollfd slots the relay uses in the reaper's loop. */
#define PTY_POLLFDS 4

int pty_decode_from_parent(const struct jval *v, struct spawn_req *s, struct err *e);

/* stdio: the reaper's three sockets to Node (kept as the relay's own copies). */
int pty_open(const struct spawn_msg *s, const int *stdio, struct err *e);
/* The command's fds 0-2: the slave three times with a terminal, else stdio. */
const int *pty_stdio(const int *stdio);
/* The command has its copy of the slave: close the reaper's. */
void pty_forked(void);
void pty_poll(struct pollfd *p);
void pty_relay(const struct pollfd *p);
void pty_finish(void);

int pty_take_controlling(const struct spawn_msg *s, struct err *e);

#endif
