/*
 * usernet.c — user-mode networks: pasta attached to a sandbox's network namespace (usernet.h).
 *
 * The process chain is supervisor → keeper → pid-namespace init → pasta:
 *  - the keeper joins the sandbox's user namespace (so pasta's capabilities are those of the
 *    sandbox's root, in that namespace only, also when sandkit runs as root) and arms its death
 *    signal after that (joining a user namespace clears it);
 *  - its child is PID 1 of a new pid namespace, dying with the keeper;
 *  - pasta is that init's child, so when the init dies the kernel kills pasta, whatever pasta
 *    did to its own credentials or death signal meanwhile.
 * pasta gets the network namespace as /proc/self/fd/3 (the supervisor's fd, inherited: the
 * sandbox's /proc entries are never opened by name) and writes its pid, once it has set the
 * namespace up, into a pipe (-P /proc/self/fd/4): that is the `ok`. Its stderr goes to a
 * memfd read only when it fails.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "ports.h"
#include "report.h"
#include "usernet.h"
#include "util.h"

#define START_TIMEOUT_US (10 * 1000 * 1000)

struct usernet {
	struct usernet *next;
	char *sandbox;
	long long req; /* -1 once answered */
	pid_t keeper;  /* 0 once reaped */
	int ready;     /* read end of pasta's pid pipe; -1 once answered */
	int errfd;     /* pasta's stderr (a memfd) */
	uint64_t deadline;
};

static struct usernet *nets;

struct keeper_args {
	int userns, netns, ready, errfd;
	char *const *argv;
};

static struct usernet *find(const char *sandbox)
{
	struct usernet *u;

	for (u = nets; u && strcmp(u->sandbox, sandbox) != 0; u = u->next)
		;
	return u;
}

/* A line for the error message, in pasta's stderr. */
static void note(int errfd, const char *what)
{
	dprintf(errfd, "sandkit: %s: %s\n", what, strerror(errno));
}

static void exec_pasta(const struct keeper_args *a)
{
	int netns = fcntl(a->netns, F_DUPFD_CLOEXEC, 10),
	    ready = fcntl(a->ready, F_DUPFD_CLOEXEC, 10);
	int errfd = fcntl(a->errfd, F_DUPFD_CLOEXEC, 10), null = open("/dev/null", O_RDONLY);
	sigset_t none;

	if (netns < 0 || ready < 0 || errfd < 0 || null < 0 || dup2(null, 0) < 0 ||
	    dup2(errfd, 1) < 0 || dup2(errfd, 2) < 0 || dup2(netns, 3) < 0 || dup2(ready, 4) < 0)
		_exit(126);
	close_range(5, ~0U, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL); /* the supervisor blocks SIGCHLD */
	execvp(a->argv[0], a->argv);
	note(2, "pasta (package passt)");
	_exit(errno == ENOENT ? 127 : 126);
}

/* PID 1 of pasta's pid namespace: when it dies, so does pasta. `alive` ends (POLLHUP) when
 * the keeper does; its pid cannot be seen from here to check. */
static int pid1_main(const struct keeper_args *a, int alive)
{
	struct pollfd keeper = { alive, POLLIN, 0 };
	pid_t pasta, pid;
	int status = 0;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || poll(&keeper, 1, 0) != 0)
		return 1;
	close(alive);
	if ((pasta = fork()) < 0) {
		note(a->errfd, "fork");
		return 1;
	}
	if (pasta == 0)
		exec_pasta(a);
	close_range(0, ~0U, 0);
	while ((pid = wait(&status)) != pasta)
		if (pid < 0 && errno != EINTR)
			return 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int keeper_main(void *arg)
{
	const struct keeper_args *a = arg;
	int keep[] = { a->userns, a->netns, a->ready, a->errfd }, status = 0, alive[2];
	pid_t supervisor = getppid(), init, pid;

	if (worker_begin(keep, ARRAY_LEN(keep), "sandkit-pasta") < 0)
		return 1;
	if (a->userns >= 0 && setns(a->userns, CLONE_NEWUSER) < 0) {
		note(a->errfd, "setns(the sandbox's user namespace)");
		return 1;
	}
	/* Joining the user namespace changed our credentials, which clears the death signal. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != supervisor)
		return 1;
	if (unshare(CLONE_NEWPID) < 0) {
		note(a->errfd, "unshare(CLONE_NEWPID)");
		return 1;
	}
	if (pipe2(alive, O_CLOEXEC) < 0 || (init = fork()) < 0) {
		note(a->errfd, "fork");
		return 1;
	}
	if (init == 0) {
		close(alive[1]);
		_exit(pid1_main(a, alive[0]));
	}
	fd_close_except(&alive[1], 1);
	while ((pid = wait(&status)) != init)
		if (pid < 0 && errno != EINTR)
			return 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

static void usernet_free(struct usernet **link)
{
	struct usernet *u = *link;

	*link = u->next;
	if (u->keeper > 0)
		kill(u->keeper, SIGKILL); /* reaped by the SIGCHLD handler */
	if (u->ready >= 0)
		close(u->ready);
	close(u->errfd);
	free(u->sandbox);
	free(u);
}

/* The last line pasta wrote (its fatal error), skipping its complaints about syslog. */
static void last_line(int errfd, char *out, size_t size)
{
	char buf[4096], *line, *save = NULL;
	off_t end = lseek(errfd, 0, SEEK_END);
	ssize_t n;

	*out = '\0';
	lseek(errfd, end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0, SEEK_SET);
	if ((n = read(errfd, buf, sizeof(buf) - 1)) <= 0)
		return;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, "Failed to send", 14) != 0)
			snprintf(out, size, "%s", line);
}

