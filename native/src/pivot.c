/*
 * pivot.c — make the merged root the sandbox's / and drop the host's root.
 *
 * Runs in the init, in its own mount namespace. pivot_root(".", ".") stacks the old root
 * on top of the new one; unmounting "." then detaches the old root, so no path in the
 * sandbox leads back to the host's filesystem.
 */
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "setup.h"

int pivot_to(int rootfd, struct err *e)
{
	if (fchdir(rootfd) < 0)
		return err_sys(e, STEP_PIVOT_ROOT, "fchdir", NULL, "fchdir(new root)");
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return err_sys(e, STEP_PIVOT_ROOT, "pivot_root", NULL, "pivot_root(\".\", \".\")");
	if (umount2(".", MNT_DETACH) < 0)
		return err_sys(e, STEP_PIVOT_ROOT, "umount2", NULL,
			       "umount2(old root, MNT_DETACH)");
	if (chdir("/") < 0)
		return err_sys(e, STEP_PIVOT_ROOT, "chdir", "/", "chdir(\"/\")");
	return 0;
}
