/*
 * pty.c — a spawn's pseudo-terminal (see pty.h).
 *
 * The terminal comes from the sandbox's own devpts instance (dev.c mounts it with
 * newinstance,max=...), opened by the reaper, which is inside the sandbox's namespaces, so the
 * program's terminal is one of the sandbox's and counts against its pty maximum. The reaper
 * checks that what it opened is a pty master (TIOCGPTN) and takes the slave with TIOCGPTPEER,
 * never by a name in /dev/pts. The command gets the slave as 0-2 and makes it its controlling
 * terminal (it is a session leader already), so job control and ^C work.
 *
 * Node's three sockets stay in the reaper: stdin is written into the master, the master's
 * output goes to the stdout socket (Node counts it there against the output limits, as any
 * pipe output), and the stderr socket carries window sizes the other way (4 bytes each:
 * cols and rows, big-endian). The relay is non-blocking with one buffer each way: while Node
 * does not read, the master is not read either and the program blocks on its terminal, so
 * neither side can make the reaper stall or grow.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "proto_gen.h"
#include "pty.h"
#include "util.h"

#define PTY_BUF 16384
/* Opening by this name inside the sandbox: dev.c links /dev/ptmx to it. */
#define PTY_PTMX "/dev/pts/ptmx"

int pty_decode_from_parent(const struct jval *v, struct spawn_req *s, struct err *e)
{
	const struct jval *o;
	long long cols = 0, rows = 0;
	int i, r;

	if ((r = proto_spawn_tty(v, "", &o, e)) <= 0)
		return r;
	if (proto_spawn_tty_cols(o, "tty.", &cols, e) < 0 ||
	    proto_spawn_tty_rows(o, "tty.", &rows, e) < 0)
		return -1;
	for (i = 0; i < 3; i++)
		if (s->stdio[i] != STDIO_PIPE)
			return proto_fail(e, "", "tty",
					  "needs \"pipe\" for stdin, stdout and stderr");
	s->tty = true;
	s->tty_cols = cols;
	s->tty_rows = rows;
	return 0;
}

struct buffer {
	char data[PTY_BUF];
	size_t len, off;
};

static struct {
	bool on;
	int master, slave;
	int in, out, ctl; /* Node's stdin, stdout and stderr sockets; -1 once closed */
	bool master_eof;
	struct buffer to_node, to_tty;
	unsigned char size[4];
	size_t size_len;
	int slave3[3];
} t = { .master = -1, .slave = -1, .in = -1, .out = -1, .ctl = -1 };

static int set_size(int fd, unsigned cols, unsigned rows)
{
	struct winsize ws = { .ws_row = rows, .ws_col = cols };

	return ioctl(fd, TIOCSWINSZ, &ws);
}

static int open_master(struct err *e)
{
	int fd = open(PTY_PTMX, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC), n, unlock = 0;

	if (fd < 0)
		return err_sys(e, STEP_SPAWN_STDIO, "open", PTY_PTMX, "open(\"%s\")", PTY_PTMX);
	if (ioctl(fd, TIOCGPTN, &n) < 0 || ioctl(fd, TIOCSPTLCK, &unlock) < 0) {
		err_sys(e, STEP_SPAWN_STDIO, "ioctl", PTY_PTMX, "\"%s\" is not a pty master",
			PTY_PTMX);
		close(fd);
		return -1;
	}
	return fd;
}

