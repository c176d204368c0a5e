// The watchlist's live quotes: one WebSocket subscribed to every asset's daily bars (the last
// two closed and the forming one), reduced to a last price and a change per asset. The socket
// opens once there are assets to follow (none before the first list, e.g. while signed out).
import { useEffect, useReducer, useRef } from 'react';
import type { Asset } from '../api/types';
import { streamAccess } from './access';
import { DEFAULT_BACKOFF, StreamConnection, streamUrl } from './connection';
import { initialStreamState, streamReducer } from './reducer';

export function useWatchlist(assets: Asset[]) {
  const [state, dispatch] = useReducer(streamReducer, initialStreamState);
  const connection = useRef<StreamConnection | null>(null);
  const symbols = assets
    .map((a) => a.symbol ?? '')
    .filter(Boolean)
    .join(',');
  const any = symbols !== '';
  useEffect(() => {
    if (!any) return;
    const c = new StreamConnection(
      streamUrl(window.location),
      { action: dispatch, message: () => undefined },
      DEFAULT_BACKOFF,
      streamAccess,
    );
    connection.current = c;
    return () => {
      c.close();
      connection.current = null;
    };
  }, [any]);
  useEffect(() => {
    if (symbols)
      connection.current?.subscribe({ assets: symbols.split(','), interval: 'INTERVAL_1D', history: 2 });
  }, [symbols]);
  return state;
}
