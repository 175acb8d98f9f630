/*
 * proto.c — strict decoding of requests from Node.
 *
 * Supervisor only. Every request is checked completely before anything runs: an unknown
 * type or field, a missing field, a wrong type or a value out of range is a protocol error
 * naming the field (e.g. "config.binds[1].target: must be an absolute path").
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "security.h"
#include "util.h"

#define WHERE_MAX 96

static int bad(struct err *e, const char *where, const char *key, const char *what)
{
	return err_msg(e, STEP_PROTOCOL, "%s%s: %s", where, key, what);
}

static int check_keys(const struct jval *o, const char *where, const char *const *keys,
		      struct err *e)
{
	size_t i, k;

	if (o->type != J_OBJ)
		return err_msg(e, STEP_PROTOCOL, "%s: must be an object", where[0] ? where : "request");
	for (i = 0; i < o->n; i++) {
		for (k = 0; keys[k] && strcmp(keys[k] + (keys[k][0] == '?'), o->keys[i]) != 0; k++)
			;
		if (!keys[k])
			return bad(e, where, o->keys[i], "unknown field");
	}
	for (k = 0; keys[k]; k++)  /* "?name": an optional field */
		if (keys[k][0] != '?' && !json_get(o, keys[k]))
			return bad(e, where, keys[k], "missing field");
	return 0;
}

static const struct jval *typed(const struct jval *o, const char *where, const char *key,
				enum jtype t, struct err *e)
{
	const struct jval *v = json_get(o, key);
	char what[32];

	if (v && v->type == t)
		return v;
	snprintf(what, sizeof(what), "must be %s %s", t == J_ARR || t == J_OBJ ? "an" : "a",
		 json_type_name(t));
	bad(e, where, key, v ? what : "missing field");
	return NULL;
}

static int get_str(const struct jval *o, const char *where, const char *key, const char **out,
		   struct err *e)
{
	const struct jval *v = typed(o, where, key, J_STR, e);

	if (!v)
		return -1;
	if (strlen(v->str) != v->len)
		return bad(e, where, key, "must not contain NUL characters");
	*out = v->str;
	return 0;
}

static int get_path(const struct jval *o, const char *where, const char *key, const char **out,
		    struct err *e)
{
	if (get_str(o, where, key, out, e) < 0)
		return -1;
	if ((*out)[0] != '/')
		return bad(e, where, key, "must be an absolute path");
	if (strlen(*out) >= ERR_PATH_MAX)
		return bad(e, where, key, "is too long");
	return 0;
}

static int get_name(const struct jval *o, const char *where, const char *key, const char **out,
		    struct err *e)
{
	if (get_str(o, where, key, out, e) < 0)
		return -1;
	if (!(*out)[0] || strlen(*out) > 128)
		return bad(e, where, key, "must be 1 to 128 characters");
	return 0;
}

static int get_bool(const struct jval *o, const char *where, const char *key, bool *out,
		    struct err *e)
{
	const struct jval *v = typed(o, where, key, J_BOOL, e);

	if (!v)
		return -1;
	*out = v->b;
	return 0;
}

static int int_in(const struct jval *v, const char *where, const char *key, long long min,
		  long long max, long long *out, struct err *e)
{
	char what[80];

	if (v->type != J_NUM || !v->is_int || v->i < min || v->i > max) {
		snprintf(what, sizeof(what), "must be an integer from %lld to %lld", min, max);
		return bad(e, where, key, what);
	}
	*out = v->i;
	return 0;
}

static int get_int(const struct jval *o, const char *where, const char *key, long long min,
		   long long max, long long *out, struct err *e)
{
	const struct jval *v = json_get(o, key);

	if (!v)
		return bad(e, where, key, "missing field");
	return int_in(v, where, key, min, max, out, e);
}

static int get_idmap(const struct jval *o, const char *where, const char *key,
		     struct idmap *map, int *n, struct err *e)
{
	const struct jval *a = typed(o, where, key, J_ARR, e);
	char sub[WHERE_MAX];
	size_t i;

