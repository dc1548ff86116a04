import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { $ } from 'zx';
import { validateMergedConfig } from '../lib/compose/check-merged-mounts.ts';
import { detectCompose, type ComposeEngine } from '../lib/compose/engine.ts';
import { writeComposeOverride } from '../lib/compose/write-override.ts';
import type { DoctorFinding } from '../lib/doctor/check.ts';
import { findEscapingSymlinks } from '../lib/doctor/checks/symlink-escapes.ts';
import { matchDockerignore } from '../lib/doctor/dockerignore.ts';
import { doctorExitCode, runDoctor, selectedArtifacts } from '../lib/doctor/run-doctor.ts';
import { formatFindings } from '../lib/doctor/format-findings.ts';
import { readInstallRecord, writeInstallRecord } from '../lib/install-record.ts';
import { artifactDir, hostFilePath } from '../lib/layout.ts';
import { stallDeadline } from '../lib/fs-safe.ts';
import { CONTAINER_DIR, DEFAULT_ARTIFACTS, installArtifacts, makeFixture, REQUIRE_DOCKER, type Fixture } from './helpers/compose-fixture.ts';

const JA = `${CONTAINER_DIR}/student/v0_ja`;
const OUTAGE_IGNORE = '# keep the build context small\nnode_modules\nlearning_machine/artifacts\n*.log\n';

// whatever modelmount itself would use here: `docker compose` (v2) if present, else docker-compose (v1), or MODELS_COMPOSE
const engine: ComposeEngine | undefined = await detectCompose();
if (!engine && !REQUIRE_DOCKER) {
  console.warn('doctor.test.ts: no Compose (docker compose / docker-compose) found: the checks that need the merged Compose config are SKIPPED (MODELMOUNT_REQUIRE_DOCKER=1 makes this a failure).');
}
const withEngine = !!engine || REQUIRE_DOCKER;

let fx: Fixture | undefined;
afterEach(async () => {
  await fx?.cleanup();
  fx = undefined;
});

async function doctor(f: Fixture, opts: { engine?: ComposeEngine | null; env?: NodeJS.ProcessEnv; full?: boolean } = {}) {
  return runDoctor(f.manifest, f.artifacts, { engine: opts.engine === undefined ? engine ?? null : opts.engine, $, cwd: f.root, env: opts.env ?? {}, full: opts.full ?? true });
}
const only = (findings: DoctorFinding[], id: string) => findings.filter((f) => f.id === id);
const verdicts = (findings: DoctorFinding[], id: string) => only(findings, id).map((f) => f.verdict);

describe('matchDockerignore (Docker semantics via @balena/dockerignore)', () => {
  it('finds the line that excludes a path; last match wins; case-sensitive; parents exclude children', () => {
    expect(matchDockerignore(OUTAGE_IGNORE, ['learning_machine/artifacts/student/v0_ja'])).toEqual({
      excluded: true,
      line: 3,
      pattern: 'learning_machine/artifacts',
      path: 'learning_machine/artifacts/student/v0_ja',
    });
    expect(matchDockerignore('learning_machine/artifacts\n!learning_machine/artifacts/student\n', ['learning_machine/artifacts/student/v0_ja']).excluded).toBe(false);
    expect(matchDockerignore('Learning_Machine\n', ['learning_machine/artifacts']).excluded).toBe(false);
    expect(matchDockerignore('**/*.bin\n', ['learning_machine/artifacts/student/v0_ja', 'learning_machine/artifacts/student/v0_ja/model.bin'])).toMatchObject({ excluded: true, line: 1, path: 'learning_machine/artifacts/student/v0_ja/model.bin' });
    expect(matchDockerignore('/learning_machine/artifacts/\n', ['learning_machine/artifacts/student/v0_ja'])).toMatchObject({ excluded: true, line: 1 });
    expect(matchDockerignore('artifacts\n', ['learning_machine/artifacts']).excluded).toBe(false); // anchored at the context root
  });
});

