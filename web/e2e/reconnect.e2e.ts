// The live stream across a server restart: the page shows that it lost the server, keeps
// trying with backoff, and streams again once a server is back on the same address, with no
// reload. Its own server, since this test stops it.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Server, inspect, launch, newPage, screenshot, until } from './harness';

let server: Server;
let browser: Browser;

beforeAll(async () => {
  server = new Server();
  await server.start(0);
  browser = await launch();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

test('restarting the server reconnects the stream', async () => {
  const { page, errors } = await newPage(browser);
  await page.goto(`${server.url}/?asset=ACME&interval=1s`);
  const status = () => page.evaluate(() => window.__tickgraph.status);
  await until('live', async () => (await status()) === 'live');
  await until('an ACME bar', async () => (await inspect(page))?.last);

  expect(await server.stop()).toBe(0);
  await until('the page to notice', async () => (await status()) !== 'live', 5000);
  const badge = page.getByTestId('connection');
  await expect.poll(() => badge.textContent(), { timeout: 5000 }).toMatch(/Reconnecting in \d+ s|Connecting/);
  await screenshot(page, 'reconnecting');
  const beforeRestart = (await inspect(page))?.last;

  await server.start(); // the same port and database
  await until('live again', async () => (await status()) === 'live', 15_000);
  await expect.poll(() => badge.getAttribute('data-status')).toBe('live');
  // Ticks from the restarted simulator move the chart again.
  await until(
    'a bar from the restarted server',
    async () => {
      const now = (await inspect(page))?.last;
      return now && beforeRestart && (now.time > beforeRestart.time || now.close !== beforeRestart.close);
    },
    5000,
  );
  await screenshot(page, 'reconnected');
  expect(errors).toEqual([]);
});
