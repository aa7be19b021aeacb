// Bytes over the wire for a cold (empty-cache) load of the app in headless Chromium.
// Two scenarios against a fresh server:
//   1. anonymous first visit of /  (fresh install: the onboarding page)
//   2. signed-in load of /        (admin token in localStorage: the chat screen)
// Counted with the DevTools protocol: encodedDataLength of every finished
// request (headers + compressed body as transferred). WebSocket frames are not counted.
import { launchBrowser } from '../e2e/lib/browser.mjs';
import { startServer } from '../e2e/lib/server.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function measure(browser, baseUrl, { token = null, readySelector, label }) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  ctx.setDefaultTimeout(30_000);
  if (token) await ctx.addInitScript((t) => localStorage.setItem('token', t), token);
  const page = await ctx.newPage();
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  const reqs = new Map();
  let bytes = 0;
  let count = 0;
  const byType = {};
  cdp.on('Network.responseReceived', (e) => {
    reqs.set(e.requestId, { type: e.type, url: e.response.url, status: e.response.status });
  });
  cdp.on('Network.loadingFinished', (e) => {
    const r = reqs.get(e.requestId) || { type: 'Other' };
    bytes += e.encodedDataLength;
    count += 1;
    const t = (byType[r.type] ||= { count: 0, bytes: 0 });
    t.count += 1;
    t.bytes += e.encodedDataLength;
  });
  const t0 = Date.now();
  await page.goto(baseUrl + '/', { waitUntil: 'load' });
  await page.locator(readySelector).first().waitFor({ state: 'visible', timeout: 30_000 });
  const readyMs = Date.now() - t0;
  // let late requests (lazy chunks, images) finish: network quiet for 1 s, at most 15 s
  try {
    await page.waitForLoadState('networkidle', { timeout: 15_000 });
  } catch {}
  await sleep(1000);
  await ctx.close();
  return { label, readyMs, count, bytes, byType };
}

function fmt(r) {
  const mb = (b) => (b / 1048576).toFixed(2) + ' MiB';
  const lines = [`${r.label}: ${r.count} responses, ${mb(r.bytes)} (${r.bytes} bytes) transferred; ready after ${r.readyMs} ms`];
  for (const [t, v] of Object.entries(r.byType).sort((a, b) => b[1].bytes - a[1].bytes)) {
    lines.push(`    ${t.padEnd(12)} ${String(v.count).padStart(4)}  ${mb(v.bytes).padStart(10)}`);
  }
  return lines.join('\n');
}

const server = await startServer({ env: { RUST_LOG: 'warn' } });
let browser;
try {
  browser = await launchBrowser();
  console.log(`chromium ${browser.version()}, server ${server.baseUrl}`);
  const anon = await measure(browser, server.baseUrl, {
    label: 'cold load of / (anonymous, onboarding page)',
    readySelector: 'button:has-text("Get started")'
  });
  console.log(fmt(anon));

  const r = await fetch(server.baseUrl + '/api/v1/auths/signup', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Bench Admin', email: 'bench@example.com', password: 'Passw0rd!x', profile_image_url: '' }),
    signal: AbortSignal.timeout(15_000)
  });
  if (r.status !== 200) throw new Error(`signup failed: ${r.status} ${await r.text()}`);
  const { token } = await r.json();
  const authed = await measure(browser, server.baseUrl, {
    token,
    label: 'cold load of / (signed in, chat screen)',
    readySelector: '#chat-input'
  });
  console.log(fmt(authed));
  const status = await import('node:fs').then((fs) => fs.readFileSync(`/proc/${server.pid}/status`, 'utf8'));
  const kb = (k) => Number((status.match(new RegExp(`^${k}:\\s+(\\d+)`, 'm')) || [])[1] || 0);
  console.log(`server RSS after both loads: ${(kb('VmRSS') / 1024).toFixed(1)} MiB (peak ${(kb('VmHWM') / 1024).toFixed(1)} MiB)`);
} finally {
  await browser?.close().catch(() => {});
  await server.stop();
}
