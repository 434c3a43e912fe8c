import { defineConfig } from 'vite';

// The UI is plain static files: `vite build` writes them to dist/, which the
// Go server (examples/chat) serves, or any static host serves next to a
// config.json (see README). `npm run dev` proxies the server's routes to a
// chat server on 127.0.0.1:8080 (override with CHAT_SERVER).
const server = process.env.CHAT_SERVER ?? 'http://127.0.0.1:8080';

export default defineConfig({
  base: './',
  resolve: {
    // @tvmgo/token-client is a link to ../../../tokenclient, which has its
    // own node_modules: resolve the SDK from here for both, so that the page
    // bundles one copy of it (and instanceof works across the two).
    dedupe: ['@gomomento/sdk-web', '@gomomento/sdk-core'],
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 2048,
  },
  server: {
    proxy: {
      '/config.json': server,
      '/api': server,
      '/idp': server,
      '/.well-known': server,
    },
  },
});
