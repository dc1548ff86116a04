/**
 * Eight real `modelmount update` processes started at once against one store,
 * one host folder and one loopback server: with the lock they take turns (one
 * downloads, the rest find everything installed); without it (as on a network
 * filesystem where locks do not hold) they race, and the result is still one
 * correct install with no temporary files left.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeTmpDir } from '../lib/layout.ts';
import { cliEnv, listFiles, manifestYaml, sampleArtifacts, serverFiles, sha256, tempProject, type TestArtifact } from './helpers/cli.ts';
import { runBin } from './helpers/real-cli.ts';
import { startFaultServer, type Fault, type FaultServer } from './helpers/with-server.ts';

const RUNS = 8;

let server: FaultServer;
let artifacts: TestArtifact[];

beforeAll(async () => {
  artifacts = sampleArtifacts({ ja: 1_500_000, en: 900_000, teacher: 1000 });
  // the same bytes in two artifacts: fetched once, linked twice
  artifacts[1]!.files.push({ path: 'shared.bin', data: artifacts[0]!.files[0]!.data });
  server = await startFaultServer({ files: serverFiles(artifacts) });
});
afterAll(async () => {
  await server.close();
});

/**
 * Make the runs overlap: every download is slowed down, and the first answer for
 * the biggest file waits until a second run has asked for it too (or 20 s passed).
 */
function slowDownloads(): void {
  const files = serverFiles(artifacts);
  const [big, ...rest] = Object.keys(files);
  let arrived = 0;
  const waiters: (() => void)[] = [];
  const gate: Fault = {
    handler: (req, res) => {
      arrived++;
      if (arrived >= 2) for (const w of waiters.splice(0)) w();
      const send = () => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': files[big!]!.length });
        res.end(req.method === 'HEAD' ? undefined : files[big!]);
      };
      if (arrived >= 2) send();
      else {
        waiters.push(send);
        setTimeout(send, 20_000).unref();
      }
    },
  };
  server.fault(big!, gate, 2);
  server.fault(big!, { dripBytes: 64 * 1024, dripIntervalMs: 15 }, RUNS);
  for (const p of rest) server.fault(p, { dripBytes: 64 * 1024, dripIntervalMs: 15 }, RUNS);
}

async function expectOneCorrectInstall(p: { hostDir: string; cacheDir: string }): Promise<void> {
  const selected = artifacts.filter((a) => !a.optional);
  const expected = selected.flatMap((a) => a.files.map((f) => path.join(a.id, f.path))).sort();
  const files = (await listFiles(p.hostDir)).filter((f) => !f.startsWith('.modelmount'));
  expect(files).toEqual(expected);
  for (const a of selected) {
    for (const f of a.files) expect(sha256(await fs.readFile(path.join(p.hostDir, a.id, f.path)))).toBe(sha256(f.data));
  }
  // no temporary or partial files, no lock left behind
  expect(await listFiles(storeTmpDir(p.cacheDir))).toEqual([]);
  expect(await listFiles(path.join(p.hostDir, '.modelmount', 'tmp'))).toEqual([]);
  const leftovers = [...(await fs.readdir(p.hostDir)), ...(await fs.readdir(p.cacheDir))].filter((n) => n.includes('.modelmount.lock') || n.endsWith('.tmp'));
  expect(leftovers).toEqual([]);
  expect((await listFiles(p.cacheDir)).filter((f) => f.endsWith('.tmp') || f.endsWith('.partial'))).toEqual([]);
}

async function runEight(unsafeNoLock: boolean) {
  const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'mirror', url: server.url }] }));
  if (unsafeNoLock) slowDownloads();
  else for (const f of Object.keys(serverFiles(artifacts))) server.fault(f, { dripBytes: 64 * 1024, dripIntervalMs: 15 }, RUNS);
  const before = server.requests.length;
  const env = unsafeNoLock ? { MODELMOUNT_UNSAFE_NO_LOCK: '1' } : {};
  const runs = await Promise.all(
    Array.from({ length: RUNS }, () => runBin(['update', '--manifest', p.manifest, '--yes', '--no-compose', '--no-smoke', '--json'], { env: cliEnv(env) })),
  );
  server.setFaults({});
  for (const r of runs) {
    expect(r.stderr.includes('Internal error') ? r.stderr : '').toBe('');
    expect(r.code, r.stderr).toBe(0);
  }
  const reports = runs.map((r) => JSON.parse(r.stdout) as { ok: boolean; totals: { bytesTransferred: number; installed: number } });
  for (const rep of reports) expect(rep.ok).toBe(true);
  await expectOneCorrectInstall(p);
  return { runs, reports, requests: server.requests.length - before };
}

describe('eight concurrent updates of one store and host folder', () => {
  it('take turns under the lock: one install, every run exits 0, the bytes are downloaded once', async () => {
    const { runs, reports, requests } = await runEight(false);
    const unique = new Map<string, number>();
    for (const a of artifacts.filter((x) => !x.optional)) for (const f of a.files) unique.set(sha256(f.data), f.data.length);
    const total = [...unique.values()].reduce((s, n) => s + n, 0);
    expect(reports.reduce((s, r) => s + r.totals.bytesTransferred, 0)).toBe(total);
    expect(reports.filter((r) => r.totals.installed > 0)).toHaveLength(1);
    expect(requests).toBe(unique.size);
    expect(runs.filter((r) => r.stderr.includes('Waiting for another modelmount run')).length).toBeGreaterThan(0);
  }, 180_000);

  it('stay correct without the lock (as on NFS): one correct install, every run exits 0, no temp files', async () => {
    const { reports } = await runEight(true);
    // they really raced: more than one run downloaded something
    expect(reports.filter((r) => r.totals.bytesTransferred > 0).length).toBeGreaterThan(1);
  }, 180_000);
});
