/*
 * mount.c — the sandbox's mounts: private propagation, the overlay root, binds, /proc, tmpfs.
 *
 * Runs in the init, inside its new mount namespace, before pivot_root. Every target inside
 * the new root is opened with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) relative to
 * the merged root and mounted on through /proc/self/fd/N, so a symlink planted in an image
 * resolves inside the sandbox and can never redirect a mount onto a host path.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "setup.h"

static int open_in_root(int rootfd, const char *path)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};

	return syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
}

int mount_private(struct err *e)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return err_sys(e, STEP_MOUNT_PRIVATE, "mount", "/",
			       "mount(\"/\", MS_REC | MS_PRIVATE)");
	return 0;
}

/* The mode= of a tmpfs option string (octal), or 0755. */
static mode_t tmpfs_mode(const char *options)
{
	const char *m = strstr(options, "mode=");

	return m && (m == options || m[-1] == ',') ? (mode_t)strtoul(m + 5, NULL, 8) & 07777 : 0755;
}

/* The quota tmpfs's directories for /tmp, /run, /dev/shm (config.tmpfs[].quotaDir), each
 * with the mode its tmpfs would have had; the umask must not narrow /tmp's 1777. */
static int quota_make_dirs(int dir, const char *target, const struct tmpfs *t, int n, struct err *e)
{
	int i;

	for (i = 0; i < n; i++) {
		if (!t[i].quota_dir)
			continue;
		if (mkdirat(dir, t[i].quota_dir, 0700) < 0 ||
		    fchmodat(dir, t[i].quota_dir, tmpfs_mode(t[i].options), 0) < 0)
			return err_sys(e, STEP_ROOTFS_QUOTA, "mkdirat", target,
				       "mkdir %s/ in \"%s\"", t[i].quota_dir, target);
	}
	return 0;
}

/* limits.disk: a size-limited tmpfs on target, holding the overlay's upper/ and work/ and the
 * directories bound on /tmp, /run and /dev/shm, so one size bounds every write. It is
 * mounted here, in the sandbox's mount namespace, so the host never sees it; after pivot_root
 * only the overlay, the binds (and the fd returned) keep it alive. Returns an O_PATH fd of upper/. */
int mount_quota(const char *target, const char *options, const struct tmpfs *t, int n,
		struct err *e)
{
	int dir, upper = -1;

