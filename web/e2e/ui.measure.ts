// The UI's speed in Debian's Chromium against a real `tickgraph serve` (run by
// bench/web_bench.sh, not by the tests): first chart paint of 5,000 daily bars with three
// indicators, the delay from a stream update leaving the server to the frame that draws it, and
// the production bundle's gzipped size. Prints a table against the targets and writes
// build/e2e/web-bench.json.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { expect, test } from 'vitest';
import { SHOTS, Server, WEB_ROOT, inspect, launch, until } from './harness';

const RUNS = Number(process.env.PAINT_RUNS ?? 7);
const STREAM_SECONDS = Number(process.env.STREAM_SECONDS ?? 20);

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const at = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[at] as number;
}

test('UI speed', async () => {
  const server = new Server(undefined, ['--tick-rate', '20']);
  await server.start(0);
  const browser = await launch();
  try {
    // First paint: a new browser context (empty cache) per run.
    const paints: number[] = [];
    for (let i = 0; i < RUNS; ++i) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      await page.goto(server.link('/?asset=SPX&interval=1d&nodes=sma50,ema20,rsi'));
      const ms = await until(
        'the first paint',
        () => page.evaluate(() => window.__tickgraph.firstPaintMs),
        30_000,
      );
      const c = await inspect(page);
      expect(c?.bars).toBe(5000);
      expect(Object.keys(c?.series ?? {}).sort()).toEqual(['ema20', 'rsi', 'sma50']);
      paints.push(ms);
      await context.close();
    }
    paints.sort((a, b) => a - b);

    // Stream updates: three simulated assets at 20 ticks/s each; the chart shows one of them.
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(server.link('/?asset=ACME&interval=1s&nodes=sma50,ema20,rsi'));
    await until('live', async () => (await page.evaluate(() => window.__tickgraph.status)) === 'live');
    await page.evaluate(() => (window.__tickgraph.latenciesMs.length = 0));
    await page.waitForTimeout(STREAM_SECONDS * 1000);
    const latencies = (await page.evaluate(() => window.__tickgraph.latenciesMs.slice())).sort(
      (a, b) => a - b,
    );
    await context.close();

    const assets = join(WEB_ROOT, 'assets');
    let gz = 0;
    for (const f of readdirSync(assets)) gz += gzipSync(readFileSync(join(assets, f)), { level: 9 }).length;
    gz += gzipSync(readFileSync(join(WEB_ROOT, 'index.html')), { level: 9 }).length;

    const rows = [
      [
        'first chart paint, 5,000 bars + 3 indicators (median of ' + RUNS + ')',
        `${quantile(paints, 0.5).toFixed(0)} ms (min ${paints[0]?.toFixed(0)}, max ${paints.at(-1)?.toFixed(0)})`,
        '≤ 1500 ms',
        quantile(paints, 0.5) / 1500,
      ],
      [
        `stream update to canvas, ${latencies.length} updates`,
        `p50 ${quantile(latencies, 0.5).toFixed(1)} ms, p95 ${quantile(latencies, 0.95).toFixed(1)} ms, max ${latencies.at(-1)?.toFixed(1)} ms`,
        'p95 ≤ 100 ms',
        quantile(latencies, 0.95) / 100,
      ],
      ['production bundle, gzipped', `${(gz / 1024).toFixed(1)} KB`, '≤ 400 KB', gz / 1024 / 400],
    ] as const;
    console.log('\n| | measured | target | measured / target |\n|---|---|---|---:|');
    for (const [what, measured, target, ratio] of rows)
      console.log(`| ${what} | ${measured} | ${target} | ${ratio.toFixed(2)} |`);
    writeFileSync(
      join(SHOTS, 'web-bench.json'),
      JSON.stringify(
        {
          paintsMs: paints,
          latencyP50Ms: quantile(latencies, 0.5),
          latencyP95Ms: quantile(latencies, 0.95),
          updates: latencies.length,
          bundleGzipBytes: gz,
        },
        null,
        2,
      ),
    );
    expect(latencies.length).toBeGreaterThan(STREAM_SECONDS * 5);
  } finally {
    await browser.close();
    await server.stop();
  }
});
