// Feeds a ChartView: the latest page of bars with their analytics from REST, older pages when the
// user scrolls back, and the live stream (a snapshot on every (re)subscribe, then updates of the
// forming bar and its provisional analytics). The rows live in a ref, not in React state, so that
// a tick is one chart update; the legend re-renders at most once a frame.
import { useCallback, useEffect, useReducer, useRef, useState } from 'react';
import { ApiError, api } from '../api/client';
import { intervalEnum, type Graph, type IntervalName, type StreamMessage } from '../api/types';
import { probe } from '../probe';
import { StreamConnection, streamUrl } from '../stream/connection';
import { initialStreamState, streamReducer } from '../stream/reducer';
import type { ChartView } from './chartView';
import {
  applyUpdate,
  mergeRows,
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

export function useChartFeed(o: FeedOptions) {
  const rows = useRef<Row[]>([]);
  const [stream, dispatch] = useReducer(streamReducer, initialStreamState);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [hasOlder, setHasOlder] = useState(false);
  const [tick, setTick] = useState(0); // bumps (once a frame at most) when rows change
  const frame = useRef<number | null>(null);
  const generation = useRef(0); // of (symbol, interval, graph version): stale replies are dropped
  const loadingOlder = useRef(false);
  const connection = useRef<StreamConnection | null>(null);
  const latest = useRef(o);
  latest.current = o;

  const changed = useCallback(() => {
    if (frame.current !== null) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = null;
      setTick((t) => t + 1);
    });
  }, []);

  // Values of `outputs` for the loaded range, merged into the rows.
  const loadValues = useCallback(async (gen: number, range: Row[]): Promise<Row[]> => {
    const { symbol, interval, graph, outputs } = latest.current;
    const first = range[0];
    const last = range[range.length - 1];
    if (!graph?.id || outputs.length === 0 || !first || !last) return range;
    const a = await api.analytics(symbol, graph.id, outputs, {
      interval,
      from: secondsToNs(first.time),
      to: secondsToNs(last.time),
    });
    if (gen !== generation.current) return range;
    return withValues(range, a);
  }, []);

  const draw = useCallback(
    (next: Row[], first: boolean) => {
      rows.current = next;
      const view = latest.current.view;
      if (!view) return;
      view.setRows(next);
      if (first && probe.firstPaintMs === null && next.length > 0) {
        requestAnimationFrame(() => {
          if (probe.firstPaintMs === null) probe.firstPaintMs = performance.now();
        });
      }
      changed();
    },
    [changed],
  );

  // The latest page and its analytics, for each (symbol, interval, graph).
  const graphId = o.graph?.id ?? '';
  useEffect(() => {
    if (!o.view) return;
    const gen = ++generation.current;
    const { symbol, interval } = latest.current;
    rows.current = [];
    o.view.setRows([]);
    setLoading(true);
    setError(null);
    (async () => {
      try {
        const page = await api.candles(symbol, { interval, last: PAGE_BARS });
        if (gen !== generation.current) return;
        setHasOlder((page.ts?.length ?? 0) === PAGE_BARS);
        const next = await loadValues(gen, rowsFromColumns(page));
        if (gen !== generation.current) return;
        draw(next, true);
        connection.current?.subscribe(subscription());
      } catch (e) {
        if (gen === generation.current) setError(e instanceof ApiError ? e.message : String(e));
      } finally {
        if (gen === generation.current) setLoading(false);
      }
    })();
  }, [o.symbol, o.interval, graphId, o.view, loadValues, draw]);

  // A new graph version or other visible outputs: the values of the loaded bars, and a new
  // subscription (the server ends those of a replaced graph).
  const graphVersion = o.graph?.version ?? '';
  const outputsKey = o.outputs.join(',');
  const valuesKey = useRef('');
  useEffect(() => {
    const key = `${graphVersion}|${outputsKey}`;
    const first = valuesKey.current === '';
    valuesKey.current = key;
    if (first || rows.current.length === 0) return;
    const gen = generation.current;
    (async () => {
      try {
        const next = await loadValues(gen, rows.current);
        if (gen !== generation.current || valuesKey.current !== key) return;
        draw(next, false);
        connection.current?.subscribe(subscription());
      } catch (e) {
        if (gen === generation.current) setError(e instanceof ApiError ? e.message : String(e));
      }
    })();
  }, [graphVersion, outputsKey, loadValues, draw]);

  function subscription() {
    const { symbol, interval, graph } = latest.current;
    return {
      assets: [symbol],
      interval: intervalEnum(interval),
      graph: graph?.id ?? '',
      outputs: graph?.outputs ?? [],
      history: SNAPSHOT_BARS,
    };
  }

  // Older bars when the left edge comes near.
  const loadOlder = useCallback(async () => {
    const first = rows.current[0];
    if (loadingOlder.current || !first) return;
    loadingOlder.current = true;
    const gen = generation.current;
    const { symbol, interval } = latest.current;
    try {
      const page = await api.candles(symbol, { interval, to: secondsToNs(first.time) - 1n, last: PAGE_BARS });
      if (gen !== generation.current) return;
      setHasOlder((page.ts?.length ?? 0) === PAGE_BARS);
      const older = await loadValues(gen, rowsFromColumns(page));
      if (gen !== generation.current || older.length === 0) return;
      const view = latest.current.view;
      const range = view?.visibleLogicalRange();
      draw(mergeRows(older, rows.current), false);
      if (view && range) view.shiftVisibleLogicalRange(range, older.length);
    } catch (e) {
      if (gen === generation.current) setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      loadingOlder.current = false;
    }
  }, [draw, loadValues]);

  const hasOlderRef = useRef(hasOlder);
  hasOlderRef.current = hasOlder;
  useEffect(() => {
    const view = o.view;
    if (!view) return;
    view.onVisibleLogicalRangeChange((range) => {
      if (range && range.from < LOAD_OLDER_WHEN_WITHIN && hasOlderRef.current) void loadOlder();
    });
  }, [o.view, loadOlder]);

  // Loads older pages until `seconds` is loaded (for a date range), then shows the range.
  const showRange = useCallback(
    async (from: number, to: number) => {
      for (let i = 0; i < 100; ++i) {
        const first = rows.current[0];
        if (!first || first.time <= from || !hasOlderRef.current) break;
        await loadOlder();
      }
      latest.current.view?.setVisibleRange(from, to);
    },
    [loadOlder],
  );

  // The stream: one connection for the chart's lifetime, resubscribed on each new page.
  useEffect(() => {
    const onMessage = (m: StreamMessage) => {
      const { symbol, interval, view } = latest.current;
      if (m.snapshot) {
        const snap = rowsFromSnapshot(m.snapshot, symbol);
        if (snap.length > 0 && rows.current.length > 0) draw(mergeRows(rows.current, snap), false);
        else if (snap.length > 0) rows.current = mergeRows(rows.current, snap);
      } else if (m.update) {
        const u = m.update;
        if (u.symbol !== symbol || u.interval !== intervalEnum(interval)) return;
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
    const c = new StreamConnection(streamUrl(window.location), { action: dispatch, message: onMessage });
    connection.current = c;
    return () => {
      c.close();
      connection.current = null;
    };
  }, [draw, changed]);

  // Resubscribe after a reconnect (the connection does it) and expose the status to the probe.
  useEffect(() => {
    probe.status = stream.connection.status;
  }, [stream.connection.status]);

  return {
    rows,
    tick,
    loading,
    error,
    hasOlder,
    connection: stream.connection,
    retryNow: () => connection.current?.retryNow(),
    loadOlder,
    showRange,
  };
}
