// What the browser suites of several npm packages share (tokenclient's
// test/browser and examples/chat's e2e): how Debian's chromium is
// launched, free loopback ports, starting the servers under test, and
// reading cmd/tvm's start-up banner. Node built-ins only, so that it
// resolves from any package; each suite launches chromium with its own
// playwright-core and launchOptions.

import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

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

const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/**
 * Starts cmd with its output in <logDir>/<name>.log and waits until
 * ready(proc) resolves truthy (polled every 50 ms; a throw counts as not
 * yet), for at most timeoutMs. proc has the child, the lines it printed on
 * stdout so far, and stop() (SIGTERM, SIGKILL after 5 s). Children still
 * running when the test process exits are killed.
 */
export async function startProcess(name, cmd, args, { env = {}, logDir, ready, timeoutMs = 30_000 }) {
  const log = createWriteStream(path.join(logDir, `${name}.log`));
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const stdout = [];
  let partial = '';
  child.stdout.on('data', chunk => {
    log.write(chunk);
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop();
    stdout.push(...lines);
  });
  child.stderr.pipe(log);
  let exited = null;
  child.on('exit', code => {
    exited = code;
    children.delete(child);
  });
  const proc = {
    child,
    stdout,
    stop: () =>
      new Promise(resolve => {
        if (exited !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }),
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited !== null) throw new Error(`${name} exited with ${exited} before it was ready; see ${name}.log`);
    let ok = false;
    try {
      ok = await ready(proc);
    } catch {
      // not listening yet
    }
    if (ok) return proc;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} not ready after ${timeoutMs} ms; see ${name}.log`);
    }
    await new Promise(r => setTimeout(r, 50));
  }
}

/** Whether GET url answers with a 2xx status. */
export async function answersOK(url) {
  return (await fetch(url)).ok;
}

/**
 * Whether cmd/tvm's start-up banner is complete: it named the emulator's
 * admin endpoint, and printed its last line ("try: ...") or had half a
 * second to print the rest.
 */
export function bannerDone(lines, since) {
  const i = lines.findIndex(l => /admin\/momentolocal|fault injection/i.test(l));
  return i >= 0 && (lines.slice(i).some(l => /\btry:/.test(l)) || Date.now() - since > 500);
}

/** A short random string that tells one test's messages from another's. */
export function nonce() {
  return Math.random().toString(36).slice(2, 8);
}
