// What the page measures about itself, on window.__tickgraph for the browser tests and the
// benchmark (bench/web_bench.mjs): when the chart first painted, how long stream updates took to
// reach the canvas, the connection state, and what the chart holds (read back from its series).
import type { ConnectionStatus } from './stream/reducer';

const MAX_SAMPLES = 20_000;

export interface ChartInspection {
  symbol: string;
  interval: string;
  bars: number;
  last: unknown;
  series: Record<string, { points: number; last: number | null; pane: number }>;
  panes: number;
}

export const probe = {
  firstPaintMs: null as number | null, // ms after navigation start
  latenciesMs: [] as number[], // server_time of an update -> the frame that drew it
  status: 'connecting' as ConnectionStatus,
  chart: null as (() => ChartInspection) | null,
  recordLatency(ms: number): void {
    if (this.latenciesMs.length < MAX_SAMPLES) this.latenciesMs.push(ms);
  },
};

declare global {
  interface Window {
    __tickgraph: typeof probe;
  }
}

if (typeof window !== 'undefined') window.__tickgraph = probe;
