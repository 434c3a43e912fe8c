import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// Builds the test page (page/) with the package's dist/ into
// $TOKENCLIENT_PAGE_OUT (the browser tests build it into a temporary directory).
const here = path.dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  root: path.join(here, 'page'),
  base: './',
  logLevel: 'error',
  build: {
    outDir: process.env.TOKENCLIENT_PAGE_OUT ?? path.join(here, 'page-dist'),
    emptyOutDir: true,
    minify: false,
    chunkSizeWarningLimit: 4096,
  },
});
