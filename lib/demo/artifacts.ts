/**
 * The demo's artifact set: deterministic pseudo-random bytes (AES-256-CTR of
 * zeros under a fixed key), so manifests/demo.yaml can carry real sha256s and
 * nothing large is committed.
 */
import { createCipheriv, createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

export interface DemoFile {
  artifactId: string;
  path: string;
  size: number;
}

export const DEMO_FILES: DemoFile[] = [
  { artifactId: 'student/v0_ja', path: 'model.safetensors', size: 24 * 1024 * 1024 },
  { artifactId: 'student/v0_ja', path: 'config.json', size: 2048 },
  { artifactId: 'student/v0_ja', path: 'tokenizer/vocab.txt', size: 256 * 1024 },
  { artifactId: 'student/v0_en', path: 'model.safetensors', size: 20 * 1024 * 1024 },
  { artifactId: 'student/v0_en', path: 'config.json', size: 2048 },
  { artifactId: 'teacher/v0', path: 'model.safetensors', size: 48 * 1024 * 1024 },
];

export function demoBytes(file: Pick<DemoFile, 'artifactId' | 'path' | 'size'>): Buffer {
  const key = createHash('sha256').update(`modelmount-demo:${file.artifactId}/${file.path}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(file.size)), cipher.final()]);
}

/** Write the demo files under `root` (skipping ones already right), return their digests. */
export async function writeDemoOrigin(root: string): Promise<Map<string, string>> {
  const digests = new Map<string, string>();
  for (const f of DEMO_FILES) {
    const bytes = demoBytes(f);
    const sha = createHash('sha256').update(bytes).digest('hex');
    digests.set(`${f.artifactId}/${f.path}`, sha);
    const target = path.join(root, ...f.artifactId.split('/'), ...f.path.split('/'));
    const existing = await fs.readFile(target).catch(() => undefined);
    if (existing && existing.equals(bytes)) continue;
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.writeFile(target, bytes);
  }
  return digests;
}
