/*
 * proto_create.c — decoding a `create` request.
 *
 * Supervisor only. Keys, types, ranges and formats come from spec/protocol.json through
 * proto_gen.c; what is left here is filling struct create_req and the rules between fields.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "first_spawn.h"
#include "proto_decoders.h"
#include "proto_gen.h"
#include "util.h"

static int decode_idmap(const struct jval *a, const char *key, struct idmap *map, int *n,
			struct err *e)
{
	char w[WHERE_MAX];
	const struct jval *t;
	size_t i;

	for (i = 0; i < a->n; i++) {
		snprintf(w, sizeof(w), "config.%s[%zu]", key, i);
		if (proto_id_map(&a->items[i], w, "", &t, e) < 0 ||
		    proto_id_map_0(&t->items[0], w, "[0]", &map[i].inside, e) < 0 ||
		    proto_id_map_1(&t->items[1], w, "[1]", &map[i].outside, e) < 0 ||
		    proto_id_map_2(&t->items[2], w, "[2]", &map[i].count, e) < 0)
			return -1;
	}
	*n = a->n;
	return 0;
}

static int decode_namespaces(const struct jval *o, struct create_req *c, struct err *e)
{
	const char *w = "config.namespaces.";

	return proto_create_config_namespaces_user(o, w, &c->user, e) < 0 ||
			       proto_create_config_namespaces_uts(o, w, &c->uts, e) < 0 ||
			       proto_create_config_namespaces_ipc(o, w, &c->ipc, e) < 0 ||
			       proto_create_config_namespaces_net(o, w, &c->net, e) < 0 ||
			       proto_create_config_namespaces_cgroup(o, w, &c->cgroup, e) < 0
		       ? -1
		       : 0;
}

/* rootfs.tmpfsUpper (limits.disk): the tmpfs that holds the writable layer. */
static int decode_rootfs(const struct jval *o, struct create_req *c, struct err *e)
{
	const char *w = "config.rootfs.", *wu = "config.rootfs.tmpfsUpper.";
	const struct jval *up;

	if (proto_create_config_rootfs_merged(o, w, &c->merged, e) < 0 ||
	    proto_create_config_rootfs_overlay_options(o, w, &c->overlay_options, e) < 0 ||
	    proto_create_config_rootfs_tmpfs_upper(o, w, &up, e) < 0)
		return -1;
	if (!up)
		return 0;
	return proto_create_config_rootfs_tmpfs_upper_target(up, wu, &c->quota_target, e) < 0 ||
			       proto_create_config_rootfs_tmpfs_upper_options(
				       up, wu, &c->quota_options, e) < 0
		       ? -1
		       : 0;
}

static int decode_binds(const struct jval *a, struct create_req *c, struct err *e)
{
	char w[WHERE_MAX];
	const struct jval *o;
	size_t i;

	c->binds = xcalloc(a->n, sizeof(*c->binds));
	c->n_binds = a->n;
	for (i = 0; i < a->n; i++) {
		struct bind *b = &c->binds[i];
		snprintf(w, sizeof(w), "[%zu]", i);
		if (proto_create_config_binds_item(&a->items[i], "config.binds", w, &o, e) < 0)
			return -1;
		snprintf(w, sizeof(w), "config.binds[%zu].", i);
		if (proto_create_config_binds_source(o, w, &b->source, e) < 0 ||
		    proto_create_config_binds_target(o, w, &b->target, e) < 0 ||
		    proto_create_config_binds_readonly(o, w, &b->readonly, e) < 0)
			return -1;
	}
	return 0;
}

/* config.tmpfs: tmpfs mounts; with quotaDir, a directory of rootfs.tmpfsUpper instead. */
static int decode_tmpfs(const struct jval *a, struct create_req *c, struct err *e)
{
	char w[WHERE_MAX];
	const struct jval *o;
	size_t i;

	c->tmpfs = xcalloc(a->n, sizeof(*c->tmpfs));
	c->n_tmpfs = a->n;
	for (i = 0; i < a->n; i++) {
		struct tmpfs *t = &c->tmpfs[i];
		snprintf(w, sizeof(w), "[%zu]", i);
		if (proto_create_config_tmpfs_item(&a->items[i], "config.tmpfs", w, &o, e) < 0)
			return -1;
		snprintf(w, sizeof(w), "config.tmpfs[%zu].", i);
		if (proto_create_config_tmpfs_target(o, w, &t->target, e) < 0 ||
		    proto_create_config_tmpfs_options(o, w, &t->options, e) < 0 ||
		    proto_create_config_tmpfs_quota_dir(o, w, &t->quota_dir, e) < 0)
			return -1;
	}
	return 0;
}

