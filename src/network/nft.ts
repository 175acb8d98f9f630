import type { Lease } from './address-allocator.js';
import type { ResolvedEgress } from './egress.js';

// nftables scripts for `nft -f -`. Names and addresses in them come from sandkit itself
// (generated interface names, parsed and re-formatted CIDRs), never from raw user text.
//
// Per network, two tables named alike:
//  - `bridge sandkit_<h>`: a chain per sandbox port that only lets its own address out (ARP
//    and IPv4 from the leased address; anything else, IPv6 included, is dropped), so a
//    sandbox cannot pose as another;
//  - `inet sandkit_<h>`: egress policy on what leaves sandboxes through the host (ports are
//    isolated, so sandbox to sandbox goes through the host too), with conntrack so replies
//    always pass; and masquerade for traffic leaving the subnet.

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
  const out: string[] = [];
  for (const r of egress.rules) {
    const dest = `ip daddr ${r.cidr}`;
    const protocols = r.protocol ? [r.protocol] : ['tcp', 'udp'];
    if (r.ports) for (const p of protocols) out.push(`${dest} ${p} dport { ${r.ports.join(', ')} } accept`);
    else if (r.protocol) out.push(`${dest} meta l4proto ${r.protocol} accept`);
    else out.push(`${dest} accept`);
  }
  out.push('drop');
  return out;
}
