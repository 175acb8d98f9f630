/*
 * ports.c — ports published into loopback-only sandboxes (see ports.h).
 *
 * The worker takes the namespace fds the supervisor opened while the init was dumpable (later,
 * unprivileged, /proc/<init>/ns cannot be opened), joins the user namespace first (its caps
 * there allow joining the network namespace it owns, rootless too), and from then on only
 * answers "a socket, please" with a fresh non-blocking TCP or UDP socket of that namespace. Sockets
 * keep the namespace they were made in, so the supervisor's connect() reaches the sandbox's
 * 127.0.0.1 although the supervisor lives in the host's namespaces. A program in the sandbox
 * cannot see the worker (it is in the host's pid namespace) and gets nothing from it.
 *
 * UDP relays (published UDP ports): a host socket the supervisor binds, and per client address
 * a UDP socket of the sandbox's namespace connected to the sandbox's port. Datagrams go both
 * ways in the event loop; clients are capped and dropped when silent, so a flood of source
 * addresses or a silent program costs bounded fds and memory.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "ports.h"
#include "report.h"
#include "util.h"

#define CONNECT_TIMEOUT_US (5 * 1000 * 1000)
#define PENDING_MAX 1024 /* connections being opened, all sandboxes together */
#define RELAY_CLIENTS_MAX 1024
#define RELAY_IDLE_US (60ULL * 1000 * 1000)
#define RELAY_BURST 64		/* datagrams per socket per turn of the event loop */
#define DATAGRAM_MAX (64 << 10) /* a UDP payload is at most 65507 bytes */

/* What the worker is asked for: one byte. */
enum { WANT_TCP = 1, WANT_UDP = 2 };

struct net_ns {
	struct net_ns *next;
	char *sandbox;
	int userns; /* -1: the sandbox shares the supervisor's user namespace */
	int netns;
	pid_t worker; /* 0: not running */
	int sock;     /* the supervisor's end of the worker's socket pair, -1 without one */
};

struct pending {
	struct pending *next;
	char *sandbox, *conn;
	long long req;
	int fd, port;
	uint64_t deadline;
};

struct relay_client {
	struct relay_client *next;
	struct sockaddr_in from; /* the host client */
	int fd;			 /* connected to the sandbox's port, in its namespace */
	uint64_t idle_at;
};

struct relay {
	struct relay *next;
	char *sandbox, *name;
	int port, fd; /* fd: bound on the host */
	struct relay_client *clients;
	int n_clients;
};

static struct net_ns *spaces;
static struct pending *pendings;
static int n_pending;
static struct relay *relays;
static int n_relay_fds;
static unsigned char datagram[DATAGRAM_MAX];

static struct net_ns *find(const char *sandbox)
{
	struct net_ns *s;

	for (s = spaces; s && strcmp(s->sandbox, sandbox) != 0; s = s->next)
		;
	return s;
}

/* The init's namespace of `kind`, or -1 when it is the supervisor's own. */
static int open_ns(pid_t init, const char *kind, bool *same)
{
	char path[64], self[64];
	struct stat a, b;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)init, kind);
	snprintf(self, sizeof(self), "/proc/self/ns/%s", kind);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	*same = fstat(fd, &a) == 0 && stat(self, &b) == 0 && a.st_ino == b.st_ino &&
		a.st_dev == b.st_dev;
	return fd;
}

void ports_take_namespaces(const char *sandbox, pid_t init)
{
	struct net_ns *s;
	bool same_user = false, same_net = false;
	int userns = open_ns(init, "user", &same_user), netns = open_ns(init, "net", &same_net);

	if (netns < 0 || same_net) { /* network 'host', or the init is already gone */
		if (userns >= 0)
			close(userns);
		if (netns >= 0)
			close(netns);
		return;
	}
	if (same_user && userns >= 0) {
		close(userns);
		userns = -1;
	}
	ports_forget(sandbox);
	s = xcalloc(1, sizeof(*s));
	s->sandbox = xstrdup(sandbox);
	s->userns = userns;
	s->netns = netns;
	s->sock = -1;
	s->next = spaces;
	spaces = s;
}

struct worker_args {
	int userns, netns, sock;
};

static int worker_main(void *arg)
{
	const struct worker_args *a = arg;
	int keep[] = { a->userns, a->netns, a->sock };
	char byte;

	if (worker_begin(keep, 3, "sandkit-ports") < 0)
		return 1;
	if ((a->userns >= 0 && setns(a->userns, CLONE_NEWUSER) < 0) ||
	    setns(a->netns, CLONE_NEWNET) < 0)
		return 1;
	close(a->netns);
	if (a->userns >= 0)
		close(a->userns);
	while (read(a->sock, &byte, 1) == 1) {
		int type = byte == WANT_UDP ? SOCK_DGRAM : SOCK_STREAM;
		int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
		struct iovec iov = { &byte, 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
		struct cmsghdr *c;

		byte = fd < 0 ? (char)errno : 0;
		if (fd >= 0) {
			m.msg_control = cbuf;
			m.msg_controllen = sizeof(cbuf);
			c = CMSG_FIRSTHDR(&m);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &fd, sizeof(int));
		}
		if (sendmsg(a->sock, &m, MSG_NOSIGNAL) < 0)
			return 1;
		if (fd >= 0)
			close(fd);
	}
	return 0;
}

