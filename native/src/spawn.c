/*
 * spawn.c — starting and signalling processes in a sandbox, supervisor side.
 *
 * Supervisor only. stdio.c makes the stdio fds: for each "pipe" an AF_UNIX stream socket
 * pair (Node's IPC only accepts sockets as handles), else /dev/null, a memfd or a pipe end.
 * This file also opens the spawn's cgroups, so the kernel checks the supervisor's right to
 * them, not the sandbox's. The sandbox ends and the
 * cgroup fds go with the request to the init in one SCM_RIGHTS message; Node's ends are
 * queued as NODE_HANDLE lines. `spawned` follows when the reaper reports that execve has
 * happened.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "report.h"
#include "spawn.h"
#include "table.h"
#include "stdio.h"
#include "trace.h"
#include "util.h"

static size_t payload_len(const struct spawn_req *s)
{
	size_t len = s->n_rlimits * sizeof(struct ctl_rlimit) + s->seccomp_len +
		     s->n_groups * sizeof(gid_t) + strlen(s->cwd) + 1;
	int i;

	for (i = 0; i < s->argc; i++)
		len += strlen(s->argv[i]) + 1;
	for (i = 0; i < s->envc; i++)
		len += strlen(s->env[i]) + 1;
	for (i = 0; i < s->n_masked; i++)
		len += strlen(s->masked[i]) + 1;
	for (i = 0; i < s->n_readonly; i++)
		len += strlen(s->readonly[i]) + 1;
	for (i = 0; i < 3; i++)
		if (stdio_open_kind(s, i) != CTL_STDIO_FD)
			len += strlen(s->stdio_path[i]) + 1;
	return len + s->view_len;
}

static int spawn_check(const struct sandbox *sb, const struct spawn_req *s, struct err *e)
{
	if (!sb || sb->ctl < 0)
		return err_msg(e, STEP_PROTOCOL, "sandbox: no sandbox \"%s\"", s->sandbox);
	if (sb->creating)
		return err_msg(e, STEP_PROTOCOL, "sandbox: \"%s\" is not created yet", s->sandbox);
	if (spawn_find(NULL, 0, s->process))
		return err_msg(e, STEP_PROTOCOL, "process: \"%s\" is already running", s->process);
	if (payload_len(s) > CTL_PAYLOAD_MAX)
		return err_msg(e, STEP_PROTOCOL,
			       "argv: argv, env, cwd, seccomp filter and masks exceed %d bytes",
			       CTL_PAYLOAD_MAX);
	return 0;
}

static char *put_strings(char *p, const char *const *v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		p = stpcpy(p, v[i]) + 1;
	return p;
}

static struct ctl_down *spawn_message(uint32_t id, const struct spawn_req *s, size_t *len)
{
	size_t payload = payload_len(s);
	struct ctl_down *m = xcalloc(1, sizeof(*m) + payload);
	char *p = (char *)(m + 1);

	struct ctl_rlimit *rl = (struct ctl_rlimit *)p;
	int i;

	*m = (struct ctl_down){ .kind = CTL_SPAWN,
				.spawn = id,
				.uid = s->uid,
				.gid = s->gid,
				.n_groups = s->n_groups,
				.argc = s->argc,
				.envc = s->envc,
				.n_rlimits = s->n_rlimits,
				.n_cgroup_procs = s->n_cgroup_procs,
				.has_cgroup = s->cgroup != NULL,
				.cgroupns = s->cgroupns,
				.has_security = s->has_security,
				.no_new_privs = s->no_new_privs,
				.caps_keep = s->caps_keep,
				.seccomp_len = s->seccomp_len,
				.n_masked = s->n_masked,
				.n_readonly = s->n_readonly,
				.has_memcg = s->memory_cgroup != NULL,
				.payload_len = payload };
	for (i = 0; i < s->n_rlimits; i++)
		rl[i] = (struct ctl_rlimit){ .resource = s->rlimits[i].resource,
					     .soft = s->rlimits[i].soft,
					     .hard = s->rlimits[i].hard };
	p += s->n_rlimits * sizeof(*rl);
	if (s->seccomp_len)
		memcpy(p, s->seccomp, s->seccomp_len);
	p += s->seccomp_len;
	memcpy(p, s->groups, s->n_groups * sizeof(gid_t));
	p = stpcpy(p + s->n_groups * sizeof(gid_t), s->cwd) + 1;
	p = put_strings(p, s->argv, s->argc);
	p = put_strings(p, s->env, s->envc);
	p = put_strings(p, s->masked, s->n_masked);
	p = put_strings(p, s->readonly, s->n_readonly);
	m->output_limit = s->output_limit;
	m->tty = s->tty;
	m->tty_cols = s->tty_cols;
	m->tty_rows = s->tty_rows;
	for (i = 0; i < 3; i++) {
		m->stdio_open[i] = stdio_open_kind(s, i);
		m->stdio_limit[i] = s->stdio_limit[i];
		if (m->stdio_open[i] != CTL_STDIO_FD)
			p = stpcpy(p, s->stdio_path[i]) + 1;
	}
	if (s->view_len)
		memcpy(p, s->view, s->view_len);
	m->view_len = s->view_len;
	*len = sizeof(*m) + payload;
	return m;
}

/* After the three stdio fds: the v2 cgroup directory (if any), then each v1 cgroup.procs,
 * then the memory controller's directory (the reaper reads its usage, memwatch.c). */
