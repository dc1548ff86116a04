/**
 * Parse the output of `compose config` into the mounts, environment, networks and build of each service.
 *
 * Output formats (both handled by parseComposeConfig):
 *   - v1 (docker-compose 1.29, checked here): short-syntax entries are printed
 *     as `/abs/src:/dst:rw` / `:ro,z` (mode always present for binds), named
 *     volumes `cache:/app/cache:rw`, anonymous `/app/tmp`; long-syntax entries
 *     are kept as written (`read_only: true`, `source`, `target`, `type`);
 *     environment always a map (`VAR: null` for a variable without value);
 *     a top-level `version: '3.9'` is added.
 *   - v2+ (compose-go): every volume in long syntax (`type`, `source`,
 *     `target`, `read_only: true`, `bind: {create_host_path: true}` for former
 *     short syntax — `bind: {}` since v5), environment a map, `networks:
 *     {default: null}` added to services without networks, top-level `name:`.
 * A `$` in a value is printed re-escaped as `$$` (v1's long syntax, environment and build; v2
 * 2.26): those values are unescaped here. v1 prints short-syntax volumes interpolated, as `$`.
 */
import { parse as parseYaml } from 'yaml';
import { ComposeError } from '../errors.ts';
import { serviceNetworks, servicesSection } from './services.ts';

export interface MergedMount {
  /** 'bind' | 'volume' | 'tmpfs' | 'npipe' | … */
  type: string;
  /** host path for binds, volume name for volumes, '' for anonymous volumes and tmpfs */
  source: string;
  target: string;
  readOnly: boolean;
}

export interface MergedService {
  mounts: MergedMount[];
  environment: Record<string, string>;
  networkMode?: string;
  /** the service lists networks (v2 adds `default` to every service that has none) */
  hasNetworks: boolean;
  networks: string[];
  /** absolute build context, when the service builds its image */
  buildContext?: string;
  dockerfile?: string;
}

export type MergedConfig = Map<string, MergedService>;

/** Remove trailing slashes (but keep "/"). */
export function cleanContainerPath(p: string): string {
  const s = p.replace(/\/+$/, '');
  return s === '' ? '/' : s;
}

/** A value as Compose uses it: `$$` in `config` output stands for `$`. */
function unescapeInterpolation(s: string): string {
  return s.replaceAll('$$', '$');
}

function isHostPathLike(s: string): boolean {
  return s.startsWith('/') || s.startsWith('.') || s.startsWith('~') || /^[A-Za-z]:[\\/]/.test(s) || s.startsWith('\\\\');
}

/** Parse one short-syntax entry: `src:dst[:mode]`, `name:dst`, `dst`. Windows drive letters in src are kept together. */
export function parseShortVolume(spec: string): MergedMount {
  let rest = spec;
  let source = '';
  const drive = /^[A-Za-z]:[\\/]/.exec(rest);
  const parts: string[] = [];
  if (drive) {
    const idx = rest.indexOf(':', 2);
    if (idx === -1) return { type: 'volume', source: '', target: rest, readOnly: false };
    source = rest.slice(0, idx);
    rest = rest.slice(idx + 1);
    parts.push(source, ...rest.split(':'));
  } else {
    parts.push(...rest.split(':'));
  }
  if (parts.length === 1) return { type: 'volume', source: '', target: parts[0] ?? '', readOnly: false };
  source = parts[0] ?? '';
  const target = parts[1] ?? '';
  const mode = parts.slice(2).join(':');
  const flags = mode.split(',').map((f) => f.trim());
  return {
    type: isHostPathLike(source) ? 'bind' : 'volume',
    source,
    target,
    readOnly: flags.includes('ro'),
  };
}

function truthy(v: unknown): boolean {
  return v === true || v === 'true' || v === 'True' || v === 1;
}

function parseLongVolume(v: Record<string, unknown>): MergedMount {
  const type = typeof v.type === 'string' ? v.type : 'volume';
  return {
    type,
    source: typeof v.source === 'string' ? unescapeInterpolation(v.source) : '',
    target: typeof v.target === 'string' ? unescapeInterpolation(v.target) : '',
    readOnly: truthy(v.read_only),
  };
}

function parseEnvironment(env: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(env)) {
    for (const item of env) {
      if (typeof item !== 'string') continue;
      const eq = item.indexOf('=');
      if (eq === -1) continue; // `VAR` without value: taken from the shell, unknown here
      out[item.slice(0, eq)] = unescapeInterpolation(item.slice(eq + 1));
    }
  } else if (env && typeof env === 'object') {
    for (const [k, v] of Object.entries(env as Record<string, unknown>)) {
      if (v === null || v === undefined) continue;
      out[k] = typeof v === 'string' ? unescapeInterpolation(v) : String(v);
    }
  }
  return out;
}

/** Parse `config` output (YAML or JSON, v1 or v2) into what modelmount checks. */
export function parseComposeConfig(text: string): MergedConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: false });
  } catch (err) {
    throw new ComposeError('Could not read the output of `compose config` as YAML.', { code: 'ECOMPOSE_CONFIG', cause: err });
  }
  const result: MergedConfig = new Map();
  for (const [name, raw] of Object.entries(servicesSection(doc))) {
    const svc = (raw ?? {}) as Record<string, unknown>;
    const mounts: MergedMount[] = [];
    if (Array.isArray(svc.volumes)) {
      for (const v of svc.volumes) {
        if (typeof v === 'string') mounts.push(parseShortVolume(v));
        else if (v && typeof v === 'object') mounts.push(parseLongVolume(v as Record<string, unknown>));
      }
    }
    const networks = serviceNetworks(svc);
    const entry: MergedService = {
      mounts,
      environment: parseEnvironment(svc.environment),
      hasNetworks: networks.length > 0,
      networks,
    };
    if (typeof svc.network_mode === 'string') entry.networkMode = svc.network_mode;
    const build = svc.build;
    if (typeof build === 'string') entry.buildContext = unescapeInterpolation(build);
    else if (build && typeof build === 'object') {
      const b = build as Record<string, unknown>;
      if (typeof b.context === 'string') entry.buildContext = unescapeInterpolation(b.context);
      if (typeof b.dockerfile === 'string') entry.dockerfile = unescapeInterpolation(b.dockerfile);
    }
    result.set(name, entry);
  }
  return result;
}