static int start_worker(struct net_ns *s, struct err *e)
{
	struct worker_args a;
	struct timeval tv = { 2, 0 };
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return err_sys(e, STEP_NET_CONNECT, "socketpair", NULL, "socketpair()");
	a = (struct worker_args){ s->userns, s->netns, sv[1] };
	if ((s->worker = proc_start(0, -1, worker_main, &a)) < 0) {
		s->worker = 0;
		close(sv[0]);
		close(sv[1]);
		return err_sys(e, STEP_NET_CONNECT, "fork", NULL, "fork()");
	}
	close(sv[1]);
	/* The worker answers at once; a bound keeps a wedged one from stalling the supervisor. */
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	s->sock = sv[0];
	return 0;
}

static void stop_worker(struct net_ns *s)
{
	if (s->sock >= 0)
		close(s->sock);
	s->sock = -1;
	if (s->worker > 0)
		kill(s->worker, SIGKILL); /* reaped by the SIGCHLD handler (ports_reaped) */
	s->worker = 0;
}

/* A fresh TCP or UDP (want) socket of the sandbox's network namespace, or -1. */
static int ns_socket(struct net_ns *s, char want, struct err *e)
{
	char cbuf[CMSG_SPACE(sizeof(int))], byte = want;
	struct iovec iov = { &byte, 1 };
	struct msghdr m = { .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	int fd = -1;

	if (s->sock < 0 && start_worker(s, e) < 0)
		return -1;
	if (write(s->sock, &byte, 1) != 1 || recvmsg(s->sock, &m, MSG_CMSG_CLOEXEC) != 1) {
		err_sys(e, STEP_NET_CONNECT, "recvmsg", NULL,
			"the sandbox's socket maker did not answer");
		stop_worker(s); /* the next connect starts a new one */
		return -1;
	}
	c = CMSG_FIRSTHDR(&m);
	if (byte != 0 || !c || c->cmsg_type != SCM_RIGHTS) {
		errno = byte ? byte : EPROTO;
		return err_sys(e, STEP_NET_CONNECT, "socket", NULL,
			       "socket() in the sandbox's network namespace");
	}
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

static void fail(long long req, const char *sandbox, int port, int errnum, const char *syscall)
{
	struct err e;
	char where[32];

	snprintf(where, sizeof(where), "127.0.0.1:%d", port);
	errno = errnum;
	err_sys(&e, STEP_NET_CONNECT, syscall, where, "connect() to %s in sandbox %.128s", where,
		sandbox);
	report_error(req, sandbox, NULL, &e);
}

static void connected(long long req, const char *conn, int fd)
{
	report_connection_handle(conn, fd);
	report_ok(req);
}

void ports_connect_from_parent(long long req, const char *sandbox, const char *conn, int port)
{
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct net_ns *s = find(sandbox);
	struct pending *p;
	struct err e;
	int fd;

	if (!s) {
		err_msg(&e, STEP_NET_CONNECT,
			"sandbox \"%.128s\" is not running, or shares the host's network", sandbox);
		return report_error(req, sandbox, NULL, &e);
	}
	if (n_pending >= PENDING_MAX)
		return fail(req, sandbox, port, EAGAIN, "connect");
	if ((fd = ns_socket(s, WANT_TCP, &e)) < 0)
		return report_error(req, sandbox, NULL, &e);
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) == 0)
		return connected(req, conn, fd);
	if (errno != EINPROGRESS) {
		int errnum = errno;
		close(fd);
		return fail(req, sandbox, port, errnum, "connect");
	}
	p = xcalloc(1, sizeof(*p));
	*p = (struct pending){ pendings,
			       xstrdup(sandbox),
			       xstrdup(conn),
			       req,
			       fd,
			       port,
			       now_us() + CONNECT_TIMEOUT_US };
	pendings = p;
	n_pending++;
}

static void pending_free(struct pending **link)
{
	struct pending *p = *link;

	*link = p->next;
	n_pending--;
	free(p->sandbox);
	free(p->conn);
	free(p);
}

int ports_namespaces(const char *sandbox, int *userns, int *netns)
{
	struct net_ns *s = find(sandbox);

	if (!s)
		return -1;
	*userns = s->userns;
	*netns = s->netns;
	return 0;
}

