import type { ConnectionOptions } from 'bullmq';
import { SandboxOptionsError } from '../errors/sandbox-error.js';

/** Where Redis is: a `redis://` URL, or what BullMQ takes (ioredis options or an ioredis client). */
export type RedisConnection = string | ConnectionOptions;

/**
 * The options handed to BullMQ. Options objects get `maxRetriesPerRequest: null` unless given
 * (BullMQ requires it of workers; for the producer it means a command waits out a Redis restart
 * instead of failing after 20 retries). A client instance is used as it is.
 */
export function connectionOptions(connection: unknown, field = 'connection'): ConnectionOptions {
  if (typeof connection === 'string') {
    if (!/^rediss?:\/\//.test(connection))
      throw new SandboxOptionsError(field, `expected a redis:// or rediss:// URL, got ${JSON.stringify(connection)}`);
    return { url: connection, maxRetriesPerRequest: null };
  }
  if (typeof connection !== 'object' || connection === null)
    throw new SandboxOptionsError(field, 'expected a redis:// URL, ioredis options or an ioredis client');
  if (typeof (connection as { duplicate?: unknown }).duplicate === 'function') return connection as ConnectionOptions;
  return { maxRetriesPerRequest: null, ...(connection as object) } as ConnectionOptions;
}

/** Checks a queue name as BullMQ uses it in keys: no `:`, printable, not empty. */
export function checkQueueName(name: unknown, field = 'name'): string {
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]{1,200}$/.test(name))
    throw new SandboxOptionsError(
      field,
      `expected a queue name of letters, digits, '_', '.', '-', got ${JSON.stringify(name)}`
    );
  return name;
}

/** The Redis key a producer sets to cancel a job; workers poll it for the jobs they run. */
export function cancelKey(prefix: string, queue: string, jobId: string): string {
  return `${prefix}:${queue}:sandkit:cancel:${jobId}`;
}

/** How a failed attempt's error travels in BullMQ's `failedReason`, so the producer can rebuild it. */
export interface WireError {
  kind: 'invalid' | 'failed' | 'cancelled';
  message: string;
  field?: string;
  code?: string;
}

const WIRE_PREFIX = 'sandkit-job-error:';

/** The failedReason for an error. */
export function encodeError(error: WireError): string {
  return WIRE_PREFIX + JSON.stringify(error);
}

/** The error a failedReason carries, or a plain failure with its text (bounded). */
export function decodeError(reason: string | undefined): WireError {
  const text = String(reason ?? 'unknown failure').slice(0, 64 * 1024);
  if (text.startsWith(WIRE_PREFIX)) {
    try {
      const parsed = JSON.parse(text.slice(WIRE_PREFIX.length)) as Partial<WireError>;
      if (parsed.kind === 'invalid' || parsed.kind === 'failed' || parsed.kind === 'cancelled')
        return {
          kind: parsed.kind,
          message: String(parsed.message ?? ''),
          ...(typeof parsed.field === 'string' && { field: parsed.field }),
          ...(typeof parsed.code === 'string' && { code: parsed.code }),
        };
    } catch {
      // not ours after all: a plain failure below
    }
  }
  return { kind: 'failed', message: text };
}