static void start_failed(struct usernet **link, const char *why)
{
	struct usernet *u = *link;
	char line[ERR_MESSAGE_MAX - 128];
	struct err e;

	last_line(u->errfd, line, sizeof(line));
	err_msg(&e, STEP_NET_USERNET, "pasta %s: %s", why, *line ? line : "no message");
	report_error(u->req, u->sandbox, NULL, &e);
	usernet_free(link);
}

void usernet_start_from_parent(long long req, const char *sandbox, const char *address,
			       int prefix_length, const char *gateway, bool map_gateway)
{
	char prefix[8];
	char *argv[] = { "pasta", "--runas", "0:0", "-f", "-q", "-4", "-I", "eth0", "--config-net",
			 "-a", (char *)address, "-n", prefix, "-g", (char *)gateway,
			 /* nothing forwarded in either direction: published ports are sandkit's */
			 "-t", "none", "-u", "none", "-T", "none", "-U", "none", "--no-dhcp",
			 "--no-ndp", "--no-dhcpv6", "--no-ra", "--netns", "/proc/self/fd/3", "-P",
			 "/proc/self/fd/4", map_gateway ? NULL : "--no-map-gw", NULL };
	struct keeper_args a;
	struct in_addr check;
	struct usernet *u;
	struct err e;
	int userns, netns, pipefd[2], errfd;
	pid_t pid;

	if (inet_pton(AF_INET, address, &check) != 1 || inet_pton(AF_INET, gateway, &check) != 1) {
		err_msg(&e, STEP_PROTOCOL, "address, gateway: must be IPv4 addresses");
		return report_error(req, sandbox, NULL, &e);
	}
	if (ports_namespaces(sandbox, &userns, &netns) < 0 || find(sandbox)) {
		err_msg(&e, STEP_NET_USERNET,
			"sandbox \"%.128s\" is not running, shares the host's network or has a user-mode network already",
			sandbox);
		return report_error(req, sandbox, NULL, &e);
	}
	snprintf(prefix, sizeof(prefix), "%d", prefix_length);
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		err_sys(&e, STEP_NET_USERNET, "pipe2", NULL, "pipe2()");
		return report_error(req, sandbox, NULL, &e);
	}
	if ((errfd = memfd_create("pasta-stderr", MFD_CLOEXEC)) < 0) {
		err_sys(&e, STEP_NET_USERNET, "memfd_create", NULL, "memfd_create()");
		close(pipefd[0]);
		close(pipefd[1]);
		return report_error(req, sandbox, NULL, &e);
	}
	a = (struct keeper_args){ userns, netns, pipefd[1], errfd, argv };
	pid = proc_start(0, -1, keeper_main, &a);
	close(pipefd[1]);
	if (pid < 0) {
		err_sys(&e, STEP_NET_USERNET, "fork", NULL, "fork()");
		close(pipefd[0]);
		close(errfd);
		return report_error(req, sandbox, NULL, &e);
	}
	u = xcalloc(1, sizeof(*u));
	*u = (struct usernet){ nets,  xstrdup(sandbox),		  req, pid, pipefd[0],
			       errfd, now_us() + START_TIMEOUT_US };
	nets = u;
}

void usernet_forget(const char *sandbox)
{
	struct usernet **link;
	struct err e;

	for (link = &nets; *link && strcmp((*link)->sandbox, sandbox) != 0; link = &(*link)->next)
		;
	if (!*link)
		return;
	if ((*link)->req >= 0) {
		err_msg(&e, STEP_NET_USERNET,
			"the sandbox was destroyed before its network was up");
		report_error((*link)->req, sandbox, NULL, &e);
	}
	usernet_free(link);
}

int usernet_reaped(pid_t pid)
{
	struct usernet *u;

	for (u = nets; u; u = u->next)
		if (u->keeper == pid) {
			u->keeper = 0; /* a start in progress fails by the pipe's end */
			return 1;
		}
	return 0;
}

int usernet_poll_count(void)
{
	struct usernet *u;
	int n = 0;

	for (u = nets; u; u = u->next)
		n += u->ready >= 0;
	return n;
}

void usernet_poll_fill(struct pollfd *pfd)
{
	struct usernet *u;

	for (u = nets; u; u = u->next)
		if (u->ready >= 0)
			*pfd++ = (struct pollfd){ u->ready, POLLIN, 0 };
}

void usernet_poll_done(const struct pollfd *pfd)
{
	struct usernet **link;
	uint64_t now = now_us();
	char buf[32];

	for (link = &nets; *link;) {
		struct usernet *u = *link;
		ssize_t n = 0;

		if (u->ready < 0) {
			link = &u->next;
			continue;
		}
		if ((pfd++)->revents) {
			n = read(u->ready, buf, sizeof(buf));
			if (n <= 0) {
				start_failed(link, "exited before the network was up");
				continue;
			}
			report_ok(u->req);
			u->req = -1;
			close(u->ready);
			u->ready = -1;
		} else if (now >= u->deadline) {
			start_failed(link, "did not set the network up within 10 s");
			continue;
		}
		link = &u->next;
	}
}

int usernet_poll_timeout(void)
{
	struct usernet *u;
	uint64_t now = now_us(), first = UINT64_MAX;

	for (u = nets; u; u = u->next)
		if (u->ready >= 0 && u->deadline < first)
			first = u->deadline;
	if (first == UINT64_MAX)
		return -1;
	return first <= now ? 0 : (int)((first - now) / 1000) + 1;
}
