// Every asset with its last price and its change since the previous close, live from a daily
// stream (its own WebSocket); a search box filters by symbol or name. Each row is a button that charts the asset.
import { useMemo, useState } from 'react';
import type { Asset } from '../api/types';
import { change } from '../stream/reducer';
import { useWatchlist } from '../stream/useWatchlist';

export interface WatchlistProps {
  assets: Asset[];
  selected: string;
  onSelect: (symbol: string) => void;
}

export function formatPrice(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  const digits = Math.abs(v) >= 1000 ? 2 : Math.abs(v) >= 1 ? 2 : 4;
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function matches(asset: Asset, query: string): boolean {
  const q = query.trim().toLowerCase();
  if (!q) return true;
  return (asset.symbol ?? '').toLowerCase().includes(q) || (asset.name ?? '').toLowerCase().includes(q);
}

export function Watchlist({ assets, selected, onSelect }: WatchlistProps) {
  // The quotes live here, so that a tick re-renders this list and not the page.
  const { quotes } = useWatchlist(assets);
  const [query, setQuery] = useState('');
  const shown = useMemo(() => assets.filter((a) => matches(a, query)), [assets, query]);
  return (
    <nav aria-label="Watchlist" className="flex min-h-0 flex-col">
      <label className="mb-2 block">
        <span className="sr-only">Search assets</span>
        <input
          type="search"
          placeholder="Search symbol or name"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          className="w-full rounded border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-600 dark:bg-slate-900"
          data-testid="watchlist-search"
        />
      </label>
      <ul className="min-h-0 flex-1 overflow-y-auto" data-testid="watchlist">
        {shown.map((a) => {
          const symbol = a.symbol ?? '';
          const q = quotes[symbol];
          const c = q ? change(q) : null;
          const tone =
            c === null || c.abs === 0
              ? 'text-slate-500'
              : c.abs > 0
                ? 'text-green-600 dark:text-green-400'
                : 'text-red-600 dark:text-red-400';
          const active = symbol === selected;
          return (
            <li key={symbol}>
              <button
                type="button"
                onClick={() => onSelect(symbol)}
                aria-current={active ? 'true' : undefined}
                data-symbol={symbol}
                className={`grid w-full grid-cols-[1fr_auto] gap-x-2 rounded px-2 py-1.5 text-left text-sm hover:bg-slate-100 focus-visible:outline-2 focus-visible:outline-blue-500 dark:hover:bg-slate-800 ${active ? 'bg-blue-50 dark:bg-slate-800' : ''}`}
              >
                <span className="font-semibold">{symbol}</span>
                <span
                  className={`text-right tabular-nums ${q?.direction === 'up' ? 'text-green-700 dark:text-green-300' : q?.direction === 'down' ? 'text-red-700 dark:text-red-300' : ''}`}
                  data-testid="last"
                >
                  {formatPrice(q?.last)}
                </span>
                <span className="truncate text-xs text-slate-500">{a.name}</span>
                <span
                  className={`text-right text-xs tabular-nums ${tone}`}
                  data-testid="change"
                  title={
                    q?.previousClose === null ? 'change since the open' : 'change since the previous close'
                  }
                >
                  {c === null
                    ? '—'
                    : `${c.abs >= 0 ? '+' : ''}${formatPrice(c.abs)} (${c.pct >= 0 ? '+' : ''}${c.pct.toFixed(2)}%)`}
                </span>
              </button>
            </li>
          );
        })}
        {shown.length === 0 && (
          <li className="px-2 py-1 text-sm text-slate-500">No asset matches “{query}”.</li>
        )}
      </ul>
    </nav>
  );
}
