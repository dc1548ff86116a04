/**
 * Run the real CLI (bin/modelmount.mjs, the bundle) in a child process with the import-log hook:
 * `imports` lists every import of the packages modelmount loads on first use only.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const HOOK = pathToFileURL(path.join(ROOT, 'test', 'helpers', 'import-log.mjs')).href;

export function runRealCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string; imports: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', HOOK, path.join(ROOT, 'bin', 'modelmount.mjs'), ...args], { env });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, out: out.replace(/^\[import\] \S+\n/gm, ''), imports: [...out.matchAll(/^\[import\] (\S+)$/gm)].map((m) => m[1]!) }),
    );
  });
}
