import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { $ } from 'zx';
import { log } from './log.ts';
import { MiB } from './sizes.ts';

export interface Sample {
  wallS: number;
  /** peak RSS of the process (for pipelines: of the largest single process), KiB → MB */
  rssMB: number;
  cpuS: number;
  load1: number;
}

function loadavg(): number {
  return Number(fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

/** Run `cmd` (argv) under /usr/bin/time; returns wall time, peak RSS and CPU time. Throws on a non-zero exit. */
export async function measure(cmd: string[], cwd: string, before?: () => Promise<void>): Promise<Sample> {
  if (before) await before();
  await $`sync`;
  const timeFile = path.join(os.tmpdir(), `modelmount-bench-time-${process.pid}`);
  const load1 = loadavg();
  const t0 = process.hrtime.bigint();
  const r = await $({ cwd, nothrow: true })`/usr/bin/time -f ${'%e %M %U %S'} -o ${timeFile} ${cmd}`;
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const timeOut = (await fsp.readFile(timeFile, 'utf8')).trim().split('\n').pop()!;
  await fsp.rm(timeFile, { force: true });
  if (r.exitCode !== 0) {
    throw new Error(`${cmd.join(' ')} exited ${r.exitCode}\n${r.stderr.slice(-2000)}\n${r.stdout.slice(-2000)}`);
  }
  const [, rssKiB, user, sys] = timeOut.split(' ').map(Number);
  return { wallS, rssMB: (rssKiB ?? 0) / 1024, cpuS: (user ?? 0) + (sys ?? 0), load1 };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Reads every file once, so that every contender finds it in the page cache. */
export async function readAll(files: string[]): Promise<void> {
  const buf = Buffer.allocUnsafe(8 * MiB);
  for (const f of files) {
    const fd = fs.openSync(f, 'r');
    try {
      while (fs.readSync(fd, buf, 0, buf.length, null) > 0);
    } finally {
      fs.closeSync(fd);
    }
  }
}

export interface Contender {
  name: string;
  cmd: string[];
  /** prepare a clean start (delete outputs) — not timed */
  before?: () => Promise<void>;
  /** delete the outputs right after the measurement (large cases: keeps the page cache and disk for the next) — not timed */
  after?: () => Promise<void>;
}

export interface CaseResult {
  id: string;
  title: string;
  tool: Contender;
  /** the same command from the --baseline checkout */
  baseline?: Contender;
  peers: Contender[];
  samples: Map<string, Sample[]>;
  targets: { peer: string; max: number }[];
  absoluteMaxS?: number;
  /** modelmount's median may exceed this peer's by at most maxS seconds */
  diffMaxS?: { peer: string; maxS: number };
  note?: string;
}

/**
 * `rounds` rounds of every contender in turn, the order rotated by one each round, so that each
 * contender runs first, second, … equally often (over a multiple of their number of rounds). The
 * first run after a round's deletions pays for them: with three contenders and the order only
 * reversed, the middle one never ran first, and the many-file cases measured that instead of the
 * tools (bench/RESULTS.md, issue 15, fifth round).
 */
export async function runCase(c: CaseResult, cwd: string, rounds: number): Promise<void> {
  const all = [c.tool, ...(c.baseline ? [c.baseline] : []), ...c.peers];
  for (const x of all) c.samples.set(x.name, []);
  for (let round = 0; round < rounds; round++) {
    const shift = round % all.length;
    const order = [...all.slice(shift), ...all.slice(0, shift)];
    const line: string[] = [];
    for (const x of order) {
      const s = await measure(x.cmd, cwd, x.before);
      if (x.after) await x.after();
      c.samples.get(x.name)!.push(s);
      line.push(`${x.name} ${s.wallS.toFixed(2)} s`);
    }
    log(`  case ${c.id} round ${round + 1}/${rounds}: ${line.join(', ')}`);
  }
}
