/*
 * stdio.c — stdio from and to files, sealed memfds and pipes between spawns (see stdio.h).
 *
 * Supervisor: for each "pipe" fd a socket pair (Node's end goes to Node); "null" is
 * /dev/null; "memfd" copies a host file Node wrote into a sealed memfd, so the program gets a
 * regular file it can fstat, seek and mmap but not change; "pipe":name is one end of a pipe
 * the supervisor keeps by name until both ends have gone to spawns, so two spawns (in any
 * sandboxes) talk through the kernel with nothing copied by Node; "path" sends /dev/null as
 * a placeholder that the command replaces by the file it opens.
 *
 * Command: opens each "path" with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) after it
 * has become the spawn's user, so the kernel checks that user's rights and new files are
 * theirs. Only regular files are accepted (O_NONBLOCK while opening: a FIFO planted in place
 * of the file cannot hang the spawn).
 *
 * Reaper: watches output files' sizes every OUTPUT_POLL_MS against their limits and kills
 * the tree past one; when the tree is gone it truncates each file to its limit, so what is
 * kept never exceeds it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "report.h"
#include "stdio.h"
#include "util.h"

#define OUTPUT_POLL_MS 10
#define PIPES_MAX 1024

/* ---- supervisor ---- */

struct named_pipe {
	struct named_pipe *next;
	char *name;
	int end[2]; /* read, write; -1 once given to a spawn */
};

static struct named_pipe *pipes;
static int n_pipes;

static struct named_pipe **pipe_slot(const char *name)
{
	struct named_pipe **p;

	for (p = &pipes; *p && strcmp((*p)->name, name) != 0; p = &(*p)->next)
		;
	return p;
}

static void pipe_drop(struct named_pipe **slot)
{
	struct named_pipe *p = *slot;

	if (p->end[0] >= 0)
		close(p->end[0]);
	if (p->end[1] >= 0)
		close(p->end[1]);
	*slot = p->next;
	free(p->name);
	free(p);
	n_pipes--;
}

/* Fd 0 takes the read end, 1 and 2 the write end. Each end goes to one spawn only: once both
 * have, the supervisor holds neither, so EOF and EPIPE work between the two programs. */
static int pipe_take(const char *name, int fd, struct err *e)
{
	struct named_pipe **slot = pipe_slot(name), *p = *slot;
	int end = fd == 0 ? 0 : 1, taken;

	if (!p) {
		if (n_pipes >= PIPES_MAX)
			return err_msg(e, STEP_PROTOCOL, "stdio: more than %d pipes open",
				       PIPES_MAX);
		p = xcalloc(1, sizeof(*p));
		if (pipe2(p->end, O_CLOEXEC) < 0) {
			free(p);
			return err_sys(e, STEP_SPAWN_STDIO, "pipe2", NULL, "pipe2()");
		}
		p->name = xstrdup(name);
		*slot = p;
		n_pipes++;
	}
	if (p->end[end] < 0)
		return err_msg(e, STEP_PROTOCOL,
			       "stdio[%d].pipe: the %s end of \"%.64s\" was already given", fd,
			       end ? "write" : "read", name);
	taken = p->end[end];
	p->end[end] = -1;
	if (p->end[!end] < 0)
		pipe_drop(slot);
	return taken;
}

void stdio_pipe_close_from_parent(long long req, const char *name)
{
	struct named_pipe **slot = pipe_slot(name);

	if (*slot)
		pipe_drop(slot);
	report_ok(req);
}

/* The data is Node's (a host file it wrote); the copy is sealed so the program can neither
 * change it nor learn where it came from. */
