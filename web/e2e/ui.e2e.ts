// The web UI in Debian's Chromium against a real `tickgraph serve` with the simulator on: what
// the page draws is read back from the chart's own series (window.__tickgraph) and compared with
// what the REST API returns for the same bars. Each test saves a screenshot under build/e2e/.
// Authentication is on: every page opens with the sign-in link, every REST check sends the key.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Server, inspect, launch, newPage, screenshot, until } from './harness';

interface Columns {
  ts: string[];
  close: number[];
}
interface Analytics {
  ts: string[];
  series: { name: string; values: (number | null)[] }[];
}
interface GraphReply {
  version: string;
  spec: { nodes: { id: string }[] };
}

let server: Server;
let browser: Browser;
const pages: { page: Page; errors: string[] }[] = [];

async function open(path: string, width = 1280, height = 800): Promise<Page> {
  const p = await newPage(browser, width, height);
  pages.push(p);
  await p.page.goto(server.link(path));
  return p.page;
}

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

// Pixels of the chart's canvases that differ from the background: proof that something is drawn.
function paintedPixels(page: Page): Promise<number> {
  return page.evaluate(() => {
    let painted = 0;
    for (const canvas of document.querySelectorAll<HTMLCanvasElement>('[data-testid=chart] canvas')) {
      const ctx = canvas.getContext('2d');
      if (!ctx || canvas.width === 0 || canvas.height === 0) continue;
      const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 0; i < d.length; i += 4)
        if (d[i + 3] !== 0 && (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2])) ++painted;
    }
    return painted;
  });
}

