/** The CLI on a real pseudo-terminal (util-linux `script`): real inquirer prompts answered with keystrokes. */
import { spawn, spawnSync } from 'node:child_process';
import { BIN } from './real-cli.ts';

export const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;

export interface Session {
  /** resolves when the screen output contains `text` */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  type(keys: string): void;
  exit: Promise<number>;
  output(): string;
}

/** Run `modelmount <args>` (`opts.bin`, default this checkout's) on a pseudo-terminal, without CI (nor FORCE_COLOR / NO_COLOR unless given) in its environment. */
export function onTerminal(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; bin?: string } = {}): Session {
  const cmd = [process.execPath, opts.bin ?? BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color', ...opts.env };
  // colour as a terminal gets it by default, unless the test asks otherwise
  if (!opts.env?.FORCE_COLOR) delete env.FORCE_COLOR;
  if (!opts.env?.NO_COLOR) delete env.NO_COLOR;
  delete env.CI;
  const p = spawn('script', ['-qfec', cmd, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'], ...(opts.cwd ? { cwd: opts.cwd } : {}) });
  let out = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  const onData = (d: Buffer) => {
    out += d.toString('utf8');
    for (const w of waiters.splice(0)) (out.includes(w.text) ? w.resolve : () => waiters.push(w))();
  };
  p.stdout.on('data', onData);
  p.stderr.on('data', onData);
  return {
    waitFor: (text, timeoutMs = 20_000) =>
      new Promise<void>((resolve, reject) => {
        if (out.includes(text)) return resolve();
        const t = setTimeout(() => reject(new Error(`no "${text}" on the terminal within ${timeoutMs} ms; screen so far:\n${out}`)), timeoutMs);
        waiters.push({ text, resolve: () => (clearTimeout(t), resolve()) });
      }),
    type: (keys) => void p.stdin.write(keys),
    exit: new Promise((resolve) => p.on('exit', (code) => resolve(code ?? -1))),
    output: () => out,
  };
}

export const ENTER = '\r';
export const SPACE = ' ';
export const DOWN = '\x1b[B';
export const CTRL_C = '\x03';
