/*
 * setup.h — the steps that build a sandbox, one file per kernel resource.
 *
 * userns.c runs its _from_parent half in the supervisor; everything else runs in the init,
 * inside the new namespaces, in the order init.c lists them.
 */
#ifndef SANDKIT_SETUP_H
#define SANDKIT_SETUP_H

#include <sys/types.h>

#include "error.h"
#include "proto.h"

/* userns.c */
int userns_write_maps_from_parent(pid_t pid, const struct create_req *c, struct err *e);
int userns_become_root(struct err *e);
/* Caps on the kernel objects counted per user (/proc/sys/user/max_*) in the sandbox's userns. */
int userns_limit_counts(struct err *e);
/* In the command: pending signals and mqueue bytes well below the reaper's (see userns.c). */
int userns_limit_command(struct err *e);

/* mount.c; rootfd is an O_PATH fd of the merged root once the overlay is mounted. */
int mount_private(struct err *e);
/* limits.disk: returns an O_PATH fd of the tmpfs's upper/ directory. */
/* With limits.disk, SysV IPC of the sandbox's ipc namespace: shared memory up to the disk size. */
int quota_limit_ipc(const char *options, struct err *e);
int mount_quota(const char *target, const char *options, const struct tmpfs *t, int n,
		struct err *e);
int mount_overlay(const char *merged, const char *options, struct err *e);
int mount_open_root(const char *merged, struct err *e);
int mount_binds(int rootfd, const struct bind *binds, int n, struct err *e);
int mount_proc(int rootfd, struct err *e);
int mount_ro_overlays(int rootfd, const struct tmpfs *o, int n, struct err *e);
/* Fresh tmpfs mounts, or binds of quota tmpfs directories (tmpfs[i].quota_dir) from quota. */
int mount_tmpfs(int rootfd, const char *quota, const struct tmpfs *tmpfs, int n, struct err *e);
/* Open path inside root (never leaving it), creating it as a directory or an empty file. */
int mount_target(int rootfd, const char *path, int is_dir, enum step step, struct err *e);
/* mount(2) onto the object fd refers to, via /proc/self/fd/N; name is the target for errors. */
int mount_on_fd(const char *source, int fd, const char *name, const char *fstype,
		unsigned long flags, const char *data, enum step step, struct err *e);

/* layers.c: overlay layers under neutral names (a private tmpfs of symlinks, the working
 * directory from layers_prepare until pivot_root), so mountinfo shows no host path. */
#define OVERLAY_OPTIONS_MAX 4096 /* mount(2) copies one page of options */
int layers_prepare(const char *merged, struct err *e);
int layers_rename(const char *options, char *out, size_t size, enum step step, struct err *e);

/* dev.c */
int dev_mount(int rootfd, struct err *e);

/* pivot.c */
int pivot_to(int rootfd, struct err *e);

/* net.c */
int net_loopback_up(struct err *e);

/* uts.c */
int uts_set_hostname(const char *hostname, struct err *e);

#endif