	if (!a)
		return -1;
	if (a->n > IDMAP_MAX)
		return bad(e, where, key, "has too many entries");
	for (i = 0; i < a->n; i++) {
		const struct jval *t = &a->items[i];
		snprintf(sub, sizeof(sub), "%s%s[%zu]", where, key, i);
		if (t->type != J_ARR || t->n != 3)
			return bad(e, sub, "", "must be [inside, outside, count]");
		if (int_in(&t->items[0], sub, "[0]", 0, 4294967294LL, &map[i].inside, e) < 0 ||
		    int_in(&t->items[1], sub, "[1]", 0, 4294967294LL, &map[i].outside, e) < 0 ||
		    int_in(&t->items[2], sub, "[2]", 1, 4294967295LL, &map[i].count, e) < 0)
			return -1;
	}
	*n = a->n;
	return 0;
}

static int decode_namespaces(const struct jval *o, struct create_req *c, struct err *e)
{
	static const char *const keys[] = { "user", "uts", "ipc", "net", "cgroup", NULL };
	const char *w = "config.namespaces.";

	if (check_keys(o, "config.namespaces", keys, e) < 0)
		return -1;
	return get_bool(o, w, "user", &c->user, e) < 0 || get_bool(o, w, "uts", &c->uts, e) < 0 ||
	       get_bool(o, w, "ipc", &c->ipc, e) < 0 || get_bool(o, w, "net", &c->net, e) < 0 ||
	       get_bool(o, w, "cgroup", &c->cgroup, e) < 0 ? -1 : 0;
}

/* rootfs.tmpfsUpper (limits.disk): the tmpfs that holds the writable layer. */
static int decode_tmpfs_upper(const struct jval *o, struct create_req *c, struct err *e)
{
	static const char *const keys[] = { "target", "options", NULL };
	const char *w = "config.rootfs.tmpfsUpper.";

	if (!o)
		return 0;
	if (check_keys(o, "config.rootfs.tmpfsUpper", keys, e) < 0 ||
	    get_path(o, w, "target", &c->quota_target, e) < 0 ||
	    get_str(o, w, "options", &c->quota_options, e) < 0)
		return -1;
	if (!c->quota_options[0])
		return bad(e, w, "options", "must not be empty");
	return 0;
}

static int decode_rootfs(const struct jval *o, struct create_req *c, struct err *e)
{
	static const char *const keys[] = { "merged", "overlayOptions", "?tmpfsUpper", NULL };

	if (check_keys(o, "config.rootfs", keys, e) < 0 ||
	    get_path(o, "config.rootfs.", "merged", &c->merged, e) < 0 ||
	    get_str(o, "config.rootfs.", "overlayOptions", &c->overlay_options, e) < 0 ||
	    decode_tmpfs_upper(json_get(o, "tmpfsUpper"), c, e) < 0)
		return -1;
	if (!c->overlay_options[0])
		return bad(e, "config.rootfs.", "overlayOptions", "must not be empty");
	return 0;
}

static int decode_binds(const struct jval *a, struct create_req *c, struct err *e)
{
	static const char *const keys[] = { "source", "target", "readonly", NULL };
	char w[WHERE_MAX];
	size_t i;

	c->binds = xcalloc(a->n, sizeof(*c->binds));
	c->n_binds = a->n;
	for (i = 0; i < a->n; i++) {
		const struct jval *o = &a->items[i];
		struct bind *b = &c->binds[i];
		snprintf(w, sizeof(w), "config.binds[%zu]", i);
		if (check_keys(o, w, keys, e) < 0)
			return -1;
		strcat(w, ".");
		if (get_path(o, w, "source", &b->source, e) < 0 ||
		    get_path(o, w, "target", &b->target, e) < 0 ||
		    get_bool(o, w, "readonly", &b->readonly, e) < 0)
			return -1;
	}
	return 0;
}

