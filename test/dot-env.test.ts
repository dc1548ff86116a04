/** The project's .env as modelmount reads it for Compose settings (lib/compose/dot-env.ts). */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readDotEnv } from '../lib/compose/dot-env.ts';
import { tempDir } from './helpers/cli.ts';

describe('readDotEnv', () => {
  it('parses the variables; none when there is no .env', async () => {
    const dir = await tempDir();
    expect((await readDotEnv(dir)).vars).toEqual({});
    await fs.writeFile(path.join(dir, '.env'), 'COMPOSE_PROFILES=ml\n# c\nX="a b"\n');
    expect((await readDotEnv(dir)).vars).toEqual({ COMPOSE_PROFILES: 'ml', X: 'a b' });
  });

  it('a .env that cannot be read is a Compose error naming it and what to do (exit 7), not an internal error', async () => {
    const dir = await tempDir();
    await fs.symlink('.env', path.join(dir, '.env')); // a link to itself: ELOOP
    const err = await readDotEnv(dir).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ECOMPOSE', exitCode: 7 });
    expect((err as Error).message).toContain(path.join(dir, '.env'));
    expect((err as { hint?: string }).hint).toMatch(/Make it readable .* or move it away/);
  });
});
