// Feeds a ChartView: the latest page of bars with their analytics from REST, older pages when the
// user scrolls back, and the live stream (a snapshot on every (re)subscribe, then updates of the
// forming bar and its provisional analytics). The rows live in a ref, not in React state, so that
// a tick is one chart update; the legend re-renders at most once a frame.
import { useCallback, useEffect, useReducer, useRef, useState } from 'react';
import { ApiError, api } from '../api/client';
import {
  INTERVAL_SECONDS,
  intervalEnum,
  type AnalyticsResult,
  type Graph,
  type IntervalName,
  type StreamMessage,
  type Subscribe,
} from '../api/types';
import { probe } from '../probe';
import { streamAccess } from '../stream/access';
import { DEFAULT_BACKOFF, StreamConnection, streamUrl } from '../stream/connection';
import { initialStreamState, streamReducer, type StreamAction } from '../stream/reducer';
import type { ChartView } from './chartView';
import {
  applyUpdate,
  mergeRows,
  mergeSnapshot,
  rowsFromColumns,
  rowsFromSnapshot,
  secondsToNs,
  withValues,
  type Row,
} from './series';

export const PAGE_BARS = 5000;
const SNAPSHOT_BARS = 200;
const LOAD_OLDER_WHEN_WITHIN = 30; // bars from the left edge

export interface FeedOptions {
  symbol: string;
  interval: IntervalName;
  graph: Graph | null;
  outputs: string[]; // the visible outputs, loaded with each page
  view: ChartView | null;
  onGraphChanged: () => void;
}

const message = (e: unknown) => (e instanceof ApiError ? e.message : String(e));

