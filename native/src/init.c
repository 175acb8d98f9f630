/*
 * init.c — PID 1 of a sandbox.
 *
 * Runs in the init, cloned by the supervisor into new user, pid, mount (and uts, ipc, net,
 * cgroup) namespaces. It waits for GO (its uid/gid maps are written), builds the root
 * filesystem step by step, reports each step, then serves spawn and kill requests until the
 * supervisor goes away. When it dies, the kernel kills its whole pid namespace (nested
 * spawn namespaces included) and drops its mount namespace with every mount in it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netlink.h"
#include "process.h"
#include "runtime_view.h"
#include "setup.h"
#include "trace.h"
#include "util.h"

#define SPAWN_BUF_SIZE (sizeof(struct ctl_down) + CTL_PAYLOAD_MAX)

struct reaper {
	uint32_t spawn;
	pid_t pid;
	int result_fd; /* read end of the reaper's final-record pipe */
	uint64_t t0;
};

static struct reaper *reapers;
static int n_reapers, cap_reapers;

static uint64_t step_t0;

/* A step's call returned rc: its time goes to the trace (when on). */
static int step_done(enum step id, int rc)
{
	trace_since(step_names[id], step_t0);
	return rc;
}

/* Announce a step to the supervisor, then run it. */
#define STEP(ctl, id, call, e) \
	(ctl_send_step(ctl, id, e) < 0 || (step_t0 = trace_now(), step_done(id, (call))) < 0)

/* *upper: with limits.disk, an O_PATH fd of the tmpfs's upper/ (else -1), for READY. */
static int init_setup(const struct create_req *c, int ctl, int *upper, struct err *e)
{
	int root = -1, failed;

	failed = (c->user && STEP(ctl, STEP_USERNS_SETID, userns_become_root(e), e)) ||
		 (c->user && STEP(ctl, STEP_USERNS_LIMITS, userns_limit_counts(e), e)) ||
		 STEP(ctl, STEP_MOUNT_PRIVATE, mount_private(e), e) ||
		 (c->quota_target && STEP(ctl, STEP_ROOTFS_QUOTA,
					  *upper = mount_quota(c->quota_target, c->quota_options,
							       c->tmpfs, c->n_tmpfs, e),
					  e)) ||
		 (c->quota_target && c->ipc && quota_limit_ipc(c->quota_options, e) < 0) ||
		 STEP(ctl, STEP_ROOTFS_OVERLAY,
		      layers_prepare(c->merged, e) < 0
			      ? -1
			      : mount_overlay(c->merged, c->overlay_options, e),
		      e) ||
		 (root = mount_open_root(c->merged, e)) < 0 ||
		 (c->n_ro_overlays &&
		  STEP(ctl, STEP_MOUNT_BIND,
		       mount_ro_overlays(root, c->ro_overlays, c->n_ro_overlays, e), e)) ||
		 (c->n_binds &&
		  STEP(ctl, STEP_MOUNT_BIND, mount_binds(root, c->binds, c->n_binds, e), e)) ||
		 (c->proc && STEP(ctl, STEP_MOUNT_PROC, mount_proc(root, e), e)) ||
		 (c->dev && STEP(ctl, STEP_MOUNT_DEV, dev_mount(root, e), e)) ||
		 (c->n_tmpfs &&
		  STEP(ctl, STEP_MOUNT_TMPFS,
		       mount_tmpfs(root, c->quota_target, c->tmpfs, c->n_tmpfs, e), e)) ||
		 STEP(ctl, STEP_PIVOT_ROOT, pivot_to(root, e), e) ||
		 (c->uts && c->hostname[0] &&
		  STEP(ctl, STEP_UTS_HOSTNAME, uts_set_hostname(c->hostname, e), e)) ||
		 (c->net && STEP(ctl, STEP_NET_LOOPBACK, net_loopback_up(e), e)) ||
		 (c->attached && STEP(ctl, STEP_NET_ADDRESS, netlink_address(&c->attach, e), e)) ||
		 (c->attached && c->attach.has_gateway &&
		  STEP(ctl, STEP_NET_ROUTE, netlink_route(&c->attach, e), e)) ||
		 ctl_send_step(ctl, STEP_SANDBOX_READY, e) < 0;
	if (root >= 0)
		close(root);
	return failed ? -1 : 0;
}

/* Block until the supervisor has written our maps. EOF: it died before we could tell. */
static int wait_go(int ctl)
{
	struct ctl_down m;

	return ctl_recv(ctl, &m, sizeof(m), NULL, NULL, NULL, false) == sizeof(m) &&
			       m.kind == CTL_GO
		       ? 0
		       : -1;
}

