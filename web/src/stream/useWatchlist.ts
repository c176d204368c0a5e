// The watchlist's live quotes: one WebSocket subscribed to every asset's daily bars (the last
// two closed and the forming one), reduced to a last price and a change per asset.
import { useEffect, useReducer, useRef } from 'react';
import type { Asset } from '../api/types';
import { StreamConnection, streamUrl } from './connection';
import { initialStreamState, streamReducer } from './reducer';

export function useWatchlist(assets: Asset[]) {
  const [state, dispatch] = useReducer(streamReducer, initialStreamState);
  const connection = useRef<StreamConnection | null>(null);
  useEffect(() => {
    const c = new StreamConnection(streamUrl(window.location), {
      action: dispatch,
      message: () => undefined,
    });
    connection.current = c;
    return () => c.close();
  }, []);
  const symbols = assets
    .map((a) => a.symbol ?? '')
    .filter(Boolean)
    .join(',');
  useEffect(() => {
    if (symbols)
      connection.current?.subscribe({ assets: symbols.split(','), interval: 'INTERVAL_1D', history: 2 });
  }, [symbols]);
  return state;
}
