/*
 * netlink.h — rtnetlink for attached sandboxes (netlink.c) and nftables scripts (nft.c).
 *
 * netlink_veth_from_parent and the nft request run in the supervisor; netlink_address
 * and netlink_route in the init, inside the sandbox's network namespace.
 */
#ifndef SANDKIT_NETLINK_H
#define SANDKIT_NETLINK_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"
#include "proto.h"

/* The veth pair: host end on the bridge (isolated port, up), peer in pid's network namespace. */
int netlink_veth_from_parent(const struct net_attach *n, pid_t pid, struct err *e);
/* The address on the sandbox's interface, and the interface up. */
int netlink_address(const struct net_attach *n, struct err *e);
/* The default route through the gateway. */
int netlink_route(const struct net_attach *n, struct err *e);

/* The `nft` request: starts `nft -f -` with script on its stdin and returns at once; the
 * answer (`ok`, or an `error` with step net.nft and nft's first line of stderr) goes out
 * when it is reaped. With sandbox (not NULL), nft runs in that sandbox's network namespace. */
void nft_request_from_parent(long long req, const char *script, const char *sandbox);
/* SIGCHLD reaped pid: if it was an nft run, answer its request and return true. */
bool nft_reaped(pid_t pid, int status);

#endif