/* tmpfs[i].quotaDir: one plain name, made in the rootfs.tmpfsUpper tmpfs beside upper/, work/. */
static int decode_quota_dir(const struct jval *o, const char *w, struct tmpfs *t, struct err *e)
{
	const char *d;

	if (!json_get(o, "quotaDir"))
		return 0;
	if (get_str(o, w, "quotaDir", &t->quota_dir, e) < 0)
		return -1;
	d = t->quota_dir;
	if (!d[0] || strlen(d) > 32 || strchr(d, '/') || !strcmp(d, ".") || !strcmp(d, "..") ||
	    !strcmp(d, "upper") || !strcmp(d, "work"))
		return bad(e, w, "quotaDir", "must be a plain name other than upper and work");
	return 0;
}

/* A list of { target, options } mounts (config.tmpfs, config.roOverlays). */
static int decode_fs_mounts(const struct jval *a, const char *name, struct tmpfs **out, int *n,
			    struct err *e)
{
	static const char *const keys[] = { "target", "options", "?quotaDir", NULL };
	static const char *const ro_keys[] = { "target", "options", NULL };
	bool tmpfs = strcmp(name, "tmpfs") == 0;
	char w[WHERE_MAX];
	size_t i;

	*out = xcalloc(a->n, sizeof(**out));
	*n = a->n;
	for (i = 0; i < a->n; i++) {
		const struct jval *o = &a->items[i];
		snprintf(w, sizeof(w), "config.%s[%zu]", name, i);
		if (check_keys(o, w, tmpfs ? keys : ro_keys, e) < 0)
			return -1;
		strcat(w, ".");
		if (get_path(o, w, "target", &(*out)[i].target, e) < 0 ||
		    get_str(o, w, "options", &(*out)[i].options, e) < 0 ||
		    (tmpfs && decode_quota_dir(o, w, &(*out)[i], e) < 0))
			return -1;
	}
	return 0;
}

static int decode_tmpfs(const struct jval *a, struct create_req *c, struct err *e)
{
	return decode_fs_mounts(a, "tmpfs", &c->tmpfs, &c->n_tmpfs, e);
}

static int get_ifname(const struct jval *o, const char *key, const char **out, struct err *e)
{
	if (get_str(o, "config.net.", key, out, e) < 0)
		return -1;
	if (!(*out)[0] || strlen(*out) >= IFNAMSIZ || strpbrk(*out, "/: \t\n"))
		return bad(e, "config.net.", key, "must be an interface name (1 to 15 characters)");
	return 0;
}

static int get_ipv4(const struct jval *o, const char *key, struct in_addr *out, struct err *e)
{
	const char *s;

	if (get_str(o, "config.net.", key, &s, e) < 0)
		return -1;
	if (inet_pton(AF_INET, s, out) != 1)
		return bad(e, "config.net.", key, "must be an IPv4 address");
	return 0;
}

/* config.net (optional): a veth pair to a network's bridge; needs namespaces.net. */
static int decode_net(const struct jval *o, struct create_req *c, struct err *e)
{
	static const char *const keys[] = { "hostVeth", "bridge", "ifname", "address",
					    "prefixLength", "gateway", "mtu", NULL };
	struct net_attach *n = &c->attach;
	const char *w = "config.net.";
	long long prefix = 0, mtu = 0;

	if (!o)
		return 0;
	if (check_keys(o, "config.net", keys, e) < 0 ||
	    get_ifname(o, "hostVeth", &n->host_veth, e) < 0 ||
	    get_ifname(o, "bridge", &n->bridge, e) < 0 || get_ifname(o, "ifname", &n->ifname, e) < 0 ||
	    get_ipv4(o, "address", &n->address, e) < 0 ||
	    get_int(o, w, "prefixLength", 1, 32, &prefix, e) < 0 ||
	    get_int(o, w, "mtu", 0, 65535, &mtu, e) < 0)
		return -1;
	n->has_gateway = json_get(o, "gateway")->type != J_NULL;
	if (n->has_gateway && get_ipv4(o, "gateway", &n->gateway, e) < 0)
		return bad(e, w, "gateway", "must be an IPv4 address or null");
	if (!c->net)
		return bad(e, "config.", "net", "needs namespaces.net");
	n->prefix = prefix;
	n->mtu = mtu;
	c->attached = true;
	return 0;
}