static int cgroups_open(const struct spawn_req *s, int *fds, struct err *e)
{
	int i, n = 0;

	if (s->cgroup && (fds[n++] = open(s->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return err_sys(e, STEP_SPAWN_CLONE, "open", s->cgroup, "open(\"%s\")", s->cgroup);
	for (i = 0; i < s->n_cgroup_procs; i++)
		if ((fds[n++] = open(s->cgroup_procs[i], O_WRONLY | O_CLOEXEC)) < 0)
			return err_sys(e, STEP_SPAWN_CGROUP, "open", s->cgroup_procs[i],
				       "open(\"%s\")", s->cgroup_procs[i]);
	if (s->memory_cgroup &&
	    (fds[n++] = open(s->memory_cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return err_sys(e, STEP_SPAWN_CGROUP, "open", s->memory_cgroup, "open(\"%s\")",
			       s->memory_cgroup);
	return n;
}

static void close_all(int *fds, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static int send_spawn(struct sandbox *sb, uint32_t id, const struct spawn_req *s, int *node,
		      int *fds, struct err *e)
{
	struct ctl_down *m;
	size_t len;
	int n, r;

	if (stdio_prepare(s, node, fds, e) < 0 || (n = cgroups_open(s, fds + 3, e)) < 0)
		return -1;
	m = spawn_message(id, s, &len);
	r = sandbox_send_from_parent(sb, m, len, fds, 3 + n, s->process, node, STEP_SPAWN_CLONE, e);
	free(m);
	return r;
}

void spawn_from_parent(long long req, const struct spawn_req *s)
{
	struct sandbox *sb = sandbox_find(s->sandbox, true);
	int node[3] = { -1, -1, -1 }, fds[CTL_FDS_MAX], r;
	uint32_t id = spawn_new_id();
	uint64_t t0 = trace_now();
	struct err e;

	if (spawn_check(sb, s, &e) < 0) {
		report_error(req, s->sandbox, s->process, &e);
		return;
	}
	memset(fds, -1, sizeof(fds));
	r = send_spawn(sb, id, s, node, fds, &e);
	close_all(fds, CTL_FDS_MAX);
	close_all(node, 3); /* -1 once taken: they go to Node when the request leaves */
	if (r < 0) {
		report_error(req, s->sandbox, s->process, &e);
		return;
	}
	spawn_add(sb, id, s->process, req);
	trace_since("spawn.open+send", t0);
}

void spawn_kill_from_parent(long long req, const struct kill_req *k)
{
	struct spawn *sp = spawn_find(NULL, 0, k->process);
	struct ctl_down m = { .kind = CTL_KILL, .signo = k->signo };
	struct err ignored;

	if (sp && sp->sandbox->ctl >= 0) {
		m.spawn = sp->id; /* queued behind its SPAWN when that still waits */
		sandbox_send_from_parent(sp->sandbox, &m, sizeof(m), NULL, 0, NULL, NULL,
					 STEP_SPAWN_CLONE, &ignored);
	}
	report_ok(req);
}
