/**
 * Hostile inputs:
 * - fuzzed manifests (fast-check): whatever the YAML says, `update` ends with a reported error or
 *   a verified install — never an internal error (exit 1) — and writes nothing outside the host
 *   folder and the store;
 * - file sources whose tree links to /etc/passwd or to folders outside the source root;
 * - a host folder that is itself a symlink or has a symlinked parent (allowed: the operator's
 *   choice, resolved like Docker resolves a bind-mount source), and symlinks INSIDE the host
 *   folder (refused or replaced, never written through);
 * - a canary token and presigned-URL signature that must never appear in stdout, stderr, --json,
 *   the Compose override or any file written.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../lib/errors.ts';
import { hostFilePath } from '../lib/layout.ts';
import { listFiles, manifestYaml, runCliCaptured, tempDir, tempProject, type TestArtifact } from './helpers/cli.ts';
import { expectCleanState, type ExpectedFile } from './helpers/fault-state.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

// ───────────────────────────── manifest fuzzing ─────────────────────────────

describe('fuzzed manifests', () => {
  const CONTENT = Buffer.from('hello model\n');
  const CANARY_DIR = '/fz-canary-modelmount';
  let server: FaultServer;
  let parent: string;

  beforeAll(async () => {
    server = await startFaultServer({ files: { '/a/model.bin': CONTENT, '/student/v0_ja/model.bin': CONTENT } });
    parent = await tempDir('modelmount-fuzz-');
  });
  afterAll(async () => {
    await server.close();
    await fs.rm(parent, { recursive: true, force: true });
  });

  const segment = fc.oneof(
    fc.constantFrom('a', 'model.bin', 'student', 'v0_ja', '..', '.', '', ' ', '...', '~', '$HOME', '%2e%2e', 'C:', 'a:b', '..\\x', 'x\\y', 'CON', 'nul.txt'),
    fc.constantFrom('.modelmount', 'fz-canary-modelmount', '\u202etxt', 'a\u0000b', 'a\nb', 'ﬁle', 'Model.bin', 'x'.repeat(300)),
    fc.string({ maxLength: 8 }),
  );
  const relPath = fc.oneof(
    { weight: 3, arbitrary: fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join('/')) },
    { weight: 1, arbitrary: fc.constantFrom('a', 'a/model.bin', 'model.bin', 'student/v0_ja', `${CANARY_DIR}/x`, '../../fz-canary-modelmount', '/etc/passwd', '//x', 'a//b', 'a/') },
  );
  const anyScalar = fc.oneof(fc.string({ maxLength: 12 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
  const size = fc.oneof(
    { weight: 3, arbitrary: fc.constant(CONTENT.length) },
    { weight: 1, arbitrary: fc.constantFrom(0, -1, 1.5, 2 ** 53, Number.MAX_SAFE_INTEGER + 2, '12') },
    { weight: 1, arbitrary: fc.nat(1_000_000) },
  );
  const digest = fc.oneof(
    { weight: 3, arbitrary: fc.constant(sha256(CONTENT)) },
    { weight: 1, arbitrary: fc.constantFrom(sha256(''), sha256(CONTENT).toUpperCase(), '0'.repeat(64), 'x', '') },
    { weight: 1, arbitrary: fc.string({ maxLength: 70 }) },
  );
  const sourceUrl = (srcDir: string) =>
    fc.oneof(
      fc.constantFrom(
        server.url,
        `${server.url}?X-Amz-Signature=canary-fuzz-sig`,
        `http://fuzzuser:canary-fuzz-pass@127.0.0.1:${server.port}/`,
        'http://127.0.0.1:1/',
        srcDir,
        `file://${srcDir}`,
        '../src',
        '/etc',
        'file:///etc',
        'ftp://127.0.0.1/',
        'javascript:alert(1)',
        '',
        'http://',
        'https://127.0.0.1:1/x?y',
      ),
      fc.string({ maxLength: 20 }),
    );
  /** A valid manifest (files that exist on the server and in the source folder), then 0–3 hostile mutations. */
  const KINDS = ['id', 'path', 'size', 'sha256', 'url', 'name', 'tokenEnv', 'drop', 'extra', 'dupArtifact', 'dupFile', 'jobs', 'labels', 'require', 'version', 'noFiles', 'artifactsType', 'filesType', 'env', 'hostDir'] as const;
  const mutation = (srcDir: string) =>
    fc.record({ kind: fc.constantFrom(...KINDS), path: relPath, size, digest, url: sourceUrl(srcDir), scalar: anyScalar, index: fc.nat(3) });
  const manifest = (srcDir: string) =>
    fc
      .record({
        sources: fc.uniqueArray(
          fc.constantFrom(
            { name: 'mirror', url: server.url },
            { name: 'nfs', url: srcDir },
            { name: 'local', url: '../src' },
            { name: 'dead', url: 'http://127.0.0.1:1/' },
            { name: 'auth', url: server.url, tokenEnv: 'MODELS_TOKEN' },
          ),
          { minLength: 1, maxLength: 3, selector: (x) => x.name },
        ),
        artifacts: fc.uniqueArray(
          fc.constantFrom(
            { id: 'a', files: [{ path: 'model.bin', size: CONTENT.length, sha256: sha256(CONTENT) }] },
            { id: 'student/v0_ja', labels: { lang: 'ja' }, env: 'STUDENT_JA_DIR', files: [{ path: 'model.bin', size: CONTENT.length, sha256: sha256(CONTENT) }] },
            { id: 'b', optional: true, files: [{ path: 'x/y.bin', size: 3, sha256: sha256('abc') }] },
          ),
          { minLength: 1, maxLength: 3, selector: (x) => x.id },
        ),
        mutations: fc.oneof({ weight: 1, arbitrary: fc.constant([]) }, { weight: 3, arbitrary: fc.array(mutation(srcDir), { minLength: 1, maxLength: 3 }) }),
      })
      .map(({ sources, artifacts, mutations }) => {
        const m: Record<string, unknown> = { version: 1, hostDir: 'host', cacheDir: 'cache', sources: structuredClone(sources), artifacts: structuredClone(artifacts) };
        const arts = () => (Array.isArray(m.artifacts) ? (m.artifacts as Record<string, unknown>[]) : []);
        const art = (i: number) => arts()[i % Math.max(1, arts().length)];
        const file = (i: number) => {
          const f = art(i)?.files;
          return Array.isArray(f) ? (f[0] as Record<string, unknown> | undefined) : undefined;
        };
        const src = (i: number) => (Array.isArray(m.sources) ? (m.sources as Record<string, unknown>[])[i % Math.max(1, (m.sources as unknown[]).length)] : undefined);
        for (const x of mutations) {
          const a = art(x.index);
          const f = file(x.index);
          const so = src(x.index);
          switch (x.kind) {
            case 'id': if (a) a.id = x.path; break;
            case 'path': if (f) f.path = x.path; break;
            case 'size': if (f) f.size = x.size; break;
            case 'sha256': if (f) f.sha256 = x.digest; break;
            case 'url': if (so) so.url = x.url; break;
            case 'name': if (so) so.name = x.scalar; break;
            case 'tokenEnv': if (so) so.tokenEnv = x.scalar; break;
            case 'drop': delete m[['version', 'hostDir', 'sources', 'artifacts'][x.index]!]; break;
            case 'extra': (x.index % 2 ? (a ?? m) : m)[`x-${x.index}`] = x.scalar; break;
            case 'dupArtifact': if (a) arts().push(structuredClone(a)); break;
            case 'dupFile': if (a && f) (a.files as unknown[]).push({ ...f, path: x.index % 2 ? f.path : String(f.path).toUpperCase() }); break;
            case 'jobs': m.jobs = x.index === 0 ? x.scalar : [1, 0, -1, 65][x.index]; break;
            case 'labels': if (a) a.labels = { [String(x.scalar)]: x.path }; break;
            case 'require': m.require = [{ anyOf: [x.index % 2 ? x.path : 'nope'] }]; break;
            case 'version': m.version = x.scalar; break;
            case 'noFiles': if (a) a.files = []; break;
            case 'artifactsType': m.artifacts = x.scalar; break;
            case 'filesType': if (a) a.files = x.scalar; break;
            case 'env': if (a) a.env = x.scalar; break;
            case 'hostDir': m.hostDir = x.path; break;
          }
        }
        return m;
      });

  const exits = new Map<number, number>();

  /** every file below `dir`, as absolute paths */
  async function tree(dir: string): Promise<string[]> {
    return (await listFiles(dir)).map((f) => path.join(dir, f));
  }

  it('never an internal error, never a write outside the host folder and the store', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 1e9 }).chain((n) =>
          fc.oneof(
            { weight: 8, arbitrary: manifest(path.join(parent, `case-${n}`, 'src')).map((m) => ({ n, text: stringify(m) })) },
            { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((text) => ({ n, text })) },
          ),
        ),
        async ({ n, text }) => {
          const box = path.join(parent, `case-${n}-${Math.random().toString(36).slice(2, 8)}`);
          const src = path.join(box, 'src');
          await fs.mkdir(path.join(src, 'a'), { recursive: true });
          await fs.writeFile(path.join(src, 'a', 'model.bin'), CONTENT);
          await fs.mkdir(path.join(box, 'project'), { recursive: true });
          const manifestFile = path.join(box, 'project', 'manifest.yaml');
          await fs.writeFile(manifestFile, text.replaceAll(path.join(parent, `case-${n}`, 'src'), src));
          const before = new Set(await tree(box));
          const host = path.join(box, 'host');
          const cache = path.join(box, 'cache');
          const r = await runCliCaptured(
            ['update', '--manifest', manifestFile, '--yes', '--json', '--host-dir', host, '--cache-dir', cache, '--no-compose', '--no-smoke', '--retries', '0'],
            { cwd: path.join(box, 'project'), env: { MODELS_TOKEN: 'canary-fuzz-token', HOME: path.join(box, 'home'), XDG_CACHE_HOME: path.join(box, 'xdg') } },
          );
          expect(r.stderr, `internal error for manifest:\n${text}`).not.toMatch(/Internal error|internal error/);
          expect(r.code, `exit 1 for manifest:\n${text}\n${r.stderr}`).not.toBe(ExitCode.internal);
          exits.set(r.code, (exits.get(r.code) ?? 0) + 1);
          expect(() => JSON.parse(r.stdout), `stdout is one JSON document:\n${r.stdout}`).not.toThrow();
          expect(r.stdout + r.stderr).not.toMatch(/canary-fuzz-(sig|pass|token)/);
          for (const f of await tree(box)) {
            if (before.has(f)) continue;
            const inside = f.startsWith(`${host}${path.sep}`) || f.startsWith(`${cache}${path.sep}`);
            expect(inside, `wrote ${f} outside the host folder and the store, for manifest:\n${text}`).toBe(true);
          }
          // nothing escaped the sandbox either
          const siblings = (await fs.readdir(parent)).filter((x) => !x.startsWith('case-'));
          expect(siblings, `wrote into ${parent}`).toEqual([]);
          await expect(fs.access(CANARY_DIR)).rejects.toThrow();
          await fs.rm(box, { recursive: true, force: true });
        },
      ),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 100), seed: Number(process.env.FUZZ_SEED ?? 20261125), endOnFailure: true },
    );
    // the generator must reach past validation often enough to mean something
    process.stderr.write(`fuzzed manifests, exit codes: ${JSON.stringify(Object.fromEntries(exits))}\n`);
    expect(exits.get(0) ?? 0, 'installs').toBeGreaterThan(5);
    expect([...exits.keys()].filter((c) => c !== 0 && c !== ExitCode.usage).length, 'failures past validation').toBeGreaterThan(0);
  }, 120_000);
});

