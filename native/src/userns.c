/*
 * userns.c — the new user namespace's uid/gid maps and its caps on kernel objects.
 *
 * userns_write_maps_from_parent runs in the supervisor, between clone() and the GO message;
 * userns_become_root and userns_limit_counts run in the init once the maps exist.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "setup.h"
#include "util.h"

static int write_file_step(const char *path, const char *data, size_t len, enum step step,
			   struct err *e)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return err_sys(e, step, "open", path, "open(\"%s\")", path);
	if (write_full(fd, data, len) < 0) {
		err_sys(e, step, "write", path, "write(\"%s\", \"%.*s\")", path, (int)len - 1,
			data);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int write_file(const char *path, const char *data, size_t len, struct err *e)
{
	return write_file_step(path, data, len, STEP_USERNS_MAP, e);
}

static int write_map(pid_t pid, const char *file, const struct idmap *map, int n, struct err *e)
{
	char path[64], buf[IDMAP_MAX * 40];
	size_t len = 0;
	int i;

	for (i = 0; i < n; i++)
		len += snprintf(buf + len, sizeof(buf) - len, "%lld %lld %lld\n", map[i].inside,
				map[i].outside, map[i].count);
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	return write_file(path, buf, len, e);
}

int userns_write_maps_from_parent(pid_t pid, const struct create_req *c, struct err *e)
{
	char path[64];

	if (!c->user)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)pid);
	if (geteuid() != 0 && write_file(path, "deny\n", 5, e) < 0)
		return -1;
	if (write_map(pid, "uid_map", c->uid_map, c->n_uid_map, e) < 0)
		return -1;
	return write_map(pid, "gid_map", c->gid_map, c->n_gid_map, e);
}

int userns_become_root(struct err *e)
{
	if (setresgid(0, 0, 0) < 0)
		return err_sys(e, STEP_USERNS_SETID, "setresgid", NULL, "setresgid(0, 0, 0)");
	if (setresuid(0, 0, 0) < 0)
		return err_sys(e, STEP_USERNS_SETID, "setresuid", NULL, "setresuid(0, 0, 0)");
	return 0;
}

/*
 * Kernel objects counted per user (ucounts) are charged to the uid in the namespace that
 * creates them and then, level by level, to the owner of each user namespace in its parent:
 * whatever a sandbox takes is taken from the budget of the user that runs the helper on the
 * host (root's 128 inotify instances, say), whatever limit the sandbox's own namespace shows.
 * A limit set here caps what the sandbox can take (per uid inside); changing it takes
 * CAP_SYS_RESOURCE in this namespace (the init has it, the command never) and a writable
 * /proc/sys (read-only in every spawn). Counts already
 * include the sandbox's own namespaces; every spawn adds a mount and a pid namespace (and a
 * cgroup one with namespaces.cgroup), hence the room in those. A file the kernel lacks
 * (fanotify, time namespaces on older kernels) is skipped.
 */
static const struct {
	const char *name;
	const char *value;
} count_limits[] = {
	{ "max_user_namespaces", "8\n" }, /* refused by seccomp unless allowed; then a few */
	{ "max_net_namespaces", "16\n" },      { "max_ipc_namespaces", "16\n" },
	{ "max_uts_namespaces", "16\n" },      { "max_time_namespaces", "16\n" },
	{ "max_mnt_namespaces", "1024\n" },    { "max_pid_namespaces", "1024\n" },
	{ "max_cgroup_namespaces", "1024\n" }, { "max_inotify_instances", "32\n" },
	{ "max_inotify_watches", "16384\n" },  { "max_fanotify_groups", "16\n" },
	{ "max_fanotify_marks", "16384\n" },
};

int userns_limit_counts(struct err *e)
{
	char path[64];
	size_t i;

	for (i = 0; i < sizeof(count_limits) / sizeof(count_limits[0]); i++) {
		snprintf(path, sizeof(path), "/proc/sys/user/%s", count_limits[i].name);
		if (access(path, F_OK) < 0 && errno == ENOENT)
			continue;
		if (write_file_step(path, count_limits[i].value, strlen(count_limits[i].value),
				    STEP_USERNS_LIMITS, e) < 0)
			return -1;
	}
	return 0;
}

/*
 * Pending signals and POSIX message queue bytes are counted the same way (ucounts), but the
 * limit at each level is an rlimit: the command's own for what the sandbox's uid holds, and the
 * helper's (copied when the namespace was made) for the sum charged to its owner. A command
 * that queued rt signals to itself up to the helper's limit (96k here) would use up the
 * owner's whole budget and leave none for the init's SIGNAL_FORWARD to the reaper (sigqueue
 * is charged to the receiver's uid, the same as the command's when both are root inside), so
 * that kill() and wall-time limits no longer reached it. The command gets a limit well below
 * the reaper's (which keeps the helper's), so the reaper always has room.
 */
#define COMMAND_SIGPENDING 4096
#define COMMAND_MSGQUEUE (256 * 1024)

static int lower_rlimit(int resource, rlim_t max, const char *name, struct err *e)
{
	struct rlimit rl = { max, max };
	int saved;

	if (setrlimit(resource, &rl) == 0)
		return 0;
	/* EPERM: the hard limit is below max already (only raising needs privilege): keep it. */
	saved = errno;
	if (saved == EPERM && getrlimit(resource, &rl) == 0 && rl.rlim_max <= max)
		return 0;
	errno = saved;
	return err_sys(e, STEP_SPAWN_RLIMIT, "setrlimit", NULL, "setrlimit(%s, %llu, %llu)", name,
		       (unsigned long long)max, (unsigned long long)max);
}

int userns_limit_command(struct err *e)
{
	return lower_rlimit(RLIMIT_SIGPENDING, COMMAND_SIGPENDING, "sigpending", e) < 0
		       ? -1
		       : lower_rlimit(RLIMIT_MSGQUEUE, COMMAND_MSGQUEUE, "msgqueue", e);
}
