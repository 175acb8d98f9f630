/*
 * report.c — the helper's output to Node.
 *
 * Supervisor only. Every line goes through one queue so that order is kept (stdio handles
 * before `spawned`) and a slow Node never blocks the supervisor: the channel is
 * non-blocking and main.c polls for POLLOUT while anything is queued. main.c flushes once
 * per loop iteration, so a burst of lines costs one sendmsg. A NODE_HANDLE line and its fd
 * go out alone in one sendmsg, as Node's IPC expects (one fd per message). Message types
 * and keys are the spec's (PT_* and PK_* of proto_gen.h), so a renamed field cannot drift.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "args.h"
#include "json.h"
#include "proto.h"
#include "report.h"
#include "util.h"

struct out {
	struct out *next;
	char *data;
	size_t len, off;
	int fd; /* sent with the first byte, then closed; -1: none */
};

static int channel = -1;
static struct out *head, **tail = &head;
static size_t queued_bytes; /* bytes of the lines in the queue */

/* Past this much unsent output, main.c stops reading inits until Node catches up. */
#define BACKLOG_BYTES (8 << 20)

int report_init(int fd, struct err *e)
{
	channel = fd;
	if (fd_set_nonblock(fd) < 0)
		return err_sys(e, STEP_HELPER_START, "fcntl", NULL,
			       "fcntl(NODE_CHANNEL_FD, O_NONBLOCK)");
	return 0;
}

bool report_pending(void)
{
	return head != NULL;
}

bool report_backlogged(void)
{
	return queued_bytes > BACKLOG_BYTES;
}

#define IOV_BATCH 64

/* Send the head line with its fd, or the head and the fd-less lines after it. */
static ssize_t send_head(void)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctrl;
	struct iovec iov[IOV_BATCH] = { { head->data + head->off, head->len - head->off } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 1 };
	struct out *o;

	for (o = head->fd < 0 ? head->next : NULL; o && o->fd < 0 && mh.msg_iovlen < IOV_BATCH;
	     o = o->next)
		iov[mh.msg_iovlen++] = (struct iovec){ o->data, o->len };
	if (head->fd >= 0) {
		struct cmsghdr *c;
		memset(&ctrl, 0, sizeof(ctrl));
		mh.msg_control = ctrl.buf;
		mh.msg_controllen = sizeof(ctrl.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &head->fd, sizeof(int));
	}
	return sendmsg(channel, &mh, MSG_NOSIGNAL);
}

static void out_free(struct out *o)
{
	queued_bytes -= o->len;
	if (o->fd >= 0)
		close(o->fd);
	free(o->data);
	free(o);
}

/* Account for n bytes sent from the head of the queue. */
static void consume(size_t n)
{
	if (head->fd >= 0) { /* the fd went with these bytes */
		close(head->fd);
		head->fd = -1;
	}
	while (head && n >= head->len - head->off) {
		struct out *done = head;
		n -= head->len - head->off;
		if (!(head = done->next))
			tail = &head;
		out_free(done);
	}
	if (head)
		head->off += n;
}

int report_flush(void)
{
	while (head) {
		ssize_t r = send_head();
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (r < 0)
			return -1;
		consume(r);
	}
	return 0;
}

/* Queue b's line (ownership of its buffer passes to the queue); main.c flushes. */
static void emit(struct jbuf *b, int fd)
{
	struct out *o = xcalloc(1, sizeof(*o));

	jb_raw(b, "\n");
	o->data = b->p;
	o->len = b->len;
	o->fd = fd;
	queued_bytes += o->len;
	b->p = NULL;
	*tail = o;
	tail = &o->next;
}

static void begin(struct jbuf *b, const char *type)
{
	memset(b, 0, sizeof(*b));
	jb_obj(b);
	jb_kstr(b, PK_TYPE, type);
}

static void end(struct jbuf *b)
{
	jb_end(b);
	emit(b, -1);
}

static void key_req(struct jbuf *b, long long req)
{
	if (req >= 0)
		jb_kint(b, PK_REQ, req);
	else
		jb_knull(b, PK_REQ);
}

void report_hello(void)
{
	struct jbuf b;

	begin(&b, PT_HELLO);
	jb_kint(&b, PK_HELLO_VERSION, PROTOCOL_VERSION);
	jb_kint(&b, PK_HELLO_PID, getpid());
	end(&b);
}

void report_features(long long req)
{
	struct jbuf b;

	begin(&b, PT_FEATURES);
	key_req(&b, req);
	jb_key(&b, PK_FEATURES_FEATURES);
	args_features_json(&b);
	end(&b);
}

void report_step(const char *sandbox, enum step step)
{
	struct jbuf b;

	begin(&b, PT_STEP);
	jb_kstr(&b, PK_STEP_SANDBOX, sandbox);
	jb_kstr(&b, PK_STEP_STEP, step_names[step]);
	end(&b);
}

