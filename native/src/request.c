/*
 * request.c — request lines from Node: framing, parsing, dispatch.
 *
 * Supervisor only. Node writes JSON.stringify(obj) + "\n" per message. A request that is
 * JSON but invalid gets an `error` reply with step "protocol"; a line that is not JSON at
 * all means the two sides disagree on the framing, which is fatal (main.c exits with 2).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "files.h"
#include "netlink.h"
#include "ports.h"
#include "proto.h"
#include "report.h"
#include "request.h"
#include "sandbox.h"
#include "spawn.h"
#include "stdio.h"
#include "usernet.h"
#include "util.h"

#define LINE_MAX_BYTES (64 << 20)
#define READ_CHUNK (64 << 10)

static char *buf;
static size_t len, cap;

static void dispatch(const struct request *r)
{
	switch (r->type) {
	case REQ_CREATE: sandbox_create_from_parent(r->req, &r->u.create); break;
	case REQ_SPAWN: spawn_from_parent(r->req, &r->u.spawn); break;
	case REQ_KILL: spawn_kill_from_parent(r->req, &r->u.kill); break;
	case REQ_DESTROY: sandbox_destroy_from_parent(r->req, r->sandbox); break;
	case REQ_FEATURES: report_features(r->req); break;
	case REQ_FS: files_open_from_parent(r->req, r->sandbox, r->u.fs.channel); break;
	case REQ_NFT: nft_request_from_parent(r->req, r->u.nft.script, r->u.nft.sandbox); break;
	case REQ_PIPE_CLOSE: stdio_pipe_close_from_parent(r->req, r->u.pipe_close.pipe); break;
	case REQ_CONNECT:
		ports_connect_from_parent(r->req, r->sandbox, r->u.connect.conn, r->u.connect.port);
		break;
	case REQ_USERNET:
		usernet_start_from_parent(r->req, r->sandbox, r->u.usernet.address,
					  r->u.usernet.prefix_length, r->u.usernet.gateway,
					  r->u.usernet.map_gateway);
		break;
	case REQ_UDP_RELAY:
		ports_udp_relay_from_parent(r->req, r->sandbox, r->u.udp_relay.relay,
					    r->u.udp_relay.port, r->u.udp_relay.host_address,
					    r->u.udp_relay.host_port);
		break;
	case REQ__COUNT: break; /* never decoded */
	}
}

static int handle_line(const char *line, size_t n)
{
	struct request r;
	struct jval v;
	struct err e;

	if (n == 0)
		return 0;
	if (json_parse(line, n, &v) < 0)
		return -1;
	if (!proto_is_node_internal(&v)) {
		if (proto_decode(&v, &r, &e) < 0)
			report_error(r.req, r.sandbox, r.process, &e);
		else
			dispatch(&r);
		proto_free(&r);
	}
	json_free(&v);
	return 0;
}

/* Handle every complete line in the buffer and keep the rest. */
static int handle_lines(void)
{
	char *start = buf, *nl;

	while ((nl = memchr(start, '\n', len - (start - buf)))) {
		if (handle_line(start, nl - start) < 0)
			return -1;
		start = nl + 1;
	}
	len -= start - buf;
	memmove(buf, start, len);
	return len > LINE_MAX_BYTES ? -1 : 0;
}

enum request_status request_read(int channel)
{
	ssize_t n;

	if (cap - len < READ_CHUNK) {
		cap = len + READ_CHUNK * 2;
		buf = xrealloc(buf, cap);
	}
	n = read(channel, buf + len, cap - len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return REQUEST_OK;
	if (n <= 0)
		return REQUEST_EOF;
	len += n;
	return handle_lines() < 0 ? REQUEST_NOT_JSON : REQUEST_OK;
}