describe('the chart', () => {
  test('draws the S&P 500 daily chart: the latest 5,000 bars and the indicators, as the API has them', async () => {
    const page = await open('/?asset=SPX&interval=1d');
    const expected = await server.json<Columns>('/v1/assets/SPX/candles?interval=1d&last=5000');
    const shown = await until('the SPX bars on the chart', async () => {
      const c = await inspect(page);
      return c && c.bars === expected.ts.length && c.series.rsi ? c : null;
    });
    expect(shown.symbol).toBe('SPX');
    expect(shown.last?.close).toBe(expected.close[expected.close.length - 1]);
    expect(shown.last?.time).toBe(
      Number(BigInt(expected.ts[expected.ts.length - 1] ?? '0') / 1_000_000_000n),
    );
    // Overlays on the price pane, oscillators in panes of their own.
    expect(shown.series.sma50?.pane).toBe(0);
    expect(shown.series['bb.upper']?.pane).toBe(0);
    expect(shown.series.rsi?.pane).toBeGreaterThan(0);
    expect(shown.series['macd.macd']?.pane).toBeGreaterThan(0);
    expect(shown.series.rsi?.pane).not.toBe(shown.series['macd.macd']?.pane);
    // The same request as the page's: rsi's Wilder smoothing depends on where its warm-up starts.
    const rsi = await server.json<Analytics>(
      `/v1/assets/SPX/analytics?graph=demo&interval=1d&outputs=rsi&from=${expected.ts[0]}ns`,
    );
    expect(shown.series.rsi?.last).toBe(rsi.series[0]?.values.at(-1));
    expect(shown.series.rsi?.points).toBe(rsi.series[0]?.values.filter((v) => v !== null).length);
    expect(await paintedPixels(page)).toBeGreaterThan(5000);
    // The legend shows the latest bar; the watchlist the last price.
    await expect.poll(() => page.getByTestId('legend-close').textContent()).toBe('2,874.56');
    await expect
      .poll(() => page.locator('[data-symbol=SPX] [data-testid=last]').textContent())
      .toBe('2,874.56');
    await screenshot(page, 'spx-daily');
  });

  test('the legend follows the crosshair', async () => {
    const page = await open('/?asset=SPX&interval=1d');
    await until('bars', async () => ((await inspect(page))?.bars ?? 0) > 0);
    const box = await page.getByTestId('chart').boundingBox();
    if (!box) throw new Error('no chart box');
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.3);
    const text = await until('a legend for an older bar', async () => {
      const t = await page.getByTestId('legend').textContent();
      return t && !t.startsWith('2020-04-17') ? t : null;
    });
    expect(text).toMatch(/^\d{4}-\d\d-\d\d O [\d,.]+ H [\d,.]+ L [\d,.]+ C [\d,.]+/);
    expect(text).toContain('rsi ');
    await screenshot(page, 'crosshair-legend');
  });

  test('scrolling back loads the older bars', async () => {
    const page = await open('/?asset=SPX&interval=1d');
    const all = await server.json<Columns>('/v1/assets/SPX/candles?interval=1d');
    expect(all.ts.length).toBeGreaterThan(5000);
    await until('the first page', async () => (await inspect(page))?.bars === 5000);
    const box = await page.getByTestId('chart').boundingBox();
    if (!box) throw new Error('no chart box');
    // Zoom out with the mouse wheel, then drag the chart right, until its left edge is in view.
    await page.mouse.move(box.x + box.width / 2, box.y + 80);
    for (let i = 0; i < 40 && ((await inspect(page))?.bars ?? 0) < all.ts.length; ++i) {
      if (i < 10) await page.mouse.wheel(0, 400);
      else {
        await page.mouse.move(box.x + 60, box.y + 80);
        await page.mouse.down();
        await page.mouse.move(box.x + box.width - 100, box.y + 80, { steps: 4 });
        await page.mouse.up();
      }
      await page.waitForTimeout(100);
    }
    const c = await until('every bar after scrolling back', async () => {
      const x = await inspect(page);
      return x?.bars === all.ts.length ? x : null;
    });
    // sma50 is drawn from the first bar that has 50 before it.
    const sma = await server.json<Analytics>('/v1/assets/SPX/analytics?graph=demo&interval=1d&outputs=sma50');
    expect(c.series.sma50?.points).toBe(sma.series[0]?.values.filter((v) => v !== null).length);
    expect(c.series.sma50?.points).toBe(all.ts.length - 49);
    await screenshot(page, 'scrolled-back');
  });

  test('the forming candle moves within 2 s of a tick', async () => {
    await server.json('/v1/assets', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        symbol: 'TESTCO',
        name: 'Test Company',
        assetClass: 'ASSET_CLASS_EQUITY',
        currency: 'USD',
      }),
    });
    const page = await open('/?asset=TESTCO&interval=1m');
    await until('the stream', async () => (await page.evaluate(() => window.__tickgraph.status)) === 'live');
    // The ticks go into one minute ten minutes ahead of the clock (a tick may be up to an hour
    // ahead), so that bar is forming for the whole test, whichever minute the test runs in: the
    // clock cannot close it between two ticks, and the bar is read by its time.
    const minute = (Math.floor(Date.now() / 60_000) + 10) * 60; // seconds, as the chart's times
    const post = (price: number, i: number) =>
      server.json('/v1/ticks', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          ticks: [
            { symbol: 'TESTCO', time: String(BigInt(minute * 1000 + i) * 1_000_000n), price, size: 10 },
          ],
        }),
      });
    const prices = [101.25, 99.5, 100.75];
    for (const [i, price] of prices.entries()) {
      const sent = Date.now();
      await post(price, i);
      const bar = await until(
        `close ${price} on the chart`,
        async () => {
          const c = await inspect(page);
          return c?.last?.time === minute && c.last.close === price ? c.last : null;
        },
        2000,
      );
      expect(Date.now() - sent).toBeLessThan(2000);
      expect(bar.high).toBeGreaterThanOrEqual(price);
    }
    // One bar holds all three ticks: open the first, high and low their extremes.
    expect((await inspect(page))?.last).toEqual({
      time: minute,
      open: 101.25,
      high: 101.25,
      low: 99.5,
      close: 100.75,
    });
    await expect.poll(() => page.getByTestId('legend').textContent()).toContain('forming');

    // A simulated asset: its forming candle changes with the simulator's ticks. (The tab keeps
    // its credential in sessionStorage: no sign-in link is needed to go on.)
    await page.goto(`${server.url}/?asset=ACME&interval=1s`);
    const first = await until('an ACME bar', async () => (await inspect(page))?.last);
    await until(
      'the ACME forming bar to change',
      async () => {
        const now = (await inspect(page))?.last;
        return now && (now.time !== first.time || now.close !== first.close || now.high !== first.high);
      },
      2000,
    );
    await screenshot(page, 'acme-live');
  });
});

