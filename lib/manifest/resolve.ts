/**
 * A manifest that passed every check, resolved: paths absolute (against the manifest's own
 * folder), sources classified, and its digest.
 */
import path from 'node:path';
import { manifestDigest } from './digest.ts';
import type { ComposeSettings, Manifest, RawManifest, ResolvedSource } from './schema.ts';
import { classifySourceUrl } from './source-url.ts';

export function resolveManifest(m: RawManifest, absFile: string, dir: string): Manifest {
  const withRef = m.artifacts.filter((a) => a.ociRef !== undefined);
  const ociRefs = withRef.length ? Object.fromEntries(withRef.map((a) => [a.id, a.ociRef as string])) : undefined;
  const sources: ResolvedSource[] = m.sources.map((s) => {
    const c = classifySourceUrl(s.url, dir);
    if (!('kind' in c)) throw new Error(`internal: unchecked source url ${s.url}`);
    return {
      name: s.name,
      kind: c.kind,
      base: c.base,
      ...(s.tokenEnv === undefined ? {} : { tokenEnv: s.tokenEnv }),
      ...(s.region === undefined ? {} : { region: s.region }),
      ...(s.endpoint === undefined ? {} : { endpoint: s.endpoint }),
      ...(s.profile === undefined ? {} : { profile: s.profile }),
      ...(s.insecure === undefined ? {} : { insecure: s.insecure }),
      ...(c.kind === 'oci' && ociRefs ? { ociRefs } : {}),
    };
  });
  let compose: ComposeSettings | undefined;
  if (m.compose) {
    const files = m.compose.files.map((f) => path.resolve(dir, f));
    compose = {
      files,
      services: [...m.compose.services],
      override: path.resolve(dir, m.compose.override),
      containerDir: m.compose.containerDir,
      context: m.compose.context === undefined ? path.dirname(files[0] as string) : path.resolve(dir, m.compose.context),
    };
  }
  const manifest: Manifest = {
    path: absFile,
    dir,
    digest: '',
    version: 1,
    hostDir: path.resolve(dir, m.hostDir),
    ...(m.cacheDir === undefined ? {} : { cacheDir: path.resolve(dir, m.cacheDir) }),
    ...(m.jobs === undefined ? {} : { jobs: m.jobs }),
    ...(m.keepReleases === undefined ? {} : { keepReleases: m.keepReleases }),
    sources,
    require: m.require,
    artifacts: m.artifacts,
    ...(compose ? { compose } : {}),
    ...(m.smoke ? { smoke: m.smoke } : {}),
  };
  manifest.digest = manifestDigest(manifest);
  return manifest;
}
