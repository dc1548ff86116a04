import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { DataFile } from '../data.ts';
import { log } from '../log.ts';
import { runCase, type CaseResult, type Contender } from '../measure.ts';
import type { BenchOptions } from '../options.ts';

/** What every case needs: the options, the folders, the server, the main data set, and how to run a case. */
export interface CaseContext {
  opts: BenchOptions;
  /** the bench folder: www, work and the servers' files */
  dir: string;
  /** what nginx serves: <www>/<artifact id>/<path> */
  www: string;
  /** every output goes below it; emptied at the start and removed at the end */
  work: string;
  /** nginx on loopback, serving www */
  url: string;
  big: DataFile;
  set: DataFile[];
  /** argv that starts the modelmount under test */
  mm: string[];
  /** every case run so far, in order */
  results: CaseResult[];
  /** deletes these folders/files of `work` (a contender's `before`/`after`) */
  fresh: (...dirs: string[]) => () => Promise<void>;
  /** `modelmount update` of a manifest into its own host and cache folders below `work` */
  update: (manifestFile: string, host: string, cache: string) => string[];
  /** writes a manifest into `work`; returns its path */
  writeManifest: (name: string, yaml: string) => string;
  /** the tool's command with the baseline's bin and its own folders (suffix "b"); undefined without --baseline */
  baselineOf: (tool: Contender, dirs?: string[]) => Contender | undefined;
  /** runs the case (default: --rounds rounds) and adds it to `results` */
  run: (c: CaseResult, rounds?: number) => Promise<void>;
}

export function makeCaseContext(opts: BenchOptions, at: { dir: string; www: string; work: string; url: string; big: DataFile; set: DataFile[] }): CaseContext {
  const { work } = at;
  const mm = ['node', opts.modelmount];
  const results: CaseResult[] = [];
  const fresh = (...dirs: string[]) => async () => {
    for (const d of dirs) await fsp.rm(path.join(work, d), { recursive: true, force: true });
  };
  return {
    ...at,
    opts,
    mm,
    results,
    fresh,
    update: (manifestFile, host, cache) => [...mm, 'update', '--manifest', manifestFile, '--yes', '--host-dir', path.join(work, host), '--cache-dir', path.join(work, cache)],
    writeManifest: (name, yaml) => {
      const p = path.join(work, name);
      fs.writeFileSync(p, yaml);
      return p;
    },
    baselineOf: (tool, dirs = []) => {
      if (!opts.baseline) return undefined;
      const cmd = tool.cmd.map((a) => (a === opts.modelmount ? opts.baseline! : dirs.some((d) => a.endsWith(`/${d}`)) ? `${a}b` : a));
      const own = dirs.length ? fresh(...dirs.map((d) => `${d}b`)) : undefined;
      return { name: 'modelmount before', cmd, ...(own ? { before: own } : {}), ...(own && tool.after ? { after: own } : {}) };
    },
    run: async (c, rounds = opts.rounds) => {
      log(`▶ Case ${c.id}: ${c.title}`);
      await runCase(c, work, rounds);
      results.push(c);
    },
  };
}
