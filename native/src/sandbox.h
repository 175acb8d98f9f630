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
};

extern struct sandbox *sandboxes;

/* live: skip sandboxes that are being destroyed or failed. */
struct sandbox *sandbox_find(const char *name, bool live);

void sandbox_create_from_parent(long long req, const struct create_req *c);
void sandbox_destroy_from_parent(long long req, const char *name);
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
