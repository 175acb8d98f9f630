/*
 * reaper.c — PID 1 of one spawn's own pid and mount namespace.
 *
 * Runs in the reaper, cloned by the init with CLONE_NEWPID | CLONE_NEWNS (and straight into
 * the spawn's v2 cgroup). It joins the spawn's v1 cgroups and cgroup namespace, mounts the
 * spawn's /proc, masks /proc and /sys paths (mask.c), forks the command (PID 2), forwards
 * signals to it, and when it exits kills everything left in the namespace (kill(-1) from
 * PID 1 reaches exactly this namespace),
 * reaps it all and leaves its exit record in a pipe to the init. The init forwards that record
 * only once it has reaped the reaper, so when Node sees `exit` nothing of the spawn is left
 * (its cgroup can be removed at once). If the reaper itself is killed, the kernel ends the
 * namespace and the init reports the exit from wait4().
 *
 * STARTED goes straight to the supervisor on the sandbox's control socket, carrying
 * SCM_CREDENTIALS naming PID 2: the kernel translates that pid into the supervisor's pid
 * namespace, which is how `spawned` gets the command's host pid.
 */
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process.h"
#include "security.h"
#include "stdio.h"
#include "sync.h"
#include "util.h"

/* Move ourselves into each v1 cgroup (the fds were opened by the supervisor, whose rights
 * the kernel checks), then root a new cgroup namespace there, before anything is forked. */
static int join_cgroups(const struct reaper_args *a, struct err *e)
{
	int i;

	for (i = 0; i < a->n_cgroup_procs; i++) {
		if (write(a->cgroup_procs[i], "0", 1) != 1)
			return err_sys(e, STEP_SPAWN_CGROUP, "write", "cgroup.procs",
				       "write(\"cgroup.procs\", \"0\")");
		close(a->cgroup_procs[i]);
	}
	if (a->spawn->cgroupns && unshare(CLONE_NEWCGROUP) < 0)
		return err_sys(e, STEP_SPAWN_CGROUP, "unshare", NULL, "unshare(CLONE_NEWCGROUP)");
	return 0;
}

/* The mounts are private already (the init made them so before building the root), so a
 * fresh /proc over the sandbox's is all this namespace needs. */
static int mount_spawn_proc(struct err *e)
{
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return err_sys(e, STEP_SPAWN_PROC, "mount", "/proc", "mount(\"proc\", \"/proc\")");
	return 0;
}

/* Block every signal and read them from a signalfd; the command gets a clean mask. */
static int take_signals(struct err *e)
{
	sigset_t all;
	int fd;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	if ((fd = signalfd(-1, &all, SFD_CLOEXEC)) < 0)
		return err_sys(e, STEP_SPAWN_CLONE, "signalfd", NULL, "signalfd()");
	return fd;
}

