/**
 * Selection on `update` adds to what is installed (as `dvc pull <target>` does);
 * only `--prune` removes an artifact from the mounted set, after a confirmation,
 * and never into a set that breaks a `require` rule. verify, compose, doctor,
 * smoke and status act on the installed set. Real loopback server, real temp
 * folders, the real override writer.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseOverrideHeader } from '../lib/compose/override.ts';
import { ExitCode } from '../lib/errors.ts';
import { listFiles, manifestYaml, runCliCaptured, sampleArtifacts, serverFiles, tempProject } from './helpers/cli.ts';
import { runWatchingStderr } from './helpers/lock-holder.ts';
import { startFaultServer, type FaultServer } from './helpers/with-server.ts';

const servers: FaultServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const SERVICE = 'mmselection-worker';

/** Two students (one required), an optional teacher, and a Compose section whose override the tests read. */
async function setup() {
  const artifacts = sampleArtifacts({ ja: 30_000, en: 20_000, teacher: 10_000 });
  const server = await startFaultServer({ files: serverFiles(artifacts) });
  servers.push(server);
  const p = await tempProject(
    manifestYaml({
      artifacts,
      sources: [{ name: 'mirror', url: server.url }],
      require: [['student/v0_ja', 'student/v0_en']],
      extra: `compose:\n  files: [compose.yaml]\n  services: [${SERVICE}]\n  override: compose.models.yaml\n  containerDir: /app/artifacts`,
    }),
  );
  await fs.writeFile(path.join(p.dir, 'compose.yaml'), `services:\n  ${SERVICE}:\n    image: busybox\n`);
  const update = (...args: string[]) => runCliCaptured(['update', '--manifest', p.manifest, '--no-smoke', ...args]);
  /** the artifacts the override on disk mounts (its header lists them) */
  const mounted = async () => [...(parseOverrideHeader(await fs.readFile(path.join(p.dir, 'compose.models.yaml'), 'utf8'))?.artifacts ?? [])].sort();
  const verified = async () => {
    const r = await runCliCaptured(['verify', '--manifest', p.manifest, '--json']);
    expect(r.code, r.stderr).toBe(0);
    return [...new Set((JSON.parse(r.stdout).files as { artifactId: string }[]).map((f) => f.artifactId))].sort();
  };
  const selected = async () => {
    const r = await runCliCaptured(['status', '--manifest', p.manifest, '--json', '--no-docker']);
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout).artifacts as { id: string; selected: boolean }[]).filter((a) => a.selected).map((a) => a.id).sort();
  };
  return { ...p, artifacts, server, update, mounted, verified, selected };
}

const ALL = ['student/v0_en', 'student/v0_ja', 'teacher/v0'];
const STUDENTS = ['student/v0_en', 'student/v0_ja'];

describe('update selection adds to what is installed', () => {
  it('--only X keeps every installed artifact mounted; verify, status and doctor see the whole installed set', async () => {
    const p = await setup();
    expect((await p.update('--yes')).code).toBe(0);
    expect(await p.mounted()).toEqual(STUDENTS);

    const r = await p.update('--only', 'teacher/v0', '--json');
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect([...doc.selection].sort()).toEqual(ALL);
    expect(doc.pruned).toEqual([]);
    expect(doc.totals).toMatchObject({ installed: 1, unchanged: 3 }); // the students are re-checked, not re-fetched
    expect(await p.mounted()).toEqual(ALL);
    expect(await p.verified()).toEqual(ALL);
    expect(await p.selected()).toEqual(ALL);
    const doctor = await runCliCaptured(['doctor', '--manifest', p.manifest, '--json']);
    expect([...JSON.parse(doctor.stdout).artifacts].sort()).toEqual(ALL);
  });

  it('the text output says what it adds and what it keeps', async () => {
    const p = await setup();
    expect((await p.update('--labels', 'lang=ja')).code).toBe(0);
    expect(await p.mounted()).toEqual(['student/v0_ja']);
    const r = await p.update('--labels', 'lang=en');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('Keeping the installed student/v0_ja');
    expect(r.stderr).toContain('--prune');
    expect(await p.mounted()).toEqual(STUDENTS);
  });

  it('--include-optional adds the optional artifacts to the installed set; a later plain update keeps them', async () => {
    const p = await setup();
    expect((await p.update('--only', 'student/v0_en')).code).toBe(0);
    expect((await p.update('--include-optional')).code).toBe(0);
    expect(await p.mounted()).toEqual(ALL);
    const again = await p.update('--json');
    expect(again.code).toBe(0);
    expect([...JSON.parse(again.stdout).selection].sort()).toEqual(ALL);
    expect(await p.mounted()).toEqual(ALL);
  });

  it('require is checked on the resulting installed set: adding an artifact that alone breaks it is fine on an installed host', async () => {
    const p = await setup();
    const fresh = await p.update('--only', 'teacher/v0');
    expect(fresh.code).toBe(ExitCode.usage); // nothing installed yet: teacher alone breaks the rule
    expect((await p.update('--only', 'student/v0_ja')).code).toBe(0);
    const added = await p.update('--only', 'teacher/v0');
    expect(added.code, added.stderr).toBe(0);
    expect(await p.mounted()).toEqual(['student/v0_ja', 'teacher/v0']);
  });
});

