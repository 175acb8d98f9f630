/*
 * netlink.c — rtnetlink for a sandbox attached to a network: its veth pair, address and route.
 *
 * netlink_veth_from_parent runs in the supervisor, in the host's network namespace: it creates
 * the pair with the peer placed straight into the init's network namespace (IFLA_NET_NS_PID),
 * enslaves the host end to the network's bridge as an isolated port (so sandboxes reach each
 * other only through the host, where nftables sees them) and brings it up. If a later step
 * fails it deletes the host end again, which takes the peer with it. The pair needs no removal
 * otherwise: when the sandbox's network namespace goes, the kernel deletes both ends.
 *
 * netlink_address and netlink_route run in the init, inside the sandbox's network namespace
 * (its user namespace's root owns that namespace, so CAP_NET_ADMIN there is enough).
 */
#include <errno.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netlink.h"

#define NL_BUF 1024

struct nlmsg {
	struct nlmsghdr h;
	char buf[NL_BUF];
};

static void nl_init(struct nlmsg *m, int type, int flags, const void *hdr, size_t len)
{
	memset(m, 0, sizeof(*m));
	m->h.nlmsg_type = type;
	m->h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	m->h.nlmsg_len = NLMSG_LENGTH(len);
	memcpy(NLMSG_DATA(&m->h), hdr, len);
}

/* Appends an attribute; every message here is far below NL_BUF. */
static struct rtattr *nl_attr(struct nlmsg *m, int type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)((char *)m + NLMSG_ALIGN(m->h.nlmsg_len));

	a->rta_type = type;
	a->rta_len = RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(a), data, len);
	m->h.nlmsg_len = NLMSG_ALIGN(m->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
	return a;
}

static void nl_str(struct nlmsg *m, int type, const char *s)
{
	nl_attr(m, type, s, strlen(s) + 1);
}

static void nl_end(struct nlmsg *m, struct rtattr *nest)
{
	nest->rta_len = (char *)m + m->h.nlmsg_len - (char *)nest;
}

/* Sends one request and reads its acknowledgement; -1 with errno from the kernel's answer. */
static int nl_talk(struct nlmsg *m)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	char reply[NLMSG_SPACE(sizeof(struct nlmsgerr)) + NL_BUF];
	struct nlmsghdr *h = (struct nlmsghdr *)reply;
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), err = EPROTO;
	ssize_t n;

	if (s < 0)
		return -1;
	if (sendto(s, m, m->h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		err = errno;
	} else if ((n = recv(s, reply, sizeof(reply), 0)) < 0) {
		err = errno;
	} else if (NLMSG_OK(h, (size_t)n) && h->nlmsg_type == NLMSG_ERROR) {
		err = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
	}
	close(s);
	errno = err;
	return err ? -1 : 0;
}

static int link_index(const char *name, enum step step, struct err *e)
{
	unsigned idx = if_nametoindex(name);

	if (!idx)
		return err_sys(e, step, "if_nametoindex", NULL, "interface \"%s\"", name);
	return (int)idx;
}

static int link_up(int idx)
{
	struct ifinfomsg ifi = {
		.ifi_family = AF_UNSPEC, .ifi_index = idx, .ifi_flags = IFF_UP, .ifi_change = IFF_UP
	};
	struct nlmsg m;

	nl_init(&m, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
	return nl_talk(&m);
}

static int veth_create(const struct net_attach *n, pid_t pid, int master)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct rtattr *info, *data, *peer;
	uint32_t ns_pid = pid, mtu = n->mtu, mst = master;
	struct nlmsg m;

	nl_init(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof(ifi));
	nl_str(&m, IFLA_IFNAME, n->host_veth);
	nl_attr(&m, IFLA_MASTER, &mst, sizeof(mst));
	if (mtu)
		nl_attr(&m, IFLA_MTU, &mtu, sizeof(mtu));
	info = nl_attr(&m, IFLA_LINKINFO, NULL, 0);
	nl_str(&m, IFLA_INFO_KIND, "veth");
	data = nl_attr(&m, IFLA_INFO_DATA, NULL, 0);
	peer = nl_attr(&m, VETH_INFO_PEER, &ifi, sizeof(ifi));
	nl_str(&m, IFLA_IFNAME, n->ifname);
	nl_attr(&m, IFLA_NET_NS_PID, &ns_pid, sizeof(ns_pid));
	if (mtu)
		nl_attr(&m, IFLA_MTU, &mtu, sizeof(mtu));
	nl_end(&m, peer);
	nl_end(&m, data);
	nl_end(&m, info);
	return nl_talk(&m);
}

