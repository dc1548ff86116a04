/**
 * `npm run bench:manifest`: reading and planning a large manifest (issue 9 item 11: 20,000 artifacts
 * must parse and plan in under 2 s and 300 MB). Generates N artifacts (default 20,000, two files
 * each, ~4 MB of YAML), then measures in separate processes, each a whole run:
 *   - parseManifest (the fast path) and parseManifestDocument (the yaml Document path) in-process,
 *     CPU and wall time, peak RSS;
 *   - `modelmount update --dry-run --json` end to end (start-up, parse, host state of every file, plan).
 *
 *   npm run bench:manifest                 # 20,000 artifacts
 *   npm run bench:manifest -- 50000        # another count
 * Prints a table; asserts nothing (the suite never times anything).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const count = Number(process.argv[2] ?? 20_000);

function manifestText(n: number): string {
  const sha = (i: number) => createHash('sha256').update(String(i)).digest('hex');
  const lines = ['version: 1', 'hostDir: host', 'cacheDir: cache', 'sources:', '  - name: mirror', '    url: "https://models.example.com/ml/"', 'artifacts:'];
  for (let i = 0; i < n; i++) {
    lines.push(
      `  - id: team${i % 50}/model_${i}`,
      `    labels: {role: student, lang: l${i % 7}}`,
      '    files:',
      `      - {path: model.safetensors, size: ${1000 + i}, sha256: ${sha(i)}}`,
      '      - path: config.json',
      `        size: ${10 + (i % 90)}`,
      `        sha256: "${sha(-i - 1)}"`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** one measurement in a fresh process: prints {wallMs, cpuMs, rssMB} as JSON */
const PARSE_CHILD = `
import fs from 'node:fs';
const [, , file, which] = process.argv;
const mod = await import(${JSON.stringify(path.join(ROOT, 'lib', 'manifest', 'load.ts'))});
const text = fs.readFileSync(file, 'utf8');
const c0 = process.cpuUsage();
const t0 = performance.now();
const m = (which === 'fast' ? mod.parseManifest : mod.parseManifestDocument)(text, file);
const c = process.cpuUsage(c0);
console.log(JSON.stringify({ artifacts: m.artifacts.length, wallMs: Math.round(performance.now() - t0), cpuMs: Math.round((c.user + c.system) / 1000), rssMB: Math.round(process.resourceUsage().maxRSS / 1024) }));
`;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelmount-bench-manifest-'));
try {
  const file = path.join(dir, 'models.yaml');
  fs.writeFileSync(file, manifestText(count));
  const child = path.join(dir, 'parse.mts');
  fs.writeFileSync(child, PARSE_CHILD);
  console.log(`${count} artifacts, ${(fs.statSync(file).size / 1e6).toFixed(1)} MB of YAML; load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores`);
  for (const which of ['fast', 'document']) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', child, file, which], { cwd: ROOT, encoding: 'utf8' });
    console.log(`parse (${which.padEnd(8)}): ${r.stdout.trim() || r.stderr.trim()}`);
  }
  // the CLI end to end; GNU time gives the child's CPU and peak RSS
  const timeBin = ['/usr/bin/time'].find((p) => fs.existsSync(p));
  const args = [path.join(ROOT, 'bin', 'modelmount.mjs'), 'update', '--dry-run', '--json', '--manifest', file];
  const r = timeBin
    ? spawnSync(timeBin, ['-f', 'wall %e s, user %U s, sys %S s, peak RSS %M KB', process.execPath, ...args], { encoding: 'utf8', maxBuffer: 1 << 30 })
    : spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 30 });
  const plan = JSON.parse(r.stdout) as { plan: { files: unknown[] } };
  console.log(`update --dry-run: exit ${r.status}, ${plan.plan.files.length} files planned; ${timeBin ? r.stderr.trim().split('\n').at(-1) : '(no /usr/bin/time)'}`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
