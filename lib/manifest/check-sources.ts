/**
 * The checks on sources that need more than one field: distinct names, a usable url, the
 * fields that apply to its kind, a pinned oci reference, and where a token may go.
 */
import { show, type Reporter } from './problem-reporter.ts';
import { asArray, asObject, stringAt } from './raw-data.ts';
import { checkS3Endpoint, classifySourceUrl, isLoopbackUrl } from './source-url.ts';

/** a fix of source-url.ts ("use …") as a sentence */
function sentence(fix: string): string {
  return `${fix[0]?.toUpperCase()}${fix.slice(1)}.`;
}

export function checkSources(report: Reporter, root: Record<string, unknown>, dir: string): void {
  const sourceSeen = new Map<string, number>();
  for (const [j, s] of asArray(root.sources).map(asObject).entries()) {
    const name = stringAt(s, 'name');
    if (name !== undefined) {
      const prev = sourceSeen.get(name);
      if (prev === undefined) sourceSeen.set(name, j);
      else {
        report.at(
          ['sources', j, 'name'],
          `duplicate source name ${show(name)} (also at line ${report.lineOf(['sources', prev, 'name'])})`,
          'Give every source a different name (it is what --source picks).',
        );
      }
    }
    const url = stringAt(s, 'url');
    if (url === undefined || url === '') continue;
    const c = classifySourceUrl(url, dir);
    if ('error' in c) {
      report.at(['sources', j, 'url'], `source url: ${c.error}`, sentence(c.fix));
      continue;
    }
    for (const key of ['region', 'endpoint', 'profile'] as const) {
      if (s?.[key] !== undefined && c.kind !== 's3') {
        report.at(['sources', j, key], `${key} is set on a ${c.kind} source; it only applies to s3:// sources`, `Remove ${key} from this source, or make its url s3://bucket/prefix/.`);
      }
    }
    if (s?.insecure !== undefined && c.kind !== 's3' && c.kind !== 'oci') {
      report.at(['sources', j, 'insecure'], `insecure is set on a ${c.kind} source`, 'Remove insecure: it only applies to an s3 endpoint or an oci registry.');
    }
    const endpoint = stringAt(s, 'endpoint');
    if (c.kind === 's3' && endpoint !== undefined) {
      const bad = checkS3Endpoint(endpoint, s?.insecure === true);
      if (bad) report.at(['sources', j, 'endpoint'], `endpoint: ${bad.error}`, sentence(bad.fix));
    }
    if (c.kind === 'oci' && !/[:@][^/]*$/.test(c.base.slice('oci://'.length).replace(/^[^/]*\//, ''))) {
      const unpinned = asArray(root.artifacts)
        .map(asObject)
        .filter((a) => stringAt(a, 'ociRef') === undefined)
        .map((a) => stringAt(a, 'id') ?? '?');
      if (unpinned.length) {
        report.at(
          ['sources', j, 'url'],
          `the oci url names no :tag or @sha256: digest, and ${unpinned.slice(0, 3).join(', ')}${unpinned.length > 3 ? ' …' : ''} ha${unpinned.length === 1 ? 's' : 've'} no ociRef`,
          'Add the tag or digest to the url (oci://registry/repo:v1), or `ociRef: <tag or sha256:…>` to every artifact.',
        );
      }
    }
    const tokenEnv = stringAt(s, 'tokenEnv');
    if (tokenEnv !== undefined && c.kind === 's3') {
      report.at(
        ['sources', j, 'tokenEnv'],
        'tokenEnv is set on an s3 source, which signs requests with AWS credentials instead',
        'Remove tokenEnv; give credentials through the AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, `profile:`, or a role).',
      );
    } else if (tokenEnv !== undefined && c.kind === 'oci') {
      report.at(
        ['sources', j, 'tokenEnv'],
        'tokenEnv is set on an oci source, which logs in like Docker does',
        'Remove tokenEnv; log in with `docker login REGISTRY` (or `oras login`): modelmount reads ~/.docker/config.json and its credential helpers.',
      );
    } else if (tokenEnv !== undefined && c.kind === 'file') {
      report.at(
        ['sources', j, 'tokenEnv'],
        'tokenEnv is set on a file source, which never sends a token',
        'Remove tokenEnv from this source (it only applies to http(s) URLs).',
        true,
      );
    } else if (tokenEnv !== undefined && c.kind === 'http' && c.base.startsWith('http:') && !isLoopbackUrl(new URL(c.base))) {
      report.at(
        ['sources', j, 'url'],
        'tokenEnv is set on a plain http:// URL: the token would cross the network unencrypted',
        'Use https:// for this source, or remove tokenEnv.',
      );
    }
  }
}
