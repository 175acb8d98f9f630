// Checks a line the helper sent against spec/protocol.json (through HELPER_LINE_SCHEMA), so a
// field that report.c writes differently from the spec is caught where it is first seen.
// HelperConnection runs it on every line when SANDKIT_CHECK_PROTOCOL=1 (the test suites set it).

import { HELPER_LINE_SCHEMA, type SchemaNode } from './protocol.js';

/** What is wrong with `msg` (a reply, an event, or with `handle` a NODE_HANDLE `msg`), or null. */
export function protocolProblem(msg: unknown, handle = false): string | null {
  const type = (msg as { type?: unknown } | null)?.type;
  if (typeof type !== 'string') return 'a line without a string `type`';
  const schema = handle
    ? HELPER_LINE_SCHEMA[`handle:${type}`]
    : (HELPER_LINE_SCHEMA[`reply:${type}`] ?? HELPER_LINE_SCHEMA[`event:${type}`]);
  if (!schema) return `\`${type}\`: not a ${handle ? 'handle message' : 'reply or event'} of the spec`;
  return problemAt(msg, schema, type);
}

function problemAt(value: unknown, node: SchemaNode, where: string): string | null {
  if (value === null) return node.nullable ? null : `${where}: null`;
  if (node.enum && !node.enum.includes(value as string | boolean))
    return `${where}: ${JSON.stringify(value)} is not one of ${node.enum.join(', ')}`;
  switch (node.type) {
    case 'string':
      return typeof value === 'string' ? null : `${where}: not a string`;
    case 'boolean':
      return typeof value === 'boolean' ? null : `${where}: not a boolean`;
    case 'integer':
      if (!Number.isSafeInteger(value)) return `${where}: not an integer`;
      if (
        (node.min !== undefined && (value as number) < node.min) ||
        (node.max !== undefined && (value as number) > node.max)
      )
        return `${where}: ${value as number} out of range`;
      return null;
    case 'array': {
      if (!Array.isArray(value)) return `${where}: not an array`;
      for (const [i, item] of value.entries()) {
        const p = problemAt(item, node.items as SchemaNode, `${where}[${i}]`);
        if (p) return p;
      }
      return null;
    }
    case 'tuple': {
      const items = node.items as SchemaNode[];
      if (!Array.isArray(value) || value.length !== items.length) return `${where}: not a ${items.length}-tuple`;
      for (const [i, item] of items.entries()) {
        const p = problemAt(value[i], item, `${where}[${i}]`);
        if (p) return p;
      }
      return null;
    }
    case 'oneOf':
      return node.options!.some((o) => problemAt(value, o, where) === null) ? null : `${where}: matches no option`;
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) return `${where}: not an object`;
      const fields = node.fields ?? {};
      const obj = value as Record<string, unknown>;
      for (const [key, field] of Object.entries(fields)) {
        if (!(key in obj)) {
          if (!field.optional) return `${where}.${key}: missing`;
          continue;
        }
        const p = problemAt(obj[key], field, `${where}.${key}`);
        if (p) return p;
      }
      if (!node.open)
        for (const key of Object.keys(obj)) if (!(key in fields)) return `${where}.${key}: not in the spec`;
      return null;
    }
  }
}
