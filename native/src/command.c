/*
 * command.c — the user's program, between fork and execve.
 *
 * Runs in the command process (PID 2 of the spawn's pid namespace), forked by the reaper.
 * Any failure is written as one record to the close-on-exec pipe; the reaper tells setup
 * failures (spawn.cgroup, spawn.stdio, spawn.cwd, spawn.user, security.*, seccomp.load) from
 * a failed execve by the record's step. Order: v1 cgroups and cgroup namespace, stdio, cwd,
 * rlimits, bounding set, uid switch, fds closed, signals reset, no_new_privs, capability sets,
 * stdio files, seccomp, execve.
 */
#include <errno.h>
#include <grp.h>
#include <linux/close_range.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "process.h"
#include "pty.h"
#include "runtime_view.h"
#include "security.h"
#include "setup.h"
#include "stdio.h"
#include "sync.h"
#include "trace.h"
#include "util.h"

extern char **environ;

static uint64_t cpu_time_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (uint64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* Join each v1 cgroup (the fds were opened by the supervisor, whose rights the kernel checks),
 * then root a new cgroup namespace there. First of all, so nearly nothing before execve is
 * billed elsewhere; the v2 cgroup the reaper cloned us into already. */
static int join_cgroups(const struct command_args *a, struct err *e)
{
	int i;

	for (i = 0; i < a->n_cgroup_procs; i++)
		if (write(a->cgroup_procs[i], "0", 1) != 1)
			return err_sys(e, STEP_SPAWN_CGROUP, "write", "cgroup.procs",
				       "write(\"cgroup.procs\", \"0\")");
	if (a->spawn->cgroupns && unshare(CLONE_NEWCGROUP) < 0)
		return err_sys(e, STEP_SPAWN_CGROUP, "unshare", NULL, "unshare(CLONE_NEWCGROUP)");
	if (runtime_view_command(a->spawn, e) < 0)
		return -1;
	a->cpu->joined_us = cpu_time_us();
	return 0;
}

/* The fds are all >= 3 (the init keeps 0-2 on /dev/null), so dup2 cannot clobber one. */
static int install_stdio(const int *fds, struct err *e)
{
	int i;

	for (i = 0; i < 3; i++)
		if (dup2(fds[i], i) < 0)
			return err_sys(e, STEP_SPAWN_STDIO, "dup2", NULL, "dup2(%d, %d)", fds[i],
				       i);
	return 0;
}

static int switch_user(const struct spawn_msg *s, struct err *e)
{
	/* With setgroups denied (unprivileged helper), an empty list is all we can get. */
	if (setgroups(s->n_groups, s->groups) < 0 && !(errno == EPERM && s->n_groups == 0))
		return err_sys(e, STEP_SPAWN_USER, "setgroups", NULL, "setgroups(%d groups)",
			       s->n_groups);
	if (setresgid(s->gid, s->gid, s->gid) < 0)
		return err_sys(e, STEP_SPAWN_USER, "setresgid", NULL, "setresgid(%u)", s->gid);
	if (setresuid(s->uid, s->uid, s->uid) < 0)
		return err_sys(e, STEP_SPAWN_USER, "setresuid", NULL, "setresuid(%u)", s->uid);
	return 0;
}

static void reset_signals(void)
{
	sigset_t none;
	int sig;

	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL); /* fails harmlessly for SIGKILL, SIGSTOP, glibc's own */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static int set_rlimits(const struct spawn_msg *s, struct err *e)
{
	int i;

	if (userns_limit_command(e) < 0)
		return -1;
	for (i = 0; i < s->n_rlimits; i++) {
		struct rlimit rl = { s->rlimits[i].soft, s->rlimits[i].hard };
		if (setrlimit(s->rlimits[i].resource, &rl) < 0)
			return err_sys(e, STEP_SPAWN_RLIMIT, "setrlimit", NULL,
				       "setrlimit(%s, %llu, %llu)",
				       proto_rlimit_name(s->rlimits[i].resource),
				       (unsigned long long)rl.rlim_cur,
				       (unsigned long long)rl.rlim_max);
	}
	return 0;
}

/* After pivot_root nothing above "/" is reachable, but check: getcwd() fails with ENOENT
 * (glibc) or returns "(unreachable)..." for a directory outside the process's root. */
static int enter_cwd(const char *cwd, struct err *e)
{
	char buf[PATH_MAX] = "";

	if (chdir(cwd) < 0)
		return err_sys(e, STEP_SPAWN_CWD, "chdir", cwd, "chdir(\"%s\")", cwd);
	if (!getcwd(buf, sizeof(buf)) || buf[0] != '/') {
		if (buf[0] != '/')
			errno = ENOENT;
		return err_sys(e, STEP_SPAWN_CWD, "getcwd", cwd,
			       "\"%s\" is outside the sandbox's root", cwd);
	}
	return 0;
}

/* no_new_privs, then the capability sets, then files given as stdio (opened with the
 * spawn's own user and capabilities), then (the very last call before execve) the seccomp
 * filter, so none of the helper's own calls is filtered. A filter with a listener leaves it
 * in the fd table shared with the reaper, which keeps it when execve unshares it. */
static int harden(const struct command_args *a, struct err *e)
{
	const struct spawn_msg *s = a->spawn;

	if (s->has_security &&
	    ((s->no_new_privs && caps_no_new_privs(e) < 0) || caps_set(s->caps_keep, e) < 0))
		return -1;
	if (stdio_open_files(s, a->outfd, e) < 0)
		return -1;
	/* What follows (the filter's load, execve) stays in the program's CPU time: after the load
	 * the filter could refuse even the clock_gettime of this measure. */
	a->cpu->exec_us = cpu_time_us();
	if (!s->has_security || !s->seccomp)
		return 0;
	if (a->shared_files)
		return (a->cpu->listener = seccomp_load_listener(s->seccomp, s->seccomp_len, e)) < 0
			       ? -1
			       : 0;
	return seccomp_load(s->seccomp, s->seccomp_len, e);
}

static int command_prepare(const struct command_args *a, struct err *e)
{
	const struct spawn_msg *s = a->spawn;
	int keep[] = { 0, 1, 2, a->errfd, a->outfd };
	uint64_t t0 = trace_now();

	trace_as("command");
	if (join_cgroups(a, e) < 0)
		return -1;
	trace_since("spawn.cgroup", t0);
	t0 = trace_now();
	if (setsid() < 0)
		return err_sys(e, STEP_SPAWN_STDIO, "setsid", NULL, "setsid()");
	if (install_stdio(a->stdio, e) < 0 || pty_take_controlling(s, e) < 0 ||
	    enter_cwd(s->cwd, e) < 0 || set_rlimits(s, e) < 0)
		return -1;
	trace_since("spawn.stdio+cwd+rlimit", t0);
	t0 = trace_now();
	/* The bounding set can only be dropped while we hold CAP_SETPCAP, before the uid switch. */
	if ((s->has_security && caps_drop_bounding(s->caps_keep, e) < 0) || switch_user(s, e) < 0)
		return -1;
	trace_since("spawn.user", t0);
	/* A shared table holds the reaper's fds: execve closes them (all close-on-exec) in our copy. */
	if (a->shared_files && close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		return err_sys(e, STEP_SPAWN_STDIO, "close_range", NULL,
			       "close_range(3, ~0, CLOSE_RANGE_CLOEXEC)");
	if (!a->shared_files)
		fd_close_except(keep, ARRAY_LEN(keep));
	reset_signals();
	return harden(a, e); /* not traced: the filter may refuse the trace's write */
}

int command_main(void *arg)
{
	const struct command_args *a = arg;
	const struct spawn_msg *s = a->spawn;
	struct err e;

	if (command_prepare(a, &e) == 0) {
		environ = s->env; /* execvpe searches the PATH of the environment it is given */
		execvpe(s->argv[0], s->argv, s->env);
		err_sys(&e, STEP_EXEC, "execve", s->argv[0], "execve(\"%s\")", s->argv[0]);
	}
	sync_write_record(a->errfd, &e);
	return e.step == STEP_EXEC && e.errnum != ENOENT ? 126 : 127;
}
