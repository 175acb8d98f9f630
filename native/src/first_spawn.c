/*
 * first_spawn.c — a create's first spawn, held until its sandbox is ready (see first_spawn.h).
 *
 * Supervisor only. The spawn is decoded twice: once with the create, so a malformed one fails
 * the create before anything runs, and again from its copy when it runs (decoding is cheap;
 * a decoded request points into its JSON, which the create's line does not outlive).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "first_spawn.h"
#include "proto.h"
#include "report.h"
#include "spawn.h"
#include "table.h"
#include "util.h"

/* "spawn.<field>: ..." rather than "<field>: ...": the error is the create's. */
static int prefix_where(struct err *e)
{
	char msg[sizeof(e->message)];

	snprintf(msg, sizeof(msg), "spawn.%.*s", (int)sizeof(msg) - 7, e->message);
	memcpy(e->message, msg, sizeof(msg));
	return -1;
}

int first_spawn_check(const struct jval *v, const char *sandbox, struct err *e)
{
	struct request r;
	int rc = 0;

	if (proto_decode(v, &r, e) < 0)
		rc = prefix_where(e);
	else if (r.type != REQ_SPAWN)
		rc = err_msg(e, STEP_PROTOCOL, "spawn.type: must be \"spawn\"");
	else if (strcmp(r.sandbox, sandbox) != 0)
		rc = err_msg(e, STEP_PROTOCOL, "spawn.sandbox: must be the created sandbox");
	proto_free(&r);
	return rc;
}

void first_spawn_run(struct sandbox *sb)
{
	struct jval *f = sb->first_spawn;
	struct request r;
	struct err e;

	if (!f)
		return;
	sb->first_spawn = NULL;
	if (proto_decode(f, &r, &e) < 0)
		report_error(r.req, r.sandbox, r.process,
			     &e); /* checked with the create: unreachable */
	else
		spawn_from_parent(r.req, &r.u.spawn);
	proto_free(&r);
	json_drop(f);
}

/* The request number and process name of a kept (or carried) spawn request. */
static void spawn_ids(const struct jval *v, long long *req, const char **process)
{
	const struct jval *q = json_get(v, "req"), *p = json_get(v, "process");

	*req = q && q->type == J_NUM ? q->i : -1;
	*process = p && p->type == J_STR ? p->str : NULL;
}

void first_spawn_refuse(const struct jval *v, const char *sandbox, const struct err *e)
{
	const char *process;
	long long req;

	if (!v)
		return;
	spawn_ids(v, &req, &process);
	report_error(req, sandbox, process, e);
}

void first_spawn_fail(struct sandbox *sb, const struct err *e, bool destroyed)
{
	struct jval *f = sb->first_spawn;
	const char *process;
	long long req;

	if (!f)
		return;
	sb->first_spawn = NULL;
	spawn_ids(f, &req, &process);
	if (destroyed)
		report_destroyed_error(req, sb->name, process, e);
	else
		report_error(req, sb->name, process, e);
	json_drop(f);
}
