// The analytics graph as a drawing: the bar fields and other assets it reads are sources, each
// node is a box, each input an edge from the node (or field) it names. Positions come from
// dagre's layered layout, left to right.
import dagre from '@dagrejs/dagre';
import type { GraphSpec } from '../api/types';

export type BoxKind = 'field' | 'asset' | 'node';

export interface Box {
  id: string;
  label: string;
  detail: string; // the function and its parameters, for nodes
  kind: BoxKind;
  x: number; // centre
  y: number;
  width: number;
  height: number;
}

export interface Edge {
  from: string;
  to: string;
  label: string; // the output read, when the source has several ("upper")
  points: { x: number; y: number }[];
}

export interface Drawing {
  boxes: Box[];
  edges: Edge[];
  width: number;
  height: number;
}

const FIELDS = new Set(['open', 'high', 'low', 'close', 'volume']);
// Functions that read bar fields when their inputs are not given (atr, vwap, obv, …).
const DEFAULT_FIELDS: Record<string, string[]> = {
  atr: ['high', 'low', 'close'],
  cci: ['high', 'low', 'close'],
  willr: ['high', 'low', 'close'],
  stoch: ['high', 'low', 'close'],
  trange: ['high', 'low', 'close'],
  vwap: ['high', 'low', 'close', 'volume'],
  obv: ['close', 'volume'],
};

export function paramText(params: Record<string, unknown> | undefined): string {
  return Object.entries(params ?? {})
    .map(([k, v]) => `${k} ${String(v)}`)
    .join(', ');
}

// The source box an input names: "close" (a field), "bb.upper" (node bb), "SPY:ret" (asset).
export function inputSource(input: string): { id: string; kind: BoxKind; output: string } {
  if (input.includes(':')) return { id: input, kind: 'asset', output: '' };
  if (FIELDS.has(input)) return { id: input, kind: 'field', output: '' };
  const [node = input, output = ''] = input.split('.');
  return { id: node, kind: 'node', output };
}

export function layoutGraph(spec: GraphSpec): Drawing {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: 'LR', nodesep: 14, ranksep: 46, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  const boxes = new Map<string, Omit<Box, 'x' | 'y'>>();
  const add = (b: Omit<Box, 'x' | 'y'>) => {
    if (boxes.has(b.id)) return;
    boxes.set(b.id, b);
    g.setNode(b.id, { width: b.width, height: b.height });
  };
  const nodes = spec.nodes ?? [];
  for (const n of nodes) {
    const detail = `${n.fn ?? ''}${Object.keys(n.params ?? {}).length ? ` (${paramText(n.params)})` : ''}`;
    add({
      id: n.id ?? '',
      label: n.id ?? '',
      detail,
      kind: 'node',
      width: Math.max(96, detail.length * 6.2 + 16),
      height: 40,
    });
  }
  const edges: Omit<Edge, 'points'>[] = [];
  for (const n of nodes) {
    const inputs = n.inputs?.length ? n.inputs : (DEFAULT_FIELDS[n.fn ?? ''] ?? ['close']);
    inputs.forEach((input, i) => {
      const src = inputSource(input);
      if (src.kind !== 'node' || !boxes.has(src.id)) {
        add({
          id: src.id,
          label: src.id,
          detail: '',
          kind: src.kind === 'node' ? 'field' : src.kind,
          width: Math.max(56, src.id.length * 7 + 16),
          height: 26,
        });
      }
      edges.push({ from: src.id, to: n.id ?? '', label: src.output });
      g.setEdge(src.id, n.id ?? '', {}, `${n.id}#${i}`);
    });
  }
  dagre.layout(g);
  const placed: Box[] = [...boxes.values()].map((b) => {
    const p = g.node(b.id);
    return { ...b, x: p.x, y: p.y };
  });
  const drawnEdges: Edge[] = edges.map((e, k) => {
    const name = `${e.to}#${edgeIndex(edges, k)}`;
    const points = g.edge({ v: e.from, w: e.to, name }).points ?? [];
    return { ...e, points: points.map((p: { x: number; y: number }) => ({ x: p.x, y: p.y })) };
  });
  const size = g.graph();
  return { boxes: placed, edges: drawnEdges, width: size.width ?? 0, height: size.height ?? 0 };
}

// The position of edge k among the edges into the same node (its input index).
function edgeIndex(edges: readonly Omit<Edge, 'points'>[], k: number): number {
  const to = edges[k]?.to;
  let i = 0;
  for (let j = 0; j < k; ++j) if (edges[j]?.to === to) ++i;
  return i;
}