void report_created(long long req, const char *sandbox, pid_t pid, int upper_fd)
{
	struct jbuf b;

	begin(&b, PT_CREATED);
	key_req(&b, req);
	jb_kstr(&b, PK_CREATED_SANDBOX, sandbox);
	jb_kint(&b, PK_CREATED_PID, pid);
	if (upper_fd >= 0)
		jb_kint(&b, PK_CREATED_UPPER_FD, upper_fd);
	end(&b);
}

void report_destroyed(long long req, const char *sandbox)
{
	struct jbuf b;

	begin(&b, PT_DESTROYED);
	key_req(&b, req);
	jb_kstr(&b, PK_DESTROYED_SANDBOX, sandbox);
	end(&b);
}

void report_ok(long long req)
{
	struct jbuf b;

	begin(&b, PT_OK);
	key_req(&b, req);
	end(&b);
}

void report_relay(long long req, const char *relay, int port)
{
	struct jbuf b;

	begin(&b, PT_RELAY);
	key_req(&b, req);
	jb_kstr(&b, PK_RELAY_RELAY, relay);
	jb_kint(&b, PK_RELAY_PORT, port);
	end(&b);
}

void report_spawned(long long req, const char *process, pid_t pid, uint32_t pre_exec_us)
{
	struct jbuf b;

	begin(&b, PT_SPAWNED);
	key_req(&b, req);
	jb_kstr(&b, PK_SPAWNED_PROCESS, process);
	if (pid > 0)
		jb_kint(&b, PK_SPAWNED_PID, pid);
	else
		jb_knull(&b, PK_SPAWNED_PID);
	jb_kint(&b, PK_SPAWNED_NSPID, 2);
	jb_kint(&b, PK_SPAWNED_PRE_EXEC_CPU_US, pre_exec_us);
	end(&b);
}

static void err_fields(struct jbuf *b, const struct err *e)
{
	jb_kstr(b, PK_FAILURE_STEP,
		step_names[e->step < STEP__COUNT && e->step >= 0 ? e->step : STEP_PROTOCOL]);
	jb_kstr(b, PK_FAILURE_SYSCALL, e->syscall[0] ? e->syscall : NULL);
	if (e->errnum) {
		jb_kint(b, PK_FAILURE_ERRNO, e->errnum);
		jb_kstr(b, PK_FAILURE_ERRNO_NAME, errno_name(e->errnum));
	} else {
		jb_knull(b, PK_FAILURE_ERRNO);
		jb_knull(b, PK_FAILURE_ERRNO_NAME);
	}
	jb_kstr(b, PK_FAILURE_PATH, e->path[0] ? e->path : NULL);
	jb_kstr(b, PK_FAILURE_MESSAGE, e->message);
}

/* keys: exitCode, signal and signo of `exit` or of `sandbox-exit`. */
static void signal_fields(struct jbuf *b, int code, int signo, const char *const keys[3])
{
	if (signo) {
		jb_knull(b, keys[0]);
		jb_kstr(b, keys[1], signal_name(signo));
		jb_kint(b, keys[2], signo);
	} else {
		jb_kint(b, keys[0], code);
		jb_knull(b, keys[1]);
		jb_knull(b, keys[2]);
	}
}

/* What the reaper measured and decided: memoryUsedBytes, oomKilled, violation. */
static void accounting_fields(struct jbuf *b, const struct exit_info *x)
{
	if (x->mem_used_bytes)
		jb_kint(b, PK_EXIT_MEMORY_USED_BYTES, x->mem_used_bytes);
	else
		jb_knull(b, PK_EXIT_MEMORY_USED_BYTES);
	jb_kbool(b, PK_EXIT_OOM_KILLED, x->oom_killed);
	jb_key(b, PK_EXIT_VIOLATION);
	if (x->has_violation) {
		jb_obj(b);
		jb_kint(b, PK_EXIT_VIOLATION_NR, x->violation_nr);
		jb_kint(b, PK_EXIT_VIOLATION_ARCH, x->violation_arch);
		jb_end(b);
	} else {
		jb_raw(b, "null");
	}
}

