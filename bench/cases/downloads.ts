import fs from 'node:fs';
import path from 'node:path';
import { formatManifest, makeSeedSet } from '../data.ts';
import { readAll, type CaseResult } from '../measure.ts';
import { fmtBytes } from '../sizes.ts';
import { aria2cPeer } from '../tools.ts';
import type { CaseContext } from './context.ts';

/** Cases 1 (one big file over HTTP; its RSS is case 6), 2 (the file set), 3 (from a local folder), 15 (the seed's size). */
export async function runDownloadCases(ctx: CaseContext): Promise<void> {
  const { opts } = ctx;
  if (opts.cases.has('1') || opts.cases.has('6')) await runOneFileCase(ctx);
  if (opts.cases.has('2')) await runFileSetCase(ctx);
  if (opts.cases.has('3')) await runFolderCase(ctx);
  if (opts.cases.has('15')) await runSeedSizeCase(ctx);
}

async function runOneFileCase({ work, www, url, big, fresh, update, writeManifest, baselineOf, run }: CaseContext): Promise<void> {
  const bigUrl = `${url}${big.id}/${big.path}`;
  await readAll([path.join(www, big.id, big.path)]);
  const c: CaseResult = {
    id: '1',
    title: `download + verify + install, one ${fmtBytes(big.size)} file over HTTP (nginx, loopback)`,
    tool: { name: 'modelmount update', cmd: update(writeManifest('big-http.yaml', formatManifest(url, [[big]])), 'h1', 'c1'), before: fresh('h1', 'c1') },
    peers: [
      { name: 'curl -o', cmd: ['curl', '-sS', '-o', path.join(work, 'curl.bin'), bigUrl], before: fresh('curl.bin') },
      {
        name: 'curl | tee | sha256sum',
        cmd: ['bash', '-o', 'pipefail', '-c', `curl -sS ${bigUrl} | tee ${path.join(work, 'tee.bin')} | sha256sum`],
        before: fresh('tee.bin'),
      },
      {
        name: 'curl -o && sync (info)',
        cmd: ['bash', '-c', `curl -sS -o ${path.join(work, 'curls.bin')} ${bigUrl} && sync -f ${path.join(work, 'curls.bin')}`],
        before: fresh('curls.bin'),
      },
    ],
    samples: new Map(),
    targets: [
      { peer: 'curl -o', max: 1.3 },
      { peer: 'curl | tee | sha256sum', max: 0.8 },
    ],
    note: 'modelmount also fsyncs the blob before it enters the store; curl does not (see the "&& sync" row).',
  };
  c.baseline = baselineOf(c.tool, ['h1', 'c1']);
  await run(c);
  await fresh('curl.bin', 'tee.bin', 'curls.bin', 'h1', 'c1', 'h1b', 'c1b')();
}

async function runFileSetCase(ctx: CaseContext): Promise<void> {
  const { work, www, url, set, fresh, update, writeManifest, baselineOf, run } = ctx;
  await readAll(set.map((f) => path.join(www, f.id, f.path)));
  const list = path.join(work, 'aria2-input.txt');
  fs.writeFileSync(list, set.map((f) => `${url}${f.id}/${f.path}\n  out=${f.path}`).join('\n') + '\n');
  const aria = aria2cPeer(ctx, { name: 'aria2c -j8 -x4', flags: ['-j8', '-x4'], out: 'aria2', input: ['-i', list] });
  const c: CaseResult = {
    id: '2',
    title: `download of the ${set.length}-file set (${fmtBytes(set.reduce((s, f) => s + f.size, 0))}) over HTTP`,
    tool: { name: 'modelmount update', cmd: update(writeManifest('set-http.yaml', formatManifest(url, [set])), 'h2', 'c2'), before: fresh('h2', 'c2') },
    peers: [aria],
    samples: new Map(),
    targets: [{ peer: aria.name, max: 1.0 }],
    note: 'modelmount verifies every file and installs it; aria2c only downloads. modelmount runs with its default --jobs (1 per core, 2 to 4).',
  };
  c.baseline = baselineOf(c.tool, ['h2', 'c2']);
  await run(c);
  await fresh('aria2', 'h2', 'c2', 'h2b', 'c2b')();
}

