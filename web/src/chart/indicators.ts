// Where each of a graph's outputs is drawn: on the price scale with the candles (moving averages,
// bands: values in the price's units) or in a pane of its own under the chart (oscillators,
// returns, volatility…), and how (line or histogram, colour).
import type { GraphSpec } from '../api/types';

// Functions whose output is in the units of their input, so that over a price they belong on
// the price scale.
const SAME_UNITS = new Set(['sma', 'ema', 'wma', 'dema', 'tema', 'bbands', 'rolling_max', 'rolling_min']);
const PRICE_FIELDS = new Set(['open', 'high', 'low', 'close']);
// Shown without being picked: every overlay, and these oscillators.
const SHOWN_BY_DEFAULT = new Set(['rsi', 'macd', 'volatility']);

export interface NodeDisplay {
  node: string;
  fn: string;
  overlay: boolean;
  outputs: string[]; // the output columns of the node ("bb.upper", …; or just "sma50")
}

export interface SeriesStyle {
  output: string;
  kind: 'line' | 'histogram';
  color: string;
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

export function classifyNodes(spec: GraphSpec, outputs: readonly string[]): NodeDisplay[] {
  const nodes = spec.nodes ?? [];
  const byNode = outputsByNode(outputs);
  const overlay = new Map<string, boolean>();
  const priceLike = (input: string): boolean => {
    if (PRICE_FIELDS.has(input)) return true;
    const node = input.split('.')[0] ?? input;
    return overlay.get(node) ?? false;
  };
  // Nodes are in an order where inputs come first only after compile; iterate until stable.
  for (let pass = 0; pass < nodes.length + 1; ++pass) {
    let changed = false;
    for (const n of nodes) {
      const id = n.id ?? '';
      const first = n.inputs?.[0] ?? 'close';
      const is = SAME_UNITS.has(n.fn ?? '') && priceLike(first);
      if ((overlay.get(id) ?? false) !== is) {
        overlay.set(id, is);
        changed = true;
      }
    }
    if (!changed) break;
  }
  return nodes.map((n) => ({
    node: n.id ?? '',
    fn: n.fn ?? '',
    overlay: overlay.get(n.id ?? '') ?? false,
    outputs: byNode.get(n.id ?? '') ?? [n.id ?? ''],
  }));
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
