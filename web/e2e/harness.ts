// What the browser tests and the UI benchmark share: a real `tickgraph serve` (the binary from
// TICKGRAPH_BIN, its SQLite database in a temporary directory, the built UI from web/dist) and
// Debian's Chromium driven by playwright-core.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const WEB_ROOT = resolve(here, '../dist');
export const SHOTS = resolve(process.env.TICKGRAPH_E2E_DIR ?? resolve(here, '../../build/e2e'));

export function tickgraphBin(): string {
  const bin = process.env.TICKGRAPH_BIN;
  if (!bin) throw new Error('TICKGRAPH_BIN is not set: the path of the built tickgraph binary');
  return bin;
}

export class Server {
  private process: ChildProcess | null = null;
  port = 0;
  output = '';

  constructor(
    readonly directory: string = mkdtempSync(join(tmpdir(), 'tickgraph-ui-')),
    private readonly extra: string[] = [],
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  // Starts the server (on `port`, or a free one the first time) and waits for its address line.
  async start(port = this.port): Promise<void> {
    const home = join(this.directory, 'home');
    mkdirSync(home, { recursive: true });
    const env = {
      ...process.env,
      HOME: home,
      TICKGRAPH_DB: `sqlite:${join(home, 'default.db')}`,
      NO_PROXY: '127.0.0.1',
      no_proxy: '127.0.0.1',
    };
    const child = spawn(
      tickgraphBin(),
      ['serve', '--port', String(port), '--web-root', WEB_ROOT, ...this.extra],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.process = child;
    await new Promise<void>((ok, fail) => {
      const timer = setTimeout(
        () => fail(new Error(`tickgraph serve did not start in 30 s:\n${this.output}`)),
        30_000,
      );
      const read = (chunk: Buffer) => {
        this.output += chunk.toString();
        const m = /serving http:\/\/127\.0\.0\.1:(\d+)\//.exec(this.output.slice(-2000));
        if (m) {
          clearTimeout(timer);
          this.port = Number(m[1]);
          ok();
        }
      };
      child.stdout?.on('data', read);
      child.stderr?.on('data', read);
      child.on('exit', (code) => {
        clearTimeout(timer);
        fail(new Error(`tickgraph serve exited ${code}:\n${this.output}`));
      });
    });
  }

  // SIGTERM, then waits for the drain to finish.
  async stop(): Promise<number | null> {
    const child = this.process;
    if (!child || child.exitCode !== null) return child?.exitCode ?? null;
    this.process = null;
    child.removeAllListeners('exit'); // start()'s, which reports an early exit
    const exited = new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)));
    child.kill('SIGTERM');
    const timeout = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const code = await exited;
    clearTimeout(timeout);
    return code;
  }

  async json<T>(path: string, init?: RequestInit): Promise<T> {
    const r = await fetch(this.url + path, init);
    const body = await r.text();
    if (!r.ok) throw new Error(`${init?.method ?? 'GET'} ${path}: ${r.status} ${body}`);
    return JSON.parse(body) as T;
  }
}

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

// A page that fails the test on any uncaught page error.
export async function newPage(
  browser: Browser,
  width = 1280,
  height = 800,
): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width, height } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  return { page, errors };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

// What window.__tickgraph reports (see src/probe.ts).
export interface Inspection {
  symbol: string;
  interval: string;
  bars: number;
  last?: { time: number; open: number; high: number; low: number; close: number };
  series: Record<string, { points: number; last: number | null; pane: number }>;
  panes: number;
}

export function inspect(page: Page): Promise<Inspection | null> {
  return page.evaluate(() => (window.__tickgraph.chart?.() as Inspection | null) ?? null);
}

// Polls `f` until it returns a value that is not undefined/false, or fails after `ms`.
export async function until<T>(
  what: string,
  f: () => Promise<T | undefined | false | null>,
  ms = 10_000,
): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false && v !== null) return v;
    last = v;
    if (Date.now() > end)
      throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
