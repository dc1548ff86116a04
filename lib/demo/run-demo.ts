/**
 * The demo, what `npm run demo` runs: the whole job on a built-in artifact set, no external server.
 * Generates the files, serves them on loopback, runs `update` twice (the second
 * run is the no-op every later `npm run models:update` is), then `verify`, then the release story
 * (showReleaseStory: a second model version, `update --apply`, `rollback --apply`).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFixedFolders } from '../disk-folder.ts';
import { UsageError } from '../errors.ts';
import { DEMO_NEXT_ARTIFACT, publishDemoNextVersion, writeDemoOrigin } from './artifacts.ts';
import { startStaticServer } from './static-server.ts';
import { loadManifest } from '../manifest/load.ts';
import { formatBytes } from '../ui/format.ts';
import { ensureDemoBaseImage } from './base-image.ts';
import { findSmokeEngine } from '../smoke/engine.ts';
import { commandFor } from '../invocation.ts';
import { composeArgv, composeCwd } from '../releases/containers.ts';
import { currentSet, readReleaseRecord } from '../releases/record.ts';
import { loadShell } from '../shell.ts';
import type { Manifest } from '../manifest/schema.ts';
import { localRegistryMissing, startLocalRegistry, type LocalRegistry } from './registry.ts';
import { writeRegistryManifest } from './registry-manifest.ts';
import { publishSet } from '../author/publish.ts';
import type { Io } from '../io.ts';
import { doctorInstalled } from '../doctor/doctor-installed.ts';
import { runRollback } from '../releases/run-rollback.ts';
import { updateAndDeploy } from '../update/update-and-deploy.ts';
import { verifyInstalled } from '../update/verify-installed.ts';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEMO_MANIFEST = path.join(PROJECT_ROOT, 'manifests', 'demo.yaml');
export const DEMO_PORT = 47311;
/** The registry story's manifest: the demo set pulled from a local OCI registry into a separate host folder and store. */
export const DEMO_OCI_MANIFEST = path.join(PROJECT_ROOT, '.demo', 'demo-oci.yaml');
/** Where the registry story keeps its registry, host folder and store (relative to DEMO_OCI_MANIFEST's folder in the manifest). */
const DEMO_OCI_STATE = { registry: path.join(PROJECT_ROOT, '.demo', 'registry'), hostDir: 'oci-artifacts', cacheDir: 'oci-cache' };
/** The release story's manifest: a demo-owned, git-ignored copy (manifests/demo.yaml is never edited). Same depth, so its relative paths mean the same. */
export const DEMO_NEXT_MANIFEST = path.join(PROJECT_ROOT, '.demo', 'demo.yaml');

async function listTree(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  const entries = (await fs.readdir(dir, { withFileTypes: true })).filter((e) => !e.name.startsWith('.')).sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(`${prefix}${e.name}/`, ...(await listTree(p, `${prefix}  `)));
    else {
      const st = await fs.stat(p);
      out.push(`${prefix}${e.name}  ${formatBytes(st.size)}  ${(st.mode & 0o777).toString(8)}  links=${st.nlink}`);
    }
  }
  return out;
}

/**
 * The next model update: a second version of one student model is published, the (copied) manifest
 * names it, `update --apply` makes a new release and recreates the running worker on it (smoke-tested),
 * `rollback --apply` returns to the first set from the releases on disk. Without Docker: no worker, no apply.
 */
