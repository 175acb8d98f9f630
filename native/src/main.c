/*
 * main.c — sandkit-helper: the supervisor, one per Node process.
 *
 * Runs in the supervisor. Node starts it with an IPC channel (NODE_CHANNEL_FD); it answers
 * requests to create sandboxes (init.c), spawn in them (spawn.c, reaper.c, command.c) and
 * destroy them (sandbox.c). It is single-threaded and event driven: one poll() over the
 * channel, a signalfd for SIGCHLD, and every init's control socket; nothing in it waits on a
 * sandbox (sends to an init that cannot take them are queued per sandbox). It dies with Node:
 * PR_SET_PDEATHSIG, a re-check of the parent pid, and EOF on the channel.
 *
 * Exit status: 0 when the channel closed, 1 when startup failed, 2 on a usage error or a
 * line from Node that is not JSON.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "args.h"
#include "fsops.h"
#include "ports.h"
#include "usernet.h"
#include "report.h"
#include "request.h"
#include "sandbox.h"
#include "security.h"
#include "trace.h"
#include "util.h"

static int fail(const struct err *e)
{
	fprintf(stderr, "sandkit-helper: %s: %s\n", step_names[e->step], e->message);
	return 1;
}

static int open_channel(struct err *e)
{
	const char *env = getenv("NODE_CHANNEL_FD");
	char *end;
	long fd = env ? strtol(env, &end, 10) : -1;

	if (!env || *end || fd < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return err_msg(
			e, STEP_HELPER_START,
			"no IPC channel (NODE_CHANNEL_FD); sandkit-helper is started by the sandkit SDK");
	return report_init(fd, e) < 0 ? -1 : (int)fd;
}

/* Die with Node: the death signal covers the future, the pid check the past. */
static int watch_parent(struct err *e)
{
	const char *want = getenv("SANDKIT_PARENT_PID");

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		return err_sys(e, STEP_HELPER_START, "prctl", NULL, "prctl(PR_SET_PDEATHSIG)");
	if (want && getppid() != (pid_t)atol(want))
		return err_msg(e, STEP_HELPER_START, "parent process %s is gone", want);
	return 0;
}