/* config.roOverlays: read-only overlays, { target, options } like tmpfs. */
static int decode_ro_overlays(const struct jval *a, struct create_req *c, struct err *e)
{
	char w[WHERE_MAX];
	const struct jval *o;
	size_t i;

	c->ro_overlays = xcalloc(a->n, sizeof(*c->ro_overlays));
	c->n_ro_overlays = a->n;
	for (i = 0; i < a->n; i++) {
		struct tmpfs *t = &c->ro_overlays[i];
		snprintf(w, sizeof(w), "[%zu]", i);
		if (proto_create_config_ro_overlays_item(&a->items[i], "config.roOverlays", w, &o,
							 e) < 0)
			return -1;
		snprintf(w, sizeof(w), "config.roOverlays[%zu].", i);
		if (proto_create_config_ro_overlays_target(o, w, &t->target, e) < 0 ||
		    proto_create_config_ro_overlays_options(o, w, &t->options, e) < 0)
			return -1;
	}
	return 0;
}

/* config.net (optional): a veth pair to a network's bridge; needs namespaces.net. */
static int decode_net(const struct jval *o, struct create_req *c, struct err *e)
{
	struct net_attach *n = &c->attach;
	const char *w = "config.net.", *address, *gateway;
	long long prefix = 0, mtu = 0;
	int has_gateway;

	if (proto_create_config_net_host_veth(o, w, &n->host_veth, e) < 0 ||
	    proto_create_config_net_bridge(o, w, &n->bridge, e) < 0 ||
	    proto_create_config_net_ifname(o, w, &n->ifname, e) < 0 ||
	    proto_create_config_net_address(o, w, &address, e) < 0 ||
	    proto_create_config_net_prefix_length(o, w, &prefix, e) < 0 ||
	    proto_create_config_net_mtu(o, w, &mtu, e) < 0 ||
	    (has_gateway = proto_create_config_net_gateway(o, w, &gateway, e)) < 0)
		return -1;
	inet_pton(AF_INET, address, &n->address); /* checked: format ipv4 */
	n->has_gateway = has_gateway;
	if (has_gateway)
		inet_pton(AF_INET, gateway, &n->gateway);
	if (!c->net)
		return proto_fail(e, "config.", "net", "needs namespaces.net");
	n->prefix = prefix;
	n->mtu = mtu;
	c->attached = true;
	return 0;
}

static int decode_config(const struct jval *o, struct create_req *c, struct err *e)
{
	const char *w = "config.";
	const struct jval *ns, *uid, *gid, *rootfs, *binds, *tmpfs, *ro, *net;

	if (proto_create_config_namespaces(o, w, &ns, e) < 0 || decode_namespaces(ns, c, e) < 0 ||
	    proto_create_config_uid_map(o, w, &uid, e) < 0 ||
	    decode_idmap(uid, "uidMap", c->uid_map, &c->n_uid_map, e) < 0 ||
	    proto_create_config_gid_map(o, w, &gid, e) < 0 ||
	    decode_idmap(gid, "gidMap", c->gid_map, &c->n_gid_map, e) < 0 ||
	    proto_create_config_hostname(o, w, &c->hostname, e) < 0 ||
	    proto_create_config_rootfs(o, w, &rootfs, e) < 0 || decode_rootfs(rootfs, c, e) < 0 ||
	    proto_create_config_binds(o, w, &binds, e) < 0 || decode_binds(binds, c, e) < 0 ||
	    proto_create_config_tmpfs(o, w, &tmpfs, e) < 0 || decode_tmpfs(tmpfs, c, e) < 0 ||
	    proto_create_config_proc(o, w, &c->proc, e) < 0 ||
	    proto_create_config_dev(o, w, &c->dev, e) < 0 ||
	    proto_create_config_timens(o, w, &c->timens, e) < 0 ||
	    proto_create_config_net(o, w, &net, e) < 0 || (net && decode_net(net, c, e) < 0) ||
	    proto_create_config_ro_overlays(o, w, &ro, e) < 0 ||
	    (ro && decode_ro_overlays(ro, c, e) < 0))
		return -1;
	for (int i = 0; i < c->n_tmpfs; i++)
		if (c->tmpfs[i].quota_dir && !c->quota_target)
			return proto_fail(e, w, "tmpfs", "quotaDir needs rootfs.tmpfsUpper");
	if (c->user && (!c->n_uid_map || !c->n_gid_map))
		return proto_fail(e, w, "uidMap", "must not be empty with namespaces.user");
	if (!c->user && (c->n_uid_map || c->n_gid_map))
		return proto_fail(e, w, "uidMap", "must be empty without namespaces.user");
	return 0;
}

int proto_decode_create(const struct jval *v, struct request *r, struct err *e)
{
	const struct jval *cfg;

	if (proto_check_create(v, "", e) < 0 || proto_create_sandbox(v, "", &r->sandbox, e) < 0 ||
	    proto_create_config(v, "", &cfg, e) < 0)
		return -1;
	r->u.create.sandbox = r->sandbox;
	if (decode_config(cfg, &r->u.create, e) < 0 ||
	    proto_create_spawn(v, "", &r->u.create.first_spawn, e) < 0)
		return -1;
	return r->u.create.first_spawn ? first_spawn_check(r->u.create.first_spawn, r->sandbox, e)
				       : 0;
}