describe.skipIf(!withEngine)(`the ADR outage (real \`${engine?.command.join(' ') ?? 'compose'} config\`)`, () => {
  it('engine available (MODELMOUNT_REQUIRE_DOCKER=1 makes its absence a failure)', () => {
    expect(engine, 'no Compose found on PATH').toBeDefined();
  });

  it('.dockerignore excludes the artifacts and no volume mounts them → error at the .dockerignore line', async () => {
    fx = await makeFixture({ dockerignore: OUTAGE_IGNORE });
    const findings = await doctor(fx);
    const outage = only(findings, 'dockerignore-excludes-artifacts');
    expect(outage.map((f) => f.verdict)).toEqual(['error', 'error']);
    const ja = outage.find((f) => f.message.startsWith('student/v0_ja'))!;
    expect(ja.file).toBe(path.join(fx.root, '.dockerignore'));
    expect(ja.line).toBe(3);
    expect(ja.message).toContain('`learning_machine/artifacts`');
    expect(ja.message).toContain(`no Compose volume mounts it read-only at ${JA} in ml-worker`);
    expect(ja.message).toContain('RuntimeError: At least one model (JA or EN) must be loaded');
    expect(ja.fix).toContain('modelmount update');
    expect(ja.fix).toContain('-f compose/services.yaml -f compose/models.override.yaml');
    // not reported twice as mount-missing, and nothing claims a mount is fine when there is none
    expect(only(findings, 'mount-missing')).toEqual([]);
    expect(only(findings, 'mount-writable')).toEqual([]);
    expect(only(findings, 'mount-source-mismatch')).toEqual([]);
    // the env variables are not set either: the app may have a default, so that part is a warning
    expect(verdicts(findings, 'env-mismatch')).toEqual(['warn', 'warn']);
    expect(doctorExitCode(findings)).toBe(7);
  });

  it('with the override written → ok', async () => {
    fx = await makeFixture({ dockerignore: OUTAGE_IGNORE });
    await writeComposeOverride(fx.manifest, fx.artifacts);
    const findings = await doctor(fx);
    expect(verdicts(findings, 'dockerignore-excludes-artifacts')).toEqual(['ok', 'ok']);
    expect(only(findings, 'dockerignore-excludes-artifacts')[0]!.line).toBe(3);
    const errors = findings.filter((f) => f.verdict === 'error');
    expect(errors, JSON.stringify(errors, null, 2)).toEqual([]);
    // the only warning: nothing makes a plain `docker compose up` read the override
    expect(findings.filter((f) => f.verdict === 'warn').map((f) => f.id)).toEqual(['override-not-included']);
    expect(doctorExitCode(findings)).toBe(0);
  });
});

