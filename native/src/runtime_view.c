/*
 * runtime_view.c — what runtimes read inside a spawn, so that Java, Go, .NET, Node and Python
 * size heaps and thread pools for the limits rather than for the host.
 *
 *   /sys/fs/cgroup   a read-only tmpfs /sys holding only the cgroup mounts of the spawn's own
 *                    cgroup namespace: cgroup2 (at /sys/fs/cgroup on a pure v2 host, at
 *                    /sys/fs/cgroup/unified on a hybrid one) and the v1 hierarchies the spawn
 *                    joined, each showing the spawn's cgroup as its root. Mounted by the
 *                    command right after unshare(CLONE_NEWCGROUP), since a cgroup mount shows
 *                    the mounter's namespace root.
 *   affinity         sched_setaffinity of the command (inherited by all it starts).
 *   /proc/<name>     read-only files written by Node at spawn time (meminfo, cpuinfo, stat,
 *                    swaps, loadavg), laid over the spawn's fresh /proc by the reaper. They are
 *                    staged in a private tmpfs mounted for a moment on /proc/sys (binds need a
 *                    source in this mount namespace, which a memfd is not), then detached.
 *   time namespace   one per sandbox, made by the init before its first child: CLOCK_BOOTTIME
 *                    and CLOCK_MONOTONIC start at 0, so /proc/uptime is the sandbox's.
 *
 * The blob (spawn_req.view, spawn_msg.view) is a run of NUL-terminated strings, each starting
 * with a tag: '2' cgroup2 directory, '1' v1 mount options, 'A' a CPU number, 'F' a /proc file
 * name followed by 'D' its text. It comes from the supervisor, which checked every string.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "proto_decoders.h"
#include "proto_gen.h"
#include "runtime_view.h"
#include "setup.h"
#include "util.h"

#define RO_FLAGS (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
#define STAGE "/proc/sys" /* always there; a tmpfs sits on it only while the files are bound */

/* --- the blob ------------------------------------------------------------------------------ */

struct blob {
	char *p;
	size_t len, cap;
};

static void blob_put(struct blob *b, char tag, const char *s, size_t n)
{
	if (b->len + n + 2 > b->cap) {
		b->cap = (b->len + n + 2) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	b->p[b->len++] = tag;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len++] = '\0';
}

/* The next record of [*p, end), or NULL at the end. */
static const char *blob_next(const char **p, const char *end, char *tag)
{
	const char *s = *p, *nul;

	if (s >= end || !(nul = memchr(s, '\0', end - s)))
		return NULL;
	*tag = s[0];
	*p = nul + 1;
	return s + 1;
}

/* Whether the blob has a record with this tag. */
static bool has_tag(const struct spawn_msg *s, char want)
{
	const char *p = s->view, *end = s->view + s->view_len;
	char tag;

	while (blob_next(&p, end, &tag))
		if (tag == want)
			return true;
	return false;
}

/* A cgroup directory name or v1 mount option list: letters, digits, '_', ',', '=', '-' only. */
static int name_ok(const char *s, bool may_be_empty)
{
	if (!*s)
		return may_be_empty;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr("_,=-", *s)))
			return 0;
	return 1;
}

static int decode_cgroups(const struct jval *o, struct blob *b, struct err *e)
{
	const struct jval *v1;
	const char *dir = NULL, *opts;
	char w[WHERE_MAX];
	size_t i;
	int r;

	if ((r = proto_spawn_view_cgroup2(o, "view.", &dir, e)) < 0)
		return -1;
	if (r > 0) {
		if (!name_ok(dir, true))
			return proto_fail(e, "view.", "cgroup2", "must be a plain directory name");
		blob_put(b, '2', dir, strlen(dir));
	}
	if (proto_spawn_view_cgroup1(o, "view.", &v1, e) < 0)
		return -1;
	for (i = 0; i < v1->n; i++) {
		snprintf(w, sizeof(w), "view.cgroup1[%zu]", i);
		if (proto_spawn_view_cgroup1_item(&v1->items[i], w, "", &opts, e) < 0)
			return -1;
		if (!name_ok(opts, false))
			return proto_fail(e, w, "", "must be mount options such as \"memory\"");
		blob_put(b, '1', opts, strlen(opts));
	}
	return 0;
}

static int decode_cpus_and_files(const struct jval *o, struct blob *b, struct err *e)
{
	const struct jval *cpus, *files, *t;
	const char *name, *text;
	char w[WHERE_MAX], num[16];
	long long cpu;
	size_t i;

	if (proto_spawn_view_cpus(o, "view.", &cpus, e) < 0)
		return -1;
	for (i = 0; i < cpus->n; i++) {
		snprintf(w, sizeof(w), "view.cpus[%zu]", i);
		if (proto_spawn_view_cpus_item(&cpus->items[i], w, "", &cpu, e) < 0)
			return -1;
		blob_put(b, 'A', num, snprintf(num, sizeof(num), "%lld", cpu));
	}
	if (proto_spawn_view_proc_files(o, "view.", &files, e) < 0)
		return -1;
	for (i = 0; i < files->n; i++) {
		snprintf(w, sizeof(w), "view.procFiles[%zu]", i);
		if (proto_proc_file(&files->items[i], w, "", &t, e) < 0 ||
		    proto_proc_file_0(&t->items[0], w, "[0]", &name, e) < 0 ||
		    proto_proc_file_1(&t->items[1], w, "[1]", &text, e) < 0)
			return -1;
		if (strlen(text) != t->items[1].len)
			return proto_fail(e, w, "[1]", "must not contain NUL characters");
		blob_put(b, 'F', name, strlen(name));
		blob_put(b, 'D', text, t->items[1].len);
	}
	return 0;
}

