/**
 * No crash reaches the user as a Node stack trace: an error nobody handled ends the run with
 * exit 1 and one short "this is a bug, please report it" line (the stack only with
 * MODELMOUNT_DEBUG), and a reader that closes the pipe (`modelmount … | head -1`) ends nothing
 * loudly: EPIPE on stdout or stderr is quiet and the run keeps its own exit status.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatInternalError, runCli } from '../lib/cli/run-cli.ts';
import type { CommandSpec } from '../lib/cli/command.ts';
import { ExitCode, SmokeError } from '../lib/errors.ts';
import { manifestYaml, runCliCaptured, tempDir, tempProject, writeSourceTree, type TestArtifact } from './helpers/cli.ts';
import { BIN, runNode, type NodeRun } from './helpers/real-cli.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Node with `args` in the project folder; `close` names the pipes the reader closes before the child writes. */
function run(args: string[], opts: { env?: NodeJS.ProcessEnv; close?: ('stdout' | 'stderr')[] } = {}): Promise<NodeRun> {
  return runNode(args, { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, CI: 'true', ...opts.env }, close: opts.close });
}

/** A tiny entry point that installs the CLI's last-resort handlers, then fails the way `kind` says with `message`. */
async function crashScript(kind: 'throw' | 'rejection' | 'error-event', message = 'boom in /home/user/secret/place'): Promise<string> {
  const script = path.join(await tempDir('modelmount-crash-'), 'crash.mts');
  const m = JSON.stringify(message);
  const failure = {
    throw: `setTimeout(() => { throw new Error(${m}); }, 1);`,
    rejection: `void Promise.reject(Object.assign(new Error(${m}), { code: 'EBOOM' }));`,
    'error-event': `const { PassThrough } = await import('node:stream'); new PassThrough().destroy(Object.assign(new Error(${m}), { code: 'ETRUNCATED' }));`,
  }[kind];
  await fs.writeFile(
    script,
    `import { installLastResortHandlers } from ${JSON.stringify(path.join(ROOT, 'lib', 'cli', 'run-cli.ts'))};
installLastResortHandlers();
${failure}
setTimeout(() => {}, 2000);
`,
  );
  return script;
}

