export const GiB = 1024 ** 3;
export const MiB = 1024 ** 2;

/** "2G", "128M", "4096" → bytes; `fallback` when unset or empty */
export function parseSize(v: string | number | undefined, fallback: number): number {
  if (v === undefined || v === '') return fallback;
  if (typeof v === 'number') return v;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(v.trim());
  if (!m) throw new Error(`not a size: ${v} (use e.g. 2G, 128M, 4096)`);
  const mult = { '': 1, k: 1024, m: MiB, g: GiB, t: 1024 * GiB }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.round(Number(m[1]) * mult);
}

export function fmtBytes(n: number): string {
  if (n >= GiB) return `${+(n / GiB).toFixed(2)} GiB`;
  if (n >= MiB) return `${+(n / MiB).toFixed(1)} MiB`;
  return `${n} B`;
}
