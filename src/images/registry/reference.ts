import { SandboxOptionsError } from '../../errors/sandbox-error.js';

/** An image reference taken apart the way Docker reads one (`python:3.12-slim`, `ghcr.io/org/app@sha256:…`). */
export interface ImageReference {
  /** The registry as named (`docker.io`, `ghcr.io`, `127.0.0.1:5000`). */
  registry: string;
  /** The host the API is reached at: `registry-1.docker.io` for `docker.io`, else `registry`. */
  host: string;
  /** The repository (`library/python`, `org/app`). */
  repository: string;
  /** The tag, when there is one; `latest` when neither tag nor digest was given. */
  tag?: string;
  /** The manifest digest (`sha256:…`), when given. */
  digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const DOMAIN =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::\d{1,5})?$/;

export const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_HOST = 'registry-1.docker.io';

const bad = (ref: string, why: string) =>
  new SandboxOptionsError(
    'ref',
    `${JSON.stringify(ref.length > 200 ? `${ref.slice(0, 197)}...` : ref)} is not an image reference: ${why}`
  );

/**
 * Parses an image reference with Docker's defaults: no registry means Docker Hub (whose API is
 * at registry-1.docker.io), a bare Hub name is under `library/`, no tag and no digest means
 * `latest`. The first component is a registry when it has a `.` or a `:` or is `localhost`.
 * @throws {SandboxOptionsError} `ref` for anything Docker would refuse too.
 */
export function parseReference(ref: string): ImageReference {
  if (typeof ref !== 'string' || ref === '' || ref.length > 4096) throw bad(String(ref), 'expected a non-empty string');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(ref, 'a digest must be sha256: and 64 lowercase hex digits');
  }
  let tag: string | undefined;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(ref, `tag ${JSON.stringify(tag)} is not valid (letters, digits, _ . -, at most 128)`);
  }
  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  const first = parts[0]!;
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    if (!DOMAIN.test(first)) throw bad(ref, `registry ${JSON.stringify(first)} is not a host name`);
    registry = first === 'index.docker.io' ? DOCKER_HUB : first;
    parts.shift();
  }
  if (parts.length === 0 || parts.some((p) => !COMPONENT.test(p)))
    throw bad(ref, 'repository names are lowercase letters and digits, separated by . _ __ - or /');
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  const repository = parts.join('/');
  if (repository.length > 255) throw bad(ref, 'the repository name is longer than 255 characters');
  const out: ImageReference = {
    registry,
    host: registry === DOCKER_HUB ? DOCKER_HUB_HOST : registry,
    repository,
  };
  if (tag !== undefined || digest === undefined) out.tag = tag ?? 'latest';
  if (digest !== undefined) out.digest = digest;
  return out;
}

/** The full name of a reference: `docker.io/library/python:3.12`, `host:5000/app@sha256:…`. */
export function formatReference(r: ImageReference): string {
  return `${r.registry}/${r.repository}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** Whether a string could be an image reference (used to tell one from a store name). */
export function looksLikeReference(ref: string): boolean {
  try {
    parseReference(ref);
    return true;
  } catch {
    return false;
  }
}

/** Whether a registry host is on the loopback interface (plain HTTP is allowed there). */
export function isLoopbackHost(host: string): boolean {
  const name = host
    .replace(/:\d+$/, '')
    .replace(/^\[(.*)\]$/, '$1')
    .toLowerCase();
  return name === 'localhost' || name === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}
