// Start / stop the open-webui binary for tests and benchmarks.
// Everything listens on 127.0.0.1 only; every wait is bounded.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export function defaultBinary() {
  return process.env.OWUI_BIN ? path.resolve(process.env.OWUI_BIN) : path.join(REPO_ROOT, 'open-webui');
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Launch `open-webui serve` on a free loopback port with a fresh data dir.
 * Resolves once GET /health answers 200 (at most `healthTimeoutMs`).
 */
export async function startServer({
  binary = defaultBinary(),
  env = {},
  dataDir = null,
  logFile = null,
  healthTimeoutMs = 30_000
} = {}) {
  if (!fs.existsSync(binary)) {
    throw new Error(`server binary not found: ${binary} (run ./install.sh first, or set OWUI_BIN)`);
  }
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'owui-e2e-'));
  dataDir = dataDir || path.join(workDir, 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;

  const logStream = logFile ? fs.createWriteStream(logFile, { flags: 'a' }) : null;
  const tail = [];
  const keepTail = (buf) => {
    for (const line of buf.toString('utf8').split('\n')) {
      if (!line) continue;
      tail.push(line);
      if (tail.length > 200) tail.shift();
    }
  };

  const child = spawn(
    binary,
    ['serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir],
    {
      // cwd outside the repository: nothing the server writes lands in the checkout
      cwd: workDir,
      env: { ...process.env, WEBUI_SECRET_KEY: 'e2e-secret', ...env },
      stdio: ['ignore', 'pipe', 'pipe']
    }
  );
  logStream?.write(`\n==== ${new Date().toISOString()} start ${binary} port=${port} data=${dataDir}\n`);
  for (const s of [child.stdout, child.stderr]) {
    s.on('data', (b) => {
      keepTail(b);
      logStream?.write(b);
    });
  }
  let exited = null;
  const exitPromise = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    })
  );
  // Never leave the server behind if this process dies.
  const killOnExit = () => {
    try {
      child.kill('SIGKILL');
    } catch {}
  };
  process.once('exit', killOnExit);

  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (exited === null) {
      child.kill('SIGTERM');
      const res = await Promise.race([exitPromise, sleep(5000).then(() => null)]);
      if (res === null) {
        child.kill('SIGKILL');
        await Promise.race([exitPromise, sleep(5000)]);
      }
    }
    logStream?.write(`==== stopped: ${JSON.stringify(exited)}\n`);
    await new Promise((r) => (logStream ? logStream.end(r) : r()));
    if (!process.env.OWUI_E2E_KEEP) {
      // removes the fresh data dir too; a caller-supplied data dir is left alone
      fs.rmSync(workDir, { recursive: true, force: true });
    }
  };

  const t0 = process.hrtime.bigint();
  const deadline = Date.now() + healthTimeoutMs;
  let lastErr = null;
  while (Date.now() < deadline) {
    if (exited !== null) break;
    try {
      const r = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(2000) });
      if (r.status === 200) {
        const startupMs = Number(process.hrtime.bigint() - t0) / 1e6;
        return { child, port, baseUrl, dataDir, workDir, startupMs, stop, tail, pid: child.pid };
      }
      lastErr = new Error(`/health answered ${r.status}`);
    } catch (e) {
      lastErr = e;
    }
    await sleep(50);
  }
  await stop();
  const why = exited !== null ? `server exited early (${JSON.stringify(exited)})` : `no /health 200 within ${healthTimeoutMs} ms (${lastErr})`;
  throw new Error(`${why}\n--- last server output ---\n${tail.slice(-40).join('\n')}`);
}
