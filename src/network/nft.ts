import type { Lease } from './address-allocator.js';
import type { ResolvedEgress, ResolvedEgressRule } from './egress.js';

// nftables scripts for `nft -f -`. Names and addresses in them come from sandkit itself
// (generated interface names, parsed and re-formatted CIDRs), never from raw user text.
//
// Per network, two tables named alike:
//  - `bridge sandkit_<h>`: a chain per sandbox port that only lets its own address out (ARP
//    and IPv4 from the leased address; anything else, IPv6 included, is dropped), so a
//    sandbox cannot pose as another;
//  - `inet sandkit_<h>`: egress policy on what leaves sandboxes through the host (ports are
//    isolated, so sandbox to sandbox goes through the host too), with conntrack so replies
//    always pass; and masquerade for traffic leaving the subnet. An allow-list never opens
//    the host's own addresses (the gateway) unless it names them one by one.

/** The tables of a network (loaded once by `Network.create`). */
export function networkTablesScript(table: string, bridge: string, subnet: string): string {
  return `table inet ${table} {
  map sandboxes { type ipv4_addr : verdict; }
  chain forward_egress { type filter hook forward priority filter; policy accept; iifname "${bridge}" ip saddr vmap @sandboxes; }
  chain input_egress { type filter hook input priority filter; policy accept; iifname "${bridge}" ip saddr vmap @sandboxes; }
  chain postrouting_nat { type nat hook postrouting priority srcnat; policy accept; ip saddr ${subnet} ip daddr != ${subnet} masquerade; }
}
table bridge ${table} {
  map ports { type ifname : verdict; }
  chain prerouting_ports { type filter hook prerouting priority filter; policy accept; iifname vmap @ports; }
}
`;
}

/** Deletes a network's tables. */
export function deleteTablesScript(table: string): string {
  return `delete table inet ${table}\ndelete table bridge ${table}\n`;
}

/** One sandbox's rules: its port's address check and its egress policy. */
export function sandboxRulesScript(table: string, lease: Lease, egress: ResolvedEgress): string {
  const port = `port_${lease.veth}`;
  const sb = `sb_${lease.veth}`;
  const lines = [
    `add chain bridge ${table} ${port}`,
    `add rule bridge ${table} ${port} ether type arp arp saddr ip ${lease.ip} accept`,
    `add rule bridge ${table} ${port} ether type ip ip saddr ${lease.ip} accept`,
    `add rule bridge ${table} ${port} drop`,
    `add element bridge ${table} ports { "${lease.veth}" : jump ${port} }`,
    `add chain inet ${table} ${sb}`,
    `add rule inet ${table} ${sb} ct state established,related accept`,
    ...egressRules(egress).map((r) => `add rule inet ${table} ${sb} ${r}`),
    `add element inet ${table} sandboxes { ${lease.ip} : jump ${sb} }`,
  ];
  return `${lines.join('\n')}\n`;
}

/** Removes what `sandboxRulesScript` added. */
export function deleteSandboxRulesScript(table: string, lease: Pick<Lease, 'veth' | 'ip'>): string {
  return [
    `delete element inet ${table} sandboxes { ${lease.ip} }`,
    `flush chain inet ${table} sb_${lease.veth}`,
    `delete chain inet ${table} sb_${lease.veth}`,
    `delete element bridge ${table} ports { "${lease.veth}" }`,
    `flush chain bridge ${table} port_${lease.veth}`,
    `delete chain bridge ${table} port_${lease.veth}`,
    '',
  ].join('\n');
}

function egressRules(egress: ResolvedEgress): string[] {
  if (egress.kind === 'allow') return ['accept'];
  if (egress.kind === 'deny') return ['drop'];
  // The host's own addresses (the gateway first: every host service bound to 0.0.0.0 listens
  // there) are reached only through rules naming one address (a /32): a range that happens to
  // contain them, the network's own subnet included, does not open the host.
  const toOneAddress = egress.rules.filter((r) => r.cidr.endsWith('/32'));
  return [...toOneAddress.flatMap(ruleLines), 'fib daddr type local drop', ...egress.rules.flatMap(ruleLines), 'drop'];
}

/** One egress rule as nft accept lines (bridge networks and user-mode networks alike). */
export function ruleLines(r: ResolvedEgressRule): string[] {
  const dest = `ip daddr ${r.cidr}`;
  const protocols = r.protocol ? [r.protocol] : ['tcp', 'udp'];
  if (r.ports) return protocols.map((p) => `${dest} ${p} dport { ${r.ports!.join(', ')} } accept`);
  if (r.protocol) return [`${dest} meta l4proto ${r.protocol} accept`];
  return [`${dest} accept`];
}
