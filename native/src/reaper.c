/*
 * reaper.c — PID 1 of one spawn's own pid and mount namespace.
 *
 * Runs in the reaper, cloned by the init with CLONE_NEWPID | CLONE_NEWNS. It stays in the
 * init's cgroup: it mounts the spawn's /proc, masks /proc and /sys paths (mask.c) and clones
 * the command (PID 2) straight into the spawn's v2 cgroup (the command joins the v1 ones
 * itself), so none of this setup is billed to the program, whose CPU time counts from its
 * fork. It forwards signals to the command, samples the spawn's memory (memwatch.c, which also
 * has it end the tree on a v1 OOM), and when the command exits kills everything left in the
 * namespace (kill(-1) from PID 1 reaches exactly this namespace),
 * reaps it all and leaves its exit record in a pipe to the init. The init forwards that record
 * only once it has reaped the reaper, so when Node sees `exit` nothing of the spawn is left
 * (its cgroup can be removed at once). If the reaper itself is killed, the kernel ends the
 * namespace and the init reports the exit from wait4().
 *
 * STARTED goes straight to the supervisor on the sandbox's control socket, carrying
 * SCM_CREDENTIALS naming PID 2: the kernel translates that pid into the supervisor's pid
 * namespace, which is how `spawned` gets the command's host pid.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memwatch.h"
#include "process.h"
#include "pty.h"
#include "runtime_view.h"
#include "security.h"
#include "stdio.h"
#include "sync.h"
#include "trace.h"
#include "util.h"

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

/* The timer of the memory samples, every 1 ms to begin with; -1 when there is nothing to sample. */
static int sample_timer(const struct memwatch *w)
{
	struct itimerspec every_ms = { { 0, 1000000 }, { 0, 1000000 } };
	int fd;

	if (!memwatch_active(w) ||
	    (fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK)) < 0)
		return -1;
	timerfd_settime(fd, 0, &every_ms, NULL);
	return fd;
}

/* A signal for the reaper: forward it to the command. */
static void forward_signal(int sigfd, pid_t child)
{
	struct signalfd_siginfo si;

	if (read(sigfd, &si, sizeof(si)) != sizeof(si))
		return;
	/* ssi_pid 0: sent from outside this pid namespace, i.e. by the init. */
	if (si.ssi_signo == (uint32_t)SIGNAL_FORWARD && si.ssi_code == SI_QUEUE && si.ssi_pid == 0)
		kill(child, si.ssi_int);
	/* ssi_pid 1 is ourselves (say, SIGPIPE writing the exec error): not for the command. */
	else if (si.ssi_signo != SIGCHLD && si.ssi_pid != 1)
		kill(child, si.ssi_signo);
}

/* The group hit its memory limit on v1, where the kernel would kill only one process. */
static void sample_memory(struct memwatch *w, struct exit_info *x)
{
	if (memwatch_sample(w) && !x->oom_killed) {
		x->oom_killed = 1;
		kill(-1, SIGKILL);
	}
}

/* A sample on the timer, which is re-armed when the interval changes. */
static void sample_tick(int timer, struct memwatch *w, struct exit_info *x)
{
	unsigned before = memwatch_interval_ms(w), after;
	struct itimerspec next;

	sample_memory(w, x);
	if ((after = memwatch_interval_ms(w)) == before)
		return;
	next.it_interval.tv_sec = next.it_value.tv_sec = 0;
	next.it_interval.tv_nsec = next.it_value.tv_nsec = after * 1000000L;
	timerfd_settime(timer, 0, &next, NULL);
}

/*
 * A process of the spawn made a call its seccomp filter denies and now waits for our answer,
 * which never comes: the call is not run, the whole tree is killed, and its number is the
 * kernel's, which the program cannot forge. Only the first one counts.
 */
static void violation_received(int listener, struct exit_info *x)
{
	struct seccomp_notif n;
	int got;

	memset(&n, 0, sizeof(n));
	got = ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &n) == 0;
	if (!got && errno != ENOENT)
		return;
	if (!x->has_violation) {
		x->has_violation = 1;
		x->violation_nr =
			got ? n.data.nr : -1; /* ENOENT: the caller died first, number lost */
		x->violation_arch = got ? n.data.arch : 0;
	}
	kill(-1, SIGKILL);
}

/* Wait for the command, forwarding signals to it, sampling memory, watching output files and
 * ending the tree on a seccomp violation (listener: -1 when none). Orphans reaped on the way
 * are fine. */