/* READY carries an O_PATH fd of the new "/" (files.c): the supervisor's only way into the
 * sandbox's root, since this process is not dumpable. With limits.disk a second fd follows,
 * the tmpfs's upper/, from which the host copies the writable layer for snapshots. */
static int send_ready(int ctl, int upper, struct err *e)
{
	struct ctl_up m;
	int fds[2] = { open("/", O_PATH | O_DIRECTORY | O_CLOEXEC), upper }, rc;
	int n = fds[0] < 0 ? 0 : upper >= 0 ? 2 : 1; /* the upper fd only ever comes second */

	memset(&m, 0, sizeof(m));
	m.kind = CTL_READY;
	rc = ctl_send(ctl, &m, ctl_up_len(m.kind), fds, n, 0, STEP_SANDBOX_READY, e);
	if (fds[0] >= 0)
		close(fds[0]);
	return rc;
}

static void reapers_add(uint32_t spawn, pid_t pid, int result_fd)
{
	if (n_reapers == cap_reapers) {
		cap_reapers = cap_reapers ? cap_reapers * 2 : 8;
		reapers = xrealloc(reapers, cap_reapers * sizeof(*reapers));
	}
	reapers[n_reapers++] = (struct reaper){ spawn, pid, result_fd, now_us() };
}

static struct reaper *reapers_find(uint32_t spawn, pid_t pid)
{
	int i;

	for (i = 0; i < n_reapers; i++)
		if (spawn ? reapers[i].spawn == spawn : reapers[i].pid == pid)
			return &reapers[i];
	return NULL;
}

static void init_spawn(int ctl, const struct ctl_down *m, size_t len, const int *fds, int n_fds,
		       bool proc)
{
	struct spawn_msg s;
	struct reaper_args a = { &s, ctl, -1, fds, NULL, 0, -1, -1, proc };
	int result[2] = { -1, -1 };
	uint64_t t0 = trace_now();
	struct err e;
	pid_t pid = -1;

	if (ctl_decode_spawn(m, len, &s) < 0 || n_fds != s.n_fds) {
		err_msg(&e, STEP_SPAWN_CLONE, "malformed spawn message");
		ctl_send_error(ctl, m->spawn, &e);
		ctl_free_spawn(&s);
		return;
	}
	a.cgroup_procs = fds + 3 + s.has_cgroup;
	a.n_cgroup_procs = n_fds - 3 - s.has_cgroup - s.has_memcg;
	a.cgroup_dir = s.has_cgroup ? fds[3] : -1;
	a.memcg = s.has_memcg ? fds[n_fds - 1] : -1;
	if (pipe2(result, O_CLOEXEC | O_NONBLOCK) < 0) {
		err_sys(&e, STEP_SPAWN_CLONE, "pipe2", NULL, "pipe2()");
	} else {
		a.result_fd = result[1];
		/* The reaper stays in the init's cgroup; it clones the command into the spawn's. */
		pid = proc_start(CLONE_NEWPID | CLONE_NEWNS, -1, reaper_main, &a);
		if (pid < 0)
			err_sys(&e, STEP_SPAWN_CLONE, "clone3", NULL,
				"clone3(CLONE_NEWPID | CLONE_NEWNS)");
		close(result[1]);
	}
	trace_since("init.spawn", t0);
	if (pid > 0) {
		reapers_add(m->spawn, pid, result[0]);
	} else {
		ctl_send_error(ctl, m->spawn, &e);
		if (result[0] >= 0)
			close(result[0]);
	}
	ctl_free_spawn(&s);
}

/* Every signal, SIGKILL included, goes through the reaper to the command: when the command
 * dies the reaper kills the rest of its pid namespace and reaps it, so the exit record still
 * counts the CPU time of the whole tree (killing the reaper itself would lose it). */
static void signal_reaper(pid_t pid, int signo)
{
	union sigval v = { .sival_int = signo };

	/* EAGAIN: no room left to queue a signal for the reaper's uid (pending signals are counted
	 * per user, up to the helper's owner). A kill still ends the spawn, with its reaper: the
	 * kernel ends the namespace, and the exit comes from wait4 (without the tree's CPU time). */
	if (sigqueue(pid, SIGNAL_FORWARD, v) < 0 && errno == EAGAIN && signo == SIGKILL)
		kill(pid, SIGKILL);
}

