/*
 * selfexec.c — the supervisor runs from a sealed in-memory copy of its own binary.
 *
 * Runs in the supervisor, first thing. CVE-2019-5736 (runc) let a process in a container open
 * /proc/<runtime pid>/exe and overwrite the runtime's binary on the host. Here every helper
 * process (the supervisor, each sandbox's init, each spawn's reaper: clones, never exec'd
 * again) has as /proc/<pid>/exe a memfd sealed against writing, growing and shrinking, so
 * there is no host file behind it to overwrite, and the memfd itself cannot change. (The init
 * and reapers are also non-dumpable, so nothing in a sandbox may open their /proc/<pid>/exe
 * in the first place.) The copy happens once: after the re-exec, /proc/self/exe carries the
 * seals and we go on. Failing to make the copy is not fatal (an old kernel without memfd
 * seals, vm.memfd_noexec=2): the helper runs from its file, as runc did before its fix.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "security.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

extern char **environ;

static int already_sealed(int self)
{
	int seals = fcntl(self, F_GET_SEALS);

	return seals >= 0 && (seals & SEALS) == SEALS;
}

static int memfd_copy(int self, struct err *e)
{
	struct stat st;
	off_t off = 0;
	int fd = memfd_create("sandkit-helper", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);

	if (fd < 0 && errno == EINVAL) /* before linux 6.3: no MFD_EXEC, memfds are executable */
		fd = memfd_create("sandkit-helper", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return err_sys(e, STEP_HELPER_START, "memfd_create", NULL, "memfd_create()");
	if (fstat(self, &st) < 0)
		goto fail;
	while (off < st.st_size)
		if (sendfile(fd, self, &off, st.st_size - off) <= 0)
			goto fail;
	if (fcntl(fd, F_ADD_SEALS, SEALS) < 0)
		goto fail;
	return fd;
fail:
	err_sys(e, STEP_HELPER_START, "sendfile", "/proc/self/exe",
		"copy /proc/self/exe to a memfd");
	close(fd);
	return -1;
}

int selfexec_sealed(char **argv, struct err *e)
{
	int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC), fd;

	if (self < 0)
		return err_sys(e, STEP_HELPER_START, "open", "/proc/self/exe",
			       "open(\"/proc/self/exe\")");
	if (already_sealed(self)) {
		close(self);
		return 0;
	}
	fd = memfd_copy(self, e);
	close(self);
	if (fd < 0)
		return -1;
	fexecve(fd, argv, environ);
	err_sys(e, STEP_HELPER_START, "execveat", NULL, "fexecve(sealed memfd)");
	close(fd);
	return -1;
}
