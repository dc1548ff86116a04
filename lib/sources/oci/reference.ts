/** What an `oci://registry/repository[:tag|@digest]` source names. */
export interface OciReference {
  /** host[:port], lowercase */
  registry: string;
  repository: string;
  /** tag or sha256:digest, when the url names one */
  ref?: string;
}

/** `oci://registry/repo[:tag|@sha256:…]` (as classified by the manifest loader). */
export function parseOciReference(base: string): OciReference {
  const m = /^oci:\/\/([^/]+)\/([^:@]+)(?::([^@]+))?(?:@(sha256:[0-9a-f]{64}))?$/.exec(base);
  if (!m) throw new Error(`internal: not an oci reference ${base}`);
  const ref = m[4] ?? m[3];
  return { registry: m[1] as string, repository: m[2] as string, ...(ref ? { ref } : {}) };
}

export function formatReference(r: OciReference, ref = r.ref): string {
  return `oci://${r.registry}/${r.repository}${ref ? (ref.startsWith('sha256:') ? `@${ref}` : `:${ref}`) : ''}`;
}
