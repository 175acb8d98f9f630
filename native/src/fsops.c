/*
 * fsops.c — the files channel: one request per line, answered in order.
 *
 * Runs in a files worker (a child of the supervisor, see files.c) or in `sandkit-helper
 * fsops <dir>`. A request is one JSON line; `write` is followed by exactly `size` raw bytes.
 * A reply is one JSON line, {"ok":true,...} or {"ok":false,"syscall",...}; the reply to
 * `read` is followed by exactly `size` raw bytes. Paths resolve inside the root (fspath.c).
 * A files worker has joined its sandbox's user namespace (files.c), and each request names
 * the sandbox user it acts as (`as`): the worker takes that user's fsuid, fsgid and groups,
 * and keeps its capabilities (those of the sandbox's root) effective only for uid 0, so a
 * request can do what that user could do inside, never more. Requests from the SDK also ask
 * for no symlink following and no mount crossing unless the caller opted in.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fsops.h"
#include "json.h"
#include "util.h"

#define LINE_MAX_BYTES (256 * 1024)
#define GROUPS_MAX 256
#define XATTR_LIST_MAX_BYTES 65536
#define LIST_BATCH_BYTES (64 * 1024)
#define XATTR_VALUE_MAX_BYTES 65536

struct reader {
	int fd;
	char *buf;
	size_t start, end, cap;
};

struct ctx {
	int root, out;
	struct reader *in;
	const struct jval *req;
	struct jbuf reply;   /* fields of a successful reply */
	char path_buf[8192]; /* a symlink's target being followed */
	bool write_consumed; /* op_write read its data (even if it then failed) */
};

/* The next line (without '\n'), or NULL on EOF or an over-long line. */
static char *read_line(struct reader *r, size_t *len)
{
	char *nl;
	ssize_t n;

	for (;;) {
		nl = memchr(r->buf + r->start, '\n', r->end - r->start);
		if (nl) {
			char *line = r->buf + r->start;
			*nl = '\0';
			*len = nl - line;
			r->start = nl + 1 - r->buf;
			return line;
		}
		if (r->start > 0) {
			memmove(r->buf, r->buf + r->start, r->end - r->start);
			r->end -= r->start;
			r->start = 0;
		}
		if (r->end == r->cap)
			return NULL;
		n = read(r->fd, r->buf + r->end, r->cap - r->end);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		r->end += n;
	}
}

/* Move n bytes of the stream to fd (or drop them when fd < 0). Returns -1 on a short stream;
 * a failing write is remembered in *werr and the rest is still consumed. */
static int read_into(struct reader *r, size_t n, int fd, int *werr)
{
	while (n > 0) {
		size_t k;
		ssize_t got;

		if (r->start == r->end) {
			r->start = r->end = 0;
			got = read(r->fd, r->buf, r->cap < n ? r->cap : n);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0)
				return -1;
			r->end = got;
		}
		k = r->end - r->start < n ? r->end - r->start : n;
		if (fd >= 0 && !*werr && write_full(fd, r->buf + r->start, k) < 0)
			*werr = errno;
		r->start += k;
		n -= k;
	}
	return 0;
}

static const char *type_name(mode_t m)
{
	return S_ISREG(m)    ? "file"
	       : S_ISDIR(m)  ? "dir"
	       : S_ISLNK(m)  ? "symlink"
	       : S_ISCHR(m)  ? "char"
	       : S_ISBLK(m)  ? "block"
	       : S_ISFIFO(m) ? "fifo"
			     : "socket";
}

static void put_stat(struct jbuf *b, const struct stat *st)
{
	jb_kstr(b, "type", type_name(st->st_mode));
	jb_kint(b, "mode", st->st_mode & 07777);
	jb_kint(b, "uid", st->st_uid);
	jb_kint(b, "gid", st->st_gid);
	jb_kint(b, "size", st->st_size);
	jb_kint(b, "mtimeMs", (long long)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000);
	jb_kint(b, "ino", (long long)st->st_ino);
	jb_kint(b, "nlink", (long long)st->st_nlink);
	jb_kint(b, "rdevMajor", major(st->st_rdev));
	jb_kint(b, "rdevMinor", minor(st->st_rdev));
}

