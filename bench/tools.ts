import fs from 'node:fs';
import path from 'node:path';
import { $ } from 'zx';
import type { CaseContext } from './cases/context.ts';
import { log } from './log.ts';
import type { Contender } from './measure.ts';

/** Installs the peers (and, for the link cases 7 and 8, what builds the namespace) with apt-get when missing; root only. */
export async function ensureTools(cases: Set<string>): Promise<void> {
  const need: Record<string, string> = {
    '/usr/sbin/nginx': 'nginx-light',
    '/usr/bin/aria2c': 'aria2',
    '/usr/bin/curl': 'curl',
    '/usr/bin/sha256sum': 'coreutils',
    '/usr/bin/time': 'time',
    '/usr/bin/openssl': 'openssl',
    ...(cases.has('7') || cases.has('8')
      ? { '/usr/bin/gcc': 'gcc', '/usr/include/libnetfilter_queue/libnetfilter_queue.h': 'libnetfilter-queue-dev', '/usr/sbin/iptables-legacy': 'iptables', '/usr/sbin/tc': 'iproute2' }
      : {}),
  };
  const missing = Object.entries(need).filter(([bin]) => !fs.existsSync(bin)).map(([, pkg]) => pkg);
  if (!missing.length) return;
  if (process.getuid?.() !== 0) throw new Error(`missing ${missing.join(', ')}: install them (apt-get install ${missing.join(' ')}) or run as root`);
  log(`▶ apt-get install ${missing.join(' ')}`);
  await $({ env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })`apt-get update -qq`;
  await $({ env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })`apt-get install -y -qq --no-install-recommends ${missing}`;
}

/**
 * aria2c as a peer: `flags` (files and connections at once) and what to fetch (`input`), written
 * into <work>/<out> (overwriting), which is deleted before each round.
 */
export function aria2cPeer({ work, fresh }: Pick<CaseContext, 'work' | 'fresh'>, p: { name: string; flags: string[]; out: string; input: string[] }): Contender {
  return {
    name: p.name,
    cmd: ['aria2c', '-q', ...p.flags, '--allow-overwrite=true', '--auto-file-renaming=false', '-d', path.join(work, p.out), ...p.input],
    before: fresh(p.out),
  };
}

export async function readVersions(): Promise<Record<string, string>> {
  const first = async (p: Promise<{ stdout: string; stderr: string }>) => {
    try {
      const r = await p;
      return (r.stdout || r.stderr).split('\n')[0]!.trim();
    } catch (err) {
      return String((err as { stderr?: string }).stderr ?? err).split('\n')[0]!.trim();
    }
  };
  return {
    node: process.version,
    nginx: (await first($`nginx -v`)).replace(/^nginx version: /, ''),
    curl: (await first($`curl --version`)).split(' ').slice(0, 2).join(' '),
    aria2c: await first($`aria2c --version`),
    sha256sum: await first($`sha256sum --version`),
  };
}

/** `openssl speed -evp sha256` on one core, 16 KiB blocks: bytes per second (undefined if it cannot be read). */
export async function measureOpensslSpeed(): Promise<number | undefined> {
  const r = await $({ nothrow: true })`openssl speed -evp sha256 -seconds 2 -bytes 16384`;
  const m = /^sha256\s.*?([\d.]+)k\s*$/im.exec(r.stdout);
  return m ? Number(m[1]) * 1000 : undefined;
}
