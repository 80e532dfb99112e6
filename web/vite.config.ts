/// <reference types="vitest/config" />
// Vite without framework plugins: esbuild compiles the Preact JSX itself (jsxImportSource), so
// the build stays small and plugin-free. Two pages: the control room and the API reference.
import { defineConfig } from 'vite';

export default defineConfig({
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // The hub's CSP forbids inline scripts; never inline the module preload polyfill.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 2000,
    rollupOptions: { input: { index: 'index.html', docs: 'docs.html' } },
  },
  test: { include: ['unit/**/*.test.ts'], environment: 'node' },
});