static void exit_line(const char *sandbox, const char *process, const struct exit_info *x,
		      bool sandbox_died)
{
	static const char *const signal_keys[3] = { PK_EXIT_EXIT_CODE, PK_EXIT_SIGNAL,
						    PK_EXIT_SIGNO };
	struct jbuf b;
	int i;

	begin(&b, PT_EXIT);
	jb_kstr(&b, PK_EXIT_SANDBOX, sandbox);
	jb_kstr(&b, PK_EXIT_PROCESS, process);
	if (sandbox_died)
		jb_kbool(&b, PK_EXIT_SANDBOX_DIED, true);
	signal_fields(&b, x->code, x->signo, signal_keys);
	jb_kint(&b, PK_EXIT_WALL_US, x->wall_us);
	jb_key(&b, PK_EXIT_RUSAGE);
	jb_obj(&b);
	jb_kint(&b, PK_EXIT_RUSAGE_USER_US, x->user_us);
	jb_kint(&b, PK_EXIT_RUSAGE_SYSTEM_US, x->system_us);
	jb_kint(&b, PK_EXIT_RUSAGE_MAX_RSS_KB, x->max_rss_kb);
	jb_end(&b);
	accounting_fields(&b, x);
	jb_key(&b, PK_EXIT_EXEC_ERROR);
	if (x->has_exec_error) {
		jb_obj(&b);
		err_fields(&b, &x->exec_error);
		jb_end(&b);
	} else {
		jb_raw(&b, "null");
	}
	jb_key(&b, PK_EXIT_OUTPUT_FILES); /* stdout/stderr files: bytes kept; null for other fds */
	jb_obj(&b);
	for (i = 1; i < 3; i++)
		if (x->file_bytes[i] < 0)
			jb_knull(&b, i == 1 ? PK_EXIT_OUTPUT_FILES_STDOUT
					    : PK_EXIT_OUTPUT_FILES_STDERR);
		else
			jb_kint(&b,
				i == 1 ? PK_EXIT_OUTPUT_FILES_STDOUT : PK_EXIT_OUTPUT_FILES_STDERR,
				x->file_bytes[i]);
	jb_end(&b);
	jb_kbool(&b, PK_EXIT_OUTPUT_FILE_LIMIT, x->file_limit_hit);
	end(&b);
}

void report_exit(const char *sandbox, const char *process, const struct exit_info *x)
{
	exit_line(sandbox, process, x, false);
}

void report_exit_sandbox_died(const char *sandbox, const char *process, const struct exit_info *x)
{
	exit_line(sandbox, process, x, true);
}

void report_sandbox_exit(const char *sandbox, int status)
{
	static const char *const signal_keys[3] = { PK_SANDBOX_EXIT_EXIT_CODE,
						    PK_SANDBOX_EXIT_SIGNAL, PK_SANDBOX_EXIT_SIGNO };
	struct jbuf b;

	begin(&b, PT_SANDBOX_EXIT);
	jb_kstr(&b, PK_SANDBOX_EXIT_SANDBOX, sandbox);
	signal_fields(&b, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
		      WIFSIGNALED(status) ? WTERMSIG(status) : 0, signal_keys);
	end(&b);
}

static void error_line(long long req, const char *sandbox, const char *process, const struct err *e,
		       bool destroyed)
{
	struct jbuf b;

	begin(&b, PT_ERROR);
	key_req(&b, req);
	jb_kstr(&b, PK_ERROR_SANDBOX, sandbox);
	jb_kstr(&b, PK_ERROR_PROCESS, process);
	err_fields(&b, e);
	if (destroyed)
		jb_kbool(&b, PK_ERROR_DESTROYED, true);
	end(&b);
}

void report_error(long long req, const char *sandbox, const char *process, const struct err *e)
{
	error_line(req, sandbox, process, e, false);
}

void report_destroyed_error(long long req, const char *sandbox, const char *process,
			    const struct err *e)
{
	error_line(req, sandbox, process, e, true);
}

/* Node's own IPC envelope for passing one fd: {"cmd":"NODE_HANDLE","type":"net.Socket",
 * "msg":{"type":<type>, ...}}. The caller adds msg's other keys, then calls end_handle(). */
static void begin_handle(struct jbuf *b, const char *type)
{
	memset(b, 0, sizeof(*b));
	jb_obj(b);
	jb_kstr(b, "cmd", "NODE_HANDLE");
	jb_kstr(b, "type", "net.Socket");
	jb_key(b, "msg");
	jb_obj(b);
	jb_kstr(b, PK_TYPE, type);
}

/* Node's end of every fd it gets is non-blocking: libuv keeps a received fd's flags as they
 * are, and a blocking socket would stall Node's event loop on a full write. The flag lives on
 * Node's own open file description, so the sandbox's end of a pair is not affected. */
static void end_handle(struct jbuf *b, int fd)
{
	fd_set_nonblock(fd);
	jb_end(b);
	jb_end(b);
	emit(b, fd);
}

void report_stdio_handle(const char *process, int n, int fd)
{
	struct jbuf b;

	begin_handle(&b, PT_HANDLE_STDIO);
	jb_kstr(&b, PK_HANDLE_STDIO_PROCESS, process);
	jb_kint(&b, PK_HANDLE_STDIO_FD, n);
	end_handle(&b, fd);
}

void report_connection_handle(const char *conn, int fd)
{
	struct jbuf b;

	begin_handle(&b, PT_HANDLE_CONNECTION);
	jb_kstr(&b, PK_HANDLE_CONNECTION_CONN, conn);
	end_handle(&b, fd);
}

void report_files_handle(const char *channel, int fd)
{
	struct jbuf b;

	begin_handle(&b, PT_HANDLE_FS);
	jb_kstr(&b, PK_HANDLE_FS_CHANNEL, channel);
	end_handle(&b, fd);
}