/* One request from the supervisor. Returns 0 when the supervisor is gone. */
static int init_request(int ctl, struct ctl_down *buf, bool proc)
{
	int fds[CTL_FDS_MAX], n_fds = CTL_FDS_MAX, i;
	ssize_t n = ctl_recv(ctl, buf, SPAWN_BUF_SIZE, fds, &n_fds, NULL, false);
	struct reaper *r;

	if (n <= 0)
		return n < 0 && errno == EMSGSIZE ? 1 : 0;
	if ((size_t)n >= sizeof(*buf) && buf->kind == CTL_SPAWN)
		init_spawn(ctl, buf, n, fds, n_fds, proc);
	else if ((size_t)n >= sizeof(*buf) && buf->kind == CTL_KILL &&
		 (r = reapers_find(buf->spawn, 0)))
		signal_reaper(r->pid, buf->signo);
	for (i = 0; i < n_fds; i++)
		close(fds[i]);
	return 1;
}

/* A reaper that left no final record (it was killed): its exit, from wait4. */
static void exit_from_wait(struct ctl_up *m, const struct reaper *r, int status,
			   const struct rusage *ru)
{
	memset(m, 0, sizeof(*m));
	m->kind = CTL_EXIT;
	m->exit.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	m->exit.signo = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	m->exit.wall_us = now_us() - r->t0;
	m->exit.user_us = (uint64_t)ru->ru_utime.tv_sec * 1000000 + ru->ru_utime.tv_usec;
	m->exit.system_us = (uint64_t)ru->ru_stime.tv_sec * 1000000 + ru->ru_stime.tv_usec;
	m->exit.max_rss_kb = ru->ru_maxrss;
}

/* The reaper is gone, and with it its whole pid namespace (and its cgroup is empty): only
 * now does its final record go to the supervisor, or one made from wait4 if it left none. */
static void forward_result(int ctl, const struct reaper *r, int status, const struct rusage *ru)
{
	struct ctl_up m;
	struct err ignored;
	ssize_t n = read(r->result_fd, &m, sizeof(m));

	if (n <= 0 || (size_t)n != ctl_up_len(m.kind))
		exit_from_wait(&m, r, status, ru);
	m.spawn = r->spawn;
	ctl_send_up(ctl, &m, 0, STEP_EXEC, &ignored);
	close(r->result_fd);
}

static void init_reap(int ctl, int sigfd)
{
	struct signalfd_siginfo si;
	struct rusage ru;
	struct reaper *r;
	int status;
	pid_t pid;

	while (read(sigfd, &si, sizeof(si)) == sizeof(si))
		;
	while ((pid = wait4(-1, &status, WNOHANG | __WALL, &ru)) > 0) {
		if (!(r = reapers_find(0, pid)))
			continue;
		forward_result(ctl, r, status, &ru);
		*r = reapers[--n_reapers];
	}
}

static int init_serve(int ctl, bool proc)
{
	struct ctl_down *buf = xmalloc(SPAWN_BUF_SIZE);
	sigset_t chld;
	int sigfd;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if ((sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
		return 1;
	for (;;) {
		struct pollfd p[2] = { { ctl, POLLIN, 0 }, { sigfd, POLLIN, 0 } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return 1;
		if (p[1].revents)
			init_reap(ctl, sigfd);
		if (p[0].revents && !init_request(ctl, buf, proc))
			return 0;
	}
}

int init_main(void *arg)
{
	const struct init_args *a = arg;
	struct err e;
	int upper = -1, rc;
	uint64_t t0;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	trace_as("init");
	fd_close_except(&a->ctl, 1);
	fd_stdio_null();
	t0 = trace_now();
	if (wait_go(a->ctl) < 0)
		return 1;
	trace_since("init.wait_go", t0);
	/* While still dumpable: non-dumpable, /proc/self/timens_offsets is not ours to write. */
	if (a->config->timens && runtime_view_timens(&e) < 0)
		return ctl_send_error(a->ctl, 0, &e), 1;
	t0 = trace_now();
	/* Nothing in the sandbox may ptrace us or open our /proc entries from here on. */
	prctl(PR_SET_DUMPABLE, 0);
	rc = init_setup(a->config, a->ctl, &upper, &e) < 0 || send_ready(a->ctl, upper, &e) < 0;
	trace_since("init.setup", t0);
	if (upper >= 0)
		close(upper);
	if (rc)
		return ctl_send_error(a->ctl, 0, &e), 1;
	return init_serve(a->ctl, a->config->proc);
}
