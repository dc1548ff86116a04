import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatManifest } from '../data.ts';
import { log } from '../log.ts';
import { measure, readAll, type CaseResult } from '../measure.ts';
import { fmtBytes, MiB } from '../sizes.ts';
import { measureOpensslSpeed } from '../tools.ts';
import type { CaseContext } from './context.ts';
import { runAgainstNode } from './start-up.ts';

/**
 * The cases on one installed copy of the whole data set (big file + set): 4 verify --full against sha256sum,
 * 9 verify --full against openssl on every core, 5 no-op update, 16 its start-up against `node -e 0`.
 */
export async function runInstalledSetCases(ctx: CaseContext): Promise<void> {
  const { opts, work, url, big, set, mm, fresh, update, writeManifest, baselineOf, run } = ctx;
  if (!['4', '5', '9', '16'].some((x) => opts.cases.has(x))) return;
  const allFiles = [big, ...set];
  const mAll = writeManifest('all-http.yaml', formatManifest(url, [[big], set]));
  const verifyFull = [...mm, 'verify', '--full', '--manifest', mAll, '--host-dir', path.join(work, 'h-all')];
  log('▶ Installing the whole set once for cases 4 and 5');
  await measure(update(mAll, 'h-all', 'c-all'), work, fresh('h-all', 'c-all'));
  const installed = allFiles.map((f) => path.join(work, 'h-all', f.id, f.path));
  const sums = path.join(work, 'SHA256SUMS');
  fs.writeFileSync(sums, allFiles.map((f, i) => `${f.sha256}  ${installed[i]}`).join('\n') + '\n');
  await readAll(installed);
  if (opts.cases.has('4')) {
    const c: CaseResult = {
      id: '4',
      title: `verify --full of the whole set (${fmtBytes(allFiles.reduce((s, f) => s + f.size, 0))}) from page cache`,
      tool: { name: 'modelmount verify --full', cmd: verifyFull },
      peers: [{ name: 'sha256sum', cmd: ['sha256sum', ...installed] }],
      samples: new Map(),
      targets: [{ peer: 'sha256sum', max: 0.35 }],
    };
    c.baseline = baselineOf(c.tool);
    await run(c);
  }
  if (opts.cases.has('9')) {
    const cores = os.availableParallelism();
    const speed = await measureOpensslSpeed();
    const total = allFiles.reduce((s, f) => s + f.size, 0);
    const c: CaseResult = {
      id: '9',
      title: `verify --full of the whole set (${fmtBytes(total)}) against openssl sha256 on every core`,
      tool: { name: 'modelmount verify --full', cmd: verifyFull },
      peers: [
        {
          name: `openssl dgst -sha256 × ${cores} (xargs -P${cores})`,
          cmd: ['bash', '-c', `printf '%s\\0' "$@" | xargs -0 -P${cores} -n1 openssl dgst -sha256 > /dev/null`, 'bash', ...installed],
        },
      ],
      samples: new Map(),
      // ≥ 80 % of what openssl gets out of every core: at most 1/0.8 of its time
      targets: [{ peer: `openssl dgst -sha256 × ${cores} (xargs -P${cores})`, max: 1.25 }],
      note: `\`openssl speed -evp sha256\` (16 KiB blocks, one core) in this run: ${speed ? `${(speed / MiB).toFixed(0)} MiB/s per core, × ${cores} cores = ${((speed * cores) / MiB).toFixed(0)} MiB/s, i.e. ${(total / (speed * cores)).toFixed(2)} s for this set` : 'not measured'}. The peer is the same limit measured on the files themselves (one openssl per file, ${cores} at a time).`,
    };
    c.baseline = baselineOf(c.tool);
    await run(c);
  }
  if (opts.cases.has('5')) {
    const c: CaseResult = {
      id: '5',
      title: 'no-op update of the installed set (whole process, Node start-up included)',
      tool: { name: 'modelmount update (no-op)', cmd: update(mAll, 'h-all', 'c-all') },
      peers: [
        { name: 'sha256sum -c', cmd: ['sha256sum', '--quiet', '-c', sums] },
        { name: 'modelmount --version (info)', cmd: [...mm, '--version'] },
      ],
      samples: new Map(),
      targets: [{ peer: 'sha256sum -c', max: 0.2 }],
      absoluteMaxS: 1,
    };
    c.baseline = baselineOf(c.tool);
    await run(c);
  }
  if (opts.cases.has('16')) {
    const title = `start-up: a no-op update of a small set (the ${allFiles.length} installed files) against \`node -e 0\``;
    await runAgainstNode(ctx, '16', title, { name: 'modelmount update (no-op)', cmd: update(mAll, 'h-all', 'c-all') });
  }
}