	if (mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, options) < 0)
		return err_sys(e, STEP_ROOTFS_QUOTA, "mount", target,
			       "mount(\"tmpfs\", \"%s\", \"%s\")", target, options);
	if ((dir = open(target, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return err_sys(e, STEP_ROOTFS_QUOTA, "open", target, "open(\"%s\")", target);
	if (mkdirat(dir, "upper", 0755) < 0 || mkdirat(dir, "work", 0755) < 0)
		err_sys(e, STEP_ROOTFS_QUOTA, "mkdirat", target, "mkdir upper/, work/ in \"%s\"",
			target);
	else if (quota_make_dirs(dir, target, t, n, e) == 0 &&
		 (upper = openat(dir, "upper", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		err_sys(e, STEP_ROOTFS_QUOTA, "openat", target, "open(\"%s/upper\")", target);
	close(dir);
	return upper;
}

/* The size= of a tmpfs option string, in bytes (0 if none). */
static unsigned long long tmpfs_size(const char *options)
{
	const char *m = strstr(options, "size=");

	return m && (m == options || m[-1] == ',') ? strtoull(m + 5, NULL, 10) : 0;
}

static int write_sysctl(const char *name, const char *value, struct err *e)
{
	char path[64];
	int fd, r;

	snprintf(path, sizeof(path), "/proc/sys/kernel/%s", name);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT
			       ? 0
			       : err_sys(e, STEP_ROOTFS_QUOTA, "open", path, "open(\"%s\")", path);
	r = write(fd, value, strlen(value)) == (ssize_t)strlen(value) ? 0 : -1;
	if (r < 0)
		err_sys(e, STEP_ROOTFS_QUOTA, "write", path, "write \"%s\" to \"%s\"", value, path);
	close(fd);
	return r;
}

/*
 * With a disk limit, SysV IPC of the sandbox's own ipc namespace is bounded too: its shared
 * memory lives in no mount the quota covers and outlives every process (rootless, no memory
 * cgroup would count it), and the kernel's defaults allow 16 EiB of segments, 32,000 message
 * queues of 16 KiB and a billion semaphores. Shared memory in total gets the disk size; queues
 * and semaphores a few MiB of kernel memory. Written by the init (root of the namespace's
 * owner); /proc/sys is read-only to every spawn, which has no capability to raise them anyway.
 */
int quota_limit_ipc(const char *options, struct err *e)
{
	unsigned long long bytes = tmpfs_size(options);
	long page = sysconf(_SC_PAGESIZE);
	char shmmax[32], shmall[32];

	if (!bytes || page <= 0)
		return 0;
	snprintf(shmmax, sizeof(shmmax), "%llu\n", bytes);
	snprintf(shmall, sizeof(shmall), "%llu\n", bytes / (unsigned long long)page);
	if (write_sysctl("shmmax", shmmax, e) < 0 || write_sysctl("shmall", shmall, e) < 0 ||
	    write_sysctl("shmmni", "4096\n", e) < 0 || write_sysctl("msgmni", "256\n", e) < 0 ||
	    write_sysctl("sem", "32000 32000 500 128\n", e) < 0)
		return -1;
	return 0;
}

int mount_overlay(const char *merged, const char *options, struct err *e)
{
	char named[OVERLAY_OPTIONS_MAX];

	if (layers_rename(options, named, sizeof(named), STEP_ROOTFS_OVERLAY, e) < 0)
		return -1;
	/* nodev: a device node in an image layer (or an old store) opens no host device. */
	if (mount("overlay", merged, "overlay", MS_NODEV, named) < 0)
		return err_sys(e, STEP_ROOTFS_OVERLAY, "mount", merged,
			       "mount(\"overlay\", \"%s\")", merged);
	return 0;
}

int mount_open_root(const char *merged, struct err *e)
{
	int fd = open(merged, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return err_sys(e, STEP_ROOTFS_OVERLAY, "open", merged, "open(\"%s\")", merged);
	return fd;
}

int mount_on_fd(const char *source, int fd, const char *name, const char *fstype,
		unsigned long flags, const char *data, enum step step, struct err *e)
{
	char target[32];

	snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
	if (mount(source, target, fstype, flags, data) < 0)
		return err_sys(e, step, "mount", name, "mount(\"%s\", \"%s\")",
			       source ? source : "", name);
	return 0;
}

/* Create the missing component name in parent: a directory, or an empty file if it is the
 * last component of a file target. An existing entry (a race, a dangling link) is fine;
 * opening it again decides. */
static int create_entry(int parent, const char *name, int is_dir)
{
	int fd;

	if (is_dir)
		return mkdirat(parent, name, 0755) < 0 && errno != EEXIST ? -1 : 0;
	fd = openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno == EEXIST ? 0 : -1;
	close(fd);
	return 0;
}

/* Walk path from the root, creating what is missing, component by component. */
static int create_path(int rootfd, const char *path, int is_dir, enum step step, struct err *e)
{
	char prefix[ERR_PATH_MAX], name[256];
	const char *p = path, *end;
	int parent = fcntl(rootfd, F_DUPFD_CLOEXEC, 3), fd;

	while (parent >= 0) {
		while (*p == '/')
			p++;
		if (!*p)
			return parent;
		end = strchrnul(p, '/');
		if ((size_t)(end - p) >= sizeof(name) || (size_t)(end - path) >= sizeof(prefix)) {
			close(parent);
			errno = ENAMETOOLONG;
			return err_sys(e, step, "openat2", path, "open(\"%s\")", path);
		}
		memcpy(name, p, end - p);
		name[end - p] = '\0';
		memcpy(prefix, path, end - path);
		prefix[end - path] = '\0';
		p = end;
		fd = open_in_root(rootfd, prefix);
		if (fd < 0 && errno == ENOENT && create_entry(parent, name, is_dir || *p) < 0) {
			err_sys(e, step, is_dir || *p ? "mkdirat" : "openat", prefix,
				"create \"%s\" in the new root", prefix);
			close(parent);
			return -1;
		}
		if (fd < 0)
			fd = open_in_root(rootfd, prefix);
		close(parent);
		parent = fd;
	}
	return err_sys(e, step, "openat2", prefix, "open(\"%s\") in the new root", prefix);
}

int mount_target(int rootfd, const char *path, int is_dir, enum step step, struct err *e)
{
	int fd = open_in_root(rootfd, path);

	if (fd >= 0)
		return fd;
	if (errno != ENOENT)
		return err_sys(e, step, "openat2", path, "open(\"%s\") in the new root", path);
	return create_path(rootfd, path, is_dir, step, e);
}

static unsigned long locked_flags(unsigned long f)
{
	return (f & ST_NOSUID ? MS_NOSUID : 0) | (f & ST_NODEV ? MS_NODEV : 0) |
	       (f & ST_NOEXEC ? MS_NOEXEC : 0) | (f & ST_NOATIME ? MS_NOATIME : 0) |
	       (f & ST_NODIRATIME ? MS_NODIRATIME : 0) | (f & ST_RELATIME ? MS_RELATIME : 0);
}

/* Pre-5.12 kernels: remount the top of the bind read-only, repeating the flags the kernel
 * locks in a user namespace (a remount that dropped them would fail with EPERM). */
static int remount_readonly(int fd, const struct bind *b, struct err *e)
{
	struct statvfs sv;

	if (fstatvfs(fd, &sv) < 0)
		return err_sys(e, STEP_MOUNT_BIND, "fstatvfs", b->target, "statvfs(\"%s\")",
			       b->target);
	return mount_on_fd(NULL, fd, b->target, NULL,
			   MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags(sv.f_flag), NULL,
			   STEP_MOUNT_BIND, e);
}

/* Make the bind and every mount below it read-only. */
static int bind_readonly(int rootfd, const struct bind *b, struct err *e)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
	int fd = open_in_root(rootfd, b->target), r;

	if (fd < 0)
		return err_sys(e, STEP_MOUNT_BIND, "openat2", b->target, "open(\"%s\")", b->target);
	r = mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr));
	if (r < 0 && errno == ENOSYS)
		r = remount_readonly(fd, b, e);
	else if (r < 0)
		err_sys(e, STEP_MOUNT_BIND, "mount_setattr", b->target,
			"mount_setattr(\"%s\", MOUNT_ATTR_RDONLY)", b->target);
	close(fd);
	return r;
}

static int bind_one(int rootfd, const struct bind *b, struct err *e)
{
	struct stat st;
	int fd, r;

	if (stat(b->source, &st) < 0)
		return err_sys(e, STEP_MOUNT_BIND, "stat", b->source, "stat(\"%s\")", b->source);
	if ((fd = mount_target(rootfd, b->target, S_ISDIR(st.st_mode), STEP_MOUNT_BIND, e)) < 0)
		return -1;
	r = mount_on_fd(b->source, fd, b->target, NULL, MS_BIND | MS_REC, NULL, STEP_MOUNT_BIND, e);
	close(fd);
	return r < 0 || !b->readonly ? r : bind_readonly(rootfd, b, e);
}

int mount_binds(int rootfd, const struct bind *binds, int n, struct err *e)
{
	int i;

	for (i = 0; i < n; i++)
		if (bind_one(rootfd, &binds[i], e) < 0)
			return -1;
	return 0;
}

int mount_proc(int rootfd, struct err *e)
{
	int fd = mount_target(rootfd, "/proc", 1, STEP_MOUNT_PROC, e), r;

	if (fd < 0)
		return -1;
	r = mount_on_fd("proc", fd, "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL,
			STEP_MOUNT_PROC, e);
	close(fd);
	return r;
}

/* Read-only overlays of host directories (the host image's /usr): unlike a bind, each sandbox
 * gets its own overlay inodes, so a file lock taken in one sandbox is invisible to the others. */
int mount_ro_overlays(int rootfd, const struct tmpfs *o, int n, struct err *e)
{
	char named[OVERLAY_OPTIONS_MAX];
	int i, fd, r;

	for (i = 0; i < n; i++) {
		if (layers_rename(o[i].options, named, sizeof(named), STEP_MOUNT_BIND, e) < 0)
			return -1;
		if ((fd = mount_target(rootfd, o[i].target, 1, STEP_MOUNT_BIND, e)) < 0)
			return -1;
		r = mount_on_fd("overlay", fd, o[i].target, "overlay", MS_RDONLY, named,
				STEP_MOUNT_BIND, e);
		close(fd);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* A directory of the quota tmpfs (made by mount_quota, not reachable from the sandbox by
 * name) bound on fd: /tmp, /run and /dev/shm then share the disk limit. */
static int bind_quota_dir(const char *quota, const struct tmpfs *t, int fd, struct err *e)
{
	char source[32];
	int dir, src, r;

	if ((dir = open(quota, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return err_sys(e, STEP_MOUNT_TMPFS, "open", quota, "open(\"%s\")", quota);
	src = openat(dir, t->quota_dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	close(dir);
	if (src < 0)
		return err_sys(e, STEP_MOUNT_TMPFS, "openat", quota, "open(\"%s/%s\")", quota,
			       t->quota_dir);
	snprintf(source, sizeof(source), "/proc/self/fd/%d", src);
	r = mount_on_fd(source, fd, t->target, NULL, MS_BIND, NULL, STEP_MOUNT_TMPFS, e);
	close(src);
	return r;
}

int mount_tmpfs(int rootfd, const char *quota, const struct tmpfs *tmpfs, int n, struct err *e)
{
	int i, fd, r;

	for (i = 0; i < n; i++) {
		if ((fd = mount_target(rootfd, tmpfs[i].target, 1, STEP_MOUNT_TMPFS, e)) < 0)
			return -1;
		if (tmpfs[i].quota_dir)
			r = bind_quota_dir(quota, &tmpfs[i], fd, e);
		else
			r = mount_on_fd("tmpfs", fd, tmpfs[i].target, "tmpfs", MS_NOSUID | MS_NODEV,
					tmpfs[i].options, STEP_MOUNT_TMPFS, e);
		close(fd);
		if (r < 0)
			return -1;
	}
	return 0;
}