static int decode_config(const struct jval *o, struct create_req *c, struct err *e)
{
	static const char *const keys[] = { "namespaces", "uidMap", "gidMap", "hostname", "rootfs",
					    "binds", "tmpfs", "?roOverlays", "proc", "dev", "?net", NULL };
	const char *w = "config.";
	const struct jval *v;

	if (check_keys(o, "config", keys, e) < 0 ||
	    !(v = typed(o, w, "namespaces", J_OBJ, e)) || decode_namespaces(v, c, e) < 0 ||
	    get_idmap(o, w, "uidMap", c->uid_map, &c->n_uid_map, e) < 0 ||
	    get_idmap(o, w, "gidMap", c->gid_map, &c->n_gid_map, e) < 0 ||
	    get_str(o, w, "hostname", &c->hostname, e) < 0 ||
	    !(v = typed(o, w, "rootfs", J_OBJ, e)) || decode_rootfs(v, c, e) < 0 ||
	    !(v = typed(o, w, "binds", J_ARR, e)) || decode_binds(v, c, e) < 0 ||
	    !(v = typed(o, w, "tmpfs", J_ARR, e)) || decode_tmpfs(v, c, e) < 0 ||
	    get_bool(o, w, "proc", &c->proc, e) < 0 || get_bool(o, w, "dev", &c->dev, e) < 0 ||
	    decode_net(json_get(o, "net"), c, e) < 0)
		return -1;
	if (json_get(o, "roOverlays") &&
	    (!(v = typed(o, w, "roOverlays", J_ARR, e)) ||
	     decode_fs_mounts(v, "roOverlays", &c->ro_overlays, &c->n_ro_overlays, e) < 0))
		return -1;
	if (strlen(c->hostname) > 64)
		return bad(e, w, "hostname", "must be at most 64 bytes");
	for (int i = 0; i < c->n_tmpfs; i++)
		if (c->tmpfs[i].quota_dir && !c->quota_target)
			return bad(e, w, "tmpfs", "quotaDir needs rootfs.tmpfsUpper");
	if (c->user && (!c->n_uid_map || !c->n_gid_map))
		return bad(e, w, "uidMap", "must not be empty with namespaces.user");
	if (!c->user && (c->n_uid_map || c->n_gid_map))
		return bad(e, w, "uidMap", "must be empty without namespaces.user");
	return 0;
}

static int decode_create(const struct jval *v, struct request *r, struct err *e)
{
	static const char *const keys[] = { "type", "req", "sandbox", "config", NULL };
	const struct jval *cfg;

	if (check_keys(v, "", keys, e) < 0 || get_name(v, "", "sandbox", &r->sandbox, e) < 0)
		return -1;
	r->u.create.sandbox = r->sandbox;
	if (!(cfg = typed(v, "", "config", J_OBJ, e)))
		return -1;
	return decode_config(cfg, &r->u.create, e);
}

static int get_strings(const struct jval *o, const char *key, const char ***out, int *n,
		       struct err *e)
{
	const struct jval *a = typed(o, "", key, J_ARR, e);
	char w[WHERE_MAX];
	size_t i;

	if (!a)
		return -1;
	*out = xcalloc(a->n + 1, sizeof(char *));
	*n = a->n;
	for (i = 0; i < a->n; i++) {
		const struct jval *s = &a->items[i];
		snprintf(w, sizeof(w), "%s[%zu]", key, i);
		if (s->type != J_STR || strlen(s->str) != s->len)
			return bad(e, w, "", "must be a string without NUL characters");
		(*out)[i] = s->str;
	}
	return 0;
}

