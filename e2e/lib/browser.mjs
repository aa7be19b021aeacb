// Headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core.
// Never downloads a browser. Flags keep Chromium quiet on a closed network.
import fs from 'node:fs';
import { chromium } from 'playwright-core';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage'
];

export function chromiumPath() {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(Boolean);
  for (const c of candidates) if (fs.existsSync(c)) return c;
  throw new Error('chromium not found (install the Debian package "chromium" or set CHROMIUM_PATH)');
}

/** Playwright's launch() always starts Chromium with a fresh temporary user-data dir. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60_000
  });
}

/**
 * Record every response / console message / page error of a browser context
 * that concerns `baseUrl`, and judge them against the allow-lists.
 */
export class Monitor {
  constructor(baseUrl, { allowedHttp = [], allowedConsole = [] } = {}) {
    this.baseUrl = baseUrl;
    this.allowedHttp = allowedHttp;
    this.allowedConsole = allowedConsole;
    this.responses = [];
    this.consoleErrors = [];
    this.pageErrors = [];
    this.failedRequests = [];
    this.sockets = [];
    this.problems = [];
    this.label = '';
  }

  /** Context label shown in logs (e.g. "admin", "pending-user"). */
  attach(context, label) {
    context.on('response', (res) => this.#onResponse(res, label));
    context.on('requestfailed', (req) => {
      const f = req.failure()?.errorText ?? '';
      this.failedRequests.push({ label, method: req.method(), url: req.url(), error: f });
    });
    context.on('page', (page) => this.#attachPage(page, label));
    for (const p of context.pages()) this.#attachPage(p, label);
  }

  #attachPage(page, label) {
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const loc = msg.location();
      const entry = { label, text: msg.text(), url: loc?.url ?? '', page: page.url() };
      this.consoleErrors.push(entry);
      console.log(`  [console.error ${label}] ${entry.text.slice(0, 400)}`);
      if (!this.allowedConsole.some((a) => a.test(entry))) {
        this.problems.push(`console error (${label}) on ${pathOf(entry.page)}: ${entry.text.slice(0, 300)}`);
      }
    });
    page.on('pageerror', (err) => {
      const entry = { label, text: String(err?.stack || err), page: page.url() };
      this.pageErrors.push(entry);
      console.log(`  [pageerror ${label}] ${entry.text.slice(0, 400)}`);
      if (!this.allowedConsole.some((a) => a.test(entry))) {
        this.problems.push(`uncaught page error (${label}) on ${pathOf(entry.page)}: ${entry.text.slice(0, 300)}`);
      }
    });
    page.on('websocket', (ws) => {
      const rec = { label, url: ws.url(), received: [], sent: [], closed: false };
      this.sockets.push(rec);
      ws.on('framereceived', (f) => rec.received.length < 500 && rec.received.push(String(f.payload).slice(0, 300)));
      ws.on('framesent', (f) => rec.sent.length < 500 && rec.sent.push(String(f.payload).slice(0, 300)));
      ws.on('close', () => (rec.closed = true));
      ws.on('socketerror', (e) => {
        rec.error = String(e);
      });
    });
  }

  #onResponse(res, label) {
    const url = res.url();
    if (!url.startsWith(this.baseUrl)) return;
    const req = res.request();
    const entry = {
      label,
      method: req.method(),
      path: url.slice(this.baseUrl.length) || '/',
      status: res.status(),
      type: req.resourceType()
    };
    this.responses.push(entry);
    if (entry.status >= 500) {
      this.problems.push(`HTTP ${entry.status} (${label}): ${entry.method} ${entry.path}`);
      this.#attachBody(res, entry);
    } else if (entry.status >= 400) {
      const allowed = this.allowedHttp.find((a) => a.test(entry));
      if (allowed) {
        entry.allowed = allowed.why;
      } else {
        this.problems.push(`HTTP ${entry.status} (${label}): ${entry.method} ${entry.path}`);
        this.#attachBody(res, entry);
      }
    }
  }

  #attachBody(res, entry) {
    res
      .text()
      .then((t) => {
        entry.body = t.replace(/\s+/g, ' ').slice(0, 300);
        console.log(`  [http ${entry.status} ${entry.label}] ${entry.method} ${entry.path} -> ${entry.body}`);
      })
      .catch(() => {});
  }

  /** Problems recorded since `mark` (an index returned by mark()). */
  mark() {
    return this.problems.length;
  }
  problemsSince(mark) {
    return this.problems.slice(mark);
  }

  apiCalls(label) {
    return this.responses.filter(
      (r) => (!label || r.label === label) && /^\/(api|ollama|openai)\b/.test(r.path)
    );
  }

  toJSON() {
    return {
      responses: this.responses,
      consoleErrors: this.consoleErrors,
      pageErrors: this.pageErrors,
      failedRequests: this.failedRequests,
      sockets: this.sockets,
      problems: this.problems
    };
  }
}

export function pathOf(url) {
  try {
    const u = new URL(url);
    return u.pathname + u.search;
  } catch {
    return url;
  }
}
