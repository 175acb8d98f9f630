/*
 * dev.c — a minimal /dev for the sandbox.
 *
 * Runs in the init, before pivot_root. /dev is a fresh tmpfs; the few harmless device nodes
 * are bind-mounted from the host (a user namespace cannot mknod), devpts is a new instance
 * so the sandbox sees only its own ptys. Everything below /dev is on our own new tmpfs, so
 * plain *at() calls relative to it are safe.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "setup.h"
#include "util.h"

/* The kernel's ptys are one pool for every devpts instance but the host's (kernel.pty.max
 * less kernel.pty.reserve, 3072 by default): without a max= one sandbox takes them all. */
#define DEV_PTYS_MAX "64"

static const char *const devices[] = { "null", "zero", "full", "random", "urandom", "tty" };

static const struct {
	const char *name, *target;
} links[] = {
	{ "ptmx", "pts/ptmx" },		 { "fd", "/proc/self/fd" },
	{ "stdin", "/proc/self/fd/0" },	 { "stdout", "/proc/self/fd/1" },
	{ "stderr", "/proc/self/fd/2" },
};

static int bind_device(int devfd, const char *name, struct err *e)
{
	char source[32], target[32];
	int fd, r;

	snprintf(source, sizeof(source), "/dev/%s", name);
	snprintf(target, sizeof(target), "/dev/%s", name);
	if (access(source, F_OK) < 0 && errno == ENOENT)
		return 0; /* the host has no such device; the sandbox gets none either */
	fd = openat(devfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
	if (fd < 0)
		return err_sys(e, STEP_MOUNT_DEV, "openat", target, "create \"%s\"", target);
	r = mount_on_fd(source, fd, target, NULL, MS_BIND, NULL, STEP_MOUNT_DEV, e);
	close(fd);
	return r;
}

/* mkdir name in devfd and mount a fresh filesystem there. */
static int mount_sub(int devfd, const char *name, const char *fstype, unsigned long flags,
		     const char *data, struct err *e)
{
	char target[32];
	int fd, r;

	snprintf(target, sizeof(target), "/dev/%s", name);
	if (mkdirat(devfd, name, 0755) < 0)
		return err_sys(e, STEP_MOUNT_DEV, "mkdirat", target, "mkdir(\"%s\")", target);
	fd = openat(devfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_sys(e, STEP_MOUNT_DEV, "openat", target, "open(\"%s\")", target);
	r = mount_on_fd(fstype, fd, target, fstype, flags, data, STEP_MOUNT_DEV, e);
	close(fd);
	return r;
}

static int dev_fill(int devfd, struct err *e)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(devices); i++)
		if (bind_device(devfd, devices[i], e) < 0)
			return -1;
	if (mount_sub(devfd, "pts", "devpts", MS_NOSUID | MS_NOEXEC,
		      "newinstance,ptmxmode=0666,mode=0620,max=" DEV_PTYS_MAX, e) < 0 ||
	    mount_sub(devfd, "shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", e) < 0)
		return -1;
	for (i = 0; i < ARRAY_LEN(links); i++)
		if (symlinkat(links[i].target, devfd, links[i].name) < 0)
			return err_sys(e, STEP_MOUNT_DEV, "symlinkat", links[i].name,
				       "symlink(\"%s\", \"/dev/%s\")", links[i].target,
				       links[i].name);
	return 0;
}

int dev_mount(int rootfd, struct err *e)
{
	int fd = mount_target(rootfd, "/dev", 1, STEP_MOUNT_DEV, e), r;

	if (fd < 0)
		return -1;
	/* size= bounds blocks only: without nr_inodes, empty files (half the RAM's pages of
	 * inodes by default) would take kernel memory no disk limit counts. */
	r = mount_on_fd("tmpfs", fd, "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC,
			"mode=0755,size=64k,nr_inodes=256", STEP_MOUNT_DEV, e);
	close(fd);
	/* Reopen: the fd above still names the directory under the new tmpfs. */
	if (r < 0 || (fd = mount_target(rootfd, "/dev", 1, STEP_MOUNT_DEV, e)) < 0)
		return -1;
	r = dev_fill(fd, e);
	close(fd);
	return r;
}
