import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { $ as zx$, type Shell } from 'zx';
import { validateMergedConfig } from '../lib/compose/check-merged-mounts.ts';
import { detectCompose, type ComposeEngine } from '../lib/compose/engine.ts';
import { writeComposeOverride } from '../lib/compose/write-override.ts';
import { DiskError, ExitCode, SmokeError } from '../lib/errors.ts';
import { artifactDir, containerPathOf } from '../lib/layout.ts';
import { loadManifest } from '../lib/manifest/load.ts';
import type { Manifest } from '../lib/manifest/schema.ts';
import {
  buildCheckScript,
  checkArtifactsFor,
  chunkCheckArtifacts,
  mountsEscape,
  parseCheckOutput,
  shQuote,
  type CheckArtifact,
} from '../lib/smoke/in-container-check.ts';
import { entrypointWord } from '../lib/smoke/command-step.ts';
import { outputTail } from '../lib/smoke/container-output.ts';
import { evaluateCheck } from '../lib/smoke/evaluate-check.ts';
import type { SmokeReport } from '../lib/smoke/report.ts';
import { runSmoke } from '../lib/smoke/run-smoke.ts';
import {
  buildBusyboxImage,
  cleanupDocker,
  containersNamed,
  describeDocker,
  sh as dockerSh,
  TEST_LABEL,
  testRunId,
  trackImage,
} from './helpers/docker.ts';
import { copyFixture } from './helpers/ml-worker-fixture.ts';
import { oneArtifactProject } from './helpers/one-artifact-project.ts';
import { canMount, remountReadOnly, tmpfs } from './helpers/tmpfs.ts';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const sh = zx$({ quiet: true, nothrow: true, timeout: '60s' });

async function tmpDir(prefix: string): Promise<string> {
  return fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), prefix)));
}

// ---------------------------------------------------------------------------
// Script builder and parser

describe('parseCheckOutput', () => {
  it('reads every kind of line, tolerates CRLF and foreign lines', () => {
    const text = [
      'entrypoint says hello',
      'MM\tBEGIN\t1',
      'MM\tTOOLS\tstat\tnone',
      'MM\tSHA_SKIPPED\tno sha256sum in image',
      'MM\tMOUNT\ta/b\t/x/a/b\t/x/a/b\tro,relatime',
      'MM\tREAD_ONLY\ta/b\t/x/a/b\tEROFS\r',
      'MM\tOK\ta/b\tm.bin\t12\tsize',
      'MM\tSIZE\ta/b\tc.json\t1234\t0',
      'MM\tSHA\ta/b\td\t' + 'a'.repeat(64) + '\t' + 'b'.repeat(64),
      'MM\tMISSING_FILE\ta/b\te\tno such file',
      'MM\tUNREADABLE\ta/b\tf\tnot readable by uid 1000',
      'MM\tMISSING_DIR\tc/d\t/x/c/d\tno such folder',
      'MM\tWRITABLE\te/f\t/x/e/f\tcreated a file in it',
      'MM\tRO_UNKNOWN\tg\t/x/g\tcannot read /proc/self/mounts; write probe: Permission\tdenied',
      'MM\tOK\ta/b\tbad-size\tx\tsize',
      'MM\tNOPE',
      'MM\tEND',
      '',
    ].join('\n');
    const p = parseCheckOutput(text);
    expect(p.started).toBe(true);
    expect(p.complete).toBe(true);
    expect(p.other).toEqual(['entrypoint says hello']);
    expect(p.malformed).toEqual(['MM\tOK\ta/b\tbad-size\tx\tsize', 'MM\tNOPE']);
    expect(p.events).toEqual([
      { kind: 'begin', protocol: '1' },
      { kind: 'tools', size: 'stat', sha256: 'none' },
      { kind: 'sha-skipped', reason: 'no sha256sum in image' },
      { kind: 'mount', id: 'a/b', target: '/x/a/b', mountPoint: '/x/a/b', options: ['ro', 'relatime'] },
      { kind: 'read-only', id: 'a/b', target: '/x/a/b', evidence: 'EROFS' },
      { kind: 'file-ok', id: 'a/b', path: 'm.bin', size: 12, method: 'size' },
      { kind: 'size-mismatch', id: 'a/b', path: 'c.json', expected: 1234, actual: 0 },
      { kind: 'sha-mismatch', id: 'a/b', path: 'd', expected: 'a'.repeat(64), actual: 'b'.repeat(64) },
      { kind: 'missing-file', id: 'a/b', path: 'e', detail: 'no such file' },
      { kind: 'unreadable', id: 'a/b', path: 'f', detail: 'not readable by uid 1000' },
      { kind: 'missing-dir', id: 'c/d', target: '/x/c/d', detail: 'no such folder' },
      { kind: 'writable', id: 'e/f', target: '/x/e/f', detail: 'created a file in it' },
      { kind: 'ro-unknown', id: 'g', target: '/x/g', detail: 'cannot read /proc/self/mounts; write probe: Permission\tdenied' },
      { kind: 'end' },
    ]);
  });

  it('marks output without END as incomplete', () => {
    const p = parseCheckOutput('MM\tBEGIN\t1\nMM\tOK\ta\tb\t1\tsize\nKilled\n');
    expect(p.started).toBe(true);
    expect(p.complete).toBe(false);
    expect(parseCheckOutput('exec: "sh": executable file not found in $PATH').started).toBe(false);
  });
});

