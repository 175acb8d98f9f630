/*
 * util.c — process creation, fd and memory helpers.
 *
 * Runs in every process. proc_start is the only place outside main.c that ends a process:
 * a child's entry function returning is that child's exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "trace.h"
#include "util.h"

/* Fork-like clone (no new stack): the child returns here, as from fork(). */
static pid_t clone_raw(unsigned long flags, int cgroup_fd)
{
	struct clone_args args = { .flags = flags, .exit_signal = SIGCHLD };
	long pid;

	if (cgroup_fd >= 0) {
		args.flags |= CLONE_INTO_CGROUP;
		args.cgroup = cgroup_fd;
	}
	pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0 && errno == ENOSYS && cgroup_fd < 0)
		pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
	return (pid_t)pid;
}

pid_t proc_start(unsigned long flags, int cgroup_fd, int (*fn)(void *), void *arg)
{
	pid_t pid = flags || cgroup_fd >= 0 ? clone_raw(flags, cgroup_fd) : fork();

	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

static int int_cmp(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

void fd_close_except(const int *keep, int n)
{
	int sorted[32], i, from = 0;

	if (n > (int)ARRAY_LEN(sorted))
		n = ARRAY_LEN(sorted);
	memcpy(sorted, keep, n * sizeof(int));
	if (trace_fd >= 0 && n < (int)ARRAY_LEN(sorted)) /* opt-in step timing (trace.h) */
		sorted[n++] = trace_fd;
	qsort(sorted, n, sizeof(int), int_cmp);
	for (i = 0; i < n; i++) {
		if (sorted[i] > from)
			close_range(from, sorted[i] - 1, 0);
		from = sorted[i] + 1;
	}
	close_range(from, ~0U, 0);
}

int worker_begin(const int *keep, int n, const char *name)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		return -1;
	signal(SIGCHLD, SIG_DFL);
	fd_close_except(keep, n);
	prctl(PR_SET_NAME, name);
	return 0;
}

int fd_stdio_null(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd < 2)
		;
	if (fd < 0)
		return -1;
	if (fd > 2)
		close(fd);
	return 0;
}

int fd_set_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

ssize_t read_full(int fd, void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = read(fd, (char *)buf + done, n - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		done += r;
	}
	return done;
}

ssize_t write_full(int fd, const void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = write(fd, (const char *)buf + done, n - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		done += r;
	}
	return done;
}

uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *oom(void)
{
	/* No way to report without memory; die loudly in whatever process this is. */
	kill(getpid(), SIGKILL);
	return NULL;
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	return p ? p : oom();
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	return p ? p : oom();
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	return q ? q : oom();
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);

	return p ? p : oom();
}

const char *signal_name(int signo)
{
	static char buf[16];
	const char *abbrev = sigabbrev_np(signo);

	if (!abbrev)
		return NULL;
	snprintf(buf, sizeof(buf), "SIG%s", abbrev);
	return buf;
}
