/*
 * proto_spawn.c — decoding a `spawn` request.
 *
 * Supervisor only. Keys, types, ranges and formats come from spec/protocol.json through
 * proto_gen.c; what is left here is filling struct spawn_req and the rules between fields
 * (which stdio entries suit which fd, soft <= hard, a non-empty argv[0]).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "proto_decoders.h"
#include "proto_gen.h"
#include "pty.h"
#include "runtime_view.h"
#include "security.h"
#include "util.h"

typedef int (*string_item)(const struct jval *, const char *, const char *, const char **,
			   struct err *);

/* A NULL-terminated array of the strings of a, each checked by item. */
static const char **strings(const struct jval *a, const char *where, string_item item, int *n,
			    struct err *e)
{
	const char **out = xcalloc(a->n + 1, sizeof(char *));
	char w[WHERE_MAX];
	size_t i;

	*n = a->n;
	for (i = 0; i < a->n; i++) {
		snprintf(w, sizeof(w), "%s[%zu]", where, i);
		if (item(&a->items[i], w, "", &out[i], e) < 0)
			break;
	}
	return out;
}

/* out stays the caller's to free, also on -1. */
static int get_strings(const struct jval *a, const char *where, string_item item, const char ***out,
		       int *n, struct err *e)
{
	int i;

	*out = strings(a, where, item, n, e);
	for (i = 0; i < *n; i++)
		if (!(*out)[i])
			return -1;
	return 0;
}

static int decode_ids(const struct jval *v, struct spawn_req *s, struct err *e)
{
	const struct jval *a;
	long long id = 0;
	char w[WHERE_MAX];
	size_t i;

	if (proto_spawn_uid(v, "", &id, e) < 0)
		return -1;
	s->uid = id;
	if (proto_spawn_gid(v, "", &id, e) < 0)
		return -1;
	s->gid = id;
	if (proto_spawn_groups(v, "", &a, e) < 0)
		return -1;
	s->groups = xcalloc(a->n, sizeof(gid_t));
	s->n_groups = a->n;
	for (i = 0; i < a->n; i++) {
		snprintf(w, sizeof(w), "groups[%zu]", i);
		if (proto_spawn_groups_item(&a->items[i], w, "", &id, e) < 0)
			return -1;
		s->groups[i] = id;
	}
	return 0;
}

/* An object entry: {"path", "?append", "?limit"} (a file inside the sandbox), {"memfd"} (stdin
 * only: a host file copied into a sealed memfd) or {"pipe"} (a named pipe's end). */
static int decode_stdio_object(const struct jval *o, int fd, struct spawn_req *s, struct err *e)
{
	char where[16];
	long long limit = 0;

	snprintf(where, sizeof(where), "stdio[%d].", fd);
	if (json_get(o, "path")) {
		s->stdio[fd] = STDIO_PATH;
		if (proto_check_stdio_path(o, where, e) < 0 ||
		    proto_stdio_path_path(o, where, &s->stdio_path[fd], e) < 0 ||
		    proto_stdio_path_append(o, where, &s->stdio_append[fd], e) < 0 ||
		    proto_stdio_path_limit(o, where, &limit, e) < 0)
			return -1;
		if (fd == 0 && (s->stdio_append[fd] || limit))
			return proto_fail(e, where, "path",
					  "append and limit are for stdout and stderr");
		s->stdio_limit[fd] = limit;
		return 0;
	}
	if (json_get(o, "memfd")) {
		s->stdio[fd] = STDIO_MEMFD;
		if (proto_check_stdio_memfd(o, where, e) < 0 ||
		    proto_stdio_memfd_memfd(o, where, &s->stdio_path[fd], e) < 0)
			return -1;
		return fd == 0 ? 0 : proto_fail(e, where, "memfd", "is for stdin only");
	}
	s->stdio[fd] = STDIO_LINK;
	return proto_check_stdio_pipe(o, where, e) < 0 ||
			       proto_stdio_pipe_pipe(o, where, &s->stdio_path[fd], e) < 0
		       ? -1
		       : 0;
}

static int decode_stdio(const struct jval *v, struct spawn_req *s, struct err *e)
{
	const struct jval *a;
	long long limit = 0;
	size_t i;

	if (proto_spawn_stdio(v, "", &a, e) < 0)
		return -1;
	for (i = 0; i < 3; i++) {
		const struct jval *k = &a->items[i];
		if (k->type == J_STR && strcmp(k->str, "pipe") == 0)
			s->stdio[i] = STDIO_PIPE;
		else if (k->type == J_STR && strcmp(k->str, "null") == 0)
			s->stdio[i] = STDIO_NULL;
		else if (k->type == J_OBJ && decode_stdio_object(k, i, s, e) < 0)
			return -1;
		else if (k->type != J_OBJ)
			return proto_fail(e, "", "stdio",
					  "entries must be \"pipe\", \"null\" or an object");
	}
	if (proto_spawn_output_limit(v, "", &limit, e) < 0)
		return -1;
	s->output_limit = limit;
	return 0;
}

static int decode_cgroup(const struct jval *v, struct spawn_req *s, struct err *e)
{
	const struct jval *a;

	if (proto_spawn_cgroup(v, "", &s->cgroup, e) < 0 ||
	    proto_spawn_memory_cgroup(v, "", &s->memory_cgroup, e) < 0 ||
	    proto_spawn_cgroup_procs(v, "", &a, e) < 0 ||
	    get_strings(a, "cgroupProcs", proto_spawn_cgroup_procs_item, &s->cgroup_procs,
			&s->n_cgroup_procs, e) < 0)
		return -1;
	return proto_spawn_cgroupns(v, "", &s->cgroupns, e) < 0 ? -1 : 0;
}