describe('buildCheckScript', () => {
  it('single-quotes every value and refuses values that would break the line protocol', () => {
    const script = buildCheckScript([{ id: "it's/x", target: "/m/it's/x", files: [{ path: 'a b/$(rm -rf x)`c`', size: 3, sha256: '0'.repeat(64) }] }]);
    expect(script).toContain(`mm_dir 'it'\\''s/x' '/m/it'\\''s/x'`);
    expect(script).toContain(`'a b/$(rm -rf x)\`c\`' 3`);
    expect(() => buildCheckScript([{ id: 'a', target: '/a', files: [{ path: 'x\ty', size: 1, sha256: '0'.repeat(64) }] }])).toThrow(/TAB/);
    expect(() => buildCheckScript([{ id: 'a\nb', target: '/a', files: [] }])).toThrow(/newline/);
    expect(shQuote("a'b")).toBe(`'a'\\''b'`);
    expect(mountsEscape('/a b\\c')).toBe('/a\\040b\\134c');
  });

  it('has no bash-isms', () => {
    const script = buildCheckScript([{ id: 'a', target: '/a', files: [{ path: 'f', size: 1, sha256: '0'.repeat(64) }] }], { full: true });
    for (const bashism of ['[[', 'local ', "$'", 'echo -e', 'function ', '<<<', 'pipefail', '${!', '=~']) expect(script).not.toContain(bashism);
  });

  it('maps manifest artifacts to container folders', () => {
    const checks = checkArtifactsFor(
      [{ id: 'student/v0_ja', labels: {}, optional: false, files: [{ path: 'config.json', size: 2, sha256: '1'.repeat(64) }] }],
      '/app/learning_machine/artifacts',
    );
    expect(checks).toEqual([{ id: 'student/v0_ja', target: '/app/learning_machine/artifacts/student/v0_ja', files: [{ path: 'config.json', size: 2, sha256: '1'.repeat(64) }] }]);
  });

  it('splits huge artifact lists into scripts below the 128 KiB argument limit', () => {
    const artifacts: CheckArtifact[] = Array.from({ length: 5 }, (_, i) => ({
      id: `big/a${i}`,
      target: `/models/big/a${i}`,
      files: Array.from({ length: 600 }, (_, j) => ({ path: `shard-${String(j).padStart(5, '0')}/weights-of-a-rather-long-name.safetensors`, size: j, sha256: sha256(String(j)) })),
    }));
    const chunks = chunkCheckArtifacts(artifacts);
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks) expect(Buffer.byteLength(buildCheckScript(c, { full: true }))).toBeLessThan(128 * 1024);
    const files = chunks.flat().flatMap((a) => a.files.map((f) => `${a.id}:${f.path}`));
    expect(files).toEqual(artifacts.flatMap((a) => a.files.map((f) => `${a.id}:${f.path}`)));
    expect(chunkCheckArtifacts([])).toEqual([]);
  });
});

// ---------------------------------------------------------------------------
// The script, run for real by the host's busybox sh and dash

const SHELLS = [
  ['busybox sh', existsSync('/bin/busybox') ? ['/bin/busybox', 'sh'] : undefined],
  ['dash', existsSync('/bin/dash') ? ['/bin/dash'] : undefined],
] as const;