describe.skipIf(!withEngine)('merged-config checks', () => {
  it('dockerignore: not excluded → ok; a `!` exception re-includes one artifact', async () => {
    fx = await makeFixture({ dockerignore: 'learning_machine/artifacts\n!learning_machine/artifacts/student/v0_en\n' });
    const findings = await doctor(fx);
    const d = only(findings, 'dockerignore-excludes-artifacts');
    expect(d.map((f) => [f.verdict, f.line])).toEqual([['error', 1]]);
    expect(d[0]!.message).toMatch(/^student\/v0_ja/);
    // v0_en is in the image but not mounted: reported as mount-missing instead
    expect(only(findings, 'mount-missing').map((f) => f.title)).toEqual(['student/v0_en is not mounted in ml-worker']);
  });

  it('dockerignore: a Dockerfile-specific ignore file (BuildKit) takes precedence', async () => {
    fx = await makeFixture({
      dockerignore: 'nothing-relevant\n',
      baseCompose: 'services:\n  ml-worker:\n    image: x\n    build:\n      context: ..\n      dockerfile: Dockerfile\n',
    });
    await fs.writeFile(path.join(fx.root, 'Dockerfile.dockerignore'), 'learning_machine\n');
    const d = only(await doctor(fx), 'dockerignore-excludes-artifacts');
    expect(d.map((f) => [f.verdict, f.file, f.line])).toEqual([
      ['error', path.join(fx.root, 'Dockerfile.dockerignore'), 1],
      ['error', path.join(fx.root, 'Dockerfile.dockerignore'), 1],
    ]);
  });

  it('mount-writable: a writable mount in the base file, with its line', async () => {
    fx = await makeFixture({
      baseCompose: `services:\n  ml-worker:\n    image: x\n    environment:\n      LEARNING_MACHINE_STUDENT_JA_DIR: ${JA}\n      LEARNING_MACHINE_STUDENT_EN_DIR: ${CONTAINER_DIR}/student/v0_en\n    volumes:\n      - ../learning_machine/artifacts:${CONTAINER_DIR}\n`,
    });
    const findings = await doctor(fx);
    const w = only(findings, 'mount-writable');
    expect(w.map((f) => [f.verdict, f.file, f.line])).toEqual([['error', fx.manifest.compose!.files[0], 8]]);
    expect(verdicts(findings, 'mount-missing')).toEqual(['ok']); // the parent mount covers both
    expect(verdicts(findings, 'mount-source-mismatch')).toEqual(['ok']);
    // with the override, exact read-only mounts win over the parent mount
    await writeComposeOverride(fx.manifest, fx.artifacts);
    expect(verdicts(await doctor(fx), 'mount-writable')).toEqual(['ok']);
  });

  it('mount-source-mismatch: the target is mounted from another host folder', async () => {
    fx = await makeFixture({ baseCompose: `services:\n  ml-worker:\n    image: x\n    volumes:\n      - ../old-models/ja:${JA}:ro\n` });
    const m = only(await doctor(fx), 'mount-source-mismatch');
    expect(m.map((f) => [f.verdict, f.line])).toEqual([['error', 5]]);
    expect(m[0]!.message).toContain(path.join(fx.root, 'old-models', 'ja'));
  });

  it('env-mismatch: the app variable points elsewhere than the mount', async () => {
    fx = await makeFixture({
      baseCompose: `services:\n  ml-worker:\n    image: x\n    environment:\n      - APP_ENV=test\n      - LEARNING_MACHINE_STUDENT_JA_DIR=/models/ja\n`,
    });
    let e = only(await doctor(fx), 'env-mismatch');
    expect(e.map((f) => f.verdict)).toEqual(['error', 'warn']); // JA points elsewhere; EN is not set
    const jaFinding = e.find((f) => f.title.startsWith('LEARNING_MACHINE_STUDENT_JA_DIR'))!;
    expect([jaFinding.file, jaFinding.line]).toEqual([fx.manifest.compose!.files[0], 6]);
    expect(jaFinding.message).toContain('/models/ja');
    // the override sets both and, being the later file, wins
    await writeComposeOverride(fx.manifest, fx.artifacts);
    e = only(await doctor(fx), 'env-mismatch');
    expect(e.map((f) => f.verdict)).toEqual(['ok']);
  });

  it('compose-file-mismatch: COMPOSE_FILE puts a file after the override that mounts a writable local folder at a model target → error, and the mount findings of that list at its line', async () => {
    fx = await makeFixture();
    await writeComposeOverride(fx.manifest, fx.artifacts);
    const dir = path.join(fx.root, 'compose');
    const dev = path.join(dir, 'dev.yaml');
    await fs.mkdir(path.join(fx.root, 'local-models'));
    await fs.writeFile(dev, `services:\n  ml-worker:\n    volumes:\n      - ../local-models:${JA}\n`);
    // relative to the project folder (the first Compose file's), where Compose reads .env
    await fs.writeFile(path.join(dir, '.env'), `COMPOSE_FILE=services.yaml${path.delimiter}models.override.yaml${path.delimiter}dev.yaml\n`);
    const findings = await doctor(fx);
    const m = only(findings, 'compose-file-mismatch');
    expect(m.map((f) => f.verdict)).toEqual(['error']);
    expect(m[0]!.message).toContain('dev.yaml after the override');
    expect(m[0]!.fix).toContain('files: [../compose/services.yaml, ../compose/dev.yaml]');
    expect(m[0]!.fix).toContain(`COMPOSE_FILE=services.yaml${path.delimiter}dev.yaml${path.delimiter}models.override.yaml`);
    for (const id of ['mount-writable', 'mount-source-mismatch']) {
      const f = only(findings, id).filter((x) => x.verdict === 'error');
      expect(f.map((x) => [x.file, x.line]), id).toEqual([[dev, 4]]);
      expect(f[0]!.message).toContain('COMPOSE_FILE');
    }
    // the override last: the override's mounts win; compose.files still leaves dev.yaml out → warn
    await fs.writeFile(path.join(dir, '.env'), `COMPOSE_FILE=services.yaml${path.delimiter}dev.yaml${path.delimiter}models.override.yaml\n`);
    const reordered = await doctor(fx);
    expect(verdicts(reordered, 'compose-file-mismatch')).toEqual(['warn']);
    expect(reordered.filter((f) => f.verdict === 'error')).toEqual([]);
    fx.manifest.compose!.files = [path.join(dir, 'services.yaml'), dev];
    expect(verdicts(await doctor(fx), 'compose-file-mismatch')).toEqual(['ok']);
  });

  it('the override listed in compose.files before another file: doctor merges it last, as the merged-config check (update, compose) and apply do', async () => {
    fx = await makeFixture();
    await writeComposeOverride(fx.manifest, fx.artifacts);
    const dir = path.join(fx.root, 'compose');
    const late = path.join(dir, 'late.yaml');
    await fs.mkdir(path.join(fx.root, 'local-models'));
    await fs.writeFile(late, `services:\n  ml-worker:\n    volumes:\n      - ../local-models:${JA}\n`);
    fx.manifest.compose!.files = [path.join(dir, 'services.yaml'), fx.manifest.compose!.override, late];
    // the override's read-only mounts win over late.yaml's: update's check passes, and so does doctor's
    await validateMergedConfig(fx.manifest, fx.artifacts, { engine: engine!, $, env: {} });
    const findings = await doctor(fx);
    expect(findings.filter((f) => f.id.startsWith('mount-') && f.verdict !== 'ok')).toEqual([]);
  });

  it('compose-config-invalid: Compose rejects the files', async () => {
    fx = await makeFixture({ baseCompose: 'services:\n  ml-worker:\n    image: x\n    volumes: 42\n' });
    const findings = await doctor(fx);
    expect(verdicts(findings, 'compose-config-invalid')).toEqual(['error']);
    expect(only(findings, 'compose-config-invalid')[0]!.message).toMatch(/volumes/);
  });

  it('mount-missing: a listed service that does not exist', async () => {
    fx = await makeFixture();
    fx.manifest.compose!.services = ['ml-wrker'];
    const m = only(await doctor(fx), 'mount-missing');
    expect(m.map((f) => f.verdict)).toEqual(['error', 'error']);
    expect(m[0]!.fix).toContain('compose.services');
  });
});

