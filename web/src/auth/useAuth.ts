// The credential's state for React: re-renders when the page signs in or out.
import { useSyncExternalStore } from 'react';
import { credentials, type AuthState, type CredentialStore } from './credentials';

export function useAuth(store: CredentialStore = credentials): AuthState {
  return useSyncExternalStore(store.subscribe, store.state);
}
