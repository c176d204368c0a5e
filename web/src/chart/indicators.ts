// Where each of a graph's outputs is drawn, from the units the registry gives its outputs
// (/v1/functions, resolved through the node's inputs by units.ts): on the price scale with the
// candles (an average or band of a price, vwap), on the volume bars' scale (an average of volume),
// or in a pane under the chart, one per scale (rsi and an sma of rsi share the 0..100 pane; macd
// and atr, both price differences, share one), and how (line or histogram, colour).
import type { FunctionDef, GraphSpec } from '../api/types';
import { PRICE, ScaleResolver, VOLUME, type Scale } from './units';

// Shown without being picked: every overlay, and these oscillators.
const SHOWN_BY_DEFAULT = new Set(['rsi', 'macd', 'volatility']);

export interface NodeDisplay {
  node: string;
  fn: string;
  overlay: boolean; // every output is on the price scale
  outputs: string[]; // the output columns of the node ("bb.upper", …; or just "sma50")
  scales: Scale[]; // scales[i]: the scale outputs[i] is drawn on (see units.ts)
}

export interface SeriesStyle {
  output: string;
  kind: 'line' | 'histogram';
  color: string;
}

// Where a series goes: a pane (0 is the candles') and, in pane 0, the candles' price scale or the
// volume bars'.
export interface Placement {
  pane: number;
  priceScale: 'right' | 'volume';
}

const PALETTE = [
  '#2563eb',
  '#f59e0b',
  '#10b981',
  '#e11d48',
  '#8b5cf6',
  '#0891b2',
  '#d946ef',
  '#65a30d',
  '#ea580c',
  '#475569',
];

// The outputs of each node, from the graph's output list ("node" or "node.output").
function outputsByNode(outputs: readonly string[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const o of outputs) {
    const node = o.split('.')[0] ?? o;
    const list = m.get(node) ?? [];
    list.push(o);
    m.set(node, list);
  }
  return m;
}

// Every node of the graph with its outputs and where each is drawn. `functions` is the registry
// (/v1/functions); an output whose unit it does not give gets a pane of its own.
export function classifyNodes(
  spec: GraphSpec,
  outputs: readonly string[],
  functions: readonly FunctionDef[],
): NodeDisplay[] {
  const byNode = outputsByNode(outputs);
  const scales = new ScaleResolver(spec, functions);
  return (spec.nodes ?? []).map((n) => {
    const id = n.id ?? '';
    const columns = byNode.get(id) ?? [id];
    const nodeScales = columns.map((c) =>
      scales.output(id, c.includes('.') ? c.slice(c.indexOf('.') + 1) : ''),
    );
    return {
      node: id,
      fn: n.fn ?? '',
      overlay: nodeScales.every((s) => s === PRICE),
      outputs: columns,
      scales: nodeScales,
    };
  });
}

// The pane and price scale of each output of `nodes` (the visible ones, in graph order): the
// chart asset's prices and volumes in pane 0, then one pane per other scale, in the order the
// scales first appear.
export function placeSeries(nodes: readonly NodeDisplay[]): Map<string, Placement> {
  const panes = new Map<Scale, number>();
  const placed = new Map<string, Placement>();
  for (const n of nodes) {
    n.outputs.forEach((output, i) => {
      const scale = n.scales[i] ?? `node ${n.node}`;
      if (scale === PRICE || scale === VOLUME) {
        placed.set(output, { pane: 0, priceScale: scale === PRICE ? 'right' : 'volume' });
        return;
      }
      if (!panes.has(scale)) panes.set(scale, panes.size + 1);
      placed.set(output, { pane: panes.get(scale) ?? 0, priceScale: 'right' });
    });
  }
  return placed;
}

export function defaultVisible(nodes: readonly NodeDisplay[]): string[] {
  return nodes.filter((n) => n.overlay || SHOWN_BY_DEFAULT.has(n.fn)).map((n) => n.node);
}

// A stable colour per output (its position among the graph's outputs) and the series kind.
export function seriesStyles(nodes: readonly NodeDisplay[]): Map<string, SeriesStyle> {
  const styles = new Map<string, SeriesStyle>();
  let i = 0;
  for (const n of nodes) {
    for (const output of n.outputs) {
      const kind = output.endsWith('.hist') ? 'histogram' : 'line';
      styles.set(output, { output, kind, color: PALETTE[i % PALETTE.length] ?? '#2563eb' });
      ++i;
    }
  }
  return styles;
}
