import fs from 'node:fs';
import path from 'node:path';
import { formatManifest, makeManySet } from '../data.ts';
import { measure, readAll, type CaseResult } from '../measure.ts';
import { fmtBytes } from '../sizes.ts';
import { aria2cPeer } from '../tools.ts';
import type { CaseContext } from './context.ts';

/**
 * Cases 11–14 on the many-file artifact (many files of 1–64 KiB + a few shards): 11 over HTTP against aria2c,
 * 12 from a local folder against `cp -r` + sha256sum, 13 a no-op update and 14 verify of what 12 installed.
 */
export async function runManyFilesCases(ctx: CaseContext): Promise<void> {
  const { opts, work, www, url, mm, fresh, update, writeManifest, baselineOf, run } = ctx;
  if (!['11', '12', '13', '14'].some((x) => opts.cases.has(x))) return;
  const many = await makeManySet(www, opts);
  const manyBytes = many.reduce((s, f) => s + f.size, 0);
  const what = `${opts.manyCount} files of 1–64 KiB + ${opts.manyShards} × ${fmtBytes(opts.manyShardSize)} (${fmtBytes(manyBytes)})`;
  const srcDir = path.join(www, 'many');
  await readAll(many.map((f) => path.join(srcDir, f.path)));
  const mManyHttp = writeManifest('many-http.yaml', formatManifest(url, [many]));
  const mManyFile = writeManifest('many-file.yaml', formatManifest(`${www}/`, [many]));
  if (opts.cases.has('11')) {
    const list = path.join(work, 'aria11-input.txt');
    fs.writeFileSync(list, many.map((f) => `${url}many/${f.path}\n  out=${f.path}`).join('\n') + '\n');
    const aria = aria2cPeer(ctx, { name: 'aria2c -i list -j16', flags: ['-j16'], out: 'aria11', input: ['-i', list] });
    const c: CaseResult = {
      id: '11',
      title: `many files over HTTP: ${what}`,
      tool: { name: 'modelmount update', cmd: update(mManyHttp, 'h11', 'c11'), before: fresh('h11', 'c11') },
      peers: [aria],
      samples: new Map(),
      targets: [{ peer: aria.name, max: 0.8 }],
      note: 'aria2c verifies nothing. Peak RSS target ≤ 200 MB: see the RSS column.',
    };
    c.baseline = baselineOf(c.tool, ['h11', 'c11']);
    await run(c);
    await fresh('aria11', 'h11', 'c11', 'h11b', 'c11b')();
  }
  if (opts.cases.has('12')) {
    const dst = path.join(work, 'cp12');
    const c: CaseResult = {
      id: '12',
      title: `many files from a local folder: ${what}`,
      tool: { name: 'modelmount update (file source)', cmd: update(mManyFile, 'h12', 'c12'), before: fresh('h12', 'c12') },
      peers: [{ name: 'cp -r + sha256sum', cmd: ['bash', '-c', `cp -r ${srcDir} ${dst} && cd ${dst} && find . -type f -print0 | xargs -0 sha256sum > /dev/null`], before: fresh('cp12') }],
      samples: new Map(),
      targets: [{ peer: 'cp -r + sha256sum', max: 0.5 }],
    };
    c.baseline = baselineOf(c.tool, ['h12', 'c12']);
    await run(c);
    await fresh('cp12', 'h12b', 'c12b')();
  }
  if (opts.cases.has('13') || opts.cases.has('14')) {
    if (!fs.existsSync(path.join(work, 'h12'))) await measure(update(mManyFile, 'h12', 'c12'), work, fresh('h12', 'c12'));
    if (opts.cases.has('13')) {
      await run({
        id: '13',
        title: `no-op update of the installed many-file set (whole process)`,
        tool: { name: 'modelmount update (no-op)', cmd: update(mManyFile, 'h12', 'c12') },
        peers: [{ name: 'node -e 0 (info)', cmd: ['node', '-e', '0'] }],
        samples: new Map(),
        targets: [],
        absoluteMaxS: 0.5,
      });
    }
    if (opts.cases.has('14')) {
      await run({
        id: '14',
        title: `verify of the installed many-file set (state cache, whole process)`,
        tool: { name: 'modelmount verify', cmd: [...mm, 'verify', '--manifest', mManyFile, '--host-dir', path.join(work, 'h12')] },
        peers: [{ name: 'node -e 0 (info)', cmd: ['node', '-e', '0'] }],
        samples: new Map(),
        targets: [],
        absoluteMaxS: 0.5,
      });
    }
  }
  await fresh('h12', 'c12')();
}
