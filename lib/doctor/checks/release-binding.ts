/** container-outdated, image-expects-mismatch (releases: which container runs which models). */
import { EXPECTS_LABEL } from '../../compose/override.ts';
import { commandFor } from '../../invocation.ts';
import { currentSet, type ReleaseSet } from '../../releases/record.ts';
import { plural, type DoctorContext, type DoctorFinding } from '../check.ts';

/** Does an image's io.modelmount.expects label agree with a set? A set digest (or prefix), or `id=digest,…` artifact versions. */
export function expectsAgrees(expects: string, set: ReleaseSet | undefined): boolean {
  if (!set) return false;
  const value = expects.trim();
  if (!value.includes('=')) return value.length >= 7 && set.digest.startsWith(value.toLowerCase());
  return value.split(',').every((pair) => {
    const [id, digest] = pair.split('=').map((x) => x.trim());
    const a = id ? set.artifacts[id] : undefined;
    return Boolean(a && digest && digest.length >= 7 && a.digest.startsWith(digest.toLowerCase()));
  });
}

export function checkReleaseBinding(ctx: DoctorContext): DoctorFinding[] {
  const cur = currentSet(ctx.releaseRecord);
  if (!cur || !ctx.containers) return [];
  const findings: DoctorFinding[] = [];
  const outdated = ctx.containers.filter((c) => c.running && c.current === false);
  findings.push(
    outdated.length
      ? {
          id: 'container-outdated',
          verdict: 'warn',
          title: `${plural(outdated.length, 'running container')} run${outdated.length === 1 ? 's' : ''} an older release set`,
          message: `${outdated.map((c) => `${c.name} (${c.service}) runs ${c.set ? c.set.slice(0, 12) : 'models not from a release'}`).join('; ')}; the current set is ${cur.digest.slice(0, 12)}. They keep their models until recreated.`,
          fix: `Run \`${commandFor('apply')}\` (recreates exactly those services, smoke-tests, switches back on failure).`,
        }
      : { id: 'container-outdated', verdict: 'ok', title: 'Every running container runs the current release set', message: `Release set ${cur.digest.slice(0, 12)}.` },
  );
  for (const c of ctx.containers.filter((x) => x.running && x.expects !== undefined)) {
    if (expectsAgrees(c.expects!, cur)) continue;
    findings.push({
      id: 'image-expects-mismatch',
      verdict: 'warn',
      title: `The image of ${c.name} expects other models than the installed set`,
      message: `${c.image} declares ${EXPECTS_LABEL}=${c.expects}, but the current release set is ${cur.digest.slice(0, 12)} (${Object.entries(cur.artifacts)
        .map(([id, a]) => `${id}=${a.digest.slice(0, 12)}`)
        .join(', ')}).`,
      fix: `Install the models the image was built for (or \`${commandFor('rollback', '--to <set>')}\`), or rebuild the image with the matching label.`,
    });
  }
  return findings;
}