async function showReleaseStory(o: {
  manifest: Manifest;
  origin: string;
  show: (p: string) => string;
  /** `update --manifest <manifest> --yes` with these post-install options */
  update: (manifest: string, post: { smoke: boolean; apply?: boolean }) => Promise<number>;
  io: Io;
  signal: AbortSignal;
  docker: { command: string[] } | undefined;
  skipped: string | undefined;
}): Promise<number> {
  const { io, show, update, docker } = o;
  const rel = show(DEMO_NEXT_MANIFEST);
  io.stdout.write(`\n▶ The next model update. Your project's manifest, here a demo-owned copy: ${rel} (manifests/demo.yaml stays untouched)\n`);
  await fs.writeFile(DEMO_NEXT_MANIFEST, await fs.readFile(DEMO_MANIFEST, 'utf8'));
  io.stdout.write(`▶ ${commandFor('update', `--manifest ${rel} --yes --no-smoke`)}   (same models: records the release set in use, downloads nothing)\n`);
  const recorded = await update(DEMO_NEXT_MANIFEST, { smoke: false });
  if (recorded !== 0) return recorded;
  const manifest = await loadManifest(DEMO_NEXT_MANIFEST, { env: io.env, signal: o.signal });
  const first = currentSet(await readReleaseRecord(manifest.hostDir, manifest.path))!.digest;
  const sh = docker ? (await loadShell())({ quiet: true, nothrow: true, env: io.env, cwd: io.cwd }) : undefined;
  const composeCmd = (args: string[]) => sh!({ cwd: composeCwd(manifest) })`${[...composeArgv(manifest, docker!), ...args]}`;
  try {
    if (sh) {
      io.stdout.write(`\n▶ Starting the worker on release set ${first.slice(0, 12)} (compose up -d ml-worker)\n`);
      const up = await composeCmd(['up', '-d', ...manifest.compose!.services]);
      if (up.exitCode !== 0) io.stdout.write(`  (could not start it: ${(up.stderr || up.stdout).trim().split('\n').slice(-1)[0]})\n`);
    } else io.stdout.write(`\n▶ (no worker started and no --apply: ${o.skipped})\n`);

    const changed = await publishDemoNextVersion(o.origin);
    let text = await fs.readFile(DEMO_NEXT_MANIFEST, 'utf8');
    for (const c of changed) text = text.replace(c.from, c.to);
    await fs.writeFile(`${DEMO_NEXT_MANIFEST}.partial`, text);
    await fs.rename(`${DEMO_NEXT_MANIFEST}.partial`, DEMO_NEXT_MANIFEST);
    io.stdout.write(`\n▶ Version 2 of ${DEMO_NEXT_ARTIFACT} is published on the demo server (${changed.map((c) => c.path).join(', ')} changed); ${rel} names the new sha256s.\n`);
    io.stdout.write('  The update builds a complete new release folder beside the old one; running containers keep the release they started with.\n');
    io.stdout.write(`▶ ${commandFor('update', `--manifest ${rel} --yes ${docker ? '--apply' : '--no-smoke'}`)}\n`);
    const updated = await update(DEMO_NEXT_MANIFEST, docker ? { smoke: true, apply: true } : { smoke: false });
    if (updated !== 0) return updated;

    io.stdout.write(`\n▶ Rolling back to release set ${first.slice(0, 12)}: from the releases on disk, no network\n`);
    io.stdout.write(`▶ ${commandFor('rollback', `--manifest ${rel} ${docker ? '--apply' : '--no-smoke'}`)}\n`);
    return await runRollback({ manifest: DEMO_NEXT_MANIFEST, ...(docker ? { apply: true } : { smoke: false }) }, io, o.signal);
  } finally {
    if (sh) {
      io.stdout.write(`\n▶ Stopping the demo worker (compose down)\n`);
      await composeCmd(['down']);
    }
  }
}

/**
 * The same models from an OCI registry, when Debian's docker-registry is installed: `publish` pushes
 * the verified set from the store, a manifest whose only source is the registry (pinned by digest)
 * installs it into a separate host folder and store, and `verify --full` proves the bytes are the same.
 */
