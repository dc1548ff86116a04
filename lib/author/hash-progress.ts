/** Hash an artifact folder's files with a progress line on stderr (manifest add, init). */
import { Listr, ListrLogger, ProcessOutput } from 'listr2';
import type { Io } from '../io.ts';
import { hashArtifactFiles, type HashProgress } from '../verify/hash-artifact-files.ts';
import { type scanArtifactFolder } from '../manifest/scan-artifact-folder.ts';
import type { FileEntry } from '../manifest/schema.ts';
import { formatBytes } from '../ui/format.ts';
import { pickRenderer } from '../ui/renderer.ts';

export async function hashWithProgress(
  files: Awaited<ReturnType<typeof scanArtifactFolder>>,
  folder: string,
  io: Io,
  opts: { jobs: number; json: boolean; signal: AbortSignal },
): Promise<FileEntry[]> {
  const renderer = pickRenderer({ json: opts.json, isTTY: io.isTTY, stderrIsTTY: io.stderrIsTTY, env: io.env });
  const total = files.reduce((s, f) => s + f.size, 0);
  const processOutput = new ProcessOutput(io.stderr as NodeJS.WriteStream, io.stderr as NodeJS.WriteStream);
  let result: FileEntry[] = [];
  const interval = renderer === 'default' ? 100 : 10_000;
  const list = new Listr(
    [
      {
        title: `Hash ${files.length} file${files.length === 1 ? '' : 's'} (${formatBytes(total)}) in ${folder}`,
        task: async (_ctx: unknown, task) => {
          let last = 0;
          const show = (p: HashProgress, force = false) => {
            const now = Date.now();
            if (!force && now - last < interval) return;
            last = now;
            task.output = `${p.files}/${p.totalFiles} files, ${formatBytes(p.bytes)}/${formatBytes(p.totalBytes)}`;
          };
          result = await hashArtifactFiles(files, { jobs: opts.jobs, signal: opts.signal, onProgress: (p) => show(p, p.files === p.totalFiles) });
          task.title = `Hashed ${files.length} file${files.length === 1 ? '' : 's'} (${formatBytes(total)}) in ${folder}`;
        },
      },
    ],
    {
      renderer,
      fallbackRenderer: 'simple',
      registerSignalListeners: false,
      exitOnError: true,
      rendererOptions: { logger: new ListrLogger({ processOutput }) },
      fallbackRendererOptions: { logger: new ListrLogger({ processOutput }) },
    } as never,
  );
  await list.run();
  return result;
}
