import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { formatManifest, makeLinkFile } from '../data.ts';
import { startLink } from '../link-namespace.ts';
import { readAll, type CaseResult, type Contender } from '../measure.ts';
import { startNginx } from '../nginx.ts';
import { fmtBytes } from '../sizes.ts';
import { aria2cPeer } from '../tools.ts';
import type { CaseContext } from './context.ts';

/**
 * Cases 7 (one file) and 8 (the file set) over the 40 ms link: a second nginx and every contender run in
 * the link's network namespace; at most 3 rounds (the link is slow).
 */
export async function runLinkCases(ctx: CaseContext): Promise<void> {
  const { opts, dir, work, www, set, fresh, update, writeManifest, baselineOf, run } = ctx;
  if (!opts.cases.has('7') && !opts.cases.has('8')) return;
  const link = await startLink(dir);
  const linkDir = path.join(dir, 'link');
  await fsp.mkdir(linkDir, { recursive: true });
  const rounds = Math.min(opts.rounds, 3);
  try {
    const ngx = await startNginx(linkDir, www, link.netns);
    try {
      const inNs = (cmd: string[]) => [...link.inNs, ...cmd];
      const inNsFresh = (t: Contender): Contender => ({ ...t, cmd: inNs(t.cmd) });
      if (opts.cases.has('7')) {
        const lb = await makeLinkFile(www, opts);
        await readAll([path.join(www, lb.id, lb.path)]);
        const url = `${ngx.url}${lb.id}/${lb.path}`;
        const mLink = writeManifest('link-big.yaml', formatManifest(ngx.url, [[lb]]));
        const aria = inNsFresh(aria2cPeer(ctx, { name: 'aria2c -x8 -s8', flags: ['-x8', '-s8'], out: 'aria7', input: ['-o', lb.path, url] }));
        const c: CaseResult = {
          id: '7',
          title: `one ${fmtBytes(lb.size)} file over a 40 ms link (20 ms each way, tbf 1 Gbit, nginx in a netns)`,
          tool: inNsFresh({ name: 'modelmount update --jobs 8', cmd: [...update(mLink, 'h7', 'c7'), '--jobs', '8'], before: fresh('h7', 'c7') }),
          peers: [aria],
          samples: new Map(),
          targets: [{ peer: aria.name, max: 1.0 }],
          note: 'modelmount verifies the sha256 (in order, as the pieces complete), fsyncs and installs; aria2c only downloads. One connection (curl, or modelmount before the ranged fetch) was ~6 MB/s on this link.',
        };
        c.baseline = baselineOf(c.tool, ['h7', 'c7']);
        await run(c, rounds);
        await fresh('aria7', 'h7', 'c7', 'h7b', 'c7b')();
      }
      if (opts.cases.has('8')) {
        await readAll(set.map((f) => path.join(www, f.id, f.path)));
        const list = path.join(work, 'aria8-input.txt');
        fs.writeFileSync(list, set.map((f) => `${ngx.url}${f.id}/${f.path}\n  out=${f.path}`).join('\n') + '\n');
        const mLinkSet = writeManifest('link-set.yaml', formatManifest(ngx.url, [set]));
        const aria = inNsFresh(aria2cPeer(ctx, { name: 'aria2c -j8', flags: ['-j8'], out: 'aria8', input: ['-i', list] }));
        const c: CaseResult = {
          id: '8',
          title: `the ${set.length}-file set (${fmtBytes(set.reduce((s, f) => s + f.size, 0))}) over the 40 ms link`,
          tool: inNsFresh({ name: 'modelmount update --jobs 8', cmd: [...update(mLinkSet, 'h8', 'c8'), '--jobs', '8'], before: fresh('h8', 'c8') }),
          peers: [aria],
          samples: new Map(),
          targets: [{ peer: aria.name, max: 1.0 }],
        };
        c.baseline = baselineOf(c.tool, ['h8', 'c8']);
        await run(c, rounds);
        await fresh('aria8', 'h8', 'c8', 'h8b', 'c8b')();
      }
    } finally {
      await ngx.stop();
    }
  } finally {
    await link.stop();
  }
}