describe('merged-config checks on Compose v2 output (a fake engine prints what compose-go prints)', () => {
  async function fakeV2(f: Fixture, output: string): Promise<ComposeEngine> {
    const out = path.join(f.root, 'v2-config.yaml');
    await fs.writeFile(out, output);
    const bin = path.join(f.root, 'fake-compose');
    await fs.writeFile(bin, `#!/bin/sh\ncat '${out}'\n`, { mode: 0o755 });
    return { version: 'v2', command: [bin], fullVersion: '2.24.5' };
  }
  const v2Config = (f: Fixture, volumes: string) => `name: compose
services:
  ml-worker:
    build:
      context: ${f.root}
      dockerfile: Dockerfile
    environment:
      APP_ENV: test
      LEARNING_MACHINE_STUDENT_EN_DIR: ${CONTAINER_DIR}/student/v0_en
      LEARNING_MACHINE_STUDENT_JA_DIR: ${JA}
    image: modelmount-test-worker:dev
    networks:
      default: null
    volumes:
${volumes}networks:
  default:
    name: compose_default
`;
  const ro = (f: Fixture, id: string) => `      - type: bind
        source: ${path.join(f.manifest.hostDir, id)}
        target: ${CONTAINER_DIR}/${id}
        read_only: true
`;

  it('all good: the override merged by v2', async () => {
    fx = await makeFixture({ dockerignore: OUTAGE_IGNORE });
    await writeComposeOverride(fx.manifest, fx.artifacts);
    const e = await fakeV2(fx, v2Config(fx, ro(fx, 'student/v0_en') + ro(fx, 'student/v0_ja')));
    const findings = await doctor(fx, { engine: e });
    expect(findings.filter((f) => f.verdict === 'error')).toEqual([]);
    expect(verdicts(findings, 'dockerignore-excludes-artifacts')).toEqual(['ok', 'ok']);
  });

  it('mount-duplicate: v2 keeps a trailing-slash entry next to the override one (v1 refuses it outright)', async () => {
    fx = await makeFixture({ baseCompose: `services:\n  ml-worker:\n    image: x\n    volumes:\n      - ../old:${JA}/\n` });
    await writeComposeOverride(fx.manifest, fx.artifacts);
    const dup = `      - type: bind
        source: ${path.join(fx.root, 'old')}
        target: ${JA}/
        bind:
          create_host_path: true
`;
    const e = await fakeV2(fx, v2Config(fx, dup + ro(fx, 'student/v0_en') + ro(fx, 'student/v0_ja')));
    const d = only(await doctor(fx, { engine: e }), 'mount-duplicate');
    expect(d.map((f) => [f.verdict, f.file, f.line])).toEqual([['error', fx.manifest.compose!.files[0], 5]]);
    expect(d[0]!.fix).toContain('trailing "/"');
  });
});

