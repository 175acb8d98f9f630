/*
 * sandbox.c — creating, watching and destroying sandboxes.
 *
 * Supervisor only. A create clones the init, writes its uid/gid maps, sends GO and returns
 * to the event loop; the init's STEP, READY and ERROR messages arrive on its control socket
 * and become `step`, `created` and `error` lines. Destroy is SIGKILL plus waiting for SIGCHLD,
 * so a slow teardown never blocks the supervisor.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "files.h"
#include "first_spawn.h"
#include "netlink.h"
#include "ports.h"
#include "usernet.h"
#include "process.h"
#include "report.h"
#include "sandbox.h"
#include "setup.h"
#include "trace.h"
#include "util.h"

/* No CLONE_NEWCGROUP: the init must be able to place spawns in cgroups outside its own, so
 * namespaces.cgroup gives each spawn a cgroup namespace instead (spawn.cgroupns). */
static unsigned long ns_flags(const struct create_req *c)
{
	return CLONE_NEWPID | CLONE_NEWNS | (c->user ? CLONE_NEWUSER : 0) |
	       (c->uts ? CLONE_NEWUTS : 0) | (c->ipc ? CLONE_NEWIPC : 0) |
	       (c->net ? CLONE_NEWNET : 0);
}

static int clone_init_from_parent(struct sandbox *sb, const struct create_req *c, struct err *e)
{
	struct init_args a;
	int sv[2], one = 1;
	uint64_t t0;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return err_sys(e, STEP_SANDBOX_CLONE, "socketpair", NULL,
			       "socketpair(SOCK_SEQPACKET)");
	setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	ctl_size_send_buffer(sv[0]);
	a.config = c;
	a.ctl = sv[1];
	t0 = trace_now();
	sb->pid = proc_start(ns_flags(c), -1, init_main, &a);
	trace_since("sandbox.clone", t0);
	close(sv[1]);
	sb->ctl = sv[0];
	if (sb->pid < 0)
		return err_sys(e, STEP_SANDBOX_CLONE, "clone3", NULL,
			       "clone3() of the sandbox init");
	return 0;
}

static int write_maps_from_parent(struct sandbox *sb, const struct create_req *c, struct err *e)
{
	uint64_t t0 = trace_now();

	if (!c->user)
		return 0;
	report_step(sb->name, STEP_USERNS_MAP);
	sb->last_step = STEP_USERNS_MAP;
	if (userns_write_maps_from_parent(sb->pid, c, e) < 0)
		return -1;
	trace_since("userns.map", t0);
	files_take_userns(sb->name, sb->pid); /* for files workers, while the init is dumpable */
	ports_take_namespaces(sb->name, sb->pid); /* for published ports, likewise */
	return 0;
}

/* config.net: the veth pair, before GO, so the init finds its interface waiting. */
static int attach_from_parent(struct sandbox *sb, const struct create_req *c, struct err *e)
{
	if (!c->attached)
		return 0;
	report_step(sb->name, STEP_NET_VETH);
	sb->last_step = STEP_NET_VETH;
	return netlink_veth_from_parent(&c->attach, sb->pid, e);
}

static int send_go_from_parent(struct sandbox *sb, struct err *e)
{
	struct ctl_down m = { .kind = CTL_GO };

	return sandbox_send_from_parent(sb, &m, sizeof(m), NULL, 0, NULL, NULL, STEP_SANDBOX_CLONE,
					e);
}

static int create_check(const struct create_req *c, struct err *e)
{
	if (sandbox_find(c->sandbox, true))
		return err_msg(e, STEP_PROTOCOL, "sandbox: \"%s\" already exists", c->sandbox);
	if (!c->user && geteuid() != 0)
		return err_msg(e, STEP_PROTOCOL,
			       "config.namespaces.user: false needs the helper to run as root");
	return 0;
}

/* The create failed: answer it once; the init is killed and ends quietly. */
static void create_failed(struct sandbox *sb, const struct err *e)
{
	if (!sb->creating)
		return;
	report_error(sb->create_req, sb->name, NULL, e);
	first_spawn_fail(sb, e, false);
	sb->creating = false;
	sb->failed = true;
	if (sb->pid > 0)
		kill(sb->pid, SIGKILL);
}

void sandbox_create_from_parent(long long req, const struct create_req *c)
{
	uint64_t t0 = trace_now();
	struct sandbox *sb;
	struct err e;

	if (create_check(c, &e) < 0) {
		report_error(req, c->sandbox, NULL, &e);
		first_spawn_refuse(c->first_spawn, c->sandbox, &e);
		return;
	}
	sb = sandbox_new(c->sandbox, req);
	sb->trace_t0 = t0;
	if (c->first_spawn)
		sb->first_spawn = json_dup(c->first_spawn);
	report_step(sb->name, STEP_SANDBOX_CLONE);
	if (clone_init_from_parent(sb, c, &e) < 0 || write_maps_from_parent(sb, c, &e) < 0 ||
	    attach_from_parent(sb, c, &e) < 0 || send_go_from_parent(sb, &e) < 0) {
		create_failed(sb, &e);
		if (sb->pid < 0)
			sandbox_free(sb);
		return;
	}
	trace_since("create.clone+map+go", t0);
}

void sandbox_destroy_from_parent(long long req, const char *name)
{
	struct sandbox *sb = sandbox_find(name, false);

	if (!sb) {
		report_destroyed(req, name);
		return;
	}
	if (sb->pid > 0)
		kill(sb->pid, SIGKILL);
	if (!sb->n_destroy_reqs)
		sb->trace_t0 = trace_now();
	sb->destroy_reqs = xrealloc(sb->destroy_reqs, (sb->n_destroy_reqs + 1) * sizeof(long long));
	sb->destroy_reqs[sb->n_destroy_reqs++] = req;
}

