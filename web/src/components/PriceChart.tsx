// The chart of one asset: toolbar (interval, date range), the indicator chips that show or hide
// each node of the graph, the legend of every series under the crosshair (or of the latest bar),
// and the lightweight-charts canvas fed live by useChartFeed.
import { useEffect, useMemo, useRef, useState } from 'react';
import { INTERVALS, INTERVAL_SECONDS, type Graph, type IntervalName } from '../api/types';
import { ChartView, type Theme } from '../chart/chartView';
import type { NodeDisplay, SeriesStyle } from '../chart/indicators';
import { findRow, type Row } from '../chart/series';
import { useChartFeed } from '../chart/useChartFeed';
import { probe } from '../probe';
import { ConnectionBadge } from './ConnectionBadge';
import { formatPrice } from './Watchlist';

export interface PriceChartProps {
  symbol: string;
  interval: IntervalName;
  onInterval: (i: IntervalName) => void;
  graph: Graph | null;
  nodes: NodeDisplay[]; // every node of the graph
  visible: ReadonlySet<string>;
  onToggle: (node: string) => void;
  styles: Map<string, SeriesStyle>;
  theme: Theme;
  onGraphChanged: () => void;
}

const PRESETS: { label: string; seconds: number | null }[] = [
  { label: '1D', seconds: 86400 },
  { label: '1W', seconds: 7 * 86400 },
  { label: '1M', seconds: 30 * 86400 },
  { label: '3M', seconds: 91 * 86400 },
  { label: '1Y', seconds: 365 * 86400 },
  { label: '5Y', seconds: 5 * 365 * 86400 },
  { label: 'All', seconds: null },
];

const button =
  'rounded px-2 py-0.5 text-sm hover:bg-slate-100 focus-visible:outline-2 focus-visible:outline-blue-500 dark:hover:bg-slate-800 aria-pressed:bg-blue-600 aria-pressed:text-white';

function dateText(seconds: number, withTime: boolean): string {
  const iso = new Date(seconds * 1000).toISOString();
  return withTime ? `${iso.slice(0, 10)} ${iso.slice(11, 19)}` : iso.slice(0, 10);
}