/* ---- UDP relays ---- */

static void relay_client_free(struct relay *r, struct relay_client **link)
{
	struct relay_client *c = *link;

	*link = c->next;
	close(c->fd);
	free(c);
	r->n_clients--;
	n_relay_fds--;
}

static void relay_free(struct relay **link)
{
	struct relay *r = *link;

	while (r->clients)
		relay_client_free(r, &r->clients);
	*link = r->next;
	close(r->fd);
	n_relay_fds--;
	free(r->sandbox);
	free(r->name);
	free(r);
}

static void relay_fail(long long req, const char *sandbox, const char *syscall, const char *where,
		       const char *what)
{
	struct err e;

	err_sys(&e, STEP_NET_PUBLISH, syscall, where, "%s %s for sandbox %.128s", what, where,
		sandbox);
	report_error(req, sandbox, NULL, &e);
}

void ports_udp_relay_from_parent(long long req, const char *sandbox, const char *name, int port,
				 const char *host_address, int host_port)
{
	struct sockaddr_in at = { .sin_family = AF_INET, .sin_port = htons(host_port) };
	socklen_t len = sizeof(at);
	char where[48];
	struct relay *r;
	struct err e;
	int fd;

	snprintf(where, sizeof(where), "%.15s:%d/udp", host_address, host_port);
	if (!find(sandbox)) {
		err_msg(&e, STEP_NET_PUBLISH,
			"sandbox \"%.128s\" is not running, or shares the host's network", sandbox);
		return report_error(req, sandbox, NULL, &e);
	}
	if (inet_pton(AF_INET, host_address, &at.sin_addr) != 1) {
		err_msg(&e, STEP_PROTOCOL, "hostAddress: must be an IPv4 address");
		return report_error(req, sandbox, NULL, &e);
	}
	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return relay_fail(req, sandbox, "socket", where, "a UDP socket on");
	if (bind(fd, (struct sockaddr *)&at, sizeof(at)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&at, &len) < 0) {
		int errnum = errno;
		close(fd);
		errno = errnum;
		return relay_fail(req, sandbox, "bind", where, "binding");
	}
	r = xcalloc(1, sizeof(*r));
	r->sandbox = xstrdup(sandbox);
	r->name = xstrdup(name);
	r->port = port;
	r->fd = fd;
	r->next = relays;
	relays = r;
	n_relay_fds++;
	report_relay(req, name, ntohs(at.sin_port));
}

static struct relay_client *relay_client(struct relay *r, const struct sockaddr_in *from)
{
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(r->port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct relay_client *c;
	struct net_ns *s;
	struct err e;
	int fd;

	for (c = r->clients; c; c = c->next)
		if (c->from.sin_port == from->sin_port &&
		    c->from.sin_addr.s_addr == from->sin_addr.s_addr)
			return c;
	if (r->n_clients >= RELAY_CLIENTS_MAX || !(s = find(r->sandbox)))
		return NULL; /* dropped, as a full network would */
	if ((fd = ns_socket(s, WANT_UDP, &e)) < 0)
		return NULL;
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0) {
		close(fd);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->from = *from;
	c->fd = fd;
	c->next = r->clients;
	r->clients = c;
	r->n_clients++;
	n_relay_fds++;
	return c;
}

/* Datagrams from host clients, each to its own socket in the sandbox. */
static void relay_from_host(struct relay *r, uint64_t now)
{
	struct sockaddr_in from;
	struct relay_client *c;
	int i;

	for (i = 0; i < RELAY_BURST; i++) {
		socklen_t len = sizeof(from);
		ssize_t n = recvfrom(r->fd, datagram, sizeof(datagram), MSG_TRUNC,
				     (struct sockaddr *)&from, &len);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0 || n > (ssize_t)sizeof(datagram) || len != sizeof(from))
			continue; /* an ICMP error, or too large: dropped */
		if (!(c = relay_client(r, &from)))
			continue;
		c->idle_at = now + RELAY_IDLE_US;
		send(c->fd, datagram, n, MSG_DONTWAIT); /* a full or refused port drops it */
	}
}

/* Answers from the sandbox, back to the client they belong to. */
static void relay_to_host(struct relay *r, struct relay_client *c, uint64_t now)
{
	int i;

	for (i = 0; i < RELAY_BURST; i++) {
		ssize_t n = recv(c->fd, datagram, sizeof(datagram), MSG_DONTWAIT | MSG_TRUNC);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0 || n > (ssize_t)sizeof(datagram))
			continue; /* ECONNREFUSED: nothing listens inside (yet) */
		c->idle_at = now + RELAY_IDLE_US;
		sendto(r->fd, datagram, n, MSG_DONTWAIT, (struct sockaddr *)&c->from,
		       sizeof(c->from));
	}
}

