import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { credentials } from './auth/credentials';
import { adoptFragmentKey } from './auth/fragment';
import './index.css';
import './probe';

// The sign-in link's key (#api_key=…): taken out of the address before anything else reads it.
const linkKey = adoptFragmentKey(window.location, window.history);
if (linkKey !== null) credentials.useApiKey(linkKey);

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
}
