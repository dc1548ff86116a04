import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { $ } from 'zx';
import { checkMergedMounts, findCoveringMount, validateMergedConfig } from '../lib/compose/check-merged-mounts.ts';
import { parseComposeConfig, parseShortVolume } from '../lib/compose/parse-config.ts';
import { runComposeConfig, composeConfigOutput } from '../lib/compose/run-config.ts';
import { detectCompose, type ComposeEngine } from '../lib/compose/engine.ts';
import { writeComposeOverride } from '../lib/compose/write-override.ts';
import { ComposeError } from '../lib/errors.ts';
import { readProjectComposeFile } from '../lib/compose/compose-file-setting.ts';
import { composeEnvDir } from '../lib/compose/dot-env.ts';
import type { Manifest } from '../lib/manifest/schema.ts';
import { CONTAINER_DIR, makeFixture, REQUIRE_DOCKER, type Fixture } from './helpers/compose-fixture.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const sample = (name: string) => fs.readFile(path.join(here, 'fixtures', 'compose-config', name), 'utf8');

const JA = '/app/learning_machine/artifacts/student/v0_ja';

describe('parseComposeConfig and `$`', () => {
  it('reads `$$` in long-syntax sources, environment and build as `$`; v1 short syntax is printed interpolated', () => {
    const parsed = parseComposeConfig('services:\n  w:\n    build:\n      context: /p/a$$b\n    environment:\n      A: /m/a$$b\n    volumes:\n    - /h/a$b:/x:rw\n    - {type: bind, source: /p/a$$b/m, target: /y, read_only: true}\n');
    const w = parsed.get('w')!;
    expect(w.buildContext).toBe('/p/a$b');
    expect(w.environment.A).toBe('/m/a$b');
    expect(w.mounts.map((x) => x.source)).toEqual(['/h/a$b', '/p/a$b/m']);
  });
});

describe('parseShortVolume', () => {
  it.each([
    ['/abs/src:/dst:ro', { type: 'bind', source: '/abs/src', target: '/dst', readOnly: true }],
    ['/abs/src:/dst:ro,z', { type: 'bind', source: '/abs/src', target: '/dst', readOnly: true }],
    ['/abs/src:/dst:z,ro', { type: 'bind', source: '/abs/src', target: '/dst', readOnly: true }],
    ['/abs/src:/dst:rw', { type: 'bind', source: '/abs/src', target: '/dst', readOnly: false }],
    ['/abs/src:/dst', { type: 'bind', source: '/abs/src', target: '/dst', readOnly: false }],
    ['./rel:/dst:ro', { type: 'bind', source: './rel', target: '/dst', readOnly: true }],
    ['cache:/app/cache:rw', { type: 'volume', source: 'cache', target: '/app/cache', readOnly: false }],
    ['/app/tmp', { type: 'volume', source: '', target: '/app/tmp', readOnly: false }],
    ['C:\\models\\ja:/dst:ro', { type: 'bind', source: 'C:\\models\\ja', target: '/dst', readOnly: true }],
    ['/abs/src:/dst:rprivate', { type: 'bind', source: '/abs/src', target: '/dst', readOnly: false }],
  ])('%s', (spec, expected) => {
    expect(parseShortVolume(spec)).toEqual(expected);
  });
});

