/*
 * proto_dispatch.c — strict decoding of requests from Node: the type, then its decoder.
 *
 * Supervisor only. Every request is checked completely before anything runs: an unknown
 * type or field, a missing field, a wrong type or a value out of range is a protocol error
 * naming the field (e.g. "config.binds[1].target: must be an absolute path"). The keys and
 * checks come from spec/protocol.json (proto_gen.c); the small requests are decoded here,
 * create, spawn and fs in their own files.
 */
#include <stdlib.h>
#include <string.h>

#include "proto_decoders.h"
#include "proto_gen.h"
#include "util.h"

static int decode_kill(const struct jval *v, struct request *r, struct err *e)
{
	long long signo = 0;

	if (proto_check_kill(v, "", e) < 0 || proto_kill_process(v, "", &r->process, e) < 0 ||
	    proto_kill_signal(v, "", &signo, e) < 0)
		return -1;
	r->u.kill.process = r->process;
	r->u.kill.signo = signo;
	return 0;
}

static int decode_destroy(const struct jval *v, struct request *r, struct err *e)
{
	return proto_check_destroy(v, "", e) < 0 || proto_destroy_sandbox(v, "", &r->sandbox, e) < 0
		       ? -1
		       : 0;
}

static int decode_nft(const struct jval *v, struct request *r, struct err *e)
{
	return proto_check_nft(v, "", e) < 0 || proto_nft_script(v, "", &r->u.nft.script, e) < 0 ||
			       proto_nft_sandbox(v, "", &r->u.nft.sandbox, e) < 0
		       ? -1
		       : 0;
}

static int decode_usernet(const struct jval *v, struct request *r, struct err *e)
{
	struct usernet_req *u = &r->u.usernet;
	long long prefix = 0;

	if (proto_check_usernet(v, "", e) < 0 || proto_usernet_sandbox(v, "", &r->sandbox, e) < 0 ||
	    proto_usernet_address(v, "", &u->address, e) < 0 ||
	    proto_usernet_prefix_length(v, "", &prefix, e) < 0 ||
	    proto_usernet_gateway(v, "", &u->gateway, e) < 0 ||
	    proto_usernet_map_gateway(v, "", &u->map_gateway, e) < 0)
		return -1;
	u->prefix_length = (int)prefix;
	return 0;
}

static int decode_udp_relay(const struct jval *v, struct request *r, struct err *e)
{
	struct udp_relay_req *u = &r->u.udp_relay;
	long long port = 0, host_port = 0;

	if (proto_check_udp_relay(v, "", e) < 0 ||
	    proto_udp_relay_sandbox(v, "", &r->sandbox, e) < 0 ||
	    proto_udp_relay_relay(v, "", &u->relay, e) < 0 ||
	    proto_udp_relay_port(v, "", &port, e) < 0 ||
	    proto_udp_relay_host_address(v, "", &u->host_address, e) < 0 ||
	    proto_udp_relay_host_port(v, "", &host_port, e) < 0)
		return -1;
	u->port = (int)port;
	u->host_port = (int)host_port;
	return 0;
}

static int decode_pipe_close(const struct jval *v, struct request *r, struct err *e)
{
	return proto_check_pipe_close(v, "", e) < 0 ||
			       proto_pipe_close_pipe(v, "", &r->u.pipe_close.pipe, e) < 0
		       ? -1
		       : 0;
}

static int decode_connect(const struct jval *v, struct request *r, struct err *e)
{
	long long port = 0;

	if (proto_check_connect(v, "", e) < 0 || proto_connect_sandbox(v, "", &r->sandbox, e) < 0 ||
	    proto_connect_conn(v, "", &r->u.connect.conn, e) < 0 ||
	    proto_connect_port(v, "", &port, e) < 0)
		return -1;
	r->u.connect.port = (int)port;
	return 0;
}

static int decode_features(const struct jval *v, struct request *r, struct err *e)
{
	(void)r;
	return proto_check_features(v, "", e);
}

typedef int (*decoder)(const struct jval *, struct request *, struct err *);

/* One per request type of the spec: a type added there without a decoder fails to build. */
static const decoder decoders[] = {
	[REQ_CREATE] = proto_decode_create,
	[REQ_SPAWN] = proto_decode_spawn,
	[REQ_KILL] = decode_kill,
	[REQ_DESTROY] = decode_destroy,
	[REQ_FEATURES] = decode_features,
	[REQ_FS] = proto_decode_fs,
	[REQ_NFT] = decode_nft,
	[REQ_PIPE_CLOSE] = decode_pipe_close,
	[REQ_CONNECT] = decode_connect,
	[REQ_USERNET] = decode_usernet,
	[REQ_UDP_RELAY] = decode_udp_relay,
};
_Static_assert(ARRAY_LEN(decoders) == REQ__COUNT, "a request type of the spec has no decoder");

int proto_decode(const struct jval *v, struct request *r, struct err *e)
{
	const struct jval *req = json_get(v, "req");
	const char *type;
	int i;

	memset(r, 0, sizeof(*r));
	r->req = req && req->type == J_NUM && req->is_int ? req->i : -1;
	if (v->type != J_OBJ)
		return err_msg(e, STEP_PROTOCOL, "request: must be an object");
	if (proto_request_type(v, "", &type, e) < 0 || proto_request_req(v, "", &r->req, e) < 0)
		return -1;
	for (i = 0; i < REQ__COUNT; i++)
		if (strcmp(type, proto_request_names[i]) == 0) {
			r->type = i;
			return decoders[i](v, r, e);
		}
	return err_msg(e, STEP_PROTOCOL, "type: unknown request type \"%.64s\"", type);
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
		free(r->u.spawn.view);
		free(r->u.spawn.readonly);
	}
	memset(&r->u, 0, sizeof(r->u));
}

bool proto_is_node_internal(const struct jval *v)
{
	const struct jval *cmd = json_get(v, "cmd");

	return cmd && cmd->type == J_STR && strncmp(cmd->str, "NODE_", 5) == 0;
}
