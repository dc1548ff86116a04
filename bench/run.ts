/**
 * `npm run bench`: modelmount against the tools a user would otherwise script —
 * curl, curl | tee | sha256sum, aria2c, cp + sha256sum, sha256sum -c — on one
 * generated data set, served by Debian's nginx on loopback (sendfile on).
 *
 *   npm run bench                      # 2 GiB + 8 × 128 MiB, 5 rounds, writes bench/RESULTS.md
 *   npm run bench -- --quick           # 256 MiB + 8 × 16 MiB, 3 rounds, prints only
 *   npm run bench -- --big 1G --small 64M --count 8 --rounds 3 --dir /var/tmp/mmbench --keep
 *   npm run bench -- --cases 1,4 --modelmount /path/to/other/checkout/bin/modelmount.mjs
 *   npm run bench -- --baseline /path/to/older/checkout/bin/modelmount.mjs   # before/after in the same rounds
 *   npm run bench -- --cases 7,8 --link-big 512M                 # only the 40 ms link cases
 *   npm run bench -- --cases 1,15 --out ''                       # the seed's size (5.5 GiB) and case 1's RSS beside it
 *   npm run bench -- --cases 1,15 --seed-big 512M --seed-small 64M --rounds 2   # the same at a reduced size
 *
 * Cases: 1 one big file over HTTP, 2 the file set over HTTP, 3 copy from a folder, 4 verify --full,
 * 5 no-op update, (6 RSS of case 1), 7 one file over a 40 ms link, 8 the set over a 40 ms link,
 * 9 verify --full against openssl on every core, 10 start-up against \`node -e 0\`, 11–14 many files
 * (20,000 files of 1–64 KiB + 20 × 100 MiB shards; --quick: 2,000 + 4 × 8 MiB): over HTTP against
 * \`aria2c -i list -j16\`, from a folder against \`cp -r\` + sha256sum, no-op update, verify,
 * 15 the seed's size (opt-in: \`--cases …,15\`; 2 × 2 GiB + 6 × 256 MiB = 5.5 GiB, --quick: 2 × 256 MiB +
 * 6 × 32 MiB) over HTTP against \`xargs -P<jobs> curl -o\` with modelmount's \`--jobs <jobs>\` (default:
 * modelmount's own default, 1 per core, 2 to 4), and modelmount's peak RSS there against case 1's
 * (flat in the set size: at most 1.2× case 1's, same jobs; ≤ 200 MB when case 1 is not run).
 * Case 15 writes 5.5 GiB per measurement: each contender's output is deleted right after it.
 * 16 start-up of a no-op update of a small set (the installed set of case 4/5) against `node -e 0`.
 *
 * The 40 ms link (cases 7, 8; root only): a network namespace whose loopback has a tbf rate limit
 * (1 Gbit) and an iptables-legacy NFQUEUE rule; a small C program (written and compiled here, on
 * libnetfilter-queue) holds each packet 20 ms before accepting it, so every round trip takes 40 ms
 * (netem is not available on the bench machine). nginx and every contender run inside it.
 *
 * Every flag has an environment twin: BENCH_BIG, BENCH_SMALL, BENCH_COUNT, BENCH_ROUNDS,
 * BENCH_DIR, BENCH_CASES, BENCH_OUT, BENCH_MODELMOUNT, BENCH_BASELINE, BENCH_SEED_BIG, BENCH_SEED_SMALL,
 * BENCH_SEED_COUNT, BENCH_SEED_JOBS.
 *
 * Method (the same for tool and peer): every measurement is a whole process (start-up
 * included) timed from spawn to exit; tool and peers alternate inside each round, the order
 * rotated by one each round; the report gives medians and tool/peer ratios. Outputs of a
 * previous run are deleted and `sync` runs before each measurement, so nobody pays for
 * someone else's dirty pages. Page caches are NOT dropped: the served/copied/verified data
 * is read once before each case so both sides read it from memory (a loopback benchmark
 * measures the tools, not the disk). Needs root for apt-get when tools are missing.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { $ } from 'zx';
import { makeCaseContext } from './cases/context.ts';
import { runDownloadCases } from './cases/downloads.ts';
import { runInstalledSetCases } from './cases/installed-set.ts';
import { runLinkCases } from './cases/link.ts';
import { runManyFilesCases } from './cases/many-files.ts';
import { runStartUpCase } from './cases/start-up.ts';
import { makeDataSet } from './data.ts';
import { log } from './log.ts';
import { startNginx } from './nginx.ts';
import { parseArgv, readOptions } from './options.ts';
import { formatReport, writeReport } from './report.ts';
import { ensureTools } from './tools.ts';

const argv = parseArgv(process.argv.slice(2));
if (argv.help) {
  process.stdout.write(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*?|^ \* ?/gm, ''));
  process.exit(0);
}
const opts = readOptions(argv, process.env);

$.verbose = false;
$.quiet = true;

async function main(): Promise<void> {
  await ensureTools(opts.cases);
  const dir = opts.dir ? path.resolve(opts.dir) : await fsp.mkdtemp(path.join(os.tmpdir(), 'modelmount-bench-'));
  // mkdtemp makes it 0700: nginx's workers (another user) must get through it to www/
  if (!opts.dir) await fsp.chmod(dir, 0o755);
  await fsp.mkdir(dir, { recursive: true });
  const www = path.join(dir, 'www');
  const work = path.join(dir, 'work');
  await fsp.rm(work, { recursive: true, force: true });
  await fsp.mkdir(work, { recursive: true });
  const { big, set } = await makeDataSet(www, opts);
  const nginx = await startNginx(dir, www);
  const onSignal = () => {
    void nginx.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const ctx = makeCaseContext(opts, { dir, www, work, url: nginx.url, big, set });
  const started = new Date();
  try {
    // this order is the report's
    await runDownloadCases(ctx);
    await runInstalledSetCases(ctx);
    await runManyFilesCases(ctx);
    await runStartUpCase(ctx);
    await runLinkCases(ctx);
  } finally {
    await nginx.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (!opts.keep && !opts.dir) await fsp.rm(dir, { recursive: true, force: true });
    else await fsp.rm(work, { recursive: true, force: true });
  }
  const report = await formatReport(ctx.results, started, path.dirname(dir), opts);
  process.stdout.write(report);
  if (opts.out) await writeReport(opts.out, report);
}

await main().catch((err: unknown) => {
  log(`✖ ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