async function showRegistryStory(o: {
  show: (p: string) => string;
  update: (manifest: string, post: { smoke: boolean; apply?: boolean }) => Promise<number>;
  io: Io;
  signal: AbortSignal;
}): Promise<number> {
  const { io, show } = o;
  io.stdout.write('\n▶ The same models from an OCI registry (a local docker-registry on loopback)\n');
  const missing = localRegistryMissing(io.env);
  if (missing) {
    io.stdout.write(`  (skipped: ${missing})\n`);
    return 0;
  }
  let registry: LocalRegistry;
  try {
    registry = await startLocalRegistry(DEMO_OCI_STATE.registry, io.env, o.signal);
  } catch (err) {
    if (o.signal.aborted) throw err;
    // an optional step: the demo's own job is done, so say why it is skipped instead of failing
    io.stdout.write(`  (skipped: ${(err as Error).message})\n`);
    return 0;
  }
  try {
    const target = `oci://${registry.host}/demo/models:v1`;
    io.stdout.write(`▶ ${commandFor('publish', `${target} --manifest manifests/demo.yaml`)}\n`);
    const { pinned } = await publishSet({ manifest: DEMO_MANIFEST, args: [target] }, io, o.signal);
    await writeRegistryManifest({ from: DEMO_MANIFEST, to: DEMO_OCI_MANIFEST, pinned, hostDir: DEMO_OCI_STATE.hostDir, cacheDir: DEMO_OCI_STATE.cacheDir });
    const rel = show(DEMO_OCI_MANIFEST);
    io.stdout.write(`\n▶ ${rel}: the demo manifest with one source, ${pinned}, and its own host folder and store\n`);
    io.stdout.write(`▶ ${commandFor('update', `--manifest ${rel} --yes`)}\n`);
    const pulled = await o.update(DEMO_OCI_MANIFEST, { smoke: true });
    if (pulled !== 0) return pulled;
    io.stdout.write(`\n▶ ${commandFor('verify', `--manifest ${rel} --full`)}\n`);
    return await verifyInstalled({ manifest: DEMO_OCI_MANIFEST, full: true }, io, o.signal);
  } finally {
    await registry.stop();
  }
}

/**
 * Run `work` with the demo's folders fixed (lib/disk-folder.ts setFixedFolders): the demo command
 * has no --host-dir / --cache-dir and works only in its own folders in the clone, so a stall or disk
 * hint says that a clone elsewhere moves them.
 */
export async function inDemoFolders<T>(work: () => Promise<T>): Promise<T> {
  setFixedFolders(`running the demo from a clone of the repository there: the demo works only in its own folders, under ${PROJECT_ROOT}`);
  try {
    return await work();
  } finally {
    setFixedFolders(undefined);
  }
}

/** Returns the exit status of the first step that failed, else the last one's. */
export async function runDemo(io: Io, signal: AbortSignal): Promise<number> {
  return inDemoFolders(() => runDemoSteps(io, signal));
}

