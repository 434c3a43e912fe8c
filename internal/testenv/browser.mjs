// What the browser suites of several npm packages share (tokenclient's
// test/browser and examples/chat's e2e): how Debian's chromium is
// launched, free loopback ports, and reading cmd/tvm's start-up banner.
// Node built-ins only, so that it resolves from any package; each suite
// launches chromium with its own playwright-core and launchOptions.

import net from 'node:net';

export const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

// The launch flags from DEVELOPERS.md: headless, no sandbox (root in CI),
// nothing that reaches the network on its own.
export const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Options for playwright-core's chromium.launch (it makes a fresh user data directory). */
export const launchOptions = { executablePath: chromiumPath, args: chromiumArgs, headless: true };

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * The admin secret from cmd/tvm's start-up banner, if it prints one (a
 * `Bearer <secret>` or `secret: <secret>` on any line but the curl
 * example), else null.
 */
export function adminSecretFrom(lines) {
  for (const line of lines) {
    if (/\btry:/.test(line)) continue; // the banner's curl example ("Bearer $JWT")
    const m =
      /Bearer\s+([^\s'"`),;]+)/.exec(line) ?? /\bsecret\b[^:=\n]*[:=]\s*["'`]?([^\s'"`),;]+)/i.exec(line);
    if (m && !m[1].startsWith('$')) return m[1];
  }
  return null;
}

/** A short random string that tells one test's messages from another's. */
export function nonce() {
  return Math.random().toString(36).slice(2, 8);
}
