import { Network } from '../network/network.js';
import type { PortMapping } from '../network/port-proxy.js';
import { CliUsageError, defineCommand } from './command.js';

/** `sandkit network create|ls|rm`. */
export const networkCommands = defineCommand({
  name: 'network',
  summary: 'make, list and remove networks that outlive one run',
  subcommands: [
    defineCommand({
      name: 'create',
      summary: 'make a network that stays until removed (root)',
      usage: '[--subnet CIDR] NAME',
      options: { subnet: { type: 'string', value: 'CIDR', description: 'its IPv4 subnet (default: a free /24)' } },
      run: async ({ values, positionals, path }) => {
        if (positionals.length !== 1) throw new CliUsageError('expected one network name', path);
        const net = await Network.create({
          name: positionals[0]!,
          persistent: true,
          ...(values.subnet ? { subnet: values.subnet } : {}),
        });
        console.log(`${net.name} ${net.subnet}`);
        return 0;
      },
    }),
    defineCommand({
      name: 'ls',
      summary: 'list networks',
      options: { json: { type: 'boolean', description: 'print them as JSON' } },
      run: async ({ values }) => {
        const nets = await Network.list();
        if (values.json) console.log(JSON.stringify(nets, null, 2));
        else
          for (const n of nets)
            console.log(
              [
                n.name,
                n.subnet,
                `${n.sandboxes} sandbox(es)`,
                n.persistent ? 'persistent' : `${n.users} process(es)`,
              ].join('\t')
            );
        return 0;
      },
    }),
    defineCommand({
      name: 'rm',
      summary: 'remove networks',
      usage: 'NAME...',
      run: async ({ positionals, path }) => {
        if (positionals.length === 0) throw new CliUsageError('expected a network name', path);
        let missing = 0;
        for (const name of positionals) {
          if (!(await Network.remove(name))) {
            console.error(`sandkit: no network ${name}`);
            missing++;
          }
        }
        return missing > 0 ? 1 : 0;
      },
    }),
  ],
});

/**
 * Docker's `-p`: `[hostAddress:][hostPort:]sandboxPort[/tcp|udp]`. Only a sandbox port
 * (`-p 80`) publishes it on a free host port.
 */
export function parsePublish(spec: string, path = 'run'): PortMapping {
  const bad = () =>
    new CliUsageError(
      `--publish: expected [host-address:][host-port:]sandbox-port[/tcp|udp], got ${JSON.stringify(spec)}`,
      path
    );
  const [ports, protocol = 'tcp', extra] = spec.split('/');
  if (extra !== undefined || (protocol !== 'tcp' && protocol !== 'udp') || !ports) throw bad();
  const parts = ports.split(':');
  if (parts.length > 3) throw bad();
  const port = (text: string | undefined, min: number) => {
    if (text === undefined || !/^\d{1,5}$/.test(text) || Number(text) < min || Number(text) > 65535) throw bad();
    return Number(text);
  };
  const sandbox = port(parts.at(-1), 1);
  const host = parts.length >= 2 ? port(parts.at(-2), 0) : 0;
  const hostAddress = parts.length === 3 ? parts[0]! : undefined;
  return { sandbox, host, protocol, ...(hostAddress !== undefined && { hostAddress }) };
}
