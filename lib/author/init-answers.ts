/** init's answers as lists and labels: `--labels` flags and the label question's answers. */
import { UsageError } from '../errors.ts';
import { parseLabelFlags } from '../manifest/select.ts';

/** "a, b,c" → ["a", "b", "c"] */
export function splitList(answer: string): string[] {
  return answer
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** --labels: K=V for every artifact, ID:K=V for one artifact. */
export function labelsFromFlags(values: string[], ids: string[]): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>(ids.map((id) => [id, {}]));
  for (const raw of values) {
    const colon = raw.indexOf(':');
    const eq = raw.indexOf('=');
    const id = colon >= 0 && (eq === -1 || colon < eq) ? raw.slice(0, colon) : undefined;
    const spec = id === undefined ? raw : raw.slice(colon + 1);
    if (id !== undefined && !out.has(id)) throw new UsageError(`--labels ${raw}: there is no artifact ${id}.`, { hint: `The artifacts found are ${ids.join(', ')}.` });
    for (const [k, vs] of Object.entries(parseLabelFlags([spec]))) {
      if (vs.length !== 1) throw new UsageError(`--labels ${raw}: an artifact has one value per label.`, { hint: `e.g. --labels ${id ? `${id}:` : ''}${k}=${vs[0]}` });
      for (const target of id === undefined ? ids : [id]) out.get(target)![k] = vs[0]!;
    }
  }
  return out;
}

export function parseOneLabelAnswer(answer: string): Record<string, string> {
  if (!answer) return {};
  const out: Record<string, string> = {};
  for (const piece of splitList(answer)) {
    const [k, vs] = Object.entries(parseLabelFlags([piece]))[0]!;
    out[k] = vs[0]!;
  }
  return out;
}

export function labelAnswerProblem(answer: string): true | string {
  try {
    parseOneLabelAnswer(answer);
    return true;
  } catch (err) {
    return (err as Error).message;
  }
}
