import { describe, expect, it } from 'vitest';
import { formatCommandLine, shellQuote } from '../lib/shell.ts';

describe('formatCommandLine', () => {
  it('shows a command as one would type it: plain words bare, anything else single-quoted', () => {
    expect(formatCommandLine(['docker', 'compose', '-f', 'compose.yaml', 'config'])).toBe('docker compose -f compose.yaml config');
    expect(formatCommandLine(['sh', '-c', 'test -f /app/model.bin'])).toBe("sh -c 'test -f /app/model.bin'");
    expect(formatCommandLine(['-f', '/srv/my project/compose.yaml'])).toBe("-f '/srv/my project/compose.yaml'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote('')).toBe("''");
    expect(shellQuote('$HOME')).toBe("'$HOME'");
  });
});