describe('the analytics graph', () => {
  test('draws the DAG of the graph', async () => {
    const page = await open('/?asset=SPX&interval=1d');
    await page.getByTestId('dag').waitFor();
    const graph = await server.json<GraphReply>('/v1/graphs/demo');
    for (const n of graph.spec.nodes)
      await expect.poll(() => page.locator(`[data-node="${n.id}"]`).count()).toBe(1);
    await expect.poll(() => page.locator('[data-edge="close->sma50"]').count()).toBe(1);
    await expect.poll(() => page.locator('[data-edge="ret->vol"]').count()).toBe(1);
    // A node is a button: selecting it from the keyboard shows what it is.
    await page.locator('[data-node="rsi"]').focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByTestId('node-details').textContent()).toContain('rsi(close) period 14');
    await page.getByTestId('dag').scrollIntoViewIfNeeded();
    await screenshot(page, 'graph-dag');
  });

  test('adding sma period 50 through the form adds a series equal to the analytics endpoint', async () => {
    const page = await open('/?asset=SPX&interval=1d');
    await until('the chart', async () => (await inspect(page))?.series.rsi);
    const before = await server.json<GraphReply>('/v1/graphs/demo');
    const form = page.getByTestId('add-node-form');
    await form.locator('select[name=fn]').selectOption('sma');
    await form.locator('input[name=id]').fill('trend50');
    await form.locator('input[name=param-period]').fill('50');
    await form.getByRole('button', { name: 'Add node' }).click();
    await until('the new version', async () => {
      const g = await server.json<GraphReply>('/v1/graphs/demo');
      return Number(g.version) === Number(before.version) + 1 && g.spec.nodes.some((n) => n.id === 'trend50');
    });
    // The request the page makes for its first page of bars: a rolling sum's rounding depends on
    // where the computation starts. The snapshot's values (the push engine's) may come first; the
    // page's own values must replace them.
    const page1 = await server.json<Columns>('/v1/assets/SPX/candles?interval=1d&last=5000');
    const a = await server.json<Analytics>(
      `/v1/assets/SPX/analytics?graph=demo&interval=1d&outputs=trend50&from=${page1.ts[0]}ns`,
    );
    const expected = a.series[0]?.values ?? [];
    expect(expected.at(-1)).toEqual(expect.any(Number));
    // Its last value and its history, not only the live value: every bar of the page that has one.
    const series = await until('trend50 equal to the analytics endpoint', async () => {
      const t = (await inspect(page))?.series.trend50;
      return t && t.last === expected.at(-1) && t.points === expected.filter((v) => v !== null).length
        ? t
        : null;
    });
    expect(series.pane).toBe(0);
    await expect.poll(() => page.locator('[data-node="trend50"]').count()).toBe(1);
    await expect.poll(() => page.locator('[data-output="trend50"]').count()).toBe(1);
    await screenshot(page, 'added-sma50');
  });

  test('an sma of rsi is drawn in the rsi pane and vwap on the price scale, as the registry places them', async () => {
    const page = await open('/?asset=SPX&interval=1d');
    await until('the chart', async () => (await inspect(page))?.series.rsi);
    const form = page.getByTestId('add-node-form');
    const add = async (fn: string, id: string, input: string | null) => {
      const before = await server.json<GraphReply>('/v1/graphs/demo');
      await form.locator('select[name=fn]').selectOption(fn);
      await form.locator('input[name=id]').fill(id);
      if (input !== null) await form.locator('input[name=input-input]').fill(input);
      await form.getByRole('button', { name: 'Add node' }).click();
      await until(`the version with ${id}`, async () => {
        const g = await server.json<GraphReply>('/v1/graphs/demo');
        return Number(g.version) === Number(before.version) + 1 && g.spec.nodes.some((n) => n.id === id);
      });
    };
    await add('sma', 'rsi_ma', 'rsi');
    await add('vwap', 'vw', null); // reads the bar fields
    const shown = await until('both series', async () => {
      const c = await inspect(page);
      return c?.series.rsi_ma && c.series.vw && c.series.rsi ? c : null;
    });
    expect(shown.series.rsi?.pane).toBeGreaterThan(0);
    expect(shown.series.rsi_ma?.pane).toBe(shown.series.rsi?.pane);
    expect(shown.series.vw?.pane).toBe(0);
    expect(shown.series['macd.macd']?.pane).not.toBe(shown.series.rsi?.pane);
    await screenshot(page, 'added-rsi-ma-and-vwap');
  });

  test('an out-of-range period is shown next to the field, and nothing is sent', async () => {
    const page = await open('/?asset=SPX&interval=1d');
    const before = await server.json<GraphReply>('/v1/graphs/demo');
    const form = page.getByTestId('add-node-form');
    await form.locator('select[name=fn]').selectOption('rsi');
    const period = form.locator('input[name=param-period]');
    await period.fill('1');
    await form.getByRole('button', { name: 'Add node' }).click();
    const describedBy = await until('the error', async () => period.getAttribute('aria-describedby'));
    const message = await page.locator(`[id="${describedBy}"]`).textContent();
    expect(message).toBe("parameter 'period' = 1 is out of range [2, 100000]");
    expect(await period.getAttribute('aria-invalid')).toBe('true');
    expect((await server.json<GraphReply>('/v1/graphs/demo')).version).toBe(before.version);
    await screenshot(page, 'period-out-of-range');
  });

  test("the server's validation error is shown next to the field it names", async () => {
    const page = await open('/?asset=SPX&interval=1d');
    const before = await server.json<GraphReply>('/v1/graphs/demo');
    const form = page.getByTestId('add-node-form');
    await form.locator('select[name=fn]').selectOption('ema');
    const id = form.locator('input[name=id]');
    await id.fill('rsi'); // taken
    await form.getByRole('button', { name: 'Add node' }).click();
    const idError = await until('the id error', async () => id.getAttribute('aria-describedby'));
    expect(await page.locator(`[id="${idError}"]`).textContent()).toContain("node 'rsi': defined twice");
    await id.fill('ema_bad');
    const input = form.locator('input[name=input-input]');
    await input.fill('nosuchnode');
    await form.getByRole('button', { name: 'Add node' }).click();
    const inputError = await until('the input error', async () => input.getAttribute('aria-describedby'));
    expect(await page.locator(`[id="${inputError}"]`).textContent()).toContain("unknown input 'nosuchnode'");
    expect((await server.json<GraphReply>('/v1/graphs/demo')).version).toBe(before.version);
    await screenshot(page, 'server-validation-error');
  });
});

