/*
 * table.c — the supervisor's table of sandboxes and their spawns, and each sandbox's queue of
 * messages for its init.
 *
 * Supervisor only. sandbox.c (create, destroy, what inits report) and spawn.c (spawn, kill)
 * both work on this table; neither calls the other, so the call graph has no loop.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "files.h"
#include "ports.h"
#include "usernet.h"
#include "report.h"
#include "table.h"
#include "util.h"

struct sandbox *sandboxes;
static uint32_t next_spawn_id;

static bool dying(const struct sandbox *sb)
{
	return sb->failed || sb->n_destroy_reqs > 0;
}

struct sandbox *sandbox_find(const char *name, bool live)
{
	struct sandbox *sb;

	for (sb = sandboxes; sb; sb = sb->next)
		if (strcmp(sb->name, name) == 0 && !(live && dying(sb)))
			return sb;
	return NULL;
}

struct sandbox *sandbox_new(const char *name, long long req)
{
	struct sandbox *sb = xcalloc(1, sizeof(*sb));

	sb->name = xstrdup(name);
	sb->pid = -1;
	sb->ctl = -1;
	sb->upper = -1;
	sb->create_req = req;
	sb->creating = true;
	sb->last_step = STEP_SANDBOX_CLONE;
	sb->outq_tail = &sb->outq;
	sb->next = sandboxes;
	sandboxes = sb;
	return sb;
}

static void out_free(struct ctl_out *o)
{
	int i;

	for (i = 0; i < o->n_fds; i++)
		close(o->fds[i]);
	for (i = 0; i < 3; i++)
		if (o->node[i] >= 0)
			close(o->node[i]);
	free(o->process);
	free(o->msg);
	free(o);
}

/* The message went to the init: Node gets the stdio ends now, before any `spawned`. */
static void hand_over_stdio(const char *process, int *node)
{
	int i;

	for (i = 0; node && i < 3; i++)
		if (node[i] >= 0) {
			report_stdio_handle(process, i, node[i]);
			node[i] = -1;
		}
}

void sandbox_outq_clear(struct sandbox *sb)
{
	struct ctl_out *o;

	while ((o = sb->outq)) {
		sb->outq = o->next;
		out_free(o);
	}
	sb->outq_tail = &sb->outq;
}

static bool would_block(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS;
}

int sandbox_send_from_parent(struct sandbox *sb, const void *msg, size_t len, int *fds, int n_fds,
			     const char *process, int *node, enum step step, struct err *e)
{
	struct ctl_out *o;
	int i;

	if (sb->ctl < 0)
		return err_msg(e, step, "the sandbox init is gone");
	if (!sb->outq) {
		if (ctl_try_send(sb->ctl, msg, len, fds, n_fds) == 0) {
			for (i = 0; i < n_fds; i++) {
				close(fds[i]);
				fds[i] = -1;
			}
			hand_over_stdio(process, node);
			return 0;
		}
		if (!would_block(errno))
			return err_sys(e, step, "sendmsg", NULL, "sendmsg(control socket)");
	}
	/* Full (a burst of spawns, an init busy cloning): wait in line, in order. */
	o = xcalloc(1, sizeof(*o));
	o->msg = xmalloc(len);
	memcpy(o->msg, msg, len);
	o->len = len;
	o->n_fds = n_fds;
	for (i = 0; i < n_fds; i++) {
		o->fds[i] = fds[i];
		fds[i] = -1;
	}
	o->process = process ? xstrdup(process) : NULL;
	for (i = 0; i < 3; i++) {
		o->node[i] = node ? node[i] : -1;
		if (node)
			node[i] = -1;
	}
	*sb->outq_tail = o;
	sb->outq_tail = &o->next;
	return 0;
}

void sandbox_flush_from_parent(struct sandbox *sb)
{
	struct ctl_out *o;

	while ((o = sb->outq) && sb->ctl >= 0) {
		if (ctl_try_send(sb->ctl, o->msg, o->len, o->fds, o->n_fds) < 0) {
			if (!would_block(errno))
				sandbox_outq_clear(
					sb); /* the init is gone: its death ends the spawns */
			return;
		}
		if (!(sb->outq = o->next))
			sb->outq_tail = &sb->outq;
		hand_over_stdio(o->process, o->node);
		out_free(o);
	}
}

void sandbox_free(struct sandbox *sb)
{
	struct sandbox **p;

	for (p = &sandboxes; *p != sb; p = &(*p)->next)
		;
	*p = sb->next;
	while (sb->spawns)
		spawn_remove(sb->spawns);
	sandbox_outq_clear(sb);
	json_drop(sb->first_spawn);
	if (sb->ctl >= 0)
		close(sb->ctl);
	if (sb->upper >= 0)
		close(sb->upper);
	free(sb->destroy_reqs);
	files_forget(sb->name);
	usernet_forget(sb->name);
	ports_forget(sb->name);
	free(sb->name);
	free(sb);
}

uint32_t spawn_new_id(void)
{
	if (++next_spawn_id == 0) /* 0 means "the sandbox" on the control socket */
		next_spawn_id = 1;
	return next_spawn_id;
}

struct spawn *spawn_find(struct sandbox *sb, uint32_t id, const char *process)
{
	struct sandbox *s;
	struct spawn *sp;

	for (s = sb ? sb : sandboxes; s; s = sb ? NULL : s->next)
		for (sp = s->spawns; sp; sp = sp->next)
			if (process ? strcmp(sp->process, process) == 0 : sp->id == id)
				return sp;
	return NULL;
}

void spawn_add(struct sandbox *sb, uint32_t id, const char *process, long long req)
{
	struct spawn *sp = xcalloc(1, sizeof(*sp));

	sp->sandbox = sb;
	sp->process = xstrdup(process);
	sp->id = id;
	sp->req = req;
	sp->t0 = now_us();
	sp->next = sb->spawns;
	sb->spawns = sp;
}

void spawn_remove(struct spawn *sp)
{
	struct spawn **p;

	for (p = &sp->sandbox->spawns; *p != sp; p = &(*p)->next)
		;
	*p = sp->next;
	free(sp->process);
	free(sp);
}

void spawn_end_with_sandbox(struct spawn *sp, bool destroyed)
{
	struct exit_info x = { .code = -1, .signo = SIGKILL };
	struct err e;

	if (!sp->started && destroyed) {
		err_msg(&e, STEP_SPAWN_CLONE,
			"the sandbox was destroyed before the command started");
		report_destroyed_error(sp->req, sp->sandbox->name, sp->process, &e);
	} else if (!sp->started) {
		err_msg(&e, STEP_SPAWN_CLONE, "the sandbox died before the command started");
		report_error(sp->req, sp->sandbox->name, sp->process, &e);
	} else if (!destroyed) { /* the init was killed from outside under the program */
		x.wall_us = now_us() - sp->t0;
		report_exit_sandbox_died(sp->sandbox->name, sp->process, &x);
	} else {
		x.wall_us = now_us() - sp->t0;
		report_exit(sp->sandbox->name, sp->process, &x);
	}
	spawn_remove(sp);
}
