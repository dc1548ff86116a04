/**
 * The layering of lib/ (DESIGN.md): a module imports only from its own layer or below.
 * Reads every import of every module under lib/ and checks it against the order written once
 * in LAYERS. Any import against the layering fails this test; so does a command importing another.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Top to bottom. An entry ending in "/" is a folder of lib/, else one file; the most specific
 * entry wins, and anything not named is a small utility (the bottom layer).
 * DESIGN.md's "compose, store, sources, ui" layer is ordered inside: the terminal UI and Compose
 * above the store (the store formats nothing: lib/format.ts), the store above the sources it reads.
 */
const LAYERS: { name: string; members: string[] }[] = [
  { name: 'commands (flags → service → output)', members: ['commands/'] },
  { name: 'cli: flag parsing and the run loop the commands plug into', members: ['cli/'] },
  // run-context.ts: the manifest, folders and output every service starts from (built from typed options)
  { name: 'services', members: ['run-context.ts', 'update/', 'author/', 'gc/', 'status/', 'doctor/', 'smoke/', 'bootstrap/', 'demo/', 'fleet/', 'releases/'] },
  { name: 'ui, compose', members: ['ui/', 'compose/'] },
  { name: 'store, plan', members: ['store/', 'plan.ts', 'install-record.ts'] },
  { name: 'sources', members: ['sources/'] },
  { name: 'manifest, verify', members: ['manifest/', 'verify/'] },
  { name: 'small utilities', members: [''] },
];

function layerOf(rel: string): number {
  let best = -1;
  let bestLen = -1;
  for (const [i, l] of LAYERS.entries()) {
    for (const m of l.members) {
      const hit = m === '' || (m.endsWith('/') ? rel.startsWith(m) : rel === m);
      if (hit && m.length > bestLen) {
        best = i;
        bestLen = m.length;
      }
    }
  }
  return best;
}

function modulesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return modulesUnder(p);
    return /\.(ts|mts|mjs|js)$/.test(e.name) ? [p] : [];
  });
}

/** "from -> to" for every relative import (static, `export … from`, dynamic) of a module in lib/ */
function importEdges(): string[] {
  const lib = path.join(ROOT, 'lib');
  const edges: string[] = [];
  for (const file of modulesUnder(lib)) {
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)) {
      const target = path.resolve(path.dirname(file), m[1]!);
      if (!target.startsWith(lib + path.sep)) continue;
      edges.push(`${path.relative(lib, file).split(path.sep).join('/')} -> ${path.relative(lib, target).split(path.sep).join('/')}`);
    }
  }
  return [...new Set(edges)].sort();
}

function upwardImports(edges: string[]): string[] {
  return edges.filter((e) => {
    const [from, to] = e.split(' -> ') as [string, string];
    return layerOf(to) < layerOf(from);
  });
}

/** Commands are adapters (flags → service → output): one command does not import another; what they share is a service. */
function commandToCommand(edges: string[]): string[] {
  const isCommand = (p: string) => /^commands\/[^/]+-command\.ts$/.test(p);
  return edges.filter((e) => {
    const [from, to] = e.split(' -> ') as [string, string];
    return isCommand(from) && isCommand(to) && from !== to;
  });
}

/**
 * "a <-> b" for two folders of lib/ (top level) in one layer that import each other. Across layers
 * one of the two directions is an upward import, reported above; so, together, no two folders
 * import each other both ways.
 */
function foldersImportingEachOther(edges: string[]): string[] {
  const folderOf = (p: string) => (p.includes('/') ? p.slice(0, p.indexOf('/')) : undefined);
  const pairs = new Set<string>();
  for (const e of edges) {
    const [from, to] = e.split(' -> ') as [string, string];
    const [a, b] = [folderOf(from), folderOf(to)];
    if (a !== undefined && b !== undefined && a !== b && layerOf(from) === layerOf(to)) pairs.add(`${a} -> ${b}`);
  }
  return [...pairs]
    .map((p) => p.split(' -> ') as [string, string])
    .filter(([a, b]) => a < b && pairs.has(`${b} -> ${a}`))
    .map(([a, b]) => `${a} <-> ${b}`);
}

describe('layers of lib/', () => {
  const edges = importEdges();

  it('reads the import graph (the check is not vacuous)', () => {
    expect(edges.length).toBeGreaterThan(200);
    expect(edges).toContain('commands/update-command.ts -> update/update-and-deploy.ts');
    expect(layerOf('commands/gc-command.ts')).toBe(0);
    expect(layerOf('update/run-update.ts')).toBe(2);
    expect(layerOf('run-context.ts')).toBe(2);
    expect(layerOf('cli/run-cli.ts')).toBe(1);
    expect(layerOf('store/fetch-blob.ts')).toBeGreaterThan(layerOf('ui/format.ts'));
    expect(layerOf('errors.ts')).toBe(LAYERS.length - 1);
    // an import against the layering is found
    expect(layerOf('fleet/swarm/job.ts')).toBe(2);
    expect(upwardImports(['store/space.ts -> ui/format.ts', 'ui/renderer.ts -> commands/context.ts', 'cli/run-cli.ts -> commands/context.ts'])).toHaveLength(3);
  });

  it('no module imports from a layer above its own', () => {
    expect(upwardImports(edges)).toEqual([]);
  });

  it('no two folders of one layer import each other', () => {
    expect(foldersImportingEachOther(['manifest/author.ts -> verify/hash.ts', 'verify/verify-files.ts -> manifest/schema.ts'])).toEqual(['manifest <-> verify']);
    expect(foldersImportingEachOther(edges)).toEqual([]);
  });

  it('no command imports another command', () => {
    expect(commandToCommand(edges)).toEqual([]);
    expect(commandToCommand(['commands/init-command.ts -> commands/manifest-command.ts'])).toHaveLength(1);
  });
});
