/*
 * nft.c — the `nft` request: load an nftables script for Node.
 *
 * Supervisor only. Node asks the supervisor, not its own child_process, to run `nft -f -` for
 * each sandbox's rules, because forking Node costs more the larger its heap while forking this
 * small process costs the same every time. The script goes in through a memfd and nft's
 * stderr comes back through another, so no pipe can fill up and deadlock. The supervisor does
 * not wait for nft: its SIGCHLD handler reaps it and answers the request then.
 *
 * With a sandbox, nft runs in that sandbox's user and network namespaces (the egress policy
 * of a user-mode network, which lives in the sandbox's own namespace): a forked child joins
 * them through the fds the supervisor keeps (ports.c), owning the user namespace gives it
 * CAP_NET_ADMIN there, rootless too; nothing in the sandbox is opened by name.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netlink.h"
#include "ports.h"
#include "report.h"
#include "util.h"

extern char **environ;

static int memfd_with(const char *name, const char *text, struct err *e)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0)
		return err_sys(e, STEP_NET_NFT, "memfd_create", NULL, "memfd_create(\"%s\")", name);
	if (write_full(fd, text, strlen(text)) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		close(fd);
		return err_sys(e, STEP_NET_NFT, "write", NULL, "writing the nft script");
	}
	return fd;
}

static pid_t nft_start(int in, int errfd, struct err *e)
{
	char *argv[] = { "nft", "-f", "-", NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none;
	pid_t pid = -1;
	int rc;

	sigemptyset(&none);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in, 0);
	posix_spawn_file_actions_adddup2(&fa, errfd, 1);
	posix_spawn_file_actions_adddup2(&fa, errfd, 2);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none); /* the supervisor blocks SIGCHLD */
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
	rc = posix_spawnp(&pid, "nft", &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0) {
		errno = rc;
		return err_sys(e, STEP_NET_NFT, "posix_spawn", "nft",
			       "running nft (package nftables)");
	}
	return pid;
}

struct nft_in_ns {
	int in, errfd, userns, netns;
};

static int nft_in_ns_main(void *arg)
{
	const struct nft_in_ns *a = arg;
	char *argv[] = { "nft", "-f", "-", NULL };
	sigset_t none;

	if (dup2(a->in, 0) < 0 || dup2(a->errfd, 1) < 0 || dup2(a->errfd, 2) < 0)
		return 126;
	if ((a->userns >= 0 && setns(a->userns, CLONE_NEWUSER) < 0) ||
	    setns(a->netns, CLONE_NEWNET) < 0) {
		dprintf(2, "setns(the sandbox's namespaces): %s\n", strerror(errno));
		return 126;
	}
	close_range(3, ~0U, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execvp("nft", argv);
	dprintf(2, "nft (package nftables): %s\n", strerror(errno));
	return 127;
}

static pid_t nft_start_in(const char *sandbox, int in, int errfd, struct err *e)
{
	struct nft_in_ns a = { in, errfd, -1, -1 };
	pid_t pid;

	if (ports_namespaces(sandbox, &a.userns, &a.netns) < 0)
		return err_msg(e, STEP_NET_NFT,
			       "sandbox \"%.128s\" is not running or shares the host's network",
			       sandbox);
	if ((pid = proc_start(0, -1, nft_in_ns_main, &a)) < 0)
		return err_sys(e, STEP_NET_NFT, "fork", NULL, "fork()");
	return pid;
}

/* nft's diagnostics, first line only, into the error message. */
static void nft_failed(int errfd, int status, struct err *e)
{
	char out[ERR_MESSAGE_MAX - 64] = "";
	ssize_t n;

	lseek(errfd, 0, SEEK_SET);
	n = read(errfd, out, sizeof(out) - 1);
	out[n > 0 ? n : 0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	if (WIFEXITED(status))
		err_msg(e, STEP_NET_NFT, "nft -f - exited with %d: %s", WEXITSTATUS(status), out);
	else
		err_msg(e, STEP_NET_NFT, "nft -f - was killed by signal %d", WTERMSIG(status));
}

/* An nft run in progress: answered when SIGCHLD reaps it (nft_reaped). */
struct nft_run {
	struct nft_run *next;
	pid_t pid;
	long long req;
	int errfd;
};

static struct nft_run *runs;

void nft_request_from_parent(long long req, const char *script, const char *sandbox)
{
	int in = -1, errfd = -1;
	struct nft_run *r;
	struct err e;
	pid_t pid = -1;

	if ((in = memfd_with("nft-script", script, &e)) >= 0 &&
	    (errfd = memfd_with("nft-stderr", "", &e)) >= 0)
		pid = sandbox ? nft_start_in(sandbox, in, errfd, &e) : nft_start(in, errfd, &e);
	if (in >= 0)
		close(in);
	if (pid < 0) {
		if (errfd >= 0)
			close(errfd);
		report_error(req, NULL, NULL, &e);
		return;
	}
	r = xcalloc(1, sizeof(*r));
	r->pid = pid;
	r->req = req;
	r->errfd = errfd;
	r->next = runs;
	runs = r;
}

bool nft_reaped(pid_t pid, int status)
{
	struct nft_run **p, *r;
	struct err e;

	for (p = &runs; *p && (*p)->pid != pid; p = &(*p)->next)
		;
	if (!(r = *p))
		return false;
	*p = r->next;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		report_ok(r->req);
	} else {
		nft_failed(r->errfd, status, &e);
		report_error(r->req, NULL, NULL, &e);
	}
	close(r->errfd);
	free(r);
	return true;
}
