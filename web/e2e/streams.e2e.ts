// The page's live streams, with a server of their own (the last test stops it): switching what
// is charted replaces the subscription on the server rather than adding one, and across a server
// restart the page shows that it lost the server, keeps trying with backoff, and streams again
// once a server is back on the same address, with no reload (and the same credential).
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

// The server's count of live (asset, interval, graph) topics, from /metrics.
async function liveTopics(): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('tickgraph_live_topics '));
  return Number(line?.split(' ')[1]);
}

test('charting another interval or asset replaces the subscription', async () => {
  const { page, errors } = await newPage(browser);
  await page.goto(server.link('/?asset=ACME&interval=1s'));
  await until('the ACME 1s chart', async () => {
    const c = await inspect(page);
    return c?.symbol === 'ACME' && c.interval === '1s' && c.bars > 0;
  });
  // The watchlist's daily topics and the chart's one; stable once both streams subscribed.
  await page.waitForTimeout(500);
  const topics = await liveTopics();
  expect(topics).toBeGreaterThan(1);

  await page.getByRole('button', { name: '1m', exact: true }).click();
  await until('the 1m chart', async () => (await inspect(page))?.interval === '1m');
  await until(
    `${topics} topics again (1s dropped for 1m)`,
    async () => (await liveTopics()) === topics,
    5000,
  );
  // Only 1m bars reach the chart now.
  await page.waitForTimeout(1500);
  expect(((await inspect(page))?.last?.time ?? 1) % 60).toBe(0);

  await page.locator('[data-symbol=GLOBEX]').click();
  await until('the GLOBEX chart', async () => (await inspect(page))?.symbol === 'GLOBEX');
  await until(
    `${topics} topics again (ACME dropped for GLOBEX)`,
    async () => (await liveTopics()) === topics,
    5000,
  );
  await screenshot(page, 'switched-asset');
  await page.close();
  expect(errors).toEqual([]);
});

test('restarting the server reconnects the stream', async () => {
  const { page, errors } = await newPage(browser);
  await page.goto(server.link('/?asset=ACME&interval=1s'));
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
