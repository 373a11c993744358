import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// berthd serves the built console at `/` and embeds `dist/` at compile time.
// During `npm run dev` (and `npm run preview`) the daemon's routes are proxied
// to a locally running berthd: http://127.0.0.1:8080 unless BERTH_DEV_API says
// otherwise, e.g. BERTH_DEV_API=http://127.0.0.1:18500 npm run dev.
// (Read through globalThis: the project has no Node type definitions.)
const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};
const BERTHD = env.BERTH_DEV_API || 'http://127.0.0.1:8080';
// `/auth` carries the single sign-on redirects (/auth/oidc/login, /auth/oidc/callback).
const proxied = ['/api', '/auth/', '/readyz', '/healthz', '/metrics'];
const proxy = Object.fromEntries(proxied.map((path) => [path, { target: BERTHD, changeOrigin: false }]));

export default defineConfig({
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
  },
  server: { proxy },
  preview: { proxy },
  test: {
    // Unit tests run in node; the page tests (*.test.tsx) ask for a DOM with
    // a `// @vitest-environment jsdom` comment at their top.
    environment: 'node',
    include: ['src/**/*.test.ts', 'src/**/*.test.tsx'],
  },
});
