/*
 * caps.c — capabilities and no_new_privs of the command.
 *
 * Runs in the command, around the uid switch (command.c): the bounding set is dropped while
 * we still hold CAP_SETPCAP, PR_SET_KEEPCAPS carries the permitted set across setresuid, and
 * then the effective, permitted, inheritable and ambient sets become exactly the kept ones.
 * The ambient set is what lets a non-root uid keep a capability across execve; for uid 0 the
 * bounding set is what limits the capabilities execve grants. glibc has no capset wrapper
 * and libcap is not used: raw syscalls on <linux/capability.h>.
 */
#include <errno.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "security.h"
#include "util.h"

static const char *const cap_names[] = {
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_DAC_READ_SEARCH",
	"CAP_FOWNER",
	"CAP_FSETID",
	"CAP_KILL",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST",
	"CAP_NET_ADMIN",
	"CAP_NET_RAW",
	"CAP_IPC_LOCK",
	"CAP_IPC_OWNER",
	"CAP_SYS_MODULE",
	"CAP_SYS_RAWIO",
	"CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE",
	"CAP_SYS_PACCT",
	"CAP_SYS_ADMIN",
	"CAP_SYS_BOOT",
	"CAP_SYS_NICE",
	"CAP_SYS_RESOURCE",
	"CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG",
	"CAP_MKNOD",
	"CAP_LEASE",
	"CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL",
	"CAP_SETFCAP",
	"CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN",
	"CAP_SYSLOG",
	"CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND",
	"CAP_AUDIT_READ",
	"CAP_PERFMON",
	"CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
};

int caps_number(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(cap_names); i++)
		if (strcmp(cap_names[i], name) == 0)
			return i;
	return -1;
}

/* The highest capability this kernel knows (PR_CAPBSET_READ fails past it). */
static int caps_last(void)
{
	int c = 0;

	while (c < 63 && prctl(PR_CAPBSET_READ, c + 1, 0, 0, 0) >= 0)
		c++;
	return c;
}

int caps_drop_bounding(uint64_t keep, struct err *e)
{
	int c, last = caps_last();

	for (c = 0; c <= last; c++)
		if (!(keep & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 &&
		    errno != EINVAL)
			return err_sys(e, STEP_SECURITY_CAPS, "prctl", NULL,
				       "prctl(PR_CAPBSET_DROP, %s)",
				       c < (int)ARRAY_LEN(cap_names) ? cap_names[c] : "?");
	if (keep && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return err_sys(e, STEP_SECURITY_CAPS, "prctl", NULL, "prctl(PR_SET_KEEPCAPS)");
	return 0;
}

int caps_set(uint64_t keep, struct err *e)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	int c, last = caps_last();

	if (last < 63)
		keep &= (1ULL << (last + 1)) - 1;
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = data[0].inheritable = (uint32_t)keep;
	data[1].effective = data[1].permitted = data[1].inheritable = (uint32_t)(keep >> 32);
	if (syscall(SYS_capset, &hdr, data) < 0)
		return err_sys(e, STEP_SECURITY_CAPS, "capset", NULL, "capset(%#llx)",
			       (unsigned long long)keep);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return err_sys(e, STEP_SECURITY_CAPS, "prctl", NULL,
			       "prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
	for (c = 0; c <= last; c++)
		if ((keep & (1ULL << c)) &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
			return err_sys(e, STEP_SECURITY_CAPS, "prctl", NULL,
				       "prctl(PR_CAP_AMBIENT_RAISE, %s)", cap_names[c]);
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	return 0;
}

int caps_no_new_privs(struct err *e)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return err_sys(e, STEP_SECURITY_NNP, "prctl", NULL, "prctl(PR_SET_NO_NEW_PRIVS)");
	return 0;
}