export function useChartFeed(o: FeedOptions) {
  const rows = useRef<Row[]>([]);
  const [stream, dispatch] = useReducer(streamReducer, initialStreamState);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [, setTick] = useState(0); // bumps (once a frame at most) when rows change
  const frame = useRef<number | null>(null);
  const generation = useRef(0); // of (symbol, interval, graph): stale replies are dropped
  const hasOlder = useRef(false);
  const older = useRef<Promise<void> | null>(null); // the older page being loaded
  const connection = useRef<StreamConnection | null>(null);
  const drawn = useRef<{ symbol: string; interval: string } | null>(null); // what the chart shows
  const latest = useRef(o);
  latest.current = o;

  const changed = useCallback(() => {
    if (frame.current !== null) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = null;
      setTick((t) => t + 1);
    });
  }, []);

  // The analytics of the visible outputs for bars [first, last], or null when there are none.
  const fetchValues = useCallback(async (first: number, last: number): Promise<AnalyticsResult | null> => {
    const { symbol, interval, graph, outputs } = latest.current;
    if (!graph?.id || outputs.length === 0) return null;
    return api.analytics(symbol, graph.id, outputs, {
      interval,
      from: secondsToNs(first),
      to: secondsToNs(last),
    });
  }, []);

  const draw = useCallback(
    (next: Row[], first: boolean) => {
      rows.current = next;
      const { view, symbol, interval } = latest.current;
      if (!view) return;
      view.setRows(next);
      drawn.current = { symbol, interval };
      if (first && probe.firstPaintMs === null && next.length > 0) {
        requestAnimationFrame(() => {
          if (probe.firstPaintMs === null) probe.firstPaintMs = performance.now();
        });
      }
      changed();
    },
    [changed],
  );
  const subscription = useCallback((): Subscribe => {
    const { symbol, interval, graph } = latest.current;
    return {
      assets: [symbol],
      interval: intervalEnum(interval),
      graph: graph?.id ?? '',
      outputs: graph?.outputs ?? [],
      history: SNAPSHOT_BARS,
    };
  }, []);

  // Bars in [from, to] with their values, merged in (after a reconnect left a gap).
  const fillGap = useCallback(
    async (from: number, to: number) => {
      const gen = generation.current;
      const { symbol, interval } = latest.current;
      try {
        const page = await api.candles(symbol, { interval, from: secondsToNs(from), to: secondsToNs(to) });
        let gap = rowsFromColumns(page);
        const first = gap[0];
        const last = gap[gap.length - 1];
        if (first && last) {
          const values = await fetchValues(first.time, last.time);
          if (values) gap = withValues(gap, values);
        }
        if (gen === generation.current) draw(mergeRows(gap, rows.current), false);
      } catch (e) {
        if (gen === generation.current) setError(message(e));
      }
    },
    [draw, fetchValues],
  );

  // The latest page and its analytics, for each (symbol, interval, graph); then the stream.
  const graphId = o.graph?.id ?? '';
  useEffect(() => {
    const view = o.view;
    if (!view) return;
    const gen = ++generation.current;
    const { symbol, interval } = latest.current;
    rows.current = [];
    drawn.current = null;
    hasOlder.current = false;
    view.setRows([]);
    setLoading(true);
    setError(null);
    (async () => {
      try {
        const page = await api.candles(symbol, { interval, last: PAGE_BARS });
        if (gen !== generation.current) return;
        hasOlder.current = (page.ts?.length ?? 0) === PAGE_BARS;
        let next = rowsFromColumns(page);
        const first = next[0];
        const last = next[next.length - 1];
        if (first && last) {
          const values = await fetchValues(first.time, last.time);
          if (gen !== generation.current) return;
          if (values) next = withValues(next, values);
        }
        draw(next, true);
      } catch (e) {
        if (gen === generation.current) setError(message(e));
      } finally {
        // Subscribed after the page (its snapshot then only adds to what is drawn), and even when
        // the page failed: the stream still shows the latest bars.
        if (gen === generation.current) {
          setLoading(false);
          connection.current?.subscribe(subscription());
        }
      }
    })();
  }, [o.symbol, o.interval, graphId, o.view, fetchValues, draw, subscription]);

  // A new graph version or other visible outputs: subscribe again (the server ends the
  // subscriptions of a replaced graph), and load the values of the bars on the chart.
  const graphVersion = o.graph?.version ?? '';
  const outputsKey = o.outputs.join(',');
  const valuesKey = useRef('');
  useEffect(() => {
    const key = `${graphVersion}|${outputsKey}`;
    const first = valuesKey.current === '';
    valuesKey.current = key;
    if (first) return;
    connection.current?.subscribe(subscription());
    const loaded = rows.current.filter((r) => r.final);
    const from = loaded[0];
    const to = loaded[loaded.length - 1];
    if (!from || !to) return;
    const gen = generation.current;
    (async () => {
      try {
        const values = await fetchValues(from.time, to.time);
        if (gen !== generation.current || valuesKey.current !== key || !values) return;
        draw(withValues(rows.current, values), false);
      } catch (e) {
        if (gen === generation.current) setError(message(e));
      }
    })();
  }, [graphVersion, outputsKey, fetchValues, draw, subscription]);

  // Older bars before the first one; one page at a time (a second call gets the same promise).
  const loadOlder = useCallback((): Promise<void> => {
    if (older.current) return older.current;
    const first = rows.current[0];
    if (!first || !hasOlder.current) return Promise.resolve();
    const gen = generation.current;
    const { symbol, interval } = latest.current;
    older.current = (async () => {
      try {
        const page = await api.candles(symbol, {
          interval,
          to: secondsToNs(first.time) - 1n,
          last: PAGE_BARS,
        });
        if (gen !== generation.current) return;
        hasOlder.current = (page.ts?.length ?? 0) === PAGE_BARS;
        let before = rowsFromColumns(page);
        const a = before[0];
        const b = before[before.length - 1];
        if (!a || !b) return;
        const values = await fetchValues(a.time, b.time);
        if (gen !== generation.current) return;
        if (values) before = withValues(before, values);
        const view = latest.current.view;
        const range = view?.visibleLogicalRange();
        draw(mergeRows(before, rows.current), false);
        if (view && range) view.shiftVisibleLogicalRange(range, before.length);
      } catch (e) {
        if (gen === generation.current) setError(message(e));
      }
    })().finally(() => {
      older.current = null;
    });
    return older.current;
  }, [draw, fetchValues]);

  useEffect(() => {
    if (!o.view) return;
    return o.view.onVisibleLogicalRangeChange((range) => {
      if (range && range.from < LOAD_OLDER_WHEN_WITHIN && hasOlder.current) void loadOlder();
    });
  }, [o.view, loadOlder]);

  // Loads older pages until `from` is loaded (for a date range), then shows [from, to].
  const showRange = useCallback(
    async (from: number, to: number) => {
      for (;;) {
        const first = rows.current[0];
        if (!first || first.time <= from || !hasOlder.current) break;
        await loadOlder();
      }
      latest.current.view?.setVisibleRange(from, to);
    },
    [loadOlder],
  );

  // The stream: one connection for the chart's lifetime, resubscribed on each new page.
  useEffect(() => {
    const current = (symbol: string | undefined, interval: string | undefined, graph: string | undefined) => {
      const o = latest.current;
      return (
        symbol === o.symbol && interval === intervalEnum(o.interval) && (graph ?? '') === (o.graph?.id ?? '')
      );
    };
    const onMessage = (m: StreamMessage) => {
      const { symbol, interval, view, graph } = latest.current;
      if (m.snapshot) {
        // Only the current subscription's: a late snapshot of the previous one is dropped.
        const candles = m.snapshot.candles?.find((c) => c.symbol === symbol);
        if (!candles || candles.interval !== intervalEnum(interval)) return;
        const analytics = m.snapshot.analytics?.find((a) => a.symbol === symbol);
        if (graph?.id && analytics && analytics.graph !== graph.id) return;
        if (graph?.id && analytics && analytics.version !== graph.version) {
          latest.current.onGraphChanged(); // replaced while this page was away
          return;
        }
        const snap = rowsFromSnapshot(m.snapshot, symbol);
        const lastFinal = rows.current.filter((r) => r.final).at(-1);
        const firstSnap = snap[0];
        draw(mergeSnapshot(rows.current, snap), false);
        // A reconnect after more than the snapshot's bars: load the bars in between.
        if (lastFinal && firstSnap && firstSnap.time - lastFinal.time > INTERVAL_SECONDS[interval]) {
          void fillGap(lastFinal.time + 1, firstSnap.time - 1);
        }
      } else if (m.update) {
        const u = m.update;
        if (!current(u.symbol, u.interval, u.graph)) return;
        const { rows: next, effect } = applyUpdate(rows.current, u);
        rows.current = next;
        if (!view || effect === 'stale') return;
        if (effect === 'replace') view.setRows(next);
        else view.updateLast(next);
        changed();
        if (u.serverTime) {
          const sent = Number(BigInt(u.serverTime) / 1000n) / 1000; // ms since the epoch
          requestAnimationFrame(() => probe.recordLatency(performance.timeOrigin + performance.now() - sent));
        }
      } else if (m.error?.code === 'graph_changed') {
        latest.current.onGraphChanged();
      }
    };
    // Only what the badge shows reaches React state: not every update.
    const onAction = (a: StreamAction) => {
      if (a.type !== 'message' || a.message.error || a.message.lag) dispatch(a);
    };
    const c = new StreamConnection(
      streamUrl(window.location),
      { action: onAction, message: onMessage },
      DEFAULT_BACKOFF,
      streamAccess,
    );
    connection.current = c;
    return () => {
      c.close();
      connection.current = null;
      if (frame.current !== null) cancelAnimationFrame(frame.current);
      frame.current = null;
    };
  }, [draw, changed, fillGap]);

  useEffect(() => {
    probe.status = stream.connection.status;
  }, [stream.connection.status]);

  return {
    rows,
    drawn,
    loading,
    error,
    connection: stream.connection,
    retryNow: () => connection.current?.retryNow(),
    showRange,
  };
}