async function runFolderCase({ work, www, big, fresh, update, writeManifest, baselineOf, run }: CaseContext): Promise<void> {
  const bigSrc = path.join(www, big.id, big.path);
  await readAll([bigSrc]);
  const copy = path.join(work, 'cp.bin');
  const c: CaseResult = {
    id: '3',
    title: `copy from a local folder + verify, ${fmtBytes(big.size)}`,
    tool: { name: 'modelmount update (file source)', cmd: update(writeManifest('big-file.yaml', formatManifest(`${www}/`, [[big]])), 'h3', 'c3'), before: fresh('h3', 'c3') },
    peers: [{ name: 'cp + sha256sum', cmd: ['bash', '-c', `cp ${bigSrc} ${copy} && sha256sum ${copy}`], before: fresh('cp.bin') }],
    samples: new Map(),
    targets: [{ peer: 'cp + sha256sum', max: 0.7 }],
  };
  c.baseline = baselineOf(c.tool, ['h3', 'c3']);
  await run(c);
  await fresh('cp.bin', 'h3', 'c3', 'h3b', 'c3b')();
}

/** 2 × seedBig + seedCount × seedSmall against `xargs -P<jobs> curl -o`, the same parallelism; each output deleted right after it is measured. */
async function runSeedSizeCase({ opts, work, www, url, fresh, update, writeManifest, baselineOf, run }: CaseContext): Promise<void> {
  const seed = await makeSeedSet(www, opts);
  const seedBytes = seed.reduce((s, f) => s + f.size, 0);
  await readAll(seed.map((f) => path.join(www, f.id, f.path)));
  const jobs = opts.seedJobs;
  const list = path.join(work, 'curl15-urls.txt');
  fs.writeFileSync(list, seed.map((f) => `${url}${f.id}/${f.path}\n`).join(''));
  const curlDir = path.join(work, 'curl15');
  const curlAll = `xargs -a ${list} -P${jobs} -n1 curl -fsS --create-dirs --output-dir ${curlDir} -O`;
  const curlPeer = `xargs -P${jobs} curl -o`;
  const c: CaseResult = {
    id: '15',
    title: `the seed's size: 2 × ${fmtBytes(opts.seedBig)} + ${opts.seedCount} × ${fmtBytes(opts.seedSmall)} (${fmtBytes(seedBytes)}) over HTTP, ${jobs} at a time`,
    tool: {
      name: `modelmount update --jobs ${jobs}`,
      cmd: [...update(writeManifest('seed-http.yaml', formatManifest(url, [seed])), 'h15', 'c15'), '--jobs', String(jobs)],
      before: fresh('h15', 'c15'),
      after: fresh('h15', 'c15'),
    },
    peers: [
      { name: curlPeer, cmd: ['bash', '-c', curlAll], before: fresh('curl15'), after: fresh('curl15') },
      { name: `${curlPeer} && sync (info)`, cmd: ['bash', '-c', `${curlAll} && sync -f ${curlDir}`], before: fresh('curl15'), after: fresh('curl15') },
    ],
    samples: new Map(),
    targets: [{ peer: curlPeer, max: 1.0 }],
    note: `modelmount verifies every file, fsyncs and installs it; curl only downloads (see the "&& sync" row). Same parallelism: \`xargs -P${jobs}\` runs ${jobs} curls at a time, modelmount runs with \`--jobs ${jobs}\`. Each contender's output is deleted right after its measurement. The RSS row compares modelmount's peak RSS here with case 1's (one ${fmtBytes(opts.big)} file, the same default jobs on this machine).`,
  };
  c.baseline = baselineOf(c.tool, ['h15', 'c15']);
  await run(c);
  await fresh('curl15', 'h15', 'c15', 'h15b', 'c15b')();
}
