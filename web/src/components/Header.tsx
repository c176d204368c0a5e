// The bar at the top of every screen: the name, what the screen puts there (the graph picker and
// the page's error), Sign out while a credential is held, and the theme switch.
import type { ReactNode } from 'react';
import type { Theme } from '../chart/chartView';

export interface HeaderProps {
  theme: Theme;
  onToggleTheme: () => void;
  onSignOut: (() => void) | null; // null: no credential to forget
  children?: ReactNode;
}

const buttonClass =
  'rounded border border-slate-300 px-2 py-0.5 text-sm hover:bg-slate-100 focus-visible:outline-2 focus-visible:outline-blue-500 dark:border-slate-600 dark:hover:bg-slate-800';

export function Header({ theme, onToggleTheme, onSignOut, children }: HeaderProps) {
  return (
    <header className="flex flex-wrap items-center gap-3 border-b border-slate-200 px-3 py-1.5 dark:border-slate-800">
      <span className="font-bold tracking-tight">tickgraph</span>
      {children}
      <div className="ml-auto flex items-center gap-2">
        {onSignOut && (
          <button type="button" onClick={onSignOut} className={buttonClass} data-testid="sign-out">
            Sign out
          </button>
        )}
        <button
          type="button"
          onClick={onToggleTheme}
          className={buttonClass}
          aria-label={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`}
          data-testid="theme"
        >
          {theme === 'dark' ? '☀ Light' : '☾ Dark'}
        </button>
      </div>
    </header>
  );
}