int pty_open(const struct spawn_msg *s, const int *stdio, struct err *e)
{
	int i;

	if ((t.master = open_master(e)) < 0)
		return -1;
	if ((t.slave = ioctl(t.master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
		return err_sys(e, STEP_SPAWN_STDIO, "ioctl", NULL, "ioctl(TIOCGPTPEER)");
	set_size(t.master, s->tty_cols, s->tty_rows);
	t.in = fcntl(stdio[0], F_DUPFD_CLOEXEC, 3);
	t.out = fcntl(stdio[1], F_DUPFD_CLOEXEC, 3);
	t.ctl = fcntl(stdio[2], F_DUPFD_CLOEXEC, 3);
	if (t.in < 0 || t.out < 0 || t.ctl < 0)
		return err_sys(e, STEP_SPAWN_STDIO, "fcntl", NULL, "fcntl(F_DUPFD_CLOEXEC)");
	fd_set_nonblock(t.in);
	fd_set_nonblock(t.out);
	fd_set_nonblock(t.ctl);
	for (i = 0; i < 3; i++)
		t.slave3[i] = t.slave;
	t.on = true;
	return 0;
}

const int *pty_stdio(const int *stdio)
{
	return t.on ? t.slave3 : stdio;
}

void pty_forked(void)
{
	if (t.slave >= 0)
		close(t.slave);
	t.slave = -1;
}

static void drop(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void pty_poll(struct pollfd *p)
{
	int i;

	for (i = 0; i < PTY_POLLFDS; i++)
		p[i] = (struct pollfd){ .fd = -1 };
	if (!t.on)
		return;
	p[0].fd = t.master;
	p[0].events = (!t.master_eof && t.to_node.len == 0 ? POLLIN : 0) |
		      (t.to_tty.len > 0 ? POLLOUT : 0);
	if (!p[0].events)
		p[0].fd = -1;
	if (t.to_tty.len == 0 && t.in >= 0)
		p[1] = (struct pollfd){ .fd = t.in, .events = POLLIN };
	if (t.to_node.len > 0 && t.out >= 0)
		p[2] = (struct pollfd){ .fd = t.out, .events = POLLOUT };
	if (t.ctl >= 0)
		p[3] = (struct pollfd){ .fd = t.ctl, .events = POLLIN };
}

/* Reads into an empty buffer: >0 bytes, 0 on EOF, -1 when nothing is there now. */
static ssize_t fill(int fd, struct buffer *b)
{
	ssize_t n = read(fd, b->data, sizeof(b->data));

	if (n > 0) {
		b->len = n;
		b->off = 0;
	}
	return n < 0 && (errno == EAGAIN || errno == EINTR) ? -1 : n < 0 ? 0 : n;
}

/* Writes what the buffer holds; a socket Node closed drops the rest (nobody reads it). */
static void flush(int fd, struct buffer *b, bool socket)
{
	ssize_t n;

	while (b->len > 0) {
		n = socket ? send(fd, b->data + b->off, b->len, MSG_NOSIGNAL)
			   : write(fd, b->data + b->off, b->len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			b->len = 0;
			return;
		}
		b->off += n;
		b->len -= n;
	}
}

static void window_sizes(void)
{
	ssize_t n;

	while ((n = read(t.ctl, t.size + t.size_len, sizeof(t.size) - t.size_len)) > 0) {
		t.size_len += n;
		if (t.size_len < sizeof(t.size))
			continue;
		set_size(t.master, t.size[0] << 8 | t.size[1], t.size[2] << 8 | t.size[3]);
		t.size_len = 0;
	}
	if (n == 0 || (errno != EAGAIN && errno != EINTR))
		drop(&t.ctl);
}

void pty_relay(const struct pollfd *p)
{
	if (!t.on)
		return;
	/* EOF (EIO) once no process holds the slave any more: the program is gone. */
	if (p[0].events & POLLIN && p[0].revents && fill(t.master, &t.to_node) == 0)
		t.master_eof = true;
	if (p[1].revents && fill(t.in, &t.to_tty) == 0)
		drop(&t.in); /* Node ended stdin */
	if (t.to_node.len > 0)
		flush(t.out, &t.to_node, true);
	if (t.to_tty.len > 0)
		flush(t.master, &t.to_tty, false);
	if (p[3].revents)
		window_sizes();
}

/* After the tree is gone: hand Node what the terminal still holds (it is bounded by the
 * kernel's pty buffer), then close, so Node sees EOF before the exit record. */
void pty_finish(void)
{
	int flags;

	if (!t.on)
		return;
	flags = fcntl(t.out, F_GETFL);
	if (flags >= 0)
		fcntl(t.out, F_SETFL, flags & ~O_NONBLOCK);
	for (;;) {
		flush(t.out, &t.to_node, true);
		if (t.master_eof || t.out < 0 || fill(t.master, &t.to_node) <= 0)
			break;
	}
	drop(&t.master);
	drop(&t.in);
	drop(&t.out);
	drop(&t.ctl);
	t.on = false;
}

int pty_take_controlling(const struct spawn_msg *s, struct err *e)
{
	if (s->tty && ioctl(0, TIOCSCTTY, 0) < 0)
		return err_sys(e, STEP_SPAWN_STDIO, "ioctl", NULL, "ioctl(TIOCSCTTY)");
	return 0;
}