describe('checks that need no Compose', () => {
  it('compose-engine-missing: warns and says what it skipped; an excluded artifact is a warning, not a guess', async () => {
    fx = await makeFixture({ dockerignore: OUTAGE_IGNORE });
    const findings = await doctor(fx, { engine: null });
    const e = only(findings, 'compose-engine-missing');
    expect(e.map((f) => f.verdict)).toEqual(['warn']);
    expect(e[0]!.message).toContain('Skipped:');
    expect(verdicts(findings, 'dockerignore-excludes-artifacts')).toEqual(['warn', 'warn']);
    expect(only(findings, 'dockerignore-excludes-artifacts')[0]!.line).toBe(3);
    expect(only(findings, 'mount-writable')).toEqual([]);
    expect(only(findings, 'env-mismatch')).toEqual([]);
  });

  it('mount-source-missing / -empty / -unverified, and ok for correct files', async () => {
    fx = await makeFixture();
    expect(verdicts(await doctor(fx, { engine: null }), 'mount-source-unverified')).toEqual(['ok']);
    await fs.rm(artifactDir(fx.manifest.hostDir, 'student/v0_en'), { recursive: true });
    await fs.mkdir(artifactDir(fx.manifest.hostDir, 'student/v0_en'));
    await fs.writeFile(hostFilePath(fx.manifest.hostDir, 'student/v0_ja', 'model.bin'), 'JA WEIGHTS\n'); // same size
    let findings = await doctor(fx, { engine: null });
    expect(only(findings, 'mount-source-empty').map((f) => f.message)).toEqual([expect.stringContaining('student/v0_en')]);
    const u = only(findings, 'mount-source-unverified');
    expect(u.map((f) => [f.verdict, f.file])).toEqual([['error', hostFilePath(fx.manifest.hostDir, 'student/v0_ja', 'model.bin')]]);
    expect(u[0]!.fix).toContain('modelmount update');
    await fs.rm(artifactDir(fx.manifest.hostDir, 'student/v0_en'), { recursive: true });
    findings = await doctor(fx, { engine: null });
    expect(verdicts(findings, 'mount-source-missing')).toEqual(['error']);
    expect(only(findings, 'mount-source-missing')[0]!.message).toContain('empty root-owned folder');
  });

  it('a file where the host folder (or its .modelmount) belongs is reported once, by the check that owns it', async () => {
    fx = await makeFixture();
    const hostDir = fx.manifest.hostDir;
    await fs.rm(hostDir, { recursive: true });
    await fs.writeFile(hostDir, 'not a folder');
    let findings = await doctor(fx, { engine: null });
    const naming = (at: string) => findings.filter((f) => f.verdict !== 'ok' && f.message.includes(at)).map((f) => f.id);
    // the host-folder check owns it (one finding per artifact mounted from it); kept-versions has nothing to add
    expect(naming(hostDir)).toEqual(['mount-source-invalid', 'mount-source-invalid']);
    expect(verdicts(findings, 'kept-versions')).toEqual(['ok']);
    await fs.rm(hostDir);
    await installArtifacts(fx.manifest, DEFAULT_ARTIFACTS);
    const meta = path.join(hostDir, '.modelmount');
    await fs.rm(meta, { recursive: true });
    await fs.writeFile(meta, 'not a folder');
    findings = await doctor(fx, { engine: null });
    expect(naming(meta)).toEqual(['kept-versions']);
  });

  it('symlink-escapes: links leaving the mounted folder (relative or absolute) are errors; inside links are fine', async () => {
    fx = await makeFixture();
    const ja = artifactDir(fx.manifest.hostDir, 'student/v0_ja');
    await fs.symlink('tokenizer/vocab.txt', path.join(ja, 'vocab-link.txt'));
    expect(verdicts(await doctor(fx, { engine: null }), 'symlink-escapes')).toEqual(['ok']);
    await fs.writeFile(path.join(fx.root, 'outside.bin'), 'x');
    await fs.symlink('../../../../outside.bin', path.join(ja, 'tokenizer', 'escape.bin'));
    await fs.symlink(path.join(ja, 'model.bin'), path.join(ja, 'absolute.bin'));
    const s = only(await doctor(fx, { engine: null }), 'symlink-escapes');
    expect(s.map((f) => [f.verdict, path.basename(f.file!)]).sort()).toEqual([
      ['error', 'absolute.bin'],
      ['error', 'escape.bin'],
    ]);
    expect(s.find((f) => f.file!.endsWith('escape.bin'))!.message).toContain('dangles in the container');
    expect((await findEscapingSymlinks(ja, stallDeadline('Checking the files in', fx.manifest.hostDir, { folder: 'host' }))).map((e) => path.basename('folder' in e ? e.folder : e.link)).sort()).toEqual(['absolute.bin', 'escape.bin']);
  });

  /** fs[method] failing with the code given for each of these paths, answering as usual elsewhere. */
  function failFs(method: 'readlink' | 'readdir', failing: Record<string, string>) {
    const real = fs[method] as (p: string, opts?: unknown) => Promise<unknown>;
    return vi.spyOn(fs, method).mockImplementation((async (p: string, opts?: unknown) => {
      const code = failing[String(p)];
      if (code) throw Object.assign(new Error(`${code}: ${method} '${String(p)}'`), { code });
      return real(p, opts);
    }) as never);
  }

  it('symlink-escapes: a link removed or replaced between the listing and its readlink (ENOENT, EINVAL) is skipped, not an internal error', async () => {
    fx = await makeFixture();
    const ja = artifactDir(fx.manifest.hostDir, 'student/v0_ja');
    await fs.symlink('/etc/passwd', path.join(ja, 'absolute.bin'));
    await fs.symlink('/etc/hosts', path.join(ja, 'gone.bin'));
    await fs.symlink('/etc/hostname', path.join(ja, 'replaced.bin'));
    const spy = failFs('readlink', { [path.join(ja, 'gone.bin')]: 'ENOENT', [path.join(ja, 'replaced.bin')]: 'EINVAL' });
    try {
      const escaping = await findEscapingSymlinks(ja, stallDeadline('Checking the files in', fx.manifest.hostDir, { folder: 'host' }));
      expect(spy).toHaveBeenCalledTimes(3);
      expect(escaping.map((e) => path.basename('folder' in e ? e.folder : e.link))).toEqual(['absolute.bin']);
    } finally {
      spy.mockRestore();
    }
  });

  it('symlink-escapes: a link whose readlink fails otherwise (EACCES, EIO) is reported (warn: where it leads is unknown), never "ok"', async () => {
    fx = await makeFixture();
    const ja = artifactDir(fx.manifest.hostDir, 'student/v0_ja');
    await fs.symlink('tokenizer/vocab.txt', path.join(ja, 'denied.txt'));
    await fs.symlink('model.bin', path.join(ja, 'broken.bin'));
    const spy = failFs('readlink', { [path.join(ja, 'denied.txt')]: 'EACCES', [path.join(ja, 'broken.bin')]: 'EIO' });
    try {
      const s = only(await doctor(fx, { engine: null }), 'symlink-escapes');
      expect(s.map((f) => [f.verdict, f.file && path.basename(f.file)]).sort()).toEqual([
        ['warn', 'broken.bin'],
        ['warn', 'denied.txt'],
      ]);
      expect(s.find((f) => f.file!.endsWith('denied.txt'))!.message).toContain('EACCES');
      expect(s.find((f) => f.file!.endsWith('broken.bin'))!.message).toContain('EIO');
    } finally {
      spy.mockRestore();
    }
  });

  it('symlink-escapes: a folder whose listing fails (EACCES, EIO) is reported (warn: its links are unchecked), never "ok"; one removed meanwhile (ENOENT) is skipped', async () => {
    fx = await makeFixture();
    const ja = artifactDir(fx.manifest.hostDir, 'student/v0_ja');
    for (const d of ['denied', 'broken', 'gone']) await fs.mkdir(path.join(ja, d));
    // mode 000 stops no read as root (CI): the listing's failure is injected
    const spy = failFs('readdir', { [path.join(ja, 'denied')]: 'EACCES', [path.join(ja, 'broken')]: 'EIO', [path.join(ja, 'gone')]: 'ENOENT' });
    try {
      const s = only(await doctor(fx, { engine: null }), 'symlink-escapes');
      expect(s.map((f) => [f.verdict, f.file && path.basename(f.file)]).sort()).toEqual([
        ['warn', 'broken'],
        ['warn', 'denied'],
      ]);
      expect(s.find((f) => f.file!.endsWith('denied'))!.message).toContain('EACCES');
      expect(s.find((f) => f.file!.endsWith('broken'))!.message).toContain('EIO');
      expect(s.find((f) => f.file!.endsWith('broken'))!.message).toContain(path.join(ja, 'broken'));
    } finally {
      spy.mockRestore();
    }
  });

  it('override-missing, override-foreign, override-stale (manifest digest, installed set) and current', async () => {
    fx = await makeFixture();
    expect(verdicts(await doctor(fx, { engine: null }), 'override-missing')).toEqual(['error']);
    await fs.writeFile(fx.manifest.compose!.override, 'services: {}\n');
    expect(verdicts(await doctor(fx, { engine: null }), 'override-foreign')).toEqual(['warn']);
    await fs.rm(fx.manifest.compose!.override);
    await writeComposeOverride(fx.manifest, fx.artifacts);
    expect(verdicts(await doctor(fx, { engine: null }), 'override-stale')).toEqual(['ok']);

    // the manifest changed since
    const before = fx.manifest.digest;
    fx.manifest.digest = 'f'.repeat(64);
    let s = only(await doctor(fx, { engine: null }), 'override-stale');
    expect(s.map((f) => [f.verdict, f.line])).toEqual([['error', 3]]);
    expect(s[0]!.message).toContain(before);
    fx.manifest.digest = before;

    // the installed set changed since (en removed from installed.json)
    const rec = (await readInstallRecord(fx.manifest.hostDir, fx.manifest.path))!;
    delete rec.artifacts['student/v0_en'];
    await writeInstallRecord(fx.manifest.hostDir, rec);
    s = only(await doctor(fx, { engine: null }), 'override-stale');
    expect(s.map((f) => [f.verdict, f.line])).toEqual([['error', 4]]);
    expect(s[0]!.message).toContain('no longer installed/selected: student/v0_en');

    // hand-edited
    await writeComposeOverride(fx.manifest, fx.artifacts.slice(0, 1));
    await fs.appendFile(fx.manifest.compose!.override, '  extra: {}\n');
    s = only(await doctor(fx, { engine: null }), 'override-stale');
    expect(s[0]!.message).toContain('edited by hand');
  });

  it('override-not-included: -f only → warn; COMPOSE_FILE, .env, include with a path list, default name → ok', async () => {
    fx = await makeFixture();
    await writeComposeOverride(fx.manifest, fx.artifacts);
    const warn = only(await doctor(fx, { engine: null }), 'override-not-included');
    expect(warn.map((f) => f.verdict)).toEqual(['warn']);
    expect(warn[0]!.fix).toContain('-f compose/services.yaml -f compose/models.override.yaml');
    expect(warn[0]!.fix).toContain('COMPOSE_FILE=');

    const cf = `compose/services.yaml${path.delimiter}compose/models.override.yaml`;
    expect(verdicts(await doctor(fx, { engine: null, env: { COMPOSE_FILE: cf } }), 'override-not-included')).toEqual(['ok']);
    expect(verdicts(await doctor(fx, { engine: null, env: { COMPOSE_FILE: 'compose/services.yaml' } }), 'override-not-included')).toEqual(['warn']);
    // .env is read in the project folder (the first Compose file's), its entries relative to it
    await fs.writeFile(path.join(fx.root, 'compose', '.env'), `APP=1\nCOMPOSE_FILE=services.yaml${path.delimiter}models.override.yaml\n`);
    expect(verdicts(await doctor(fx, { engine: null }), 'override-not-included')).toEqual(['ok']);
    await fs.rm(path.join(fx.root, 'compose', '.env'));

    const base = fx.manifest.compose!.files[0]!;
    await fs.writeFile(base, `include:\n  - models.override.yaml\nservices:\n  ml-worker:\n    image: x\n`);
    const alone = only(await doctor(fx, { engine: null }), 'override-not-included');
    expect(alone.map((f) => [f.verdict, f.line])).toEqual([['warn', 2]]);
    expect(alone[0]!.message).toContain('separate project');

    const top = path.join(fx.root, 'compose', 'compose.yaml');
    await fs.writeFile(top, 'include:\n  - path:\n      - services.yaml\n      - models.override.yaml\n');
    fx.manifest.compose!.files = [top];
    expect(verdicts(await doctor(fx, { engine: null }), 'override-not-included')).toEqual(['ok']);

    // without -f Compose reads the first of compose.yaml, compose.yml, docker-compose.yml, docker-compose.yaml
    // there, and the first of compose.override.yml, compose.override.yaml, docker-compose.override.yml,
    // docker-compose.override.yaml whatever the base file's name
    await fs.rm(top);
    fx.manifest.compose!.files = [path.join(fx.root, 'compose', 'docker-compose.yml')];
    fx.manifest.compose!.override = path.join(fx.root, 'compose', 'docker-compose.override.yml');
    expect(verdicts(await doctor(fx, { engine: null }), 'override-not-included')).toEqual(['ok']);
    fx.manifest.compose!.override = path.join(fx.root, 'compose', 'compose.override.yaml');
    expect(verdicts(await doctor(fx, { engine: null }), 'override-not-included')).toEqual(['ok']);
    // a compose.override.yml of the user's comes first: Compose reads that one instead of the models override
    await fs.writeFile(path.join(fx.root, 'compose', 'compose.override.yml'), 'services: {}\n');
    expect(verdicts(await doctor(fx, { engine: null }), 'override-not-included')).toEqual(['warn']);
    // a compose.yaml there is the file Compose reads, not docker-compose.yml
    await fs.rm(path.join(fx.root, 'compose', 'compose.override.yml'));
    await fs.writeFile(top, 'services: {}\n');
    expect(verdicts(await doctor(fx, { engine: null }), 'override-not-included')).toEqual(['warn']);
  });

  it('compose-file-mismatch: COMPOSE_FILE (environment, else the project .env) names other files than compose.files + override → warn naming them and the fix; the same list → ok', async () => {
    fx = await makeFixture();
    await writeComposeOverride(fx.manifest, fx.artifacts);
    const dir = path.join(fx.root, 'compose');
    await fs.writeFile(path.join(dir, 'prod.yaml'), 'services:\n  ml-worker:\n    environment: {PROD: "1"}\n');
    expect(verdicts(await doctor(fx, { engine: null }), 'compose-file-mismatch')).toEqual(['ok']);
    const d = path.delimiter;
    expect(verdicts(await doctor(fx, { engine: null, env: { COMPOSE_FILE: `compose/services.yaml${d}compose/models.override.yaml` } }), 'compose-file-mismatch')).toEqual(['ok']);
    await fs.writeFile(path.join(dir, '.env'), `COMPOSE_FILE=services.yaml${d}prod.yaml${d}models.override.yaml\n`);
    const warn = only(await doctor(fx, { engine: null }), 'compose-file-mismatch');
    expect(warn.map((f) => [f.verdict, f.file])).toEqual([['warn', path.join(dir, '.env')]]);
    expect(warn[0]!.message).toContain('it lists prod.yaml, which compose.files does not');
    expect(warn[0]!.fix).toContain('files: [../compose/services.yaml, ../compose/prod.yaml]');
    // the environment variable wins over .env, resolved against the current folder
    expect(verdicts(await doctor(fx, { engine: null, env: { COMPOSE_FILE: `compose/services.yaml${d}compose/models.override.yaml` } }), 'compose-file-mismatch')).toEqual(['ok']);
    // a file after the override, with no Compose to merge them: warn (unchecked)
    await fs.writeFile(path.join(dir, '.env'), `COMPOSE_FILE=services.yaml${d}models.override.yaml${d}prod.yaml\n`);
    const after = only(await doctor(fx, { engine: null }), 'compose-file-mismatch');
    expect(after.map((f) => f.verdict)).toEqual(['warn']);
    expect(after[0]!.message).toContain('prod.yaml after the override');
    fx.manifest.compose!.files = [path.join(dir, 'services.yaml'), path.join(dir, 'prod.yaml')];
    await fs.writeFile(path.join(dir, '.env'), `COMPOSE_FILE=services.yaml${d}prod.yaml${d}models.override.yaml\n`);
    expect(verdicts(await doctor(fx, { engine: null }), 'compose-file-mismatch')).toEqual(['ok']);
  });

  it("compose-auto-override: the user's own override file, which Compose reads only without -f or COMPOSE_FILE, left out of compose.files → warn; listed → ok", async () => {
    fx = await makeFixture();
    const dir = path.join(fx.root, 'compose');
    const base = path.join(dir, 'compose.yaml');
    await fs.rename(fx.manifest.compose!.files[0]!, base);
    fx.manifest.compose!.files = [base];
    expect(verdicts(await doctor(fx, { engine: null }), 'compose-auto-override')).toEqual(['ok']);
    const own = path.join(dir, 'compose.override.yml');
    await fs.writeFile(own, 'services:\n  ml-worker:\n    environment: {DEBUG: "1"}\n');
    const warn = only(await doctor(fx, { engine: null }), 'compose-auto-override');
    expect(warn.map((f) => [f.verdict, f.file])).toEqual([['warn', own]]);
    expect(warn[0]!.message).toContain('without -f');
    expect(warn[0]!.fix).toContain('files: [../compose/compose.yaml, ../compose/compose.override.yml]');
    fx.manifest.compose!.files = [base, own];
    expect(verdicts(await doctor(fx, { engine: null }), 'compose-auto-override')).toEqual(['ok']);
  });

  it('require-violated: neither JA nor EN installed → error at the manifest line', async () => {
    fx = await makeFixture();
    expect(verdicts(await doctor(fx, { engine: null }), 'require-violated')).toEqual(['ok']);
    await fs.rm(fx.manifest.hostDir, { recursive: true });
    const r = only(await doctor(fx, { engine: null }), 'require-violated');
    expect(r.map((f) => [f.verdict, f.file, f.line])).toEqual([['error', fx.manifest.path, 7]]);
    expect(r[0]!.message).toContain('student/v0_ja: not installed');
    // an installed but modified artifact does not count either
    await fx.cleanup();
    fx = await makeFixture({ artifacts: [{ id: 'student/v0_ja', files: { 'model.bin': 'ja\n' } }] });
    expect(verdicts(await doctor(fx, { engine: null }), 'require-violated')).toEqual(['ok']);
    await fs.writeFile(hostFilePath(fx.manifest.hostDir, 'student/v0_ja', 'model.bin'), 'JA\n');
    const r2 = only(await doctor(fx, { engine: null }), 'require-violated');
    expect(r2[0]!.message).toContain('student/v0_ja: installed but its folder does not verify');
  });

  it('compose-settings-missing: a manifest without compose:', async () => {
    fx = await makeFixture();
    const findings = await runDoctor({ ...fx.manifest, compose: undefined }, fx.artifacts, { engine: null, $ });
    expect(findings.map((f) => [f.id, f.verdict])).toEqual([['compose-settings-missing', 'error']]);
  });

  it('accepts the selection as artifacts, ids or { artifacts }', async () => {
    fx = await makeFixture();
    const ids = ['student/v0_en'];
    expect(selectedArtifacts(fx.manifest, ids).map((a) => a.id)).toEqual(ids);
    expect(selectedArtifacts(fx.manifest, { artifacts: fx.artifacts.slice(1) }).map((a) => a.id)).toEqual(ids);
    expect(selectedArtifacts(fx.manifest, fx.artifacts).map((a) => a.id)).toEqual(['student/v0_ja', 'student/v0_en']);
  });
});

describe('doctor output', () => {
  it('a passing check reads as a pass: named for what it checks, not for the problem it looks for', async () => {
    fx = await makeFixture({ dockerignore: 'learning_machine/artifacts\n' });
    await writeComposeOverride(fx.manifest, fx.artifacts);
    const text = formatFindings(await doctor(fx, { engine: null }));
    expect(text).toContain('✔ require: Every rule is satisfied');
    expect(text).toMatch(/^✔ symlinks: No symlink leaves a mounted folder$/m);
    expect(text).toMatch(/^✔ override-current: /m);
    // a pass line never carries a problem's id (those stay for warnings, errors and --json)
    expect(text).not.toMatch(/^✔ [a-z-]*(missing|violated|escapes|stale|mismatch|unverified|writable|excludes-artifacts|not-included):/m);
    expect(text).toMatch(/^⚠ compose-engine-missing: /m);
    // --verbose: a pass also says what it looked at
    expect(formatFindings(await doctor(fx, { engine: null }), { verbose: true })).toMatch(/^✔ require: Every rule is satisfied\n {4}1 rule checked against the verified installed artifacts\.$/m);
  });
});
