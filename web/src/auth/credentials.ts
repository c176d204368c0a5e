// The credential the page sends to the server, and whether the server accepted it.
//
// One of: none (a server run with --auth off needs none), an API key (X-API-Key), or an OAuth2
// client (client id and secret) with its current access token (Authorization: Bearer). It is kept
// in sessionStorage only, so it goes when the tab closes; the client secret is stored nowhere
// else. Streams cannot send headers from a browser, so they carry the same credential as a
// query parameter (api_key= or access_token=).
//
// States: *in use* (signedOut false: requests go out with the credential, or with none) and
// *signed out* (signedOut true: a request got a 401, or the user signed out; the page shows the
// sign-in). A 401 drops the credential and signs out with the server's message, except when
// sending again may help: the credential changed while the request was out, or it was a
// client's access token, which is then replaced by a new one (once per request). An access token
// is also replaced shortly before it expires: at 90% of its lifetime, at most a minute early.
import { ApiError, readJson } from '../api/error';

export const TOKEN_PATH = '/oauth2/token';
// A cheap request that needs the same scope (read) as the chart and the streams: it tells a
// refused credential (401, 403) from a server that did not answer.
export const CHECK_PATH = '/v1/assets?q=credential-check';
const STORAGE_KEY = 'tickgraph.credential';
const MAX_EARLY_MS = 60_000;
const NEVER = Number.MAX_SAFE_INTEGER;

export interface AccessToken {
  accessToken: string;
  refreshAt: number; // ms since the epoch: the token is replaced from then on
  expiresAt: number; // ms since the epoch
}

export type Credential =
  | { kind: 'api_key'; apiKey: string }
  | { kind: 'client'; clientId: string; clientSecret: string; token: AccessToken | null };

export type NewCredential =
  { kind: 'api_key'; apiKey: string } | { kind: 'client'; clientId: string; clientSecret: string };

export interface AuthState {
  kind: Credential['kind'] | null; // what is held (null: none)
  signedOut: boolean;
  message: string | null; // why, in the server's words (null after the user signed out)
}

// What a request went out with: its headers, the same as stream query parameters, and which
// credential that was (for its 401, see rejected()).
export interface Sent {
  headers: Record<string, string>;
  query: Record<string, string>;
  epoch: number;
  accessToken: string | null;
}

// The token endpoint's answer as RFC 6749 §5.1 has it, and as the server sends it. (The OpenAPI
// document's tickgraph.v1.TokenResponse spells the fields accessToken, tokenType, expiresIn,
// which is not what comes over the wire.)
interface TokenReply {
  access_token?: unknown;
  token_type?: unknown;
  expires_in?: unknown;
}

export interface CredentialDeps {
  storage: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | null; // sessionStorage
  fetch: (input: string, init: RequestInit) => Promise<Response>;
  now: () => number; // ms since the epoch
}

// When a token that lasts `lifetimeS` from `issuedAt` is replaced: at 90% of its lifetime, at
// most a minute before it expires.
export function tokenTimes(accessToken: string, issuedAt: number, lifetimeS: number | null): AccessToken {
  if (lifetimeS === null) return { accessToken, refreshAt: NEVER, expiresAt: NEVER };
  const lifetime = lifetimeS * 1000;
  const expiresAt = issuedAt + lifetime;
  return { accessToken, refreshAt: expiresAt - Math.min(MAX_EARLY_MS, lifetime / 10), expiresAt };
}

function isString(v: unknown): v is string {
  return typeof v === 'string' && v !== '';
}

function parseStored(text: string | null): Credential | null {
  if (text === null) return null;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if (o.kind === 'api_key' && isString(o.apiKey)) return { kind: 'api_key', apiKey: o.apiKey };
  if (o.kind === 'client' && isString(o.clientId) && isString(o.clientSecret)) {
    const t = o.token as Record<string, unknown> | null | undefined;
    const token =
      t && isString(t.accessToken) && typeof t.refreshAt === 'number' && typeof t.expiresAt === 'number'
        ? { accessToken: t.accessToken, refreshAt: t.refreshAt, expiresAt: t.expiresAt }
        : null;
    return { kind: 'client', clientId: o.clientId, clientSecret: o.clientSecret, token };
  }
  return null;
}

export class CredentialStore {
  private credential: Credential | null;
  private epoch = 0; // bumped whenever the credential is replaced or dropped
  private snapshot: AuthState;
  private readonly listeners = new Set<() => void>();
  private refreshing: Promise<string> | null = null;

  constructor(private readonly deps: CredentialDeps) {
    this.credential = this.load();
    this.snapshot = { kind: this.credential?.kind ?? null, signedOut: false, message: null };
  }

  // For useSyncExternalStore: the same object until something changes.
  readonly state = (): AuthState => this.snapshot;
  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  // Uses `apiKey` (from the sign-in link) at once, unchecked: the first request tells.
  useApiKey(apiKey: string): void {
    this.replace({ kind: 'api_key', apiKey });
  }

