/*
 * files.c — files channels: a worker process per channel, operating in a sandbox's root.
 *
 * Supervisor only (the workers run fsops.c). The init opens "/" with O_PATH right after
 * pivot_root and sends it up with READY, so the supervisor holds the sandbox's root without
 * ever needing ptrace access to the (non-dumpable) init. An `fs` request forks a worker with
 * that fd and one end of a socket pair; Node gets the other end as a NODE_HANDLE. The worker
 * never blocks the event loop, dies with the supervisor (PDEATHSIG), and is killed when its
 * sandbox goes, so no fd keeps a dead sandbox's overlay alive.
 *
 * A worker first joins the sandbox's user namespace, so the ids and capabilities it acts with
 * are the sandbox's, not the supervisor's: as a sandbox's root it can do what that root can,
 * nothing on the host. The namespace fd is taken right after the maps are written, while the
 * init is still dumpable (later, unprivileged, neither /proc/<init>/ns nor a pidfd setns pass
 * the ptrace check).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "files.h"
#include "fsops.h"
#include "report.h"
#include "util.h"

struct files_root {
	struct files_root *next;
	char *sandbox;
	int fd;
	int userns; /* the sandbox's user namespace; -1: it has none; -2: it has one we lack */
	pid_t *workers;
	int n_workers;
};

static struct files_root *roots;

static struct files_root *find(const char *sandbox)
{
	struct files_root *r;

	for (r = roots; r && strcmp(r->sandbox, sandbox) != 0; r = r->next)
		;
	return r;
}

static struct files_root *find_or_add(const char *sandbox)
{
	struct files_root *r = find(sandbox);

	if (r)
		return r;
	r = xcalloc(1, sizeof(*r));
	r->sandbox = xstrdup(sandbox);
	r->fd = -1;
	r->userns = -1;
	r->next = roots;
	roots = r;
	return r;
}

void files_take_userns(const char *sandbox, pid_t init)
{
	struct files_root *r = find_or_add(sandbox);
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)init);
	if (r->userns >= 0)
		close(r->userns);
	r->userns = open(path, O_RDONLY | O_CLOEXEC);
	if (r->userns < 0)
		r->userns = -2;
}

void files_set_root(const char *sandbox, int fd)
{
	struct files_root *r = find_or_add(sandbox);

	if (r->fd >= 0)
		close(r->fd);
	r->fd = fd;
}

void files_forget(const char *sandbox)
{
	struct files_root **p, *r;
	int i;

	for (p = &roots; *p && strcmp((*p)->sandbox, sandbox) != 0; p = &(*p)->next)
		;
	if (!(r = *p))
		return;
	*p = r->next;
	for (i = 0; i < r->n_workers; i++)
		kill(r->workers[i], SIGKILL);
	for (i = 0; i < r->n_workers; i++)
		waitpid(r->workers[i], NULL, 0); /* ECHILD if already reaped: fine */
	if (r->fd >= 0)
		close(r->fd);
	if (r->userns >= 0)
		close(r->userns);
	free(r->workers);
	free(r->sandbox);
	free(r);
}

struct worker_args {
	int root, sock, userns;
};

static int worker_main(void *arg)
{
	const struct worker_args *a = arg;
	int keep[] = { a->root, a->sock, a->userns };

	if (worker_begin(keep, 3, "sandkit-files") < 0)
		return 1;
	/* -1: the sandbox has no user namespace of its own (namespaces.user false, as root). */
	if (a->userns == -2 || (a->userns >= 0 && setns(a->userns, CLONE_NEWUSER) < 0)) {
		fprintf(stderr, "sandkit-files: cannot join the sandbox's user namespace: %s\n",
			a->userns == -2 ? "its fd was not taken" : strerror(errno));
		return 1;
	}
	if (a->userns >= 0)
		close(a->userns);
	return fsops_serve(a->root, a->sock, a->sock) < 0 ? 1 : 0;
}

void files_reaped(pid_t pid)
{
	struct files_root *r;
	int i;

	for (r = roots; r; r = r->next)
		for (i = 0; i < r->n_workers; i++)
			if (r->workers[i] == pid) {
				r->workers[i] = r->workers[--r->n_workers];
				return;
			}
}

void files_open_from_parent(long long req, const char *sandbox, const char *channel)
{
	struct files_root *r = find(sandbox);
	struct worker_args a;
	struct err e;
	int sv[2];
	pid_t pid;

	if (!r || r->fd < 0) {
		err_msg(&e, STEP_FILES_CHANNEL, "sandbox \"%.128s\" is not running", sandbox);
		return report_error(req, sandbox, NULL, &e);
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		err_sys(&e, STEP_FILES_CHANNEL, "socketpair", NULL, "socketpair()");
		return report_error(req, sandbox, NULL, &e);
	}
	a = (struct worker_args){ r->fd, sv[1], r->userns };
	if ((pid = proc_start(0, -1, worker_main, &a)) < 0) {
		err_sys(&e, STEP_FILES_CHANNEL, "fork", NULL, "fork()");
		close(sv[0]);
		close(sv[1]);
		return report_error(req, sandbox, NULL, &e);
	}
	close(sv[1]);
	/* Node's end must not block: libuv keeps a received fd's blocking mode, and a blocking
	 * send of pipelined requests while the worker blocks sending replies is a deadlock. */
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	r->workers = xrealloc(r->workers, (r->n_workers + 1) * sizeof(*r->workers));
	r->workers[r->n_workers++] = pid;
	report_files_handle(channel, sv[0]);
	report_ok(req);
}
