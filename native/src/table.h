/*
 * table.h — the supervisor's table of sandboxes and their spawns (table.c).
 *
 * Supervisor only. sandbox.c and spawn.c both use it and neither calls the other.
 */
#ifndef SANDKIT_TABLE_H
#define SANDKIT_TABLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctl.h"
#include "proto.h"

struct spawn {
	struct spawn *next;
	struct sandbox *sandbox;
	char *process;
	uint32_t id;
	long long req; /* the spawn request, until `spawned` or `error` answers it */
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
	pid_t pid; /* the init, on the host */
	int ctl;   /* -1 after EOF */
	int upper; /* limits.disk: O_PATH fd of the tmpfs's upper/ (snapshots), or -1 */
	long long create_req;
	bool creating; /* create not answered yet */
	bool failed;   /* create failed: end quietly */
	enum step last_step;
	uint64_t trace_t0; /* opt-in step timing (trace.h): when the create or destroy began */
	struct spawn *spawns;
	struct jval *first_spawn; /* a copy of the create's spawn, until created (first_spawn.h) */
	long long *destroy_reqs;
	int n_destroy_reqs;
	/* Down messages waiting for room on ctl, oldest first: the supervisor never blocks on
	 * one sandbox; main.c polls for POLLOUT while any wait. */
	struct ctl_out *outq, **outq_tail;
};

extern struct sandbox *sandboxes;

/* live: skip sandboxes that are being destroyed or failed. */
struct sandbox *sandbox_find(const char *name, bool live);
/* A new sandbox, creating, at the head of the table. */
struct sandbox *sandbox_new(const char *name, long long req);
/* Take sb out of the table and free it, its spawns and its queue. */
void sandbox_free(struct sandbox *sb);
/* Send a down message to the init, or queue it (with its fds) while the socket is full.
 * On 0 the fds are taken (set to -1); on -1 (the init is gone) they stay the caller's.
 * process/node (may be NULL): a SPAWN's name and Node's stdio ends (-1: none), taken as
 * well and reported to Node as stdio handles when the message leaves. */
int sandbox_send_from_parent(struct sandbox *sb, const void *msg, size_t len, int *fds, int n_fds,
			     const char *process, int *node, enum step step, struct err *e);
/* Drop what waits for an init that is gone (its fds are closed). */
void sandbox_outq_clear(struct sandbox *sb);
/* The init's control socket has room: send what is queued, in order, until it is full. */
void sandbox_flush_from_parent(struct sandbox *sb);

/* A spawn id unique within the supervisor (never 0: "the sandbox" on the control socket). */
uint32_t spawn_new_id(void);
/* By id in sb, or by process name in every sandbox (sb NULL). */
struct spawn *spawn_find(struct sandbox *sb, uint32_t id, const char *process);
void spawn_add(struct sandbox *sb, uint32_t id, const char *process, long long req);
void spawn_remove(struct spawn *sp);
/* The sandbox died under a spawn (destroyed: by a destroy request): answer or end it. */
void spawn_end_with_sandbox(struct spawn *sp, bool destroyed);

#endif