  // Checks the credential with the server and uses it; rejects with the server's ApiError
  // ("the API key is not valid", "client authentication failed", a 429…), or the fetch's error
  // when the server did not answer, and then changes nothing.
  async signIn(c: NewCredential): Promise<void> {
    const check = async (headers: Record<string, string>) =>
      readJson(await this.deps.fetch(CHECK_PATH, { headers }), CHECK_PATH);
    if (c.kind === 'api_key') {
      const apiKey = c.apiKey.trim();
      await check({ 'X-API-Key': apiKey });
      this.replace({ kind: 'api_key', apiKey });
    } else {
      const clientId = c.clientId.trim();
      const token = await this.fetchToken(clientId, c.clientSecret);
      await check({ Authorization: `Bearer ${token.accessToken}` }); // a client without 'read'
      this.replace({ kind: 'client', clientId, clientSecret: c.clientSecret, token });
    }
  }

  // Forgets the credential (sessionStorage too) and shows the sign-in.
  signOut(): void {
    this.drop({ kind: null, signedOut: true, message: null });
  }

  // The headers (and stream parameters) for a request now; for a client, fetches an access token
  // first when it has none or its is about to expire (one fetch for all callers). Rejects with
  // the token endpoint's ApiError (after a 400 or 401 from it the store is signed out).
  async authorization(): Promise<Sent> {
    const c = this.credential;
    const epoch = this.epoch;
    if (c === null) return { headers: {}, query: {}, epoch, accessToken: null };
    if (c.kind === 'api_key') {
      return { headers: { 'X-API-Key': c.apiKey }, query: { api_key: c.apiKey }, epoch, accessToken: null };
    }
    const token = await this.accessToken(c, epoch);
    return {
      headers: { Authorization: `Bearer ${token}` },
      query: { access_token: token },
      epoch,
      accessToken: token,
    };
  }

  // A request sent with `sent` got a 401 whose message is `message`. Returns true when sending it
  // again may succeed (not when `retried`: once is enough); otherwise, if `sent` still holds the
  // current credential, the store drops it and is signed out with `message`.
  rejected(sent: Sent, message: string, retried: boolean): boolean {
    if (sent.epoch !== this.epoch) return !retried && !this.snapshot.signedOut;
    const c = this.credential;
    if (!retried && c?.kind === 'client' && sent.accessToken !== null) {
      if (c.token?.accessToken === sent.accessToken) {
        c.token = null;
        this.save();
      }
      return true;
    }
    this.drop({ kind: null, signedOut: true, message });
    return false;
  }

  private accessToken(c: Extract<Credential, { kind: 'client' }>, epoch: number): Promise<string> {
    if (c.token !== null && this.deps.now() < c.token.refreshAt) return Promise.resolve(c.token.accessToken);
    if (this.refreshing !== null) return this.refreshing;
    const refreshing = this.fetchToken(c.clientId, c.clientSecret).then(
      (token) => {
        if (epoch === this.epoch) {
          c.token = token;
          this.save();
        }
        return token.accessToken;
      },
      (e: unknown) => {
        const refused = e instanceof ApiError && (e.status === 400 || e.status === 401);
        if (refused && epoch === this.epoch) this.drop({ kind: null, signedOut: true, message: e.message });
        throw e;
      },
    );
    this.refreshing = refreshing;
    const done = () => {
      if (this.refreshing === refreshing) this.refreshing = null;
    };
    refreshing.then(done, done);
    return refreshing;
  }

  private async fetchToken(clientId: string, clientSecret: string): Promise<AccessToken> {
    const issuedAt = this.deps.now();
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: clientId,
      client_secret: clientSecret,
    });
    // credentials 'omit': a 401 here carries "WWW-Authenticate: Basic", for which a browser
    // would otherwise offer its own login dialog.
    const response = await this.deps.fetch(TOKEN_PATH, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: body.toString(),
      credentials: 'omit',
      cache: 'no-store',
    });
    const reply = (await readJson(response, TOKEN_PATH)) as TokenReply | undefined;
    if (!isString(reply?.access_token)) {
      throw new ApiError(response.status, {
        code: 'bad_response',
        message: `${TOKEN_PATH} answered without an access_token`,
      });
    }
    const lifetime = typeof reply.expires_in === 'number' && reply.expires_in > 0 ? reply.expires_in : null;
    return tokenTimes(reply.access_token, issuedAt, lifetime);
  }

  private replace(c: Credential): void {
    this.credential = c;
    this.epoch += 1;
    this.refreshing = null;
    this.save();
    this.publish({ kind: c.kind, signedOut: false, message: null });
  }

  private drop(state: AuthState): void {
    this.credential = null;
    this.epoch += 1;
    this.refreshing = null;
    this.save();
    this.publish(state);
  }

  private publish(state: AuthState): void {
    this.snapshot = state;
    for (const l of [...this.listeners]) l();
  }

  private load(): Credential | null {
    try {
      return parseStored(this.deps.storage?.getItem(STORAGE_KEY) ?? null);
    } catch {
      return null; // storage refused (a sandboxed frame): the credential lives in memory only
    }
  }

  private save(): void {
    try {
      if (this.credential === null) this.deps.storage?.removeItem(STORAGE_KEY);
      else this.deps.storage?.setItem(STORAGE_KEY, JSON.stringify(this.credential));
    } catch {
      // As in load().
    }
  }
}

function sessionStorageOrNull(): Storage | null {
  try {
    return typeof sessionStorage === 'undefined' ? null : sessionStorage;
  } catch {
    return null;
  }
}

// The page's credential.
export const credentials = new CredentialStore({
  storage: sessionStorageOrNull(),
  fetch: (input, init) => fetch(input, init),
  now: () => Date.now(),
});