/* `bridge link set dev X isolated on`: isolated ports never talk to each other directly. */
static int port_isolate(int idx)
{
	struct ifinfomsg ifi = { .ifi_family = AF_BRIDGE, .ifi_index = idx };
	struct rtattr *proto;
	uint8_t on = 1;
	struct nlmsg m;

	nl_init(&m, RTM_SETLINK, 0, &ifi, sizeof(ifi));
	proto = nl_attr(&m, IFLA_PROTINFO | NLA_F_NESTED, NULL, 0);
	nl_attr(&m, IFLA_BRPORT_ISOLATED, &on, sizeof(on));
	nl_end(&m, proto);
	return nl_talk(&m);
}

static void link_delete(int idx)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = idx };
	struct nlmsg m;

	nl_init(&m, RTM_DELLINK, 0, &ifi, sizeof(ifi));
	nl_talk(&m);
}

int netlink_veth_from_parent(const struct net_attach *n, pid_t pid, struct err *e)
{
	int master, idx;

	if ((master = link_index(n->bridge, STEP_NET_VETH, e)) < 0)
		return -1;
	if (veth_create(n, pid, master) < 0)
		return err_sys(e, STEP_NET_VETH, "RTM_NEWLINK", NULL,
			       "veth %s (peer %s in the sandbox) on %s", n->host_veth, n->ifname,
			       n->bridge);
	if ((idx = link_index(n->host_veth, STEP_NET_VETH, e)) < 0)
		return -1;
	if (port_isolate(idx) < 0) {
		err_sys(e, STEP_NET_VETH, "RTM_SETLINK", NULL, "isolating bridge port %s",
			n->host_veth);
	} else if (link_up(idx) < 0) {
		err_sys(e, STEP_NET_VETH, "RTM_NEWLINK", NULL, "bringing up %s", n->host_veth);
	} else {
		return 0;
	}
	link_delete(idx);
	return -1;
}

int netlink_address(const struct net_attach *n, struct err *e)
{
	struct nlmsg m;
	struct ifaddrmsg ifa = { .ifa_family = AF_INET,
				 .ifa_prefixlen = n->prefix,
				 .ifa_scope = RT_SCOPE_UNIVERSE };
	int idx = link_index(n->ifname, STEP_NET_ADDRESS, e);

	if (idx < 0)
		return -1;
	ifa.ifa_index = idx;
	nl_init(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof(ifa));
	nl_attr(&m, IFA_LOCAL, &n->address, sizeof(n->address));
	nl_attr(&m, IFA_ADDRESS, &n->address, sizeof(n->address));
	if (nl_talk(&m) < 0)
		return err_sys(e, STEP_NET_ADDRESS, "RTM_NEWADDR", NULL, "address on %s",
			       n->ifname);
	if (link_up(idx) < 0)
		return err_sys(e, STEP_NET_ADDRESS, "RTM_NEWLINK", NULL, "bringing up %s",
			       n->ifname);
	return 0;
}

int netlink_route(const struct net_attach *n, struct err *e)
{
	struct rtmsg rt = { .rtm_family = AF_INET,
			    .rtm_table = RT_TABLE_MAIN,
			    .rtm_protocol = RTPROT_BOOT,
			    .rtm_scope = RT_SCOPE_UNIVERSE,
			    .rtm_type = RTN_UNICAST };
	int idx = link_index(n->ifname, STEP_NET_ROUTE, e);
	uint32_t oif;
	struct nlmsg m;

	if (idx < 0)
		return -1;
	oif = idx;
	nl_init(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rt, sizeof(rt));
	nl_attr(&m, RTA_GATEWAY, &n->gateway, sizeof(n->gateway));
	nl_attr(&m, RTA_OIF, &oif, sizeof(oif));
	if (nl_talk(&m) < 0)
		return err_sys(e, STEP_NET_ROUTE, "RTM_NEWROUTE", NULL,
			       "default route via the gateway on %s", n->ifname);
	return 0;
}
