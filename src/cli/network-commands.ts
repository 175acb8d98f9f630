import { parseArgs } from 'node:util';
import { SandboxOptionsError } from '../errors/sandbox-error.js';
import { Network } from '../network/network.js';
import type { PortMapping } from '../network/port-proxy.js';

/** `sandkit network create|ls|rm`. */
export async function networkCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { subnet: { type: 'string' }, json: { type: 'boolean' } },
  });
  if (sub === 'create') {
    if (positionals.length !== 1)
      throw new SandboxOptionsError('name', 'usage: sandkit network create [--subnet CIDR] <name>');
    const net = await Network.create({
      name: positionals[0]!,
      persistent: true,
      ...(values.subnet ? { subnet: values.subnet } : {}),
    });
    console.log(`${net.name} ${net.subnet}`);
    return 0;
  }
  if (sub === 'ls') {
    const nets = await Network.list();
    if (values.json) console.log(JSON.stringify(nets, null, 2));
    else
      for (const n of nets)
        console.log(
          [n.name, n.subnet, `${n.sandboxes} sandbox(es)`, n.persistent ? 'persistent' : `${n.users} process(es)`].join(
            '\t'
          )
        );
    return 0;
  }
  if (sub === 'rm') {
    if (positionals.length === 0) throw new SandboxOptionsError('name', 'usage: sandkit network rm <name>...');
    let missing = 0;
    for (const name of positionals) {
      if (!(await Network.remove(name))) {
        console.error(`sandkit: no network ${name}`);
        missing++;
      }
    }
    return missing > 0 ? 1 : 0;
  }
  console.error('Usage: sandkit network create [--subnet CIDR] <name> | ls [--json] | rm <name>...');
  return 2;
}

/**
 * Docker's `-p`: `[hostAddress:][hostPort:]sandboxPort[/tcp|udp]`. Only a sandbox port
 * (`-p 80`) publishes it on a free host port.
 */
export function parsePublish(spec: string): PortMapping {
  const bad = () =>
    new SandboxOptionsError(
      'publish',
      `expected [host-address:][host-port:]sandbox-port[/tcp|udp], got ${JSON.stringify(spec)}`
    );
  const [ports, protocol = 'tcp', extra] = spec.split('/');
  if (extra !== undefined || (protocol !== 'tcp' && protocol !== 'udp') || !ports) throw bad();
  const parts = ports.split(':');
  if (parts.length > 3) throw bad();
  const port = (text: string | undefined) => {
    if (text === undefined || !/^\d{1,5}$/.test(text)) throw bad();
    return Number(text);
  };
  const sandbox = port(parts.at(-1));
  const host = parts.length >= 2 ? port(parts.at(-2)) : 0;
  const hostAddress = parts.length === 3 ? parts[0]! : undefined;
  return { sandbox, host, protocol, ...(hostAddress !== undefined && { hostAddress }) };
}
