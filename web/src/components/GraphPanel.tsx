// The current analytics graph: its DAG (bar fields and assets on the left, each node a box,
// each input an edge), the selected node's description with a button to remove it, and the
// form that adds a node. Every change is a new version of the graph on the server (PUT).
import { useMemo, useState } from 'react';
import { ApiError } from '../api/client';
import type { FunctionDef, Graph, NodeSpec } from '../api/types';
import { layoutGraph, paramText, type Box } from '../graph/layout';
import { AddNodeForm } from './AddNodeForm';

export interface GraphPanelProps {
  graph: Graph;
  functions: FunctionDef[];
  visible: ReadonlySet<string>;
  onToggle: (node: string) => void;
  onReplace: (nodes: NodeSpec[]) => Promise<void>;
}

const BOX_STYLE: Record<Box['kind'], string> = {
  field: 'fill-slate-100 stroke-slate-400 dark:fill-slate-800 dark:stroke-slate-500',
  asset: 'fill-amber-50 stroke-amber-500 dark:fill-amber-950 dark:stroke-amber-600',
  node: 'fill-white stroke-blue-500 dark:fill-slate-900 dark:stroke-blue-400',
};

function edgePath(points: { x: number; y: number }[]): string {
  if (points.length === 0) return '';
  const [p0, ...rest] = points;
  return `M${p0?.x},${p0?.y} ` + rest.map((p) => `L${p.x},${p.y}`).join(' ');
}

export function GraphPanel({ graph, functions, visible, onToggle, onReplace }: GraphPanelProps) {
  const spec = graph.spec ?? {};
  const nodes = spec.nodes ?? [];
  const drawing = useMemo(() => layoutGraph(spec), [spec]);
  const [selected, setSelected] = useState<string | null>(null);
  const [removeError, setRemoveError] = useState<string | null>(null);
  const node = nodes.find((n) => n.id === selected);
  const nodeIds = useMemo(() => new Set(nodes.map((n) => n.id ?? '')), [nodes]);
  const inputChoices = useMemo(
    () => ['close', 'open', 'high', 'low', 'volume', ...(graph.outputs ?? [])],
    [graph.outputs],
  );

  const remove = async (id: string) => {
    setRemoveError(null);
    try {
      await onReplace(nodes.filter((n) => n.id !== id));
      setSelected(null);
    } catch (e) {
      setRemoveError(e instanceof ApiError ? e.message : String(e));
    }
  };

  return (
    <section aria-label="Analytics graph" className="flex min-h-0 flex-col gap-3 lg:flex-row">
      <div className="min-w-0 flex-1">
        <h2 className="mb-1 text-sm font-semibold">
          Graph <span className="font-mono">{graph.id}</span>{' '}
          <span className="font-normal text-slate-500">version {graph.version}</span>
        </h2>
        <div className="max-h-72 overflow-auto rounded border border-slate-200 dark:border-slate-700">
          <svg
            width={drawing.width}
            height={drawing.height}
            role="group"
            aria-label={`DAG of graph ${graph.id}`}
            data-testid="dag"
          >
            <defs>
              <marker
                id="arrow"
                viewBox="0 0 10 10"
                refX="9"
                refY="5"
                markerWidth="6"
                markerHeight="6"
                orient="auto-start-reverse"
              >
                <path d="M0,0 L10,5 L0,10 z" className="fill-slate-400" />
              </marker>
            </defs>
            {drawing.edges.map((e, i) => (
              <path
                key={i}
                d={edgePath(e.points)}
                className="fill-none stroke-slate-400"
                strokeWidth={1.2}
                markerEnd="url(#arrow)"
                data-edge={`${e.from}->${e.to}`}
              />
            ))}
            {drawing.boxes.map((b) => {
              const isNode = b.kind === 'node';
              const shown = visible.has(b.id);
              return (
                <g
                  key={b.id}
                  transform={`translate(${b.x - b.width / 2},${b.y - b.height / 2})`}
                  data-node={b.id}
                  {...(isNode
                    ? {
                        role: 'button',
                        tabIndex: 0,
                        'aria-pressed': selected === b.id,
                        'aria-label': `node ${b.id}: ${b.detail}`,
                        onClick: () => setSelected(b.id),
                        onKeyDown: (ev: React.KeyboardEvent) => {
                          if (ev.key === 'Enter' || ev.key === ' ') {
                            ev.preventDefault();
                            setSelected(b.id);
                          }
                        },
                        className: 'cursor-pointer outline-none [&:focus-visible>rect]:stroke-[3px]',
                      }
                    : {})}
                >
                  <rect
                    width={b.width}
                    height={b.height}
                    rx={6}
                    className={`${BOX_STYLE[b.kind]} ${selected === b.id ? 'stroke-[2.5px]' : ''}`}
                  />
                  <text x={8} y={isNode ? 16 : 17} className="fill-current text-[12px] font-semibold">
                    {b.label}
                    {isNode && shown ? ' ●' : ''}
                  </text>
                  {isNode && (
                    <text x={8} y={31} className="fill-slate-500 text-[10px] dark:fill-slate-400">
                      {b.detail}
                    </text>
                  )}
                </g>
              );
            })}
          </svg>
        </div>
        {node && (
          <div className="mt-2 flex flex-wrap items-center gap-2 text-sm" data-testid="node-details">
            <span className="font-mono font-semibold">{node.id}</span>
            <span className="text-slate-500">
              {node.fn}({(node.inputs ?? []).join(', ')}) {paramText(node.params)}
            </span>
            <button
              type="button"
              className="rounded border border-slate-300 px-2 py-0.5 hover:bg-slate-100 dark:border-slate-600 dark:hover:bg-slate-800"
              onClick={() => onToggle(node.id ?? '')}
            >
              {visible.has(node.id ?? '') ? 'Hide on chart' : 'Show on chart'}
            </button>
            <button
              type="button"
              className="rounded border border-red-300 px-2 py-0.5 text-red-700 hover:bg-red-50 dark:border-red-800 dark:text-red-400 dark:hover:bg-red-950"
              onClick={() => void remove(node.id ?? '')}
            >
              Remove node
            </button>
            {removeError && (
              <p role="alert" className="w-full text-xs text-red-600 dark:text-red-400">
                {removeError}
              </p>
            )}
          </div>
        )}
      </div>
      <div className="w-full lg:w-96">
        <h2 className="mb-1 text-sm font-semibold">Add a node</h2>
        {functions.length > 0 ? (
          <AddNodeForm
            key={graph.id}
            functions={functions}
            nodeIds={nodeIds}
            inputChoices={inputChoices}
            onAdd={(n) => onReplace([...nodes, n])}
          />
        ) : (
          <p className="text-sm text-slate-500">Loading functions…</p>
        )}
      </div>
    </section>
  );
}
