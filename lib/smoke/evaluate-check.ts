/**
 * Step 1's verdict, pure: the parsed output of the in-container check turned into per-artifact
 * results (mounted? read-only? each file's size and sha256) and the failures the user sees, most
 * fundamental first (not mounted, then writable, then each file).
 */
import { commandFor } from '../invocation.ts';
import type { CheckArtifact, CheckEvent, ParsedCheckOutput } from './in-container-check.ts';
import type { SmokeFailureCode } from '../errors.ts';
import type { ArtifactResult, FileResult, SmokeFailure } from './report.ts';

function eventsFor(parsed: ParsedCheckOutput, id: string): CheckEvent[] {
  return parsed.events.filter((e) => 'id' in e && e.id === id);
}

export interface Evaluation {
  artifacts: ArtifactResult[];
  failures: SmokeFailure[];
  warnings: string[];
}

/** Turn the parsed check output into per-artifact results and user-facing failures. Pure. */
export function evaluateCheck(service: string, checks: readonly CheckArtifact[], parsed: ParsedCheckOutput, full: boolean): Evaluation {
  const failures: SmokeFailure[] = [];
  const warnings: string[] = [];
  const shaSkipped = parsed.events.some((e) => e.kind === 'sha-skipped');
  const fail = (code: SmokeFailureCode, message: string, hint: string, artifact: string, file?: string) =>
    failures.push({ service, step: 'check', code, message, hint, artifact, ...(file ? { file } : {}) });
  const notMountedHint = `Write the override with \`${commandFor('compose')}\` and make Compose read it after your base files (-f, COMPOSE_FILE or include; \`${commandFor('compose', '--print')}\` shows how).`;
  const filesHint = `The mounted host folder does not hold the verified files: run \`${commandFor('update')}\`, then \`${commandFor('doctor')}\`.`;

  const artifacts: ArtifactResult[] = [];
  for (const a of checks) {
    const evs = eventsFor(parsed, a.id);
    const missingDir = evs.find((e) => e.kind === 'missing-dir');
    const mount = evs.find((e) => e.kind === 'mount');
    const ro = evs.find((e) => e.kind === 'read-only' || e.kind === 'writable' || e.kind === 'ro-unknown');
    const res: ArtifactResult = {
      id: a.id,
      target: a.target,
      ok: true,
      exists: missingDir ? false : evs.length > 0 ? true : null,
      mounted: null,
      readOnly: null,
      files: [],
    };
    if (mount?.kind === 'mount') {
      res.mountPoint = mount.mountPoint;
      res.mountOptions = mount.options;
      res.mounted = mount.mountPoint !== '/' && mount.mountPoint !== '';
    } else if (missingDir) {
      res.mounted = false;
    }
    if (ro?.kind === 'read-only') {
      res.readOnly = true;
      res.readOnlyEvidence = ro.evidence;
    } else if (ro?.kind === 'writable') {
      res.readOnly = false;
      res.readOnlyEvidence = ro.detail;
    } else if (ro?.kind === 'ro-unknown') {
      res.readOnlyEvidence = ro.detail;
      warnings.push(`${a.id} in ${service}: could not prove that ${a.target} is read-only (${ro.detail}).`);
    }

    for (const f of a.files) {
      const ev = evs.find((e) => 'path' in e && e.path === f.path);
      const fr: FileResult = { path: f.path, expectedSize: f.size, actualSize: null, status: 'not-checked', sha256: 'not-checked' };
      if (ev?.kind === 'file-ok') {
        fr.status = 'ok';
        fr.actualSize = ev.size;
        fr.sha256 = ev.method === 'sha256' ? 'match' : full && shaSkipped ? 'skipped' : 'not-checked';
      } else if (ev?.kind === 'missing-file') {
        fr.status = 'missing';
        fr.detail = ev.detail;
      } else if (ev?.kind === 'unreadable') {
        fr.status = 'unreadable';
        fr.detail = ev.detail;
      } else if (ev?.kind === 'size-mismatch') {
        fr.status = 'size';
        fr.actualSize = ev.actual;
      } else if (ev?.kind === 'sha-mismatch') {
        fr.status = 'sha256';
        fr.sha256 = 'mismatch';
        fr.detail = `sha256 ${ev.actual}`;
      }
      res.files.push(fr);
    }

    // failures, most fundamental first
    const imageOnly = res.mounted === false && res.exists === true;
    if (missingDir) {
      fail('ESMOKE_NOT_MOUNTED', `${a.id} is not mounted at ${a.target} in ${service}: is the override included? run ${commandFor('compose')}`, notMountedHint, a.id);
    } else if (imageOnly && res.files.some((f) => f.status !== 'ok')) {
      fail(
        'ESMOKE_NOT_MOUNTED',
        `${a.id} is not mounted at ${a.target} in ${service} (the folder comes from the image and lacks the model files): is the override included? run ${commandFor('compose')}`,
        notMountedHint,
        a.id,
      );
    } else {
      if (imageOnly) warnings.push(`${a.id} in ${service}: ${a.target} is not a mount; the files come from the image.`);
      if (res.readOnly === false) {
        fail(
          'ESMOKE_WRITABLE',
          `${a.id} at ${a.target} in ${service} is writable: the mount must be read_only (${res.readOnlyEvidence ?? 'write probe succeeded'})`,
          `Regenerate the override with \`${commandFor('compose')}\` (it mounts every artifact with read_only: true) and remove any other writable mount of ${a.target} or its parents.`,
          a.id,
        );
      }
      for (const f of res.files) {
        if (f.status === 'missing') {
          fail('ESMOKE_FILE_MISSING', `${f.path} in ${a.id} is missing in the container at ${a.target}/${f.path} (${f.detail ?? 'no such file'})`, filesHint, a.id, f.path);
        } else if (f.status === 'unreadable') {
          fail(
            'ESMOKE_UNREADABLE',
            `${f.path} in ${a.id} cannot be read in the container (${f.detail ?? 'permission denied'})`,
            'Make the host files readable (chmod a+r) and every folder down to them searchable (chmod a+rx) by the container user, or run the service with a matching user. modelmount makes them so; folders made under a strict umask (077) by other tools or earlier versions are drwx------.',
            a.id,
            f.path,
          );
        } else if (f.status === 'size') {
          fail('ESMOKE_SIZE', `${f.path} in ${a.id} is ${f.actualSize ?? '?'} bytes in the container, expected ${f.expectedSize}`, filesHint, a.id, f.path);
        } else if (f.status === 'sha256') {
          const expected = a.files.find((x) => x.path === f.path)?.sha256 ?? '';
          fail('ESMOKE_SHA256', `${f.path} in ${a.id} has ${f.detail ?? 'another sha256'} in the container, expected ${expected}`, filesHint, a.id, f.path);
        }
      }
    }
    res.ok = !failures.some((x) => x.artifact === a.id) && res.files.every((f) => f.status === 'ok');
    artifacts.push(res);
  }
  if (full && shaSkipped) warnings.push(`${service}: sha256 skipped: no sha256sum in image (sizes were checked).`);
  return { artifacts, failures, warnings };
}