static int memfd_copy(const char *path, struct err *e)
{
	int src = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC), m = -1;
	struct stat st;
	ssize_t n;

	if (src < 0)
		return err_sys(e, STEP_SPAWN_STDIO, "open", path, "open(\"%s\")", path);
	if (fstat(src, &st) < 0 || !S_ISREG(st.st_mode)) {
		errno = EINVAL;
		err_sys(e, STEP_SPAWN_STDIO, "fstat", path, "\"%s\" is not a regular file", path);
		goto fail;
	}
	if ((m = memfd_create("sandkit-stdin", MFD_CLOEXEC | MFD_ALLOW_SEALING)) < 0) {
		err_sys(e, STEP_SPAWN_STDIO, "memfd_create", NULL, "memfd_create()");
		goto fail;
	}
	while ((n = sendfile(m, src, NULL, 1 << 30)) > 0)
		;
	if (n < 0 || lseek(m, 0, SEEK_SET) < 0 ||
	    fcntl(m, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		err_sys(e, STEP_SPAWN_STDIO, n < 0 ? "sendfile" : "fcntl", path,
			"copying \"%s\" into a memfd", path);
		goto fail;
	}
	close(src);
	return m;
fail:
	if (m >= 0)
		close(m);
	close(src);
	return -1;
}

/* Node writes only to fd 0 and reads only fds 1 and 2. Node's fd 0 end is left open for
 * reading: a net.Socket that reads EOF ends its writable side too (allowHalfOpen false). */