static void exit_status(int status, struct exit_info *x)
{
	x->code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	x->signo = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

/* Wait for the command, forwarding signals to it. Orphans reaped on the way are fine. */
static void wait_command(int sigfd, pid_t child, struct exit_info *x, struct output_files *outs)
{
	struct signalfd_siginfo si;
	pid_t pid;
	int status;

	for (;;) {
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			if (pid == child) {
				exit_status(status, x);
				return;
			}
		stdio_outputs_wait(outs, sigfd);  /* output files past their limit: kill the tree */
		if (read(sigfd, &si, sizeof(si)) != sizeof(si))
			continue;
		/* ssi_pid 0: sent from outside this pid namespace, i.e. by the init. */
		if (si.ssi_signo == (uint32_t)SIGNAL_FORWARD && si.ssi_code == SI_QUEUE && si.ssi_pid == 0)
			kill(child, si.ssi_int);
		/* ssi_pid 1 is ourselves (say, SIGPIPE writing the exec error): not for the command. */
		else if (si.ssi_signo != SIGCHLD && si.ssi_pid != 1)
			kill(child, si.ssi_signo);
	}
}

/* Kill what the command left behind and account for everything. */
static void reap_namespace(struct exit_info *x)
{
	struct rusage ru;

	kill(-1, SIGKILL);
	while (waitpid(-1, NULL, __WALL) > 0)
		;
	getrusage(RUSAGE_CHILDREN, &ru);
	x->user_us = (uint64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
	x->system_us = (uint64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
	x->max_rss_kb = ru.ru_maxrss;
}

static int send_started(const struct reaper_args *a, pid_t child, struct err *e)
{
	struct ctl_up m;

	memset(&m, 0, sizeof(m));
	m.kind = CTL_STARTED;
	m.spawn = a->spawn->id;
	return ctl_send_up(a->ctl, &m, child, STEP_SPAWN_CLONE, e);
}

_Static_assert(sizeof(struct ctl_up) <= PIPE_BUF, "the final record must be one atomic write");

/* The final EXIT (x) or ERROR (err) record, for the init to forward once we are reaped.
 * It is smaller than PIPE_BUF, so the write is atomic. */
static int finish(const struct reaper_args *a, const struct exit_info *x, const struct err *err)
{
	struct ctl_up m;

	memset(&m, 0, sizeof(m));
	m.kind = x ? CTL_EXIT : CTL_ERROR;
	m.spawn = a->spawn->id;
	if (x)
		m.exit = *x;
	else
		m.err = *err;
	return write(a->result_fd, &m, ctl_up_len(m.kind)) == (ssize_t)ctl_up_len(m.kind) ? 0 : 1;
}

/* outsock[0]: where the command hands over the output files it opened (stdio.c). */
static pid_t fork_command(const struct reaper_args *a, int *errpipe, int *outsock, struct err *e)
{
	struct command_args ca = { a->spawn, a->stdio, -1, -1 };
	pid_t pid;

	if (pipe2(errpipe, O_CLOEXEC) < 0)
		return err_sys(e, STEP_SPAWN_CLONE, "pipe2", NULL, "pipe2()");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, outsock) < 0)
		return err_sys(e, STEP_SPAWN_CLONE, "socketpair", NULL, "socketpair()");
	ca.errfd = errpipe[1];
	ca.outfd = outsock[1];
	pid = proc_start(0, -1, command_main, &ca);
	close(errpipe[1]);
	close(outsock[1]);
	if (pid < 0)
		return err_sys(e, STEP_SPAWN_CLONE, "fork", NULL, "fork() of the command");
	return pid;
}

/* After the command is known to have exec'd (or failed to): report, then wait. */
static int supervise(const struct reaper_args *a, int sigfd, pid_t child, int errfd,
		     int outsock, uint64_t t0, struct err *e)
{
	struct exit_info x = { 0 };
	struct output_files outs;
	struct err rec;
	int got = sync_read_record(errfd, &rec);

	close(errfd);
	stdio_outputs_init(a->spawn, &outs);
	stdio_outputs_receive(outsock, &outs);
	close(outsock);
	if (got == 1 && rec.step != STEP_EXEC)
		return finish(a, NULL, &rec);
	if (send_started(a, child, e) < 0)
		return 1;
	if (got == 1) {
		x.has_exec_error = 1;
		x.exec_error = rec;
		dprintf(a->stdio[2], "sandkit: %s: %s\n", a->spawn->argv[0], strerror(rec.errnum));
	}
	close(a->stdio[2]);
	wait_command(sigfd, child, &x, &outs);
	x.wall_us = now_us() - t0;
	reap_namespace(&x);
	stdio_outputs_finish(&outs, &x);
	return finish(a, &x, NULL);
}

int reaper_main(void *arg)
{
	const struct reaper_args *a = arg;
	/* 0-2 stay on /dev/null so no new fd (the exec error pipe) lands there. */
	int keep[8 + CTL_FDS_MAX] = { 0, 1, 2, a->ctl, a->result_fd, a->stdio[0], a->stdio[1],
				      a->stdio[2] };
	int n_keep = 8, errpipe[2], outsock[2], sigfd, i;
	struct err e;
	uint64_t t0;
	pid_t child;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_DUMPABLE, 0);  /* inherited from the init already; said again on purpose */
	for (i = 0; i < a->n_cgroup_procs; i++)
		keep[n_keep++] = a->cgroup_procs[i];
	fd_close_except(keep, n_keep);
	if (join_cgroups(a, &e) < 0 || (a->proc && mount_spawn_proc(&e) < 0) ||
	    mask_apply(a->spawn->masked, a->spawn->n_masked, a->spawn->readonly,
		       a->spawn->n_readonly, &e) < 0 ||
	    (sigfd = take_signals(&e)) < 0)
		return finish(a, NULL, &e);
	t0 = now_us();
	if ((child = fork_command(a, errpipe, outsock, &e)) < 0)
		return finish(a, NULL, &e);
	close(a->stdio[0]);
	close(a->stdio[1]);
	return supervise(a, sigfd, child, errpipe[0], outsock[0], t0, &e);
}
