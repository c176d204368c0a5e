// REST calls. Every response body is parsed as the message the OpenAPI document declares; an
// error response becomes an ApiError carrying the server's Error (code, message, details).
// Each call carries the page's credential (auth/credentials.ts); a 401 is sent again once when
// that may help (a new access token), else it signs the page out with the server's message. A
// 403 (a scope the credential lacks) and a 429 are thrown to the caller like any other error.
import { CHECK_PATH, credentials } from '../auth/credentials';
import { ApiError, readJson } from './error';
import type {
  AnalyticsResult,
  AssetList,
  CandleSeries,
  FunctionList,
  Graph,
  GraphList,
  GraphSpec,
  IntervalName,
} from './types';

export { ApiError } from './error';

interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  headers?: Record<string, string>;
  body?: string;
}

async function request<T>(path: string, options: RequestOptions = {}, retried = false): Promise<T> {
  const sent = await credentials.authorization();
  const response = await fetch(path, { ...options, headers: { ...options.headers, ...sent.headers } });
  try {
    return (await readJson(response, path)) as T;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401 && credentials.rejected(sent, e.message, retried)) {
      return request<T>(path, options, true);
    }
    throw e;
  }
}

// A time as the server's query parameters take it: epoch nanoseconds with the unit suffix.
export function nsParam(ns: bigint): string {
  return `${ns}ns`;
}

export interface RangeQuery {
  interval: IntervalName;
  from?: bigint; // ns, inclusive
  to?: bigint; // ns, inclusive
  last?: number; // the latest this many bars of the range
}

function rangeParams(q: RangeQuery): URLSearchParams {
  const p = new URLSearchParams({ interval: q.interval });
  if (q.from !== undefined) p.set('from', nsParam(q.from));
  if (q.to !== undefined) p.set('to', nsParam(q.to));
  if (q.last !== undefined) p.set('last', String(q.last));
  return p;
}

export const api = {
  assets: () => request<AssetList>('/v1/assets'),
  candles: (symbol: string, q: RangeQuery) =>
    request<CandleSeries>(`/v1/assets/${encodeURIComponent(symbol)}/candles?${rangeParams(q)}`),
  analytics: (symbol: string, graph: string, outputs: string[], q: RangeQuery) => {
    const p = rangeParams({ ...q, last: undefined });
    p.set('graph', graph);
    if (outputs.length > 0) p.set('outputs', outputs.join(','));
    return request<AnalyticsResult>(`/v1/assets/${encodeURIComponent(symbol)}/analytics?${p}`);
  },
  graphs: () => request<GraphList>('/v1/graphs'),
  graph: (id: string) => request<Graph>(`/v1/graphs/${encodeURIComponent(id)}`),
  replaceGraph: (id: string, spec: GraphSpec) =>
    request<Graph>(`/v1/graphs/${encodeURIComponent(id)}`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(spec),
    }),
  functions: () => request<FunctionList>('/v1/functions'),
  // Whether the credential is accepted, cheaply (see CHECK_PATH).
  check: () => request<AssetList>(CHECK_PATH),
};