static const char *str_field(const struct ctx *c, const char *key)
{
	const struct jval *v = json_get(c->req, key);
	return v && v->type == J_STR ? v->str : NULL;
}

static long long int_field(const struct ctx *c, const char *key, long long dflt)
{
	const struct jval *v = json_get(c->req, key);
	return v && v->type == J_NUM && v->is_int ? v->i : dflt;
}

static bool bool_field(const struct ctx *c, const char *key)
{
	const struct jval *v = json_get(c->req, key);
	return v && v->type == J_BOOL && v->b;
}

/* Effective capabilities: all the permitted ones (acting as the sandbox's root) or none. */
static int set_effective_caps(bool all, struct err *e)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) < 0)
		return err_sys(e, STEP_FILES_OP, "capget", NULL, "capget()");
	d[0].effective = all ? d[0].permitted : 0;
	d[1].effective = all ? d[1].permitted : 0;
	if (syscall(SYS_capset, &h, d) < 0)
		return err_sys(e, STEP_FILES_OP, "capset", NULL, "capset()");
	return 0;
}

static bool id_field(const struct jval *obj, const char *key, unsigned *out)
{
	const struct jval *v = json_get(obj, key);

	if (!v || v->type != J_NUM || !v->is_int || v->i < 0 || v->i > 0xfffffffeLL)
		return false;
	*out = (unsigned)v->i;
	return true;
}

/* Act as `as` ({uid, gid, groups}, ids as seen inside the sandbox) from now on. An id the
 * sandbox does not map is refused (EINVAL). Where setgroups is denied (unprivileged user
 * namespaces) the inherited groups stay, as they do for the sandbox's own programs. */
static int become(const struct jval *as, struct err *e)
{
	const struct jval *gv = json_get(as, "groups");
	gid_t groups[GROUPS_MAX];
	unsigned uid, gid, g;
	size_t n = 0, i;

	if (as->type != J_OBJ || !id_field(as, "uid", &uid) || !id_field(as, "gid", &gid))
		return errno = EINVAL,
		       err_sys(e, STEP_FILES_OP, NULL, NULL, "as: {uid, gid, groups} needed");
	if (gv && gv->type == J_ARR) {
		if (gv->n > GROUPS_MAX)
			return errno = EINVAL, err_sys(e, STEP_FILES_OP, NULL, NULL,
						       "as: more than %d groups", GROUPS_MAX);
		for (i = 0; i < gv->n; i++) {
			const struct jval *it = &gv->items[i];
			if (it->type != J_NUM || !it->is_int || it->i < 0 || it->i > 0xfffffffeLL)
				return errno = EINVAL,
				       err_sys(e, STEP_FILES_OP, NULL, NULL, "as: bad group");
			groups[n++] = (gid_t)it->i;
		}
	}
	if (set_effective_caps(true, e) < 0)
		return -1;
	if (setgroups(n, groups) < 0) {
		bool only_gid = true;
		for (i = 0; i < n; i++)
			only_gid = only_gid && groups[i] == gid;
		if (errno != EPERM || !only_gid)
			return err_sys(e, STEP_FILES_OP, "setgroups", NULL,
				       "setgroups() for uid %u", uid);
	}
	setfsgid(gid);
	if ((g = (unsigned)setfsgid((gid_t)-1)) != gid)
		return errno = EINVAL, err_sys(e, STEP_FILES_OP, "setfsgid", NULL,
					       "gid %u is not mapped in the sandbox", gid);
	setfsuid(uid);
	if ((unsigned)setfsuid((uid_t)-1) != uid)
		return errno = EINVAL, err_sys(e, STEP_FILES_OP, "setfsuid", NULL,
					       "uid %u is not mapped in the sandbox", uid);
	return uid == 0 ? 0 : set_effective_caps(false, e);
}