describe('parseComposeConfig', () => {
  it('reads docker-compose v1 output captured on this machine (short and long syntax, env map with null)', async () => {
    const parsed = parseComposeConfig(await sample('v1-docker-compose-1.29.2.yaml'));
    expect([...parsed.keys()]).toEqual(['ml-worker', 'web']);
    const w = parsed.get('ml-worker')!;
    expect(w.mounts).toEqual([
      { type: 'volume', source: 'cache', target: '/app/cache', readOnly: false },
      { type: 'bind', source: '/tmp/mmx/cap/data', target: '/app/data', readOnly: true },
      { type: 'bind', source: '/tmp/mmx/cap/learning_machine/artifacts/student/v0_ja', target: JA, readOnly: true },
      { type: 'volume', source: '', target: '/app/tmp', readOnly: false },
    ]);
    expect(w.environment).toEqual({
      APP_ENV: 'dev',
      LEARNING_MACHINE_STUDENT_EN_DIR: '/somewhere/else',
      LEARNING_MACHINE_STUDENT_JA_DIR: JA,
    });
    expect(w.hasNetworks).toBe(true);
    expect(w.networks).toEqual(['backend']);
    expect(w.networkMode).toBeUndefined();
    expect(w.buildContext).toBe('/tmp/mmx/cap');
    expect(parsed.get('web')).toMatchObject({ networkMode: 'none', hasNetworks: false, mounts: [] });
  });

  it('reads Compose v2 output (long syntax everywhere, bind options, networks map with nulls)', async () => {
    const v1 = parseComposeConfig(await sample('v1-docker-compose-1.29.2.yaml'));
    const v2 = parseComposeConfig(await sample('v2-compose-2.24.yaml'));
    const sortMounts = (m: { target: string }[]) => [...m].sort((a, b) => a.target.localeCompare(b.target));
    // same project, same meaning, whatever the engine
    expect(sortMounts(v2.get('ml-worker')!.mounts)).toEqual(sortMounts(v1.get('ml-worker')!.mounts));
    expect(v2.get('ml-worker')!.environment).toEqual(v1.get('ml-worker')!.environment);
    expect(v2.get('ml-worker')!.networks).toEqual(['backend']);
    expect(v2.get('web')!.networkMode).toBe('none');
  });

  it('reads v2 JSON output (--format json) and v5 `bind: {}`', async () => {
    const json = parseComposeConfig(await sample('v2-compose-2.24.json'));
    expect(json.get('ml-worker')!.mounts).toEqual([
      { type: 'bind', source: '/tmp/mmx/cap/learning_machine/artifacts/student/v0_ja', target: JA, readOnly: false },
    ]);
    const v5 = parseComposeConfig(await sample('v5-compose-5.0.yaml'));
    expect(v5.get('ml-worker')!.mounts[0]).toEqual({ type: 'bind', source: '/tmp/mmx/cap/learning_machine/artifacts', target: '/app/learning_machine/artifacts', readOnly: true });
    expect(v5.get('ml-worker')!.hasNetworks).toBe(true); // v2+ adds `default` to every service
  });

  it('reads environment given as a list too', () => {
    const parsed = parseComposeConfig('services:\n  a:\n    environment:\n      - X=1\n      - Y\n      - Z=a=b\n');
    expect(parsed.get('a')!.environment).toEqual({ X: '1', Z: 'a=b' });
  });

  it('returns an empty map for output without services', () => {
    expect(parseComposeConfig('version: "3.9"\n').size).toBe(0);
  });
});

describe('findCoveringMount', () => {
  const m = (target: string, source = '/h') => ({ type: 'bind', source, target, readOnly: true });
  it('prefers the exact target, else the deepest parent', () => {
    expect(findCoveringMount([m('/app'), m(JA)], JA)?.mount.target).toBe(JA);
    expect(findCoveringMount([m('/app/learning_machine'), m('/app')], JA)).toEqual({ mount: m('/app/learning_machine'), rest: 'artifacts/student/v0_ja' });
    expect(findCoveringMount([m('/app/learning')], JA)).toBeUndefined();
    expect(findCoveringMount([m(`${JA}/`)], JA)?.rest).toBe('');
  });
});