describe('last-resort handler', () => {
  for (const kind of ['throw', 'rejection', 'error-event'] as const) {
    it(`${kind}: exit 1, one short line saying it is a bug, no stack trace`, async () => {
      const r = await run(['--import', 'tsx', await crashScript(kind)]);
      expect(r.code).toBe(ExitCode.internal);
      expect(r.stderr).toMatch(/Internal error.*boom/);
      expect(r.stderr).toMatch(/This is a bug in modelmount, please report it/);
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(r.stderr).not.toMatch(/Unhandled|node:internal|throw er/);
      expect(r.stderr.trim().split('\n').length).toBeLessThanOrEqual(2);
      expect(r.stdout).toBe('');
    });

    it(`${kind} under --json: the same error document as a reported internal error on stdout, the line on stderr`, async () => {
      const r = await run(['--import', 'tsx', await crashScript(kind), 'verify', '--json']);
      expect(r.code).toBe(ExitCode.internal);
      expect(JSON.parse(r.stdout)).toEqual({ ok: false, error: { code: 'EINTERNAL', message: 'boom in /home/user/secret/place' } });
      expect(r.stderr).toMatch(/Internal error.*boom/);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    });
  }

  it('a crash after the command printed its --json document (the real CLI): stdout keeps that one document; the crash goes to stderr, exit 1', async () => {
    const p = await tempProject(manifestYaml({ artifacts: [{ id: 'a', files: [{ path: 'm.bin', data: Buffer.from('x') }] }], sources: [{ name: 'folder', url: '/nonexistent' }] }));
    // the crash: an error thrown once the command is done and the process is about to end
    const preload = path.join(await tempDir('modelmount-crash-'), 'crash-at-exit.mjs');
    await fs.writeFile(preload, `process.on('beforeExit', () => { throw new Error('boom after the document'); });\n`);
    const r = await run(['--import', pathToFileURL(preload).href, BIN, 'manifest', 'check', '--json', p.manifest]);
    expect(r.code, r.stderr).toBe(ExitCode.internal);
    expect(JSON.parse(r.stdout)).toMatchObject({ command: 'manifest', action: 'check', ok: true });
    expect(r.stderr).toMatch(/Internal error.*boom after the document/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it('the document under --json is redacted and holds the first line only', async () => {
    const script = await crashScript('rejection', 'fetch failed for https://alice:hunter2PW@models.example.com/x?sig=QUERYSIG\n    at secret place');
    const r = await run(['--import', 'tsx', script, 'update', '--json', '--yes']);
    expect(r.code).toBe(ExitCode.internal);
    const doc = JSON.parse(r.stdout) as { ok: boolean; error: { code: string; message: string } };
    expect(doc.error.code).toBe('EINTERNAL');
    expect(doc.error.message).toContain('models.example.com');
    expect(doc.error.message).not.toMatch(/hunter2PW|QUERYSIG|secret place/);
    expect(r.stderr).not.toMatch(/hunter2PW|QUERYSIG/);
  });

  it('--no-json after --json, or --json after `--`: no document', async () => {
    for (const args of [['verify', '--json', '--no-json'], ['verify', '--', '--json']]) {
      const r = await run(['--import', 'tsx', await crashScript('throw'), ...args]);
      expect(r.code).toBe(ExitCode.internal);
      expect(r.stdout, args.join(' ')).toBe('');
    }
  });

  it('MODELMOUNT_DEBUG=1 shows the stack', async () => {
    const r = await run(['--import', 'tsx', await crashScript('throw')], { env: { MODELMOUNT_DEBUG: '1' } });
    expect(r.code).toBe(ExitCode.internal);
    expect(r.stderr).toMatch(/please report it/);
    expect(r.stderr).toMatch(/^\s+at /m);
  });

  it('an internal error inside a command: exit 1, the same short line, no stack (in-process)', async () => {
    const broken: CommandSpec = {
      name: 'broken',
      summary: 'fails',
      usage: 'modelmount broken',
      flags: [],
      takesManifest: false,
      run: async () => {
        throw new TypeError("Cannot read properties of undefined (reading 'x')");
      },
    } as CommandSpec;
    const stderr = new PassThrough();
    let err = '';
    stderr.on('data', (c: Buffer) => (err += c.toString()));
    const io = { stdout: new PassThrough(), stderr, env: {}, cwd: ROOT, isTTY: false };
    expect(await runCli(['broken'], io, [broken], new AbortController().signal)).toBe(ExitCode.internal);
    expect(err).toMatch(/Internal error: Cannot read properties/);
    expect(err).toMatch(/please report it/);
    expect(err).not.toMatch(/^\s+at /m);
  });
});

describe('an internal error under --json', () => {
  it('the document holds the same short, redacted line as stderr: no URL password or query from the message', async () => {
    const broken = {
      name: 'broken',
      summary: 'fails',
      usage: 'modelmount broken',
      flags: [{ name: 'json', type: 'boolean', help: 'json' }],
      takesManifest: false,
      run: async () => {
        throw new TypeError('fetch failed for https://alice:hunter2PW@models.example.com/x?sig=QUERYSIG\n    at secret place');
      },
    } as unknown as CommandSpec;
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (c: Buffer) => (out += c.toString()));
    const io = { stdout, stderr: new PassThrough(), env: {}, cwd: ROOT, isTTY: false };
    expect(await runCli(['broken', '--json'], io, [broken], new AbortController().signal)).toBe(ExitCode.internal);
    const doc = JSON.parse(out) as { ok: boolean; error: { code: string; message: string } };
    expect(doc.error.code).toBe('EINTERNAL');
    expect(doc.error.message).toContain('models.example.com');
    expect(doc.error.message).not.toMatch(/hunter2PW|QUERYSIG|secret place/);
  });
});

describe('MODELMOUNT_DEBUG', () => {
  it('the stack it shows is redacted too: no URL password or query', () => {
    const err = new TypeError('fetch failed for https://alice:hunter2PW@models.example.com/x?sig=QUERYSIG');
    const text = formatInternalError(err, { MODELMOUNT_DEBUG: '1' });
    expect(text).toMatch(/^\s+at /m);
    expect(text).toContain('models.example.com');
    expect(text).not.toMatch(/hunter2PW|QUERYSIG/);
  });
});

describe('Ctrl+C and SIGTERM', () => {
  it('a run interrupted exits 130 whatever its command made of the abort (a failure it reported, or one it threw)', async () => {
    const interrupt = new DOMException('Interrupted', 'AbortError');
    const failing = (how: 'returns' | 'throws'): CommandSpec =>
      ({
        name: 'step',
        summary: 'is interrupted',
        usage: 'modelmount step',
        flags: [],
        takesManifest: false,
        run: async (_flags: unknown, _io: unknown, signal: AbortSignal) => {
          (signal as AbortSignal & { controller?: AbortController }).controller?.abort(interrupt);
          if (how === 'throws') throw new SmokeError('Smoke test interrupted during the smoke command; its container was removed.', { code: 'ESMOKE_ABORTED', cause: signal.reason });
          return ExitCode.smoke;
        },
      }) as CommandSpec;
    for (const how of ['returns', 'throws'] as const) {
      const ac = new AbortController();
      const io = { stdout: new PassThrough(), stderr: new PassThrough(), env: {}, cwd: ROOT, isTTY: false };
      Object.assign(ac.signal, { controller: ac });
      expect(await runCli(['step'], io, [failing(how)], ac.signal), how).toBe(130);
    }
    // not interrupted: the command's own status
    const io = { stdout: new PassThrough(), stderr: new PassThrough(), env: {}, cwd: ROOT, isTTY: false };
    expect(await runCli(['step'], io, [{ ...failing('returns'), run: async () => ExitCode.smoke } as CommandSpec], new AbortController().signal)).toBe(ExitCode.smoke);
  });
});

describe('a closed pipe (EPIPE)', () => {
  it('stdout closed by the reader (`modelmount --help | head -0`): quiet, exit 0', async () => {
    const r = await run([BIN, '--help'], { close: ['stdout'] });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('stderr closed by the reader: quiet, the run keeps its own exit status (2 for an unknown command)', async () => {
    const r = await run([BIN, 'no-such-command'], { close: ['stderr'] });
    expect(r.code).toBe(ExitCode.usage);
  });
});

describe('a real shell pipeline whose reader exits early (`modelmount … | head -1`)', () => {
  /** `bash -c '<modelmount> ARGS 2>ERR | READER'`: modelmount's exit status, stderr, and what the reader printed. */
  async function piped(args: string[], reader: string): Promise<{ code: number; stderr: string; out: string }> {
    const dir = await tempDir();
    const quoted = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const r = spawnSync('bash', ['-c', `${quoted} 2>"$1/err" | ${reader}; echo "\${PIPESTATUS[0]}" > "$1/code"`, 'piped', dir], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, CI: 'true' },
      encoding: 'utf8',
    });
    return { code: Number((await fs.readFile(path.join(dir, 'code'), 'utf8')).trim()), stderr: await fs.readFile(path.join(dir, 'err'), 'utf8'), out: r.stdout };
  }

  function quiet(r: { stderr: string }): void {
    expect(r.stderr).not.toMatch(/Unhandled|EPIPE|Internal error/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  }

  const ART: TestArtifact[] = [{ id: 'student/v0_ja', env: 'STUDENT_JA_DIR', files: [{ path: 'model.bin', data: Buffer.from('weights\n') }] }];

  it('compose --print | head -1 (and a reader that is gone before the first write): quiet, exit 0', async () => {
    const src = await tempDir();
    await writeSourceTree(src, ART);
    const extra = ['compose:', '  files: [compose.yaml]', '  services: [worker]', '  override: compose.models.yaml', '  containerDir: /app/models'].join('\n');
    const p = await tempProject(manifestYaml({ artifacts: ART, sources: [{ name: 'folder', url: src }], extra }));
    await fs.writeFile(path.join(p.dir, 'compose.yaml'), 'services:\n  worker:\n    image: busybox\n');
    expect((await runCliCaptured(['update', '--manifest', p.manifest, '--yes', '--no-compose', '--no-smoke'])).code).toBe(0);
    for (const reader of ['head -1', 'true']) {
      const r = await piped(['compose', '--print', '--manifest', p.manifest], reader);
      quiet(r);
      expect(r.code, `${reader}: ${r.stderr}`).toBe(0);
      if (reader === 'head -1') expect(r.out.split('\n').filter(Boolean)).toHaveLength(1);
    }
  });

  it('status | head -1 with a table far larger than the pipe buffer (the write must fail with EPIPE): quiet, exit 0', async () => {
    const many: TestArtifact[] = Array.from({ length: 1500 }, (_, i) => ({ id: `group/artifact_with_a_long_name_${i}`, files: [{ path: 'model.bin', data: Buffer.from(`${i}`) }] }));
    const p = await tempProject(manifestYaml({ artifacts: many, sources: [{ name: 'folder', url: '/nonexistent' }] }));
    const r = await piped(['status', '--no-docker', '--manifest', p.manifest], 'head -1');
    quiet(r);
    expect(r.code, r.stderr).toBe(0);
    expect(r.out).toMatch(/^ARTIFACT\s+SELECTED/);
  });

  it('--help | head -1 (and a reader that is gone before the first write): quiet, exit 0', async () => {
    for (const reader of ['head -1', 'true']) {
      const r = await piped(['--help'], reader);
      quiet(r);
      expect(r.code, `${reader}: ${r.stderr}`).toBe(0);
    }
  });
});