/**
 * Run A (`update --only teacher/v0`) holds the run lock while the teacher download
 * is held back; run B (`update …args`) starts meanwhile, reads the installed set
 * (student/v0_ja) before A records the teacher, and waits for the lock. Then A goes on.
 */
async function overlapping(p: Awaited<ReturnType<typeof setup>>, args: string[]) {
  expect((await p.update('--only', 'student/v0_ja')).code).toBe(0);
  const teacher = p.artifacts.find((a) => a.id === 'teacher/v0')!.files[0]!.data;
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  p.server.fault('/teacher/v0/model.safetensors', {
    handler: (_req, res) => {
      void released.then(() => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': teacher.length });
        res.end(teacher);
      });
    },
  });
  const a = p.update('--only', 'teacher/v0');
  while (!p.server.requests.some((r) => r.url.includes('teacher'))) await new Promise((r) => setTimeout(r, 20));
  const b = runWatchingStderr(['update', '--manifest', p.manifest, '--no-smoke', ...args], { PATH: process.env.PATH, HOME: process.env.HOME, CI: 'true' });
  await b.waiting;
  release();
  const ra = await a;
  return { a: ra, b: await b.done, bSaid: b.stderr };
}

describe('two updates at once', () => {
  it('the one that waited for the lock adds to what the other installed meanwhile (nothing drops out of the override)', async () => {
    const p = await setup();
    const { a, b, bSaid } = await overlapping(p, ['--only', 'student/v0_en']);
    expect(a.code, a.stderr + a.stdout).toBe(0);
    expect(b, bSaid()).toBe(0);
    expect(bSaid()).toContain('Keeping teacher/v0 too (installed by another run while this one waited)');
    expect(await p.mounted()).toEqual(ALL);
    expect(await p.selected()).toEqual(ALL);
  });

  it('--prune without --yes does not remove what another run installed while it waited (exit 2); with --yes it does', async () => {
    const p = await setup();
    const { a, b, bSaid } = await overlapping(p, ['--prune', '--only', 'student/v0_ja']);
    expect(a.code, a.stderr + a.stdout).toBe(0);
    expect(b).toBe(ExitCode.usage);
    expect(bSaid()).toContain('Another run installed teacher/v0 while this one waited');
    expect(await p.mounted()).toEqual(['student/v0_ja', 'teacher/v0']);

    const q = await setup();
    const yes = await overlapping(q, ['--prune', '--only', 'student/v0_ja', '--yes']);
    expect(yes.b, yes.bSaid()).toBe(0);
    expect(await q.selected()).toEqual(['student/v0_ja']);
    expect(await q.mounted()).toEqual(['student/v0_ja']);
  });
});

