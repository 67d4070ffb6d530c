// Starts scripts/serve.mjs on a free port for tests and benchmark runners; resolves to
// { url, stop } once it prints its URL.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const serve = fileURLToPath(new URL('./serve.mjs', import.meta.url));

export function startDemoServer() {
  const server = spawn(process.execPath, [serve, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (chunk) => {
      out += chunk;
      const m = out.match(/edgerec demo: (\S+)/);
      if (m) resolve({ url: m[1], stop: () => server.kill() });
    });
    server.on('exit', (code) => reject(new Error(`demo server exited with ${code}`)));
  });
}

/** Chromium flags every headless run here needs (the machine's network is closed). */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
  '--disable-dev-shm-usage',
];
