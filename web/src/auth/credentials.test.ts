// The page's credential: the sign-in link's key taken out of the address (with the view kept),
// what is kept in sessionStorage and what is not, when a client's access token is replaced, and
// what a 401 does (sign out with the server's message, or a new token and one more try).
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { ApiError } from '../api/error';
import { adoptFragmentKey, takeApiKey } from './fragment';
import { CHECK_PATH, CredentialStore, TOKEN_PATH, credentials, type CredentialDeps } from './credentials';

const KEY = 'tgk_0e83558da7aa9af6_69Fd_DhurhzgXMRpjWpgv5GeVjgGJyP34Mu7PmY1EpI';

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });
}
const tokenReply = (n: number, expiresIn = 3600) =>
  json(200, { access_token: `token-${n}`, token_type: 'Bearer', expires_in: expiresIn, scope: 'read write' });
const unauthenticated = (message: string, reason: string) =>
  json(401, { code: 'unauthenticated', message, details: { reason } });

class MemoryStorage {
  readonly items = new Map<string, string>();
  getItem(k: string) {
    return this.items.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.items.set(k, v);
  }
  removeItem(k: string) {
    this.items.delete(k);
  }
}

// A store over a fake token endpoint: the nth token is "token-n".
function setup(replies: (path: string, init: RequestInit) => Response | Promise<Response>) {
  const storage = new MemoryStorage();
  let now = 1_000_000;
  const fetch = vi.fn(async (path: string, init: RequestInit) => replies(path, init));
  const deps: CredentialDeps = { storage, fetch, now: () => now };
  const store = new CredentialStore(deps);
  return {
    store,
    storage,
    fetch,
    deps,
    advance: (ms: number) => (now += ms),
    tokenRequests: () => fetch.mock.calls.filter(([p]) => p === TOKEN_PATH).length,
  };
}

function tokenServer() {
  let issued = 0;
  return (path: string) => (path === TOKEN_PATH ? tokenReply(++issued) : json(200, { assets: [] }));
}

describe('the sign-in link', () => {
  test('takes api_key out of the fragment and keeps the other parameters', () => {
    expect(takeApiKey(`#api_key=${KEY}`)).toEqual({ found: true, apiKey: KEY, hash: '' });
    expect(takeApiKey(`#tab=graph&api_key=${KEY}&x=1`)).toEqual({
      found: true,
      apiKey: KEY,
      hash: '#tab=graph&x=1',
    });
    expect(takeApiKey('#api_key=')).toEqual({ found: true, apiKey: null, hash: '' });
    expect(takeApiKey('#tab=graph')).toEqual({ found: false, apiKey: null, hash: '#tab=graph' });
    expect(takeApiKey('')).toEqual({ found: false, apiKey: null, hash: '' });
    // Percent-escapes are decoded, but a '+' stays a '+'.
    expect(takeApiKey('#api_key=tgk_1_a%2Db+c').apiKey).toBe('tgk_1_a-b+c');
  });

  test("removes the key from the browser's address, keeping the view in the query", () => {
    window.history.replaceState(null, '', `/?asset=SPX&interval=1d&nodes=sma50,rsi#api_key=${KEY}`);
    const before = window.history.length;
    expect(adoptFragmentKey(window.location, window.history)).toBe(KEY);
    expect(window.location.pathname + window.location.search).toBe('/?asset=SPX&interval=1d&nodes=sma50,rsi');
    expect(window.location.hash).toBe('');
    expect(window.location.href).not.toContain(KEY);
    expect(window.history.length).toBe(before); // replaced, not a new entry to go back to
  });

  test('leaves an address without a key alone', () => {
    const history = { state: null, replaceState: vi.fn() };
    const location = { pathname: '/', search: '?asset=SPX', hash: '#tab=graph' };
    expect(adoptFragmentKey(location, history)).toBeNull();
    expect(history.replaceState).not.toHaveBeenCalled();
  });
});

