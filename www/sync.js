// Demo of sync: offline event queue, model updates and experiments against `edgerec serve`.
// Query parameters: endpoint (default this origin), key (Ed25519 public key of the models),
// token, poll / flush (intervals in ms), backend, sw=0 (no service worker).
import { Recommender, isEdgerecError } from '../pkg/dist/index.js';

const params = new URLSearchParams(location.search);
const endpoint = params.get('endpoint') ?? location.origin;
const log = [];
const $ = (id) => document.getElementById(id);

function note(text) {
  log.push({ at: Date.now(), text });
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  $('log').prepend(li);
}

async function registerServiceWorker() {
  if (params.get('sw') === '0' || !('serviceWorker' in navigator)) return;
  await navigator.serviceWorker.register('./sw.js', { type: 'module' });
  await navigator.serviceWorker.ready;
  // The worker claims open pages when it activates; wait for that so the model's requests go
  // through it (and get cached) on the very first visit.
  if (!navigator.serviceWorker.controller) {
    await new Promise((resolve) => {
      navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true });
      setTimeout(resolve, 3000);
    });
  }
}

let rec;
let last = { items: [], trace: { requestId: '' } };

function renderStatus() {
  const s = rec.syncStatus;
  const exp = Object.entries(s.assignments).map(([l, v]) => `${l}: ${v}`).join(', ') || (s.holdout ? 'holdout' : 'none');
  $('status').textContent = `model ${rec.modelVersion} · ${navigator.onLine ? 'online' : 'offline'} · ` +
    `${s.pending} events queued, ${s.dropped} dropped, ${s.rejected} rejected · user ${s.user.slice(0, 8)}… · experiments: ${exp}`;
}

async function show() {
  last = await rec.recommend({ k: 10 });
  const ol = $('items');
  ol.replaceChildren();
  last.items.forEach((item, position) => {
    const li = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = item.title || item.id;
    button.addEventListener('click', () => click(item.id, position));
    li.append(button, ` ${item.categories.join(', ')}`);
    ol.append(li);
  });
  await rec.impression(last.items.map((i) => i.id), last.trace.requestId);
  renderStatus();
  return last;
}

async function click(id, position) {
  await rec.record(id, { requestId: last.trace.requestId, position });
  note(`clicked ${id}`);
  return show();
}

async function main() {
  try {
    await registerServiceWorker();
    rec = await Recommender.load(`${endpoint}/v1/models/latest`, {
      backend: params.get('backend') ?? 'cpu',
      publicKey: params.get('key') ?? undefined,
      sync: {
        endpoint,
        token: params.get('token') ?? undefined,
        pollIntervalMs: Number(params.get('poll') ?? 30_000),
        flushIntervalMs: Number(params.get('flush') ?? 5_000),
        backoffBaseMs: Number(params.get('backoff') ?? 1_000),
      },
    });
    rec.on('modelupdate', ({ from, to }) => {
      note(`model ${from} → ${to}`);
      void show();
    });
    rec.on('error', (e) => note(`error ${isEdgerecError(e) ? e.code : e.name}: ${e.message}`));
    rec.on('flush', (r) => {
      note(`uploaded ${r.sent} events (${r.accepted} new, ${r.duplicates} already there)`);
      renderStatus();
    });
    rec.on('experiments', (a) => note(`experiments ${JSON.stringify(a.assignments)}`));
    addEventListener('online', renderStatus);
    addEventListener('offline', renderStatus);
    $('flush').addEventListener('click', () => rec.flush().then(renderStatus, (e) => note(`flush failed: ${e.message}`)));
    $('update').addEventListener('click', () => rec.checkForUpdate().catch((e) => note(`update failed: ${e.message}`)));
    await show();
    window.edgerecSync = { rec, log, show, click, last: () => last };
    document.body.dataset.status = 'done';
  } catch (e) {
    window.edgerecSync = { error: { code: e.code, message: e.message } };
    $('status').textContent = `Could not start: ${e.message}`;
    document.body.dataset.status = 'error';
  }
}

main();
