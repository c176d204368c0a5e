// The drawing: a lightweight-charts chart with candles and volume in the first pane, overlay
// lines on the price (or volume) scale, and one pane per other scale, as placeSeries
// (indicators.ts) places them. It knows nothing of the API; the feed (useChartFeed.ts) gives it
// rows. Kept outside React so that a live update is one
// series.update() per series, not a re-render.
import {
  CandlestickSeries,
  ColorType,
  CrosshairMode,
  HistogramSeries,
  LineSeries,
  createChart,
  type DeepPartial,
  type IChartApi,
  type ISeriesApi,
  type LogicalRange,
  type MouseEventParams,
  type SeriesOptionsCommon,
  type SeriesType,
  type Time,
  type UTCTimestamp,
} from 'lightweight-charts';
import { placeSeries, type NodeDisplay, type SeriesStyle } from './indicators';
import type { Row } from './series';

export type Theme = 'light' | 'dark';

export interface ChartLayout {
  nodes: NodeDisplay[]; // the visible nodes, in graph order
  styles: Map<string, SeriesStyle>;
  secondsVisible: boolean;
  timeVisible: boolean;
}

const THEMES = {
  light: {
    background: '#ffffff',
    text: '#334155',
    grid: '#f1f5f9',
    border: '#cbd5e1',
    up: '#16a34a',
    down: '#dc2626',
  },
  dark: {
    background: '#020617',
    text: '#cbd5e1',
    grid: '#1e293b',
    border: '#334155',
    up: '#22c55e',
    down: '#ef4444',
  },
} as const;

function chartOptions(theme: Theme) {
  const t = THEMES[theme];
  return {
    layout: {
      background: { type: ColorType.Solid, color: t.background },
      textColor: t.text,
      panes: { separatorColor: t.border, enableResize: true },
      attributionLogo: false,
    },
    grid: { vertLines: { color: t.grid }, horzLines: { color: t.grid } },
    rightPriceScale: { borderColor: t.border },
    timeScale: { borderColor: t.border },
    crosshair: { mode: CrosshairMode.Normal },
  };
}

const time = (seconds: number) => seconds as UTCTimestamp;

function valuePoint(row: Row, output: string, color?: string) {
  const v = row.values[output];
  if (v === null || v === undefined || !Number.isFinite(v)) return { time: time(row.time) };
  return color === undefined ? { time: time(row.time), value: v } : { time: time(row.time), value: v, color };
}

export class ChartView {
  private readonly chart: IChartApi;
  private candles: ISeriesApi<'Candlestick'>;
  private volume: ISeriesApi<'Histogram'>;
  private outputs = new Map<string, { series: ISeriesApi<SeriesType>; style: SeriesStyle }>();
  private theme: Theme;
  private rows: readonly Row[] = [];

  constructor(container: HTMLElement, theme: Theme) {
    this.theme = theme;
    this.chart = createChart(container, { autoSize: true, ...chartOptions(theme) });
    [this.candles, this.volume] = this.addPriceSeries();
  }

  destroy(): void {
    this.chart.remove();
  }

  setTheme(theme: Theme): void {
    this.theme = theme;
    this.chart.applyOptions(chartOptions(theme));
    const t = THEMES[theme];
    this.candles.applyOptions({
      upColor: t.up,
      downColor: t.down,
      wickUpColor: t.up,
      wickDownColor: t.down,
      borderVisible: false,
    });
  }

  // Rebuilds the series for a new set of visible outputs; rows are set again by setRows.
  setLayout(layout: ChartLayout): void {
    for (const { series } of this.outputs.values()) this.chart.removeSeries(series);
    this.outputs.clear();
    while (this.chart.panes().length > 1) this.chart.removePane(this.chart.panes().length - 1);
    this.chart.applyOptions({
      timeScale: { timeVisible: layout.timeVisible, secondsVisible: layout.secondsVisible },
    });
    const placements = placeSeries(layout.nodes);
    for (const node of layout.nodes) {
      for (const output of node.outputs) {
        const style = layout.styles.get(output);
        const place = placements.get(output);
        if (!style || !place) continue;
        const scale: DeepPartial<SeriesOptionsCommon> =
          place.priceScale === 'volume' ? { priceScaleId: 'volume', priceFormat: { type: 'volume' } } : {};
        const common = { priceLineVisible: false, lastValueVisible: true, title: output, ...scale };
        const series: ISeriesApi<SeriesType> =
          style.kind === 'histogram'
            ? this.chart.addSeries(HistogramSeries, { ...common, color: style.color }, place.pane)
            : this.chart.addSeries(LineSeries, { ...common, color: style.color, lineWidth: 2 }, place.pane);
        this.outputs.set(output, { series, style });
      }
    }
    const panes = this.chart.panes();
    panes.forEach((p, i) => p.setStretchFactor(i === 0 ? Math.max(2, panes.length) : 1));
    this.setOutputData(this.rows);
  }

