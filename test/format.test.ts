import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, formatProgress, SpeedMeter } from '../lib/ui/format.ts';

describe('format', () => {
  it('formats sizes in binary units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(25 * 1024 * 1024)).toBe('25.0 MiB');
    expect(formatBytes(5.5 * 1024 ** 3)).toBe('5.50 GiB');
  });

  it('formats durations', () => {
    expect(formatDuration(12_400)).toBe('12s');
    expect(formatDuration(125_000)).toBe('2m05s');
    expect(formatDuration(3_720_000)).toBe('1h02m');
    expect(formatDuration(Number.NaN)).toBe('?');
  });

  it('shows speed and ETA only once a speed is known', () => {
    expect(formatProgress(512, 1024, Number.NaN)).toBe('50% 512 B/1.00 KiB');
    expect(formatProgress(50 * 1024 ** 2, 100 * 1024 ** 2, 10 * 1024 ** 2)).toBe('50% 50.0 MiB/100 MiB 10.0 MiB/s ETA 5s');
  });

  it('measures speed over a window of at least a second', () => {
    const m = new SpeedMeter(5000);
    expect(m.add(0, 0)).toBeNaN();
    expect(m.add(1_000_000, 500)).toBeNaN();
    expect(m.add(2_000_000, 1000)).toBe(2_000_000);
    expect(m.add(3_000_000, 2000)).toBe(1_500_000);
  });
});