/* The init and its reapers are inside the sandbox: treat what they send as untrusted. */
static void err_sanitize(struct err *e)
{
	if (e->step < 0 || e->step >= STEP__COUNT)
		e->step = STEP_PROTOCOL;
	e->syscall[sizeof(e->syscall) - 1] = '\0';
	e->path[sizeof(e->path) - 1] = '\0';
	e->message[sizeof(e->message) - 1] = '\0';
}

static void on_spawn_message(struct sandbox *sb, struct ctl_up *m, pid_t pid)
{
	struct spawn *sp = spawn_find(sb, m->spawn, NULL);

	if (!sp)
		return;
	if (m->kind == CTL_ERROR && !sp->started) {
		report_error(sp->req, sb->name, sp->process, &m->err);
		spawn_remove(sp);
	} else if (m->kind == CTL_STARTED && !sp->started) {
		sp->started = true;
		trace_since("spawn.sent-to-started", sp->t0);
		report_spawned(sp->req, sp->process, pid, m->pre_exec_us);
	} else if (m->kind == CTL_EXIT) {
		if (!sp->started)
			report_spawned(sp->req, sp->process, 0, 0);
		trace_since("spawn.sent-to-exit", sp->t0);
		report_exit(sb->name, sp->process, &m->exit);
		spawn_remove(sp);
	}
}

static void on_message(struct sandbox *sb, struct ctl_up *m, pid_t pid)
{
	err_sanitize(&m->err);
	err_sanitize(&m->exit.exec_error);
	if (m->spawn)
		on_spawn_message(sb, m, pid);
	else if (m->kind == CTL_STEP && sb->creating && m->step >= 0 && m->step < STEP__COUNT) {
		sb->last_step = m->step;
		report_step(sb->name, m->step);
	} else if (m->kind == CTL_READY && sb->creating) {
		trace_since("create.request-to-ready", sb->trace_t0);
		sb->creating = false;
		report_created(sb->create_req, sb->name, sb->pid, sb->upper);
		first_spawn_run(sb);
	} else if (m->kind == CTL_ERROR) {
		create_failed(sb, &m->err);
	}
}

void sandbox_control_from_parent(struct sandbox *sb)
{
	struct ctl_up m;
	pid_t pid;
	ssize_t n;
	int fds[2], i;

	while (sb->ctl >= 0) {
		n = ctl_recv_up_fds(sb->ctl, &m, &pid, fds);
		if (fds[0] >= 0 && n > 0 && m.kind == CTL_READY && sb->creating && !m.spawn) {
			files_set_root(sb->name,
				       fds[0]); /* the sandbox's "/", for files channels */
			fds[0] = -1;
			if (fds[1] >= 0 && sb->upper < 0) { /* limits.disk: its writable layer */
				sb->upper = fds[1];
				fds[1] = -1;
			}
		}
		for (i = 0; i < 2; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		if (n < 0 && (errno == EAGAIN || errno == EMSGSIZE))
			return;
		if (n <= 0) { /* EOF: the init and every reaper are gone */
			sandbox_outq_clear(sb);
			close(sb->ctl);
			sb->ctl = -1;
		} else {
			on_message(sb, &m, pid);
		}
	}
}

static void sandbox_ended(struct sandbox *sb, int status)
{
	bool was_ready;
	struct err e;
	int i;

	sandbox_control_from_parent(sb); /* what it said before it died comes first */
	was_ready = !sb->creating && !sb->failed;
	if (sb->creating && sb->n_destroy_reqs) {
		err_msg(&e, sb->last_step, "the sandbox was destroyed during %s",
			step_names[sb->last_step]);
		report_destroyed_error(sb->create_req, sb->name, NULL, &e);
		first_spawn_fail(sb, &e, true);
	} else if (sb->creating) {
		err_msg(&e, sb->last_step, "the sandbox init died during %s",
			step_names[sb->last_step]);
		report_error(sb->create_req, sb->name, NULL, &e);
		first_spawn_fail(sb, &e, false);
	}
	while (sb->spawns)
		spawn_end_with_sandbox(sb->spawns, sb->n_destroy_reqs > 0);
	if (sb->n_destroy_reqs)
		trace_since("destroy.kill-to-reaped", sb->trace_t0);
	for (i = 0; i < sb->n_destroy_reqs; i++)
		report_destroyed(sb->destroy_reqs[i], sb->name);
	if (was_ready && !sb->n_destroy_reqs)
		report_sandbox_exit(sb->name, status);
	sandbox_free(sb);
}

void sandbox_reap_from_parent(int sigfd)
{
	struct signalfd_siginfo si;
	struct sandbox *sb;
	int status;
	pid_t pid;

	while (read(sigfd, &si, sizeof(si)) == sizeof(si))
		;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (sb = sandboxes; sb && sb->pid != pid; sb = sb->next)
			;
		if (sb)
			sandbox_ended(sb, status);
		else if (!nft_reaped(pid, status) && !ports_reaped(pid) && !usernet_reaped(pid))
			files_reaped(pid);
	}
}

void sandbox_kill_all_from_parent(void)
{
	struct sandbox *sb;

	for (sb = sandboxes; sb; sb = sb->next)
		if (sb->pid > 0)
			kill(sb->pid, SIGKILL);
	while (sandboxes) {
		if (sandboxes->pid > 0)
			waitpid(sandboxes->pid, NULL, 0);
		sandbox_free(sandboxes);
	}
}
