import { describe, expect, it } from 'vitest';
import { SandboxOptionsError } from '../../src/index.js';
import { allocateAddress, type NetworkRecord } from '../../src/network/address-allocator.js';
import { resolveEgress } from '../../src/network/egress.js';
import { renderHosts } from '../../src/network/hosts-file.js';
import { deleteSandboxRulesScript, sandboxRulesScript } from '../../src/network/nft.js';
import { resolvePortMappings } from '../../src/network/port-proxy.js';
import { isPrivate, parseCidr } from '../../src/network/subnet.js';

const lease = (ip: string, sandbox: string, hostname: string, listed = true) => ({
  ip,
  sandbox,
  session: '1-1-aa',
  hostname,
  listed,
  veth: `sk${sandbox}`,
  hostsFile: `/x/${sandbox}`,
});

describe('network planning (no privileges)', () => {
  it.each([
    ['10.88.0.7/24', '10.88.0.0/24', true],
    ['192.168.5.0/30', '192.168.5.0/30', true],
    ['8.8.8.0/24', '8.8.8.0/24', false],
  ])('parseCidr(%s) is %s, private: %s', (text, cidr, priv) => {
    const s = parseCidr(text, 'subnet');
    expect(s.cidr).toBe(cidr);
    expect(isPrivate(s)).toBe(priv);
  });

  it.each(['10.88.0.0', '10.88.0.0/33', '10.88.0.256/24', '10.88.0.0/24; drop', ''])('rejects %j as a CIDR', (text) => {
    expect(() => parseCidr(text.includes('/') || text === '' ? text : `${text}/x`, 'subnet')).toThrow(
      SandboxOptionsError
    );
  });

  it('allocates round-robin, never the gateway, broadcast or a leased address', () => {
    const rec: NetworkRecord = {
      name: 'n',
      subnet: '10.9.0.0/29',
      bridge: 'b',
      table: 't',
      gateway: '10.9.0.1',
      users: [],
      next: 0,
      leases: [],
    };
    const subnet = parseCidr(rec.subnet, 's');
    const got: string[] = [];
    for (let i = 0; i < 5; i++) {
      const ip = allocateAddress(rec, subnet)!;
      got.push(ip);
      rec.leases.push(lease(ip, `s${i}`, `h${i}`));
    }
    expect(got).toEqual(['10.9.0.2', '10.9.0.3', '10.9.0.4', '10.9.0.5', '10.9.0.6']);
    expect(allocateAddress(rec, subnet)).toBeUndefined();
    rec.leases.splice(0, 1); // 10.9.0.2 released: handed out again only after the others
    expect(allocateAddress(rec, subnet)).toBe('10.9.0.2');
  });

  it('renders /etc/hosts with the sandbox itself and listed peers only', () => {
    const all = [lease('10.9.0.2', 'a', 'db'), lease('10.9.0.3', 'b', 'app'), lease('10.9.0.4', 'c', 'sandbox', false)];
    expect(renderHosts(all[1]!, all)).toBe(
      '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.9.0.3\tapp\n10.9.0.2\tdb\n'
    );
  });

  it('turns egress policies into nft rules, ending in drop unless allow-all', () => {
    const l = lease('10.9.0.2', 'a', 'db');
    expect(sandboxRulesScript('t', l, resolveEgress(undefined, 'egress'))).toMatch(
      /ct state established,related accept\nadd rule inet t sb_ska drop\n/
    );
    expect(sandboxRulesScript('t', l, resolveEgress('allow', 'egress'))).toMatch(/sb_ska accept\n/);
    const list = sandboxRulesScript(
      't',
      l,
      resolveEgress({ allow: ['10.1.2.3', { cidr: '192.168.0.0/16', ports: [443, 80], protocol: 'tcp' }] }, 'egress')
    );
    expect(list).toContain('add rule inet t sb_ska ip daddr 10.1.2.3/32 accept');
    expect(list).toContain('add rule inet t sb_ska ip daddr 192.168.0.0/16 tcp dport { 443, 80 } accept');
    // The host's own addresses only through single-address rules, which come before the drop.
    expect(list).toMatch(
      /ip daddr 10\.1\.2\.3\/32 accept\nadd rule inet t sb_ska fib daddr type local drop\n(.*\n)*.*192\.168\.0\.0\/16 tcp dport/
    );
    expect(list).not.toMatch(/192\.168\.0\.0\/16 tcp dport .*\n(.*\n)*.*fib daddr type local drop/);
    expect(list).toContain('add rule bridge t port_ska ether type ip ip saddr 10.9.0.2 accept');
    expect(deleteSandboxRulesScript('t', l)).toContain('delete chain bridge t port_ska');
  });

  it.each([
    [{ allow: ['10.0.0.0/8 accept'] }, 'egress.allow[0]'],
    [{ allow: [{ cidr: '10.0.0.0/8', ports: [0] }] }, 'egress.allow[0].ports'],
    ['open', 'egress'],
  ])('rejects egress %j naming %s', (policy, field) => {
    expect(() => resolveEgress(policy, 'egress')).toThrow(expect.objectContaining({ field }));
  });

  it('checks published ports', () => {
    expect(resolvePortMappings([{ sandbox: 80 }], 'publish')).toEqual([
      { sandbox: 80, host: 0, protocol: 'tcp', hostAddress: '127.0.0.1' },
    ]);
    expect(() => resolvePortMappings([{ sandbox: 80 }, { sandbox: 80, host: 8080 }], 'publish')).toThrow(
      /published twice/
    );
    expect(() => resolvePortMappings([{ sandbox: 70000 }], 'publish')).toThrow(SandboxOptionsError);
  });
});