export function PriceChart(p: PriceChartProps) {
  const container = useRef<HTMLDivElement>(null);
  const [view, setView] = useState<ChartView | null>(null);
  const [hover, setHover] = useState<number | null>(null);
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [rangeError, setRangeError] = useState<string | null>(null);

  const shownNodes = useMemo(() => p.nodes.filter((n) => p.visible.has(n.node)), [p.nodes, p.visible]);
  const outputs = useMemo(() => shownNodes.flatMap((n) => n.outputs), [shownNodes]);
  const layoutKey = `${outputs.join(',')}|${p.interval}|${p.graph?.version ?? ''}`;

  useEffect(() => {
    if (!container.current) return;
    const v = new ChartView(container.current, p.theme);
    const stopCrosshair = v.onCrosshairTime(setHover);
    setView(v);
    return () => {
      stopCrosshair();
      v.destroy();
      setView(null);
    };
    // Made once; the theme is applied by the next effect.
  }, []);
  useEffect(() => view?.setTheme(p.theme), [view, p.theme]);
  useEffect(() => {
    view?.setLayout({
      nodes: shownNodes,
      styles: p.styles,
      timeVisible: INTERVAL_SECONDS[p.interval] < 86400,
      secondsVisible: p.interval === '1s',
    });
  }, [view, layoutKey, shownNodes, p.styles, p.interval]);

  const feed = useChartFeed({
    symbol: p.symbol,
    interval: p.interval,
    graph: p.graph,
    outputs,
    view,
    onGraphChanged: p.onGraphChanged,
  });

  useEffect(() => {
    // What was last drawn (not what was asked for): '' until the first page of the asset is drawn.
    const drawn = feed.drawn;
    probe.chart = () => ({
      symbol: drawn.current?.symbol ?? '',
      interval: drawn.current?.interval ?? '',
      ...(view?.inspect() ?? { bars: 0, last: undefined, series: {}, panes: 0 }),
    });
  }, [view, feed.drawn]);

  const rows = feed.rows.current;
  const at = hover === null ? -1 : findRow(rows, hover);
  const row: Row | undefined = at >= 0 ? rows[at] : rows[rows.length - 1];
  const withTime = INTERVAL_SECONDS[p.interval] < 86400;

  const preset = (seconds: number | null) => {
    const last = rows[rows.length - 1];
    const first = rows[0];
    if (!last || !first) return;
    if (seconds === null) {
      void feed.showRange(0, last.time);
      return;
    }
    void feed.showRange(last.time - seconds, last.time);
  };
  const customRange = () => {
    const f = Date.parse(`${from}T00:00:00Z`) / 1000;
    const t = Date.parse(`${to}T23:59:59Z`) / 1000;
    if (!Number.isFinite(f) || !Number.isFinite(t)) return setRangeError('from and to: pick both dates');
    if (f > t) return setRangeError('to: earlier than from');
    setRangeError(null);
    void feed.showRange(f, t);
  };

  return (
    <section aria-label={`Chart of ${p.symbol}`} className="flex min-h-0 flex-1 flex-col">
      <div className="flex flex-wrap items-center gap-x-3 gap-y-1 border-b border-slate-200 px-2 py-1 dark:border-slate-800">
        <h1 className="text-base font-semibold" data-testid="chart-symbol">
          {p.symbol}
        </h1>
        <div role="group" aria-label="Interval" className="flex flex-wrap">
          {INTERVALS.map((i) => (
            <button
              key={i}
              type="button"
              className={button}
              aria-pressed={i === p.interval}
              onClick={() => p.onInterval(i)}
            >
              {i}
            </button>
          ))}
        </div>
        <div role="group" aria-label="Date range" className="flex flex-wrap items-center">
          {PRESETS.map((r) => (
            <button key={r.label} type="button" className={button} onClick={() => preset(r.seconds)}>
              {r.label}
            </button>
          ))}
          <label className="ml-2 text-xs">
            <span className="sr-only">From</span>
            <input
              type="date"
              value={from}
              onChange={(e) => setFrom(e.target.value)}
              className="rounded border border-slate-300 bg-transparent px-1 text-xs dark:border-slate-600"
              aria-label="From date"
            />
          </label>
          <span className="px-1 text-xs">–</span>
          <label className="text-xs">
            <span className="sr-only">To</span>
            <input
              type="date"
              value={to}
              onChange={(e) => setTo(e.target.value)}
              className="rounded border border-slate-300 bg-transparent px-1 text-xs dark:border-slate-600"
              aria-label="To date"
            />
          </label>
          <button type="button" className={`${button} ml-1`} onClick={customRange}>
            Go
          </button>
          {rangeError && (
            <span role="alert" className="ml-2 text-xs text-red-600">
              {rangeError}
            </span>
          )}
        </div>
        <div className="ml-auto">
          <ConnectionBadge connection={feed.connection} onRetry={feed.retryNow} />
        </div>
      </div>
      <div role="group" aria-label="Indicators" className="flex flex-wrap gap-1 px-2 py-1">
        {p.nodes.map((n) => {
          const on = p.visible.has(n.node);
          const color = p.styles.get(n.outputs[0] ?? '')?.color;
          return (
            <button
              key={n.node}
              type="button"
              aria-pressed={on}
              onClick={() => p.onToggle(n.node)}
              data-chip={n.node}
              className={`flex items-center gap-1 rounded-full border px-2 text-xs focus-visible:outline-2 focus-visible:outline-blue-500 ${on ? 'border-slate-400 dark:border-slate-500' : 'border-slate-200 text-slate-400 dark:border-slate-800'}`}
            >
              <span
                className="inline-block h-2 w-2 rounded-full"
                style={{ background: on ? color : 'transparent', border: `1px solid ${color}` }}
              />
              {n.node}
            </button>
          );
        })}
      </div>
      <div className="relative min-h-[320px] flex-1">
        <div ref={container} className="absolute inset-0" data-testid="chart" />
        <div
          className="pointer-events-none absolute left-2 top-1 z-10 max-w-[80%] rounded bg-white/80 px-1.5 py-0.5 text-xs tabular-nums dark:bg-slate-950/80"
          data-testid="legend"
        >
          {row ? (
            <>
              <div>
                <span className="font-medium">{dateText(row.time, withTime)}</span>
                {!row.final && <span className="ml-1 text-amber-600">forming</span>} O {formatPrice(row.open)}{' '}
                H {formatPrice(row.high)} L {formatPrice(row.low)} C{' '}
                <span data-testid="legend-close">{formatPrice(row.close)}</span> V{' '}
                {Math.round(row.volume).toLocaleString('en-US')}
              </div>
              <div className="flex flex-wrap gap-x-2">
                {outputs.map((o) => {
                  const v = row.values[o];
                  return (
                    <span key={o} style={{ color: p.styles.get(o)?.color }} data-output={o}>
                      {o} {v === null || v === undefined ? '—' : formatPrice(v)}
                    </span>
                  );
                })}
              </div>
            </>
          ) : feed.loading ? (
            'Loading…'
          ) : (
            'No bars at this interval yet.'
          )}
        </div>
        {feed.error && (
          <p
            role="alert"
            className="absolute bottom-2 left-2 z-10 rounded bg-red-50 px-2 py-1 text-sm text-red-700 dark:bg-red-950 dark:text-red-300"
          >
            {feed.error}
          </p>
        )}
      </div>
    </section>
  );
}
