// Starts `edgerec serve` (the binary cargo built: target/debug/edgerec) for the sync tests and
// resolves to { url, child, stop, kill } once it prints its address. A missing binary fails the
// test with the command that builds it.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const EDGEREC = process.env.EDGEREC_BIN ?? `${ROOT}target/debug/edgerec`;

export function startServe(args) {
  if (!existsSync(EDGEREC)) {
    throw new Error(`${EDGEREC} is missing: build it with \`cargo build -p edgerec-server\``);
  }
  const child = spawn(EDGEREC, ['serve', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, EDGEREC_LOG: process.env.EDGEREC_LOG ?? 'warn' },
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) {
        resolve({
          url: m[1].replace(/\/$/, ''),
          child,
          stop: () => child.kill('SIGTERM'),
          kill: () => new Promise((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGKILL');
          }),
        });
      }
    });
    child.on('exit', (code, signal) => reject(new Error(`edgerec serve exited (${code ?? signal}): ${stderr}`)));
  });
}

/** Events the server holds (GET /healthz). */
export async function serverEventCount(url) {
  const response = await fetch(`${url}/healthz`);
  return (await response.json()).events;
}
