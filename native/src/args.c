/*
 * args.c — the command line and what the host supports.
 *
 * Supervisor only. `sandkit-helper --features` prints the same object the `features`
 * request returns; the SDK's feature probe (`sandkit doctor`) builds on it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "args.h"
#include "proto.h"

static long read_long(const char *path, long missing)
{
	FILE *f = fopen(path, "re");
	long v = missing;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = missing;
		fclose(f);
	}
	return v;
}

static bool kernel_at_least(const char *release, int major, int minor)
{
	int ma = 0, mi = 0;

	sscanf(release, "%d.%d", &ma, &mi);
	return ma > major || (ma == major && mi >= minor);
}

static bool fs_supported(const char *name)
{
	FILE *f = fopen("/proc/filesystems", "re");
	char line[128], fs[64];
	bool found = false;

	while (f && !found && fgets(line, sizeof(line), f))
		found = sscanf(line, "nodev %63s", fs) == 1
				? strcmp(fs, name) == 0
				: sscanf(line, "%63s", fs) == 1 && strcmp(fs, name) == 0;
	if (f)
		fclose(f);
	return found;
}

static bool unprivileged_userns(void)
{
	return read_long("/proc/sys/kernel/unprivileged_userns_clone", 1) == 1 &&
	       read_long("/proc/sys/user/max_user_namespaces", 1) > 0 &&
	       read_long("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", 0) == 0;
}

static bool syscall_exists(long nr, long a1, long a2)
{
	long r = syscall(nr, a1, a2);

	if (r >= 0)
		close(r);
	return r >= 0 || errno != ENOSYS;
}

/* The mount point of the cgroup2 hierarchy, or "" if there is none. */
static void cgroup2_path(char *out, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[1024], mnt[512], *sep;

	out[0] = '\0';
	while (f && fgets(line, sizeof(line), f)) {
		sep = strstr(line, " - ");
		if (sep && strncmp(sep, " - cgroup2 ", 11) == 0 &&
		    sscanf(line, "%*s %*s %*s %*s %511s", mnt) == 1) {
			snprintf(out, len, "%s", mnt);
			break;
		}
	}
	if (f)
		fclose(f);
}

void args_features_json(struct jbuf *b)
{
	struct utsname u;
	char cg[512];
	bool userns = access("/proc/self/ns/user", F_OK) == 0;

	uname(&u);
	cgroup2_path(cg, sizeof(cg));
	jb_obj(b);
	jb_kint(b, "version", PROTOCOL_VERSION);
	jb_kstr(b, "helperVersion", HELPER_VERSION);
	jb_kstr(b, "kernel", u.release);
	jb_kbool(b, "userns", userns);
	jb_kbool(b, "unprivilegedUserns", userns && unprivileged_userns());
	jb_kbool(b, "overlayInUserns",
		 fs_supported("overlay") && kernel_at_least(u.release, 5, 11));
	jb_kbool(b, "pidfd", syscall_exists(SYS_pidfd_open, getpid(), 0));
	jb_kbool(b, "clone3", syscall_exists(SYS_clone3, 0, 0));
	jb_kstr(b, "cgroup2", cg[0] ? cg : NULL);
	jb_end(b);
}

enum args_action args_parse(int argc, char **argv)
{
	struct jbuf b = { 0 };

	if (argc == 1)
		return ARGS_RUN;
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("sandkit-helper %s (protocol %d)\n", HELPER_VERSION, PROTOCOL_VERSION);
		return ARGS_DONE;
	}
	if (argc == 2 && strcmp(argv[1], "--features") == 0) {
		args_features_json(&b);
		printf("%s\n", b.p);
		jb_free(&b);
		return ARGS_DONE;
	}
	fprintf(stderr, "usage: sandkit-helper [--features | --version]\n"
			"Started by the sandkit SDK with an IPC channel (NODE_CHANNEL_FD).\n");
	return ARGS_USAGE;
}