static const struct {
	const char *name;
	int resource;
} rlimit_names[] = {
	{ "core", RLIMIT_CORE },   { "fsize", RLIMIT_FSIZE }, { "nofile", RLIMIT_NOFILE },
	{ "stack", RLIMIT_STACK }, { "cpu", RLIMIT_CPU },     { "as", RLIMIT_AS },
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

static int decode_rlimit(const struct jval *v, const char *w, struct spawn_rlimit *out,
			 struct err *e)
{
	long long soft = 0, hard = 0;
	const struct jval *t;
	const char *name;

	if (proto_rlimit(v, w, "", &t, e) < 0 ||
	    proto_rlimit_0(&t->items[0], w, "", &name, e) < 0 ||
	    proto_rlimit_1(&t->items[1], w, "[1]", &soft, e) < 0 ||
	    proto_rlimit_2(&t->items[2], w, "[2]", &hard, e) < 0)
		return -1;
	if (soft > hard)
		return proto_fail(e, w, "", "soft limit is above the hard limit");
	if ((out->resource = rlimit_resource(name)) < 0) /* the spec's enum and this table differ */
		return proto_fail(e, w, "[0]", "has no resource number");
	out->soft = soft;
	out->hard = hard;
	return 0;
}

static int decode_rlimits(const struct jval *v, struct spawn_req *s, struct err *e)
{
	const struct jval *a;
	char w[WHERE_MAX];
	size_t i;

	if (proto_spawn_rlimits(v, "", &a, e) < 0)
		return -1;
	for (i = 0; i < a->n; i++) {
		snprintf(w, sizeof(w), "rlimits[%zu]", i);
		if (decode_rlimit(&a->items[i], w, &s->rlimits[i], e) < 0)
			return -1;
	}
	s->n_rlimits = a->n;
	return 0;
}

static int decode_masks(const struct jval *v, struct spawn_req *s, struct err *e)
{
	const struct jval *m, *masked, *ro;

	if (proto_spawn_masks(v, "", &m, e) < 0)
		return -1;
	if (!m)
		return 0;
	if (proto_spawn_masks_masked_paths(m, "masks.", &masked, e) < 0 ||
	    get_strings(masked, "masks.maskedPaths", proto_spawn_masks_masked_paths_item,
			&s->masked, &s->n_masked, e) < 0 ||
	    proto_spawn_masks_readonly_paths(m, "masks.", &ro, e) < 0 ||
	    get_strings(ro, "masks.readonlyPaths", proto_spawn_masks_readonly_paths_item,
			&s->readonly, &s->n_readonly, e) < 0)
		return -1;
	return 0;
}

static int decode_security(const struct jval *v, struct spawn_req *s, struct err *e)
{
	const struct jval *o, *caps;
	const char *w = "security.", *name, *seccomp;
	char wi[WHERE_MAX];
	size_t i;
	int r;

	if (proto_spawn_security(v, "", &o, e) < 0)
		return -1;
	if (!o)
		return 0;
	if (proto_spawn_security_no_new_privs(o, w, &s->no_new_privs, e) < 0 ||
	    proto_spawn_security_capabilities(o, w, &caps, e) < 0)
		return -1;
	for (i = 0; i < caps->n; i++) {
		snprintf(wi, sizeof(wi), "security.capabilities[%zu]", i);
		if (proto_spawn_security_capabilities_item(&caps->items[i], wi, "", &name, e) < 0)
			return -1;
		s->caps_keep |= 1ULL << caps_number(name);
	}
	s->has_security = true;
	if ((r = proto_spawn_security_seccomp(o, w, &seccomp, e)) <= 0)
		return r;
	return seccomp_decode_from_parent(seccomp, &s->seccomp, &s->seccomp_len, e);
}

int proto_decode_spawn(const struct jval *v, struct request *r, struct err *e)
{
	struct spawn_req *s = &r->u.spawn;
	const struct jval *argv, *env;

	if (proto_check_spawn(v, "", e) < 0 || proto_spawn_sandbox(v, "", &r->sandbox, e) < 0 ||
	    proto_spawn_process(v, "", &r->process, e) < 0 ||
	    proto_spawn_argv(v, "", &argv, e) < 0 ||
	    get_strings(argv, "argv", proto_spawn_argv_item, &s->argv, &s->argc, e) < 0 ||
	    proto_spawn_env(v, "", &env, e) < 0 ||
	    get_strings(env, "env", proto_spawn_env_item, &s->env, &s->envc, e) < 0 ||
	    proto_spawn_cwd(v, "", &s->cwd, e) < 0 || decode_ids(v, s, e) < 0 ||
	    decode_stdio(v, s, e) < 0 || pty_decode_from_parent(v, s, e) < 0 ||
	    decode_cgroup(v, s, e) < 0 || decode_rlimits(v, s, e) < 0 ||
	    decode_security(v, s, e) < 0 || decode_masks(v, s, e) < 0 ||
	    runtime_view_decode(v, s, e) < 0)
		return -1;
	if (s->argc == 0 || !s->argv[0][0])
		return proto_fail(e, "", "argv", "must have a non-empty argv[0]");
	s->sandbox = r->sandbox;
	s->process = r->process;
	return 0;
}