static int decode_ids(const struct jval *v, struct spawn_req *s, struct err *e)
{
	const struct jval *a = typed(v, "", "groups", J_ARR, e);
	long long id = 0;
	char w[WHERE_MAX];
	size_t i;

	if (!a || get_int(v, "", "uid", 0, 4294967294LL, &id, e) < 0)
		return -1;
	s->uid = id;
	if (get_int(v, "", "gid", 0, 4294967294LL, &id, e) < 0)
		return -1;
	s->gid = id;
	if (a->n > 64)
		return bad(e, "", "groups", "has more than 64 entries");
	s->groups = xcalloc(a->n, sizeof(gid_t));
	s->n_groups = a->n;
	for (i = 0; i < a->n; i++) {
		snprintf(w, sizeof(w), "groups[%zu]", i);
		if (int_in(&a->items[i], w, "", 0, 4294967294LL, &id, e) < 0)
			return -1;
		s->groups[i] = id;
	}
	return 0;
}

/* An object entry: {"path", "?append", "?limit"} (a file inside the sandbox), {"memfd"} (stdin
 * only: a host file copied into a sealed memfd) or {"pipe"} (a named pipe's end). */
static int decode_stdio_object(const struct jval *o, int fd, struct spawn_req *s, struct err *e)
{
	static const char *const path_keys[] = { "path", "?append", "?limit", NULL };
	static const char *const memfd_keys[] = { "memfd", NULL };
	static const char *const pipe_keys[] = { "pipe", NULL };
	char where[16];
	long long limit = 0;

	snprintf(where, sizeof(where), "stdio[%d].", fd);
	if (json_get(o, "path")) {
		s->stdio[fd] = STDIO_PATH;
		if (check_keys(o, where, path_keys, e) < 0 ||
		    get_path(o, where, "path", &s->stdio_path[fd], e) < 0 ||
		    (json_get(o, "append") && get_bool(o, where, "append", &s->stdio_append[fd], e) < 0) ||
		    (json_get(o, "limit") && get_int(o, where, "limit", 1, 9007199254740991LL, &limit, e) < 0))
			return -1;
		if (fd == 0 && (s->stdio_append[fd] || limit))
			return bad(e, where, "path", "append and limit are for stdout and stderr");
		s->stdio_limit[fd] = limit;
		return 0;
	}
	if (json_get(o, "memfd")) {
		s->stdio[fd] = STDIO_MEMFD;
		if (check_keys(o, where, memfd_keys, e) < 0 ||
		    get_path(o, where, "memfd", &s->stdio_path[fd], e) < 0)
			return -1;
		return fd == 0 ? 0 : bad(e, where, "memfd", "is for stdin only");
	}
	s->stdio[fd] = STDIO_LINK;
	return check_keys(o, where, pipe_keys, e) < 0 ? -1
		: get_name(o, where, "pipe", &s->stdio_path[fd], e);
}

static int decode_stdio(const struct jval *v, struct spawn_req *s, struct err *e)
{
	const struct jval *a = typed(v, "", "stdio", J_ARR, e);
	long long limit = 0;
	size_t i;

	if (!a)
		return -1;
	if (a->n != 3)
		return bad(e, "", "stdio", "must have 3 entries");
	for (i = 0; i < 3; i++) {
		const struct jval *k = &a->items[i];
		if (k->type == J_STR && strcmp(k->str, "pipe") == 0)
			s->stdio[i] = STDIO_PIPE;
		else if (k->type == J_STR && strcmp(k->str, "null") == 0)
			s->stdio[i] = STDIO_NULL;
		else if (k->type == J_OBJ && decode_stdio_object(k, i, s, e) < 0)
			return -1;
		else if (k->type != J_OBJ)
			return bad(e, "", "stdio", "entries must be \"pipe\", \"null\" or an object");
	}
	if (json_get(v, "outputLimit") &&
	    get_int(v, "", "outputLimit", 1, 9007199254740991LL, &limit, e) < 0)
		return -1;
	s->output_limit = limit;
	return 0;
}

