/** Progress lines, speed measurement and failure text for the terminal; sizes and durations come from lib/format.ts. */
import { formatBytes, formatDuration, formatSpeed } from '../format.ts';

export { formatBytes, formatDuration, formatSpeed };

/** "45% 120 MiB/1.2 GiB 85 MiB/s ETA 12s"; speed and ETA only once a speed is known */
export function formatProgress(done: number, total: number, bytesPerSec: number): string {
  const pct = total > 0 ? Math.floor((done / total) * 100) : 100;
  const head = `${pct}% ${formatBytes(done)}/${formatBytes(total)}`;
  if (!(bytesPerSec > 0)) return head;
  return `${head} ${formatSpeed(bytesPerSec)} ETA ${formatDuration(((total - done) / bytesPerSec) * 1000)}`;
}

/** Speed over a sliding window of samples; NaN until it has seen a second of them (no wild first guesses). */
export class SpeedMeter {
  private samples: { t: number; bytes: number }[] = [];
  constructor(private readonly windowMs = 5000) {}

  add(bytesTotal: number, now = Date.now()): number {
    this.samples.push({ t: now, bytes: bytesTotal });
    while (this.samples.length > 2 && now - this.samples[0]!.t > this.windowMs) this.samples.shift();
    const first = this.samples[0]!;
    const dt = now - first.t;
    return dt >= 1000 ? ((bytesTotal - first.bytes) * 1000) / dt : Number.NaN;
  }
}

/** "✖ what happened\n  → what to do": how every reported failure is printed. */
export function formatFailure(e: { message?: unknown; hint?: unknown }, indent = ''): string {
  return `${indent}✖ ${String(e.message)}\n${e.hint ? `${indent}  → ${String(e.hint)}\n` : ''}`;
}

/** Rows as aligned columns (two spaces apart; the last column not padded). The first row is the header. */
export function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

/**
 * A list of ids for a line of text: all of them when there are few, else the first `max` and
 * "and N more" (20,000 artifacts made a 300 KB "Selected …" line). JSON output keeps full lists.
 */
export function listSome(items: readonly string[], max = 8): string {
  if (items.length <= max + 1) return items.join(', ');
  return `${items.slice(0, max).join(', ')} and ${items.length - max} more`;
}