static void wait_command(int sigfd, pid_t child, struct memwatch *w, int listener,
			 struct output_files *outs, struct exit_info *x)
{
	struct pollfd p[3 + PTY_POLLFDS] = { { sigfd, POLLIN, 0 },
					     { sample_timer(w), POLLIN, 0 },
					     { listener, POLLIN, 0 } };
	uint64_t ticks;
	pid_t pid;
	int status;

	for (;;) {
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			if (pid == child) {
				exit_status(status, x);
				if (p[1].fd >= 0)
					close(p[1].fd);
				return;
			}
		pty_poll(p + 3);
		/* output files past their limit: kill the tree */
		if (poll(p, ARRAY_LEN(p), stdio_outputs_check(outs)) < 0)
			continue;
		pty_relay(p + 3);
		if (p[2].revents & POLLIN)
			violation_received(listener, x);
		if (p[2].revents & (POLLHUP | POLLERR))
			p[2].fd = -1; /* nobody uses the filter any more */
		if (p[1].revents && read(p[1].fd, &ticks, sizeof(ticks)) > 0)
			sample_tick(p[1].fd, w, x);
		if (p[0].revents)
			forward_signal(sigfd, child);
	}
}

/* Kill what the command left behind and account for everything. */
static void reap_namespace(struct memwatch *w, struct exit_info *x)
{
	struct rusage ru;

	sample_memory(w, x); /* what is left still counts */
	kill(-1, SIGKILL);
	while (waitpid(-1, NULL, __WALL) > 0)
		;
	getrusage(RUSAGE_CHILDREN, &ru);
	x->user_us = (uint64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
	x->system_us = (uint64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
	x->max_rss_kb = ru.ru_maxrss;
	x->mem_used_bytes = w->peak;
	memwatch_close(w);
}

/* How much of the spawn's CPU time the command used before execve. The v2 cgroup (and rusage,
 * without cgroups) has it from its fork; a v1 cpuacct cgroup only from its join. */
static uint32_t pre_exec_us(const struct reaper_args *a, const struct pre_exec_cpu *cpu)
{
	uint64_t us = cpu->exec_us;

	if (a->cgroup_dir < 0 && a->n_cgroup_procs > 0)
		us = cpu->exec_us > cpu->joined_us ? cpu->exec_us - cpu->joined_us : 0;
	return us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int send_started(const struct reaper_args *a, pid_t child, const struct pre_exec_cpu *cpu,
			struct err *e)
{
	struct ctl_up m;

	memset(&m, 0, sizeof(m));
	m.kind = CTL_STARTED;
	m.spawn = a->spawn->id;
	m.pre_exec_us = pre_exec_us(a, cpu);
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

/*
 * With a seccomp listener to hold, the command shares our fd table (CLONE_FILES) and we wait
 * until it has exec'd (CLONE_VFORK): the listener it creates as its last step lands in our
 * table, and execve gives the program a copy of its own without it (close-on-exec). Our 0-2,
 * which it pointed at its stdio, go back to /dev/null.
 */
static pid_t fork_command(const struct reaper_args *a, int *errpipe, int *outsock,
			  struct pre_exec_cpu *cpu, struct err *e)
{
	struct command_args ca = {
		.spawn = a->spawn,
		.stdio = pty_stdio(a->stdio),
		.errfd = -1,
		.outfd = -1,
		.cgroup_procs = a->cgroup_procs,
		.n_cgroup_procs = a->n_cgroup_procs,
		.cpu = cpu,
		.shared_files = a->spawn->has_security &&
				seccomp_wants_listener(a->spawn->seccomp, a->spawn->seccomp_len),
	};
	int devnull = ca.shared_files ? fcntl(0, F_DUPFD_CLOEXEC, 3) : -1;
	pid_t pid;
	int i;

	cpu->listener = -1;
	if (pipe2(errpipe, O_CLOEXEC) < 0)
		return err_sys(e, STEP_SPAWN_CLONE, "pipe2", NULL, "pipe2()");
	/* outsock[0]: where the command hands over the output files it opened (stdio.c). */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, outsock) < 0)
		return err_sys(e, STEP_SPAWN_CLONE, "socketpair", NULL, "socketpair()");
	ca.errfd = errpipe[1];
	ca.outfd = outsock[1];
	pid = proc_start(ca.shared_files ? CLONE_VFORK | CLONE_FILES : 0, a->cgroup_dir,
			 command_main, &ca);
	for (i = 0; devnull >= 0 && i < 3; i++)
		dup2(devnull, i);
	if (devnull >= 0)
		close(devnull);
	close(errpipe[1]);
	close(outsock[1]);
	pty_forked();
	for (i = 0; i < a->n_cgroup_procs; i++)
		close(a->cgroup_procs[i]);
	if (a->cgroup_dir >= 0)
		close(a->cgroup_dir);
	if (pid < 0)
		return err_sys(e, STEP_SPAWN_CLONE, a->cgroup_dir >= 0 ? "clone3" : "fork", NULL,
			       a->cgroup_dir >= 0 ? "clone3(CLONE_INTO_CGROUP) of the command"
						  : "fork() of the command");
	return pid;
}

/* After the command is known to have exec'd (or failed to): report, then wait. */
static int supervise(const struct reaper_args *a, int sigfd, pid_t child, int errfd, int outsock,
		     uint64_t t0, struct memwatch *w, const struct pre_exec_cpu *cpu, struct err *e)
{
	struct exit_info x = { 0 };
	struct output_files outs;
	struct err rec;
	int got = sync_read_record(errfd, &rec);
	int listener = got == 1 ? -1 : cpu->listener; /* only a program that runs needs one */
	uint64_t t1;

	trace_since("command.setup+exec", t0);

	close(errfd);
	stdio_outputs_init(a->spawn, &outs);
	stdio_outputs_receive(outsock, &outs);
	close(outsock);
	if (got == 1 && cpu->listener >= 0)
		close(cpu->listener);
	if (got == 1 && rec.step != STEP_EXEC)
		return finish(a, NULL, &rec);
	if (send_started(a, child, cpu, e) < 0)
		return 1;
	if (got == 1) {
		x.has_exec_error = 1;
		x.exec_error = rec;
		dprintf(a->stdio[2], "sandkit: %s: %s\n", a->spawn->argv[0], strerror(rec.errnum));
	}
	close(a->stdio[2]);
	wait_command(sigfd, child, w, listener, &outs, &x);
	x.wall_us = now_us() - t0;
	t1 = trace_now();
	reap_namespace(w, &x);
	trace_since("reaper.reap", t1);
	pty_finish();
	stdio_outputs_finish(&outs, &x);
	if (listener >= 0)
		close(listener);
	if (x.has_violation) { /* reported as the kernel's own kill would be */
		x.code = -1;
		x.signo = SIGSYS;
	}
	return finish(a, &x, NULL);
}

int reaper_main(void *arg)
{
	const struct reaper_args *a = arg;
	/* 0-2 stay on /dev/null so no new fd (the exec error pipe) lands there. */
	int keep[10 + CTL_FDS_MAX] = {
		0,	     1,		  2,	       a->ctl,	      a->result_fd,
		a->stdio[0], a->stdio[1], a->stdio[2], a->cgroup_dir, a->memcg
	};
	int n_keep = 10, errpipe[2], outsock[2], sigfd, i;
	struct pre_exec_cpu *cpu;
	struct memwatch w;
	struct err e;
	uint64_t t0;
	pid_t child;

	uint64_t t1 = trace_now();

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_DUMPABLE, 0); /* inherited from the init already; said again on purpose */
	trace_as("reaper");
	for (i = 0; i < a->n_cgroup_procs; i++)
		keep[n_keep++] = a->cgroup_procs[i];
	fd_close_except(keep, n_keep);
	memwatch_open(&w, a->memcg);
	if (a->memcg >= 0)
		close(a->memcg);
	trace_since("reaper.start", t1);
	t1 = trace_now();
	if (a->proc && mount_spawn_proc(&e) < 0)
		return finish(a, NULL, &e);
	trace_since("spawn.proc", t1);
	t1 = trace_now();
	if (mask_apply(a->spawn->masked, a->spawn->n_masked, a->spawn->readonly,
		       a->spawn->n_readonly, &e) < 0 ||
	    (a->proc && runtime_view_proc(a->spawn, &e) < 0) || (sigfd = take_signals(&e)) < 0 ||
	    (a->spawn->tty && pty_open(a->spawn, a->stdio, &e) < 0))
		return finish(a, NULL, &e);
	trace_since("spawn.mask", t1);
	cpu = mmap(NULL, sizeof(*cpu), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (cpu == MAP_FAILED)
		return err_sys(&e, STEP_SPAWN_CLONE, "mmap", NULL, "mmap(MAP_SHARED)"),
		       finish(a, NULL, &e);
	t0 = now_us();
	if ((child = fork_command(a, errpipe, outsock, cpu, &e)) < 0)
		return finish(a, NULL, &e);
	trace_since("reaper.fork", t0);
	close(a->stdio[0]);
	close(a->stdio[1]);
	return supervise(a, sigfd, child, errpipe[0], outsock[0], t0, &w, cpu, &e);
}
