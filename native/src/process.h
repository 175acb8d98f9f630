/*
 * process.h — the entry points of the helper's child processes.
 *
 *   supervisor ─clone(CLONE_NEW*)─▶ init ─clone(NEWPID|NEWNS)─▶ reaper ─fork─▶ command
 *
 * Each entry returns the process's exit status (util.c's proc_start exits with it).
 */
#ifndef SANDKIT_PROCESS_H
#define SANDKIT_PROCESS_H

#include <stdbool.h>

#include "ctl.h"
#include "proto.h"

/* The init asks a reaper to forward signal n to its command by queueing SIGNAL_FORWARD with
 * value n: this also carries SIGSTOP, which the reaper itself could never catch. */
#define SIGNAL_FORWARD SIGRTMIN

struct init_args {
	const struct create_req *config;
	int ctl;
};

struct reaper_args {
	const struct spawn_msg *spawn;
	int ctl;
	int result_fd;            /* pipe for the final EXIT or ERROR, forwarded by the init */
	const int *stdio;         /* three fds */
	const int *cgroup_procs;  /* v1 cgroup.procs fds to join */
	int n_cgroup_procs;
	bool proc;                /* mount a fresh /proc */
};

struct command_args {
	const struct spawn_msg *spawn;
	const int *stdio;
	int errfd;          /* close-on-exec pipe for the failure record */
	int outfd;          /* socket to the reaper for output files (stdio.h) */
};

int init_main(void *arg);
int reaper_main(void *arg);
int command_main(void *arg);

#endif
