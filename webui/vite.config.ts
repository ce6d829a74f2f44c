// Build for cats-cpe's static file server (common/api/static_files.hpp): hashed names
// under assets/ (served immutable), nothing inlined into index.html (the CSP allows no
// inline script or style, and no data: fonts), compressed twins made by scripts/compress.mjs.
import { defineConfig } from 'vite';

export default defineConfig({
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: process.env.CATS_WEBUI_OUT || 'dist',
    emptyOutDir: true,
    target: 'es2020',
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
    sourcemap: false,
  },
});
