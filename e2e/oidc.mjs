// Browser end-to-end test of OpenID Connect sign-in: the official login page
// against a server configured for a real provider (npm's `oidc-provider`, run
// from ./oidc-provider.mjs on loopback). Imported by run.mjs; runs alone too:
//   OWUI_BIN=path/to/open-webui node --test e2e/oidc.mjs
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { Monitor, launchBrowser, pathOf } from './lib/browser.mjs';
import { defaultBinary, freePort, startServer } from './lib/server.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = process.env.OWUI_E2E_ARTIFACTS || path.join(HERE, 'artifacts');
const CLIENT_ID = 'owui-e2e';
const CLIENT_SECRET = 'owui-e2e-secret-0123456789abcdef';
const LOAD_TIMEOUT = 30_000;

async function startProvider({ port, redirectUri, accountsFile }) {
  const child = spawn(process.execPath, [path.join(HERE, 'oidc-provider.mjs')], {
    cwd: HERE,
    env: {
      ...process.env,
      OIDC_PORT: String(port),
      OIDC_CLIENT_ID: CLIENT_ID,
      OIDC_CLIENT_SECRET: CLIENT_SECRET,
      OIDC_REDIRECT_URI: redirectUri,
      OIDC_ACCOUNTS: accountsFile,
    },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const lines = readline.createInterface({ input: child.stdout });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the provider did not start')), 20_000);
    lines.once('line', (line) => {
      clearTimeout(timer);
      line.startsWith('ready') ? resolve() : reject(new Error(`provider said ${line}`));
    });
    child.once('exit', (code) => reject(new Error(`the provider exited (${code})`)));
  });
  return { stop: () => child.kill('SIGTERM') };
}

describe('sign-in through an OpenID Connect provider', { concurrency: 1 }, () => {
  let server;
  let provider;
  let browser;
  let monitor;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'owui-e2e-oidc-'));
  const accountsFile = path.join(work, 'accounts.json');

  before(async () => {
    const idpPort = await freePort();
    fs.writeFileSync(
      accountsFile,
      JSON.stringify({
        'grace@example.com': {
          password: 'pw-grace-1',
          sub: 'grace-1',
          claims: { email: 'grace@example.com', email_verified: true, name: 'Grace Hopper', groups: [] },
        },
      }),
    );
    server = await startServer({
      binary: defaultBinary(),
      logFile: path.join(ARTIFACTS, 'server-oidc.log'),
      env: {
        ENABLE_OLLAMA_API: 'false',
        OPENAI_API_BASE_URLS: '',
        OFFLINE_MODE: 'true',
        OAUTH_CLIENT_ID: CLIENT_ID,
        OAUTH_CLIENT_SECRET: CLIENT_SECRET,
        OPENID_PROVIDER_URL: `http://127.0.0.1:${idpPort}/.well-known/openid-configuration`,
        OAUTH_PROVIDER_NAME: 'Corp SSO',
        ENABLE_OAUTH_SIGNUP: 'true',
        DEFAULT_USER_ROLE: 'user',
      },
    });
    provider = await startProvider({
      port: idpPort,
      redirectUri: `${server.baseUrl}/oauth/oidc/login/callback`,
      accountsFile,
    });
    // an admin exists already: the SSO account is an ordinary user
    const signup = await fetch(`${server.baseUrl}/api/v1/auths/signup`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'Admin', email: 'admin@example.com', password: 'Passw0rd!x' }),
    });
    assert.equal(signup.status, 200);
    monitor = new Monitor(server.baseUrl);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close().catch(() => {});
    provider?.stop();
    await server?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('the login page offers the provider, and its sign-in lands on the chat', { timeout: 180_000 }, async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 }, locale: 'en-US' });
    monitor.attach(ctx, 'sso');
    const page = await ctx.newPage();
    try {
      await page.goto(`${server.baseUrl}/auth`);
      const button = page.getByRole('button', { name: /Corp SSO/ });
      await button.waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
      await button.click();

      // the provider's own login and consent pages
      await page.locator('input[name="login"]').waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
      await page.locator('input[name="login"]').fill('grace@example.com');
      await page.locator('input[name="password"]').fill('pw-grace-1');
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByRole('heading', { name: /Allow/ }).waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
      await page.getByRole('button', { name: 'Continue' }).click();

      // back at Open WebUI, signed in, on the chat screen
      await page.locator('#chat-input').waitFor({ state: 'visible', timeout: LOAD_TIMEOUT });
      assert.equal(pathOf(page.url()), '/');
      const token = await page.evaluate(() => localStorage.token);
      assert.ok(token && token.split('.').length === 3, 'the session token is kept');
      const me = await fetch(`${server.baseUrl}/api/v1/auths/`, { headers: { Authorization: `Bearer ${token}` } });
      const body = await me.json();
      assert.equal(body.email, 'grace@example.com');
      assert.equal(body.name, 'Grace Hopper');
      const bad = monitor.responses.filter((r) => r.status >= 500);
      assert.deepEqual(bad, [], 'no server errors on the way');
    } catch (e) {
      await page.screenshot({ path: path.join(ARTIFACTS, 'FAILED-oidc.png') }).catch(() => {});
      throw e;
    } finally {
      await ctx.close().catch(() => {});
    }
  });
});
