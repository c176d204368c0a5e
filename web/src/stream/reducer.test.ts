import { describe, expect, test } from 'vitest';
import type { StreamMessage, Update } from '../api/types';
import { backoffDelay, streamUrl } from './connection';
import { change, initialStreamState, streamReducer, type StreamAction, type StreamState } from './reducer';

const DAY = 86400;
const ns = (s: number) => String(BigInt(s) * 1_000_000_000n);

function run(actions: StreamAction[], state: StreamState = initialStreamState): StreamState {
  return actions.reduce(streamReducer, state);
}
const msg = (message: StreamMessage): StreamAction => ({ type: 'message', message, now: 1000 });
function update(symbol: string, day: number, close: number, final: boolean): Update {
  return {
    symbol,
    interval: 'INTERVAL_1D',
    candle: { time: ns(day * DAY), open: close, high: close, low: close, close, volume: 1 },
    final,
  };
}

describe('connection state', () => {
  test('a refused credential stops the countdown and keeps the reason', () => {
    const s = run([
      { type: 'connecting' },
      { type: 'closed', reason: 'connection lost', retryInMs: 500, now: 1000 },
      { type: 'refused', reason: 'the API key is not valid' },
    ]);
    expect(s.connection).toMatchObject({
      status: 'refused',
      retryAt: null,
      error: 'the API key is not valid',
    });
  });

  test('connecting, live, then reconnecting with the attempt counted and the retry time', () => {
    let s = run([{ type: 'connecting' }]);
    expect(s.connection.status).toBe('connecting');
    s = run([{ type: 'open', now: 5 }], s);
    expect(s.connection).toMatchObject({ status: 'live', attempt: 0 });
    s = run([{ type: 'closed', reason: 'connection lost', retryInMs: 500, now: 1000 }], s);
    expect(s.connection).toMatchObject({
      status: 'reconnecting',
      attempt: 1,
      retryAt: 1500,
      error: 'connection lost',
    });
    s = run(
      [{ type: 'connecting' }, { type: 'closed', reason: 'connection lost', retryInMs: 1000, now: 2000 }],
      s,
    );
    expect(s.connection.attempt).toBe(2);
    s = run([{ type: 'connecting' }, { type: 'open', now: 3000 }], s);
    expect(s.connection).toMatchObject({ status: 'live', attempt: 0, retryAt: null, error: null });
  });

  test('a stream error and a lag notice are kept without changing the quotes', () => {
    const s = run([
      msg({ error: { code: 'graph_changed', message: 'graph replaced' } }),
      msg({ lag: { coalesced: '12' } }),
    ]);
    expect(s.connection.error).toBe('graph replaced');
    expect(s.connection.coalesced).toBe(12);
    expect(s.quotes).toEqual({});
  });
});

describe('quotes', () => {
  test('a snapshot gives the last price and the change from the previous close', () => {
    const s = run([
      msg({
        snapshot: {
          candles: [
            { symbol: 'SPX', ts: [ns(1 * DAY), ns(2 * DAY)], close: [100, 110] },
            { symbol: 'ACME', ts: [ns(2 * DAY)], close: [50] },
            { symbol: 'NEW', ts: [], close: [] },
          ],
          forming: [update('ACME', 3, 55, false)],
        },
      }),
    ]);
    expect(s.quotes.SPX).toMatchObject({ last: 110, previousClose: 100 });
    expect(change(s.quotes.SPX!)?.pct).toBeCloseTo(10, 12);
    expect(s.quotes.ACME).toMatchObject({ last: 55, previousClose: 50 });
    expect(s.quotes.NEW).toBeUndefined();
  });

  test('updates move the last price; a final bar becomes the previous close of the next', () => {
    let s = run([msg({ snapshot: { candles: [{ symbol: 'A', ts: [ns(DAY)], open: [10], close: [10] }] } })]);
    expect(s.quotes.A).toMatchObject({ last: 10, previousClose: null, open: 10 });
    s = run([msg({ update: update('A', 2, 11, false) })], s);
    expect(s.quotes.A).toMatchObject({ last: 11, previousClose: 10, direction: 'up' });
    s = run([msg({ update: update('A', 2, 10.5, false) })], s);
    expect(s.quotes.A).toMatchObject({ last: 10.5, direction: 'down' });
    s = run([msg({ update: update('A', 2, 12, true) })], s);
    expect(s.quotes.A).toMatchObject({ last: 12, previousClose: 10 });
    s = run([msg({ update: update('A', 3, 13, false) })], s);
    expect(s.quotes.A).toMatchObject({ last: 13, previousClose: 12 });
    expect(change(s.quotes.A!)?.abs).toBe(1);
  });

  test('a re-sent older final bar does not move the quote back', () => {
    let s = run([msg({ update: update('A', 5, 20, true) }), msg({ update: update('A', 6, 21, false) })]);
    const before = s.quotes.A;
    s = run([msg({ update: update('A', 4, 1, true) })], s);
    expect(s.quotes.A).toBe(before);
  });

  test('no previous close: the change is from the open of the only bar', () => {
    const s = run([
      msg({
        update: {
          ...update('A', 1, 10, false),
          candle: { time: ns(DAY), open: 8, high: 10, low: 8, close: 10, volume: 1 },
        },
      }),
    ]);
    expect(s.quotes.A?.previousClose).toBeNull();
    expect(change(s.quotes.A!)).toEqual({ abs: 2, pct: 25 });
    const zero = run([
      msg({ update: { ...update('B', 1, 10, false), candle: { time: ns(DAY), open: 0, close: 10 } } }),
    ]);
    expect(change(zero.quotes.B!)).toBeNull();
  });

  test('the reducer does not mutate the state it is given', () => {
    const s0 = run([msg({ update: update('A', 1, 10, true) })]);
    const copy = structuredClone(s0);
    run(
      [msg({ update: update('A', 2, 11, false) }), { type: 'closed', reason: 'x', retryInMs: 1, now: 1 }],
      s0,
    );
    expect(s0).toEqual(copy);
  });
});

describe('reconnecting', () => {
  test('the backoff doubles up to its cap, with jitter in [0.5, 1)', () => {
    const b = { initialMs: 250, maxMs: 8000 };
    expect([1, 2, 3, 4, 5, 6, 7, 10].map((a) => backoffDelay(a, b, 0.999999))).toEqual([
      250, 500, 1000, 2000, 4000, 8000, 8000, 8000,
    ]);
    expect(backoffDelay(3, b, 0)).toBe(500);
    for (let a = 1; a < 12; ++a) {
      const d = backoffDelay(a, b, Math.random());
      expect(d).toBeGreaterThanOrEqual(125);
      expect(d).toBeLessThanOrEqual(8000);
    }
  });

  test('the stream URL follows the page: ws for http, wss for https', () => {
    expect(streamUrl({ protocol: 'http:', host: '127.0.0.1:8080' })).toBe('ws://127.0.0.1:8080/v1/stream');
    expect(streamUrl({ protocol: 'https:', host: 'example.org' })).toBe('wss://example.org/v1/stream');
  });
});
