/*
 * ctl.c — sending and receiving control-socket messages (see ctl.h).
 *
 * Runs in the supervisor (parent side), the init and the reapers.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl.h"
#include "util.h"

/* One sendmsg; -1 with errno. MSG_DONTWAIT when nowait. */
static int send_one(int sock, const void *msg, size_t len, const int *fds, int n_fds, pid_t pid,
		    bool nowait)
{
	union {
		char buf[CMSG_SPACE(CTL_FDS_MAX * sizeof(int)) + CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} ctrl;
	struct iovec iov = { (void *)msg, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl.buf };
	struct cmsghdr *c;

	memset(&ctrl, 0, sizeof(ctrl));
	mh.msg_controllen = (n_fds ? CMSG_SPACE(n_fds * sizeof(int)) : 0) +
			    (pid > 0 ? CMSG_SPACE(sizeof(struct ucred)) : 0);
	if (!mh.msg_controllen)
		mh.msg_control = NULL;
	c = mh.msg_control ? CMSG_FIRSTHDR(&mh) : NULL;
	if (n_fds && c) {
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(n_fds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, n_fds * sizeof(int));
		c = CMSG_NXTHDR(&mh, c);
	}
	if (pid > 0 && c) {
		struct ucred cred = { .pid = pid, .uid = getuid(), .gid = getgid() };
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_CREDENTIALS;
		c->cmsg_len = CMSG_LEN(sizeof(cred));
		memcpy(CMSG_DATA(c), &cred, sizeof(cred));
	}
	while (sendmsg(sock, &mh, MSG_NOSIGNAL | (nowait ? MSG_DONTWAIT : 0)) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

int ctl_send(int sock, const void *msg, size_t len, const int *fds, int n_fds, pid_t pid,
	     enum step step, struct err *e)
{
	if (send_one(sock, msg, len, fds, n_fds, pid, false) < 0)
		return err_sys(e, step, "sendmsg", NULL, "sendmsg(control socket)");
	return 0;
}

int ctl_try_send(int sock, const void *msg, size_t len, const int *fds, int n_fds)
{
	return send_one(sock, msg, len, fds, n_fds, 0, true);
}

static void take_cmsgs(struct msghdr *mh, int *fds, int *n_fds, pid_t *pid)
{
	struct cmsghdr *c;
	int max = n_fds ? *n_fds : 0, i, n;

	if (n_fds)
		*n_fds = 0;
	for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS && pid) {
			struct ucred cred;
			memcpy(&cred, CMSG_DATA(c), sizeof(cred));
			*pid = cred.pid;
		} else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (i = 0; i < n; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (n_fds && *n_fds < max)
					fds[(*n_fds)++] = fd;
				else
					close(fd);
			}
		}
	}
}

ssize_t ctl_recv(int sock, void *buf, size_t len, int *fds, int *n_fds, pid_t *pid, bool dontwait)
{
	union {
		char buf[CMSG_SPACE(CTL_FDS_MAX * sizeof(int)) + CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} ctrl;
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctrl.buf,
			     .msg_controllen = sizeof(ctrl.buf) };
	ssize_t r;

	if (pid)
		*pid = 0;
	do
		r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | (dontwait ? MSG_DONTWAIT : 0));
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (n_fds)
			*n_fds = 0;
		return -1;
	}
	take_cmsgs(&mh, fds, n_fds, pid);
	if (mh.msg_flags & MSG_TRUNC) {
		errno = EMSGSIZE;
		return -1;
	}
	return r;
}

size_t ctl_up_len(uint32_t kind)
{
	switch (kind) {
	case CTL_ERROR: return offsetof(struct ctl_up, exit);
	case CTL_EXIT: return sizeof(struct ctl_up);
	default: return offsetof(struct ctl_up, err);
	}
}

int ctl_send_up(int sock, const struct ctl_up *m, pid_t pid, enum step step, struct err *e)
{
	return ctl_send(sock, m, ctl_up_len(m->kind), NULL, 0, pid, step, e);
}

ssize_t ctl_recv_up(int sock, struct ctl_up *m, pid_t *pid)
{
	return ctl_recv_up_fds(sock, m, pid, NULL);
}

ssize_t ctl_recv_up_fds(int sock, struct ctl_up *m, pid_t *pid, int fds[2])
{
	int n_fds = fds ? 2 : 0;
	ssize_t n;

	memset(m, 0, sizeof(*m));
	if (fds)
		fds[0] = fds[1] = -1;
	n = ctl_recv(sock, m, sizeof(*m), fds, fds ? &n_fds : NULL, pid, true);
	if (n > 0 && (size_t)n < ctl_up_len(m->kind)) { /* too short for its kind: ignore it */
		memset(m, 0, sizeof(*m));
		m->kind = 0;
	}
	return n;
}

int ctl_send_step(int sock, enum step step, struct err *e)
{
	struct ctl_up m;

	memset(&m, 0, sizeof(m));
	m.kind = CTL_STEP;
	m.step = step;
	return ctl_send_up(sock, &m, 0, step, e);
}