static int decode_cgroup(const struct jval *v, struct spawn_req *s, struct err *e)
{
	const struct jval *cg = json_get(v, "cgroup"), *mem = json_get(v, "memoryCgroup");
	size_t i;

	if (cg->type != J_NULL && get_path(v, "", "cgroup", &s->cgroup, e) < 0)
		return bad(e, "", "cgroup", "must be an absolute path or null");
	if (mem && mem->type != J_NULL && get_path(v, "", "memoryCgroup", &s->memory_cgroup, e) < 0)
		return bad(e, "", "memoryCgroup", "must be an absolute path or null");
	if (get_strings(v, "cgroupProcs", &s->cgroup_procs, &s->n_cgroup_procs, e) < 0 ||
	    get_bool(v, "", "cgroupns", &s->cgroupns, e) < 0)
		return -1;
	if (s->n_cgroup_procs > CGROUP_PROCS_MAX)
		return bad(e, "", "cgroupProcs", "has too many entries");
	for (i = 0; i < (size_t)s->n_cgroup_procs; i++)
		if (s->cgroup_procs[i][0] != '/')
			return bad(e, "", "cgroupProcs", "entries must be absolute paths");
	return 0;
}

static const struct { const char *name; int resource; } rlimit_names[] = {
	{ "core", RLIMIT_CORE }, { "fsize", RLIMIT_FSIZE }, { "nofile", RLIMIT_NOFILE },
	{ "stack", RLIMIT_STACK }, { "cpu", RLIMIT_CPU },   { "as", RLIMIT_AS },
	{ "nproc", RLIMIT_NPROC },
};

static int rlimit_resource(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(rlimit_names); i++)
		if (strcmp(rlimit_names[i].name, name) == 0)
			return rlimit_names[i].resource;
	return -1;
}

const char *proto_rlimit_name(int resource)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(rlimit_names); i++)
		if (rlimit_names[i].resource == resource)
			return rlimit_names[i].name;
	return "?";
}

static int decode_rlimit(const struct jval *t, const char *w, struct spawn_rlimit *out,
			 struct err *e)
{
	long long soft = 0, hard = 0;

	if (t->type != J_ARR || t->n != 3 || t->items[0].type != J_STR ||
	    (out->resource = rlimit_resource(t->items[0].str)) < 0)
		return bad(e, w, "", "must be [name, soft, hard] with name core, fsize, nofile, "
				     "stack, cpu or as");
	if (int_in(&t->items[1], w, "[1]", 0, 9007199254740991LL, &soft, e) < 0 ||
	    int_in(&t->items[2], w, "[2]", 0, 9007199254740991LL, &hard, e) < 0)
		return -1;
	if (soft > hard)
		return bad(e, w, "", "soft limit is above the hard limit");
	out->soft = soft;
	out->hard = hard;
	return 0;
}

static int decode_rlimits(const struct jval *v, struct spawn_req *s, struct err *e)
{
	const struct jval *a = typed(v, "", "rlimits", J_ARR, e);
	char w[WHERE_MAX];
	size_t i;

	if (!a)
		return -1;
	if (a->n > RLIMITS_MAX)
		return bad(e, "", "rlimits", "has too many entries");
	for (i = 0; i < a->n; i++) {
		snprintf(w, sizeof(w), "rlimits[%zu]", i);
		if (decode_rlimit(&a->items[i], w, &s->rlimits[i], e) < 0)
			return -1;
	}
	s->n_rlimits = a->n;
	return 0;
}

static int decode_paths(const struct jval *o, const char *key, const char ***out, int *n,
			struct err *e)
{
	const struct jval *a = typed(o, "masks.", key, J_ARR, e);
	char w[WHERE_MAX];
	size_t i;

	if (!a)
		return -1;
	if (a->n > MASK_PATHS_MAX)
		return bad(e, "masks.", key, "has too many entries");
	*out = xcalloc(a->n + 1, sizeof(char *));
	*n = a->n;
	for (i = 0; i < a->n; i++) {
		const struct jval *p = &a->items[i];
		snprintf(w, sizeof(w), "masks.%s[%zu]", key, i);
		if (p->type != J_STR || strlen(p->str) != p->len || p->str[0] != '/' ||
		    p->len >= ERR_PATH_MAX)
			return bad(e, w, "", "must be an absolute path");
		(*out)[i] = p->str;
	}
	return 0;
}

