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

/**
 * model.safetensors files get a real safetensors header (8-byte little-endian
 * length + JSON) and config.json a real config, so the demo worker's load check
 * reads them like the real one would; everything else is AES-CTR noise.
 */
export function demoBytes(file: Pick<DemoFile, 'artifactId' | 'path' | 'size'>): Buffer {
  const key = createHash('sha256').update(`modelmount-demo:${file.artifactId}/${file.path}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const bytes = Buffer.concat([cipher.update(Buffer.alloc(file.size)), cipher.final()]);
  if (file.path.endsWith('.safetensors')) {
    const header = Buffer.from(JSON.stringify({ __metadata__: { format: 'pt', source: 'modelmount-demo', artifact: file.artifactId } }).padEnd(120, ' '));
    bytes.writeBigUInt64LE(BigInt(header.length), 0);
    header.copy(bytes, 8);
  } else if (file.path === 'config.json') {
    const cfg = `${JSON.stringify({ model_type: 'demo-student', artifact: file.artifactId }, null, 2)}\n`.padEnd(file.size - 1, ' ');
    Buffer.from(`${cfg}\n`).copy(bytes, 0);
  }
  return bytes;
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

/** The demo's "next model update": a second version of student/v0_ja (same paths and sizes, new bytes). */
export const DEMO_NEXT_ARTIFACT = 'student/v0_ja';

/**
 * Publish the second version of DEMO_NEXT_ARTIFACT under `root` (its model.safetensors and
 * config.json replaced, deterministic bytes); returns the old and new sha256 of each replaced file.
 */
export async function publishDemoNextVersion(root: string): Promise<{ path: string; from: string; to: string }[]> {
  const changed = [];
  for (const f of DEMO_FILES.filter((d) => d.artifactId === DEMO_NEXT_ARTIFACT && d.path !== 'tokenizer/vocab.txt')) {
    const from = createHash('sha256').update(demoBytes(f)).digest('hex');
    const bytes = demoBytes({ ...f, artifactId: `${f.artifactId}@2` });
    const target = path.join(root, ...f.artifactId.split('/'), ...f.path.split('/'));
    await fs.writeFile(`${target}.partial`, bytes);
    await fs.rename(`${target}.partial`, target);
    changed.push({ path: f.path, from, to: createHash('sha256').update(bytes).digest('hex') });
  }
  return changed;
}
