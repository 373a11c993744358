import { Overview } from './Overview';

export function App() {
  return (
    <div className="app">
      <header className="topbar">
        <span className="brand">
          <span className="brand-mark" aria-hidden="true">
            B
          </span>
          Berth
        </span>
        <span className="topbar-sub">Admin console</span>
      </header>
      <div className="layout">
        <nav className="sidenav" aria-label="Main">
          <a href="/" className="sidenav-link active" aria-current="page">
            Overview
          </a>
        </nav>
        <main className="content">
          <Overview />
        </main>
      </div>
    </div>
  );
}
