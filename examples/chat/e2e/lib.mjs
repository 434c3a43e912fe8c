// Helpers of the end-to-end tests: build and start the Go servers on free
// loopback ports, launch Debian's chromium through playwright-core, and
// drive the chat page as a user would.

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

import { adminSecretFrom, answersOK, bannerDone, freePort, launchOptions, startProcess } from '../../../internal/testenv/browser.mjs';

export { answersOK, freePort, nonce, startProcess } from '../../../internal/testenv/browser.mjs';

const execFileP = promisify(execFile);

export const chatDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const repoRoot = path.resolve(chatDir, '..', '..');
export const webDir = path.join(chatDir, 'web');
export const artifactsDir = process.env.E2E_ARTIFACTS ?? path.join(chatDir, 'test-artifacts');

mkdirSync(artifactsDir, { recursive: true });

/** Builds the chat server and cmd/tvm into a temporary directory. */
export async function buildBinaries() {
  const bin = mkdtempSync(path.join(os.tmpdir(), 'tvm-chat-e2e-'));
  const build = (out, pkg) =>
    execFileP('go', ['build', '-o', path.join(bin, out), pkg], { cwd: repoRoot, maxBuffer: 16 << 20 });
  try {
    await Promise.all([build('chat', './examples/chat'), build('tvm', './cmd/tvm')]);
  } catch (e) {
    rmSync(bin, { recursive: true, force: true });
    throw e;
  }
  return {
    chat: path.join(bin, 'chat'),
    tvm: path.join(bin, 'tvm'),
    dir: bin,
    cleanup: () => rmSync(bin, { recursive: true, force: true }),
  };
}

/** Builds the web UI (vite build) so that the tests run the current sources. */
export async function buildUI() {
  if (process.env.E2E_SKIP_UI_BUILD === '1' && existsSync(path.join(webDir, 'dist', 'index.html'))) return;
  if (!existsSync(path.join(webDir, 'node_modules'))) {
    await execFileP('npm', ['ci', '--no-audit', '--no-fund'], { cwd: webDir, maxBuffer: 64 << 20 });
  }
  await execFileP('npm', ['run', 'build'], { cwd: webDir, maxBuffer: 64 << 20 });
}

/**
 * A fetch for cmd/tvm's emulator admin endpoint (base .../admin/momentolocal)
 * that sends the admin secret of the banner when there is one. Waits for the
 * banner line naming the endpoint first.
 */
export async function adminClient(proc, base, timeoutMs = 10_000) {
  const start = Date.now();
  while (!bannerDone(proc.stdout, start)) {
    if (Date.now() - start > timeoutMs) throw new Error('cmd/tvm printed no line naming its admin endpoint');
    await new Promise(r => setTimeout(r, 50));
  }
  const secret = adminSecretFrom(proc.stdout);
  return (p, init = {}) =>
    fetch(base + p, { ...init, headers: { ...(init.headers ?? {}), ...(secret ? { Authorization: `Bearer ${secret}` } : {}) } });
}

/** Starts the chat server on a free port; returns its URL and a stop function. */
export async function startChat(binary, name, extraArgs = [], env = {}) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = await startProcess(
    name,
    binary,
    ['-addr', `127.0.0.1:${port}`, '-build=false', '-web', webDir, '-log-level', 'debug', ...extraArgs],
    { env, logDir: artifactsDir, ready: () => answersOK(`${url}/healthz`) },
  );
  return { url, ...proc };
}

/** Launches Debian's chromium. */
export function launchBrowser() {
  return chromium.launch(launchOptions);
}

/** A signed-in chat page in a fresh browser context. */
export async function openChat(browser, url, username, password) {
  const context = await browser.newContext({ viewport: { width: 900, height: 800 } });
  const page = await context.newPage();
  const logs = [];
  page.on('console', m => logs.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', e => logs.push(`[pageerror] ${e.message}`));
  await page.goto(url);
  await page.locator('#signin').waitFor({ state: 'visible' });
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('#signin-button');
  await page.locator('#rooms').waitFor({ state: 'visible' });
  return { context, page, logs, username };
}

/** Joins a room and waits until its subscription is live. */
export async function joinRoom(user, room) {
  const { page } = user;
  await page.fill('#room', room);
  await page.click('#join-button');
  await page.locator('#status[data-state="live"]').waitFor({ timeout: 20_000 });
}

/**
 * Sends a message through the UI and waits for Momento's answer. Returns
 * the error shown, or "" when the message was accepted.
 */
export async function send(user, text) {
  const { page } = user;
  await page.fill('#message', text);
  await page.click('#send');
  // Success clears the input; a refusal shows #send-error.
  await page.waitForFunction(
    () => document.querySelector('#message').value === '' || !document.querySelector('#send-error').hidden,
    null,
    { timeout: 15_000 },
  );
  return (await page.isVisible('#send-error')) ? ((await page.textContent('#send-error')) ?? 'error') : '';
}

/** Sends a message that must be accepted. */
export async function sendOK(user, text) {
  const err = await send(user, text);
  if (err) throw new Error(`${user.username} could not send "${text}": ${err}`);
}

/** Waits until the page's subscription is live (not reconnecting). */
export async function waitLive(user, timeout = 30_000) {
  await user.page.locator('#status[data-state="live"]').waitFor({ timeout });
}

/** The messages shown on a page, in order. */
export function messages(user) {
  return user.page.$$eval('#messages li', lis =>
    lis.map(li => ({
      seq: Number(li.dataset.seq),
      sender: li.dataset.sender,
      kind: li.dataset.kind,
      text: li.querySelector('.text')?.textContent ?? '',
    })),
  );
}

/** Waits until a message with this text is shown. */
export async function waitForMessage(user, text, timeout = 15_000) {
  await user.page.locator('#messages li .text', { hasText: text }).first().waitFor({ timeout });
}

/** Number of token refreshes the page has done. */
export async function refreshes(user) {
  return Number(await user.page.getAttribute('#status', 'data-refreshes'));
}

/** Writes a screenshot of the user's window to artifactsDir. */
export async function screenshot(user, name) {
  const file = path.join(artifactsDir, `${name}.png`);
  await user.page.screenshot({ path: file });
  return file;
}

/** Writes the page's console log next to the screenshots. */
export function saveLogs(user, name) {
  writeFileSync(path.join(artifactsDir, `${name}.console.log`), user.logs.join('\n') + '\n');
}

