/*
 * nft.c — the `nft` request: load an nftables script for Node.
 *
 * Supervisor only. Node asks the supervisor, not its own child_process, to run `nft -f -` for
 * each sandbox's rules, because forking Node costs more the larger its heap while forking this
 * small process costs the same every time. The script goes in through a memfd and nft's
 * stderr comes back through another, so no pipe can fill up and deadlock. The supervisor does
 * not wait for nft: its SIGCHLD handler reaps it and answers the request then.
 */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netlink.h"
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

void nft_request_from_parent(long long req, const char *script)
{
	int in = -1, errfd = -1;
	struct nft_run *r;
	struct err e;
	pid_t pid = -1;

	if ((in = memfd_with("nft-script", script, &e)) >= 0 &&
	    (errfd = memfd_with("nft-stderr", "", &e)) >= 0)
		pid = nft_start(in, errfd, &e);
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
