/**
 * A child process for test/switch-aside.test.ts: the real `modelmount` command line, run in this
 * process, on a host folder where link() is refused (EPERM, as on a filesystem without hardlinks),
 * stopping for good at one moment of the switch of `<dest>`, after saying `at <moment>` on stdout,
 * for the test to kill it there:
 *   place    the new file is about to be renamed over <dest>; its previous file was moved aside (<dest> is missing)
 *   cleanup  the new file is at <dest>; its previous file is about to be removed
 *   none     no stop: exits with the command's exit status
 *   node --import tsx test/helpers/switch-kill-child.ts <hostDir> <dest> <moment> <modelmount args…>
 */
import type { PathLike } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { runCliCaptured } from './cli.ts';

const [hostDir, dest, moment, ...args] = process.argv.slice(2) as [string, string, 'place' | 'cleanup' | 'none', ...string[]];
const forever = () => new Promise<never>(() => setInterval(() => {}, 1 << 30));
const stop = async (): Promise<never> => {
  process.stdout.write(`at ${moment}\n`);
  return forever();
};

const { link, rename, unlink } = fs;
fs.link = (async (from: PathLike, to: PathLike) => {
  if (String(to).startsWith(hostDir + path.sep)) throw Object.assign(new Error(`EPERM: operation not permitted, link '${String(from)}' -> '${String(to)}'`), { code: 'EPERM' });
  return link(from, to);
}) as typeof fs.link;

// the previous file at <dest>, known by its inode wherever it is moved
const previous = await fs.lstat(dest).then((st) => st.ino, () => undefined);
fs.rename = (async (from: PathLike, to: PathLike) => {
  if (moment === 'place' && String(to) === dest && String(from) !== dest) await stop();
  return rename(from, to);
}) as typeof fs.rename;
fs.unlink = (async (p: PathLike) => {
  if (moment === 'cleanup' && previous !== undefined && (await fs.lstat(p).then((st) => st.ino, () => undefined)) === previous) await stop();
  return unlink(p);
}) as typeof fs.unlink;

const r = await runCliCaptured(args);
process.stderr.write(r.stderr);
process.exitCode = r.code;
