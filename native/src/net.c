/*
 * net.c — networking inside the sandbox's network namespace: bring up lo.
 *
 * Runs in the init. Anything more (veth, routes) is wired from TypeScript.
 */
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "setup.h"

int net_loopback_up(struct err *e)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;

	if (s < 0)
		return err_sys(e, STEP_NET_LOOPBACK, "socket", NULL, "socket(AF_INET)");
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	r = ioctl(s, SIOCGIFFLAGS, &ifr);
	if (r == 0) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		r = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	if (r < 0)
		err_sys(e, STEP_NET_LOOPBACK, "ioctl", NULL, "ioctl(\"lo\", SIOCSIFFLAGS, IFF_UP)");
	close(s);
	return r;
}