describe('the credential store', () => {
  test('an API key goes in X-API-Key (and api_key for streams), kept in sessionStorage only', async () => {
    const { store, storage, deps } = setup(tokenServer());
    store.useApiKey(KEY);
    const sent = await store.authorization();
    expect(sent.headers).toEqual({ 'X-API-Key': KEY });
    expect(sent.query).toEqual({ api_key: KEY });
    expect([...storage.items.values()].join()).toContain(KEY);
    // A new page in the same tab finds it; signing out forgets it.
    const again = new CredentialStore(deps);
    expect((await again.authorization()).headers).toEqual({ 'X-API-Key': KEY });
    again.signOut();
    expect(storage.items.size).toBe(0);
    expect(again.state()).toEqual({ kind: null, signedOut: true, message: null });
  });

  test('the page-wide store keeps the credential in sessionStorage, not localStorage', async () => {
    sessionStorage.clear();
    localStorage.clear();
    credentials.useApiKey(KEY);
    expect(JSON.stringify({ ...sessionStorage })).toContain(KEY);
    expect(JSON.stringify({ ...localStorage })).not.toContain(KEY);
    credentials.signOut();
    expect(sessionStorage.length).toBe(0);
  });

  test('with no credential requests go out bare, and the page is not signed out', async () => {
    const { store } = setup(tokenServer());
    expect(await store.authorization()).toMatchObject({ headers: {}, query: {} });
    expect(store.state()).toEqual({ kind: null, signedOut: false, message: null });
  });

  test('a client signs in with a form-encoded client_credentials grant and sends its token', async () => {
    const { store, fetch } = setup(tokenServer());
    await store.signIn({ kind: 'client', clientId: 'tgc_1', clientSecret: 's3cr&t=+' });
    const [path, init] = fetch.mock.calls[0] ?? [];
    expect(path).toBe(TOKEN_PATH);
    expect(init?.method).toBe('POST');
    expect((init?.headers as Record<string, string>)['Content-Type']).toBe(
      'application/x-www-form-urlencoded',
    );
    const form = new URLSearchParams(String(init?.body));
    expect(Object.fromEntries(form)).toEqual({
      grant_type: 'client_credentials',
      client_id: 'tgc_1',
      client_secret: 's3cr&t=+',
    });
    // The new token is checked once against the API before it is used.
    expect(fetch.mock.calls[1]?.[0]).toBe(CHECK_PATH);
    const sent = await store.authorization();
    expect(sent.headers).toEqual({ Authorization: 'Bearer token-1' });
    expect(sent.query).toEqual({ access_token: 'token-1' });
    expect(store.state()).toEqual({ kind: 'client', signedOut: false, message: null });
  });

  test('an access token is replaced a minute before it expires, not before', async () => {
    const { store, advance, tokenRequests } = setup(tokenServer());
    await store.signIn({ kind: 'client', clientId: 'tgc_1', clientSecret: 's' });
    advance(3539_000);
    expect((await store.authorization()).accessToken).toBe('token-1');
    advance(1_000); // 60 s before expires_in runs out
    expect((await store.authorization()).accessToken).toBe('token-2');
    expect(tokenRequests()).toBe(2);
  });

  test('a short-lived token is replaced at 90% of its lifetime', async () => {
    let issued = 0;
    const { store, advance } = setup((p) => (p === TOKEN_PATH ? tokenReply(++issued, 60) : json(200, {})));
    await store.signIn({ kind: 'client', clientId: 'tgc_1', clientSecret: 's' });
    advance(53_999);
    expect((await store.authorization()).accessToken).toBe('token-1');
    advance(1);
    expect((await store.authorization()).accessToken).toBe('token-2');
  });

  test('requests that need a new token at the same time share one token request', async () => {
    const { store, advance, tokenRequests } = setup(tokenServer());
    await store.signIn({ kind: 'client', clientId: 'tgc_1', clientSecret: 's' });
    advance(3600_000);
    const sent = await Promise.all([store.authorization(), store.authorization(), store.authorization()]);
    expect(sent.map((s) => s.accessToken)).toEqual(['token-2', 'token-2', 'token-2']);
    expect(tokenRequests()).toBe(2);
  });

  test("a 401 for an API key signs out with the server's message and forgets the key", async () => {
    const { store, storage } = setup(tokenServer());
    store.useApiKey(KEY);
    const sent = await store.authorization();
    expect(store.rejected(sent, 'the API key is not valid', false)).toBe(false);
    expect(store.state()).toEqual({ kind: null, signedOut: true, message: 'the API key is not valid' });
    expect(storage.items.size).toBe(0);
    // Other requests refused with the same key do not replace the first message.
    expect(store.rejected(sent, 'this route needs a credential', false)).toBe(false);
    expect(store.state().message).toBe('the API key is not valid');
  });

  test("a 401 for a client's token gets a new token and one more try; a second 401 signs out", async () => {
    const { store, tokenRequests } = setup(tokenServer());
    await store.signIn({ kind: 'client', clientId: 'tgc_1', clientSecret: 's' });
    const first = await store.authorization();
    expect(store.rejected(first, 'the token has expired', false)).toBe(true);
    expect(store.state().signedOut).toBe(false);
    const second = await store.authorization();
    expect(second.accessToken).toBe('token-2');
    expect(tokenRequests()).toBe(2);
    expect(store.rejected(second, "the token's client 'tgc_1' was revoked", true)).toBe(false);
    expect(store.state()).toEqual({
      kind: null,
      signedOut: true,
      message: "the token's client 'tgc_1' was revoked",
    });
  });

  test('a 401 to a request sent with a credential since replaced is tried again, not signed out', async () => {
    const { store } = setup(tokenServer());
    const sent = await store.authorization(); // none yet
    store.useApiKey(KEY);
    expect(store.rejected(sent, 'this route needs a credential', false)).toBe(true);
    expect(store.state().signedOut).toBe(false);
  });

  test("a client the token endpoint refuses signs out with the endpoint's message", async () => {
    let refuse = false;
    const { store, advance } = setup((p) =>
      p !== TOKEN_PATH
        ? json(200, {})
        : refuse
          ? json(401, {
              error: 'invalid_client',
              error_description: 'client authentication failed',
              code: 'unauthenticated',
              message: 'client authentication failed',
            })
          : tokenReply(1),
    );
    await store.signIn({ kind: 'client', clientId: 'tgc_1', clientSecret: 's' });
    refuse = true;
    advance(3600_000);
    await expect(store.authorization()).rejects.toThrow('client authentication failed');
    expect(store.state()).toEqual({ kind: null, signedOut: true, message: 'client authentication failed' });
  });

  test('a refused sign-in changes nothing and rejects with the server error', async () => {
    const { store, storage } = setup((p) =>
      p === CHECK_PATH ? unauthenticated('the API key is not valid', 'bad_api_key') : json(200, {}),
    );
    store.signOut();
    const error = await store.signIn({ kind: 'api_key', apiKey: 'tgk_0_wrong' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).message).toBe('the API key is not valid');
    expect(store.state().signedOut).toBe(true);
    expect(storage.items.size).toBe(0);
  });

  test('a stored credential that is not one is ignored', () => {
    const storage = new MemoryStorage();
    storage.setItem('tickgraph.credential', '{"kind":"client","clientId":"x"}');
    const store = new CredentialStore({ storage, fetch: vi.fn(), now: () => 0 });
    expect(store.state().kind).toBeNull();
  });
});

