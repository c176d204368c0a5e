// The page: a header (graph, sign out, theme), the watchlist, the chart of the selected asset,
// and the analytics graph under it; or the sign-in, while the page is signed out (the server
// refused its credential, or the user signed out). What is shown (asset, interval, graph, visible
// nodes) is in the URL, so that a view can be linked and reloaded, and survives signing in again.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { ApiError, api } from './api/client';
import { credentials } from './auth/credentials';
import { useAuth } from './auth/useAuth';
import {
  isIntervalName,
  type Asset,
  type FunctionDef,
  type Graph,
  type IntervalName,
  type NodeSpec,
} from './api/types';
import { classifyNodes, defaultVisible, seriesStyles } from './chart/indicators';
import type { Theme } from './chart/chartView';
import { GraphPanel } from './components/GraphPanel';
import { Header } from './components/Header';
import { PriceChart } from './components/PriceChart';
import { SignIn } from './components/SignIn';
import { Watchlist } from './components/Watchlist';
import { useTheme } from './useTheme';

interface ViewState {
  asset: string;
  interval: IntervalName;
  graph: string;
  nodes: string[] | null; // null: the graph's default
}

function readUrl(): ViewState {
  const q = new URLSearchParams(window.location.search);
  const interval = q.get('interval');
  const nodes = q.get('nodes');
  return {
    asset: q.get('asset') ?? '',
    interval: isIntervalName(interval) ? interval : '1d',
    graph: q.get('graph') ?? '',
    nodes: nodes === null ? null : nodes.split(',').filter(Boolean),
  };
}

function writeUrl(v: ViewState): void {
  const q = new URLSearchParams();
  if (v.asset) q.set('asset', v.asset);
  q.set('interval', v.interval);
  if (v.graph) q.set('graph', v.graph);
  if (v.nodes !== null) q.set('nodes', v.nodes.join(','));
  window.history.replaceState(null, '', `?${q}`);
}

export function App() {
  const [theme, toggleTheme] = useTheme();
  const auth = useAuth();
  if (auth.signedOut) {
    return (
      <div className="flex min-h-full flex-col">
        <Header theme={theme} onToggleTheme={toggleTheme} onSignOut={null} />
        <SignIn reason={auth.message} onSignIn={(c) => credentials.signIn(c)} />
      </div>
    );
  }
  return (
    <Workspace
      theme={theme}
      onToggleTheme={toggleTheme}
      onSignOut={auth.kind === null ? null : () => credentials.signOut()}
    />
  );
}

interface WorkspaceProps {
  theme: Theme;
  onToggleTheme: () => void;
  onSignOut: (() => void) | null;
}

