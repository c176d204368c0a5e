// Signing in, in Debian's Chromium against a real `tickgraph serve` with authentication on (its
// own server: the last test restarts it): the sign-in without a credential, the server's refusals
// in its own words, an OAuth2 client whose token also opens the WebSocket, a read-only key's 403
// where the action was attempted, the sign-in link's key leaving the address at once, a token
// replaced before it expires, a server run with --auth off that needs no credential, and a
// revoked key that stops the stream's retries. Each test saves a screenshot under build/e2e/.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Server, inspect, launch, newPage, screenshot, until } from './harness';

interface GraphReply {
  version: string;
  spec: { nodes: { id: string }[] };
}

let server: Server;
let browser: Browser;
const pages: { page: Page; errors: string[] }[] = [];

async function page(width = 1280, height = 800): Promise<Page> {
  const p = await newPage(browser, width, height);
  pages.push(p);
  return p.page;
}

function apiKey(): string {
  if (server.apiKey === null) throw new Error('the server has no key');
  return server.apiKey;
}

const status = (p: Page) => p.evaluate(() => window.__tickgraph.status);
const storage = (p: Page) =>
  p.evaluate(() => ({
    session: JSON.stringify({ ...sessionStorage }),
    local: JSON.stringify({ ...localStorage }),
  }));

beforeAll(async () => {
  server = new Server();
  await server.start(0);
  browser = await launch();
});

afterAll(async () => {
  for (const p of pages) expect(p.errors, 'uncaught errors in the page').toEqual([]);
  await browser?.close();
  expect(await server?.stop()).toBe(0);
});

