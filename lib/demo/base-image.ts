/**
 * The demo worker's base image: FROM scratch + a static busybox, built locally
 * (no registry is needed). Returns why it cannot be built, if so.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadShell } from '../shell.ts';

export const DEMO_BASE_IMAGE = 'modelmount-demo-busybox:latest';
const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox'];

/** An ELF executable without a PT_INTERP program header needs no dynamic loader: it runs FROM scratch. */
export function isStaticElf(buf: Buffer): boolean {
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46 || buf[4] !== 2 || buf[5] !== 1) return false; // 64-bit little-endian ELF
  const phoff = Number(buf.readBigUInt64LE(0x20));
  const phentsize = buf.readUInt16LE(0x36);
  const phnum = buf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const off = phoff + i * phentsize;
    if (off + 4 > buf.length) return false;
    if (buf.readUInt32LE(off) === 3) return false; // PT_INTERP
  }
  return true;
}

async function staticBusybox(): Promise<string | undefined> {
  for (const p of BUSYBOX_CANDIDATES) {
    const head = await fs.readFile(p).catch(() => undefined);
    if (head && isStaticElf(head)) return p;
  }
  return undefined;
}

export async function ensureDemoBaseImage(): Promise<string | undefined> {
  const sh = (await loadShell())({ quiet: true, nothrow: true, timeout: '120s' });
  if ((await sh`docker image inspect ${DEMO_BASE_IMAGE}`).exitCode === 0) return undefined;
  const busybox = await staticBusybox();
  if (!busybox) return 'no static busybox to build the demo image from (apt-get install busybox-static)';
  const ctx = await fs.mkdtemp(path.join(os.tmpdir(), 'modelmount-demo-image-'));
  try {
    await fs.copyFile(busybox, path.join(ctx, 'busybox'));
    await fs.chmod(path.join(ctx, 'busybox'), 0o755);
    await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox","--install","-s","/bin"]\nCMD ["sh"]\n');
    const out = await sh`docker build -q -t ${DEMO_BASE_IMAGE} ${ctx}`;
    return out.exitCode === 0 ? undefined : `docker build of ${DEMO_BASE_IMAGE} failed: ${(out.stderr || out.stdout).trim().split('\n').pop()}`;
  } finally {
    await fs.rm(ctx, { recursive: true, force: true });
  }
}