// Everything but the sign-in: mounted afresh after each sign-in, so that it loads with the new
// credential.
function Workspace({ theme, onToggleTheme, onSignOut }: WorkspaceProps) {
  const [view, setViewState] = useState<ViewState>(readUrl);
  const [assets, setAssets] = useState<Asset[]>([]);
  const [functions, setFunctions] = useState<FunctionDef[]>([]);
  const [graphIds, setGraphIds] = useState<string[] | null>(null);
  const [graph, setGraph] = useState<Graph | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [ready, setReady] = useState(false); // the graph (if any) is loaded: the chart may start

  const setView = useCallback((patch: Partial<ViewState>) => {
    setViewState((v) => {
      const next = { ...v, ...patch };
      writeUrl(next);
      return next;
    });
  }, []);

  useEffect(() => {
    (async () => {
      try {
        const [a, f, g] = await Promise.all([api.assets(), api.functions(), api.graphs()]);
        const list = a.assets ?? [];
        setAssets(list);
        setFunctions(f.functions ?? []);
        const ids = (g.graphs ?? []).map((x) => x.id ?? '');
        setGraphIds(ids);
        setViewState((v) => {
          const symbols = list.map((x) => x.symbol ?? '');
          const asset = symbols.includes(v.asset)
            ? v.asset
            : symbols.includes('SPX')
              ? 'SPX'
              : (symbols[0] ?? '');
          const graphId = ids.includes(v.graph) ? v.graph : ids.includes('demo') ? 'demo' : (ids[0] ?? '');
          const next = { ...v, asset, graph: graphId };
          writeUrl(next);
          return next;
        });
      } catch (e) {
        setError(e instanceof ApiError ? e.message : `the server did not answer: ${String(e)}`);
      }
    })();
  }, []);

  // The latest request wins: a slow reply for a graph no longer chosen is dropped.
  const graphRequest = useRef(0);
  const loadGraph = useCallback(async (id: string) => {
    const n = ++graphRequest.current;
    try {
      const g = id ? await api.graph(id) : null;
      if (n === graphRequest.current) setGraph(g);
    } catch (e) {
      if (n === graphRequest.current) setError(e instanceof ApiError ? e.message : String(e));
    }
  }, []);
  useEffect(() => {
    if (graphIds === null) return;
    void loadGraph(view.graph).then(() => setReady(true));
  }, [view.graph, graphIds, loadGraph]);

  const nodes = useMemo(
    () => (graph ? classifyNodes(graph.spec ?? {}, graph.outputs ?? [], functions) : []),
    [graph, functions],
  );
  const styles = useMemo(() => seriesStyles(nodes), [nodes]);
  const visible = useMemo(() => {
    const ids = new Set(nodes.map((n) => n.node));
    return new Set((view.nodes ?? defaultVisible(nodes)).filter((n) => ids.has(n)));
  }, [nodes, view.nodes]);

  const toggle = (node: string) => {
    const next = new Set(visible);
    if (!next.delete(node)) next.add(node);
    setView({ nodes: nodes.map((n) => n.node).filter((n) => next.has(n)) });
  };

  // A new version of the graph; a node it adds is shown on the chart.
  const replaceNodes = async (specNodes: NodeSpec[]) => {
    if (!graph?.id) return;
    const updated = await api.replaceGraph(graph.id, { name: graph.id, nodes: specNodes });
    const before = new Set((graph.spec?.nodes ?? []).map((n) => n.id));
    const added = specNodes.map((n) => n.id ?? '').filter((id) => !before.has(id));
    const kept = [...visible].filter((id) => specNodes.some((n) => n.id === id));
    setView({ nodes: [...kept, ...added] });
    setGraph(updated);
  };

  return (
    <div className="flex min-h-full flex-col md:h-full">
      <Header theme={theme} onToggleTheme={onToggleTheme} onSignOut={onSignOut}>
        <label className="flex items-center gap-1 text-sm">
          <span className="text-slate-500">Graph</span>
          <select
            value={view.graph}
            onChange={(e) => setView({ graph: e.target.value, nodes: null })}
            className="rounded border border-slate-300 bg-white px-1 py-0.5 dark:border-slate-600 dark:bg-slate-900"
          >
            {(graphIds ?? []).map((id) => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
          </select>
        </label>
        {error && (
          <p role="alert" className="text-sm text-red-600">
            {error}
          </p>
        )}
      </Header>
      <div className="flex min-h-0 flex-1 flex-col md:flex-row">
        <aside className="max-h-44 shrink-0 overflow-hidden border-b border-slate-200 p-2 md:max-h-none md:w-60 md:border-b-0 md:border-r dark:border-slate-800">
          <Watchlist assets={assets} selected={view.asset} onSelect={(asset) => setView({ asset })} />
        </aside>
        <main className="flex min-h-0 min-w-0 flex-1 flex-col">
          {!ready ? (
            <p className="p-4 text-sm text-slate-500">Loading…</p>
          ) : view.asset ? (
            <PriceChart
              symbol={view.asset}
              interval={view.interval}
              onInterval={(interval) => setView({ interval })}
              graph={graph}
              nodes={nodes}
              visible={visible}
              onToggle={toggle}
              styles={styles}
              theme={theme}
              onGraphChanged={() => void loadGraph(view.graph)}
            />
          ) : (
            <p className="p-4 text-sm text-slate-500">
              No assets yet: import some (see the README) or start the simulator.
            </p>
          )}
          {graph && (
            <div className="shrink-0 overflow-auto border-t border-slate-200 p-2 md:max-h-[42%] dark:border-slate-800">
              <GraphPanel
                graph={graph}
                functions={functions}
                visible={visible}
                onToggle={toggle}
                onReplace={replaceNodes}
              />
            </div>
          )}
        </main>
      </div>
    </div>
  );
}