describe('signing in', () => {
  test("no credential shows the sign-in; a wrong key shows the server's error; the right key draws the chart", async () => {
    const p = await page();
    await p.goto(`${server.url}/?asset=SPX&interval=1d`);
    await p.getByTestId('sign-in').waitFor();
    expect(await p.getByTestId('sign-in-reason').textContent()).toContain('this route needs a credential');
    expect(await p.getByTestId('sign-out').count()).toBe(0);
    await screenshot(p, 'sign-in');

    // The right key's id with another secret.
    const wrong = `${apiKey().slice(0, -8)}${apiKey().endsWith('AAAAAAAA') ? 'BBBBBBBB' : 'AAAAAAAA'}`;
    expect(wrong).not.toBe(apiKey());
    const key = p.getByLabel('API key', { exact: true });
    await key.fill(wrong);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => p.getByTestId('sign-in-error').textContent()).toBe('the API key is not valid');
    expect(await key.getAttribute('aria-invalid')).toBe('true');
    await screenshot(p, 'sign-in-wrong-key');

    await key.fill(apiKey());
    await key.press('Enter');
    const expected = await server.json<{ ts: string[] }>('/v1/assets/SPX/candles?interval=1d&last=5000');
    await until('the SPX chart', async () => {
      const c = await inspect(p);
      return c?.symbol === 'SPX' && c.bars === expected.ts.length && c.series.rsi;
    });
    await until('live', async () => (await status(p)) === 'live');
    // The view asked for in the address survived the sign-in.
    const url = new URL(p.url());
    expect(url.searchParams.get('asset')).toBe('SPX');
    expect(url.searchParams.get('interval')).toBe('1d');
    await p.getByTestId('sign-out').waitFor();
    await screenshot(p, 'signed-in');
  });

  test('the sign-in works from the keyboard, in both themes, at phone width', async () => {
    const p = await page(390, 844);
    await p.goto(`${server.url}/?asset=ACME&interval=1m`);
    await p.getByTestId('sign-in').waitFor();
    expect(await p.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    const box = await p.getByTestId('sign-in').boundingBox();
    expect(box?.width ?? 0).toBeGreaterThan(300);
    // The key field has the focus; the theme switch is a button like any other.
    expect(await p.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('api-key');
    await p.getByTestId('theme').focus();
    await p.keyboard.press('Enter');
    const dark = await p.evaluate(() => document.documentElement.classList.contains('dark'));
    await screenshot(p, dark ? 'sign-in-narrow-dark' : 'sign-in-narrow-light');
    await p.keyboard.press('Enter');
    expect(await p.evaluate(() => document.documentElement.classList.contains('dark'))).toBe(!dark);
    await screenshot(p, dark ? 'sign-in-narrow-light' : 'sign-in-narrow-dark');

    // Tab on from the theme switch (the method's radio, then the key field), type, Enter.
    let focused = '';
    for (let i = 0; i < 10 && focused !== 'api-key'; ++i) {
      await p.keyboard.press('Tab');
      focused = await p.evaluate(() => document.activeElement?.getAttribute('name') ?? '');
    }
    expect(focused).toBe('api-key');
    await p.keyboard.type(apiKey());
    await p.keyboard.press('Enter');
    await until('the ACME chart', async () => ((await inspect(p))?.bars ?? 0) > 0);
    expect(await p.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
  });

  test('a client id and secret sign in, and the WebSocket stream goes live with the token', async () => {
    const client = await server.addClient('e2e-client', 'read');
    const p = await page();
    const sockets: string[] = [];
    const authorizations: string[] = [];
    p.on('websocket', (ws) => sockets.push(ws.url()));
    p.on('request', (r) => {
      if (new URL(r.url()).pathname.startsWith('/v1/')) authorizations.push(r.headers().authorization ?? '');
    });
    await p.goto(`${server.url}/?asset=ACME&interval=1s`);
    await p.getByTestId('sign-in').waitFor();
    await p.getByRole('radio', { name: 'a client ID and secret' }).check();
    await p.getByLabel('Client ID', { exact: true }).fill(client.clientId);
    const secret = p.getByLabel('Client secret', { exact: true });
    await secret.fill(`${client.clientSecret}x`);
    await secret.press('Enter');
    await expect
      .poll(() => p.getByTestId('sign-in-error').textContent())
      .toBe('client authentication failed');
    await screenshot(p, 'sign-in-wrong-secret');

    await secret.fill(client.clientSecret);
    await secret.press('Enter');
    await until('live', async () => (await status(p)) === 'live', 15_000);
    const first = await until('an ACME bar', async () => (await inspect(p))?.last);
    await until(
      'the ACME forming bar to move',
      async () => {
        const now = (await inspect(p))?.last;
        return now && (now.time !== first.time || now.close !== first.close || now.high !== first.high);
      },
      5000,
    );
    // Both streams (watchlist and chart) carry the token, never a key; REST sends it as Bearer.
    expect(sockets.length).toBeGreaterThanOrEqual(2);
    for (const url of sockets) {
      expect(url).toMatch(/[?&]access_token=ey[\w-]+\.[\w-]+\.[\w-]+/);
      expect(url).not.toContain('api_key');
    }
    expect(authorizations.filter((a) => a.startsWith('Bearer ')).length).toBeGreaterThan(3);
    // The secret is kept for this tab only.
    const kept = await storage(p);
    expect(kept.session).toContain(client.clientSecret);
    expect(kept.local).not.toContain(client.clientSecret);
    await screenshot(p, 'client-signed-in');
  });

  test("a read-only key: the chart works, and adding a node shows the server's 403 in the form", async () => {
    const readOnly = await server.addKey('e2e-read', 'read');
    const p = await page();
    await p.goto(server.link('/?asset=SPX&interval=1d', readOnly.apiKey));
    await until('the chart', async () => (await inspect(p))?.series.rsi);
    await until('live', async () => (await status(p)) === 'live');
    const before = await server.json<GraphReply>('/v1/graphs/demo');
    const form = p.getByTestId('add-node-form');
    await form.locator('select[name=fn]').selectOption('sma');
    await form.locator('input[name=id]').fill('readonly_sma');
    await form.getByRole('button', { name: 'Add node' }).click();
    const alert = form.getByRole('alert');
    await expect
      .poll(() => alert.textContent())
      .toBe("PUT /v1/graphs/demo needs the 'write' scope, which this credential lacks");
    expect(await form.locator('input[name=id]').getAttribute('aria-invalid')).toBe('false');
    expect((await server.json<GraphReply>('/v1/graphs/demo')).version).toBe(before.version);
    // Still signed in, still charting.
    expect(await p.getByTestId('sign-in').count()).toBe(0);
    expect(await status(p)).toBe('live');
    await form.scrollIntoViewIfNeeded();
    await screenshot(p, 'read-only-403');
  });

  test("the link's key leaves the address at once and stays with the tab only", async () => {
    const p = await page();
    await p.goto(server.link('/?asset=SPX&interval=1d&nodes=sma50,rsi'));
    // Before the first request has answered: the module that reads it runs first.
    expect(p.url()).not.toContain('api_key');
    expect(p.url()).not.toContain(apiKey());
    await until('the chart', async () => (await inspect(p))?.series.rsi);
    const url = new URL(p.url());
    expect(url.hash).toBe('');
    expect(url.searchParams.get('asset')).toBe('SPX');
    expect(url.searchParams.get('interval')).toBe('1d');
    expect(url.searchParams.get('nodes')).toBe('sma50,rsi');
    const kept = await storage(p);
    expect(kept.session).toContain(apiKey());
    expect(kept.local).not.toContain(apiKey());

    // A reload keeps it (same tab); another tab does not have it.
    await p.reload();
    await until('the chart after a reload', async () => (await inspect(p))?.series.rsi);
    const other = await page();
    await other.goto(`${server.url}/?asset=SPX&interval=1d`);
    await other.getByTestId('sign-in').waitFor();

    // Sign out forgets it.
    await p.getByTestId('sign-out').click();
    await p.getByTestId('sign-in').waitFor();
    expect(await p.getByTestId('sign-in-reason').count()).toBe(0);
    expect((await storage(p)).session).not.toContain(apiKey());
    await screenshot(p, 'signed-out');
  });
});

test("a client's token is replaced before it expires, and the page goes on", async () => {
  const shortLived = new Server(undefined, ['--token-ttl', '5']);
  await shortLived.start(0);
  try {
    const client = await shortLived.addClient('e2e-short', 'read');
    const p = await page();
    const tokens: string[] = [];
    p.on('response', async (r) => {
      if (new URL(r.url()).pathname === '/oauth2/token' && r.ok()) tokens.push((await r.json()).access_token);
    });
    const bearers = new Set<string>();
    p.on('request', (r) => {
      const a = r.headers().authorization;
      if (a?.startsWith('Bearer ')) bearers.add(a.slice(7));
    });
    await p.goto(`${shortLived.url}/?asset=ACME&interval=1m`);
    await p.getByRole('radio', { name: 'a client ID and secret' }).check();
    await p.getByLabel('Client ID', { exact: true }).fill(client.clientId);
    await p.getByLabel('Client secret', { exact: true }).fill(client.clientSecret);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await until('the ACME chart', async () => ((await inspect(p))?.bars ?? 0) > 0);
    expect(tokens).toHaveLength(1);
    await p.waitForTimeout(5000); // expires_in: 5 s
    await p.locator('[data-symbol=GLOBEX]').click();
    await until('the GLOBEX chart', async () => {
      const c = await inspect(p);
      return c?.symbol === 'GLOBEX' && c.bars > 0;
    });
    expect(tokens).toHaveLength(2);
    expect(bearers.has(tokens[1] ?? '')).toBe(true);
    expect(await p.getByTestId('sign-in').count()).toBe(0);
  } finally {
    expect(await shortLived.stop()).toBe(0);
  }
});

test('a server run with --auth off needs no credential', async () => {
  const open = new Server(undefined, ['--auth', 'off']);
  await open.start(0);
  try {
    const p = await page();
    await p.goto(`${open.url}/?asset=SPX&interval=1d`);
    await until('the chart', async () => ((await inspect(p))?.bars ?? 0) > 0);
    await until('live', async () => (await status(p)) === 'live');
    expect(await p.getByTestId('sign-in').count()).toBe(0);
    expect(await p.getByTestId('sign-out').count()).toBe(0);
    await screenshot(p, 'auth-off');
  } finally {
    expect(await open.stop()).toBe(0);
  }
});

test('a key revoked while the page is open: the restarted server refuses the stream, and the sign-in shows', async () => {
  const key = await server.addKey('e2e-revoked', 'read');
  const p = await page();
  let sockets = 0;
  p.on('websocket', () => ++sockets);
  await p.goto(server.link('/?asset=ACME&interval=1s', key.apiKey));
  await until('live', async () => (await status(p)) === 'live');
  await server.authCli(['key', 'revoke', key.keyId]);
  expect(await server.stop()).toBe(0);
  await server.start(); // the same port and database
  // The sockets fail to reconnect (401 at the handshake); the page asks the API why.
  await p.getByTestId('sign-in').waitFor({ timeout: 15_000 });
  expect(await p.getByTestId('sign-in-reason').textContent()).toContain(
    `the API key '${key.keyId}' was revoked`,
  );
  const attempts = sockets;
  await p.waitForTimeout(3000);
  expect(sockets, 'no reconnecting once signed out').toBe(attempts);
  await screenshot(p, 'revoked');
});
