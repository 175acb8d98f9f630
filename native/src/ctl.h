/*
 * ctl.h — the control socket between the supervisor and a sandbox's init (and its reapers).
 *
 * One SOCK_SEQPACKET socket pair per sandbox. Down (supervisor → init): GO once the uid/gid
 * maps are written, SPAWN (with its fds in SCM_RIGHTS: stdin, stdout, stderr, then the v2
 * cgroup directory if any, then the v1 cgroup.procs files), KILL. Up (init or reaper →
 * supervisor): STEP, READY, ERROR, STARTED (with SCM_CREDENTIALS naming the command, so the
 * kernel translates its pid into the supervisor's pid namespace), EXIT. Every message is one
 * datagram, so init and reapers can share the socket without interleaving. A reaper sends
 * STARTED itself; its final EXIT or ERROR goes through the init (see reaper.c).
 */
#ifndef SANDKIT_CTL_H
#define SANDKIT_CTL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* argv + env + cwd + groups (+ rlimits, seccomp filter, masks) of one spawn: the kernel's
 * ARG_MAX of 2 MiB plus room for the rest. src/process/spawn-request.ts SPAWN_PAYLOAD_MAX matches. */
#define CTL_PAYLOAD_MAX (2 * 1024 * 1024 + 256 * 1024)
#define CTL_FDS_MAX (3 + 1 + 16 + 1) /* stdio, v2 cgroup, v1 cgroup.procs files, memory cgroup */

enum ctl_kind {
	CTL_GO = 1,
	CTL_SPAWN,
	CTL_KILL,
	CTL_STEP = 16,
	CTL_READY,
	CTL_ERROR,
	CTL_STARTED,
	CTL_EXIT,
};

struct ctl_down {
	uint32_t kind;
	uint32_t spawn; /* spawn id, unique within the supervisor */
	int32_t signo;	/* KILL */
	uint32_t uid, gid, n_groups, argc, envc;
	uint32_t n_rlimits, n_cgroup_procs;
	uint8_t has_cgroup, cgroupns, has_security, no_new_privs;
	uint32_t payload_len;
	uint64_t caps_keep;   /* security: bit n keeps capability n */
	uint32_t seccomp_len; /* bytes of struct sock_filter[] */
	uint32_t n_masked, n_readonly;
	uint8_t has_memcg; /* a memory cgroup directory fd follows the v1 cgroup.procs fds */
	uint8_t pad[3];
	/* stdio from and to files inside the sandbox (stdio.c): per fd, CTL_STDIO_* */
	uint8_t stdio_open[3];
	uint8_t pad2[5];
	uint64_t stdio_limit[3]; /* bytes an output file may reach, 0: none */
	uint64_t output_limit;	 /* both output files together, 0: none */
	uint32_t tty;		 /* a pseudo-terminal as stdio (pty.c), of this size */
	uint16_t tty_cols, tty_rows;
	uint32_t view_len; /* the last view_len bytes of the payload (runtime_view.h) */
	uint32_t pad3;
	/* SPAWN payload follows: struct ctl_rlimit[n_rlimits], the seccomp filter, gid_t
	 * groups[n_groups], then NUL-terminated cwd, argv..., env..., masked..., readonly...,
	 * then one path per fd whose stdio_open is not CTL_STDIO_FD, then the view blob. */
};

/* How the command gets fd i: the fd sent (a socket, /dev/null, a memfd or a pipe), or a file
 * it opens itself inside the sandbox as the spawn's user. */
enum { CTL_STDIO_FD, CTL_STDIO_READ, CTL_STDIO_WRITE, CTL_STDIO_APPEND };

struct ctl_rlimit {
	int32_t resource;
	uint32_t pad;
	uint64_t soft, hard;
};

/* The payload starts with ctl_rlimits, which need 8-byte alignment. */
_Static_assert(sizeof(struct ctl_down) % 8 == 0, "ctl_down must keep the payload aligned");

