// Helpers of the browser tests: build cmd/tvm and the test page, start tvm
// (with its embedded Momento emulator) on free loopback ports, serve the
// page, talk to the emulator's fault-injection admin endpoint, and launch
// Debian's chromium through playwright-core.

import { execFile } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

import { adminSecretFrom, answersOK, bannerDone, freePort, launchOptions, startProcess } from '../../../internal/testenv/browser.mjs';

export { adminSecretFrom, nonce } from '../../../internal/testenv/browser.mjs';

const execFileP = promisify(execFile);

export const here = path.dirname(fileURLToPath(import.meta.url));
export const packageDir = path.resolve(here, '..', '..');
export const repoRoot = path.resolve(packageDir, '..');
export const tvmConfig = path.join(packageDir, 'test', 'tvm.yaml');
export const artifactsDir = process.env.E2E_ARTIFACTS ?? path.join(packageDir, 'test-artifacts');
/** The password of every user in test/tvm.yaml. */
export const password = 'token-client-test';

mkdirSync(artifactsDir, { recursive: true });

/** A temporary directory, removed by cleanup(). */
export function tempDir() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tokenclient-e2e-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** go build -o <dir>/tvm ./cmd/tvm */
export async function buildTvm(dir) {
  const out = path.join(dir, 'tvm');
  await execFileP('go', ['build', '-o', out, './cmd/tvm'], { cwd: repoRoot, maxBuffer: 16 << 20 });
  return out;
}

/** Builds the package (tsc → dist/) and the test page with it (vite) into <dir>/page. */
export async function buildPage(dir) {
  const out = path.join(dir, 'page');
  const npm = (args, env = {}) =>
    execFileP('npm', args, { cwd: packageDir, env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  await npm(['run', 'build']);
  await execFileP(process.execPath, [path.join(packageDir, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', path.join(here, 'vite.config.mjs')], {
    cwd: packageDir,
    env: { ...process.env, TOKENCLIENT_PAGE_OUT: out },
    maxBuffer: 64 << 20,
  });
  return out;
}

const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json' };

/**
 * Serves the built page on 127.0.0.1 (a loopback origin, which the
 * emulator's gRPC-Web CORS allows), and proxies GET /same-origin/token to
 * tvm's token URL so that a page can also reach tvm on its own origin
 * (where it can read the Date header).
 */
export async function servePage(root, tvmTokenURL) {
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/same-origin/token') {
      try {
        const up = await fetch(tvmTokenURL + url.search, {
          headers: req.headers.authorization ? { Authorization: req.headers.authorization } : {},
        });
        res.sendDate = false; // tvm's own Date goes through
        for (const h of ['content-type', 'date', 'retry-after', 'cache-control']) {
          const v = up.headers.get(h);
          if (v !== null) res.setHeader(h, v);
        }
        res.writeHead(up.status);
        res.end(Buffer.from(await up.arrayBuffer()));
      } catch (e) {
        res.writeHead(502).end(String(e));
      }
      return;
    }
    const file = path.join(root, path.normalize(url.pathname === '/' ? '/index.html' : url.pathname));
    if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'Content-Type': types[path.extname(file)] ?? 'application/octet-stream', 'Cache-Control': 'no-store' });
    createReadStream(file).pipe(res);
  });
  const port = await freePort();
  await new Promise(r => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise(r => server.close(r)) };
}

/** The emulator's fault-injection admin endpoint; sends the admin secret when known. */
export class Admin {
  constructor(baseURL, secret) {
    this.baseURL = baseURL;
    this.secret = secret;
  }

  async request(method, p, body) {
    const headers = {};
    if (this.secret) headers.Authorization = `Bearer ${this.secret}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(this.baseURL + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    if (!res.ok) throw new Error(`admin ${method} ${p}: HTTP ${res.status}: ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /** POST /faults, e.g. {method: 'GenerateDisposableToken', code: 'UNAVAILABLE', count: 2}. */
  addFault(f) {
    return this.request('POST', '/faults', f);
  }

  clearFaults() {
    return this.request('DELETE', '/faults');
  }

  /** Closes every client connection of the emulator (a dropped network). */
  closeConnections() {
    return this.request('POST', '/connections/close');
  }

  /** The GenerateDisposableToken requests the emulator received. */
  tokenRequests() {
    return this.request('GET', '/token-requests');
  }
}

/**
 * Starts cmd/tvm with test/tvm.yaml (or another config) and its emulator,
 * on free ports given through TVM_ADDR, TVM_OPS_ADDR and MOMENTO_LOCAL_ADDR.
 */
export async function startTvm(binary, name, config = tvmConfig) {
  const [port, opsPort, emuPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const base = `http://127.0.0.1:${port}`;
  const ops = `http://127.0.0.1:${opsPort}`;
  const started = Date.now();
  // Ready once /healthz answers and the banner named the admin endpoint.
  const proc = await startProcess(name, binary, [], {
    env: {
      TVM_ADDR: `127.0.0.1:${port}`,
      TVM_OPS_ADDR: `127.0.0.1:${opsPort}`,
      MOMENTO_LOCAL_ADDR: `127.0.0.1:${emuPort}`,
      TVM_CONFIG: config,
      MOMENTO_API_KEY: '',
    },
    logDir: artifactsDir,
    ready: async p => (await answersOK(`${ops}/healthz`)) && bannerDone(p.stdout, started),
  });
  const admin = new Admin(`${ops}/admin/momentolocal`, adminSecretFrom(proc.stdout));
  return {
    tokenURL: `${base}/api/momento/token`,
    opsURL: ops,
    emulator: `127.0.0.1:${emuPort}`,
    admin,
    /** A counter of tvm's /metrics, e.g. metric('tvm_token_requests_total', {outcome: 'forbidden'}). */
    async metric(name, labels = {}) {
      const text = await (await fetch(`${ops}/metrics`)).text();
      const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
      let sum = 0;
      for (const line of text.split('\n')) {
        if (!line.startsWith(name)) continue;
        const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
        if (!m || m[1] !== name || !want.every(w => (m[2] ?? '').includes(w))) continue;
        sum += Number(m[3]);
      }
      return sum;
    },
    stop: proc.stop,
  };
}

/** Launches Debian's chromium (playwright gives it a fresh user data directory). */
export function launchBrowser() {
  return chromium.launch(launchOptions);
}

/** A fresh browser context with the test page loaded; console lines are kept in `logs`. */
export async function openPage(browser, url, { clockOffsetMs = 0 } = {}) {
  const context = await browser.newContext();
  if (clockOffsetMs) {
    // This page's clock runs clockOffsetMs off the servers'.
    await context.addInitScript(offset => {
      const RealDate = Date;
      class SkewedDate extends RealDate {
        constructor(...args) {
          if (args.length === 0) super(RealDate.now() + offset);
          else super(...args);
        }
        static now() {
          return RealDate.now() + offset;
        }
      }
      globalThis.Date = SkewedDate;
    }, clockOffsetMs);
  }
  const page = await context.newPage();
  const logs = [];
  page.on('console', m => logs.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', e => logs.push(`[pageerror] ${e.message}`));
  await page.goto(url);
  await page.locator('#status', { hasText: 'ready' }).waitFor({ timeout: 15_000 });
  return { context, page, logs };
}

/** Polls fn (in the test process) until it returns a truthy value. */
export async function until(fn, what, timeoutMs = 20_000, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise(r => setTimeout(r, everyMs));
  }
}

