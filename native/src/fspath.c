/*
 * fspath.c — resolving paths inside one root without ever leaving it.
 *
 * Runs in a files worker (see fsops.h). Every lookup is openat2(root, path,
 * RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): '..' stops at the root and an absolute symlink
 * restarts at the root, as it would for a process chrooted there, and /proc magic links
 * (/proc/self/root, /proc/1/cwd) are refused. Final components are created and removed with
 * *at() calls on the resolved parent, which never follow a symlink. The root can be another
 * mount namespace's root (a sandbox's): lookups from an fd cross mounts of that tree.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "fsops.h"

/* Extra RESOLVE_* flags of the request being served (fspath_set_resolve). */
static unsigned long long resolve_extra;

void fspath_set_resolve(bool no_symlinks, bool no_xdev)
{
	resolve_extra = (no_symlinks ? RESOLVE_NO_SYMLINKS : 0) | (no_xdev ? RESOLVE_NO_XDEV : 0);
}

bool fspath_follows_symlinks(void)
{
	return !(resolve_extra & RESOLVE_NO_SYMLINKS);
}

int fspath_open(int root, const char *path, int flags, bool follow, struct err *e)
{
	struct open_how how = {
		.flags = (unsigned)(flags | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW)),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | resolve_extra,
	};
	int fd;

	if (!path[0])
		path = "/";
	do
		fd = (int)syscall(SYS_openat2, root, path, &how, sizeof(how));
	while (fd < 0 && (errno == EAGAIN || errno == EINTR));
	if (fd < 0)
		return err_sys(e, STEP_FILES_OP, "openat2", path, "openat2(%s)", path);
	return fd;
}

/* Split a copy of path into buf: its directory, a NUL, then its last component in *name
 * ("a/b/" → "a" and "b"; "/b" → "/" and "b"; "b" → "." and "b"). */
static int split(const char *path, char *buf, size_t buf_len, const char **name, struct err *e)
{
	size_t n = strlen(path);
	char *slash;

	if (n + 3 >= buf_len)
		return errno = ENAMETOOLONG, err_sys(e, STEP_FILES_OP, NULL, path, "path");
	memcpy(buf, path, n + 1);
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = '\0';
	slash = strrchr(buf, '/');
	*name = slash ? slash + 1 : buf;
	if (!**name || strcmp(*name, ".") == 0 || strcmp(*name, "..") == 0)
		return errno = EINVAL,
		       err_sys(e, STEP_FILES_OP, NULL, path, "%s: not a name", path);
	if (!slash || slash == buf) {
		size_t skip = slash ? 1 : 0;
		memmove(buf + 2, buf + skip, n - skip + 1);
		buf[0] = slash ? '/' : '.';
		buf[1] = '\0';
		*name = buf + 2;
	} else {
		*slash = '\0';
	}
	return 0;
}

/* Create every missing directory of dir, one component at a time, each under the last. */
static int make_parents(int root, const char *dir, struct err *e)
{
	char prefix[4096];
	const char *p = dir;
	size_t len = 0;
	int fd;

	while (*p) {
		const char *start = p + strspn(p, "/");
		size_t n = strcspn(start, "/");
		if (!n)
			break;
		if (len + 1 + n >= sizeof(prefix))
			return errno = ENAMETOOLONG, err_sys(e, STEP_FILES_OP, NULL, dir, "path");
		prefix[len++] = '/';
		memcpy(prefix + len, start, n);
		len += n;
		prefix[len] = '\0';
		p = start + n;
		if ((fd = fspath_open(root, prefix, O_PATH | O_DIRECTORY, true, e)) >= 0) {
			close(fd);
			continue;
		}
		if (errno != ENOENT || fspath_mkdir(root, prefix, 0755, false, e) < 0)
			return -1;
	}
	return 0;
}

int fspath_parent(int root, const char *path, char *buf, size_t buf_len, const char **name,
		  bool parents, struct err *e)
{
	if (split(path, buf, buf_len, name, e) < 0)
		return -1;
	if (parents && make_parents(root, buf, e) < 0)
		return -1;
	return fspath_open(root, buf, O_PATH | O_DIRECTORY, true, e);
}