async function runDemoSteps(io: Io, signal: AbortSignal): Promise<number> {
  if (!(await fs.stat(DEMO_MANIFEST).catch(() => undefined))) {
    throw new UsageError('The demo ships with the modelmount repository, not with the installed package.', {
      hint: 'Run it from a clone of the repository: `npm ci && npm run demo`. In your own project, start with `npx modelmount init`.',
    });
  }
  const manifest = await loadManifest(DEMO_MANIFEST, { env: io.env, signal });
  const origin = path.join(PROJECT_ROOT, '.demo', 'origin');
  // every run starts from the outage: no models on the host, no override, an empty store (all demo-owned, git-ignored)
  const show = (p: string) => path.relative(io.cwd, p) || p;
  const demoState = [manifest.hostDir, manifest.compose!.override, manifest.cacheDir!, DEMO_NEXT_MANIFEST, DEMO_OCI_MANIFEST, DEMO_OCI_STATE.registry, ...[DEMO_OCI_STATE.hostDir, DEMO_OCI_STATE.cacheDir].map((d) => path.join(path.dirname(DEMO_OCI_MANIFEST), d))];
  io.stdout.write(`▶ Starting from the outage state: removing ${demoState.map(show).join(', ')}\n`);
  for (const p of demoState) await fs.rm(p, { recursive: true, force: true });
  io.stdout.write(`▶ Generating the demo artifact set in ${show(origin)}\n`);
  const digests = await writeDemoOrigin(origin);
  for (const a of manifest.artifacts) {
    for (const f of a.files) {
      if (digests.get(`${a.id}/${f.path}`) !== f.sha256) {
        throw new UsageError(`manifests/demo.yaml does not match the generated demo file ${a.id}/${f.path}.`, {
          hint: 'Restore manifests/demo.yaml from git (git checkout manifests/demo.yaml).',
        });
      }
    }
  }
  let server;
  try {
    server = await startStaticServer(origin, DEMO_PORT);
  } catch (err) {
    throw new UsageError(`Cannot start the demo server on 127.0.0.1:${DEMO_PORT} (${(err as NodeJS.ErrnoException).code}).`, {
      hint: `Another demo may still be running: stop it and run \`${commandFor('demo')}\` again.`,
    });
  }
  try {
    // each step is what `modelmount <command> --manifest <manifest> …` runs, as the lines printed before it say
    const update = (m: string, post: { smoke: boolean; apply?: boolean }) => updateAndDeploy({ manifest: m, yes: true, compose: true, ...post }, io, signal);
    const docker = await findSmokeEngine({ env: io.env, cwd: io.cwd });
    const imageProblem = docker.engine ? await ensureDemoBaseImage() : docker.reason;
    io.stdout.write(`▶ Serving it at ${server.url}\n`);

    io.stdout.write('\n▶ The outage, reproduced: demo/.dockerignore keeps the models out of the image and nothing mounts them.\n');
    io.stdout.write(`▶ ${commandFor('doctor', '--manifest manifests/demo.yaml')}\n`);
    const before = await doctorInstalled({ manifest: DEMO_MANIFEST }, io, signal);
    io.stdout.write(`  (doctor exit status ${before}: the container would die with "RuntimeError: At least one model (JA or EN) must be loaded")\n`);

    io.stdout.write(`\n▶ ${commandFor('update', `--manifest manifests/demo.yaml --yes${imageProblem ? ' --no-smoke' : ''}`)}\n`);
    if (imageProblem) io.stdout.write(`  (smoke test skipped: ${imageProblem})\n`);
    const first = await update(DEMO_MANIFEST, { smoke: !imageProblem });
    if (first !== 0) return first;
    io.stdout.write(`\n▶ The host folder (${path.relative(io.cwd, manifest.hostDir) || manifest.hostDir}), bind-mounted read-only:\n`);
    io.stdout.write(`${(await listTree(manifest.hostDir)).map((l) => `  ${l}`).join('\n')}\n`);

    io.stdout.write('\n▶ Again: a second update on an installed host is a no-op\n');
    const requestsBefore = server.requests;
    const second = await update(DEMO_MANIFEST, { smoke: false });
    io.stdout.write(`  (${server.requests - requestsBefore} HTTP requests)\n`);
    if (second !== 0) return second;

    io.stdout.write(`\n▶ ${commandFor('doctor', '--manifest manifests/demo.yaml')}\n`);
    const after = await doctorInstalled({ manifest: DEMO_MANIFEST }, io, signal);
    if (after !== 0) return after;
    io.stdout.write(`\n▶ ${commandFor('verify', '--manifest manifests/demo.yaml --full')}\n`);
    const verified = await verifyInstalled({ manifest: DEMO_MANIFEST, full: true }, io, signal);
    if (verified !== 0) return verified;
    const released = await showReleaseStory({ manifest, origin, show, update, io, signal, docker: imageProblem ? undefined : docker.engine, skipped: imageProblem });
    if (released !== 0) return released;
    return await showRegistryStory({ show, update, io, signal });
  } finally {
    await server.close();
  }
}
