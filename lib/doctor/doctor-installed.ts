/** What `doctor` runs: the checks on the installed set (or the selection given), printed or as JSON; returns the exit status. */
import type { Io } from '../io.ts';
import { loadRunContext, type ContextOptions } from '../run-context.ts';
import { loadShell } from '../shell.ts';
import { installedSelection, type SelectionOptions } from '../update/installed-set.ts';
import { formatFindings } from './format-findings.ts';
import { doctorExitCode, runDoctor } from './run-doctor.ts';

export interface DoctorOptions extends ContextOptions, SelectionOptions {
  /** re-hash the host files instead of trusting the verified-state cache */
  full?: boolean;
  /** a pass also says what it looked at */
  verbose?: boolean;
}

export async function doctorInstalled(opts: DoctorOptions, io: Io, signal: AbortSignal): Promise<number> {
  const ctx = await loadRunContext(opts, io, signal, 'host');
  const artifacts = await installedSelection(ctx, opts, { signal });
  const findings = await runDoctor(ctx.manifest, artifacts, { env: io.env, cwd: io.cwd, full: Boolean(opts.full), jobs: ctx.jobs, signal, $: (await loadShell())({ env: io.env }) });
  const exitCode = doctorExitCode(findings);
  if (ctx.json) io.stdout.write(`${JSON.stringify({ command: 'doctor', ok: exitCode === 0, artifacts: artifacts.map((a) => a.id), findings }, null, 2)}\n`);
  else io.stdout.write(formatFindings(findings, { verbose: Boolean(opts.verbose) }));
  return exitCode;
}