int fspath_open_data(int root, const char *path, int flags, struct err *e)
{
	struct stat st;
	struct statfs sfs;
	char self[64];
	int fd = fspath_open(root, path, O_PATH, true, e), data;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || fstatfs(fd, &sfs) < 0) {
		err_sys(e, STEP_FILES_OP, "fstat", path, "fstat(%s)", path);
		return close(fd), -1;
	}
	if (!S_ISREG(st.st_mode) || sfs.f_type == PROC_SUPER_MAGIC || sfs.f_type == SYSFS_MAGIC) {
		close(fd);
		errno = S_ISDIR(st.st_mode) ? EISDIR : EPERM;
		return err_sys(e, STEP_FILES_OP, "open", path,
			       "%s: not a regular file of the sandbox", path);
	}
	/* Reopen the very inode checked above: no second lookup, so nothing can swap it. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	data = open(self, flags | O_CLOEXEC | O_NOCTTY);
	if (data < 0)
		err_sys(e, STEP_FILES_OP, "open", path, "open(%s)", path);
	close(fd);
	return data;
}

int fspath_mkdir(int root, const char *path, mode_t mode, bool parents, struct err *e)
{
	char buf[4096];
	const char *name;
	int dir = fspath_parent(root, path, buf, sizeof(buf), &name, parents, e), rc = 0;

	if (dir < 0)
		return -1;
	if (mkdirat(dir, name, mode) < 0 && !(parents && errno == EEXIST))
		rc = err_sys(e, STEP_FILES_OP, "mkdirat", path, "mkdir(%s)", path);
	close(dir);
	return rc;
}

/* Empty the directory dir (an fd we own), never following symlinks. */
static int remove_children(int dir, const char *path, int depth, struct err *e)
{
	DIR *d;
	struct dirent *de;
	int rc = 0, sub, fd = dup(dir);

	if (fd < 0 || !(d = fdopendir(fd)))
		return err_sys(e, STEP_FILES_OP, "fdopendir", path, "opendir(%s)", path);
	while (rc == 0 && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dir, de->d_name, 0) == 0)
			continue;
		if (errno != EISDIR || depth > 256) {
			rc = err_sys(e, STEP_FILES_OP, "unlinkat", path, "unlink(%s/%s)", path,
				     de->d_name);
			break;
		}
		sub = openat(dir, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			rc = err_sys(e, STEP_FILES_OP, "openat", path, "open(%s/%s)", path,
				     de->d_name);
		else {
			rc = remove_children(sub, path, depth + 1, e);
			close(sub);
			if (rc == 0 && unlinkat(dir, de->d_name, AT_REMOVEDIR) < 0)
				rc = err_sys(e, STEP_FILES_OP, "unlinkat", path, "rmdir(%s/%s)",
					     path, de->d_name);
		}
		rewinddir(d);
	}
	closedir(d);
	return rc;
}

int fspath_remove(int root, const char *path, bool recursive, struct err *e)
{
	char buf[4096];
	const char *name;
	int dir = fspath_parent(root, path, buf, sizeof(buf), &name, false, e), rc = 0, sub;

	if (dir < 0)
		return -1;
	if (unlinkat(dir, name, 0) == 0)
		return close(dir), 0;
	if (errno != EISDIR)
		rc = err_sys(e, STEP_FILES_OP, "unlinkat", path, "unlink(%s)", path);
	else if (recursive &&
		 (sub = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
		rc = remove_children(sub, path, 0, e);
		close(sub);
	}
	if (rc == 0 && errno == EISDIR && unlinkat(dir, name, AT_REMOVEDIR) < 0)
		rc = err_sys(e, STEP_FILES_OP, "unlinkat", path, "rmdir(%s)", path);
	close(dir);
	return rc;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t b64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = in[i] << 16 | in[i + 1] << 8 | in[i + 2];
		out[o++] = B64[v >> 18], out[o++] = B64[(v >> 12) & 63];
		out[o++] = B64[(v >> 6) & 63], out[o++] = B64[v & 63];
	}
	if (i < n) {
		unsigned v = in[i] << 16 | (i + 1 < n ? in[i + 1] << 8 : 0);
		out[o++] = B64[v >> 18], out[o++] = B64[(v >> 12) & 63];
		out[o++] = i + 1 < n ? B64[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

ssize_t b64_decode(const char *in, size_t n, unsigned char *out)
{
	size_t i, o = 0;
	unsigned v = 0;
	int bits = 0;

	for (i = 0; i < n && in[i] != '='; i++) {
		const char *p = strchr(B64, in[i]);
		if (!p || !in[i])
			return -1;
		v = v << 6 | (unsigned)(p - B64);
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[o++] = (v >> bits) & 0xff;
		}
	}
	return (ssize_t)o;
}