int runtime_view_decode(const struct jval *v, struct spawn_req *s, struct err *e)
{
	const struct jval *o;
	struct blob b = { 0 };
	int r;

	if ((r = proto_spawn_view(v, "", &o, e)) <= 0)
		return r;
	if (decode_cgroups(o, &b, e) < 0 || decode_cpus_and_files(o, &b, e) < 0)
		return free(b.p), -1;
	s->view = b.p;
	s->view_len = b.len;
	return 0;
}

/* --- inside -------------------------------------------------------------------------------- */

/* An O_PATH fd of path, resolved without following any symlink. */
static int open_nofollow(int dirfd, const char *path, bool dir)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC | (dir ? O_DIRECTORY : 0),
		.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};

	return syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

static int ro_remount(int fd, const char *name, struct err *e)
{
	return mount_on_fd(NULL, fd, name, NULL, MS_BIND | MS_REMOUNT | RO_FLAGS, NULL,
			   STEP_SPAWN_PROC, e);
}

/* Write one staged file and bind it read-only over /proc/<name>. */
static int bind_proc_file(int stage, const char *name, const char *text, struct err *e)
{
	char target[64], source[64];
	int fd, tfd, r;

	snprintf(target, sizeof(target), "/proc/%s", name);
	fd = openat(stage, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0444);
	if (fd < 0 || write_full(fd, text, strlen(text)) < 0) {
		if (fd >= 0)
			close(fd);
		return err_sys(e, STEP_SPAWN_PROC, "write", target, "write(staged \"%s\")", target);
	}
	close(fd);
	if ((tfd = open_nofollow(AT_FDCWD, target, false)) < 0)
		return err_sys(e, STEP_SPAWN_PROC, "openat2", target, "open(\"%s\")", target);
	snprintf(source, sizeof(source), STAGE "/%s", name);
	r = mount_on_fd(source, tfd, target, NULL, MS_BIND, NULL, STEP_SPAWN_PROC, e);
	if (r == 0) { /* the fd is the file under the bind; the path is the bind now */
		close(tfd);
		if ((tfd = open_nofollow(AT_FDCWD, target, false)) < 0)
			return err_sys(e, STEP_SPAWN_PROC, "openat2", target, "open(\"%s\")",
				       target);
		r = ro_remount(tfd, target, e);
	}
	close(tfd);
	return r;
}

int runtime_view_proc(const struct spawn_msg *s, struct err *e)
{
	const char *p = s->view, *end = s->view + s->view_len, *name = NULL, *str;
	int stage, r = 0;
	char tag;

	if (!has_tag(s, 'F'))
		return 0;
	if (mount("tmpfs", STAGE, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "size=4m,nr_inodes=16,mode=700") < 0)
		return err_sys(e, STEP_SPAWN_PROC, "mount", STAGE,
			       "mount(\"tmpfs\", \"" STAGE "\")");
	if ((stage = open(STAGE, O_DIRECTORY | O_CLOEXEC)) < 0)
		r = err_sys(e, STEP_SPAWN_PROC, "open", STAGE, "open(\"" STAGE "\")");
	while (r == 0 && stage >= 0 && (str = blob_next(&p, end, &tag)))
		if (tag == 'F')
			name = str;
		else if (tag == 'D' && name)
			r = bind_proc_file(stage, name, str, e), name = NULL;
	if (stage >= 0)
		close(stage);
	if (umount2(STAGE, MNT_DETACH) < 0 && r == 0)
		r = err_sys(e, STEP_SPAWN_PROC, "umount2", STAGE, "umount2(\"" STAGE "\")");
	return r;
}

static int set_affinity(const struct spawn_msg *s, struct err *e)
{
	const char *p = s->view, *end = s->view + s->view_len, *str;
	cpu_set_t set;
	int any = 0;
	char tag;

	CPU_ZERO(&set);
	while ((str = blob_next(&p, end, &tag)))
		if (tag == 'A' && atoi(str) < CPU_SETSIZE) {
			CPU_SET(atoi(str), &set);
			any = 1;
		}
	if (any && sched_setaffinity(0, sizeof(set), &set) < 0)
		return err_sys(e, STEP_SPAWN_CGROUP, "sched_setaffinity", NULL,
			       "sched_setaffinity(limits.cpuset)");
	return 0;
}

