import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseReference, formatReference, isLoopbackHost } from '../../src/images/registry/reference.js';
import { parseChallenge } from '../../src/images/registry/client.js';
import { choosePlatform, parsePlatform, type Descriptor } from '../../src/images/registry/manifest.js';
import { credentialsFor } from '../../src/images/registry/credentials.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseReference (Docker defaults)', () => {
  it.each([
    ['python', 'docker.io', 'registry-1.docker.io', 'library/python', 'latest', undefined],
    ['python:3.12-slim', 'docker.io', 'registry-1.docker.io', 'library/python', '3.12-slim', undefined],
    ['org/app', 'docker.io', 'registry-1.docker.io', 'org/app', 'latest', undefined],
    ['docker.io/library/alpine:3', 'docker.io', 'registry-1.docker.io', 'library/alpine', '3', undefined],
    ['index.docker.io/alpine', 'docker.io', 'registry-1.docker.io', 'library/alpine', 'latest', undefined],
    ['ghcr.io/org/judge-cpp:2026', 'ghcr.io', 'ghcr.io', 'org/judge-cpp', '2026', undefined],
    ['localhost/app', 'localhost', 'localhost', 'app', 'latest', undefined],
    ['127.0.0.1:5000/a/b/c:t', '127.0.0.1:5000', '127.0.0.1:5000', 'a/b/c', 't', undefined],
    [`app@${D}`, 'docker.io', 'registry-1.docker.io', 'library/app', undefined, D],
    [`host:1/app:v1@${D}`, 'host:1', 'host:1', 'app', 'v1', D],
  ])('%s', (ref, registry, host, repository, tag, digest) => {
    const r = parseReference(ref);
    expect(r).toEqual({ registry, host, repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) });
    expect(parseReference(formatReference(r))).toEqual(r);
  });

  it.each([
    '',
    'UPPER',
    'a:b:c',
    'app@sha256:abc',
    'app@md5:' + 'a'.repeat(32),
    'a//b',
    '-a',
    'a:' + 'x'.repeat(129),
    'a/../b',
  ])('refuses %j', (ref) => {
    expect(() => parseReference(ref)).toThrow(expect.objectContaining({ code: 'ERR_SANDBOX_OPTIONS', field: 'ref' }));
  });

  it('knows loopback hosts', () => {
    for (const h of ['127.0.0.1:5000', 'localhost', '[::1]:80', '127.3.4.5']) expect(isLoopbackHost(h)).toBe(true);
    for (const h of ['10.0.0.1:5000', 'registry.local', 'localhost.evil.com', '[::2]'])
      expect(isLoopbackHost(h)).toBe(false);
  });
});

describe('WWW-Authenticate challenges', () => {
  it('parses Bearer and Basic', () => {
    expect(
      parseChallenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/python:pull"'
      )
    ).toEqual({
      scheme: 'bearer',
      params: {
        realm: 'https://auth.docker.io/token',
        service: 'registry.docker.io',
        scope: 'repository:library/python:pull',
      },
    });
    expect(parseChallenge('Basic realm="x"')).toEqual({ scheme: 'basic', params: { realm: 'x' } });
    expect(parseChallenge(null)).toBeUndefined();
  });
});

describe('platform choice', () => {
  const entry = (architecture: string, variant?: string): Descriptor => ({
    mediaType: '',
    digest: D,
    size: 1,
    platform: { os: 'linux', architecture, ...(variant ? { variant } : {}) },
  });
  it('matches os, architecture and variant, and never falls back to the first entry', () => {
    const list = [entry('amd64'), entry('arm', 'v6'), entry('arm', 'v7'), entry('arm64', 'v8')];
    expect(choosePlatform(list, parsePlatform('linux/arm/v7'))).toBe(list[2]);
    expect(choosePlatform(list, parsePlatform('linux/arm64/v8'))).toBe(list[3]);
    expect(choosePlatform([entry('arm64')], parsePlatform('linux/arm64/v8'))).not.toBeNull();
    expect(choosePlatform(list, parsePlatform('amd64'))).toBe(list[0]);
    expect(choosePlatform(list, parsePlatform('linux/s390x'))).toBeNull();
    expect(choosePlatform([entry('arm', 'v7')], parsePlatform('linux/arm/v6'))).toBeNull();
  });
});

describe('credentials files', () => {
  it('reads auths (base64 auth) from REGISTRY_AUTH_FILE before Docker config, with Hub aliases', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sandkit-auth-'));
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    writeFileSync(join(dir, 'a.json'), JSON.stringify({ auths: { 'reg.example:5000': { auth: b64('u1:p:1') } } }));
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({
        auths: { 'https://index.docker.io/v1/': { auth: b64('hub:pw') }, 'reg.example:5000': { auth: b64('u2:p2') } },
      })
    );
    const env = { REGISTRY_AUTH_FILE: join(dir, 'a.json'), DOCKER_CONFIG: dir };
    expect(credentialsFor('reg.example:5000', env)).toEqual({ username: 'u1', password: 'p:1' });
    expect(credentialsFor('docker.io', env)).toEqual({ username: 'hub', password: 'pw' });
    expect(credentialsFor('other.example', env)).toBeUndefined();
    expect(credentialsFor('reg.example:5000', { DOCKER_CONFIG: dir })).toEqual({ username: 'u2', password: 'p2' });
  });
});