describe('the page', () => {
  test('works from the keyboard, in both themes, wide and narrow', async () => {
    const page = await open('/?asset=SPX&interval=1d');
    await until('the chart', async () => ((await inspect(page))?.bars ?? 0) > 0);
    // Tab to the search box, filter, tab to the asset and open it with Enter.
    let focused = '';
    for (let i = 0; i < 10 && focused !== 'watchlist-search'; ++i) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => document.activeElement?.getAttribute('data-testid') ?? '');
    }
    expect(focused).toBe('watchlist-search');
    await page.keyboard.type('glob');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-symbol'))).toBe('GLOBEX');
    await page.keyboard.press('Enter');
    await until('the GLOBEX chart', async () => {
      const c = await inspect(page);
      return c?.symbol === 'GLOBEX' && c.bars > 0;
    });
    await expect.poll(() => page.getByTestId('chart-symbol').textContent()).toBe('GLOBEX');
    // The interval buttons are buttons: focus one and press it.
    await page.getByRole('button', { name: '1m', exact: true }).focus();
    await page.keyboard.press('Enter');
    await until('the 1m chart', async () => (await inspect(page))?.interval === '1m');

    await page.getByTestId('theme').focus();
    await page.keyboard.press('Enter');
    const dark = await page.evaluate(() => document.documentElement.classList.contains('dark'));
    await screenshot(page, dark ? 'dark' : 'light');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.documentElement.classList.contains('dark'))).toBe(!dark);
    await screenshot(page, dark ? 'light' : 'dark');

    const narrow = await open('/?asset=SPX&interval=1d', 390, 844);
    await until('the narrow chart', async () => ((await inspect(narrow))?.bars ?? 0) > 0);
    const fits = await narrow.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    expect(fits).toBe(true);
    const chart = await narrow.getByTestId('chart').boundingBox();
    expect(chart?.width ?? 0).toBeGreaterThan(300);
    expect(chart?.height ?? 0).toBeGreaterThan(250);
    expect(await narrow.getByTestId('watchlist').isVisible()).toBe(true);
    await screenshot(narrow, 'narrow');
  });
});