static int decode_masks(const struct jval *v, struct spawn_req *s, struct err *e)
{
	static const char *const keys[] = { "maskedPaths", "readonlyPaths", NULL };
	const struct jval *m = json_get(v, "masks");

	if (!m)
		return 0;
	if (check_keys(m, "masks", keys, e) < 0 ||
	    decode_paths(m, "maskedPaths", &s->masked, &s->n_masked, e) < 0 ||
	    decode_paths(m, "readonlyPaths", &s->readonly, &s->n_readonly, e) < 0)
		return -1;
	return 0;
}

static int decode_caps(const struct jval *o, struct spawn_req *s, struct err *e)
{
	const struct jval *a = typed(o, "security.", "capabilities", J_ARR, e);
	char w[WHERE_MAX];
	size_t i;
	int c;

	if (!a)
		return -1;
	for (i = 0; i < a->n; i++) {
		snprintf(w, sizeof(w), "security.capabilities[%zu]", i);
		if (a->items[i].type != J_STR || (c = caps_number(a->items[i].str)) < 0)
			return bad(e, w, "", "must be a capability name such as \"CAP_NET_BIND_SERVICE\"");
		s->caps_keep |= 1ULL << c;
	}
	return 0;
}

static int decode_security(const struct jval *v, struct spawn_req *s, struct err *e)
{
	static const char *const keys[] = { "noNewPrivs", "capabilities", "seccomp", NULL };
	const struct jval *o = json_get(v, "security"), *f;

	if (!o)
		return 0;
	if (check_keys(o, "security", keys, e) < 0 ||
	    get_bool(o, "security.", "noNewPrivs", &s->no_new_privs, e) < 0 ||
	    decode_caps(o, s, e) < 0)
		return -1;
	s->has_security = true;
	f = json_get(o, "seccomp");
	if (f->type == J_NULL)
		return 0;
	if (f->type != J_STR)
		return bad(e, "security.", "seccomp", "must be null or a base64 string");
	return seccomp_decode_from_parent(f->str, &s->seccomp, &s->seccomp_len, e);
}

static int decode_spawn(const struct jval *v, struct request *r, struct err *e)
{
	static const char *const keys[] = { "type", "req", "sandbox", "process", "argv", "env",
					    "cwd", "uid", "gid", "groups", "stdio", "cgroup",
					    "cgroupProcs", "cgroupns", "rlimits", "?security",
					    "?masks", "?outputLimit",
					    "?memoryCgroup", NULL };
	struct spawn_req *s = &r->u.spawn;

	if (check_keys(v, "", keys, e) < 0 || get_name(v, "", "sandbox", &r->sandbox, e) < 0 ||
	    get_name(v, "", "process", &r->process, e) < 0 ||
	    get_strings(v, "argv", &s->argv, &s->argc, e) < 0 ||
	    get_strings(v, "env", &s->env, &s->envc, e) < 0 ||
	    get_path(v, "", "cwd", &s->cwd, e) < 0 || decode_ids(v, s, e) < 0 ||
	    decode_stdio(v, s, e) < 0 || decode_cgroup(v, s, e) < 0 || decode_rlimits(v, s, e) < 0 ||
	    decode_security(v, s, e) < 0 || decode_masks(v, s, e) < 0)
		return -1;
	if (s->argc == 0 || !s->argv[0][0])
		return bad(e, "", "argv", "must have a non-empty argv[0]");
	s->sandbox = r->sandbox;
	s->process = r->process;
	return 0;
}

static int decode_kill(const struct jval *v, struct request *r, struct err *e)
{
	static const char *const keys[] = { "type", "req", "process", "signal", NULL };
	long long signo = 0;

	if (check_keys(v, "", keys, e) < 0 || get_name(v, "", "process", &r->process, e) < 0 ||
	    get_int(v, "", "signal", 1, 64, &signo, e) < 0)
		return -1;
	r->u.kill.process = r->process;
	r->u.kill.signo = signo;
	return 0;
}