/* mkdir name in dir (if not "") and mount a cgroup hierarchy there, read-only. */
static int mount_cgroup(int dir, const char *name, const char *fstype, const char *opts,
			struct err *e)
{
	char where[96];
	int fd, r;

	snprintf(where, sizeof(where), "/sys/fs/cgroup%s%s", *name ? "/" : "", name);
	if (*name && mkdirat(dir, name, 0555) < 0 && errno != EEXIST)
		return err_sys(e, STEP_SPAWN_CGROUP, "mkdir", where, "mkdir(\"%s\")", where);
	if ((fd = *name ? open_nofollow(dir, name, true) : dup(dir)) < 0)
		return err_sys(e, STEP_SPAWN_CGROUP, "openat2", where, "open(\"%s\")", where);
	r = mount_on_fd("cgroup", fd, where, fstype, RO_FLAGS, opts, STEP_SPAWN_CGROUP, e);
	close(fd);
	return r;
}

/* A small tmpfs over /sys with fs/cgroup in it; returns an fd of fs/cgroup, sys_fd its root. */
static int make_sys(int *sys_fd, struct err *e)
{
	struct statfs sf;
	int fd, fs, cg;

	if ((fd = open_nofollow(AT_FDCWD, "/sys", true)) < 0)
		return errno == ENOENT
			       ? 0
			       : err_sys(e, STEP_SPAWN_CGROUP, "openat2", "/sys", "open(\"/sys\")");
	if (mount_on_fd("tmpfs", fd, "/sys", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
			"size=16k,nr_inodes=64,mode=555", STEP_SPAWN_CGROUP, e) < 0)
		return close(fd), -1;
	close(fd);
	if ((fd = open_nofollow(AT_FDCWD, "/sys", true)) < 0 || fstatfs(fd, &sf) < 0 ||
	    sf.f_type != TMPFS_MAGIC)
		return err_sys(e, STEP_SPAWN_CGROUP, "openat2", "/sys", "open(new \"/sys\")");
	*sys_fd = fd;
	if ((mkdirat(fd, "fs", 0555) < 0 || (fs = open_nofollow(fd, "fs", true)) < 0))
		return err_sys(e, STEP_SPAWN_CGROUP, "mkdir", "/sys/fs", "mkdir(\"/sys/fs\")");
	cg = mkdirat(fs, "cgroup", 0555) < 0 ? -1 : open_nofollow(fs, "cgroup", true);
	close(fs);
	if (cg < 0)
		return err_sys(e, STEP_SPAWN_CGROUP, "mkdir", "/sys/fs/cgroup",
			       "mkdir(\"/sys/fs/cgroup\")");
	return cg;
}

static int mount_cgroups(const struct spawn_msg *s, struct err *e)
{
	const char *p = s->view, *end = s->view + s->view_len, *str, *v2 = NULL;
	int sys = -1, cg, r = 0;
	char tag;

	if (!has_tag(s, '1') && !has_tag(s, '2'))
		return 0;
	if ((cg = make_sys(&sys, e)) <= 0)
		return cg;
	/* v1 hierarchies first: on a hybrid host cgroup2 goes into a directory beside them. */
	while (r == 0 && (str = blob_next(&p, end, &tag)))
		if (tag == '1')
			r = mount_cgroup(cg, str, "cgroup", str, e);
		else if (tag == '2')
			v2 = str;
	if (r == 0 && v2)
		r = mount_cgroup(cg, v2, "cgroup2", NULL, e);
	close(cg);
	if (r == 0)
		r = mount_on_fd(NULL, sys, "/sys", NULL, MS_BIND | MS_REMOUNT | RO_FLAGS, NULL,
				STEP_SPAWN_CGROUP, e);
	close(sys);
	return r;
}

int runtime_view_command(const struct spawn_msg *s, struct err *e)
{
	if (!s->view_len)
		return 0;
	if (set_affinity(s, e) < 0)
		return -1;
	return s->cgroupns ? mount_cgroups(s, e) : 0;
}

int runtime_view_timens(struct err *e)
{
	struct timespec mono, boot;
	char offsets[96];
	int fd, n, ok;

	if (unshare(CLONE_NEWTIME) < 0)
		return err_sys(e, STEP_SANDBOX_CLONE, "unshare", NULL, "unshare(CLONE_NEWTIME)");
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_BOOTTIME, &boot);
	/* Whole seconds back: the clocks start at 0.something, never below 0 (the kernel's rule). */
	n = snprintf(offsets, sizeof(offsets), "monotonic %lld 0\nboottime %lld 0\n",
		     -(long long)mono.tv_sec, -(long long)boot.tv_sec);
	if ((fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC)) < 0)
		return err_sys(e, STEP_SANDBOX_CLONE, "open", "/proc/self/timens_offsets",
			       "open(\"/proc/self/timens_offsets\")");
	ok = write(fd, offsets, n) == n;
	close(fd);
	return ok ? 0
		  : err_sys(e, STEP_SANDBOX_CLONE, "write", "/proc/self/timens_offsets",
			    "write(\"/proc/self/timens_offsets\")");
}
