// The Hugging Face Hub as a place to download model files from: its address, the access token
// that gated models (Gemma, Llama) need, and what its 401 and 403 answers mean.
//
// The token is sent as `Authorization: Bearer <token>` with requests to the Hub's own origin
// (https://huggingface.co, or the endpoint given) and to no other host. The Hub answers a file
// request with a redirect to its CDN; fetch drops the Authorization header when a redirect leaves
// the origin (Fetch standard, HTTP-redirect fetch; Node's fetch and Chromium do), and the CDN URL
// carries its own signature, so the token stays with huggingface.co.
//
// A realm (the CLI process, the demo's engine worker) may set a default token once with
// setHubDefaults; a source may also be given its own (UrlSourceOptions.hfToken, which wins,
// null meaning none).

/** The Hub: model files are at `<endpoint>/<owner>/<name>/resolve/main/<file>`. */
export const HF_ENDPOINT = 'https://huggingface.co';

export interface HubOptions {
  /**
   * A Hugging Face access token (hf_...), sent only to the Hub's origin. Default: the token given
   * to setHubDefaults; null sends none.
   */
  hfToken?: string | null;
  /** The Hub's address (default: setHubDefaults' endpoint, else HF_ENDPOINT). */
  hubEndpoint?: string;
}

let defaults: { token: string | null; endpoint: string } = { token: null, endpoint: HF_ENDPOINT };

/**
 * A token as the Hub takes it: trimmed, null when empty. A token is printable ASCII without spaces
 * (it goes into a header); anything else is refused with a message that does not repeat it.
 */
export function normalizeHubToken(token: string | null | undefined): string | null {
  const t = (token ?? '').trim();
  if (t === '') return null;
  if (!/^[\x21-\x7e]+$/.test(t)) throw new Error('the Hugging Face token has characters a token cannot have (spaces, line breaks or non-ASCII): paste it again from https://huggingface.co/settings/tokens');
  return t;
}

/** Sets this realm's default token and/or endpoint (each only when given). */
export function setHubDefaults(d: { token?: string | null; endpoint?: string }): void {
  defaults = {
    token: d.token !== undefined ? normalizeHubToken(d.token) : defaults.token,
    endpoint: d.endpoint !== undefined ? baseOf(d.endpoint) : defaults.endpoint,
  };
}

export function hubDefaults(): Readonly<{ token: string | null; endpoint: string }> {
  return defaults;
}

/** An endpoint as a base: the URL without a trailing slash (a mirror may serve the Hub under a path). */
function baseOf(endpoint: string): string {
  const u = new URL(endpoint);
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}
const endpointOf = (opts: HubOptions) => baseOf(opts.hubEndpoint ?? defaults.endpoint);
const originOf = (opts: HubOptions) => new URL(endpointOf(opts)).origin;
const tokenOf = (opts: HubOptions) => (opts.hfToken !== undefined ? normalizeHubToken(opts.hfToken) : defaults.token);

/** The base URL of a Hub model's files: `<endpoint>/<id>/resolve/main/`. */
export function hubModelUrl(id: string, opts: HubOptions = {}): string {
  return `${endpointOf(opts)}/${id}/resolve/main/`;
}

/** Whether `url` is on the Hub's origin (scheme, host and port). */
export function isHubUrl(url: string, opts: HubOptions = {}): boolean {
  try {
    return new URL(url).origin === originOf(opts);
  } catch {
    return false;
  }
}

/** The repository (`owner/name`) of a Hub URL, or null for other URLs. */
export function hubRepoOf(url: string, opts: HubOptions = {}): string | null {
  if (!isHubUrl(url, opts)) return null;
  const prefix = new URL(endpointOf(opts)).pathname.replace(/\/+$/, '');
  const path = new URL(url).pathname;
  const parts = (path.startsWith(`${prefix}/`) ? path.slice(prefix.length) : path).split('/').filter(Boolean);
  return parts.length >= 2 ? `${decodeURIComponent(parts[0])}/${decodeURIComponent(parts[1])}` : null;
}

/** The headers that authorize a request to `url`: the token's, for the Hub's origin only. */
export function hubAuthorization(url: string, opts: HubOptions = {}): Record<string, string> {
  const token = tokenOf(opts);
  return token !== null && isHubUrl(url, opts) ? { Authorization: `Bearer ${token}` } : {};
}

/** Whether a request to `url` carries a token (what hubAuthorization adds). */
const sendsToken = (url: string, opts: HubOptions) => 'Authorization' in hubAuthorization(url, opts);

/**
 * The Hub refused a download: 'gated' when no token was sent (a gated or private model, or an
 * id the Hub does not know, which it answers the same way), 'token-refused' when one was.
 */
export class HubAccessError extends Error {
  override name = 'HubAccessError';
  constructor(
    message: string,
    readonly kind: 'gated' | 'token-refused',
    readonly status: number,
    readonly repo: string,
  ) {
    super(message);
  }
}

/** The phrases that start each kind's explanation (pages find them in errors from a worker, which keep only the message). */
export const GATED_PHRASE = 'this model is gated';
export const TOKEN_REFUSED_PHRASE = 'the token was refused';

/** Which HubAccessError a message (e.g. of an Error from the engine's worker) came from, if any. */
export function hubAccessKind(message: string): HubAccessError['kind'] | null {
  if (message.includes(TOKEN_REFUSED_PHRASE)) return 'token-refused';
  if (message.includes(GATED_PHRASE)) return 'gated';
  return null;
}

/**
 * The HubAccessError for a 401 or 403 from the Hub, or null for any other answer or host. The
 * Hub's own explanation (X-Error-Code, X-Error-Message, when the response lets us read them) is quoted.
 */
export function hubAccessError(res: Response, method: string, url: string, opts: HubOptions = {}): HubAccessError | null {
  if (res.status !== 401 && res.status !== 403) return null;
  if (res.url && !isHubUrl(res.url, opts)) return null; // the answer of the host a redirect led to, not the Hub's
  const repo = hubRepoOf(url, opts);
  if (repo === null) return null;
  const hub = endpointOf(opts);
  const page = `${hub}/${repo}`;
  const says = [res.headers.get('x-error-code'), res.headers.get('x-error-message')].filter(Boolean).join(': ');
  const head = `${method} ${url}: HTTP ${res.status}${says ? ` (the Hub says ${says})` : ''}`;
  if (!sendsToken(url, opts)) {
    return new HubAccessError(
      `${head}: ${GATED_PHRASE}: ${repo} needs a Hugging Face access token. Accept its terms on ${page} (logged in), ` +
        `create a token with read access at ${hub}/settings/tokens, and give it (command line: --hf-token or HF_TOKEN; ` +
        `demo: the Hugging Face token field). A private repository, or an id the Hub does not have, gets the same answer.`,
      'gated',
      res.status,
      repo,
    );
  }
  const why =
    res.status === 401
      ? `the Hub did not accept it (invalid, expired or revoked?): check it at ${hub}/settings/tokens`
      : `its account may not download ${repo} yet: accept the model's terms on ${page} (gated models may also wait for approval), ` +
        `or use a token with read access (a fine-grained token needs "Read access to contents of all public gated repos you can access")`;
  return new HubAccessError(`${head}: ${TOKEN_REFUSED_PHRASE} for ${repo}: ${why}.`, 'token-refused', res.status, repo);
}
