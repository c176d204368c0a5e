// The sign-in link `tickgraph serve` prints, http://host/#api_key=<key>: the key rides in the
// URL's fragment, which the browser never sends to the server, so it is in no request or log.
// The page takes it out of the address at once, keeping the query (the view: asset, interval,
// graph, nodes) and any other fragment parameter.

const PARAM = 'api_key';

export interface FragmentKey {
  found: boolean; // the fragment names api_key (perhaps with an empty value)
  apiKey: string | null; // null: none, or an empty value
  hash: string; // the fragment without it: '' or '#…'
}

// Splits `hash` ('#a=1&api_key=…') into the key and the rest. Values are percent-decoded, but
// '+' is kept as it is: keys are base64url, and a '+' pasted from elsewhere must not become a space.
export function takeApiKey(hash: string): FragmentKey {
  const text = hash.startsWith('#') ? hash.slice(1) : hash;
  if (text === '') return { found: false, apiKey: null, hash };
  let found = false;
  let apiKey: string | null = null;
  const rest: string[] = [];
  for (const part of text.split('&')) {
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    if (name !== PARAM) {
      if (part !== '') rest.push(part);
      continue;
    }
    found = true;
    const raw = eq < 0 ? '' : part.slice(eq + 1);
    let value = raw;
    try {
      value = decodeURIComponent(raw);
    } catch {
      // Malformed escapes: the text as it is (the server will say whether it is a key).
    }
    value = value.trim();
    if (value !== '') apiKey = value;
  }
  if (!found) return { found, apiKey, hash };
  return { found, apiKey, hash: rest.length > 0 ? `#${rest.join('&')}` : '' };
}

// Removes api_key from the address bar (history.replaceState: no reload, no new history entry)
// and returns it; null when the fragment has none, and then the address is left alone.
export function adoptFragmentKey(
  location: Pick<Location, 'pathname' | 'search' | 'hash'>,
  history: Pick<History, 'replaceState' | 'state'>,
): string | null {
  const { found, apiKey, hash } = takeApiKey(location.hash);
  if (found) history.replaceState(history.state, '', `${location.pathname}${location.search}${hash}`);
  return apiKey;
}