describe.each(SHELLS)('the check script under %s', (_name, shell) => {
  let root: string;
  const ok = Buffer.from('safetensors-ish bytes');
  beforeAll(async () => {
    root = await tmpDir('modelmount-check-');
    await fs.mkdir(path.join(root, 'models/a/sub dir'), { recursive: true });
    await fs.writeFile(path.join(root, 'models/a/ok.bin'), ok);
    await fs.writeFile(path.join(root, "models/a/sub dir/it's.json"), '{}');
    await fs.writeFile(path.join(root, 'models/a/short.bin'), '');
    await fs.writeFile(path.join(root, 'models/a/changed.bin'), 'abc');
    await fs.symlink('/nonexistent/target', path.join(root, 'models/a/dangling'));
  });
  afterAll(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  const run = async (checks: CheckArtifact[], full: boolean, env: NodeJS.ProcessEnv = process.env) => {
    const script = buildCheckScript(checks, { full, probeName: '.mm-probe' });
    const out = await sh({ env })`${shell!} -c ${script}`;
    expect(out.stderr).toBe('');
    return parseCheckOutput(out.stdout);
  };

  it.skipIf(!shell)('reports ok, size, sha256, missing, dangling and missing folders, and leaves no probe behind', async () => {
    const target = path.join(root, 'models/a');
    const p = await run(
      [
        {
          id: 'x/a',
          target,
          files: [
            { path: 'ok.bin', size: ok.length, sha256: sha256(ok) },
            { path: "sub dir/it's.json", size: 2, sha256: sha256('{}') },
            { path: 'short.bin', size: 1234, sha256: '0'.repeat(64) },
            { path: 'changed.bin', size: 3, sha256: sha256('abd') },
            { path: 'gone.bin', size: 1, sha256: '0'.repeat(64) },
            { path: 'dangling', size: 1, sha256: '0'.repeat(64) },
          ],
        },
        { id: 'x/missing', target: path.join(root, 'models/missing'), files: [{ path: 'f', size: 1, sha256: '0'.repeat(64) }] },
      ],
      true,
    );
    expect(p.complete).toBe(true);
    expect(p.events).toContainEqual({ kind: 'tools', size: 'stat', sha256: 'sha256sum' });
    expect(p.events).toContainEqual({ kind: 'file-ok', id: 'x/a', path: 'ok.bin', size: ok.length, method: 'sha256' });
    expect(p.events).toContainEqual({ kind: 'file-ok', id: 'x/a', path: "sub dir/it's.json", size: 2, method: 'sha256' });
    expect(p.events).toContainEqual({ kind: 'size-mismatch', id: 'x/a', path: 'short.bin', expected: 1234, actual: 0 });
    expect(p.events).toContainEqual({ kind: 'sha-mismatch', id: 'x/a', path: 'changed.bin', expected: sha256('abd'), actual: sha256('abc') });
    expect(p.events).toContainEqual({ kind: 'missing-file', id: 'x/a', path: 'gone.bin', detail: 'no such file' });
    expect(p.events).toContainEqual({ kind: 'missing-file', id: 'x/a', path: 'dangling', detail: 'dangling symlink' });
    expect(p.events).toContainEqual({ kind: 'missing-dir', id: 'x/missing', target: path.join(root, 'models/missing'), detail: 'no such folder' });
    // a plain folder is writable: reported, and the probe file is removed again
    expect(p.events).toContainEqual({ kind: 'writable', id: 'x/a', target, detail: 'created a file in it' });
    expect(existsSync(path.join(target, '.mm-probe'))).toBe(false);
    // the files of a missing folder are not reported one by one
    expect(p.events.filter((e) => 'id' in e && e.id === 'x/missing')).toHaveLength(1);
  });

  it.skipIf(!shell)('checks sizes only without full', async () => {
    const p = await run([{ id: 'x/a', target: path.join(root, 'models/a'), files: [{ path: 'changed.bin', size: 3, sha256: sha256('abd') }] }], false);
    expect(p.events).toContainEqual({ kind: 'file-ok', id: 'x/a', path: 'changed.bin', size: 3, method: 'size' });
    expect(p.events.some((e) => e.kind === 'sha-skipped')).toBe(false);
  });

  it.skipIf(!shell || process.getuid?.() !== 0)('sees a read-only bind mount as read-only (EROFS) and reads its mount options', async (ctx) => {
    const ro = path.join(root, 'ro');
    await fs.mkdir(ro, { recursive: true });
    const bind = await sh`mount --bind ${path.join(root, 'models/a')} ${ro} && mount -o remount,ro,bind ${ro}`;
    if (bind.exitCode !== 0) {
      await sh`umount ${ro}`;
      ctx.skip(`cannot bind-mount here: ${bind.stderr.trim()}`);
      return;
    }
    try {
      const p = await run([{ id: 'x/ro', target: ro, files: [{ path: 'ok.bin', size: ok.length, sha256: sha256(ok) }] }], true);
      expect(p.events).toContainEqual({ kind: 'read-only', id: 'x/ro', target: ro, evidence: 'EROFS' });
      const mount = p.events.find((e) => e.kind === 'mount');
      expect(mount).toMatchObject({ kind: 'mount', mountPoint: ro });
      expect(mount?.kind === 'mount' && mount.options).toContain('ro');
      expect(p.events).toContainEqual({ kind: 'file-ok', id: 'x/ro', path: 'ok.bin', size: ok.length, method: 'sha256' });
    } finally {
      await sh`umount ${ro}`;
    }
  });
});

describe('the check script in an image without sha256sum', () => {
  it.skipIf(!existsSync('/bin/dash'))('prints "skipped: no sha256sum in image" once and still checks sizes', async () => {
    // dash with a PATH holding only what the script may use besides sha256sum
    const root = await tmpDir('modelmount-nosha-');
    try {
      const bin = path.join(root, 'bin');
      await fs.mkdir(bin);
      for (const tool of ['stat', 'wc', 'rm', 'id']) {
        const real = ['/usr/bin', '/bin'].map((d) => path.join(d, tool)).find((p) => existsSync(p));
        if (real) await fs.symlink(real, path.join(bin, tool));
      }
      await fs.mkdir(path.join(root, 'm'));
      await fs.writeFile(path.join(root, 'm/f'), 'abc');
      const script = buildCheckScript([{ id: 'a', target: path.join(root, 'm'), files: [{ path: 'f', size: 3, sha256: sha256('x') }] }], { full: true });
      const out = await sh({ env: { PATH: bin } })`/bin/dash -c ${script}`;
      const p = parseCheckOutput(out.stdout);
      expect(p.complete).toBe(true);
      expect(p.events.filter((e) => e.kind === 'sha-skipped')).toEqual([{ kind: 'sha-skipped', reason: 'no sha256sum in image' }]);
      expect(p.events).toContainEqual({ kind: 'file-ok', id: 'a', path: 'f', size: 3, method: 'size' });
      const ev = evaluateCheck('svc', [{ id: 'a', target: path.join(root, 'm'), files: [{ path: 'f', size: 3, sha256: sha256('x') }] }], p, true);
      expect(ev.artifacts[0]?.files[0]).toMatchObject({ status: 'ok', sha256: 'skipped' });
      expect(ev.warnings.join('\n')).toContain('sha256 skipped: no sha256sum in image');
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------
// Evaluation: the words users read

describe('evaluateCheck', () => {
  const target = '/app/learning_machine/artifacts/student/v0_ja';
  const checks: CheckArtifact[] = [
    {
      id: 'student/v0_ja',
      target,
      files: [
        { path: 'config.json', size: 85, sha256: '1'.repeat(64) },
        { path: 'model.safetensors', size: 1234, sha256: '2'.repeat(64) },
      ],
    },
  ];
  const lines = (...l: string[]) => parseCheckOutput(['MM\tBEGIN\t1', ...l, 'MM\tEND'].join('\n'));

  it('names a folder that is not there as not mounted, with the fix', () => {
    const ev = evaluateCheck('ml-worker', checks, lines(`MM\tMISSING_DIR\tstudent/v0_ja\t${target}\tno such folder`), false);
    expect(ev.failures.map((f) => f.message)).toEqual([
      'student/v0_ja is not mounted at /app/learning_machine/artifacts/student/v0_ja in ml-worker: is the override included? run modelmount compose',
    ]);
    expect(ev.failures[0]).toMatchObject({ code: 'ESMOKE_NOT_MOUNTED', artifact: 'student/v0_ja', step: 'check' });
    expect(ev.artifacts[0]).toMatchObject({ ok: false, exists: false, mounted: false });
  });

  it('treats a folder that comes from the image without the files as not mounted', () => {
    const ev = evaluateCheck(
      'ml-worker',
      checks,
      lines(`MM\tMOUNT\tstudent/v0_ja\t${target}\t/\trw,relatime`, `MM\tWRITABLE\tstudent/v0_ja\t${target}\tcreated a file in it`, `MM\tMISSING_FILE\tstudent/v0_ja\tconfig.json\tno such file`, `MM\tMISSING_FILE\tstudent/v0_ja\tmodel.safetensors\tno such file`),
      false,
    );
    expect(ev.failures).toHaveLength(1);
    expect(ev.failures[0]?.message).toMatch(/^student\/v0_ja is not mounted at .* in ml-worker \(the folder comes from the image and lacks the model files\): is the override included\? run modelmount compose$/);
  });

  it('reports writable mounts, sizes, digests, missing and unreadable files', () => {
    const ev = evaluateCheck(
      'ml-worker',
      checks,
      lines(
        `MM\tMOUNT\tstudent/v0_ja\t${target}\t${target}\trw,relatime`,
        `MM\tWRITABLE\tstudent/v0_ja\t${target}\tcreated a file in it`,
        `MM\tSHA\tstudent/v0_ja\tconfig.json\t${'1'.repeat(64)}\t${'3'.repeat(64)}`,
        'MM\tSIZE\tstudent/v0_ja\tmodel.safetensors\t1234\t0',
      ),
      true,
    );
    expect(ev.failures.map((f) => f.message)).toEqual([
      `student/v0_ja at ${target} in ml-worker is writable: the mount must be read_only (created a file in it)`,
      `config.json in student/v0_ja has sha256 ${'3'.repeat(64)} in the container, expected ${'1'.repeat(64)}`,
      'model.safetensors in student/v0_ja is 0 bytes in the container, expected 1234',
    ]);
    expect(ev.failures.map((f) => f.code)).toEqual(['ESMOKE_WRITABLE', 'ESMOKE_SHA256', 'ESMOKE_SIZE']);
    const ev2 = evaluateCheck(
      'w',
      checks,
      lines(
        `MM\tMOUNT\tstudent/v0_ja\t${target}\t${target}\tro`,
        `MM\tREAD_ONLY\tstudent/v0_ja\t${target}\tEROFS`,
        'MM\tMISSING_FILE\tstudent/v0_ja\tconfig.json\tdangling symlink',
        'MM\tUNREADABLE\tstudent/v0_ja\tmodel.safetensors\tnot readable by uid 1000',
      ),
      false,
    );
    expect(ev2.failures.map((f) => f.message)).toEqual([
      `config.json in student/v0_ja is missing in the container at ${target}/config.json (dangling symlink)`,
      'model.safetensors in student/v0_ja cannot be read in the container (not readable by uid 1000)',
    ]);
    expect(ev2.artifacts[0]).toMatchObject({ mounted: true, readOnly: true, readOnlyEvidence: 'EROFS' });
  });

  it('passes a read-only mount with every file right', () => {
    const ev = evaluateCheck(
      'w',
      checks,
      lines(
        `MM\tMOUNT\tstudent/v0_ja\t${target}\t${target}\tro,relatime`,
        `MM\tREAD_ONLY\tstudent/v0_ja\t${target}\tEROFS`,
        'MM\tOK\tstudent/v0_ja\tconfig.json\t85\tsha256',
        'MM\tOK\tstudent/v0_ja\tmodel.safetensors\t1234\tsha256',
      ),
      true,
    );
    expect(ev.failures).toEqual([]);
    expect(ev.artifacts[0]).toMatchObject({ ok: true, mounted: true, readOnly: true });
    expect(ev.artifacts[0]?.files.map((f) => f.sha256)).toEqual(['match', 'match']);
  });
});

describe('run-smoke helpers', () => {
  it('keeps the container output and drops Compose progress lines', () => {
    const text = 'Creating network "p_default" with the default driver\nCreating p_w_run ... \r\nCreating p_w_run ... done\r\n[+] Running 1/1\nMM\tBEGIN\t1\nloaded student/v0_ja\nRuntimeError: boom\n';
    expect(outputTail(text)).toEqual(['loaded student/v0_ja', 'RuntimeError: boom']);
    expect(outputTail(Array.from({ length: 50 }, (_, i) => `line ${i}`).join('\n'))).toHaveLength(20);
  });

  it('quotes the entrypoint word for shlex and go-shellwords', () => {
    expect(entrypointWord('python')).toBe('python');
    expect(entrypointWord('/opt/my app/run')).toBe(`'/opt/my app/run'`);
    expect(entrypointWord("it's")).toBe(`'it'"'"'s'`);
  });
});

describe('the temporary folder (TMPDIR)', () => {
  const saved = process.env.TMPDIR;
  afterEach(() => {
    process.env.TMPDIR = saved;
  });

  async function smokeWithTmpdir(tmp: string): Promise<unknown> {
    const p = await oneArtifactProject();
    const m = await loadManifest(p.manifest);
    process.env.TMPDIR = tmp;
    return runSmoke(m, m.artifacts, { engine: { version: 'v2', command: ['false'], fullVersion: '0' }, $: zx$ }).catch((err: unknown) => err);
  }

  it('missing: a disk error (exit 5) naming TMPDIR, not an internal error', async () => {
    const err = await smokeWithTmpdir(path.join(os.tmpdir(), 'no-such-folder'));
    expect(err).toBeInstanceOf(DiskError);
    expect((err as DiskError).exitCode).toBe(ExitCode.disk);
    expect((err as DiskError).message).toContain('no-such-folder');
    expect((err as DiskError).hint).toContain('TMPDIR');
  });

  it.skipIf(!canMount)('read-only: a disk error (exit 5) naming TMPDIR', async () => {
    const ro = await tmpfs(1);
    remountReadOnly(ro);
    const err = await smokeWithTmpdir(ro);
    expect(err).toBeInstanceOf(DiskError);
    expect((err as DiskError).code).toBe('EPERM');
    expect((err as DiskError).hint).toContain('TMPDIR');
  });
});

// ---------------------------------------------------------------------------
// Real Docker: the fixture reproduces the outage, the override fixes it

describeDocker('models:smoke against the ml-worker fixture (real Docker)', () => {
  const baseImage = `modelmount-test-busybox:${testRunId}`;
  const workerImage = `modelmount-test-ml-worker:${testRunId}`;
  const project = `mme2e${testRunId}`;
  const labels = { [TEST_LABEL]: testRunId };
  let engine: ComposeEngine;
  let $env: Shell;
  const dirs: string[] = [];
  let buildDir: string;

  beforeAll(async () => {
    const found = await detectCompose();
    if (!found) throw new Error('Docker is reachable but neither `docker compose` nor `docker-compose` works: install one to run these tests.');
    engine = found;
    $env = zx$({
      env: { ...process.env, MODELMOUNT_FIXTURE_BASE_IMAGE: baseImage, MODELMOUNT_FIXTURE_IMAGE: workerImage, COMPOSE_PROJECT_NAME: project },
    });
    await buildBusyboxImage(baseImage);
    buildDir = await copyFixture(await tmpDir('modelmount-e2e-build-'));
    dirs.push(buildDir);
    trackImage(workerImage);
    const build = await $env({ quiet: true, nothrow: true, cwd: buildDir, timeout: '300s' })`${[...engine.command, '-f', path.join(buildDir, 'compose.yaml'), 'build', 'ml-worker']}`;
    if (build.exitCode !== 0) throw new Error(`building the fixture image failed:\n${build.stderr || build.stdout}`);
  }, 300_000);

  afterAll(async () => {
    await cleanupDocker({ composeProjects: [project] });
    for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
    const left = await dockerSh`docker ps -aq --filter ${`label=${TEST_LABEL}=${testRunId}`}`;
    expect(left.stdout.trim()).toBe('');
    const images = await dockerSh`docker images -q --filter ${`label=${TEST_LABEL}=${testRunId}`}`;
    expect(images.stdout.trim()).toBe('');
  }, 120_000);

  /** A fresh copy of the fixture (without any installed models or override) and its manifest. */
  async function freshProject(): Promise<Manifest> {
    const dir = await tmpDir('modelmount-e2e-');
    dirs.push(dir);
    await copyFixture(dir);
    return loadManifest(path.join(dir, 'manifest.yaml'));
  }

  /** Stand-in for the installer: copy the source models into hostDir/<id>/. */
  async function install(m: Manifest): Promise<void> {
    for (const a of m.artifacts) {
      await fs.cp(path.join(m.dir, 'source-models', ...a.id.split('/')), artifactDir(m.hostDir, a.id), { recursive: true });
    }
  }

  async function smoke(m: Manifest, extra: Partial<Parameters<typeof runSmoke>[2]> = {}): Promise<{ report?: SmokeReport; error?: SmokeError; steps: string[] }> {
    const steps: string[] = [];
    try {
      const report = await runSmoke(m, m.artifacts, { engine, $: $env, labels, onStep: (s) => steps.push(s), ...extra });
      return { report, steps };
    } catch (err) {
      if (err instanceof SmokeError) return { error: err, steps };
      throw err;
    }
  }

  const reportOf = (r: { report?: SmokeReport; error?: SmokeError }) => (r.report ?? (r.error?.data?.report as SmokeReport | undefined))!;

  it('(a) without the override: "not mounted … is the override included?", exit 8, and the app dies with the outage RuntimeError', async () => {
    const m = await freshProject();
    await install(m); // the models are on the host, excluded from the image, and not mounted: the ADR outage
    const r = await smoke(m);
    expect(r.error).toBeInstanceOf(SmokeError);
    expect(r.error!.exitCode).toBe(8);
    expect(r.error!.message).toContain(
      'student/v0_ja is not mounted at /app/learning_machine/artifacts/student/v0_ja in ml-worker: is the override included? run modelmount compose',
    );
    expect(r.error!.message).toContain('student/v0_en is not mounted at /app/learning_machine/artifacts/student/v0_en in ml-worker');
    expect(r.steps.join('\n')).toContain('does not exist: running with the base files only');
    const report = reportOf(r);
    expect(report.overrideIncluded).toBe(false);
    const svc = report.services[0]!;
    expect(svc.network).toBe('override');
    expect(svc.check.artifacts.map((a) => [a.id, a.exists, a.mounted])).toEqual([
      ['student/v0_ja', false, false],
      ['student/v0_en', false, false],
    ]);
    expect(svc.command?.status).toBe('failed');
    expect(svc.command?.exitCode).toBe(1);
    expect(svc.command?.outputTail).toContain('RuntimeError: At least one model (JA or EN) must be loaded');
    expect(r.error!.message).toContain('smoke command exited 1 in ml-worker');
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });

  it('(b) with the models installed and the override written: both steps pass, read-only, sha256 checked', async () => {
    const m = await freshProject();
    await install(m);
    const written = await writeComposeOverride(m, m.artifacts);
    expect(written.path).toBe(m.compose!.override);
    const r = await smoke(m, { full: true });
    expect(r.error, r.error?.message).toBeUndefined();
    const report = r.report!;
    expect(report.ok).toBe(true);
    expect(report.overrideIncluded).toBe(true);
    const svc = report.services[0]!;
    expect(svc.check.status).toBe('passed');
    expect(svc.check.sha256Tool).toBe('sha256sum');
    for (const a of svc.check.artifacts) {
      expect(a).toMatchObject({ ok: true, exists: true, mounted: true, readOnly: true, readOnlyEvidence: 'EROFS' });
      expect(a.mountPoint).toBe(containerPathOf(m.compose!.containerDir, a.id));
      expect(a.files.every((f) => f.status === 'ok' && f.sha256 === 'match')).toBe(true);
    }
    expect(svc.command).toMatchObject({ status: 'passed', exitCode: 0 });
    expect(svc.command!.outputTail).toEqual(expect.arrayContaining([expect.stringMatching(/^loaded student\/v0_ja from \/app\/learning_machine\/artifacts\/student\/v0_ja/), 'ml-worker ready: 2 model(s) loaded']));
    expect(await containersNamed(svc.command!.containerName!)).toEqual([]);
  });

  it('(b2) the override listed in compose.files before another file: smoke runs it last, as the merged-config check and apply do, so its read-only mounts win', async () => {
    const m = await freshProject();
    await install(m);
    await writeComposeOverride(m, m.artifacts);
    const late = path.join(path.dirname(m.compose!.files[0]!), 'late.yaml');
    const stale = await tmpDir('modelmount-e2e-stale-');
    dirs.push(stale);
    const target = containerPathOf(m.compose!.containerDir, m.artifacts[0]!.id);
    await fs.writeFile(late, stringifyYaml({ services: { 'ml-worker': { volumes: [`${stale}:${target}`] } } }));
    m.compose!.files = [m.compose!.files[0]!, m.compose!.override, late];
    await validateMergedConfig(m, m.artifacts, { engine, $: $env, env: {} });
    const r = await smoke(m);
    expect(r.error, r.error?.message).toBeUndefined();
    expect(r.report!.files).toEqual([m.compose!.files[0], late, m.compose!.override]);
  });

  it('(c) a writable mount fails with "writable: the mount must be read_only"', async () => {
    const m = await freshProject();
    await install(m);
    // an override as someone might write it by hand: right paths, but read-write
    const volumes = m.artifacts.map((a) => ({ type: 'bind', source: artifactDir(m.hostDir, a.id), target: containerPathOf(m.compose!.containerDir, a.id) }));
    await fs.writeFile(m.compose!.override, stringifyYaml({ services: { 'ml-worker': { volumes } } }));
    const r = await smoke(m);
    expect(r.error?.exitCode).toBe(8);
    expect(r.error?.code).toBe('ESMOKE_WRITABLE');
    expect(r.error?.message).toContain(
      'student/v0_ja at /app/learning_machine/artifacts/student/v0_ja in ml-worker is writable: the mount must be read_only',
    );
    const svc = reportOf(r).services[0]!;
    expect(svc.check.artifacts.every((a) => a.readOnly === false && a.mounted === true)).toBe(true);
    expect(svc.command?.status).toBe('passed'); // the app loads; the mount is still wrong
    // the probe left nothing behind on the host
    for (const a of m.artifacts) expect((await fs.readdir(artifactDir(m.hostDir, a.id))).sort()).toEqual(['config.json', 'model.safetensors']);
  });

  it('(d) a smoke command that outlives timeoutSeconds (ignoring SIGTERM) is killed and its container removed', async () => {
    const m = await freshProject();
    await install(m);
    await writeComposeOverride(m, m.artifacts);
    // long enough for the container to start and print even on a busy CI machine
    m.smoke = { command: ['sh', '-c', "trap '' TERM INT; echo loading forever; sleep 120"], timeoutSeconds: 6 };
    const t0 = Date.now();
    const r = await smoke(m);
    const elapsed = Date.now() - t0;
    expect(r.error?.code).toBe('ESMOKE_TIMEOUT');
    expect(r.error?.message).toContain('smoke command timed out after 6 s');
    const cmd = reportOf(r).services[0]!.command!;
    expect(cmd).toMatchObject({ status: 'timed-out', containerRemoved: true });
    expect(cmd.outputTail).toContain('loading forever');
    expect(await containersNamed(cmd.containerName!)).toEqual([]);
    expect(elapsed).toBeLessThan(100_000); // killed long before `sleep 120` would end: no hang
  });

  it('runs services that declare networks from a copy of the merged config, still without network', async () => {
    const m = await freshProject();
    await install(m);
    await writeComposeOverride(m, m.artifacts);
    const netFile = path.join(m.dir, 'compose.networks.yaml');
    await fs.writeFile(netFile, 'services:\n  ml-worker:\n    networks: [backend]\nnetworks:\n  backend: {}\n');
    m.compose = { ...m.compose!, files: [...m.compose!.files, netFile] };
    m.smoke = { command: ['sh', '-c', 'ls /sys/class/net; cat /proc/1/comm; sh /app/check_models.sh'], timeoutSeconds: 60 };
    const r = await smoke(m);
    expect(r.error, r.error?.message).toBeUndefined();
    const svc = r.report!.services[0]!;
    expect(svc.network).toBe('merged-config');
    expect(r.steps.join('\n')).toContain('declares networks');
    expect(svc.command!.outputTail.slice(0, 2)).toEqual(['lo', 'docker-init']);
    expect(svc.command!.outputTail).toContain('ml-worker ready: 2 model(s) loaded');
  });

  it('removes the running container when aborted (Ctrl+C)', async () => {
    const m = await freshProject();
    await install(m);
    await writeComposeOverride(m, m.artifacts);
    m.smoke = { command: ['sh', '-c', "trap '' TERM INT; echo started; sleep 60"], timeoutSeconds: 60 };
    const ac = new AbortController();
    const t0 = Date.now();
    let running = '';
    const r = await smoke(m, {
      signal: ac.signal,
      onStep: (s) => {
        if (!s.includes('run the smoke command')) return;
        void (async () => {
          // wait until the one-off container runs (it carries the labels given to runSmoke), then press Ctrl+C
          for (let i = 0; i < 100 && running === ''; i++) {
            await new Promise((res) => setTimeout(res, 200));
            running = (await dockerSh`docker ps -q --filter ${`label=${TEST_LABEL}=${testRunId}`} --filter ${'label=io.modelmount.smoke'}`).stdout.trim();
          }
          await new Promise((res) => setTimeout(res, 500));
          ac.abort();
        })();
      },
    });
    expect(r.error?.code).toBe('ESMOKE_ABORTED');
    expect(running).not.toBe('');
    expect(Date.now() - t0).toBeLessThan(30_000);
    const left = await dockerSh`docker ps -aq --filter ${`label=${TEST_LABEL}=${testRunId}`}`;
    expect(left.stdout.trim()).toBe('');
  });
});
