/**
 * What the provision job runs on each node, inside the modelmount image:
 * `update` of exactly the ids the manager chose (no Compose, no questions),
 * then `verify` of that set, then ONE result line on stdout that the manager
 * reads back from the task's log:
 *   MODELMOUNT_NODE_RESULT {"ok":true,"set":"<selection digest>",...}
 * The exit status is update's or verify's, so the task's state says the same.
 * Tokens arrive as Swarm secrets mounted at /run/secrets/<ENV NAME> (never as
 * environment in the service spec): a source's `tokenEnv` not set in the
 * environment is read from there.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Io } from '../../io.ts';
import { runUpdate, type UpdateOptions } from '../../update/run-update.ts';
import { ExitCode, ModelmountError } from '../../errors.ts';
import { loadManifest } from '../../manifest/load.ts';
import { selectionDigest } from '../../manifest/digest.ts';
import { verifyHostFiles } from '../../verify/verify-files.ts';

export const NODE_RESULT_PREFIX = 'MODELMOUNT_NODE_RESULT ';
export const SECRETS_DIR = '/run/secrets';

export interface NodeResult {
  ok: boolean;
  /** selection digest of the verified set (only when ok) */
  set?: string;
  artifacts: string[];
  /** files downloaded or copied this run (0: the node already held the set) */
  installed: number;
  bytesTransferred: number;
  error?: { code: string; message: string };
}

/** Read the result line a node printed; undefined when there is none. */
export function parseNodeResult(lines: readonly string[]): NodeResult | undefined {
  for (const line of [...lines].reverse()) {
    const at = line.indexOf(NODE_RESULT_PREFIX);
    if (at === -1) continue;
    try {
      return JSON.parse(line.slice(at + NODE_RESULT_PREFIX.length)) as NodeResult;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

async function tokensFromSecrets(manifestPath: string, env: NodeJS.ProcessEnv, secretsDir: string, signal: AbortSignal): Promise<NodeJS.ProcessEnv> {
  const manifest = await loadManifest(manifestPath, { env, signal });
  const out = { ...env };
  for (const s of manifest.sources) {
    if (!s.tokenEnv || out[s.tokenEnv]) continue;
    try {
      out[s.tokenEnv] = (await fs.readFile(path.join(secretsDir, s.tokenEnv), 'utf8')).trim();
    } catch {
      /* no secret for it: the source is tried without a token */
    }
  }
  return out;
}

const silent = (): NodeJS.WritableStream => {
  const sink = { write: () => true } as unknown as NodeJS.WritableStream;
  return sink;
};

/** What the manager asked this node for (`swarm node-run` flags, read by lib/commands/swarm-node-run.ts). */
export interface NodeJob {
  /** the manifest path as given (relative to the cwd) */
  manifest?: string;
  /** the artifact ids the manager chose */
  only: string[];
  /**
   * The update's options (`update --manifest <abs> --yes --json --no-compose --no-smoke` and the
   * job's location flags), read with the node's environment: `env` has the tokens from the secrets.
   */
  updateOptions: (manifestPath: string, env: NodeJS.ProcessEnv) => UpdateOptions;
}

export async function runNodeUpdate(job: NodeJob, io: Io, signal: AbortSignal, opts: { secretsDir?: string } = {}): Promise<number> {
  const manifestPath = path.resolve(io.cwd, job.manifest ?? '');
  const only = job.only;
  const emit = (r: NodeResult) => io.stdout.write(`${NODE_RESULT_PREFIX}${JSON.stringify(r)}\n`);
  let result: NodeResult = { ok: false, artifacts: only, installed: 0, bytesTransferred: 0 };
  try {
    const env = await tokensFromSecrets(manifestPath, io.env, opts.secretsDir ?? SECRETS_DIR, signal);
    const outcome = await runUpdate(job.updateOptions(manifestPath, env), { ...io, env, stdout: silent(), isTTY: false }, signal);
    const { report } = outcome;
    result = { ...result, artifacts: report.selection, installed: report.totals.installed, bytesTransferred: report.totals.bytesTransferred };
    if (!report.ok) {
      const first = report.errors[0] as { code?: string; message?: string } | undefined;
      emit({ ...result, error: { code: first?.code ?? 'EUPDATE', message: first?.message ?? 'update failed' } });
      return outcome.exitCode || ExitCode.sources;
    }
    const checks = await verifyHostFiles(outcome.ctx.hostDir, outcome.selection.artifacts, { jobs: outcome.ctx.jobs, signal });
    const bad = checks.filter((c) => c.status !== 'ok');
    if (bad.length) {
      emit({ ...result, error: { code: 'EINTEGRITY', message: `${bad.length} file(s) do not verify: ${bad.map((c) => `${c.artifactId}/${c.path} ${c.status}`).join(', ')}` } });
      return ExitCode.integrity;
    }
    emit({ ...result, ok: true, set: selectionDigest(outcome.selection.artifacts) });
    return ExitCode.ok;
  } catch (err) {
    if (!(err instanceof ModelmountError)) throw err;
    emit({ ...result, error: { code: err.code, message: err.message } });
    return err.exitCode;
  }
}