int ctl_send_error(int sock, uint32_t spawn, const struct err *err)
{
	struct ctl_up m;
	struct err ignored;

	memset(&m, 0, sizeof(m));
	m.kind = CTL_ERROR;
	m.spawn = spawn;
	m.err = *err;
	return ctl_send_up(sock, &m, 0, err->step, &ignored);
}

static const char *take_string(const char **p, const char *end)
{
	const char *s = *p, *nul = s < end ? memchr(s, '\0', end - s) : NULL;

	if (!nul)
		return NULL;
	*p = nul + 1;
	return s;
}

static char **take_strings(const char **p, const char *end, uint32_t n)
{
	char **v = xcalloc(n + 1, sizeof(char *));
	uint32_t i;

	for (i = 0; i < n; i++)
		if (!(v[i] = (char *)take_string(p, end)))
			return free(v), NULL;
	return v;
}

static int ctl_decode_stdio(const struct ctl_down *m, const char *p, const char *end,
			    struct spawn_msg *out)
{
	int i;

	out->output_limit = m->output_limit;
	out->tty = m->tty != 0;
	out->tty_cols = m->tty_cols;
	out->tty_rows = m->tty_rows;
	for (i = 0; i < 3; i++) {
		out->stdio_open[i] = m->stdio_open[i];
		out->stdio_limit[i] = m->stdio_limit[i];
		if (m->stdio_open[i] > CTL_STDIO_APPEND)
			return ctl_free_spawn(out), -1;
		if (m->stdio_open[i] != CTL_STDIO_FD &&
		    !(out->stdio_path[i] = take_string(&p, end)))
			return ctl_free_spawn(out), -1;
	}
	return 0;
}

int ctl_decode_spawn(const struct ctl_down *m, size_t len, struct spawn_msg *out)
{
	const char *p = (const char *)(m + 1), *end;
	size_t rlimits_len = (size_t)m->n_rlimits * sizeof(struct ctl_rlimit);
	size_t groups_len = (size_t)m->n_groups * sizeof(gid_t);

	memset(out, 0, sizeof(*out));
	if (len < sizeof(*m) || m->payload_len != len - sizeof(*m) || m->view_len > m->payload_len)
		return -1;
	end = (const char *)m + len - m->view_len; /* the view blob is the payload's tail */
	out->view = end;
	out->view_len = m->view_len;
	if (m->n_rlimits > 64 || m->n_groups > 64 || m->seccomp_len > CTL_PAYLOAD_MAX ||
	    m->seccomp_len % 8 || m->n_masked > 64 || m->n_readonly > 64 ||
	    rlimits_len + m->seccomp_len + groups_len > m->payload_len ||
	    m->argc > CTL_PAYLOAD_MAX || m->envc > CTL_PAYLOAD_MAX ||
	    3 + (m->has_cgroup ? 1 : 0) + m->n_cgroup_procs + (m->has_memcg ? 1 : 0) > CTL_FDS_MAX)
		return -1;
	out->id = m->spawn;
	out->rlimits = (const struct ctl_rlimit *)p;
	out->n_rlimits = m->n_rlimits;
	out->has_cgroup = m->has_cgroup;
	out->cgroupns = m->cgroupns;
	out->has_memcg = m->has_memcg;
	out->n_fds = 3 + (m->has_cgroup ? 1 : 0) + m->n_cgroup_procs + (m->has_memcg ? 1 : 0);
	p += rlimits_len;
	out->has_security = m->has_security;
	out->no_new_privs = m->no_new_privs;
	out->caps_keep = m->caps_keep;
	out->seccomp = m->seccomp_len ? (const uint8_t *)p : NULL;
	out->seccomp_len = m->seccomp_len;
	p += m->seccomp_len;
	out->uid = m->uid;
	out->gid = m->gid;
	out->n_groups = m->n_groups;
	out->groups = (const gid_t *)p;
	p += groups_len;
	if (!(out->cwd = take_string(&p, end)) || !(out->argv = take_strings(&p, end, m->argc)) ||
	    !(out->env = take_strings(&p, end, m->envc)) ||
	    !(out->masked = take_strings(&p, end, m->n_masked)) ||
	    !(out->readonly = take_strings(&p, end, m->n_readonly)))
		return ctl_free_spawn(out), -1;
	out->n_masked = m->n_masked;
	out->n_readonly = m->n_readonly;
	return ctl_decode_stdio(m, p, end, out);
}

void ctl_free_spawn(struct spawn_msg *s)
{
	free(s->argv);
	free(s->env);
	free(s->masked);
	free(s->readonly);
	s->argv = s->env = s->masked = s->readonly = NULL;
}

void ctl_size_send_buffer(int sock)
{
	int size = CTL_PAYLOAD_MAX + sizeof(struct ctl_down) + 4096;

	if (setsockopt(sock, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}
