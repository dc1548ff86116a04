import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { minimist } from 'zx';
import { GiB, MiB, parseSize } from './sizes.ts';

/** the checkout this bench belongs to */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export type BenchArgv = ReturnType<typeof minimist>;

export interface BenchOptions {
  quick: boolean;
  big: number;
  small: number;
  count: number;
  manyCount: number;
  manyShards: number;
  manyShardSize: number;
  /** the file of case 7 (a 40 ms link is slow: smaller than --big by default) */
  linkBig: number;
  /** case 15, the seed's size: 2 × seedBig + seedCount × seedSmall, fetched with --jobs seedJobs against xargs -P<seedJobs> curl */
  seedBig: number;
  seedSmall: number;
  seedCount: number;
  seedJobs: number;
  rounds: number;
  dir: string | undefined;
  cases: Set<string>;
  out: string;
  modelmount: string;
  /** another checkout's bin/modelmount.mjs, measured in the same rounds ("before") */
  baseline: string | undefined;
  label: string;
  keep: boolean;
}

export function parseArgv(args: string[]): BenchArgv {
  return minimist(args, {
    boolean: ['quick', 'keep', 'help'],
    string: ['big', 'small', 'count', 'rounds', 'dir', 'cases', 'out', 'modelmount', 'baseline', 'label', 'link-big', 'many-count', 'many-shards', 'many-shard-size', 'seed-big', 'seed-small', 'seed-count', 'seed-jobs'],
  });
}

/** Every flag, else its BENCH_* environment twin, else the default (smaller with --quick). */
export function readOptions(argv: BenchArgv, env: NodeJS.ProcessEnv): BenchOptions {
  const quick = Boolean(argv.quick);
  return {
    quick,
    big: parseSize(argv.big ?? env.BENCH_BIG, quick ? 256 * MiB : 2 * GiB),
    small: parseSize(argv.small ?? env.BENCH_SMALL, quick ? 16 * MiB : 128 * MiB),
    count: Number(argv.count ?? env.BENCH_COUNT ?? 8),
    manyCount: Number(argv['many-count'] ?? env.BENCH_MANY_COUNT ?? (quick ? 2000 : 20000)),
    manyShards: Number(argv['many-shards'] ?? env.BENCH_MANY_SHARDS ?? (quick ? 4 : 20)),
    manyShardSize: parseSize(argv['many-shard-size'] ?? env.BENCH_MANY_SHARD_SIZE, quick ? 8 * MiB : 100 * MiB),
    linkBig: parseSize(argv['link-big'] ?? env.BENCH_LINK_BIG, quick ? 64 * MiB : 512 * MiB),
    seedBig: parseSize(argv['seed-big'] ?? env.BENCH_SEED_BIG, quick ? 256 * MiB : 2 * GiB),
    seedSmall: parseSize(argv['seed-small'] ?? env.BENCH_SEED_SMALL, quick ? 32 * MiB : 256 * MiB),
    seedCount: Number(argv['seed-count'] ?? env.BENCH_SEED_COUNT ?? 6),
    /** modelmount's own default (lib/run-context.ts): 1 per core, 2 to 4 */
    seedJobs: Number(argv['seed-jobs'] ?? env.BENCH_SEED_JOBS ?? Math.max(2, Math.min(4, os.availableParallelism()))),
    rounds: Number(argv.rounds ?? env.BENCH_ROUNDS ?? (quick ? 3 : 5)),
    dir: (argv.dir ?? env.BENCH_DIR) as string | undefined,
    cases: new Set(String(argv.cases ?? env.BENCH_CASES ?? '1,2,3,4,5,7,8,9,10,16').split(',').map((s) => s.trim())),
    out: (argv.out ?? env.BENCH_OUT ?? (quick ? '' : path.join(ROOT, 'bench', 'RESULTS.md'))) as string,
    modelmount: path.resolve((argv.modelmount ?? env.BENCH_MODELMOUNT ?? path.join(ROOT, 'bin', 'modelmount.mjs')) as string),
    baseline: (argv.baseline ?? env.BENCH_BASELINE) ? path.resolve((argv.baseline ?? env.BENCH_BASELINE) as string) : undefined,
    label: (argv.label as string | undefined) ?? '',
    keep: Boolean(argv.keep),
  };
}