function manifestFor(sourceRoot: string, overrides: Partial<Manifest> = {}): Manifest {
  return {
    path: '/p/manifests/models.yaml',
    dir: '/p/manifests',
    digest: 'd',
    version: 1,
    hostDir: sourceRoot,
    sources: [],
    require: [],
    artifacts: [],
    compose: { files: ['/p/compose/services.yaml'], services: ['ml-worker'], override: '/p/compose/o.yaml', containerDir: CONTAINER_DIR, context: '/p' },
    ...overrides,
  };
}
const ja = { id: 'student/v0_ja', labels: {}, optional: false, env: 'LEARNING_MACHINE_STUDENT_JA_DIR', files: [{ path: 'm', size: 1, sha256: 'a'.repeat(64) }] };
const en = { id: 'student/v0_en', labels: {}, optional: false, env: 'LEARNING_MACHINE_STUDENT_EN_DIR', files: [{ path: 'm', size: 1, sha256: 'a'.repeat(64) }] };

describe('checkMergedMounts', () => {
  it('passes the captured v1 output for the artifact it mounts', async () => {
    const parsed = parseComposeConfig(await sample('v1-docker-compose-1.29.2.yaml'));
    expect(checkMergedMounts(parsed, manifestFor('/tmp/mmx/cap/learning_machine/artifacts'), [ja])).toEqual([]);
  });

  it('reports a missing mount, a writable one, a foreign source and env problems', async () => {
    const parsed = parseComposeConfig(await sample('v1-docker-compose-1.29.2.yaml'));
    const kinds = (ps: { kind: string; artifactId: string }[]) => ps.map((p) => `${p.kind}:${p.artifactId}`);
    expect(kinds(checkMergedMounts(parsed, manifestFor('/tmp/mmx/cap/learning_machine/artifacts'), [ja, en]))).toEqual([
      'not-mounted:student/v0_en',
      'env-mismatch:student/v0_en', // LEARNING_MACHINE_STUDENT_EN_DIR=/somewhere/else
    ]);
    expect(kinds(checkMergedMounts(parsed, manifestFor('/srv/other'), [ja]))).toEqual(['source-mismatch:student/v0_ja']);
    const json = parseComposeConfig(await sample('v2-compose-2.24.json'));
    expect(kinds(checkMergedMounts(json, manifestFor('/tmp/mmx/cap/learning_machine/artifacts'), [ja]))).toEqual(['writable:student/v0_ja']);
    const other = manifestFor('/x', { compose: { ...manifestFor('/x').compose!, services: ['api'] } });
    expect(kinds(checkMergedMounts(json, other, [ja]))).toEqual(['service-missing:student/v0_ja']);
  });

  it('accepts a read-only mount of the parent folder, and a trailing slash in env', async () => {
    const v5 = parseComposeConfig(await sample('v5-compose-5.0.yaml'));
    expect(checkMergedMounts(v5, manifestFor('/tmp/mmx/cap/learning_machine/artifacts'), [ja])).toEqual([]);
  });

  it('flags two mounts at one target (v1 1.29 `config` output when only the override has a trailing slash, captured here)', () => {
    const captured = `services:
  ml-worker:
    image: busybox
    volumes:
    - /tmp/mmx/x:/app/learning_machine/artifacts/student/v0_ja:rw
    - read_only: true
      source: /tmp/mmx/models/student/v0_ja
      target: /app/learning_machine/artifacts/student/v0_ja/
      type: bind
version: '3.9'
`;
    const problems = checkMergedMounts(parseComposeConfig(captured), manifestFor('/tmp/mmx/models'), [{ ...ja, env: undefined }]);
    expect(problems.map((p) => p.kind)).toEqual(['duplicate-mount']);
    expect(problems[0]!.message).toContain('Duplicate mount points');
  });

  it('flags a named volume at the target', () => {
    const parsed = parseComposeConfig(`services:\n  ml-worker:\n    volumes:\n      - models:${JA}:ro\n    environment:\n      LEARNING_MACHINE_STUDENT_JA_DIR: ${JA}\n`);
    expect(checkMergedMounts(parsed, manifestFor('/h'), [ja]).map((p) => p.kind)).toEqual(['not-bind']);
  });
});

