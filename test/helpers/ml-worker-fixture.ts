/**
 * The ml-worker e2e fixture: the demo's worker project (demo/: Dockerfile,
 * .dockerignore, the app's load check) with the fixture's own compose.yaml
 * (image names from the environment), manifest.yaml and tiny source models.
 * One copy of the worker, shared by the demo and the tests.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEMO_PROJECT = path.join(ROOT, 'demo');
export const FIXTURE_OVERLAY = path.join(ROOT, 'test', 'fixtures', 'ml-worker');

/** Copy the fixture project into `dest` (no installed models, no override). */
export async function copyFixture(dest: string): Promise<string> {
  const skip = (root: string) => (src: string) =>
    !src.startsWith(path.join(root, 'learning_machine', 'artifacts')) && path.basename(src) !== 'compose.models.yaml' && path.basename(src) !== 'compose.yaml';
  await fs.cp(DEMO_PROJECT, dest, { recursive: true, filter: skip(DEMO_PROJECT) });
  await fs.cp(FIXTURE_OVERLAY, dest, { recursive: true, filter: (src) => src === FIXTURE_OVERLAY || skip(FIXTURE_OVERLAY)(src) || path.basename(src) === 'compose.yaml' });
  return dest;
}
