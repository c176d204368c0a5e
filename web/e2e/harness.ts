// What the browser tests and the UI benchmark share: a real `tickgraph serve` (the binary from
// TICKGRAPH_BIN, its SQLite database in a temporary directory, the built UI from web/dist) with
// authentication on, an API key made for it with `tickgraph auth key add` before it starts, and
// Debian's Chromium driven by playwright-core. Pages open with the sign-in link
// (server.link(path): the key in the URL's fragment, as `scripts/serve.sh` prints it).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const WEB_ROOT = resolve(here, '../dist');
export const SHOTS = resolve(process.env.TICKGRAPH_E2E_DIR ?? resolve(here, '../../build/e2e'));

// $TICKGRAPH_BIN (ctest sets it), else the default build's build/bin/tickgraph.
export function tickgraphBin(): string {
  const bin = process.env.TICKGRAPH_BIN ?? resolve(here, '../../build/bin/tickgraph');
  if (!existsSync(bin)) throw new Error(`no tickgraph binary at ${bin}: build it, or set TICKGRAPH_BIN`);
  return bin;
}

export interface Client {
  clientId: string;
  clientSecret: string;
}

export class Server {
  private process: ChildProcess | null = null;
  port = 0;
  output = '';
  // The read,write key the pages and json() use; null with `--auth off` in the extra arguments.
  apiKey: string | null = null;

  constructor(
    readonly directory: string = mkdtempSync(join(tmpdir(), 'tickgraph-ui-')),
    private readonly extra: string[] = [],
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  // Whether the server checks credentials: unless started with `--auth off`.
  get auth(): boolean {
    const at = this.extra.indexOf('--auth');
    return !(this.extra.includes('--auth=off') || (at >= 0 && this.extra[at + 1] === 'off'));
  }

  private get home(): string {
    return join(this.directory, 'home');
  }

  // The database the server uses (its default, through TICKGRAPH_DB), for `tickgraph auth`.
  get db(): string {
    return `sqlite:${join(this.home, 'default.db')}`;
  }

  private env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      HOME: this.home,
      TICKGRAPH_DB: this.db,
      NO_PROXY: '127.0.0.1',
      no_proxy: '127.0.0.1',
    };
  }

  // Runs `tickgraph auth …` on the server's database and returns its name=value lines.
  async authCli(args: string[]): Promise<Record<string, string>> {
    mkdirSync(this.home, { recursive: true });
    const stdout = await new Promise<string>((ok, fail) =>
      execFile(tickgraphBin(), ['auth', ...args, '--db', this.db], { env: this.env() }, (e, out, err) =>
        e ? fail(new Error(`tickgraph auth ${args.join(' ')}: ${e.message}\n${err}`)) : ok(out),
      ),
    );
    const values: Record<string, string> = {};
    for (const line of stdout.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) values[line.slice(0, eq)] = line.slice(eq + 1).trim();
    }
    return values;
  }

  // A new API key (`tickgraph auth key add NAME --scopes SCOPES`): its key_id and api_key.
  async addKey(name: string, scopes: string): Promise<{ keyId: string; apiKey: string }> {
    const v = await this.authCli(['key', 'add', name, '--scopes', scopes]);
    if (!v.key_id || !v.api_key) throw new Error(`auth key add printed no key: ${JSON.stringify(v)}`);
    return { keyId: v.key_id, apiKey: v.api_key };
  }

  // A new OAuth2 client (`tickgraph auth client add NAME --scopes SCOPES`).
  async addClient(name: string, scopes: string): Promise<Client> {
    const v = await this.authCli(['client', 'add', name, '--scopes', scopes]);
    if (!v.client_id || !v.client_secret) throw new Error(`auth client add printed no client`);
    return { clientId: v.client_id, clientSecret: v.client_secret };
  }

  // The address of `path` (with its query) as a sign-in link: the key in the fragment.
  link(path = '/', apiKey: string | null = this.apiKey): string {
    return apiKey === null ? this.url + path : `${this.url}${path}#api_key=${apiKey}`;
  }

  // Starts the server (on `port`, or a free one the first time) and waits for its address line.
  // The first start with auth on makes the key `e2e` (read,write) first.
  async start(port = this.port): Promise<void> {
    if (this.auth && this.apiKey === null) this.apiKey = (await this.addKey('e2e', 'read,write')).apiKey;
    mkdirSync(this.home, { recursive: true });
    const env = this.env();
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

  // A REST call with the e2e key (or `apiKey`).
  async json<T>(path: string, init?: RequestInit, apiKey: string | null = this.apiKey): Promise<T> {
    const headers = new Headers(init?.headers);
    if (apiKey !== null) headers.set('X-API-Key', apiKey);
    const r = await fetch(this.url + path, { ...init, headers });
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
