/*
 * uts.c — the sandbox's hostname, in its own UTS namespace.
 *
 * Runs in the init.
 */
#include <string.h>
#include <unistd.h>

#include "setup.h"

int uts_set_hostname(const char *hostname, struct err *e)
{
	if (sethostname(hostname, strlen(hostname)) < 0)
		return err_sys(e, STEP_UTS_HOSTNAME, "sethostname", NULL, "sethostname(\"%s\")",
			       hostname);
	return 0;
}