static int decode_destroy(const struct jval *v, struct request *r, struct err *e)
{
	static const char *const keys[] = { "type", "req", "sandbox", NULL };

	return check_keys(v, "", keys, e) < 0 ? -1 : get_name(v, "", "sandbox", &r->sandbox, e);
}

static int decode_fs(const struct jval *v, struct request *r, struct err *e)
{
	static const char *const keys[] = { "type", "req", "sandbox", "channel", NULL };

	return check_keys(v, "", keys, e) < 0 || get_name(v, "", "sandbox", &r->sandbox, e) < 0
		? -1 : get_name(v, "", "channel", &r->u.fs.channel, e);
}

static int decode_nft(const struct jval *v, struct request *r, struct err *e)
{
	static const char *const keys[] = { "type", "req", "script", NULL };

	if (check_keys(v, "", keys, e) < 0 || get_str(v, "", "script", &r->u.nft.script, e) < 0)
		return -1;
	if (strlen(r->u.nft.script) > (1 << 20))
		return bad(e, "", "script", "is longer than 1 MiB");
	return 0;
}

static int decode_pipe_close(const struct jval *v, struct request *r, struct err *e)
{
	static const char *const keys[] = { "type", "req", "pipe", NULL };

	return check_keys(v, "", keys, e) < 0 ? -1
		: get_name(v, "", "pipe", &r->u.pipe_close.pipe, e);
}

static int decode_features(const struct jval *v, struct request *r, struct err *e)
{
	static const char *const keys[] = { "type", "req", NULL };

	(void)r;
	return check_keys(v, "", keys, e);
}

int proto_decode(const struct jval *v, struct request *r, struct err *e)
{
	static const struct { const char *name; enum req_type type;
		int (*decode)(const struct jval *, struct request *, struct err *); } types[] = {
		{ "create", REQ_CREATE, decode_create },   { "spawn", REQ_SPAWN, decode_spawn },
		{ "kill", REQ_KILL, decode_kill },         { "destroy", REQ_DESTROY, decode_destroy },
		{ "features", REQ_FEATURES, decode_features },
		{ "fs", REQ_FS, decode_fs },
		{ "nft", REQ_NFT, decode_nft },
		{ "pipe-close", REQ_PIPE_CLOSE, decode_pipe_close },
	};
	const struct jval *req = json_get(v, "req"), *type;
	size_t i;

	memset(r, 0, sizeof(*r));
	r->req = req && req->type == J_NUM && req->is_int ? req->i : -1;
	if (v->type != J_OBJ)
		return err_msg(e, STEP_PROTOCOL, "request: must be an object");
	if (!(type = typed(v, "", "type", J_STR, e)) ||
	    get_int(v, "", "req", 0, 9007199254740991LL, &r->req, e) < 0)
		return -1;
	for (i = 0; i < ARRAY_LEN(types); i++)
		if (strcmp(type->str, types[i].name) == 0) {
			r->type = types[i].type;
			return types[i].decode(v, r, e);
		}
	return err_msg(e, STEP_PROTOCOL, "type: unknown request type \"%.64s\"", type->str);
}

void proto_free(struct request *r)
{
	if (r->type == REQ_CREATE) {
		free(r->u.create.binds);
		free(r->u.create.tmpfs);
		free(r->u.create.ro_overlays);
	} else if (r->type == REQ_SPAWN) {
		free(r->u.spawn.argv);
		free(r->u.spawn.env);
		free(r->u.spawn.groups);
		free(r->u.spawn.cgroup_procs);
		free(r->u.spawn.seccomp);
		free(r->u.spawn.masked);
		free(r->u.spawn.readonly);
	}
	memset(&r->u, 0, sizeof(r->u));
}

bool proto_is_node_internal(const struct jval *v)
{
	const struct jval *cmd = json_get(v, "cmd");

	return cmd && cmd->type == J_STR && strncmp(cmd->str, "NODE_", 5) == 0;
}