static int watch_children(struct err *e)
{
	sigset_t chld;
	int fd;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	if ((fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
		return err_sys(e, STEP_HELPER_START, "signalfd", NULL, "signalfd(SIGCHLD)");
	return fd;
}

/* pfd[0]: channel, pfd[1]: SIGCHLD, then one per live init control socket, then *n_ports
 * for connections being opened into sandboxes and UDP relays (ports.c), then *n_user for
 * user-mode networks being started (usernet.c). */
static int poll_set(struct pollfd **pfd, struct sandbox ***owner, int *cap, int channel, int sigfd,
		    int *n_ports, int *n_user)
{
	struct sandbox *sb;
	int n = 2 + (*n_ports = ports_poll_count()) + (*n_user = usernet_poll_count());
	short in;

	for (sb = sandboxes; sb; sb = sb->next)
		n++;
	if (!*pfd || n > *cap) {
		*cap = n * 2;
		*pfd = xrealloc(*pfd, *cap * sizeof(**pfd));
		*owner = xrealloc(*owner, *cap * sizeof(**owner));
	}
	(*pfd)[0] = (struct pollfd){ channel, POLLIN | (report_pending() ? POLLOUT : 0), 0 };
	(*pfd)[1] = (struct pollfd){ sigfd, POLLIN, 0 };
	/* While Node lags behind on what is queued for it, inits wait to be heard (their sends
	 * block in the sandbox, not here): what the supervisor buffers for Node stays bounded. */
	in = report_backlogged() ? 0 : POLLIN;
	for (n = 2, sb = sandboxes; sb; sb = sb->next)
		if (sb->ctl >= 0) {
			(*owner)[n] = sb;
			(*pfd)[n++] = (struct pollfd){ sb->ctl, in | (sb->outq ? POLLOUT : 0), 0 };
		}
	ports_poll_fill(*pfd + n);
	usernet_poll_fill(*pfd + n + *n_ports);
	return n;
}

/* The sooner of two poll timeouts in ms, where -1 is none. */
static int sooner(int a, int b)
{
	if (a < 0)
		return b;
	return b >= 0 && b < a ? b : a;
}

/* The event loop. Inits' messages first, then Node's requests, then reaping (the only
 * thing that frees a sandbox), so no pointer in owner[] dangles. */
static int serve(int channel, int sigfd)
{
	struct pollfd *pfd = NULL;
	struct sandbox **owner = NULL;
	int cap = 0, n, n_ports, n_user, i;
	enum request_status st = REQUEST_OK;

	while (st == REQUEST_OK) {
		n = poll_set(&pfd, &owner, &cap, channel, sigfd, &n_ports, &n_user);
		if (poll(pfd, n + n_ports + n_user,
			 sooner(ports_poll_timeout(), usernet_poll_timeout())) < 0 &&
		    errno != EINTR)
			break;
		ports_poll_done(pfd + n, n_ports);
		usernet_poll_done(pfd + n + n_ports);
		for (i = 2; i < n; i++) {
			if (pfd[i].revents & POLLOUT)
				sandbox_flush_from_parent(owner[i]);
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				sandbox_control_from_parent(owner[i]);
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))
			st = request_read(channel);
		if (pfd[1].revents)
			sandbox_reap_from_parent(sigfd);
		if (report_flush() < 0)
			break;
	}
	free(pfd);
	free(owner);
	return st == REQUEST_NOT_JSON ? 2 : 0;
}

/* `sandkit-helper run-owned <pid> <command> [args...]`: exec the command with a death signal
 * armed for when <pid> (the Node process that runs this) dies. Node cannot arm one on its
 * own children, so every host tool sandkit starts (cp, ip, nft) goes through here and cannot
 * outlive a kill -9 of Node. 127: the command is missing; 126: it cannot be run. */
static int run_owned(int argc, char **argv)
{
	char *end;
	long owner = argc >= 4 ? strtol(argv[2], &end, 10) : 0;

	/* Owner 1 is Node as a container's PID 1 (`docker run node app.js`). */
	if (argc < 4 || *end || owner < 1) {
		fprintf(stderr, "usage: sandkit-helper run-owned <pid> <command> [args...]\n");
		return 2;
	}
	/* The signal follows the parent; if that is not the owner (a wrapper such as strace in
	 * between), at least the owner must still be alive. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 ||
	    (getppid() != (pid_t)owner && kill((pid_t)owner, 0) < 0))
		return 125; /* the owner is already gone: do nothing on its behalf */
	execvp(argv[3], argv + 3);
	fprintf(stderr, "sandkit-helper: run-owned: %s: %s\n", argv[3], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}

int main(int argc, char **argv)
{
	struct err e;
	int channel, sigfd, status;

	if (argc >= 2 && strcmp(argv[1], "fsops") == 0)
		return fsops_main(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "run-owned") == 0)
		return run_owned(argc, argv);
	switch (args_parse(argc, argv)) {
	case ARGS_DONE: return 0;
	case ARGS_USAGE: return 2;
	case ARGS_RUN: break;
	}
	selfexec_sealed(argv, &e); /* returns only when already sealed or unable to be */
	trace_open();
	if (fd_stdio_null() < 0 || (channel = open_channel(&e)) < 0 || watch_parent(&e) < 0 ||
	    (sigfd = watch_children(&e)) < 0)
		return fail(&e);
	report_hello();
	report_flush();
	status = serve(channel, sigfd);
	if (status == 2)
		fprintf(stderr, "sandkit-helper: protocol: a line from Node is not JSON\n");
	sandbox_kill_all_from_parent();
	return status;
}
