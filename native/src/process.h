/*
 * process.h — the entry points of the helper's child processes.
 *
 *   supervisor ─clone(CLONE_NEW*)─▶ init ─clone(NEWPID|NEWNS)─▶ reaper ─fork─▶ command
 *
 * Only the command (and what it starts) lives in the spawn's cgroup: it is cloned into the v2
 * cgroup and joins the v1 ones itself, so the reaper's setup is never billed to the program.
 *
 * Each entry returns the process's exit status (util.c's proc_start exits with it).
 */
#ifndef SANDKIT_PROCESS_H
#define SANDKIT_PROCESS_H

#include <stdbool.h>
#include <stdint.h>

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
	int result_fd;		 /* pipe for the final EXIT or ERROR, forwarded by the init */
	const int *stdio;	 /* three fds */
	const int *cgroup_procs; /* v1 cgroup.procs fds the command joins */
	int n_cgroup_procs;
	int cgroup_dir; /* the spawn's v2 cgroup, for CLONE_INTO_CGROUP of the command, or -1 */
	int memcg;	/* the memory controller's cgroup directory (memwatch.c), or -1 */
	bool proc;	/* mount a fresh /proc */
};

struct command_args {
	const struct spawn_msg *spawn;
	const int *stdio;
	int errfd;		 /* close-on-exec pipe for the failure record */
	int outfd;		 /* socket to the reaper for output files (stdio.h) */
	const int *cgroup_procs; /* v1 cgroup.procs fds to join first */
	int n_cgroup_procs;
	struct pre_exec_cpu *cpu; /* shared with the reaper: what the command used before execve */
	bool shared_files;	  /* the fd table is the reaper's until execve (seccomp listener) */
};

/* The command's own CPU time (CLOCK_PROCESS_CPUTIME_ID, µs) when it joined its v1 cgroups and
 * just before it loads its seccomp filter and calls execve, in a page shared with the reaper.
 * The reaper takes it off the spawn's CPU time, so the result counts from execve. */
struct pre_exec_cpu {
	uint64_t joined_us, exec_us;
	int32_t listener; /* the seccomp listener's fd in the fd table shared with the reaper, or -1 */
};

int init_main(void *arg);
int reaper_main(void *arg);
int command_main(void *arg);

#endif