// client.ts over the page-wide store, with the browser's fetch replaced.
describe('REST calls', () => {
  let fetchMock: ReturnType<typeof vi.fn>;
  beforeEach(() => {
    sessionStorage.clear();
    credentials.signOut();
    credentials.useApiKey(KEY); // in use again
    fetchMock = vi.fn();
    vi.stubGlobal('fetch', fetchMock);
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    credentials.signOut();
    sessionStorage.clear();
  });

  test("send the credential, and a 401 signs the page out with the server's message", async () => {
    const { api } = await import('../api/client');
    fetchMock.mockResolvedValueOnce(json(200, { functions: [] }));
    await api.functions();
    expect((fetchMock.mock.calls[0]?.[1] as RequestInit).headers).toEqual({ 'X-API-Key': KEY });
    fetchMock.mockResolvedValueOnce(
      unauthenticated("the API key 'tgk_0e83558da7aa9af6' was revoked", 'revoked'),
    );
    await expect(api.functions()).rejects.toMatchObject({ status: 401 });
    expect(credentials.state()).toEqual({
      kind: null,
      signedOut: true,
      message: "the API key 'tgk_0e83558da7aa9af6' was revoked",
    });
  });

  test('a 403 is thrown to the caller with its message and leaves the page signed in', async () => {
    const { api } = await import('../api/client');
    fetchMock.mockResolvedValueOnce(
      json(403, {
        code: 'permission_denied',
        message: "PUT /v1/graphs/{id} needs the 'write' scope, which this credential lacks",
        details: { reason: 'insufficient_scope', scope: 'write' },
      }),
    );
    const error = await api.replaceGraph('demo', { name: 'demo', nodes: [] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 403, details: { scope: 'write' } });
    expect((error as ApiError).message).toContain("needs the 'write' scope");
    expect(credentials.state().signedOut).toBe(false);
  });

  test('a 401 for an expired token fetches a new token and sends the request again', async () => {
    const { api } = await import('../api/client');
    let issued = 0;
    let expired = ''; // the token the server calls expired
    fetchMock.mockImplementation(async (path: string, init: RequestInit) => {
      if (path === TOKEN_PATH) return tokenReply(++issued);
      const auth = (init.headers as Record<string, string>).Authorization;
      return auth === `Bearer ${expired}`
        ? unauthenticated('the token has expired', 'expired')
        : json(200, { graphs: [{ id: 'demo' }] });
    });
    await credentials.signIn({ kind: 'client', clientId: 'tgc_1', clientSecret: 's' });
    expired = 'token-1';
    const reply = await api.graphs();
    expect(reply.graphs?.[0]?.id).toBe('demo');
    const sentWith = fetchMock.mock.calls
      .filter(([p]) => p !== TOKEN_PATH)
      .map(([, i]) => ((i as RequestInit).headers as Record<string, string>).Authorization);
    expect(sentWith).toEqual(['Bearer token-1', 'Bearer token-1', 'Bearer token-2']); // check, 401, retry
    expect(credentials.state().signedOut).toBe(false);
  });
});
