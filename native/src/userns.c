/*
 * userns.c — the new user namespace's uid/gid maps.
 *
 * userns_write_maps_from_parent runs in the supervisor, between clone() and the GO message;
 * userns_become_root runs in the init once the maps exist.
 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "setup.h"
#include "util.h"

static int write_file(const char *path, const char *data, size_t len, struct err *e)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return err_sys(e, STEP_USERNS_MAP, "open", path, "open(\"%s\")", path);
	if (write_full(fd, data, len) < 0) {
		err_sys(e, STEP_USERNS_MAP, "write", path, "write(\"%s\", \"%.*s\")", path,
			(int)len - 1, data);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
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
