/*
 * sandbox.h — the supervisor's table of sandboxes and their spawns.
 *
 * Supervisor only.
 */
#ifndef SANDKIT_SANDBOX_H
#define SANDKIT_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

struct spawn {
	struct spawn *next;
	struct sandbox *sandbox;
	char *process;
	uint32_t id;
	long long req;       /* the spawn request, until `spawned` or `error` answers it */
	bool started;
	uint64_t t0;
};

/* A down message the init's control socket could not take yet, with the fds it carries. */
struct ctl_out {
	struct ctl_out *next;
	void *msg;
	size_t len;
	int fds[CTL_FDS_MAX];
	int n_fds;
	/* A SPAWN's stdio ends for Node: handed over only once the SPAWN left, so a burst into
	 * one sandbox does not put thousands of handles ahead of every other sandbox's replies. */
	char *process;
	int node[3];
};

struct sandbox {
	struct sandbox *next;
	char *name;
	pid_t pid;           /* the init, on the host */
	int ctl;             /* -1 after EOF */
	int upper;           /* limits.disk: O_PATH fd of the tmpfs's upper/ (snapshots), or -1 */
	long long create_req;
	bool creating;       /* create not answered yet */
	bool failed;         /* create failed: end quietly */
	enum step last_step;
	struct spawn *spawns;
	long long *destroy_reqs;
	int n_destroy_reqs;
	/* Down messages waiting for room on ctl, oldest first: the supervisor never blocks on
	 * one sandbox; main.c polls for POLLOUT while any wait. */
	struct ctl_out *outq, **outq_tail;
};

extern struct sandbox *sandboxes;

/* live: skip sandboxes that are being destroyed or failed. */
struct sandbox *sandbox_find(const char *name, bool live);

void sandbox_create_from_parent(long long req, const struct create_req *c);
void sandbox_destroy_from_parent(long long req, const char *name);
/* Send a down message to the init, or queue it (with its fds) while the socket is full.
 * On 0 the fds are taken (set to -1); on -1 (the init is gone) they stay the caller's.
 * process/node (may be NULL): a SPAWN's name and Node's stdio ends (-1: none), taken as
 * well and reported to Node as stdio handles when the message leaves. */
int sandbox_send_from_parent(struct sandbox *sb, const void *msg, size_t len, int *fds, int n_fds,
			     const char *process, int *node, enum step step, struct err *e);
/* The init's control socket has room: send what is queued, in order, until it is full. */
void sandbox_flush_from_parent(struct sandbox *sb);
/* The init's control socket is readable. */
void sandbox_control_from_parent(struct sandbox *sb);
/* SIGCHLD: reap inits, finish what they leave. */
void sandbox_reap_from_parent(int sigfd);
/* Channel gone: kill every init and wait for it. */
void sandbox_kill_all_from_parent(void);

/* spawn.c */
void spawn_from_parent(long long req, const struct spawn_req *s);
void spawn_kill_from_parent(long long req, const struct kill_req *k);
struct spawn *spawn_find(struct sandbox *sb, uint32_t id, const char *process);
void spawn_remove(struct spawn *sp);
/* The sandbox died under a spawn (destroyed: by a destroy request): answer or end it. */
void spawn_end_with_sandbox(struct spawn *sp, bool destroyed);

#endif
