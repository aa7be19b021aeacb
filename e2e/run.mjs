#!/usr/bin/env node
// Browser end-to-end tests: the official Open WebUI frontend (embedded in the
// binary) driven in headless Chromium against `./open-webui serve`.
//
//   node e2e/run.mjs                      # uses ./open-webui
//   OWUI_BIN=path/to/open-webui node e2e/run.mjs
//   OWUI_E2E_KEEP=1 ...                   # keep the server's temp data dir
//
// Artifacts (screenshots, server log, network log) go to e2e/artifacts/.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { Monitor, launchBrowser, pathOf } from './lib/browser.mjs';
import { FAKE_MODEL, FAKE_REPLY, SLOW_LAST, TOOL_REPLY, startFakeUpstream } from './lib/fake-upstream.mjs';
import { defaultBinary, startServer } from './lib/server.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = process.env.OWUI_E2E_ARTIFACTS || path.join(HERE, 'artifacts');
fs.mkdirSync(ARTIFACTS, { recursive: true });

const ADMIN = { name: 'E2E Admin', email: 'admin@example.com', password: 'Passw0rd!x' };
const PENDING = { name: 'Pending Person', email: 'pending@example.com', password: 'Passw0rd!y' };

const UI_TIMEOUT = 20_000; // any single UI action / expectation
const LOAD_TIMEOUT = 30_000; // first render of a page (large JS chunks on a slow machine)
const TEST_TIMEOUT = 180_000; // a whole test

// 4xx responses that the official frontend provokes on purpose in these flows.
// Each entry: why it is expected + a predicate. Keep this list short: anything
// not listed here (and every 5xx) fails the test that caused it.
// The reference run (official 0.12.4 server, same flows) produced no 4xx at all,
// so the list is empty: the anonymous first visit does not call /api/v1/auths/
// (no token in localStorage yet), and sign-out clears the token before /auth loads.
const ALLOWED_HTTP = [];

// Console errors / page errors that are not caused by our server. Same rule:
// short, commented, everything else fails.
const ALLOWED_CONSOLE = [];

let upstream;
let server;
let browser;
let monitor;
const contexts = [];

function log(...a) {
  console.log(...a);
}

async function newContext(label) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 }, locale: 'en-US' });
  ctx.setDefaultTimeout(UI_TIMEOUT);
  ctx.setDefaultNavigationTimeout(LOAD_TIMEOUT);
  monitor.attach(ctx, label);
  contexts.push(ctx);
  return ctx;
}

async function shot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  try {
    await page.screenshot({ path: file, timeout: 10_000 });
    log(`  screenshot: ${path.relative(process.cwd(), file)}`);
  } catch (e) {
    log(`  (screenshot ${name} failed: ${e.message})`);
  }
}

/** Run `body(page)`; on failure save a screenshot and the page URL before rethrowing. */
async function withPage(ctx, name, body) {
  const page = await ctx.newPage();
  try {
    await body(page);
  } catch (e) {
    await shot(page, `FAILED-${name}`);
    log(`  page url at failure: ${page.url()}`);
    throw e;
  } finally {
    await page.close().catch(() => {});
  }
}

function assertNoProblems(mark, what) {
  const p = monitor.problemsSince(mark);
  assert.deepEqual(p, [], `${what}: unexpected server responses / console errors:\n  ${p.join('\n  ')}`);
}

async function api(method, p, { token, body } = {}) {
  const headers = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(server.baseUrl + p, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000)
  });
  const text = await r.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: r.status, json, text, headers: r.headers };
}

/** Admin JWT: sign in; if no admin exists yet (onboarding test failed early), create it. */
async function adminToken() {
  let r = await api('POST', '/api/v1/auths/signin', { body: { email: ADMIN.email, password: ADMIN.password } });
  if (r.status !== 200) {
    log(`  admin sign-in via API answered ${r.status}; creating the admin via API`);
    r = await api('POST', '/api/v1/auths/signup', {
      body: { name: ADMIN.name, email: ADMIN.email, password: ADMIN.password, profile_image_url: '' }
    });
  }
  assert.equal(r.status, 200, `admin sign-in/up: ${r.status} ${r.text.slice(0, 300)}`);
  assert.ok(r.json?.token, 'session object has a token');
  return r.json.token;
}

/** The admin sees a "What's New" modal on first login; close it when it shows up. */
async function dismissChangelog(page, waitMs = 5_000) {
  const ok = page.getByRole('button', { name: "Okay, Let's Go!" });
  try {
    await ok.waitFor({ state: 'visible', timeout: waitMs });
  } catch {
    return false;
  }
  await ok.click();
  await ok.waitFor({ state: 'hidden', timeout: UI_TIMEOUT });
  return true;
}