  setRows(rows: readonly Row[]): void {
    this.rows = rows;
    const t = THEMES[this.theme];
    this.candles.setData(
      rows.map((r) => ({ time: time(r.time), open: r.open, high: r.high, low: r.low, close: r.close })),
    );
    this.volume.setData(
      rows.map((r) => ({
        time: time(r.time),
        value: r.volume,
        color: r.close >= r.open ? `${t.up}55` : `${t.down}55`,
      })),
    );
    this.setOutputData(rows);
  }

  private setOutputData(rows: readonly Row[]): void {
    const t = THEMES[this.theme];
    for (const [output, { series, style }] of this.outputs) {
      series.setData(
        rows.map((r) =>
          valuePoint(r, output, style.kind === 'histogram' ? histColor(r, output, t) : undefined),
        ),
      );
    }
  }

  // The last row changed or a row was appended.
  updateLast(rows: readonly Row[]): void {
    this.rows = rows;
    const row = rows[rows.length - 1];
    if (!row) return;
    const t = THEMES[this.theme];
    this.candles.update({
      time: time(row.time),
      open: row.open,
      high: row.high,
      low: row.low,
      close: row.close,
    });
    this.volume.update({
      time: time(row.time),
      value: row.volume,
      color: row.close >= row.open ? `${t.up}55` : `${t.down}55`,
    });
    for (const [output, { series, style }] of this.outputs) {
      series.update(
        valuePoint(row, output, style.kind === 'histogram' ? histColor(row, output, t) : undefined),
      );
    }
  }

  visibleLogicalRange(): LogicalRange | null {
    return this.chart.timeScale().getVisibleLogicalRange();
  }

  // Keeps the same bars in view after `bars` older ones were put before them.
  shiftVisibleLogicalRange(range: LogicalRange, bars: number): void {
    this.chart.timeScale().setVisibleLogicalRange({ from: range.from + bars, to: range.to + bars });
  }

  setVisibleRange(from: number, to: number): void {
    this.chart.timeScale().setVisibleRange({ from: time(from), to: time(to) });
  }

  fitContent(): void {
    this.chart.timeScale().fitContent();
  }

  // Calls `cb` when the visible bars change; returns the function that stops it.
  onVisibleLogicalRangeChange(cb: (range: LogicalRange | null) => void): () => void {
    const timeScale = this.chart.timeScale();
    timeScale.subscribeVisibleLogicalRangeChange(cb);
    return () => timeScale.unsubscribeVisibleLogicalRangeChange(cb);
  }

  // The bar time under the crosshair, or null when the pointer leaves the chart; returns the
  // function that stops it.
  onCrosshairTime(cb: (seconds: number | null) => void): () => void {
    const handler = (p: MouseEventParams<Time>) => cb(p.time === undefined ? null : (p.time as number));
    this.chart.subscribeCrosshairMove(handler);
    return () => this.chart.unsubscribeCrosshairMove(handler);
  }

  // What the chart holds, read back from its series (for the browser tests and the legend's
  // check that a series exists).
  inspect() {
    const candles = this.candles.data();
    const last = candles[candles.length - 1];
    const series: Record<string, { points: number; last: number | null; pane: number }> = {};
    for (const [output, { series: s }] of this.outputs) {
      const data = s.data();
      const point = data[data.length - 1];
      series[output] = {
        points: data.length,
        last: point !== undefined && 'value' in point ? point.value : null,
        pane: s.getPane().paneIndex(),
      };
    }
    return { bars: candles.length, last, series, panes: this.chart.panes().length };
  }

  private addPriceSeries(): [ISeriesApi<'Candlestick'>, ISeriesApi<'Histogram'>] {
    const t = THEMES[this.theme];
    const candles = this.chart.addSeries(CandlestickSeries, {
      upColor: t.up,
      downColor: t.down,
      wickUpColor: t.up,
      wickDownColor: t.down,
      borderVisible: false,
    });
    candles.priceScale().applyOptions({ scaleMargins: { top: 0.05, bottom: 0.25 } });
    const volume = this.chart.addSeries(HistogramSeries, {
      priceScaleId: 'volume',
      priceFormat: { type: 'volume' },
      priceLineVisible: false,
      lastValueVisible: false,
    });
    volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    return [candles, volume];
  }
}

function histColor(row: Row, output: string, t: (typeof THEMES)[Theme]): string {
  const v = row.values[output];
  return v !== null && v !== undefined && v < 0 ? t.down : t.up;
}
