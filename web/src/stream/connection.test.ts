// The stream connection and the credential: each attempt asks for the credential afresh (a
// reconnect uses a renewed token), and a socket that fails before it opens is checked over REST,
// so that a refused credential stops the retries while an outage keeps them going.
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { StreamConnection, withParams, type StreamAccess } from './connection';
import type { StreamAction } from './reducer';

class FakeSocket {
  static readonly OPEN = 1;
  static all: FakeSocket[] = [];
  readyState = 0;
  onopen: (() => void) | null = null;
  onclose: ((e: { code: number; reason: string }) => void) | null = null;
  onmessage: ((e: { data: string }) => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  send(): void {}
  close(): void {}
  open(): void {
    this.readyState = FakeSocket.OPEN;
    this.onopen?.();
  }
  fail(): void {
    this.onclose?.({ code: 1006, reason: '' }); // what a refused handshake looks like
  }
}

const BACKOFF = { initialMs: 100, maxMs: 1000 };

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.all = [];
  vi.stubGlobal('WebSocket', FakeSocket);
});
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

function connect(access: StreamAccess) {
  const actions: StreamAction[] = [];
  const c = new StreamConnection(
    'ws://host/v1/stream',
    { action: (a) => actions.push(a), message: () => undefined },
    BACKOFF,
    access,
  );
  return { c, actions, types: () => actions.map((a) => a.type) };
}

describe('the stream and the credential', () => {
  test('the credential goes in the URL, asked for again on every attempt', async () => {
    let n = 0;
    const access: StreamAccess = {
      params: async () => ({ access_token: `token-${++n}` }),
      refused: async () => null,
    };
    const { c } = connect(access);
    await vi.advanceTimersByTimeAsync(0);
    expect(FakeSocket.all[0]?.url).toBe('ws://host/v1/stream?access_token=token-1');
    FakeSocket.all[0]?.open();
    FakeSocket.all[0]?.onclose?.({ code: 1001, reason: 'going away' });
    await vi.advanceTimersByTimeAsync(BACKOFF.initialMs);
    expect(FakeSocket.all[1]?.url).toBe('ws://host/v1/stream?access_token=token-2');
    c.close();
  });

  test('a socket refused before opening, with the credential refused over REST, stops retrying', async () => {
    const refused = vi.fn(async () => 'the API key is not valid');
    const { c, actions, types } = connect({ params: async () => ({ api_key: 'tgk_1_bad' }), refused });
    await vi.advanceTimersByTimeAsync(0);
    FakeSocket.all[0]?.fail();
    await vi.advanceTimersByTimeAsync(0);
    expect(refused).toHaveBeenCalledTimes(1);
    expect(actions.at(-1)).toEqual({ type: 'refused', reason: 'the API key is not valid' });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.all).toHaveLength(1);
    // Until the user asks.
    c.retryNow();
    await vi.advanceTimersByTimeAsync(0);
    expect(FakeSocket.all).toHaveLength(2);
    expect(types()).toEqual(['connecting', 'closed', 'refused', 'connecting']);
    c.close();
  });

  test('a socket that fails while the credential is accepted (an outage) keeps retrying', async () => {
    const refused = vi.fn(async () => null);
    const { c, types } = connect({ params: async () => ({ api_key: 'tgk_1_ok' }), refused });
    for (let i = 0; i < 3; ++i) {
      await vi.advanceTimersByTimeAsync(0);
      FakeSocket.all[i]?.fail();
      await vi.advanceTimersByTimeAsync(BACKOFF.maxMs);
    }
    expect(FakeSocket.all.length).toBeGreaterThanOrEqual(4);
    expect(refused).toHaveBeenCalledTimes(3);
    expect(types()).not.toContain('refused');
    c.close();
  });

  test('a socket that had opened is not checked when it closes', async () => {
    const refused = vi.fn(async () => 'refused');
    const { c } = connect({ params: async () => ({}), refused });
    await vi.advanceTimersByTimeAsync(0);
    expect(FakeSocket.all[0]?.url).toBe('ws://host/v1/stream');
    FakeSocket.all[0]?.open();
    FakeSocket.all[0]?.fail();
    await vi.advanceTimersByTimeAsync(BACKOFF.initialMs);
    expect(refused).not.toHaveBeenCalled();
    expect(FakeSocket.all).toHaveLength(2);
    c.close();
  });

  test('withParams adds to the query', () => {
    expect(withParams('ws://h/v1/stream', { api_key: 'tgk_1_a+b' })).toBe(
      'ws://h/v1/stream?api_key=tgk_1_a%2Bb',
    );
    expect(withParams('ws://h/s?x=1', { access_token: 't' })).toBe('ws://h/s?x=1&access_token=t');
    expect(withParams('ws://h/s', {})).toBe('ws://h/s');
  });
});
