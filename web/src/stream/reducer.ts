// The state a stream connection shows the user: whether it is live, and, for the watchlist, each
// asset's last price and its change since the previous bar's close. A pure reducer: the
// connection (connection.ts) dispatches what happened, the UI renders the state.
import type { StreamMessage, Update } from '../api/types';
import { nsToSeconds } from '../chart/series';

// refused: the server refused the credential; no retries until the user asks.
export type ConnectionStatus = 'connecting' | 'live' | 'reconnecting' | 'refused';

export interface Connection {
  status: ConnectionStatus;
  attempt: number; // failed attempts since the last success
  retryAt: number | null; // ms since the epoch of the next attempt, while reconnecting
  error: string | null; // why the last connection ended, or the server's last stream error
  coalesced: number; // updates the server replaced because this client was slow
}

interface Bar {
  time: number;
  open: number;
  close: number;
}

export interface Quote {
  symbol: string;
  last: number;
  previousClose: number | null;
  open: number; // of the bar the last price is from: the reference when there is no previous close
  time: number; // seconds: the time of the bar the last price is from
  direction: 'up' | 'down' | null; // of the last price change, for a brief highlight
  // Internal: the latest closed bar, the one before, and the forming bar.
  closed: Bar | null;
  beforeClosed: Bar | null;
  forming: Bar | null;
}

export interface StreamState {
  connection: Connection;
  quotes: Record<string, Quote>;
}

export type StreamAction =
  | { type: 'connecting' }
  | { type: 'open'; now: number }
  | { type: 'closed'; reason: string; retryInMs: number; now: number }
  | { type: 'refused'; reason: string }
  | { type: 'message'; message: StreamMessage; now: number };

export const initialStreamState: StreamState = {
  connection: {
    status: 'connecting',
    attempt: 0,
    retryAt: null,
    error: null,
    coalesced: 0,
  },
  quotes: {},
};

// The change since the previous bar's close; for an asset with one bar so far, since its open.
export function change(q: Quote): { abs: number; pct: number } | null {
  const reference = q.previousClose ?? q.open;
  if (reference === 0 || !Number.isFinite(reference)) return null;
  const abs = q.last - reference;
  return { abs, pct: (abs / reference) * 100 };
}

function withBars(
  symbol: string,
  old: Quote | undefined,
  closed: Bar | null,
  beforeClosed: Bar | null,
  forming: Bar | null,
): Quote | undefined {
  const formingIsNewer = forming !== null && (closed === null || forming.time > closed.time);
  const current = formingIsNewer ? forming : closed;
  if (current === null) return old;
  const previous = formingIsNewer ? closed : beforeClosed;
  const direction =
    old === undefined || old.last === current.close
      ? (old?.direction ?? null)
      : current.close > old.last
        ? 'up'
        : 'down';
  return {
    symbol,
    last: current.close,
    previousClose: previous?.close ?? null,
    open: current.open,
    time: current.time,
    direction,
    closed,
    beforeClosed,
    forming: formingIsNewer ? forming : null,
  };
}

function applyQuoteUpdate(quotes: Record<string, Quote>, u: Update): Record<string, Quote> {
  const symbol = u.symbol ?? '';
  const time = nsToSeconds(u.candle?.time);
  const close = u.candle?.close;
  if (!symbol || close === undefined) return quotes;
  const old = quotes[symbol];
  const bar = { time, open: u.candle?.open ?? close, close };
  let q: Quote | undefined;
  if (u.final) {
    // A bar closed: it becomes the latest closed bar (unless an older one is re-sent).
    const closed = old?.closed ?? null;
    if (closed !== null && time < closed.time) return quotes;
    const before = closed !== null && time > closed.time ? closed : (old?.beforeClosed ?? null);
    const forming = old?.forming && old.forming.time > time ? old.forming : null;
    q = withBars(symbol, old, bar, before, forming);
  } else {
    q = withBars(symbol, old, old?.closed ?? null, old?.beforeClosed ?? null, bar);
  }
  return q === undefined ? quotes : { ...quotes, [symbol]: q };
}

function applySnapshot(quotes: Record<string, Quote>, m: StreamMessage): Record<string, Quote> {
  const next = { ...quotes };
  for (const c of m.snapshot?.candles ?? []) {
    const symbol = c.symbol ?? '';
    const ts = c.ts ?? [];
    const closes = c.close ?? [];
    const n = ts.length;
    const opens = c.open ?? [];
    const bar = (i: number): Bar | null =>
      i >= 0 && i < n
        ? { time: nsToSeconds(ts[i]), open: opens[i] ?? Number.NaN, close: closes[i] ?? Number.NaN }
        : null;
    const f = m.snapshot?.forming?.find((u) => u.symbol === symbol)?.candle;
    const forming =
      f?.close !== undefined ? { time: nsToSeconds(f.time), open: f.open ?? f.close, close: f.close } : null;
    const q = withBars(symbol, next[symbol], bar(n - 1), bar(n - 2), forming);
    if (q) next[symbol] = q;
  }
  return next;
}

export function streamReducer(state: StreamState, action: StreamAction): StreamState {
  switch (action.type) {
    case 'connecting':
      return { ...state, connection: { ...state.connection, status: 'connecting', retryAt: null } };
    case 'open':
      return {
        ...state,
        connection: { ...state.connection, status: 'live', attempt: 0, retryAt: null, error: null },
      };
    case 'closed':
      return {
        ...state,
        connection: {
          ...state.connection,
          status: 'reconnecting',
          attempt: state.connection.attempt + 1,
          retryAt: action.now + action.retryInMs,
          error: action.reason,
        },
      };
    case 'refused':
      return {
        ...state,
        connection: { ...state.connection, status: 'refused', retryAt: null, error: action.reason },
      };
    case 'message': {
      const m = action.message;
      const connection = state.connection;
      if (m.error)
        return { ...state, connection: { ...connection, error: m.error.message ?? 'stream error' } };
      if (m.lag) return { ...state, connection: { ...connection, coalesced: Number(m.lag.coalesced ?? 0) } };
      if (m.snapshot) return { ...state, quotes: applySnapshot(state.quotes, m) };
      if (m.update) {
        const quotes = applyQuoteUpdate(state.quotes, m.update);
        return quotes === state.quotes ? state : { ...state, quotes };
      }
      return state;
    }
  }
}
