import { createHash, randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { log } from './log.ts';
import type { BenchOptions } from './options.ts';
import { fmtBytes, MiB } from './sizes.ts';

export interface DataFile {
  /** artifact id / path, as served: <id>/<path> */
  id: string;
  path: string;
  size: number;
  sha256: string;
}

/** Random bytes, hashed while written; reused when a previous run left the same sizes in --dir. */
async function writeRandomFile(file: string, size: number): Promise<string> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'w');
  const buf = Buffer.allocUnsafe(16 * MiB);
  try {
    for (let done = 0; done < size; ) {
      const n = Math.min(buf.length, size - done);
      randomFillSync(buf, 0, n);
      hash.update(buf.subarray(0, n));
      for (let w = 0; w < n; ) w += fs.writeSync(fd, buf, w, n - w);
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/**
 * The files a previous run generated in --dir when it was asked for the same sizes (`want`,
 * recorded in `metaFile`) and each is still there with its size, else the ones `generate` writes
 * now, recorded for the next run. Files are at <www>/<id>/<path>.
 */
async function reuseOrGenerate<T>(www: string, metaName: string, want: object, filesOf: (t: T) => DataFile[], generate: () => Promise<T>): Promise<T> {
  const metaFile = path.join(www, metaName);
  try {
    const meta = JSON.parse(await fsp.readFile(metaFile, 'utf8'));
    if (JSON.stringify(meta.want) === JSON.stringify(want) && (await allThere(www, filesOf(meta.files as T)))) {
      log(`▶ Reusing the files of ${metaFile}`);
      return meta.files as T;
    }
  } catch {
    // none yet
  }
  const files = await generate();
  await fsp.writeFile(metaFile, JSON.stringify({ want, files }));
  return files;
}

/** every file at <www>/<id>/<path> with its recorded size (one deleted or cut short: generate again) */
async function allThere(www: string, files: DataFile[]): Promise<boolean> {
  for (const f of files) {
    const st = await fsp.stat(path.join(www, f.id, f.path)).catch(() => undefined);
    if (st?.size !== f.size) return false;
  }
  return true;
}

export function makeDataSet(www: string, opts: BenchOptions): Promise<{ big: DataFile; set: DataFile[] }> {
  return reuseOrGenerate(www, 'dataset.json', { big: opts.big, small: opts.small, count: opts.count }, (d) => [d.big, ...d.set], async () => {
    log(`▶ Generating ${fmtBytes(opts.big)} + ${opts.count} × ${fmtBytes(opts.small)} of random bytes in ${www}`);
    const big: DataFile = { id: 'big', path: 'model.bin', size: opts.big, sha256: '' };
    big.sha256 = await writeRandomFile(path.join(www, big.id, big.path), big.size);
    const set: DataFile[] = [];
    for (let i = 1; i <= opts.count; i++) {
      const f: DataFile = { id: 'set', path: `part-${String(i).padStart(2, '0')}.bin`, size: opts.small, sha256: '' };
      f.sha256 = await writeRandomFile(path.join(www, f.id, f.path), f.size);
      set.push(f);
    }
    return { big, set };
  });
}

/** The file of case 7 (reused when a previous run left the same size in --dir). */
export function makeLinkFile(www: string, opts: BenchOptions): Promise<DataFile> {
  return reuseOrGenerate(www, 'link.json', { size: opts.linkBig }, (f) => [f], async () => {
    log(`▶ Generating ${fmtBytes(opts.linkBig)} of random bytes for the link case`);
    const f: DataFile = { id: 'link', path: 'model.bin', size: opts.linkBig, sha256: '' };
    f.sha256 = await writeRandomFile(path.join(www, f.id, f.path), f.size);
    return f;
  });
}

/** Case 15's set: 2 big files and seedCount smaller ones in one artifact; reused when --dir holds the same sizes. */
export function makeSeedSet(www: string, opts: BenchOptions): Promise<DataFile[]> {
  return reuseOrGenerate(www, 'seed.json', { big: opts.seedBig, small: opts.seedSmall, count: opts.seedCount }, (f) => f, async () => {
    log(`▶ Generating 2 × ${fmtBytes(opts.seedBig)} + ${opts.seedCount} × ${fmtBytes(opts.seedSmall)} in ${www}/seed`);
    await fsp.rm(path.join(www, 'seed'), { recursive: true, force: true });
    const sizes = [opts.seedBig, opts.seedBig, ...Array.from({ length: opts.seedCount }, () => opts.seedSmall)];
    const files: DataFile[] = [];
    for (const [i, size] of sizes.entries()) {
      const rel = `model-${String(i + 1).padStart(5, '0')}-of-${String(sizes.length).padStart(5, '0')}.safetensors`;
      files.push({ id: 'seed', path: rel, size, sha256: await writeRandomFile(path.join(www, 'seed', rel), size) });
    }
    return files;
  });
}

/** The many-file artifact: small files of 1–64 KiB (fixed seed) plus shards; reused when --dir holds the same sizes. */
export function makeManySet(www: string, opts: BenchOptions): Promise<DataFile[]> {
  return reuseOrGenerate(www, 'many.json', { count: opts.manyCount, shards: opts.manyShards, shardSize: opts.manyShardSize }, (f) => f, async () => {
    log(`▶ Generating ${opts.manyCount} files of 1–64 KiB + ${opts.manyShards} × ${fmtBytes(opts.manyShardSize)} in ${www}/many`);
    await fsp.rm(path.join(www, 'many'), { recursive: true, force: true });
    const files: DataFile[] = [];
    let seed = 15;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const buf = Buffer.allocUnsafe(64 * 1024);
    for (let i = 0; i < opts.manyCount; i++) {
      const size = 1024 + Math.floor(rnd() * 63 * 1024);
      randomFillSync(buf, 0, size);
      const rel = `tokenizer/${String(i % 100).padStart(2, '0')}/f${String(i).padStart(5, '0')}.bin`;
      const file = path.join(www, 'many', rel);
      await fsp.mkdir(path.dirname(file), { recursive: true });
      await fsp.writeFile(file, buf.subarray(0, size));
      files.push({ id: 'many', path: rel, size, sha256: createHash('sha256').update(buf.subarray(0, size)).digest('hex') });
    }
    for (let i = 1; i <= opts.manyShards; i++) {
      const rel = `model-${String(i).padStart(5, '0')}-of-${String(opts.manyShards).padStart(5, '0')}.safetensors`;
      files.push({ id: 'many', path: rel, size: opts.manyShardSize, sha256: await writeRandomFile(path.join(www, 'many', rel), opts.manyShardSize) });
    }
    return files;
  });
}

/** A manifest with one artifact per group of files, all from one source. */
export function formatManifest(sourceUrl: string, groups: DataFile[][]): string {
  const lines = ['version: 1', 'hostDir: ./host', 'cacheDir: ./cache', 'sources:', '  - name: origin', `    url: "${sourceUrl}"`, 'artifacts:'];
  for (const files of groups) {
    lines.push(`  - id: ${files[0]!.id}`, '    files:');
    for (const f of files) lines.push(`      - {path: ${f.path}, size: ${f.size}, sha256: ${f.sha256}}`);
  }
  return `${lines.join('\n')}\n`;
}