/** Opens the sidebar when it is collapsed (its state survives reloads). */
async function openSidebar(page) {
  const open = page.getByRole('button', { name: 'Open Sidebar' }).first();
  if (await open.isVisible().catch(() => false)) await open.click();
  await page.getByRole('button', { name: 'Close Sidebar' }).first().waitFor({ state: 'visible' });
}

async function fillAuthForm(page, { name, email, password }) {
  if (name !== undefined) await page.locator('#name').fill(name);
  await page.locator('#email').fill(email);
  await page.locator('#password').fill(password);
  const confirm = page.locator('#confirm-password');
  if (await confirm.isVisible()) await confirm.fill(password);
}

async function signInViaUi(page, who) {
  await page.locator('#email').waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
  await fillAuthForm(page, { email: who.email, password: who.password });
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.locator('#chat-input').waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
}

describe('open-webui in the browser', { concurrency: 1 }, () => {
  before(async () => {
    const serverLog = path.join(ARTIFACTS, 'server.log');
    fs.rmSync(serverLog, { force: true });
    upstream = await startFakeUpstream();
    server = await startServer({
      binary: defaultBinary(),
      logFile: serverLog,
      env: {
        // the only model connection is the loopback fake upstream
        OPENAI_API_BASE_URL: upstream.url,
        OPENAI_API_BASE_URLS: upstream.url,
        OPENAI_API_KEY: 'sk-fake',
        OPENAI_API_KEYS: 'sk-fake',
        ENABLE_OLLAMA_API: 'false',
        OFFLINE_MODE: 'true',
        ENABLE_VERSION_UPDATE_CHECK: 'false',
        RUST_LOG: process.env.RUST_LOG || 'info'
      }
    });
    log(`server up at ${server.baseUrl} (pid ${server.pid}, /health after ${server.startupMs.toFixed(0)} ms)`);
    monitor = new Monitor(server.baseUrl, { allowedHttp: ALLOWED_HTTP, allowedConsole: ALLOWED_CONSOLE });
    browser = await launchBrowser();
    log(`browser: chromium ${browser.version()}`);
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close().catch(() => {});
    if (monitor) {
      fs.writeFileSync(path.join(ARTIFACTS, 'network.json'), JSON.stringify(monitor.toJSON(), null, 1));
      const bad = monitor.responses.filter((r) => r.status >= 400);
      log(`\nbrowser saw ${monitor.responses.length} responses from the server, ${bad.length} with status >= 400`);
      for (const r of bad) log(`  ${r.status} ${r.method} ${r.path} [${r.label}]${r.allowed ? ` (allowed: ${r.allowed})` : ''}`);
      log(`console errors: ${monitor.consoleErrors.length}, page errors: ${monitor.pageErrors.length}`);
      if (monitor.problems.length) log(`problems:\n  ${monitor.problems.join('\n  ')}`);
    }
    await server?.stop();
    await upstream?.close();
  });

  test('serving: /health, anonymous /api/config, SPA deep links', { timeout: 30_000 }, async () => {
    const h = await api('GET', '/health');
    assert.equal(h.status, 200);
    assert.equal(h.json?.status, true, `/health body: ${h.text}`);

    const v = await api('GET', '/api/version');
    assert.equal(v.status, 200);
    assert.equal(v.json?.version, '0.12.4', `/api/version body: ${v.text}`);

    const c = await api('GET', '/api/config');
    assert.equal(c.status, 200);
    assert.equal(c.json?.onboarding, true, 'fresh install offers onboarding');
    assert.equal(c.json?.features?.auth, true);

    for (const p of ['/', '/auth', '/c/00000000-0000-4000-8000-000000000000', '/admin/settings']) {
      const r = await fetch(server.baseUrl + p, { signal: AbortSignal.timeout(10_000) });
      const body = await r.text();
      assert.equal(r.status, 200, `GET ${p}`);
      assert.match(r.headers.get('content-type') || '', /text\/html/, `GET ${p} content-type`);
      assert.match(body, /<html/i, `GET ${p} is the SPA index.html`);
    }
    const js = await fetch(server.baseUrl + '/_app/immutable/does-not-exist.js', { signal: AbortSignal.timeout(10_000) });
    await js.arrayBuffer();
    assert.equal(js.status, 404, 'a missing .js stays 404 (no index.html fallback)');
  });

  test('onboarding: create the admin, reach the chat, sign out, sign in again', { timeout: TEST_TIMEOUT }, async () => {
    const mark = monitor.mark();
    const ctx = await newContext('admin');
    await withPage(ctx, 'onboarding', async (page) => {
      await page.goto(server.baseUrl + '/');

      // Fresh install: the onboarding splash with its "Get started" button
      const getStarted = page.getByRole('button', { name: 'Get started' });
      await getStarted.waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
      assert.match(pathOf(page.url()), /^\/auth/, 'anonymous visit is routed to /auth');
      await shot(page, '01-onboarding');
      await getStarted.click();

      // Create-admin form
      await page.locator('#name').waitFor({ state: 'visible' });
      await fillAuthForm(page, ADMIN);
      await page.getByRole('button', { name: 'Create Admin Account' }).click();

      // The chat screen
      await page.locator('#chat-input').waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
      await dismissChangelog(page);
      await page.locator('#chat-input').waitFor({ state: 'visible' });
      const token = await page.evaluate(() => localStorage.token);
      assert.ok(token && token.split('.').length === 3, 'a JWT is stored in localStorage.token');

      // The model from the (fake) connection is offered
      await page.getByText(FAKE_MODEL).first().waitFor({ state: 'visible' });

      // Socket.IO over WebSocket came up (Engine.IO open packet + namespace connect)
      const ws = monitor.sockets.filter((s) => s.label === 'admin' && s.url.includes('/ws/socket.io'));
      assert.ok(ws.length > 0, 'the page opened a WebSocket to /ws/socket.io');
      assert.ok(
        ws.some((s) => s.received.some((f) => f.startsWith('0{')) && s.received.some((f) => f.startsWith('40'))),
        `Engine.IO open + Socket.IO connect received (frames: ${JSON.stringify(ws.map((s) => s.received.slice(0, 3)))})`
      );
      await shot(page, '02-chat-after-onboarding');

      // Sign out through the user menu
      const menu = page.locator('button[aria-label="User menu"]').filter({ visible: true }).first();
      await menu.click();
      await page.getByRole('menuitem', { name: 'Sign Out' }).click();
      await page.waitForURL(/\/auth/, { timeout: LOAD_TIMEOUT });
      await page.locator('#email').waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
      assert.equal(await page.evaluate(() => localStorage.token ?? null), null, 'token removed on sign-out');
      const cookies = await ctx.cookies(server.baseUrl);
      assert.ok(!cookies.some((c) => c.name === 'token' && c.value), 'token cookie cleared on sign-out');
      await shot(page, '03-signed-out');

      // Sign in again
      await signInViaUi(page, ADMIN);
      await dismissChangelog(page, 2_000);

      // Reload with the stored token (GET /api/v1/auths/ path)
      await page.reload();
      await page.locator('#chat-input').waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
      assert.doesNotMatch(pathOf(page.url()), /^\/auth/, 'still signed in after reload');
      await shot(page, '04-signed-in-again');
    });

    // The page-load sequence reached the app shell's calls
    const paths = new Set(monitor.apiCalls('admin').map((r) => `${r.method} ${r.path.split('?')[0]}`));
    for (const must of [
      'GET /api/config',
      'GET /api/version',
      'POST /api/v1/auths/signup',
      'POST /api/v1/auths/signin',
      'POST /api/v1/auths/signout',
      'GET /api/v1/auths/',
      'GET /api/models',
      'GET /api/v1/users/user/settings'
    ]) {
      assert.ok(paths.has(must), `browser called ${must}`);
    }
    assertNoProblems(mark, 'onboarding');
  });

  test('pending user: signup enabled by the admin, new user waits for activation', { timeout: TEST_TIMEOUT }, async () => {
    const mark = monitor.mark();
    const token = await adminToken();

    // Enable signup: read the admin config, send it back with ENABLE_SIGNUP = true
    const cfg = await api('GET', '/api/v1/auths/admin/config', { token });
    assert.equal(cfg.status, 200, `GET admin config: ${cfg.text.slice(0, 300)}`);
    assert.equal(typeof cfg.json?.ENABLE_SIGNUP, 'boolean', 'admin config has ENABLE_SIGNUP');
    assert.equal(cfg.json?.DEFAULT_USER_ROLE, 'pending', 'default role for new users is pending');
    const upd = await api('POST', '/api/v1/auths/admin/config', { token, body: { ...cfg.json, ENABLE_SIGNUP: true } });
    assert.equal(upd.status, 200, `POST admin config: ${upd.text.slice(0, 300)}`);
    assert.equal(upd.json?.ENABLE_SIGNUP, true);
    const anon = await api('GET', '/api/config');
    assert.equal(anon.json?.features?.enable_signup, true, 'anonymous /api/config reports enable_signup');
    assert.equal(anon.json?.onboarding, undefined, 'no onboarding once an admin exists');

    const ctx = await newContext('pending-user');
    await withPage(ctx, 'pending-user', async (page) => {
      await page.goto(server.baseUrl + '/auth');
      const signUp = page.getByRole('button', { name: 'Sign up', exact: true });
      await signUp.waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
      await signUp.click();
      await page.locator('#name').waitFor({ state: 'visible' });
      await fillAuthForm(page, PENDING);
      await page.getByRole('button', { name: 'Create Account' }).click();

      await page.getByText('Account Activation Pending').waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
      // SHOW_ADMIN_DETAILS defaults to true: the overlay names the admin to contact
      await page.getByText(ADMIN.email).first().waitFor({ state: 'visible' });
      await page.getByRole('button', { name: 'Check Again' }).waitFor({ state: 'visible' });
      assert.equal(await page.locator('#chat-input').count(), 0, 'no chat input for a pending user');
      await shot(page, '05-pending-user');
    });

    // The admin sees the new account as pending
    const users = await api('GET', '/api/v1/users/', { token });
    assert.equal(users.status, 200, `GET /api/v1/users/: ${users.text.slice(0, 300)}`);
    const list = users.json?.users ?? users.json;
    const u = Array.isArray(list) ? list.find((x) => x.email === PENDING.email) : null;
    assert.ok(u, 'new user is listed');
    assert.equal(u.role, 'pending');
    assertNoProblems(mark, 'pending user');
  });

  test('chat: a message gets the streamed reply, and survives a reload', { timeout: TEST_TIMEOUT }, async () => {
    const mark = monitor.mark();
    const ctx = await newContext('chat');
    await withPage(ctx, 'chat', async (page) => {
      await page.goto(server.baseUrl + '/auth');
      await signInViaUi(page, ADMIN);
      await dismissChangelog(page, 2_000);
      await page.getByText(FAKE_MODEL).first().waitFor({ state: 'visible' });

      const input = page.locator('#chat-input');
      await input.click();
      await page.keyboard.type('Hello from the browser');
      await page.locator('#send-message-button').click();

      await page.waitForURL(/\/c\/[0-9a-f-]{36}/, { timeout: LOAD_TIMEOUT });
      await page.getByText(FAKE_REPLY).first().waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
      assert.ok(
        upstream.requests.some((r) => r.path.endsWith('/chat/completions') && r.stream === true),
        'the server streamed from the model connection'
      );
      await shot(page, '06-chat-reply');

      await page.reload();
      await page.getByText('Hello from the browser').first().waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
      await page.getByText(FAKE_REPLY).first().waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
      await shot(page, '07-chat-after-reload');
    });
    assertNoProblems(mark, 'chat');
  });

  test('chat: regenerate, stop mid-stream, move to a folder, find by content', { timeout: TEST_TIMEOUT * 2 }, async () => {
    const mark = monitor.mark();
    const token = await adminToken();
    const ctx = await newContext('chat-actions');
    await withPage(ctx, 'chat-actions', async (page) => {
      await page.goto(server.baseUrl + '/auth');
      await signInViaUi(page, ADMIN);
      await dismissChangelog(page, 2_000);
      await page.getByText(FAKE_MODEL).first().waitFor({ state: 'visible' });

      // --- regenerate: a second answer appears as a sibling of the first
      await page.locator('#chat-input').click();
      await page.keyboard.type('COUNT please, zebra');
      await page.locator('#send-message-button').click();
      await page.waitForURL(/\/c\/[0-9a-f-]{36}/, { timeout: LOAD_TIMEOUT });
      const countChatId = page.url().split('/c/')[1].split('?')[0];
      await page.getByText(/Answer number \d+\./).first().waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
      const first = (await page.getByText(/Answer number \d+\./).first().textContent()).trim();
      await page.getByRole('button', { name: 'Regenerate' }).last().click();
      await page.getByRole('menuitem', { name: 'Try Again' }).or(page.getByText('Try Again')).first().click();
      await page
        .getByText(/Answer number \d+\./)
        .filter({ hasNotText: first })
        .first()
        .waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
      await page.getByText('2/2').first().waitFor({ state: 'visible' });
      await shot(page, '08-regenerated');
      let chat = await api('GET', `/api/v1/chats/${countChatId}`, { token });
      const msgs = chat.json.chat.history.messages;
      const user = Object.values(msgs).find((m) => m.role === 'user');
      assert.equal(user.childrenIds.length, 2, 'two answers to the same question');
      const answers = user.childrenIds.map((id) => msgs[id].content);
      assert.notEqual(answers[0], answers[1], `regenerated answer differs: ${answers}`);
      assert.ok(answers.every((a) => /^Answer number \d+\.$/.test(a)), `stored answers: ${answers}`);
      await page.getByText('Counting Chat').first().waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });

      // --- stop mid-stream: the partial answer stays, also after a reload
      await page.goto(server.baseUrl + '/');
      await page.locator('#chat-input').waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
      await page.locator('#chat-input').click();
      await page.keyboard.type('SLOW please');
      await page.locator('#send-message-button').click();
      await page.waitForURL(/\/c\/[0-9a-f-]{36}/, { timeout: LOAD_TIMEOUT });
      const slowChatId = page.url().split('/c/')[1].split('?')[0];
      await page.getByText(/slowword3\b/).first().waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
      await page.getByRole('button', { name: 'Stop' }).click();
      // the stop button gives way to the send button again
      await page.getByRole('button', { name: 'Stop' }).waitFor({ state: 'hidden', timeout: UI_TIMEOUT });
      await page.waitForTimeout(1_500);
      chat = await api('GET', `/api/v1/chats/${slowChatId}`, { token });
      const answer = Object.values(chat.json.chat.history.messages).find((m) => m.role === 'assistant');
      assert.equal(answer.done, true, 'stopped answer is finished');
      assert.match(answer.content, /slowword3\b/, 'partial text saved');
      assert.ok(!answer.content.includes(SLOW_LAST), 'the stream really stopped');
      const tasks = await api('GET', `/api/tasks/chat/${slowChatId}`, { token });
      assert.deepEqual(tasks.json.task_ids, [], 'no task left running');
      await page.reload();
      await page.getByText(/slowword3\b/).first().waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
      assert.equal(await page.getByText(SLOW_LAST).count(), 0, 'nothing after the stop');
      await shot(page, '09-stopped');

      // --- create a folder and move the counting chat into it
      await openSidebar(page);
      await page.getByRole('button', { name: 'New Folder' }).click();
      await page.getByPlaceholder('Enter folder name').fill('E2E Folder');
      await page.getByRole('button', { name: 'Save' }).click();
      await page.getByText('E2E Folder').first().waitFor({ state: 'visible' });
      const link = page.locator(`a[href="/c/${countChatId}"]`).first();
      await link.hover();
      // the row's menu button: in the nearest ancestor of the link that has one
      await link
        .locator('xpath=ancestor::*[.//button[@aria-label="Chat Menu"]][1]')
        .getByRole('button', { name: 'Chat Menu' })
        .first()
        .click();
      await page.getByRole('menuitem', { name: 'Move' }).hover();
      await page.getByRole('menuitem', { name: 'E2E Folder' }).click();
      let moved = false;
      for (let i = 0; i < 40 && !moved; i++) {
        chat = await api('GET', `/api/v1/chats/${countChatId}`, { token });
        moved = !!chat.json?.folder_id;
        if (!moved) await page.waitForTimeout(250);
      }
      assert.ok(moved, 'the chat has a folder now');
      const folders = await api('GET', '/api/v1/folders/', { token });
      const folder = folders.json.find((f) => f.name === 'E2E Folder');
      assert.equal(chat.json.folder_id, folder.id);
      await shot(page, '10-moved-to-folder');

      // --- the search modal finds the chat by a word only its content has
      await page.getByRole('button', { name: 'Search', exact: true }).filter({ visible: true }).first().click();
      const search = page.getByPlaceholder('Search workspace…');
      await search.fill('zebra');
      const hit = page.getByRole('dialog').getByText('Counting Chat').first();
      await hit.waitFor({ state: 'visible', timeout: UI_TIMEOUT });
      await shot(page, '11-search');
      // Enter opens the highlighted (first) result, as the modal's footer says
      await search.press('Enter');
      await page.waitForURL(new RegExp(`/c/${countChatId}`), { timeout: LOAD_TIMEOUT });
      await page.getByText('COUNT please, zebra').first().waitFor({ state: 'visible' });
    });
    assertNoProblems(mark, 'chat actions');
  });

  // ------------------------------------------------------------------ workspace / admin walk
  const USER = { name: 'E2E User', email: 'user@example.com', password: 'Passw0rd!u' };

  async function ensureUser(token) {
    const r = await api('POST', '/api/v1/auths/add', {
      token,
      body: { name: USER.name, email: USER.email, password: USER.password, role: 'user' }
    });
    assert.ok(r.status === 200 || r.status === 400, `add user: ${r.status} ${r.text.slice(0, 200)}`);
  }

  async function settle(page) {
    await page.waitForLoadState('networkidle', { timeout: LOAD_TIMEOUT }).catch(() => {});
    await page.waitForTimeout(300);
  }

  const WORKSPACE_PAGES = [
    '/workspace/models',
    '/workspace/models/create',
    '/workspace/knowledge',
    '/workspace/knowledge/create',
    '/workspace/prompts',
    '/workspace/prompts/create',
    '/workspace/tools',
    '/workspace/tools/create',
    '/workspace/skills',
    '/workspace/skills/create',
    '/notes',
    '/playground',
    '/calendar',
    '/automations'
  ];
  const ADMIN_PAGES = ['/admin/users', '/admin/users/groups', '/admin/evaluations', '/admin/functions', '/admin/analytics'];
  // every admin settings tab; 'pipelines' needs a pipelines server (integrations issue)
  const ADMIN_TABS = [
    'general', 'authentication', 'interface', 'connections', 'models', 'subagents', 'integrations',
    'documents', 'audio', 'images', 'web', 'code-execution', 'analytics', 'evaluations', 'db'
  ];
  const USER_TABS = ['general', 'interface', 'personalization', 'account', 'chats', 'about'];

  test('every workspace and admin page loads as admin and as user', { timeout: TEST_TIMEOUT * 3 }, async () => {
    const mark = monitor.mark();
    const token = await adminToken();
    await ensureUser(token);
    const ctx = await newContext('walk-admin');
    await withPage(ctx, 'walk-admin', async (page) => {
      await page.goto(server.baseUrl + '/auth');
      await signInViaUi(page, ADMIN);
      await dismissChangelog(page, 2_000);
      for (const p of [...WORKSPACE_PAGES, ...ADMIN_PAGES]) {
        log(`  admin: ${p}`);
        await page.goto(server.baseUrl + p);
        await settle(page);
        assert.ok(!page.url().includes('/auth'), `${p}: sent back to sign-in`);
      }
      for (const tab of ADMIN_TABS) {
        log(`  admin settings: ${tab}`);
        await page.goto(`${server.baseUrl}/?settings=admin:${tab}`);
        await settle(page);
      }
      for (const tab of USER_TABS) {
        await page.goto(`${server.baseUrl}/?settings=${tab}`);
        await settle(page);
      }
      await shot(page, '12-walk-admin-last');
    });
    const uctx = await newContext('walk-user');
    await withPage(uctx, 'walk-user', async (page) => {
      await page.goto(server.baseUrl + '/auth');
      await signInViaUi(page, USER);
      for (const p of WORKSPACE_PAGES) {
        log(`  user: ${p}`);
        await page.goto(server.baseUrl + p);
        await settle(page);
      }
      for (const tab of USER_TABS) {
        await page.goto(`${server.baseUrl}/?settings=${tab}`);
        await settle(page);
      }
      // admin pages are not for users: the app sends them elsewhere, the server refuses the data
      await page.goto(server.baseUrl + '/admin/users');
      await settle(page);
      assert.ok(!page.url().includes('/admin'), `user stays out of /admin (at ${page.url()})`);
    });
    assertNoProblems(mark, 'page walk');
  });

  test('a prompt is used through "/" in the chat input', { timeout: TEST_TIMEOUT }, async () => {
    const mark = monitor.mark();
    const token = await adminToken();
    const created = await api('POST', '/api/v1/prompts/create', {
      token,
      body: { command: 'e2e-greet', name: 'E2E greeting', content: 'Please greet the e2e team warmly.', access_grants: [] }
    });
    assert.ok(created.status === 200 || created.status === 400, `create prompt: ${created.status} ${created.text.slice(0, 200)}`);
    const ctx = await newContext('prompt');
    await withPage(ctx, 'prompt', async (page) => {
      await page.goto(server.baseUrl + '/auth');
      await signInViaUi(page, ADMIN);
      await dismissChangelog(page, 2_000);
      await page.locator('#chat-input').click();
      await page.keyboard.type('/e2e-gr');
      await page.getByText('E2E greeting').first().waitFor({ state: 'visible' });
      await page.keyboard.press('Enter');
      await page.locator('#chat-input').getByText('Please greet the e2e team warmly.').waitFor({ state: 'visible' });
      await shot(page, '13-prompt-inserted');
    });
    assertNoProblems(mark, 'prompt via /');
  });

  test('a channel message appears live in a second browser', { timeout: TEST_TIMEOUT }, async () => {
    const mark = monitor.mark();
    const token = await adminToken();
    await ensureUser(token);
    const cfg = await api('GET', '/api/v1/auths/admin/config', { token });
    assert.equal(cfg.status, 200);
    const saved = await api('POST', '/api/v1/auths/admin/config', { token, body: { ...cfg.json, ENABLE_CHANNELS: true } });
    assert.equal(saved.status, 200, `enable channels: ${saved.text.slice(0, 200)}`);
    const users = await api('GET', '/api/v1/users/', { token });
    const list = users.json?.users ?? users.json;
    const user = list.find((u) => u.email === USER.email);
    const ch = await api('POST', '/api/v1/channels/create', {
      token,
      body: { name: 'e2e-live', type: 'group', is_private: false, user_ids: [user.id], access_grants: [{ principal_type: 'user', principal_id: '*', permission: 'read' }, { principal_type: 'user', principal_id: '*', permission: 'write' }] }
    });
    assert.equal(ch.status, 200, `create channel: ${ch.text.slice(0, 300)}`);
    const channelId = ch.json.id;
    const actx = await newContext('channel-admin');
    const uctx = await newContext('channel-user');
    const apage = await actx.newPage();
    const upage = await uctx.newPage();
    try {
      await apage.goto(server.baseUrl + '/auth');
      await signInViaUi(apage, ADMIN);
      await dismissChangelog(apage, 2_000);
      await upage.goto(server.baseUrl + '/auth');
      await signInViaUi(upage, USER);
      await apage.goto(`${server.baseUrl}/channels/${channelId}`);
      await upage.goto(`${server.baseUrl}/channels/${channelId}`);
      await settle(apage);
      await settle(upage);
      await apage.locator('#chat-input').click();
      await apage.keyboard.type('Live hello from the admin');
      await apage.keyboard.press('Enter');
      await upage.getByText('Live hello from the admin').first().waitFor({ state: 'visible', timeout: UI_TIMEOUT });
      await shot(upage, '14-channel-live');
    } catch (e) {
      await shot(apage, 'FAILED-channel-admin');
      await shot(upage, 'FAILED-channel-user');
      throw e;
    } finally {
      await apage.close().catch(() => {});
      await upage.close().catch(() => {});
    }
    assertNoProblems(mark, 'channel live');
  });

  test('a note edited in two browsers converges', { timeout: TEST_TIMEOUT }, async () => {
    const mark = monitor.mark();
    const token = await adminToken();
    const note = await api('POST', '/api/v1/notes/create', {
      token,
      body: { title: 'E2E shared note', data: { content: { json: null, html: '', md: '' } }, meta: null, access_grants: [] }
    });
    assert.equal(note.status, 200, `create note: ${note.text.slice(0, 300)}`);
    const noteId = note.json.id;
    const c1 = await newContext('note-1');
    const c2 = await newContext('note-2');
    const p1 = await c1.newPage();
    const p2 = await c2.newPage();
    try {
      for (const p of [p1, p2]) {
        await p.goto(server.baseUrl + '/auth');
        await signInViaUi(p, ADMIN);
        await dismissChangelog(p, 2_000);
        await p.goto(`${server.baseUrl}/notes/${noteId}`);
        await settle(p);
      }
      const editor1 = p1.locator('.ProseMirror').first();
      await editor1.click();
      await p1.keyboard.type('Typed in the first browser.');
      await p2.getByText('Typed in the first browser.').first().waitFor({ state: 'visible', timeout: UI_TIMEOUT });
      const editor2 = p2.locator('.ProseMirror').first();
      await editor2.click();
      await p2.keyboard.press('End');
      await p2.keyboard.type(' And in the second.');
      await p1.getByText('And in the second.').first().waitFor({ state: 'visible', timeout: UI_TIMEOUT });
      await shot(p1, '15-note-converged');
      // saved on the server too
      let md = '';
      for (let i = 0; i < 40 && !md.includes('And in the second.'); i++) {
        const n = await api('GET', `/api/v1/notes/${noteId}`, { token });
        md = n.json?.data?.content?.md ?? '';
        if (!md.includes('And in the second.')) await p1.waitForTimeout(250);
      }
      assert.match(md, /Typed in the first browser\..*And in the second\./s, `stored note: ${md}`);
    } catch (e) {
      await shot(p1, 'FAILED-note-1');
      await shot(p2, 'FAILED-note-2');
      throw e;
    } finally {
      await p1.close().catch(() => {});
      await p2.close().catch(() => {});
    }
    assertNoProblems(mark, 'note sync');
  });

  test('a document attached in the chat grounds the answer and shows a citation', { timeout: TEST_TIMEOUT }, async () => {
    const mark = monitor.mark();
    const doc = path.join(ARTIFACTS, 'e2e-lighthouse.md');
    fs.writeFileSync(
      doc,
      '# The lighthouse of Pemberly\n\nThe Pemberly lighthouse keeper feeds exactly seventeen cats every morning.\n\n' +
        'Other facts: the tower is white, the lamp is electric since 1931.\n'
    );
    const ctx = await newContext('rag');
    await withPage(ctx, 'rag', async (page) => {
      await page.goto(server.baseUrl + '/auth');
      await signInViaUi(page, ADMIN);
      await dismissChangelog(page, 2_000);
      await page.getByText(FAKE_MODEL).first().waitFor({ state: 'visible' });
      await page.locator('input[type="file"]').first().setInputFiles(doc);
      await page.getByText('e2e-lighthouse.md').first().waitFor({ state: 'visible' });
      // wait until the upload is processed (the send button is enabled again)
      await page.waitForTimeout(500);
      await page.locator('#chat-input').click();
      await page.keyboard.type('How many cats does the keeper feed?');
      const before = upstream.requests.length;
      await page.locator('#send-message-button').click();
      await page.waitForURL(/\/c\/[0-9a-f-]{36}/, { timeout: LOAD_TIMEOUT });
      await page.getByText(FAKE_REPLY).first().waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
      const sent = upstream.requests.slice(before).filter((r) => r.stream === true);
      assert.ok(sent.some((r) => r.promptText.includes('seventeen cats')), 'the passage reached the model');
      await page.getByText(/1 Source|Sources|e2e-lighthouse\.md/).first().waitFor({ state: 'visible' });
      await shot(page, '16-rag-citation');
    });
    assertNoProblems(mark, 'rag in chat');
  });

  test('a tool server is called from the chat, and the call is still shown after a reload', { timeout: TEST_TIMEOUT }, async () => {
    const mark = monitor.mark();
    const token = await adminToken();
    const conn = {
      url: upstream.toolServerUrl, path: 'openapi.json', type: 'openapi', auth_type: 'none', key: '',
      config: { enable: true }, info: { id: 'wx', name: 'E2E Weather' }
    };
    let r = await api('POST', '/api/v1/configs/tool_servers', { token, body: { TOOL_SERVER_CONNECTIONS: [conn] } });
    assert.equal(r.status, 200, r.text);
    // The model preselects the server's tools in the chat (meta.toolIds).
    r = await api('POST', '/api/v1/models/create', {
      token,
      body: { id: FAKE_MODEL, base_model_id: null, name: FAKE_MODEL, meta: { toolIds: ['server:wx'] }, params: {}, access_grants: [] }
    });
    assert.equal(r.status, 200, r.text);
    const ctx = await newContext('tools');
    await withPage(ctx, 'tools', async (page) => {
      await page.goto(server.baseUrl + '/auth');
      await signInViaUi(page, ADMIN);
      await dismissChangelog(page, 2_000);
      await page.getByText(FAKE_MODEL).first().waitFor({ state: 'visible' });
      await page.locator('#chat-input').click();
      await page.keyboard.type('WEATHER in Oslo?');
      await page.locator('#send-message-button').click();
      await page.waitForURL(/\/c\/[0-9a-f-]{36}/, { timeout: LOAD_TIMEOUT });
      await page.getByText(TOOL_REPLY).first().waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
      assert.ok(
        upstream.requests.some((q) => q.method === 'GET' && q.path === '/weather/Oslo'),
        'the server called the tool'
      );
      await page.getByText(/lookup_weather/).filter({ visible: true }).first().waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
      await shot(page, '17-tool-call');
      await page.reload();
      await page.getByText(TOOL_REPLY).first().waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
      await page.getByText(/lookup_weather/).filter({ visible: true }).first().waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
      await shot(page, '18-tool-call-after-reload');
    });
    assertNoProblems(mark, 'tool server in chat');
  });

  test('in the ask approval mode a tool call waits for Allow, then runs', { timeout: TEST_TIMEOUT }, async () => {
    const mark = monitor.mark();
    const token = await adminToken();
    let r = await api('GET', '/api/v1/chats/config', { token });
    assert.equal(r.status, 200, r.text);
    r = await api('POST', '/api/v1/chats/config', { token, body: { ...r.json, ENABLE_TOOL_PERMISSIONS: true } });
    assert.equal(r.status, 200, r.text);
    // The user's default for new chats, as the chat controls save it.
    r = await api('POST', '/api/v1/users/user/settings/update', {
      token,
      body: { ui: { params: { tool_approval_mode: 'ask' } } }
    });
    assert.equal(r.status, 200, r.text);
    const ctx = await newContext('approval');
    try {
      await withPage(ctx, 'approval', async (page) => {
        await page.goto(server.baseUrl + '/auth');
        await signInViaUi(page, ADMIN);
        await dismissChangelog(page, 2_000);
        await page.getByText(FAKE_MODEL).first().waitFor({ state: 'visible' });
        const calls = () =>
          upstream.requests.filter((q) => q.method === 'GET' && q.path === '/weather/Oslo').length;
        const before = calls();
        await page.locator('#chat-input').click();
        await page.keyboard.type('WEATHER in Oslo today?');
        await page.locator('#send-message-button').click();
        await page.waitForURL(/\/c\/[0-9a-f-]{36}/, { timeout: LOAD_TIMEOUT });
        const allow = page.locator('.tool-call-allow-button').filter({ visible: true }).first();
        await allow.waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
        await page.getByText(/Allow lookup_weather\?/).first().waitFor({ state: 'visible' });
        assert.equal(calls(), before, 'nothing ran before the user allowed it');
        await shot(page, '19-tool-call-waits-for-approval');
        await allow.click();
        await page.getByText(TOOL_REPLY).first().waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
        assert.equal(calls(), before + 1, 'the allowed call ran once');
        await page.reload();
        await page.getByText(TOOL_REPLY).first().waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
        await shot(page, '20-approved-call-after-reload');
      });
    } finally {
      await api('POST', '/api/v1/users/user/settings/update', { token, body: { ui: { params: {} } } });
    }
    assertNoProblems(mark, 'tool approval in chat');
  });
});

// OpenID Connect sign-in through the login page (its own server and provider).
import './oidc.mjs';