// ───────────────────────────── symlinks in file sources ─────────────────────────────

describe('file sources with symlinks', () => {
  const passwd = async () => fs.readFile('/etc/passwd');

  async function fileSourceProject(entries: { id: string; path: string; data: Buffer }[]) {
    const root = await tempDir('modelmount-src-');
    const artifacts: TestArtifact[] = [...new Set(entries.map((e) => e.id))].map((id) => ({ id, files: entries.filter((e) => e.id === id).map((e) => ({ path: e.path, data: e.data })) }));
    const p = await tempProject(manifestYaml({ artifacts, sources: [{ name: 'nfs', url: root }] }));
    return { root, p };
  }

  it('a file that is a symlink to /etc/passwd (the manifest even has its sha256): refused, exit 3, nothing copied', async () => {
    const data = await passwd();
    const { root, p } = await fileSourceProject([{ id: 'a', path: 'model.bin', data }]);
    await fs.mkdir(path.join(root, 'a'), { recursive: true });
    await fs.symlink('/etc/passwd', path.join(root, 'a', 'model.bin'));
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--json']);
    expect(r.code).toBe(ExitCode.sources);
    expect(r.stdout).toMatch(/symlink: refused/);
    await expectCleanState(p, [{ id: 'a', path: 'model.bin', data }], { installed: false });
    expect(await listFiles(path.join(p.cacheDir, 'sha256'))).toEqual([]);
  });

  it('an artifact folder that is a symlink to a folder outside the source root: refused', async () => {
    const outside = await tempDir('modelmount-outside-');
    const data = Buffer.from('secret outside the root\n');
    await fs.writeFile(path.join(outside, 'model.bin'), data);
    const { root, p } = await fileSourceProject([{ id: 'student/v0_ja', path: 'model.bin', data }]);
    await fs.mkdir(path.join(root, 'student'), { recursive: true });
    await fs.symlink(outside, path.join(root, 'student', 'v0_ja'));
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--json']);
    expect(r.code).toBe(ExitCode.sources);
    expect(r.stdout).toMatch(/outside the source folder/);
    await expectCleanState(p, [{ id: 'student/v0_ja', path: 'model.bin', data }], { installed: false });
  });

  it('a nested folder symlinked to /etc, file path "etc-link/passwd": refused', async () => {
    const data = await passwd();
    const { root, p } = await fileSourceProject([{ id: 'a', path: 'etc-link/passwd', data }]);
    await fs.mkdir(path.join(root, 'a'), { recursive: true });
    await fs.symlink('/etc', path.join(root, 'a', 'etc-link'));
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--json']);
    expect(r.code).toBe(ExitCode.sources);
    await expectCleanState(p, [{ id: 'a', path: 'etc-link/passwd', data }], { installed: false });
  });

  it('a symlink that stays inside the root is refused too (copy the real file), with a hint', async () => {
    const data = Buffer.from('inside\n');
    const { root, p } = await fileSourceProject([{ id: 'a', path: 'model.bin', data }]);
    await fs.mkdir(path.join(root, 'a'), { recursive: true });
    await fs.writeFile(path.join(root, 'a', 'real.bin'), data);
    await fs.symlink('real.bin', path.join(root, 'a', 'model.bin'));
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--json']);
    expect(r.code).toBe(ExitCode.sources);
    expect(r.stdout).toMatch(/copy the real file/);
  });
});

