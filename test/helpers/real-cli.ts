/**
 * Run the real CLI (bin/modelmount.mjs, the bundle) in a child process: `runBin` as a user would
 * (several at once when called together), `runRealCli` with the import-log hook (`imports` lists
 * every import of the packages modelmount loads on first use only).
 */
import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The `modelmount` bin of this checkout. */
export const BIN = path.join(ROOT, 'bin', 'modelmount.mjs');
const HOOK = pathToFileURL(path.join(ROOT, 'test', 'helpers', 'import-log.mjs')).href;

export function runRealCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string; imports: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', HOOK, BIN, ...args], { env });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, out: out.replace(/^\[import\] \S+\n/gm, ''), imports: [...out.matchAll(/^\[import\] (\S+)$/gm)].map((m) => m[1]!) }),
    );
  });
}

export interface NodeRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The built CLI as an installation that lost its dependencies has it: bin/, dist/ and package.json of
 * this checkout (the bundle rebuilt first when a source is newer) copied into an empty temp folder,
 * with no node_modules there or above it. Its bin runs the bundle (no scripts/: not a checkout), which
 * then finds none of the packages it imports on first use. Returns the copy's bin/modelmount.mjs.
 */
export async function copyWithoutDependencies(): Promise<string> {
  const fresh = spawnSync(process.execPath, [BIN, '--version'], { cwd: ROOT, encoding: 'utf8' });
  if (fresh.status !== 0) throw new Error(`the checkout's bin failed: ${fresh.stderr}`);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'modelmount-no-deps-'));
  for (const name of ['bin', 'dist', 'package.json']) await fs.cp(path.join(ROOT, name), path.join(dir, name), { recursive: true });
  return path.join(dir, 'bin', 'modelmount.mjs');
}

/** Node with `args` in a child process (`opts`: spawn's); `close` names the pipes the reader closes before the child writes. */
export function runNode(args: string[], opts: Omit<SpawnOptions, 'stdio'> & { close?: ('stdout' | 'stderr')[] } = {}): Promise<NodeRun> {
  const { close = [], ...spawnOpts } = opts;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { ...spawnOpts, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    for (const name of close) child[name].destroy();
    if (!close.includes('stdout')) child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    if (!close.includes('stderr')) child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** `modelmount <args>` (bin/modelmount.mjs) in a child process, in the checkout unless `opts.cwd` says otherwise. */
export function runBin(args: string[], opts: Omit<SpawnOptions, 'stdio'> & { close?: ('stdout' | 'stderr')[] } = {}): Promise<NodeRun> {
  return runNode([BIN, ...args], { cwd: ROOT, ...opts });
}