describe("doctor's fix for a broken require rule", () => {
  it('adds the artifact it names and keeps the installed ones mounted (and repairs them)', async () => {
    const p = await setup();
    expect((await p.update('--only', 'student/v0_en,teacher/v0')).code).toBe(0);
    await fs.rm(path.join(p.hostDir, 'student', 'v0_en'), { recursive: true, force: true });
    const d = await runCliCaptured(['doctor', '--manifest', p.manifest, '--json']);
    const finding = (JSON.parse(d.stdout).findings as { id: string; verdict: string; fix: string }[]).find((f) => f.id === 'require-violated' && f.verdict === 'error');
    const fix = /`modelmount update ([^`]*)`/.exec(finding!.fix)![1]!.split(' ');
    expect(fix).toEqual(['--only', 'student/v0_ja']);
    const r = await p.update(...fix);
    expect(r.code, r.stderr).toBe(0);
    expect(await p.mounted()).toEqual(ALL);
    expect(await p.verified()).toEqual(ALL);
  });
});

describe('--prune', () => {
  it('off a terminal without --yes: refuses (exit 2) with the command to type, and changes nothing', async () => {
    const p = await setup();
    expect((await p.update('--include-optional')).code).toBe(0);
    const before = p.server.requests.length;
    const r = await p.update('--prune', '--only', 'student/v0_ja');
    expect(r.code).toBe(ExitCode.usage);
    expect(r.stderr).toContain('student/v0_en, teacher/v0');
    expect(r.stderr).toContain('--prune --only student/v0_ja --yes');
    expect(p.server.requests.length).toBe(before);
    expect(await p.mounted()).toEqual(ALL);
    expect(await p.selected()).toEqual(ALL);
  });

  it('with --yes: the installed set becomes exactly the selection; the unmounted folders stay until gc', async () => {
    const p = await setup();
    expect((await p.update('--include-optional')).code).toBe(0);
    const r = await p.update('--prune', '--only', 'student/v0_ja', '--yes', '--json');
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.selection).toEqual(['student/v0_ja']);
    expect([...doc.pruned].sort()).toEqual(['student/v0_en', 'teacher/v0']);
    expect(await p.mounted()).toEqual(['student/v0_ja']);
    expect(await p.verified()).toEqual(['student/v0_ja']);
    expect(await p.selected()).toEqual(['student/v0_ja']);
    expect(await listFiles(path.join(p.hostDir, 'student', 'v0_en'))).toEqual(['model.safetensors']);
  });

  it('refuses a result that breaks a require rule (exit 2), even with --yes, changing nothing', async () => {
    const p = await setup();
    expect((await p.update('--include-optional')).code).toBe(0);
    const r = await p.update('--prune', '--only', 'teacher/v0', '--yes');
    expect(r.code).toBe(ExitCode.usage);
    expect(r.stderr).toMatch(/require\[0\].*student\/v0_ja, student\/v0_en/);
    expect(await p.mounted()).toEqual(ALL);
  });

  it('--dry-run shows what would leave the mounted set and asks nothing', async () => {
    const p = await setup();
    expect((await p.update('--include-optional')).code).toBe(0);
    const r = await p.update('--prune', '--labels', 'lang=en', '--dry-run');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toContain('student/v0_ja, teacher/v0');
    expect(await p.mounted()).toEqual(ALL);
  });

  it('nothing to remove: no confirmation needed', async () => {
    const p = await setup();
    expect((await p.update('--only', 'student/v0_ja')).code).toBe(0);
    const r = await p.update('--prune', '--only', 'student/v0_ja');
    expect(r.code, r.stderr).toBe(0);
  });
});

describe('compose and doctor act on the installed set', () => {
  it('compose takes no selection flags (it cannot write an override that drops an installed artifact)', async () => {
    const p = await setup();
    expect((await p.update()).code).toBe(0);
    const r = await runCliCaptured(['compose', '--manifest', p.manifest, '--only', 'student/v0_ja']);
    expect(r.code).toBe(ExitCode.usage);
    expect(r.stderr).toContain('acts on the installed set');
    expect(await p.mounted()).toEqual(STUDENTS);
    const d = await runCliCaptured(['doctor', '--manifest', p.manifest, '--labels', 'lang=ja']);
    expect(d.code).toBe(ExitCode.usage);
  });
});

describe('positional arguments', () => {
  it('update <id> selects that artifact, like --only', async () => {
    const p = await setup();
    const r = await runCliCaptured(['update', 'student/v0_en', '--manifest', p.manifest, '--no-smoke', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).selection).toEqual(['student/v0_en']);
    const both = await runCliCaptured(['update', 'teacher/v0', '--only', 'student/v0_ja', '--manifest', p.manifest, '--no-smoke', '--json']);
    expect(both.code, both.stderr).toBe(0);
    expect(await p.mounted()).toEqual(ALL);
  });

  it('an unknown id as an argument is the unknown-id error with the valid ids', async () => {
    const p = await setup();
    const r = await runCliCaptured(['update', 'student/v0_jp', '--manifest', p.manifest]);
    expect(r.code).toBe(ExitCode.usage);
    expect(r.stderr).toContain('student/v0_jp');
    expect(r.stderr).toContain('Did you mean "student/v0_ja"?');
    expect(p.server.requests).toHaveLength(0);
  });

  it('an argument that means nothing is an error with a hint, for every command', async () => {
    const p = await setup();
    const yaml = await runCliCaptured(['verify', 'models.yaml', '--manifest', p.manifest]);
    expect(yaml.code).toBe(ExitCode.usage);
    expect(yaml.stderr).toContain('models.yaml');
    expect(yaml.stderr).toContain('--manifest models.yaml');
    for (const [cmd, ...args] of [['compose', '--manifest', p.manifest], ['doctor', '--manifest', p.manifest], ['gc', '--manifest', p.manifest], ['demo']] as const) {
      const r = await runCliCaptured([cmd, 'extra', ...args]);
      expect(r.code, `${cmd}: ${r.stderr}`).toBe(ExitCode.usage);
      expect(r.stderr, cmd).toContain('"extra"');
      expect(r.stderr, cmd).toContain(`modelmount ${cmd} --help`);
    }
  });
});
