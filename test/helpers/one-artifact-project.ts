/** A project of one small artifact from a local folder source, with a Compose file and a service: for CLI runs up to compose and doctor. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { manifestYaml, tempDir, tempProject, writeSourceTree, type TestArtifact } from './cli.ts';

const ART: TestArtifact[] = [{ id: 'student/v0_ja', env: 'STUDENT_JA_DIR', files: [{ path: 'model.bin', data: Buffer.from('weights\n') }] }];
const COMPOSE = ['compose:', '  files: [compose.yaml]', '  services: [worker]', '  override: compose.models.yaml', '  containerDir: /app/models'].join('\n');

export async function oneArtifactProject(): Promise<Awaited<ReturnType<typeof tempProject>>> {
  const src = await tempDir();
  await writeSourceTree(src, ART);
  const p = await tempProject(manifestYaml({ artifacts: ART, sources: [{ name: 'folder', url: src }], extra: COMPOSE }));
  await fs.writeFile(path.join(p.dir, 'compose.yaml'), 'services:\n  worker:\n    image: busybox\n');
  return p;
}