struct exit_info {
	int32_t code;  /* exit status, or -1 when a signal ended it */
	int32_t signo; /* 0 when it exited */
	uint64_t wall_us, user_us, system_us, max_rss_kb;
	int32_t has_exec_error;
	struct err exec_error;
	/* stdout/stderr files: their size at the end (-1: not a file), and whether their limit
	 * ended the command (each was cut to its limit). */
	int64_t file_bytes[3];
	int32_t file_limit_hit;
	int32_t pad_file;
	uint64_t mem_used_bytes; /* peak of the tree's own memory (memwatch.c), 0 when unknown */
	int32_t oom_killed;	 /* the reaper ended the tree after its memory cgroup's OOM */
	int32_t has_violation;	 /* the reaper ended the tree on a seccomp violation */
	int32_t violation_nr;	 /* its syscall number and audit arch */
	uint32_t violation_arch;
};

struct ctl_up {
	uint32_t kind;
	uint32_t spawn; /* 0 for sandbox-wide messages */
	int32_t step;	/* STEP */
	uint32_t
		pre_exec_us; /* STARTED: the command's CPU time in the spawn's cgroup before execve */
	struct err err;	     /* ERROR */
	struct exit_info exit;
};

/* A decoded SPAWN: pointers into the received buffer. */
struct spawn_msg {
	uint32_t id;
	const struct ctl_rlimit *rlimits;
	int n_rlimits;
	int n_fds; /* 3 + has_cgroup + n_cgroup_procs + has_memcg */
	bool has_cgroup, cgroupns, has_memcg;
	uid_t uid;
	gid_t gid;
	int n_groups;
	const gid_t *groups;
	const char *cwd;
	char **argv, **env; /* malloc'd pointer arrays, NULL-terminated */
	bool has_security, no_new_privs;
	uint64_t caps_keep;
	const uint8_t *seccomp; /* NULL when none */
	size_t seccomp_len;
	char **masked, **readonly; /* malloc'd, NULL-terminated */
	int n_masked, n_readonly;
	uint8_t stdio_open[3];	   /* CTL_STDIO_* */
	const char *stdio_path[3]; /* for stdio_open != CTL_STDIO_FD */
	uint64_t stdio_limit[3], output_limit;
	bool tty;
	unsigned tty_cols, tty_rows;
	const char *view; /* runtime_view.c's blob, view_len bytes */
	size_t view_len;
};

/* Let the supervisor's end carry a SPAWN of CTL_PAYLOAD_MAX (a datagram must fit the send
 * buffer): SO_SNDBUFFORCE as root, else SO_SNDBUF up to net.core.wmem_max. */
void ctl_size_send_buffer(int sock);

/* Send one message with up to CTL_FDS_MAX fds and, when pid > 0, SCM_CREDENTIALS naming that pid. */
int ctl_send(int sock, const void *msg, size_t len, const int *fds, int n_fds, pid_t pid,
	     enum step step, struct err *e);
/* The same without blocking and without an error record: 0, or -1 with errno (EAGAIN when
 * the socket is full). The supervisor's sends go through this and its per-sandbox queue. */
int ctl_try_send(int sock, const void *msg, size_t len, const int *fds, int n_fds);
/* Receive one message. Returns its length, 0 on EOF, -1 with errno (EAGAIN with dontwait).
 * Received fds go to fds[] (*n_fds: in, its capacity; out, how many; extra ones are closed);
 * *pid is the SCM_CREDENTIALS pid or 0. */
ssize_t ctl_recv(int sock, void *buf, size_t len, int *fds, int *n_fds, pid_t *pid, bool dontwait);

/* Send an up message, only as long as its kind needs (STEP is 16 bytes, EXIT over 1 KiB). */
int ctl_send_up(int sock, const struct ctl_up *m, pid_t pid, enum step step, struct err *e);
/* Its length on the wire. */
size_t ctl_up_len(uint32_t kind);
/* Receive an up message; the part its kind does not use is zeroed. Returns as ctl_recv. */
ssize_t ctl_recv_up(int sock, struct ctl_up *m, pid_t *pid);
/* The same, keeping up to two fds sent with the message in fds[0], fds[1] (-1 when none). */
ssize_t ctl_recv_up_fds(int sock, struct ctl_up *m, pid_t *pid, int fds[2]);

/* Short helpers for the up direction. */
int ctl_send_step(int sock, enum step step, struct err *e);
int ctl_send_error(int sock, uint32_t spawn, const struct err *err);

/* Parse a SPAWN message; -1 if it is malformed. */
int ctl_decode_spawn(const struct ctl_down *m, size_t len, struct spawn_msg *out);
void ctl_free_spawn(struct spawn_msg *s);

#endif
