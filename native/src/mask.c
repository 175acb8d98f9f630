/*
 * mask.c — hiding /proc and /sys paths and making others read-only (Docker's masked and
 * read-only paths).
 *
 * Runs in the reaper, in the spawn's private mount namespace, right after it mounted the
 * spawn's /proc: the masks cover exactly what the command sees and vanish with the
 * namespace. The reaper has already pivoted into the sandbox's root, so a path resolves only
 * inside it; magic links (/proc/<pid>/root, /proc/<pid>/fd/N) are never followed. The masks
 * hold because the command loses CAP_SYS_ADMIN (and umount is refused by seccomp) before it
 * runs: a spawn that keeps CAP_SYS_ADMIN can unmount them.
 *
 * Every masked directory shows the same empty read-only tmpfs: the first is mounted, the
 * others are binds of it, so a spawn makes one tmpfs superblock rather than one per directory
 * (and its namespace has one fewer to tear down each). The superblock itself is read-only, so
 * a bind of it is too.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "security.h"
#include "setup.h"

/* An O_PATH fd of path; -1 with errno ENOENT when it does not exist. */
static int mask_open(const char *path)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_NO_MAGICLINKS };

	return syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
}

/* A directory's mask: the spawn's one empty tmpfs (*empty: an O_PATH fd of it, once made). */
static int mask_dir(int fd, const char *path, int *empty, struct err *e)
{
	char self[32];

	if (*empty >= 0) {
		snprintf(self, sizeof(self), "/proc/self/fd/%d", *empty);
		return mount_on_fd(self, fd, path, NULL, MS_BIND, NULL, STEP_SPAWN_MASK, e);
	}
	if (mount_on_fd("tmpfs", fd, path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			"size=4k,nr_inodes=1,mode=555", STEP_SPAWN_MASK, e) < 0)
		return -1;
	if ((*empty = mask_open(path)) < 0)
		return err_sys(e, STEP_SPAWN_MASK, "openat2", path, "open(\"%s\")", path);
	return 0;
}

static int mask_one(const char *path, int *empty, struct err *e)
{
	int fd = mask_open(path), r;
	struct stat st;

	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0 || fstat(fd, &st) < 0)
		return err_sys(e, STEP_SPAWN_MASK, "openat2", path, "open(\"%s\")", path);
	if (S_ISDIR(st.st_mode))
		r = mask_dir(fd, path, empty, e);
	else
		r = mount_on_fd("/dev/null", fd, path, NULL, MS_BIND, NULL, STEP_SPAWN_MASK, e);
	close(fd);
	return r;
}

static unsigned long locked_flags(unsigned long f)
{
	return (f & ST_NOSUID ? MS_NOSUID : 0) | (f & ST_NODEV ? MS_NODEV : 0) |
	       (f & ST_NOEXEC ? MS_NOEXEC : 0) | (f & ST_NOATIME ? MS_NOATIME : 0) |
	       (f & ST_NODIRATIME ? MS_NODIRATIME : 0) | (f & ST_RELATIME ? MS_RELATIME : 0);
}

/* Bind the path onto itself, then remount that bind read-only, repeating the flags a user
 * namespace locks (nosuid, nodev, noexec on /proc). */
static int readonly_one(const char *path, struct err *e)
{
	char self[32];
	struct statvfs sv;
	int fd = mask_open(path), r;

	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return err_sys(e, STEP_SPAWN_MASK, "openat2", path, "open(\"%s\")", path);
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	r = mount_on_fd(self, fd, path, NULL, MS_BIND | MS_REC, NULL, STEP_SPAWN_MASK, e);
	close(fd);
	if (r < 0)
		return -1;
	if ((fd = mask_open(path)) < 0 || fstatvfs(fd, &sv) < 0) {
		r = err_sys(e, STEP_SPAWN_MASK, "openat2", path, "open(\"%s\")", path);
	} else {
		r = mount_on_fd(NULL, fd, path, NULL,
				MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags(sv.f_flag), NULL,
				STEP_SPAWN_MASK, e);
	}
	if (fd >= 0)
		close(fd);
	return r;
}

int mask_apply(char *const *masked, int n_masked, char *const *readonly, int n_readonly,
	       struct err *e)
{
	int i, empty = -1, r = 0;

	for (i = 0; i < n_readonly; i++)
		if (readonly_one(readonly[i], e) < 0)
			return -1;
	for (i = 0; i < n_masked && r == 0; i++)
		r = mask_one(masked[i], &empty, e);
	if (empty >= 0)
		close(empty);
	return r;
}