static int op_stat(struct ctx *c, const char *path, struct err *e)
{
	struct stat st;
	int fd = fspath_open(c->root, path, O_PATH, bool_field(c, "follow"), e), rc;

	if (fd < 0)
		return -1;
	rc = fstat(fd, &st) < 0 ? err_sys(e, STEP_FILES_OP, "fstat", path, "stat(%s)", path) : 0;
	if (rc == 0)
		put_stat(&c->reply, &st);
	close(fd);
	return rc;
}

/* A listing goes out in batches of at most LIST_BATCH_BYTES, each its own reply line
 * ({"ok":true,"more":true,"entries":[…]}), so no line grows with the directory; the last has
 * no "more", and "truncated":true when `max` entries were sent and more remained. */
static void list_flush(struct ctx *c, struct jbuf *b, bool more, bool truncated)
{
	jb_raw(b, "]");
	if (more)
		jb_raw(b, ",\"more\":true");
	if (truncated)
		jb_raw(b, ",\"truncated\":true");
	jb_raw(b, "}\n");
	write_full(c->out, b->p, b->len);
	b->len = 0;
	if (more)
		jb_raw(b, "{\"ok\":true,\"entries\":[");
}

static int op_list(struct ctx *c, const char *path, struct err *e)
{
	int fd = fspath_open(c->root, path, O_RDONLY | O_DIRECTORY, true, e);
	long long max = int_field(c, "max", -1), count = 0;
	struct jbuf b = { NULL, 0, 0 };
	struct dirent *de;
	struct stat st;
	char target[4096];
	bool first = true, truncated = false;
	ssize_t n;
	DIR *d;

	if (fd < 0)
		return -1;
	if (!(d = fdopendir(fd)))
		return close(fd), err_sys(e, STEP_FILES_OP, "fdopendir", path, "opendir(%s)", path);
	jb_raw(&b, "{\"ok\":true,\"entries\":[");
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (max >= 0 && count >= max) {
			truncated = true;
			break;
		}
		if (b.len >= LIST_BATCH_BYTES) {
			list_flush(c, &b, true, false);
			first = true;
		}
		jb_raw(&b, first ? "{" : ",{");
		first = false;
		jb_kstr(&b, "name", de->d_name);
		put_stat(&b, &st);
		if (S_ISLNK(st.st_mode) &&
		    (n = readlinkat(fd, de->d_name, target, sizeof(target) - 1)) >= 0) {
			target[n] = '\0';
			jb_kstr(&b, "target", target);
		}
		jb_raw(&b, "}");
		count++;
	}
	list_flush(c, &b, false, truncated);
	jb_free(&b);
	closedir(d);
	return 1; /* already answered */
}

static int op_readlink(struct ctx *c, const char *path, struct err *e)
{
	char target[4096];
	int fd = fspath_open(c->root, path, O_PATH, false, e);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = readlinkat(fd, "", target, sizeof(target) - 1);
	close(fd);
	if (n < 0)
		return err_sys(e, STEP_FILES_OP, "readlinkat", path, "readlink(%s)", path);
	target[n] = '\0';
	jb_kstr(&c->reply, "target", target);
	return 0;
}

