// One WebSocket to /v1/stream that stays up: it sends the current subscription on every open,
// and after a close it reconnects with exponential backoff and jitter, reporting each step as a
// StreamAction for the reducer. Messages are parsed as tickgraph.v1.StreamMessage.
//
// A browser cannot send headers with a WebSocket, so the credential goes in the URL, asked of
// `access` afresh for every attempt (a reconnect uses a renewed token). A refused handshake (401)
// shows only as a socket that closed before it opened, like a server that is away; so after such
// a close `access.refused()` asks the REST API, and a refused credential stops the retries
// ('refused', until retryNow()) instead of knocking forever.
import type { ClientMessage, StreamMessage, Subscribe } from '../api/types';
import type { StreamAction } from './reducer';

export interface Backoff {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 250, maxMs: 8000 };
const STABLE_MS = 5000;

// The wait before attempt `attempt` (1, 2, …): doubling from initialMs up to maxMs, scaled by a
// factor in [0.5, 1) from `random` so that many clients do not return at once.
export function backoffDelay(attempt: number, backoff: Backoff, random: number): number {
  const base = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.5 + random / 2));
}

export function streamUrl(location: Pick<Location, 'protocol' | 'host'>): string {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/v1/stream`;
}

export interface StreamAccess {
  // The credential's query parameters for the next attempt (api_key or access_token).
  params(): Promise<Record<string, string>>;
  // After a socket that closed before opening: the server's reason when the credential is
  // refused (401, 403), null when it is accepted or the server did not answer.
  refused(): Promise<string | null>;
}

// `url` with `params` added to its query.
export function withParams(url: string, params: Record<string, string>): string {
  const q = new URLSearchParams(params).toString();
  if (q === '') return url;
  return `${url}${url.includes('?') ? '&' : '?'}${q}`;
}

export interface StreamListener {
  action(a: StreamAction): void;
  message(m: StreamMessage): void;
}

export class StreamConnection {
  private socket: WebSocket | null = null;
  private subscription: Subscribe | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stable: ReturnType<typeof setTimeout> | null = null;
  private closed = false;
  private opening = 0; // the attempt whose URL is being made, 0 when none
  private openings = 0; // attempts started, to tell a stale callback from the current one

  constructor(
    private readonly url: string,
    private readonly listener: StreamListener,
    private readonly backoff: Backoff = DEFAULT_BACKOFF,
    private readonly access: StreamAccess | null = null,
  ) {
    this.open();
  }

  // Replaces what this connection streams (the server adds subscriptions, so the old ones are
  // dropped first); sent now when open, else on the next open.
  subscribe(subscription: Subscribe): void {
    this.subscription = subscription;
    this.send({ unsubscribe: {} });
    this.send({ subscribe: subscription });
  }

  // Reconnects at once instead of waiting for the backoff (the "retry now" button).
  retryNow(): void {
    if (this.closed || this.socket !== null || this.opening !== 0) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.open();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.stable !== null) clearTimeout(this.stable);
    this.socket?.close(1000, 'page closed');
    this.socket = null;
  }

  private send(message: ClientMessage): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  private open(): void {
    this.listener.action({ type: 'connecting' });
    if (this.access === null) {
      this.connect(this.url);
      return;
    }
    const attempt = ++this.openings;
    this.opening = attempt;
    this.access.params().then(
      (params) => {
        if (this.closed || this.opening !== attempt) return;
        this.opening = 0;
        this.connect(withParams(this.url, params));
      },
      (e: unknown) => {
        if (this.closed || this.opening !== attempt) return;
        this.opening = 0;
        this.failed(`no credential: ${e instanceof Error ? e.message : String(e)}`, false);
      },
    );
  }

  private connect(url: string): void {
    const socket = new WebSocket(url);
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      // The backoff starts again only once a connection has lasted: a server that accepts and
      // then closes at once (draining, or closing this client as too slow) is not hammered.
      this.stable = setTimeout(() => {
        this.attempt = 0;
        this.stable = null;
      }, STABLE_MS);
      this.listener.action({ type: 'open', now: Date.now() });
      if (this.subscription) this.send({ subscribe: this.subscription });
    };
    socket.onmessage = (event: MessageEvent<string>) => {
      let message: StreamMessage;
      try {
        message = JSON.parse(event.data) as StreamMessage;
      } catch {
        message = { error: { code: 'bad_message', message: 'the server sent a message that is not JSON' } };
      }
      this.listener.message(message);
      this.listener.action({ type: 'message', message, now: Date.now() });
    };
    socket.onclose = (event: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stable !== null) clearTimeout(this.stable);
      this.stable = null;
      if (this.closed) return;
      this.failed(
        event.reason || (event.code === 1006 ? 'connection lost' : `closed (${event.code})`),
        opened,
      );
    };
  }

  // Schedules the next attempt; after a socket that never opened, asks whether the credential
  // was the reason, and if so stops instead.
  private failed(reason: string, opened: boolean): void {
    this.attempt += 1;
    const wait = backoffDelay(this.attempt, this.backoff, Math.random());
    this.listener.action({ type: 'closed', reason, retryInMs: wait, now: Date.now() });
    const timer = setTimeout(() => {
      this.timer = null;
      this.open();
    }, wait);
    this.timer = timer;
    if (opened || this.access === null) return;
    void this.access.refused().then(
      (why) => {
        if (why === null || this.closed || this.timer !== timer) return;
        clearTimeout(timer);
        this.timer = null;
        this.listener.action({ type: 'refused', reason: why });
      },
      () => undefined,
    );
  }
}
