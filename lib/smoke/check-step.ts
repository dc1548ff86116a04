/**
 * Step 1 of the smoke test: the built-in check (in-container-check.ts) in one-off containers of
 * the service, one per chunk of artifacts (a long script is split), evaluated together.
 */
import type { Artifact } from '../manifest/schema.ts';
import { combinedOutput, outputTail, tailText } from './container-output.ts';
import { evaluateCheck } from './evaluate-check.ts';
import { buildCheckScript, checkArtifactsFor, chunkCheckArtifacts, parseCheckOutput, type CheckArtifact, type ParsedCheckOutput } from './in-container-check.ts';
import { containerName, runArgs, runOneOff, type PreparedService, type SmokeContext } from './one-off-run.ts';
import type { CheckStepResult, SmokeFailure } from './report.ts';

/** Merge the parts `chunkCheckArtifacts` split an artifact into, back into one entry per id. */
function mergeParts(chunks: CheckArtifact[][]): CheckArtifact[] {
  const byId = new Map<string, CheckArtifact>();
  for (const part of chunks.flat()) {
    const cur = byId.get(part.id);
    if (cur) cur.files.push(...part.files);
    else byId.set(part.id, { ...part, files: [...part.files] });
  }
  return [...byId.values()];
}

/**
 * The container could not start `sh`: runc through Docker (`exec: "sh": executable file not found
 * in $PATH`), tini as the init Compose adds (`[FATAL tini (7)] exec sh failed: No such file or
 * directory`), podman (`executable file \`sh\` not found`), a shell-less busybox (`sh: not found`).
 */
const NO_SH = /exec: "?sh"?: executable file not found|"sh": executable file not found|executable file `sh` not found|\bexec sh failed: No such file or directory|\bsh: not found/i;

/**
 * Whether a container's start-up error says its image has no `sh` (NO_SH). Not Docker's generic
 * "…: no such file or directory: unknown", which a missing mount source or working folder ends with too.
 */
export function imageLacksShell(text: string): boolean {
  return NO_SH.test(text);
}

function explainNoStart(service: string, text: string, exitCode: number | null): string {
  return `could not run the built-in check in ${service} (exit ${exitCode ?? 'killed'}): ${tailText(outputTail(text, 8))}`;
}

export async function runCheck(
  ctx: SmokeContext,
  service: string,
  prepared: PreparedService,
  artifacts: readonly Artifact[],
  full: boolean,
  timeoutSeconds: number,
): Promise<{ result: CheckStepResult; failures: SmokeFailure[]; warnings: string[]; started: boolean; noShell?: boolean }> {
  const compose = ctx.manifest.compose!;
  const checks = checkArtifactsFor(artifacts, compose.containerDir);
  const chunks = chunkCheckArtifacts(checks);
  if (chunks.length === 0) chunks.push([]);
  const result: CheckStepResult = { status: 'passed', exitCode: 0, durationMs: 0, outputTail: [], full, sha256Tool: 'unknown', artifacts: [] };
  const merged: ParsedCheckOutput = { events: [], started: false, complete: true, other: [], malformed: [] };
  const failures: SmokeFailure[] = [];
  for (const [i, chunk] of chunks.entries()) {
    const name = containerName(ctx, service, `check${chunks.length > 1 ? i + 1 : ''}`);
    result.containerName = name;
    const argv = [...runArgs(ctx, prepared, name), '--entrypoint', 'sh', service, '-c', buildCheckScript(chunk, { full })];
    const run = await runOneOff(ctx, argv, name, timeoutSeconds * 1000);
    result.durationMs += run.durationMs;
    result.exitCode = run.out.exitCode;
    const text = combinedOutput(run.out);
    const parsed = parseCheckOutput(run.out.stdout);
    result.outputTail = outputTail(`${parsed.other.join('\n')}\n${run.out.stderr}`);
    merged.events.push(...parsed.events);
    merged.other.push(...parsed.other);
    merged.malformed.push(...parsed.malformed);
    merged.started ||= parsed.started;
    if (run.timedOut) {
      result.status = 'timed-out';
      result.containerRemoved = run.containerRemoved;
      result.reason = `timed out after ${timeoutSeconds} s`;
      failures.push({
        service,
        step: 'check',
        code: 'ESMOKE_TIMEOUT',
        message: `the built-in check in ${service} timed out after ${timeoutSeconds} s: ${tailText(result.outputTail.slice(-5))}`,
        hint: 'Building the image or hashing large files (--full) can take long; pass a larger check timeout, or build the image first.',
      });
      merged.complete = false;
      break;
    }
    if (!parsed.started && imageLacksShell(text)) {
      // nothing to check it with inside: the caller decides (the smoke command, if any, runs alone)
      result.status = 'skipped';
      result.reason = `the image of ${service} has no \`sh\`, which the built-in check needs`;
      return { result, failures, warnings: [], started: false, noShell: true };
    }
    if (!parsed.complete) {
      result.status = 'error';
      result.reason = explainNoStart(service, text, run.out.exitCode);
      failures.push({ service, step: 'check', code: 'ESMOKE_CHECK_ERROR', message: result.reason, hint: 'Run the printed Compose command by hand to see the full error.' });
      merged.complete = false;
      break;
    }
  }
  const tools = merged.events.find((e) => e.kind === 'tools');
  if (tools?.kind === 'tools') result.sha256Tool = tools.sha256 === 'sha256sum' ? 'sha256sum' : 'none';
  const evaluation = evaluateCheck(service, mergeParts(chunks), merged, full);
  result.artifacts = evaluation.artifacts;
  failures.push(...(merged.complete || merged.started ? evaluation.failures : []));
  if (result.status === 'passed' && failures.length > 0) result.status = 'failed';
  return { result, failures, warnings: evaluation.warnings, started: merged.started };
}
