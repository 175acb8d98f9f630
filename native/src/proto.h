/*
 * proto.h — requests from Node, decoded and validated (proto_dispatch.c, proto_create.c,
 * proto_spawn.c, proto_files.c; their checks are generated from spec/protocol.json).
 *
 * Supervisor only. Decoded requests point into the JSON tree they came from; they live
 * until the request has been handled (and are copied into children by clone).
 */
#ifndef SANDKIT_PROTO_H
#define SANDKIT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/types.h>

#include "error.h"
#include "json.h"
#include "proto_gen.h"

#define PROTOCOL_VERSION 1
/* Array sizes the spec's maxItems set (proto_gen.h). */
#define IDMAP_MAX PROTO_MAX_CREATE_CONFIG_UID_MAP
#define RLIMITS_MAX PROTO_MAX_SPAWN_RLIMITS
#define CGROUP_PROCS_MAX PROTO_MAX_SPAWN_CGROUP_PROCS
#define MASK_PATHS_MAX PROTO_MAX_SPAWN_MASKS_MASKED_PATHS
_Static_assert(PROTO_MAX_CREATE_CONFIG_GID_MAP == IDMAP_MAX, "uidMap and gidMap share IDMAP_MAX");
_Static_assert(PROTO_MAX_SPAWN_MASKS_READONLY_PATHS == MASK_PATHS_MAX,
	       "mask lists share MASK_PATHS_MAX");
/* PIPE: a socket to Node; NULL: /dev/null; PATH: a regular file inside the sandbox, opened by
 * the command; MEMFD: a sealed memfd copy of a host file Node wrote (stdin only); LINK: one
 * end of a pipe the supervisor holds by name, for wiring spawns together. */
enum stdio_kind { STDIO_PIPE, STDIO_NULL, STDIO_PATH, STDIO_MEMFD, STDIO_LINK };
#define STDIO_NAME_MAX 128

struct idmap {
	long long inside, outside, count;
};

struct bind {
	const char *source, *target;
	bool readonly;
};

struct tmpfs {
	const char *target, *options;
	const char *
		quota_dir; /* config.tmpfs: a directory of the quota tmpfs to bind instead, or NULL */
};

/* config.net: the sandbox's link to a network (docs/protocol.md). */
struct net_attach {
	const char *host_veth, *bridge, *ifname;
	struct in_addr address, gateway;
	int prefix, mtu; /* mtu 0: the kernel's default */
	bool has_gateway;
};

struct create_req {
	const char *sandbox;
	bool user, uts, ipc, net, cgroup;
	struct idmap uid_map[IDMAP_MAX], gid_map[IDMAP_MAX];
	int n_uid_map, n_gid_map;
	const char *hostname;
	const char *merged, *overlay_options;
	const char *quota_target, *quota_options; /* rootfs.tmpfsUpper, or NULL */
	struct bind *binds;
	int n_binds;
	struct tmpfs *tmpfs;
	int n_tmpfs;
	struct tmpfs *ro_overlays; /* read-only overlays: target + option string (fstype overlay) */
	int n_ro_overlays;
	bool proc, dev;
	bool timens;   /* a time namespace for the sandbox (runtime_view.c) */
	bool attached; /* "net" given: a veth pair to a network's bridge */
	struct net_attach attach;
	const struct jval *first_spawn; /* "spawn": the first spawn's request (checked), or NULL */
};

struct spawn_rlimit {
	int resource; /* RLIMIT_* */
	unsigned long long soft, hard;
};

struct spawn_req {
	const char *sandbox, *process, *cwd;
	const char **argv, **env; /* NULL-terminated */
	int argc, envc;
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	int n_groups;
	enum stdio_kind stdio[3];
	const char *stdio_path[3]; /* PATH: inside the sandbox; MEMFD: host file; LINK: name */
	bool stdio_append[3];	   /* PATH, fd 1 and 2: O_APPEND instead of O_TRUNC */
	unsigned long long stdio_limit[3]; /* PATH output: bytes it may reach, 0: none */
	unsigned long long output_limit;   /* PATH outputs together, 0: none */
	const char *cgroup;		   /* v2 cgroup directory, or NULL */
	const char **cgroup_procs;	   /* v1 cgroup.procs files, NULL-terminated */
	int n_cgroup_procs;
	const char *memory_cgroup; /* directory of the memory controller's cgroup, or NULL */
	bool cgroupns;
	struct spawn_rlimit rlimits[RLIMITS_MAX];
	int n_rlimits;
	bool has_security; /* "security" given; without it, no hardening */
	bool no_new_privs;
	unsigned long long caps_keep;	 /* bit n: keep capability n */
	uint8_t *seccomp;		 /* struct sock_filter[] (malloc'd), or NULL */
	size_t seccomp_len;		 /* bytes */
	const char **masked, **readonly; /* "masks": paths, NULL-terminated */
	int n_masked, n_readonly;
	bool tty; /* "tty": a pseudo-terminal as stdio (pty.c) */
	unsigned tty_cols, tty_rows;
	char *view; /* "view" as runtime_view.c's blob (malloc'd), or NULL */
	size_t view_len;
};

struct pipe_close_req {
	const char *pipe;
};

struct connect_req {
	const char *conn;
	int port;
};

struct kill_req {
	const char *process;
	int signo;
};

struct fs_req {
	const char *channel;
};

struct nft_req {
	const char *script;
	const char *sandbox; /* NULL: the host's namespaces */
};

struct usernet_req {
	const char *address, *gateway;
	int prefix_length;
	bool map_gateway;
};

struct udp_relay_req {
	const char *relay, *host_address;
	int port, host_port;
};

struct request {
	enum req_type type;
	long long req;	     /* -1 until known */
	const char *sandbox; /* for error replies; NULL when not applicable */
	const char *process;
	union {
		struct create_req create;
		struct spawn_req spawn;
		struct kill_req kill;
		struct fs_req fs;
		struct nft_req nft;
		struct pipe_close_req pipe_close;
		struct connect_req connect;
		struct usernet_req usernet;
		struct udp_relay_req udp_relay;
	} u;
};

/* Decode a parsed request. On -1, e is a protocol error and r->req is set if it was readable. */
int proto_decode(const struct jval *v, struct request *r, struct err *e);
void proto_free(struct request *r);

/* "nofile" for RLIMIT_NOFILE. */
const char *proto_rlimit_name(int resource);

/* True for Node's own IPC messages ({"cmd":"NODE_..."}), which the helper ignores. */
bool proto_is_node_internal(const struct jval *v);

#endif
