/** What a one-off container printed, as the report shows it: the last lines, without Compose's own. */
import type { ProcessOutput } from 'zx';

const TAIL_LINES = 20;

/** Compose's own progress lines, not the container's output. */
const COMPOSE_NOISE = [
  /^(Creating|Starting|Recreating|Building|Pulling|Removing|Stopping) \S+ \.\.\.( done| error)?\s*$/,
  /^Creating network ".*" with (the default )?driver/,
  /^\[\+\] /,
  /^ *(✔|⠿|✘)? *(Container|Network|Volume) \S+ +(Creating|Created|Starting|Started|Running|Removing|Removed|Waiting|Healthy)\s*$/,
  /^Image for service .* was built because it did not already exist/,
  /^WARNING: Found orphan containers/,
  /^Some networks were defined but are not used by any service/,
  // the legacy builder's progress when `run` builds a missing image (errors stay)
  /^Building \S+$/,
  /^Step \d+\/\d+ : /,
  /^ ---> /,
  /^Removing intermediate container /,
  /^Successfully (built|tagged) /,
];

export function outputTail(text: string, lines = TAIL_LINES): string[] {
  const kept = text
    .split('\n')
    .flatMap((l) => l.split('\r'))
    .map((l) => l.replace(/\s+$/, ''))
    .filter((l) => l !== '' && !COMPOSE_NOISE.some((re) => re.test(l)) && !l.startsWith('MM\t'));
  return kept.slice(-lines);
}

export function tailText(lines: string[]): string {
  return lines.length === 0 ? '(no output)' : lines.join('\n');
}

export function combinedOutput(out: ProcessOutput): string {
  return out.stdall || `${out.stdout}${out.stderr}`;
}