static int stdio_one(const struct spawn_req *s, int i, int *node, int *sandbox, struct err *e)
{
	int sv[2];

	switch (s->stdio[i]) {
	case STDIO_NULL:
	case STDIO_PATH: /* a placeholder: the command opens the file */
		if ((sandbox[i] = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
			return err_sys(e, STEP_SPAWN_STDIO, "open", "/dev/null",
				       "open(\"/dev/null\")");
		return 0;
	case STDIO_MEMFD: return (sandbox[i] = memfd_copy(s->stdio_path[i], e)) < 0 ? -1 : 0;
	case STDIO_LINK:
		if (i == 2 && s->stdio[1] == STDIO_LINK &&
		    strcmp(s->stdio_path[1], s->stdio_path[2]) == 0)
			sandbox[2] = dup(sandbox[1]); /* stdout and stderr into one pipe */
		else
			sandbox[i] = pipe_take(s->stdio_path[i], i, e);
		return sandbox[i] < 0 ? -1 : 0;
	case STDIO_PIPE: break;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return err_sys(e, STEP_SPAWN_STDIO, "socketpair", NULL, "socketpair(AF_UNIX)");
	node[i] = sv[0];
	sandbox[i] = sv[1];
	/* A terminal's window sizes come back on stderr (pty.c). */
	if (i == 1 || (i == 2 && !s->tty))
		shutdown(node[i], SHUT_WR);
	return 0;
}

int stdio_prepare(const struct spawn_req *s, int *node, int *sandbox, struct err *e)
{
	int i;

	for (i = 0; i < 3; i++)
		if (stdio_one(s, i, node, sandbox, e) < 0)
			return -1;
	return 0;
}

uint8_t stdio_open_kind(const struct spawn_req *s, int i)
{
	if (s->stdio[i] != STDIO_PATH)
		return CTL_STDIO_FD;
	if (i == 0)
		return CTL_STDIO_READ;
	return s->stdio_append[i] ? CTL_STDIO_APPEND : CTL_STDIO_WRITE;
}

/* ---- command ---- */

struct output_note {
	int32_t fd;
	int32_t pad;
	int64_t base;
};

static int open_in_root(const char *path, int kind, struct err *e)
{
	static const int flags[] = { [CTL_STDIO_READ] = O_RDONLY,
				     [CTL_STDIO_WRITE] = O_WRONLY | O_CREAT | O_TRUNC,
				     [CTL_STDIO_APPEND] = O_WRONLY | O_CREAT | O_APPEND };
	struct open_how how = { .flags = flags[kind] | O_NOCTTY | O_NONBLOCK | O_CLOEXEC,
				.mode = kind == CTL_STDIO_READ ? 0 : 0666,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC), fd;
	struct stat st;

	if (root < 0)
		return err_sys(e, STEP_SPAWN_STDIO, "open", "/", "open(\"/\")");
	fd = (int)syscall(SYS_openat2, root, path, &how, sizeof(how));
	close(root);
	if (fd < 0)
		return err_sys(e, STEP_SPAWN_STDIO, "openat2", path, "openat2(\"%s\")", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return err_sys(e, STEP_SPAWN_STDIO, "fstat", path, "\"%s\" is not a regular file",
			       path);
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

int stdio_open_files(const struct spawn_msg *s, int sock, struct err *e)
{
	struct output_note note;
	struct stat st;
	int i, fd;

	for (i = 0; i < 3; i++) {
		if (s->stdio_open[i] == CTL_STDIO_FD)
			continue;
		if ((fd = open_in_root(s->stdio_path[i], s->stdio_open[i], e)) < 0)
			return -1;
		if (i > 0) {
			note = (struct output_note){ .fd = i,
						     .base = fstat(fd, &st) == 0 ? st.st_size : 0 };
			if (ctl_send(sock, &note, sizeof(note), &fd, 1, 0, STEP_SPAWN_STDIO, e) < 0)
				return close(fd), -1;
		}
		if (dup2(fd, i) < 0)
			return close(fd),
			       err_sys(e, STEP_SPAWN_STDIO, "dup2", NULL, "dup2(%d, %d)", fd, i);
		close(fd);
	}
	return 0;
}

/* ---- reaper ---- */

void stdio_outputs_init(const struct spawn_msg *s, struct output_files *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 0; i < 3; i++) {
		o->fd[i] = -1;
		o->limit[i] = s->stdio_limit[i];
	}
	o->total = s->output_limit;
}

void stdio_outputs_receive(int sock, struct output_files *o)
{
	struct output_note note;
	int fd, n_fds = 1;

	while (n_fds = 1,
	       ctl_recv(sock, &note, sizeof(note), &fd, &n_fds, NULL, true) == sizeof(note)) {
		if (n_fds != 1)
			continue;
		if (note.fd < 1 || note.fd > 2 || o->fd[note.fd] >= 0) {
			close(fd);
			continue;
		}
		o->fd[note.fd] = fd;
		o->base[note.fd] = note.base;
	}
}

/* Bytes written to output file i since it was opened. */
static uint64_t written(const struct output_files *o, int i)
{
	struct stat st;

	if (o->fd[i] < 0 || fstat(o->fd[i], &st) < 0 || st.st_size <= o->base[i])
		return 0;
	return st.st_size - o->base[i];
}

static bool over_limit(const struct output_files *o)
{
	uint64_t a = written(o, 1), b = written(o, 2);

	return (o->limit[1] && a > o->limit[1]) || (o->limit[2] && b > o->limit[2]) ||
	       (o->total && a + b > o->total);
}

static bool watched(const struct output_files *o)
{
	return (o->fd[1] >= 0 || o->fd[2] >= 0) && (o->limit[1] || o->limit[2] || o->total);
}

void stdio_outputs_wait(struct output_files *o, int sigfd)
{
	struct pollfd p = { sigfd, POLLIN, 0 };
	bool watch = watched(o) && !o->hit;
	int r;

	for (;;) {
		r = poll(&p, 1, watch ? OUTPUT_POLL_MS : -1);
		if (r > 0 || (r < 0 && errno != EINTR))
			return;
		if (watch && over_limit(o)) {
			o->hit = true;
			kill(-1, SIGKILL); /* from PID 1: every process of this spawn */
			return;
		}
	}
}

int stdio_outputs_check(struct output_files *o)
{
	if (!watched(o) || o->hit)
		return -1;
	if (over_limit(o)) {
		o->hit = true;
		kill(-1, SIGKILL); /* from PID 1: every process of this spawn */
		return -1;
	}
	return OUTPUT_POLL_MS;
}

/* Cut file i to keep at most `keep` written bytes. */
static void cut(struct output_files *o, int i, uint64_t keep)
{
	if (written(o, i) > keep && ftruncate(o->fd[i], o->base[i] + keep) == 0)
		o->hit = true;
}

void stdio_outputs_finish(struct output_files *o, struct exit_info *x)
{
	uint64_t a;
	int i;

	if (o->limit[1])
		cut(o, 1, o->limit[1]);
	if (o->limit[2])
		cut(o, 2, o->limit[2]);
	if (o->total) {
		a = written(o, 1);
		cut(o, 1, o->total);
		cut(o, 2, a >= o->total ? 0 : o->total - a);
	}
	for (i = 0; i < 3; i++) {
		x->file_bytes[i] = o->fd[i] >= 0 ? (int64_t)written(o, i) : -1;
		if (o->fd[i] >= 0)
			close(o->fd[i]);
		o->fd[i] = -1;
	}
	x->file_limit_hit = o->hit;
}