/* A read's reply goes out here, followed by the data: size is fixed before the first byte. */
static int op_read(struct ctx *c, const char *path, struct err *e)
{
	long long max = int_field(c, "max", -1);
	char head[96], buf[65536];
	struct stat st;
	off_t left;
	int fd = fspath_open_data(c->root, path, O_RDONLY, e);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0)
		return close(fd), err_sys(e, STEP_FILES_OP, "fstat", path, "stat(%s)", path);
	if (max >= 0 && st.st_size > max) {
		close(fd);
		errno = EFBIG;
		return err_sys(e, STEP_FILES_OP, "read", path, "%s: larger than %lld bytes", path,
			       max);
	}
	snprintf(head, sizeof(head), "{\"ok\":true,\"size\":%lld}\n", (long long)st.st_size);
	write_full(c->out, head, strlen(head));
	for (left = st.st_size; left > 0;) {
		ssize_t n = read(fd, buf, (size_t)left < sizeof(buf) ? (size_t)left : sizeof(buf));
		if (n <= 0) { /* the file shrank: keep the promised size */
			memset(buf, 0, sizeof(buf));
			n = (size_t)left < sizeof(buf) ? left : (off_t)sizeof(buf);
		}
		if (write_full(c->out, buf, n) < 0)
			break;
		left -= n;
	}
	close(fd);
	return 1; /* already answered */
}

/* Open for writing: the existing regular file, or a new one made with O_EXCL under parent.
 * A dangling symlink is followed the way open(O_CREAT) would, but inside the root: its
 * target (relative to the link's directory, or to the root when absolute) is created. */
static int open_for_write(struct ctx *c, const char *path, mode_t mode, struct err *e)
{
	char buf[4096], target[4096], next[8192];
	const char *name;
	int flags = O_WRONLY | (bool_field(c, "append") ? O_APPEND : O_TRUNC), dir, fd, hops;
	ssize_t n;

	for (hops = 0; hops < 40; hops++) {
		fd = fspath_open_data(c->root, path, flags, e);
		if (fd >= 0 || errno != ENOENT)
			return fd;
		if ((dir = fspath_parent(c->root, path, buf, sizeof(buf), &name,
					 bool_field(c, "parents"), e)) < 0)
			return -1;
		fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd < 0 && errno == EEXIST && fspath_follows_symlinks() &&
		    (n = readlinkat(dir, name, target, sizeof(target) - 1)) > 0) {
			target[n] = '\0';
			close(dir);
			snprintf(next, sizeof(next), "%s/%s", target[0] == '/' ? "" : buf, target);
			path = strcpy(c->path_buf, next);
			continue;
		}
		if (fd < 0)
			err_sys(e, STEP_FILES_OP, "openat", path, "create(%s)", path);
		else if (fchmod(fd, mode) < 0)
			err_sys(e, STEP_FILES_OP, "fchmod", path, "chmod(%s)", path);
		close(dir);
		return fd;
	}
	errno = ELOOP;
	return err_sys(e, STEP_FILES_OP, "openat", path, "create(%s)", path);
}

static int op_write(struct ctx *c, const char *path, struct err *e)
{
	long long size = int_field(c, "size", -1);
	int fd, werr = 0;

	if (size < 0)
		return err_msg(e, STEP_FILES_OP, "write: missing size");
	fd = open_for_write(c, path, (mode_t)int_field(c, "mode", 0644) & 07777, e);
	c->write_consumed = true;
	if (read_into(c->in, (size_t)size, fd, &werr) < 0) {
		if (fd >= 0)
			close(fd);
		return -2; /* the stream broke */
	}
	if (fd < 0)
		return -1;
	close(fd);
	if (werr)
		return errno = werr, err_sys(e, STEP_FILES_OP, "write", path, "write(%s)", path);
	return 0;
}

static int with_parent(struct ctx *c, const char *path, const char *call, struct err *e,
		       int (*fn)(struct ctx *, int, const char *))
{
	char buf[4096];
	const char *name;
	int dir = fspath_parent(c->root, path, buf, sizeof(buf), &name, bool_field(c, "parents"),
				e),
	    rc;

	if (dir < 0)
		return -1;
	rc = fn(c, dir, name);
	if (rc < 0)
		err_sys(e, STEP_FILES_OP, call, path, "%s(%s)", call, path);
	close(dir);
	return rc;
}

static int do_symlink(struct ctx *c, int dir, const char *name)
{
	const char *target = str_field(c, "target");
	return target ? symlinkat(target, dir, name) : (errno = EINVAL, -1);
}

