import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// berthd serves the built console at `/` and embeds `dist/` at compile time.
// During `npm run dev` the daemon's routes are proxied to a locally running berthd.
const BERTHD = 'http://127.0.0.1:8080';
const proxied = ['/api', '/readyz', '/healthz', '/metrics'];

export default defineConfig({
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
  },
  server: {
    proxy: Object.fromEntries(proxied.map((path) => [path, { target: BERTHD, changeOrigin: false }])),
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts'],
  },
});
