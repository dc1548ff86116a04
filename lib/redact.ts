/**
 * Make URLs and free text safe for logs, errors and --json output: no password,
 * no query string (presigned signatures, SAS tokens), no fragment, no bearer token.
 * Every message that names a URL goes through here.
 */

export const REDACTED = '<redacted>';

/**
 * A URL with scheme, as it appears in free text. It stops only at whitespace, quotes and
 * angle brackets: better to swallow a closing bracket than to leave a query string behind.
 */
const URL_IN_TEXT_RE = /\b[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^\s"'<>`]+/g;
/** `Bearer xyz` credentials and `Authorization: …` header lines as found in dumped requests. */
const BEARER_RE = /\b(Bearer)\s+[A-Za-z0-9._~+/=-]{6,}/gi;
const AUTH_HEADER_RE = /\b((?:proxy-)?authorization)(["']?\s*[:=]\s*["']?)[^"'\r\n,}]+/gi;

/**
 * `https://user:pw@host:8443/a/b?sig=x#frag` → `https://host:8443/a/b?<redacted>`.
 * Userinfo is dropped; query and fragment become one `?<redacted>` marker.
 * Input that does not parse as a URL is cleaned with the same rules textually.
 */
export function redactUrl(url: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed && parsed.host !== '' && parsed.protocol !== 'file:') {
    const hidden = parsed.search !== '' || parsed.hash !== '' || /[?#]/.test(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}${hidden ? `?${REDACTED}` : ''}`;
  }
  // Not a URL we can parse (or no host): textual fallback.
  let out = url.replace(/^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)[^/?#]*@/, '$1');
  const cut = out.search(/[?#]/);
  if (cut !== -1) out = `${out.slice(0, cut)}?${REDACTED}`;
  return out;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Redact free text (an error message from a library, a server's reason phrase):
 * every listed secret (also in its percent-encoded form) becomes `<redacted>`,
 * every URL loses userinfo/query/fragment, and `Bearer …` credentials are hidden.
 */
export function redactText(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = text.replace(URL_IN_TEXT_RE, (match) => {
    // Trailing punctuation usually ends the sentence, not the URL.
    const trail = /[.,;:!)\]}]+$/.exec(match)?.[0] ?? '';
    const core = trail ? match.slice(0, -trail.length) : match;
    return redactUrl(core) + trail;
  });
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (!secret) continue;
    forms.add(secret);
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret) forms.add(encoded);
  }
  // Longest first, so a secret that contains another is replaced whole.
  for (const form of [...forms].sort((a, b) => b.length - a.length)) {
    out = out.replace(new RegExp(escapeRegExp(form), 'g'), REDACTED);
  }
  out = out.replace(AUTH_HEADER_RE, (_m, name: string, sep: string) => `${name}${sep}${REDACTED}`);
  out = out.replace(BEARER_RE, (_m, scheme: string) => `${scheme} ${REDACTED}`);
  return out;
}