static int do_mknod(struct ctx *c, int dir, const char *name)
{
	const char *kind = str_field(c, "kind");
	mode_t mode = (mode_t)int_field(c, "mode", 0) & 07777;
	dev_t dev = makedev(int_field(c, "major", 0), int_field(c, "minor", 0));

	if (!kind || strcmp(kind, "whiteout") == 0)
		return mknodat(dir, name, S_IFCHR, makedev(0, 0));
	if (strcmp(kind, "fifo") == 0)
		return mknodat(dir, name, S_IFIFO | mode, 0);
	if (strcmp(kind, "char") == 0 || strcmp(kind, "block") == 0)
		return mknodat(dir, name, (kind[0] == 'c' ? S_IFCHR : S_IFBLK) | mode, dev);
	return errno = EINVAL, -1;
}

/* A hard link to another path of the same root; neither end follows a final symlink. */
static int do_link(struct ctx *c, int dir, const char *name)
{
	const char *target = str_field(c, "target");
	struct err e;
	int fd = target ? fspath_open(c->root, target, O_PATH, false, &e) : -1, rc;

	if (fd < 0)
		return -1;
	rc = linkat(fd, "", dir, name, AT_EMPTY_PATH);
	close(fd);
	return rc;
}

/* chmod, chown and xattrs act on the path itself (a final symlink is not followed); the
 * O_PATH fd is reached again through /proc/self/fd, which names exactly that inode. */
