/**
 * Checks that need more than one field. They run on the raw YAML data even when
 * the schema failed, skipping anything malformed (the schema reports that), so
 * that every problem is reported in one go.
 */
import path from 'node:path';
import { checkArtifacts, checkRequire } from './check-artifacts.ts';
import { checkSources } from './check-sources.ts';
import { FIELDS } from './field-help.ts';
import { folderProblems } from './folders.ts';
import { show, type Reporter } from './problem-reporter.ts';
import { asArray, asObject, stringAt } from './raw-data.ts';

export function checkSemantics(report: Reporter, raw: unknown, dir: string, absFile: string): void {
  const root = asObject(raw);
  if (!root) return;
  const ids = checkArtifacts(report, root);
  checkRequire(report, root, ids);
  checkSources(report, root, dir);
  checkHostFolders(report, root, dir, absFile);
  checkCompose(report, root, dir, absFile);
}

/** The same rules as for --host-dir / --cache-dir: lib/manifest/folders.ts. */
function checkHostFolders(report: Reporter, root: Record<string, unknown>, dir: string, absFile: string): void {
  const hostDir = stringAt(root, 'hostDir');
  const cacheDir = stringAt(root, 'cacheDir');
  const projectComposeFiles = asArray(asObject(root.compose)?.files)
    .filter((f): f is string => typeof f === 'string' && f !== '')
    .map((f) => path.resolve(dir, f));
  for (const p of folderProblems({
    hostDir: hostDir ? path.resolve(dir, hostDir) : undefined,
    cacheDir: cacheDir ? path.resolve(dir, cacheDir) : undefined,
    manifestPath: absFile,
    composeFiles: projectComposeFiles,
  })) {
    report.at([p.field], p.message, p.fix);
  }
}

function checkCompose(report: Reporter, root: Record<string, unknown>, dir: string, absFile: string): void {
  const compose = asObject(root.compose);
  if (!compose) return;
  const svcSeen = new Map<string, number>();
  for (const [k, svc] of asArray(compose.services).entries()) {
    if (typeof svc !== 'string') continue;
    const prev = svcSeen.get(svc);
    if (prev === undefined) svcSeen.set(svc, k);
    else {
      report.at(
        ['compose', 'services', k],
        `service ${show(svc)} is listed twice (also at line ${report.lineOf(['compose', 'services', prev])})`,
        'Remove the duplicate entry.',
      );
    }
  }
  const composeFiles: string[] = [];
  for (const [k, f] of asArray(compose.files).entries()) {
    if (typeof f !== 'string') continue;
    if (f === '') {
      report.at(['compose', 'files', k], 'compose file path is empty', FIELDS['compose.files[]']?.fix ?? '');
      continue;
    }
    composeFiles.push(path.resolve(dir, f));
  }
  const override = stringAt(compose, 'override');
  if (override) {
    const absOverride = path.resolve(dir, override);
    if (absOverride === absFile || composeFiles.includes(absOverride)) {
      report.at(
        ['compose', 'override'],
        `override ${show(override)} is ${absOverride === absFile ? 'this manifest' : 'one of compose.files'}; modelmount rewrites the override file and would overwrite it`,
        'Point override at a separate file that modelmount owns, e.g. `override: ../compose.models.yaml`.',
      );
    }
  }
  const containerDir = stringAt(compose, 'containerDir');
  if (containerDir?.split('/').some((seg) => seg === '.' || seg === '..')) {
    report.at(
      ['compose', 'containerDir'],
      `containerDir ${show(containerDir)} has a "." or ".." segment`,
      FIELDS['compose.containerDir']?.fix ?? '',
    );
  }
  const context = stringAt(compose, 'context');
  if (context === '') {
    report.at(['compose', 'context'], 'compose.context is empty', FIELDS['compose.context']?.fix ?? '');
  }
}