static void relays_fill(struct pollfd *pfd)
{
	struct relay_client *c;
	struct relay *r;

	for (r = relays; r; r = r->next) {
		for (c = r->clients; c; c = c->next)
			*pfd++ = (struct pollfd){ c->fd, POLLIN, 0 };
		*pfd++ = (struct pollfd){ r->fd, POLLIN, 0 };
	}
}

/* In relays_fill's order: a relay's clients, then its host socket (which may add clients). */
static void relays_done(const struct pollfd *pfd)
{
	struct relay_client **link;
	struct relay *r;
	uint64_t now = now_us();

	for (r = relays; r; r = r->next) {
		for (link = &r->clients; *link;) {
			short ev = (pfd++)->revents;

			if (ev & POLLIN)
				relay_to_host(r, *link, now);
			if (now >= (*link)->idle_at)
				relay_client_free(r, link);
			else
				link = &(*link)->next;
		}
		if ((pfd++)->revents & POLLIN)
			relay_from_host(r, now);
	}
}

static uint64_t relays_first_idle(void)
{
	struct relay_client *c;
	struct relay *r;
	uint64_t first = UINT64_MAX;

	for (r = relays; r; r = r->next)
		for (c = r->clients; c; c = c->next)
			if (c->idle_at < first)
				first = c->idle_at;
	return first;
}

/* ---- the event loop's part ---- */

int ports_poll_count(void)
{
	return n_pending + n_relay_fds;
}

void ports_poll_fill(struct pollfd *pfd)
{
	struct pending *p;

	for (p = pendings; p; p = p->next)
		*pfd++ = (struct pollfd){ p->fd, POLLOUT, 0 };
	relays_fill(pfd);
}

/* Done connecting (or failed): answer, and drop it from the list. */
static void settle(struct pending **link)
{
	struct pending *p = *link;
	struct sockaddr_in peer;
	socklen_t len = sizeof(int), plen = sizeof(peer);
	int soerr = 0;

	if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr == 0 && getpeername(p->fd, (struct sockaddr *)&peer, &plen) < 0)
		soerr = errno == ENOTCONN ? ECONNREFUSED : errno;
	if (soerr == 0) {
		connected(p->req, p->conn, p->fd);
	} else {
		close(p->fd);
		fail(p->req, p->sandbox, p->port, soerr, "connect");
	}
	pending_free(link);
}

void ports_poll_done(const struct pollfd *pfd, int n)
{
	struct pending **link;
	uint64_t now = now_us();
	int i, n_conn = n_pending;

	(void)n;
	relays_done(pfd + n_conn);
	for (link = &pendings; *link;) {
		bool ready = false;

		for (i = 0; i < n_conn; i++)
			if (pfd[i].fd == (*link)->fd && pfd[i].revents)
				ready = true;
		if (ready) {
			settle(link);
		} else if (now >= (*link)->deadline) {
			close((*link)->fd);
			fail((*link)->req, (*link)->sandbox, (*link)->port, ETIMEDOUT, "connect");
			pending_free(link);
		} else {
			link = &(*link)->next;
		}
	}
}

int ports_poll_timeout(void)
{
	struct pending *p;
	uint64_t now = now_us(), first = UINT64_MAX;

	for (p = pendings; p; p = p->next)
		if (p->deadline < first)
			first = p->deadline;
	if (relays_first_idle() < first)
		first = relays_first_idle();
	if (first == UINT64_MAX)
		return -1;
	return first <= now ? 0 : (int)((first - now) / 1000 + 1);
}

void ports_forget(const char *sandbox)
{
	struct net_ns **link, *s;
	struct pending **p;
	struct relay **r;

	for (r = &relays; *r;) {
		if (strcmp((*r)->sandbox, sandbox) == 0)
			relay_free(r);
		else
			r = &(*r)->next;
	}
	for (p = &pendings; *p;) {
		if (strcmp((*p)->sandbox, sandbox) == 0) {
			close((*p)->fd);
			fail((*p)->req, (*p)->sandbox, (*p)->port, ECONNABORTED, "connect");
			pending_free(p);
		} else {
			p = &(*p)->next;
		}
	}
	for (link = &spaces; *link && strcmp((*link)->sandbox, sandbox) != 0; link = &(*link)->next)
		;
	if (!(s = *link))
		return;
	*link = s->next;
	stop_worker(s);
	close(s->netns);
	if (s->userns >= 0)
		close(s->userns);
	free(s->sandbox);
	free(s);
}

int ports_reaped(pid_t pid)
{
	struct net_ns *s;

	for (s = spaces; s; s = s->next)
		if (s->worker == pid) {
			s->worker = 0;
			if (s->sock >= 0)
				close(s->sock);
			s->sock = -1;
			return 1;
		}
	return 0;
}