static int op_attr(struct ctx *c, const char *path, const char *op, struct err *e)
{
	char self[64], names[XATTR_LIST_MAX_BYTES], value[XATTR_VALUE_MAX_BYTES];
	char enc[XATTR_VALUE_MAX_BYTES * 4 / 3 + 8];
	int fd = fspath_open(c->root, path, O_PATH, false, e), rc = 0;
	const char *name = str_field(c, "name"), *val = str_field(c, "value");
	ssize_t n, vn;
	char *p;

	if (fd < 0)
		return -1;
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	if (strcmp(op, "chown") == 0) {
		if (fchownat(fd, "", (uid_t)int_field(c, "uid", -1), (gid_t)int_field(c, "gid", -1),
			     AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			rc = err_sys(e, STEP_FILES_OP, "fchownat", path, "chown(%s)", path);
	} else if (strcmp(op, "chmod") == 0) {
		if (chmod(self, (mode_t)int_field(c, "mode", 0644) & 07777) < 0)
			rc = err_sys(e, STEP_FILES_OP, "chmod", path, "chmod(%s)", path);
	} else if (strcmp(op, "setxattr") == 0) {
		vn = val ? b64_decode(val, strlen(val), (unsigned char *)value) : -1;
		if (!name || vn < 0 || (size_t)vn > sizeof(value))
			rc = err_msg(e, STEP_FILES_OP, "setxattr: name and base64 value needed");
		else if (setxattr(self, name, value, vn, 0) < 0)
			rc = err_sys(e, STEP_FILES_OP, "setxattr", path, "setxattr(%s, %s)", path,
				     name);
	} else if ((n = listxattr(self, names, sizeof(names))) < 0 && errno != ENOTSUP) {
		rc = err_sys(e, STEP_FILES_OP, "listxattr", path, "listxattr(%s)", path);
	} else {
		jb_key(&c->reply, "xattrs");
		jb_obj(&c->reply);
		for (p = names; n > 0 && p < names + n; p += strlen(p) + 1) {
			if ((vn = getxattr(self, p, value, sizeof(value))) < 0)
				continue;
			b64_encode((unsigned char *)value, vn, enc);
			jb_kstr(&c->reply, p, enc);
		}
		jb_end(&c->reply);
	}
	close(fd);
	return rc;
}

/* The data extents of a regular file from offset "from", found with SEEK_DATA/SEEK_HOLE, so
 * an export can keep holes as holes without reading them: at most 256 per reply, "next" is
 * where to ask again (-1: no more). A file system without SEEK_DATA reports one extent. */
static int op_extents(struct ctx *c, const char *path, struct err *e)
{
	int fd = fspath_open_data(c->root, path, O_RDONLY, e), n = 0;
	off_t pos = (off_t)int_field(c, "from", 0), data, hole;
	struct stat st;
	char num[48];

	if (fd < 0)
		return -1;
	if (pos < 0) {
		errno = EINVAL;
		err_sys(e, STEP_FILES_OP, NULL, path, "extents(%s): a negative offset", path);
		return close(fd), -1;
	}
	if (fstat(fd, &st) < 0) {
		err_sys(e, STEP_FILES_OP, "fstat", path, "fstat(%s)", path);
		return close(fd), -1;
	}
	jb_kint(&c->reply, "size", (long long)st.st_size);
	jb_key(&c->reply, "extents");
	jb_raw(&c->reply, "[");
	while (pos < st.st_size && n < 256) {
		data = lseek(fd, pos, SEEK_DATA);
		hole = data < 0 ? -1 : lseek(fd, data, SEEK_HOLE);
		if (data < 0 && errno == ENXIO) {
			pos = st.st_size;
			break;
		}
		if (data < 0 || hole < 0)
			data = pos, hole = st.st_size; /* no SEEK_DATA: all data */
		snprintf(num, sizeof(num), "%s[%lld,%lld]", n++ ? "," : "", (long long)data,
			 (long long)(hole - data));
		jb_raw(&c->reply, num);
		pos = hole;
	}
	jb_raw(&c->reply, "]");
	jb_kint(&c->reply, "next", pos < st.st_size ? (long long)pos : -1);
	close(fd);
	return 0;
}

static void reply_error(int out, const struct err *e)
{
	struct jbuf b;

	memset(&b, 0, sizeof(b));
	jb_obj(&b);
	jb_kbool(&b, "ok", false);
	jb_kstr(&b, "step", step_names[e->step]);
	jb_kstr(&b, "syscall", e->syscall[0] ? e->syscall : NULL);
	if (e->errnum) {
		jb_kint(&b, "errno", e->errnum);
		jb_kstr(&b, "errnoName", errno_name(e->errnum));
	} else {
		jb_knull(&b, "errno");
		jb_knull(&b, "errnoName");
	}
	jb_kstr(&b, "path", e->path[0] ? e->path : NULL);
	jb_kstr(&b, "message", e->message);
	jb_end(&b);
	jb_raw(&b, "\n");
	write_full(out, b.p, b.len);
	jb_free(&b);
}

/* Run one request. Returns 1 when the reply went out already, 0 or -1 (e) otherwise, -2 when
 * the stream broke. */
static int run_op(struct ctx *c, const char *op, const char *path, struct err *e)
{
	if (strcmp(op, "stat") == 0)
		return op_stat(c, path, e);
	if (strcmp(op, "list") == 0)
		return op_list(c, path, e);
	if (strcmp(op, "readlink") == 0)
		return op_readlink(c, path, e);
	if (strcmp(op, "read") == 0)
		return op_read(c, path, e);
	if (strcmp(op, "extents") == 0)
		return op_extents(c, path, e);
	if (strcmp(op, "write") == 0)
		return op_write(c, path, e);
	if (strcmp(op, "mkdir") == 0)
		return fspath_mkdir(c->root, path, (mode_t)int_field(c, "mode", 0755) & 07777,
				    bool_field(c, "parents"), e);
	if (strcmp(op, "remove") == 0)
		return fspath_remove(c->root, path, bool_field(c, "recursive"), e);
	if (strcmp(op, "symlink") == 0)
		return with_parent(c, path, "symlinkat", e, do_symlink);
	if (strcmp(op, "link") == 0)
		return with_parent(c, path, "linkat", e, do_link);
	if (strcmp(op, "mknod") == 0)
		return with_parent(c, path, "mknodat", e, do_mknod);
	if (strcmp(op, "chmod") == 0 || strcmp(op, "chown") == 0 || strcmp(op, "xattrs") == 0 ||
	    strcmp(op, "setxattr") == 0)
		return op_attr(c, path, op, e);
	return err_msg(e, STEP_FILES_OP, "unknown operation \"%.32s\"", op);
}

/* Who the request acts as and how its path resolves; with `beneath`, the path is relative
 * to that directory and resolves with no symlink and no mount crossing at all (copyIn). */
static int prepare(struct ctx *c, int *base, struct err *e)
{
	const struct jval *as = json_get(c->req, "as");
	const char *beneath = str_field(c, "beneath");

	if (as && become(as, e) < 0)
		return -1;
	fspath_set_resolve(bool_field(c, "noSymlinks"), bool_field(c, "noXdev"));
	if (!beneath)
		return 0;
	if ((*base = fspath_open(c->root, beneath, O_PATH | O_DIRECTORY, true, e)) < 0)
		return -1;
	fspath_set_resolve(true, true);
	c->root = *base;
	return 0;
}

static int serve_one(struct ctx *c, char *line, size_t len)
{
	struct jval v;
	struct err e;
	const char *op, *path;
	int rc, root = c->root, base = -1;

	memset(&e, 0, sizeof(e));
	memset(&c->reply, 0, sizeof(c->reply));
	if (json_parse(line, len, &v) < 0 || v.type != J_OBJ)
		return -1;
	c->req = &v;
	op = str_field(c, "op");
	path = str_field(c, "path");
	if (!op || !path)
		rc = err_msg(&e, STEP_FILES_OP, "a request needs \"op\" and \"path\"");
	else if ((rc = prepare(c, &base, &e)) == 0)
		rc = run_op(c, op, path, &e);
	/* A write's data follows its line whatever happened: consume it, or the stream breaks. */
	if (rc == -1 && op && strcmp(op, "write") == 0 && !c->write_consumed) {
		int werr = 0;
		if (read_into(c->in, (size_t)int_field(c, "size", 0), -1, &werr) < 0)
			rc = -2;
	}
	c->write_consumed = false;
	c->root = root;
	if (base >= 0)
		close(base);
	fspath_set_resolve(false, false);
	if (rc == 0) {
		struct jbuf b;
		memset(&b, 0, sizeof(b));
		jb_raw(&b, "{\"ok\":true");
		if (c->reply.len)
			jb_raw(&b, ","), jb_raw(&b, c->reply.p + (c->reply.p[0] == ',' ? 1 : 0));
		jb_raw(&b, "}\n");
		write_full(c->out, b.p, b.len);
		jb_free(&b);
	} else if (rc != 1 && rc != -2) {
		reply_error(c->out, &e);
	}
	jb_free(&c->reply);
	json_free(&v);
	return rc == -2 ? -1 : 0;
}

int fsops_serve(int root, int in, int out)
{
	struct reader r = { in, xmalloc(LINE_MAX_BYTES), 0, 0, LINE_MAX_BYTES };
	static struct ctx c;

	c = (struct ctx){ root, out, &r, NULL, { NULL, 0, 0 }, { 0 }, false };
	size_t len;
	char *line;
	int rc = 0;

	umask(0);
	signal(SIGPIPE, SIG_IGN);
	while (rc == 0 && (line = read_line(&r, &len)))
		rc = serve_one(&c, line, len);
	free(r.buf);
	return rc;
}

int fsops_main(int argc, char **argv)
{
	int root;

	if (argc != 3) {
		fprintf(stderr, "usage: sandkit-helper fsops <dir>\n");
		return 2;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if ((root = open(argv[2], O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
		perror(argv[2]);
		return 1;
	}
	return fsops_serve(root, 0, 1) < 0 ? 1 : 0;
}
