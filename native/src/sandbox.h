/*
 * sandbox.h — creating, watching and destroying sandboxes (sandbox.c).
 *
 * Supervisor only. The table they live in is table.h.
 */
#ifndef SANDKIT_SANDBOX_H
#define SANDKIT_SANDBOX_H

#include "proto.h"
#include "table.h"

void sandbox_create_from_parent(long long req, const struct create_req *c);
void sandbox_destroy_from_parent(long long req, const char *name);
/* The init's control socket is readable. */
void sandbox_control_from_parent(struct sandbox *sb);
/* SIGCHLD: reap inits, finish what they leave. */
void sandbox_reap_from_parent(int sigfd);
/* Channel gone: kill every init and wait for it. */
void sandbox_kill_all_from_parent(void);

#endif