// ---------------------------------------------------------------------------
// Real docker-compose (v1 here; v2 wherever it is installed)

// whatever modelmount itself would use here: `docker compose` (v2) if present, else docker-compose (v1), or MODELS_COMPOSE
const engine: ComposeEngine | undefined = await detectCompose();
if (!engine && !REQUIRE_DOCKER) {
  console.warn('compose-config.test.ts: no Compose (docker compose / docker-compose) found: the real `config` tests are SKIPPED (set MODELMOUNT_REQUIRE_DOCKER=1 to make this a failure).');
}

describe.skipIf(!engine && !REQUIRE_DOCKER)(`real \`${engine?.command.join(' ') ?? 'docker-compose'} config\``, () => {
  let fx: Fixture | undefined;
  afterEach(async () => {
    await fx?.cleanup();
    fx = undefined;
  });

  it('is available (MODELMOUNT_REQUIRE_DOCKER=1 makes its absence a failure)', () => {
    expect(engine, 'no Compose found on PATH').toBeDefined();
  });

  it('merges base + generated override: every artifact read-only at its target, env set', async () => {
    fx = await makeFixture({
      baseCompose: `services:
  ml-worker:
    image: modelmount-test-worker:dev
    environment:
      - APP_ENV=test
    volumes:
      # the pre-modelmount way: writable, relative; the override must replace it (same target)
      - ../learning_machine/artifacts/student/v0_ja:${JA}
`,
    });
    await writeComposeOverride(fx.manifest, fx.artifacts);
    const files = [...fx.manifest.compose!.files, fx.manifest.compose!.override];
    const text = await runComposeConfig(engine!, files, { cwd: fx.root, $, profileArgs: [] });
    const parsed = parseComposeConfig(text);
    const svc = parsed.get('ml-worker')!;
    for (const a of fx.artifacts) {
      const target = `${CONTAINER_DIR}/${a.id}`;
      const here = svc.mounts.filter((m) => m.target === target);
      expect(here, `exactly one mount at ${target}`).toHaveLength(1);
      expect(here[0]).toEqual({ type: 'bind', source: path.join(fx.manifest.hostDir, a.id), target, readOnly: true });
      expect(svc.environment[a.env!]).toBe(target);
    }
    expect(svc.environment.APP_ENV).toBe('test');
    expect(checkMergedMounts(parsed, fx.manifest, fx.artifacts)).toEqual([]);
  });

  it('without the override, the same base fails the check (writable, env missing, en not mounted)', async () => {
    fx = await makeFixture({ baseCompose: `services:\n  ml-worker:\n    image: x\n    volumes:\n      - ../learning_machine/artifacts/student/v0_ja:${JA}\n` });
    const parsed = parseComposeConfig(await runComposeConfig(engine!, fx.manifest.compose!.files, { cwd: fx.root, $, profileArgs: [] }));
    expect(checkMergedMounts(parsed, fx.manifest, fx.artifacts).map((p) => `${p.kind}:${p.artifactId}`).sort()).toEqual([
      'env-missing:student/v0_en',
      'env-missing:student/v0_ja',
      'not-mounted:student/v0_en',
      'writable:student/v0_ja',
    ]);
  });

  it('accepts names YAML must quote and an empty selection', async () => {
    fx = await makeFixture({ artifacts: [{ id: 'teacher/v1 large: fp16', files: { 'model.bin': 'x' } }] });
    await writeComposeOverride(fx.manifest, fx.artifacts);
    const parsed = parseComposeConfig(await runComposeConfig(engine!, [...fx.manifest.compose!.files, fx.manifest.compose!.override], { cwd: fx.root, $, profileArgs: [] }));
    expect(checkMergedMounts(parsed, fx.manifest, fx.artifacts)).toEqual([]);
    await writeComposeOverride(fx.manifest, []);
    const empty = parseComposeConfig(await runComposeConfig(engine!, [...fx.manifest.compose!.files, fx.manifest.compose!.override], { cwd: fx.root, $, profileArgs: [] }));
    expect(empty.get('ml-worker')!.mounts).toEqual([]);
  });

  it('accepts the override without a version key next to base files of every version', async () => {
    fx = await makeFixture();
    await writeComposeOverride(fx.manifest, fx.artifacts);
    const base = fx.manifest.compose!.files[0]!;
    for (const version of ['2', '2.4', '3', '3.8', undefined]) {
      await fs.writeFile(base, `${version ? `version: "${version}"\n` : ''}services:\n  ml-worker:\n    image: x\n`);
      const parsed = parseComposeConfig(await runComposeConfig(engine!, [base, fx.manifest.compose!.override], { cwd: fx.root, $, profileArgs: [] }));
      expect(checkMergedMounts(parsed, fx.manifest, fx.artifacts), `base version ${version}`).toEqual([]);
    }
  });

  it('validateMergedConfig: passes with the override; a base target with a trailing slash is refused by v1 and merged by v2', async () => {
    fx = await makeFixture();
    await writeComposeOverride(fx.manifest, fx.artifacts);
    const parsed = await validateMergedConfig(fx.manifest, fx.artifacts, { engine: engine!, $, env: process.env });
    expect(parsed.get('ml-worker')!.mounts.filter((m) => m.readOnly)).toHaveLength(2);
    // the base mounts a writable folder at the same target written with a trailing slash
    await fs.writeFile(fx.manifest.compose!.files[0]!, `services:\n  ml-worker:\n    image: x\n    volumes:\n      - ../old:${JA}/\n`);
    const result = await validateMergedConfig(fx.manifest, fx.artifacts, { engine: engine!, $, env: process.env }).catch((e: unknown) => e);
    if (engine!.version === 'v1') {
      // docker-compose 1.29 keeps both entries, and its `config` refuses them (checked here)
      expect(result).toBeInstanceOf(ComposeError);
      expect((result as ComposeError).code).toBe('ECOMPOSE_CONFIG');
      expect((result as ComposeError).message).toContain('Duplicate mount points');
    } else {
      // Compose v2 treats `/x/` and `/x` as one target: the override's read-only entry replaces the base's (checked here)
      expect(result).not.toBeInstanceOf(Error);
      const mounts = (result as Awaited<ReturnType<typeof validateMergedConfig>>).get('ml-worker')!.mounts;
      const atJa = mounts.filter((m) => m.target.replace(/\/+$/, '') === JA);
      expect(atJa).toEqual([expect.objectContaining({ readOnly: true, source: path.join(fx.manifest.hostDir, 'student', 'v0_ja') })]);
    }
  });

  it("the .env Compose reads when modelmount runs it is the first Compose file's folder's, from whatever folder it runs in; a parent folder's is never read, and modelmount reads the same one", async () => {
    fx = await makeFixture({ baseCompose: 'services:\n  ml-worker:\n    image: "x:${TAG:-unset}"\n' });
    const files = fx.manifest.compose!.files;
    const dir = path.join(fx.root, 'compose');
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'TAG' && k !== 'COMPOSE_FILE'));
    const image = async (cwd: string) => /image: '?"?(x:\w+)/.exec(await runComposeConfig(engine!, files, { cwd, $: $({ env }), env, profileArgs: [] }))?.[1];
    await fs.writeFile(path.join(fx.root, '.env'), `TAG=root\nCOMPOSE_FILE=compose/services.yaml${path.delimiter}compose/other.yaml\n`);
    expect(await image(fx.root)).toBe('x:unset');
    expect(await image(dir)).toBe('x:unset');
    expect(await readProjectComposeFile(fx.manifest.compose!, { env, cwd: fx.root })).toBeUndefined();
    await fs.writeFile(path.join(dir, '.env'), `TAG=sub\nCOMPOSE_FILE=services.yaml${path.delimiter}models.override.yaml\n`);
    expect(await image(fx.root)).toBe('x:sub');
    expect(await image(dir)).toBe('x:sub');
    expect(composeEnvDir(files)).toBe(dir);
    expect((await readProjectComposeFile(fx.manifest.compose!, { env, cwd: fx.root }))?.envFile).toBe(path.join(dir, '.env'));
  });

  describe('profiles: a listed service behind a profile', () => {
    // ml-worker is in profile gpu; `extra` only in profile other: it is in `config` exactly when `other` is enabled
    const PROFILED = 'services:\n  ml-worker:\n    image: x\n    profiles: [gpu]\n  extra:\n    image: x\n    profiles: [other]\n';
    const withoutProfiles = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'COMPOSE_PROFILES'));
    // docker-compose 1.29's `config` ignores profiles: it prints every service whatever is enabled (checked here)
    const otherShown = (enabled: boolean) => engine!.version === 'v1' || enabled;

    it("COMPOSE_PROFILES of the run's environment (not process.env) is kept next to the --profile modelmount adds", async () => {
      fx = await makeFixture({ baseCompose: PROFILED });
      await writeComposeOverride(fx.manifest, fx.artifacts);
      expect(process.env.COMPOSE_PROFILES).toBeUndefined();
      const parsed = await validateMergedConfig(fx.manifest, fx.artifacts, { engine: engine!, $: $({ env: { ...withoutProfiles(), COMPOSE_PROFILES: 'other' } }), env: { ...withoutProfiles(), COMPOSE_PROFILES: 'other' } });
      expect(parsed.has('extra')).toBe(otherShown(true));
      const none = await validateMergedConfig(fx.manifest, fx.artifacts, { engine: engine!, $: $({ env: withoutProfiles() }), env: withoutProfiles() });
      expect(none.has('extra')).toBe(otherShown(false));
      expect(none.has('ml-worker')).toBe(true);
    });

    it("COMPOSE_PROFILES of the .env Compose reads (the first Compose file's folder's) is kept; a parent folder's .env is not read, by Compose either", async () => {
      fx = await makeFixture({ baseCompose: PROFILED });
      await writeComposeOverride(fx.manifest, fx.artifacts);
      const env = withoutProfiles();
      // the files are in <root>/compose: Compose does not read <root>/.env, whatever folder it runs in (checked here)
      await fs.writeFile(path.join(fx.root, '.env'), 'COMPOSE_PROFILES=other\n');
      expect((await validateMergedConfig(fx.manifest, fx.artifacts, { engine: engine!, $: $({ env }), env, cwd: fx.root })).has('extra')).toBe(otherShown(false));
      const plain = await $({ env, cwd: fx.root, nothrow: true, quiet: true })`${engine!.command} -f ${fx.manifest.compose!.files[0]!} config`;
      expect(plain.stdout.includes('extra:')).toBe(otherShown(false));
      await fs.writeFile(path.join(fx.root, 'compose', '.env'), 'COMPOSE_PROFILES=" other "\n');
      expect((await validateMergedConfig(fx.manifest, fx.artifacts, { engine: engine!, $: $({ env }), env })).has('extra')).toBe(otherShown(true));
      // a variable in the environment wins over .env, even empty (Compose v2, checked here)
      const empty = { ...env, COMPOSE_PROFILES: '' };
      expect((await validateMergedConfig(fx.manifest, fx.artifacts, { engine: engine!, $: $({ env: empty }), env: empty })).has('extra')).toBe(otherShown(false));
    });

    it('a listed service that gets its profile through `extends:` (same file or another) is enabled for `config`', async () => {
      fx = await makeFixture({
        baseCompose: 'services:\n  gpu-base:\n    image: x\n    profiles: [gpu]\n  ml-worker:\n    extends: gpu-base\n  web:\n    extends:\n      file: ../shared/base.yaml\n      service: app\n',
        services: ['ml-worker', 'web'],
      });
      await fs.mkdir(path.join(fx.root, 'shared'));
      await fs.writeFile(path.join(fx.root, 'shared', 'base.yaml'), 'services:\n  app:\n    image: x\n    profiles: [web]\n');
      await writeComposeOverride(fx.manifest, fx.artifacts);
      // both engines give an extending service the profiles of the one it extends (checked here); v2 then leaves it out of `config`
      const plain = await $({ cwd: fx.root, nothrow: true, quiet: true })`${engine!.command} --profile gpu --profile web -f ${fx.manifest.compose!.files[0]!} config`;
      expect(parseComposeConfig(plain.stdout).has('ml-worker')).toBe(true);
      expect(plain.stdout).toMatch(/ml-worker:\n(\s+.*\n)*?\s+profiles:\n\s+- gpu/);
      const parsed = await validateMergedConfig(fx.manifest, fx.artifacts, { engine: engine!, $, env: process.env });
      expect(parsed.has('ml-worker')).toBe(true);
      expect(parsed.has('web')).toBe(true);
    });

    it('a listed service that gets its profile through a YAML merge key (`<<: *anchor`) is enabled for `config`', async () => {
      fx = await makeFixture({ baseCompose: 'x-gpu: &gpu\n  profiles: [gpu]\n  image: x\nservices:\n  ml-worker:\n    <<: *gpu\n' });
      await writeComposeOverride(fx.manifest, fx.artifacts);
      // both engines resolve the merge key, profiles included (checked here); v2 then leaves the service out of `config`
      const plain = await $({ cwd: fx.root, nothrow: true, quiet: true })`${engine!.command} --profile gpu -f ${fx.manifest.compose!.files[0]!} config`;
      expect(plain.stdout).toMatch(/ml-worker:\n(\s+.*\n)*?\s+profiles:\n\s+- gpu/);
      const parsed = await validateMergedConfig(fx.manifest, fx.artifacts, { engine: engine!, $: $({ env: withoutProfiles() }), env: withoutProfiles() });
      expect(parsed.has('ml-worker')).toBe(true);
    });
  });

  it("a failing config is a ComposeError carrying Compose's own message", async () => {
    fx = await makeFixture({ baseCompose: 'services:\n  ml-worker:\n    image: x\n    volumes: 42\n' });
    const err = (await runComposeConfig(engine!, fx.manifest.compose!.files, { cwd: fx.root, $, profileArgs: [] }).catch((e: unknown) => e)) as ComposeError;
    expect(err).toBeInstanceOf(ComposeError);
    expect(err.code).toBe('ECOMPOSE_CONFIG');
    expect(err.message).toMatch(/volumes/);
    expect(err.data?.stderr).toBeTruthy();
    // the command it names is shell-quoted: a path with a space can be pasted as shown
    const spaced = path.join(fx.root, 'my compose', 'services.yaml');
    await fs.mkdir(path.dirname(spaced));
    await fs.copyFile(fx.manifest.compose!.files[0]!, spaced);
    const quoted = (await runComposeConfig(engine!, [spaced], { cwd: fx.root, $, profileArgs: [] }).catch((e: unknown) => e)) as ComposeError;
    expect(quoted.message).toContain(`-f '${spaced}' config\` failed`);
  });
});

describe('composeConfigOutput: the one runner of `compose config`', () => {
  it('returns the exit status and output of a failing engine instead of throwing', async () => {
    const out = await composeConfigOutput({ command: ['sh', '-c', 'echo "bad file" >&2; exit 3', 'sh'] }, ['-f', 'x.yaml'], { $ });
    expect(out.exitCode).toBe(3);
    expect(out.stderr).toContain('bad file');
    expect(out.argv).toEqual(['sh', '-c', 'echo "bad file" >&2; exit 3', 'sh', '-f', 'x.yaml', 'config']);
  });
});