// ───────────────────────────── symlinked host folders ─────────────────────────────

describe('host folder and symlinks', () => {
  const FILES: ExpectedFile[] = [{ id: 'student/v0_ja', path: 'model.bin', data: Buffer.from('the model\n') }];
  let server: FaultServer;
  beforeAll(async () => {
    server = await startFaultServer({ files: { '/student/v0_ja/model.bin': FILES[0]!.data } });
  });
  afterAll(async () => server.close());

  const artifacts = (): TestArtifact[] => [{ id: 'student/v0_ja', files: [{ path: 'model.bin', data: FILES[0]!.data }] }];

  it('hostDir itself a symlink: followed (like Docker resolves a bind-mount source); files land in its target', async () => {
    const real = await tempDir('modelmount-real-host-');
    const p = await tempProject(manifestYaml({ artifacts: artifacts(), sources: [{ name: 'mirror', url: server.url }], hostDir: 'host-link' }));
    await fs.symlink(real, path.join(p.dir, 'host-link'));
    const r = await runCliCaptured(['update', '--manifest', p.manifest]);
    expect(r.code, r.stderr).toBe(0);
    expect(await fs.readFile(hostFilePath(real, 'student/v0_ja', 'model.bin'))).toEqual(FILES[0]!.data);
    expect((await fs.lstat(path.join(p.dir, 'host-link'))).isSymbolicLink()).toBe(true); // not replaced
    const v = await runCliCaptured(['verify', '--manifest', p.manifest, '--full']);
    expect(v.code).toBe(0);
  });

  it('hostDir below a symlinked parent: followed the same way', async () => {
    const realParent = await tempDir('modelmount-real-parent-');
    const p = await tempProject(manifestYaml({ artifacts: artifacts(), sources: [{ name: 'mirror', url: server.url }], hostDir: 'parent-link/models' }));
    await fs.symlink(realParent, path.join(p.dir, 'parent-link'));
    const r = await runCliCaptured(['update', '--manifest', p.manifest]);
    expect(r.code, r.stderr).toBe(0);
    expect(await fs.readFile(hostFilePath(path.join(realParent, 'models'), 'student/v0_ja', 'model.bin'))).toEqual(FILES[0]!.data);
  });

  it('an artifact folder INSIDE the host folder that is a symlink to elsewhere: refused (exit 5), nothing written through it', async () => {
    const elsewhere = await tempDir('modelmount-elsewhere-');
    const p = await tempProject(manifestYaml({ artifacts: artifacts(), sources: [{ name: 'mirror', url: server.url }] }));
    await fs.mkdir(path.join(p.hostDir, 'student'), { recursive: true });
    await fs.symlink(elsewhere, path.join(p.hostDir, 'student', 'v0_ja'));
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--json']);
    expect(r.code).toBe(ExitCode.disk);
    expect(r.stdout).toContain('ENOTREALDIR');
    expect(await fs.readdir(elsewhere)).toEqual([]);
  });

  it('a host file that is a symlink to a file outside: replaced by the verified file, the target never written', async () => {
    const outside = await tempDir('modelmount-decoy-');
    const decoy = path.join(outside, 'decoy.txt');
    await fs.writeFile(decoy, 'do not touch\n');
    const p = await tempProject(manifestYaml({ artifacts: artifacts(), sources: [{ name: 'mirror', url: server.url }] }));
    await fs.mkdir(path.join(p.hostDir, 'student', 'v0_ja'), { recursive: true });
    await fs.symlink(decoy, hostFilePath(p.hostDir, 'student/v0_ja', 'model.bin'));
    const r = await runCliCaptured(['update', '--manifest', p.manifest, '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Repairing student\/v0_ja\/model\.bin/);
    expect(await fs.readFile(decoy, 'utf8')).toBe('do not touch\n');
    const st = await fs.lstat(hostFilePath(p.hostDir, 'student/v0_ja', 'model.bin'));
    expect(st.isSymbolicLink()).toBe(false);
    await expectCleanState(p, FILES, { installed: true });
  });
});

// ───────────────────────────── secrets ─────────────────────────────

describe('a token and a presigned URL signature never leak', () => {
  const TOKEN = 'canary-token-6f1d2a';
  const SIG = 'canary-sig-9b3c7e';
  const REDIRECT_SIG = 'canary-redirect-4e8a1f';
  const PASSWORD = 'canary-pass-2c5d0b';

  it('not in stdout, stderr, --json, the Compose override or any file written', async () => {
    const good = Buffer.from('good model bytes\n');
    const other = await startFaultServer({ files: { '/student/v0_ja/model.bin': good } });
    const origin = await startFaultServer({
      files: { '/student/v0_ja/model.bin': good, '/student/v0_ja/config.json': Buffer.from('{}\n'), '/student/v0_en/model.bin': good },
    });
    try {
      // model.bin is handed out through a presigned redirect; config.json is corrupted; v0_en is missing (404)
      origin.fault('/student/v0_ja/model.bin', { redirect: `${other.origin}/student/v0_ja/model.bin?X-Amz-Signature=${REDIRECT_SIG}&X-Amz-Expires=60` }, 100);
      const artifacts: TestArtifact[] = [
        { id: 'student/v0_ja', env: 'STUDENT_JA_DIR', files: [{ path: 'model.bin', data: good }] },
        { id: 'student/v0_bad', files: [{ path: 'config.json', data: Buffer.from('{"x":1}\n') }] },
        { id: 'student/v0_en', optional: true, files: [{ path: 'model.bin', data: Buffer.from('missing\n') }] },
      ];
      // A manifest that puts a signature or a password into a source URL is refused — without echoing them.
      const leaky = await tempProject(
        manifestYaml({
          artifacts,
          sources: [
            { name: 'presigned', url: `http://127.0.0.1:${origin.port}/?X-Amz-Signature=${SIG}&X-Amz-Credential=canary-cred-77` },
            { name: 'basic', url: `http://canaryuser:${PASSWORD}@127.0.0.1:${origin.port}/` },
          ],
        }),
      );
      const refused = [
        await runCliCaptured(['update', '--manifest', leaky.manifest], {}),
        await runCliCaptured(['update', '--manifest', leaky.manifest, '--json'], {}),
        await runCliCaptured(['update', '--manifest', leaky.manifest, '--source-url', `http://127.0.0.1:${origin.port}/?X-Amz-Signature=${SIG}`], {}),
      ];
      for (const r of refused) expect(r.code).toBe(ExitCode.usage);
      // The real thing: the token from the environment, the signature in a redirect's Location.
      const p = await tempProject(
        manifestYaml({
          artifacts,
          sources: [
            { name: 'mirror', url: `http://127.0.0.1:${origin.port}/`, tokenEnv: 'MODELS_TOKEN' },
            { name: 'backup', url: `http://localhost:${origin.port}/`, tokenEnv: 'MODELS_TOKEN' },
          ],
          extra: ['compose:', '  files: [compose.yaml]', '  services: [worker]', '  override: compose.models.yaml', '  containerDir: /app/models'].join('\n'),
        }),
      );
      await fs.writeFile(path.join(p.dir, 'compose.yaml'), 'services:\n  worker:\n    image: busybox\n');
      origin.setFile('/student/v0_bad/config.json', Buffer.from('{"x":2}\n')); // wrong bytes: exit 4 path
      const env = { MODELS_TOKEN: TOKEN };
      const runs = [
        await runCliCaptured(['update', '--manifest', p.manifest, '--only', 'student/v0_ja', '--no-smoke'], { env }),
        await runCliCaptured(['update', '--manifest', p.manifest, '--only', 'student/v0_ja', '--json', '--no-smoke'], { env }),
        await runCliCaptured(['update', '--manifest', p.manifest, '--json', '--include-optional', '--no-smoke', '--retries', '0'], { env }),
        await runCliCaptured(['update', '--manifest', p.manifest, '--include-optional', '--no-smoke', '--retries', '0'], { env }),
        await runCliCaptured(['update', '--manifest', p.manifest, '--dry-run', '--json'], { env }),
        await runCliCaptured(['update', '--manifest', p.manifest, '--only', 'student/v0_ja', '--source', 'backup', '--json', '--no-smoke'], { env }),
        await runCliCaptured(['verify', '--manifest', p.manifest, '--json'], { env }),
        await runCliCaptured(['update', '--manifest', p.manifest, '--only', 'student/v0_ja', '--no-smoke'], { env: {} }), // token missing
      ];
      expect(runs[0]!.code, runs[0]!.stderr).toBe(0);
      expect(runs[2]!.code).not.toBe(0); // the failures above really happened
      expect(runs[2]!.stdout).toMatch(/EINTEGRITY|ESOURCES/);
      expect(other.requests.length).toBeGreaterThan(0); // the presigned redirect was followed
      const secrets = [TOKEN, SIG, REDIRECT_SIG, PASSWORD, 'canary-cred-77', 'canary'];
      for (const [i, r] of [...refused, ...runs].entries()) {
        for (const s of secrets) {
          expect(r.stdout, `run ${i} stdout`).not.toContain(s);
          expect(r.stderr, `run ${i} stderr`).not.toContain(s);
        }
      }
      // every file written: project (host folder, store, override, state), except the manifest the user wrote
      const written = [
        ...(await listFiles(p.dir)).filter((f) => f !== 'manifest.yaml'),
        ...(await listFiles(leaky.dir)).filter((f) => f !== 'manifest.yaml'),
      ];
      expect(written).toContain('compose.models.yaml');
      for (const rel of written) {
        const bytes = await fs.readFile(path.join(p.dir, rel)).catch(() => fs.readFile(path.join(leaky.dir, rel)));
        for (const s of secrets) expect(bytes.includes(s), `${rel} contains ${s}`).toBe(false);
        expect(rel).not.toContain('canary');
      }
    } finally {
      await origin.close();
      await other.close();
    }
  }, 60_000);
});
