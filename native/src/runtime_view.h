/*
 * runtime_view.h — what runtimes read inside a spawn (runtime_view.c): the spawn's own cgroup
 * files at /sys/fs/cgroup, a CPU affinity, /proc files that match the limits, and a time
 * namespace per sandbox.
 *
 * The supervisor turns a spawn request's "view" into a blob of tagged NUL-terminated strings
 * that rides at the end of the SPAWN payload (ctl.h); the reaper and the command read it back.
 */
#ifndef SANDKIT_RUNTIME_VIEW_H
#define SANDKIT_RUNTIME_VIEW_H

#include <stddef.h>

#include "error.h"
#include "json.h"

struct spawn_req;
struct spawn_msg;

/* Supervisor: the request's "view" (absent: none) into s->view / s->view_len. */
int runtime_view_decode(const struct jval *v, struct spawn_req *s, struct err *e);

/* Reaper, after the spawn's /proc is mounted and masked: the view's /proc files, read-only. */
int runtime_view_proc(const struct spawn_msg *s, struct err *e);

/* Command, first thing after it joined its cgroups and (cgroupns) unshared its cgroup
 * namespace: the CPU affinity, then a read-only /sys holding only the cgroup mounts. */
int runtime_view_command(const struct spawn_msg *s, struct err *e);

/* Init, before its first child: a time namespace for its children whose CLOCK_BOOTTIME and
 * CLOCK_MONOTONIC start at 0, so /proc/uptime counts from the sandbox's start. */
int runtime_view_timens(struct err *e);

#endif
