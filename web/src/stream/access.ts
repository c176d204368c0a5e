// The page's credential for its streams (see StreamAccess in connection.ts): the query
// parameters of auth/credentials.ts, and the REST check that tells a refused credential from a
// server that is away.
import { ApiError, api } from '../api/client';
import { credentials } from '../auth/credentials';
import type { StreamAccess } from './connection';

export const streamAccess: StreamAccess = {
  params: async () => (await credentials.authorization()).query,
  refused: async () => {
    try {
      await api.check(); // a 401 here also signs the page out (or renews the token first)
      return null;
    } catch (e) {
      return e instanceof ApiError && (e.status === 401 || e.status === 403) ? e.message : null;
    }
  },
};
