// Re-ranking lab: one `Recommender.recommend` call per change, shown stage by stage — the recall
// candidates, the ranked pool and the re-ranked list — with the diversity metrics, a similarity
// heatmap of the top-k before and after re-rank, and a PCA map of the embeddings with the user's
// trail. Charts: Apache ECharts (the ESM build in node_modules, no bundler). Exposes
// `window.edgerecLab` for the end-to-end test (tests/e2e/lab.test.mjs).
import { loadBundle, Recommender, isEdgerecError } from '../pkg/dist/index.js';
import * as echarts from '../node_modules/echarts/dist/echarts.esm.min.mjs';
import { mulberry32 } from './rng.js';

const url = new URL(location.href);
const manifest = url.searchParams.get('manifest') ?? '../models/movielens-small/manifest.json';
const backendChoice = url.searchParams.get('backend') ?? 'auto';
const K = Math.max(2, Math.min(50, Number(url.searchParams.get('k')) || 20));
/** Movies drawn (once, seeded) for the PCA basis and the grey cloud of the embedding map. */
const SAMPLE = 2000;
const NO_GENRE = '(no genres listed)';

const $ = (sel) => document.querySelector(sel);
const summary = $('#summary');

// ---------------------------------------------------------------------------------------------
// Colours: one per first genre, stable across renders and reloads (MovieLens genres get fixed,
// mutually distinct colours; anything else a colour hashed from its name).

const GENRE_COLORS = {
  Action: '#e15759', Adventure: '#f28e2b', Animation: '#edc948', Children: '#ff9da7',
  Comedy: '#59a14f', Crime: '#9c755f', Documentary: '#a5a5a5', Drama: '#4e79a7',
  Fantasy: '#b07aa1', 'Film-Noir': '#1f3b73', Horror: '#7b3f61', IMAX: '#a0cbe8',
  Musical: '#f1ce63', Mystery: '#499894', Romance: '#d37295', 'Sci-Fi': '#76b7b2',
  Thriller: '#b6992d', War: '#8cd17d', Western: '#ffbe7d', [NO_GENRE]: '#d4d4d4',
};

function genreColor(genre) {
  if (GENRE_COLORS[genre]) return GENRE_COLORS[genre];
  let h = 0;
  for (const ch of genre) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return `hsl(${h % 360} 55% 55%)`;
}

/** Row badges are abbreviated (the column header spells the channels out). */
const CHANNEL_SHORT = {
  vector: 'vec', i2i: 'cf', swing: 'swing', popular: 'pop', popular_recent: 'trend',
  fresh: 'fresh', category: 'genre', ease: 'ease', pin: 'pin', server: 'srv',
};

const CHANNEL_LABELS = {
  vector: 'vector', i2i: 'item-CF (cf)', swing: 'swing', popular: 'popular', popular_recent: 'trending',
  fresh: 'fresh', category: 'genre', ease: 'EASE (ease)', pin: 'pin', server: 'server',
};

const PRESETS = [
  { name: 'max-2-in-a-row', label: 'At most 2 of the same genre in a row', short: '≤ 2 same genre in a row',
    rule: { kind: 'max_consecutive', attribute: 'category', max: 2 } },
  { name: 'decade-1-per-4', label: 'At most 1 per 4 from the same decade', short: '≤ 1 per decade in 4',
    rule: { kind: 'max_per_window', attribute: 'decade', window: 4, max: 1 } },
  { name: 'comedy-2-in-top-10', label: 'At least 2 comedies in the top 10', short: '≥ 2 comedies in top 10',
    rule: { kind: 'min_in_top', attribute: 'category', value: 'Comedy', top: 10, min: 2 } },
  { name: 'pin-shawshank', label: 'Pin The Shawshank Redemption at #1 (hard)', short: 'pinned at #1',
    rule: { kind: 'pin', item: '318', position: 0, hard: true } },
];

/** A short human name for any rule, for the re-ranked column and the rule list. */
function ruleLabel(rule) {
  switch (rule?.kind) {
    case 'max_consecutive': return `≤ ${rule.max} ${rule.attribute} in a row`;
    case 'max_per_window': return `≤ ${rule.max} ${rule.attribute} per ${rule.window}`;
    case 'max_in_top': return `≤ ${rule.max} ${rule.value ?? `per ${rule.attribute}`} in top ${rule.top}`;
    case 'min_in_top': return `≥ ${rule.min} ${rule.value} in top ${rule.top}`;
    case 'pin': return `pin ${rule.item} at #${rule.position + 1}`;
    case 'dedupe': return `one per ${rule.attribute}`;
    default: return String(rule?.kind ?? 'rule');
  }
}

// ---------------------------------------------------------------------------------------------
// Small DOM helper: text always goes through textContent (titles come from the bundle).

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key === 'style') {
      for (const [prop, v] of Object.entries(value)) {
        if (prop.startsWith('--')) node.style.setProperty(prop, v);
        else node.style[prop] = v;
      }
    }
    else if (key === 'data') Object.assign(node.dataset, value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** "Shawshank Redemption, The (1994)" → { name: "The Shawshank Redemption", year: "1994" }. */
function splitTitle(title) {
  const m = /^(.*?)\s*\((\d{4})(?:[–-]\d{0,4})?\)\s*$/.exec(title ?? '');
  let name = m ? m[1] : (title ?? '');
  const year = m ? m[2] : '';
  const article = /^(.*), (The|A|An|Les|La|Le|L'|Il|Das|Der|Die|El)$/.exec(name);
  if (article) name = `${article[2]}${article[2].endsWith("'") ? '' : ' '}${article[1]}`;
  return { name, year };
}

const fmt = (x, digits = 3) => (Number.isFinite(x) ? x.toFixed(digits) : '–');

// ---------------------------------------------------------------------------------------------
// Linear algebra for the metrics and the map: unit rows, cosine, Jaccard, PCA by power iteration.

function unitRows(data, n, d) {
  const out = new Float32Array(n * d);
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += data[r * d + j] ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < d; j++) out[r * d + j] = data[r * d + j] * inv;
  }
  return out;
}


/** The top two principal axes of `rows` (unit vectors, dim `d`), by power iteration with deflation. */
function pca2(unit, rows, d) {
  const mean = new Float64Array(d);
  for (const r of rows) for (let j = 0; j < d; j++) mean[j] += unit[r * d + j];
  for (let j = 0; j < d; j++) mean[j] /= rows.length;
  const cov = new Float64Array(d * d);
  const x = new Float64Array(d);
  for (const r of rows) {
    for (let j = 0; j < d; j++) x[j] = unit[r * d + j] - mean[j];
    for (let a = 0; a < d; a++) for (let b = a; b < d; b++) cov[a * d + b] += x[a] * x[b];
  }
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      cov[a * d + b] /= rows.length;
      cov[b * d + a] = cov[a * d + b];
    }
  }
  const axes = [];
  for (let c = 0; c < 2; c++) {
    let v = Float64Array.from({ length: d }, (_, j) => 1 + j / d);
    let lambda = 0;
    for (let it = 0; it < 300; it++) {
      const w = new Float64Array(d);
      for (let a = 0; a < d; a++) {
        let s = 0;
        for (let b = 0; b < d; b++) s += cov[a * d + b] * v[b];
        w[a] = s;
      }
      const norm = Math.hypot(...w);
      if (norm === 0) break;
      lambda = norm;
      v = w.map((t) => t / norm);
    }
    // A stable sign: the largest component positive.
    let big = 0;
    for (let j = 1; j < d; j++) if (Math.abs(v[j]) > Math.abs(v[big])) big = j;
    if (v[big] < 0) v = v.map((t) => -t);
    axes.push(v);
    for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) cov[a * d + b] -= lambda * v[a] * v[b];
  }
  return { mean, axes };
}

// ---------------------------------------------------------------------------------------------

try {
  const bundle = await loadBundle(manifest);
  const rec = await Recommender.create(bundle, { backend: backendChoice, store: 'memory' });
  const n = bundle.itemCount;
  const d = bundle.embeddingDim;
  const unit = unitRows(bundle.itemEmbeddings(), n, d);

  const cosine = (a, b) => {
    if (a === null || b === null || a === undefined || b === undefined) return 0;
    let s = 0;
    for (let j = 0; j < d; j++) s += unit[a * d + j] * unit[b * d + j];
    return s;
  };
  const jaccard = (a, b) => {
    const sa = new Set(a);
    const sb = new Set(b);
    let inter = 0;
    for (const x of sa) if (sb.has(x)) inter++;
    const union = sa.size + sb.size - inter;
    return union === 0 ? 1 : inter / union;
  };
  const firstGenre = (categories) => categories?.[0] ?? NO_GENRE;

  // Titles for search and the map, read once.
  const catalogue = Array.from({ length: n }, (_, row) => {
    const title = bundle.itemTitle(row) ?? bundle.itemId(row) ?? String(row);
    const { name, year } = splitTitle(title);
    return { row, id: bundle.itemId(row), title, name, year, haystack: `${title} ${name}`.toLowerCase() };
  });
  const genreOfRow = (row) => firstGenre(bundle.itemTags(row));

  // The PCA basis, once, on a seeded sample of the catalogue.
  const rand = mulberry32(42);
  const perm = Array.from({ length: n }, (_, i) => i);
  const sampleSize = Math.min(SAMPLE, n);
  for (let i = 0; i < sampleSize; i++) {
    const j = i + Math.floor(rand() * (n - i));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  const sample = perm.slice(0, sampleSize);
  const basis = pca2(unit, sample, d);
  const projectVector = (vec) => {
    let s = 0;
    for (let j = 0; j < d; j++) s += vec[j] * vec[j];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    return basis.axes.map((axis) => {
      let t = 0;
      for (let j = 0; j < d; j++) t += (vec[j] * inv - basis.mean[j]) * axis[j];
      return t;
    });
  };
  const projectRow = (row) => projectVector(unit.subarray(row * d, (row + 1) * d));
  const samplePoints = sample.map((row) => ({ row, xy: projectRow(row), genre: genreOfRow(row) }));
  // Fixed axes from the whole catalogue, so that no shown movie falls off and nothing jumps.
  const everyXY = Array.from({ length: n }, (_, row) => projectRow(row));
  const extent = [0, 1].map((c) => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const xy of everyXY) {
      lo = Math.min(lo, xy[c]);
      hi = Math.max(hi, xy[c]);
    }
    const pad = (hi - lo) * 0.06;
    return [lo - pad, hi + pad];
  });
  const genres = [...new Set(samplePoints.map((p) => p.genre))].sort((a, b) => (a === NO_GENRE) - (b === NO_GENRE) || a.localeCompare(b));

  // -------------------------------------------------------------------------------------------
  // State

  const state = {
    method: 'dpp',
    lambda: 0.7,
    theta: 0.7,
    window: null,
    similarity: 'embedding',
    presets: new Set(),
    custom: [],
    clicks: [],
    trail: [],
    result: null,
    metrics: null,
    error: null,
    version: 0,
    matches: [],
  };

  const activeRules = (custom = state.custom) => [
    ...PRESETS.filter((p) => state.presets.has(p.name)).map((p) => ({ name: p.name, label: p.label, short: p.short, rule: p.rule })),
    ...custom.map((rule, i) => ({ name: `custom-${i + 1}`, label: `custom rule ${i + 1}: ${JSON.stringify(rule)}`, short: ruleLabel(rule), rule })),
  ];

  const options = (custom) => ({
    k: K,
    diversity: {
      method: state.method,
      lambda: state.lambda,
      theta: state.theta,
      window: state.window,
      similarity: state.similarity,
    },
    rules: activeRules(custom).map((r) => r.rule),
  });

  // -------------------------------------------------------------------------------------------
  // Metrics

  function ild(list, sim) {
    let s = 0;
    let pairs = 0;
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        s += 1 - sim(list[i], list[j]);
        pairs++;
      }
    }
    return pairs ? s / pairs : 0;
  }

  function metricsOf(items, pool) {
    const ranked = pool.slice(0, items.length || K);
    const side = (list) => ({
      ildEmbedding: ild(list, (a, b) => cosine(a.row, b.row)),
      ildCategory: ild(list, (a, b) => jaccard(a.categories, b.categories)),
      coverage: new Set(list.map((x) => firstGenre(x.categories))).size,
    });
    const rankedSum = ranked.reduce((s, x) => s + x.score, 0);
    const rerankedSum = items.reduce((s, x) => s + x.score, 0);
    return {
      ranked: side(ranked),
      reranked: side(items),
      relevanceLoss: rankedSum > 0 ? 1 - rerankedSum / rankedSum : 0,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Rendering: the three columns

  const hoverOn = (id) => document.querySelectorAll(`.list li[data-id="${CSS.escape(id)}"]`).forEach((li) => li.classList.add('hover'));
  const hoverOff = () => document.querySelectorAll('.list li.hover').forEach((li) => li.classList.remove('hover'));

  function movieRow(item, index, extras, { className = '' } = {}) {
    const genre = firstGenre(item.categories);
    const { name, year } = splitTitle(item.title || item.id);
    return el('li', {
      class: `movie ${className}`.trim(),
      data: { id: item.id, category: genre },
      style: { '--genre': genreColor(genre) },
      title: `${item.title} — ${item.categories.join(', ') || NO_GENRE}\nclick to record a click`,
      onclick: () => click(item.id),
      onmouseenter: () => hoverOn(item.id),
      onmouseleave: hoverOff,
    },
    el('span', { class: 'pos', text: index + 1 }),
    el('span', { class: 'swatch', 'aria-label': genre }),
    el('span', { class: 'name' }, el('span', { class: 'movie-title', text: name }), year ? el('span', { class: 'year', text: year }) : null),
    el('span', { class: 'extras' }, extras));
  }

  function renderColumns(items, trace) {
    const finalPos = new Map(items.map((it, i) => [it.id, i]));
    const rules = state.lastRules;

    // 1. Recall: the pool by merged recall score, with channel badges.
    const byRecall = [...trace.pool].sort((a, b) => b.recallScore - a.recallScore);
    $('#col-recall .list').replaceChildren(...byRecall.map((p, i) => movieRow(p, i, [
      el('span', { class: 'badges' }, p.channels.map((c) => el('span', { class: `chan chan-${c}`, text: CHANNEL_SHORT[c] ?? c, title: CHANNEL_LABELS[c] ?? c }))),
      el('span', { class: 'score', text: fmt(p.recallScore) }),
    ], { className: finalPos.has(p.id) ? 'kept' : '' })));
    $('#col-recall .col-sub').replaceChildren(`${trace.candidates} candidates merged by recall score; the best ${trace.pool.length} go on to rank${trace.cold ? ' (cold start)' : ''}. `,
      el('span', { class: 'edge' }), 'in the final list.');
    $('#col-recall .channels').replaceChildren(...trace.recall.map((c) => el('span', {
      class: `chan chan-${c.name}${c.kept ? '' : ' empty'}`,
      title: `${c.name}: produced ${c.produced}, filtered ${c.filtered}, kept ${c.kept} in ${(c.micros / 1000).toFixed(2)} ms`,
    }, CHANNEL_LABELS[c.name] ?? c.name, el('b', { text: ` ${c.kept}` }))));

    // 2. Ranked: the pool in ranked order; marks where each went.
    $('#col-ranked .list').replaceChildren(...trace.pool.map((p, i) => {
      const to = finalPos.get(p.id);
      const fate = to === undefined
        ? (i < K ? el('span', { class: 'fate dropped', text: 'dropped', title: 'in the ranked top-k, not in the re-ranked list' }) : null)
        : el('span', { class: 'fate', text: `→ #${to + 1}`, title: `re-ranked to position ${to + 1}` });
      return movieRow(p, i, [fate, el('span', { class: 'score', text: fmt(p.score) })], {
        className: [to === undefined ? '' : 'kept', i < K ? 'topk' : ''].join(' '),
      });
    }));
    $('#col-ranked .col-sub').replaceChildren(trace.orderedBy === 'ranker'
      ? 'Ordered by the ranker (fused with recall); top-k shaded; '
      : `Ordered by ${trace.orderedBy} (${trace.cold ? 'cold user: no ranker yet' : 'no ranker'}); top-k shaded; `,
    el('span', { class: 'edge' }), '→ its re-ranked position.');

    // 3. Re-ranked: what moved and why.
    $('#col-reranked .list').replaceChildren(...items.map((it, i) => {
      const delta = it.rankedPosition - i;
      const move = delta > 0 ? el('span', { class: 'move up', text: `↑${delta}`, title: `from ranked #${it.rankedPosition + 1}` })
        : delta < 0 ? el('span', { class: 'move down', text: `↓${-delta}`, title: `from ranked #${it.rankedPosition + 1}` })
          : el('span', { class: 'move same', text: '=', title: 'same position as ranked' });
      const rule = it.rule !== null && it.rule !== undefined ? rules[it.rule] ?? { short: `rule ${it.rule}`, label: `rule ${it.rule}` } : null;
      const why = el('span', { class: `placed placed-${it.placedBy}`, text: it.placedBy, title: placedTitle(it) });
      const relaxed = it.relaxed?.length
        ? el('span', { class: 'relaxed', text: '⚠', title: `gave way here: ${it.relaxed.map((r) => rules[r]?.label ?? r).join(', ')}` })
        : null;
      return movieRow(it, i, [
        rule && (it.placedBy === 'rule' || it.placedBy === 'pin')
          ? el('span', { class: 'rule-name', text: rule.short, title: it.placedBy === 'pin' ? rule.label : `${rule.label}: it kept a more relevant item out of #${i + 1}` })
          : null,
        relaxed, why, move,
      ], { className: it.placedBy !== 'relevance' || delta !== 0 ? `moved by-${it.placedBy}` : '' });
    }));
    const changed = items.filter((it, i) => it.rankedPosition !== i).length;
    $('#col-reranked .col-sub').textContent = `Placed by relevance, diversity, a rule or a pin; ↑↓ vs ranked. ${trace.diversity === 'none' ? 'No diversity term' : trace.diversity.toUpperCase()}` +
      `${rules.length ? `, ${rules.length} rule${rules.length > 1 ? 's' : ''}` : ''}: ${changed} of ${items.length} positions changed` +
      `${trace.dppExhaustedAt !== null && trace.dppExhaustedAt !== undefined ? `; DPP ran out of gain at #${trace.dppExhaustedAt + 1}` : ''}.`;
  }

  function placedTitle(it) {
    switch (it.placedBy) {
      case 'relevance': return 'the most relevant item still eligible';
      case 'diversity': return `the diversity term preferred it (${state.method === 'mmr' ? 'redundancy' : 'marginal gain'} ${fmt(it.diversity)})`;
      case 'rule': return 'a rule kept a more relevant item out of this position';
      case 'pin': return 'pinned here by a rule';
      case 'explore': return 'an exploration slot';
      case 'boost': return 'the new-item boost';
      case 'fill': return 'filled by relevance after DPP ran out of marginal gain';
      default: return it.placedBy;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Metrics, timings, legend, history

  function renderMetrics(m, trace) {
    const pair = (id, a, b, digits, better) => {
      const card = $(id);
      card.querySelector('.value').textContent = typeof b === 'number' && digits !== null ? b.toFixed(digits) : String(b);
      const diff = b - a;
      const arrow = Math.abs(diff) < 1e-9 ? '=' : diff > 0 ? '▲' : '▼';
      const show = (x) => (digits !== null ? x.toFixed(digits) : String(x));
      card.querySelector('.sub').replaceChildren(
        `ranked top-${K}: ${show(a)} `,
        el('b', { class: Math.abs(diff) < 1e-9 ? '' : (diff > 0) === better ? 'good' : 'bad', text: `${arrow} ${diff >= 0 ? '+' : '−'}${show(Math.abs(diff))}` }),
      );
    };
    pair('#m-ild', m.ranked.ildEmbedding, m.reranked.ildEmbedding, 3, true);
    pair('#m-ild-cat', m.ranked.ildCategory, m.reranked.ildCategory, 3, true);
    pair('#m-coverage', m.ranked.coverage, m.reranked.coverage, null, true);
    const loss = $('#m-loss');
    loss.querySelector('.value').textContent = `${(m.relevanceLoss * 100).toFixed(1)}%`;
    loss.querySelector('.sub').textContent = '1 − Σ score re-ranked ÷ Σ score of the ranked top-k';

    const t = trace.timings;
    const stages = [['user', t.userMs], ['recall', t.recallMs], ['rank', t.rankMs], ['re-rank', t.rerankMs]];
    const sum = stages.reduce((s, [, ms]) => s + ms, 0) || 1;
    $('#m-timings .timebar').replaceChildren(...stages.map(([name, ms], i) => el('span', {
      class: `seg seg-${i}`, style: { flexGrow: String(Math.max(ms / sum, 0.03)) }, title: `${name}: ${ms.toFixed(2)} ms`,
    })));
    $('#m-timings .sub').replaceChildren(...stages.map(([name, ms], i) => el('span', { class: 'stage' },
      el('i', { class: `dot seg-${i}` }), `${name} ${ms.toFixed(1)}`)), el('span', { class: 'stage total', text: `= ${t.totalMs.toFixed(1)} ms on ${trace.backend}` }));
  }

  function renderLegend(items) {
    const present = new Set(items.map((it) => firstGenre(it.categories)));
    $('#legend').replaceChildren(...genres.filter((g) => g !== NO_GENRE || present.has(g)).map((g) => el('span', {
      class: `legend-item${present.has(g) ? ' present' : ''}`, style: { '--genre': genreColor(g) },
      title: present.has(g) ? `${g}: in the re-ranked list` : g, data: { genre: g },
    }, el('i', { class: 'swatch' }), g === NO_GENRE ? 'none listed' : g)));
  }

  function renderHistory() {
    const box = $('#history');
    if (!state.clicks.length) {
      box.replaceChildren(el('span', { class: 'muted', text: 'No clicks yet: a cold start shows popular and fresh picks.' }));
      return;
    }
    box.replaceChildren(el('span', { class: 'muted', text: `${state.clicks.length} click${state.clicks.length > 1 ? 's' : ''}:` }),
      ...state.clicks.map((id) => {
        const row = bundle.rowOf(id);
        const genre = row === undefined ? NO_GENRE : genreOfRow(row);
        return el('span', { class: 'chip', style: { '--genre': genreColor(genre) }, title: catalogue[row]?.title ?? id },
          el('i', { class: 'swatch' }), catalogue[row]?.name ?? id);
      }));
  }

  // -------------------------------------------------------------------------------------------
  // Charts (ECharts)

  const chartFont = { fontFamily: getComputedStyle(document.body).fontFamily };
  const heatBefore = echarts.init($('#heat-before'), null, { renderer: 'canvas' });
  const heatAfter = echarts.init($('#heat-after'), null, { renderer: 'canvas' });
  const projection = echarts.init($('#projection'), null, { renderer: 'canvas' });
  const charts = [heatBefore, heatAfter, projection];
  addEventListener('resize', () => charts.forEach((c) => c.resize()));

  const genreRich = Object.fromEntries(genres.concat(Object.keys(GENRE_COLORS)).map((g, i) => [`g${i}`, { color: genreColor(g), fontSize: 13 }]));
  const richKey = new Map(genres.concat(Object.keys(GENRE_COLORS)).map((g, i) => [g, `g${i}`]));

  function heatOption(list, lo) {
    const data = [];
    for (let i = 0; i < list.length; i++) {
      for (let j = 0; j < list.length; j++) data.push([j, i, +cosine(list[i].row, list[j].row).toFixed(3)]);
    }
    const labels = list.map((_, i) => String(i + 1));
    const dot = (index) => `{${richKey.get(firstGenre(list[index]?.categories)) ?? 'g0'}|●}`;
    const axisLabel = { fontSize: 10, color: '#5b6475', interval: 0, rich: genreRich };
    return {
      textStyle: chartFont,
      animation: false,
      grid: { left: 40, right: 6, top: 16, bottom: 40 },
      tooltip: {
        confine: true,
        formatter: (p) => {
          const [x, y, v] = p.data;
          const a = list[y];
          const b = list[x];
          return `<b>#${y + 1}</b> ${escapeHtml(a.title)}<br><b>#${x + 1}</b> ${escapeHtml(b.title)}<br>cosine <b>${v.toFixed(3)}</b>`;
        },
      },
      xAxis: { type: 'category', data: labels, position: 'top', axisTick: { show: false }, axisLine: { show: false }, axisLabel: { ...axisLabel, margin: 4, formatter: (_, index) => dot(index) } },
      yAxis: { type: 'category', data: labels, inverse: true, axisTick: { show: false }, axisLine: { show: false }, axisLabel: { ...axisLabel, formatter: (value, index) => `${dot(index)} ${value}` } },
      visualMap: {
        min: lo, max: 1, calculable: false, orient: 'horizontal', left: 'center', bottom: 0, itemWidth: 12, itemHeight: 180,
        text: ['1 (same)', `${lo.toFixed(1)}`], textStyle: { fontSize: 11, color: '#5b6475' },
        inRange: { color: ['#f7fbff', '#c6dbef', '#fdd49e', '#fc8d59', '#d7301f', '#7f0000'] },
      },
      series: [{
        type: 'heatmap', data, progressive: 0,
        itemStyle: { borderColor: '#fff', borderWidth: 0.5 },
        emphasis: { itemStyle: { borderColor: '#1d2330', borderWidth: 1.5 } },
      }],
    };
  }

  function escapeHtml(s) {
    return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
  }

  function renderHeatmaps(items, pool) {
    const before = pool.slice(0, items.length);
    let lo = 0;
    for (const list of [before, items]) {
      for (let i = 0; i < list.length; i++) for (let j = i + 1; j < list.length; j++) lo = Math.min(lo, cosine(list[i].row, list[j].row));
    }
    lo = Math.floor(lo * 10) / 10;
    heatBefore.setOption(heatOption(before, lo), { notMerge: true });
    heatAfter.setOption(heatOption(items, lo), { notMerge: true });
  }

  const sampleSeries = genres.map((g) => ({
    name: g,
    type: 'scatter',
    data: samplePoints.filter((p) => p.genre === g).map((p) => ({ value: p.xy, row: p.row })),
    symbolSize: 4,
    itemStyle: { color: genreColor(g), opacity: 0.28 },
    emphasis: { itemStyle: { opacity: 1 }, scale: 2.2 },
    large: false,
    z: 1,
  }));

  function renderProjection(items, pool) {
    const shown = new Set(items.map((it) => it.id));
    const rankedOnly = pool.slice(0, items.length).filter((p) => !shown.has(p.id) && p.row !== null);
    const point = (it, extra = {}) => ({ value: projectRow(it.row), row: it.row, id: it.id, itemStyle: { color: genreColor(firstGenre(it.categories)) }, ...extra });
    const trail = state.trail.map((t, i) => ({
      value: t.xy,
      label: i === state.trail.length - 1 ? { show: true, formatter: 'you', position: 'top', fontWeight: 'bold', color: '#1d2330' } : { show: false },
      symbolSize: i === state.trail.length - 1 ? 16 : 8,
      title: t.after,
    }));
    const clicked = state.clicks.map((id) => bundle.rowOf(id)).filter((r) => r !== undefined)
      .map((row) => ({ value: projectRow(row), row, id: catalogue[row].id }));
    projection.setOption({
      textStyle: chartFont,
      animationDurationUpdate: 350,
      grid: { left: 16, right: 16, top: 40, bottom: 16 },
      legend: {
        top: 4, left: 'center', itemGap: 10, itemWidth: 18, textStyle: { fontSize: 11 },
        data: ['re-ranked top-k', 'ranked top-k, dropped', 'your clicks', 'your vector'],
      },
      tooltip: {
        trigger: 'item', confine: true,
        formatter: (p) => {
          if (p.seriesName === 'your vector') return `your vector after ${p.data.title}`;
          const row = p.data?.row;
          if (row === undefined) return '';
          const c = catalogue[row];
          return `${escapeHtml(c.title)}<br><span style="color:#5b6475">${escapeHtml(bundle.itemTags(row).join(', '))}</span><br><i>click to record a click</i>`;
        },
      },
      xAxis: { type: 'value', min: extent[0][0], max: extent[0][1], show: false },
      yAxis: { type: 'value', min: extent[1][0], max: extent[1][1], show: false },
      series: [
        ...sampleSeries,
        {
          name: 'ranked top-k, dropped', type: 'scatter', z: 3, symbolSize: 11,
          data: rankedOnly.map((it) => point(it, { itemStyle: { color: 'rgba(255,255,255,0.9)', borderColor: genreColor(firstGenre(it.categories)), borderWidth: 2 } })),
          itemStyle: { color: '#fff', borderColor: '#888', borderWidth: 2 },
        },
        {
          name: 're-ranked top-k', type: 'scatter', z: 4, symbolSize: 13,
          data: items.filter((it) => it.row !== null).map((it) => point(it, { itemStyle: { color: genreColor(firstGenre(it.categories)), borderColor: '#fff', borderWidth: 1.5, shadowBlur: 4, shadowColor: 'rgba(0,0,0,0.25)' } })),
          itemStyle: { color: '#4e79a7' },
        },
        {
          name: 'your clicks', type: 'scatter', z: 5, symbol: 'diamond', symbolSize: 14,
          data: clicked, itemStyle: { color: '#1d2330', borderColor: '#fff', borderWidth: 1.5 },
        },
        {
          name: 'your vector', type: 'line', z: 6, data: trail, symbol: 'circle', showSymbol: true,
          lineStyle: { color: '#1d2330', width: 2, type: 'dashed' },
          itemStyle: { color: '#ffcc00', borderColor: '#1d2330', borderWidth: 2 },
          animation: true,
        },
      ],
    }, { notMerge: true });
  }

  projection.on('click', (p) => {
    const row = p.data?.row;
    if (row !== undefined && row !== null) click(catalogue[row].id);
  });

  // -------------------------------------------------------------------------------------------
  // The loop: one recommend call per change, serialized and coalesced (a slider fires many
  // events; only the latest state is rendered).

  let running = null;
  let pending = null;

  function refresh() {
    if (pending) return pending;
    pending = (async () => {
      await running?.catch(() => {});
      pending = null;
      running = render();
      return running;
    })();
    return pending;
  }

  function showRulesError(message) {
    const box = $('#rules-error');
    box.hidden = !message;
    box.textContent = message ?? '';
  }

  async function render() {
    document.body.dataset.busy = 'true';
    try {
      const rules = activeRules();
      let result;
      try {
        result = await rec.recommend(options());
      } catch (e) {
        const code = isEdgerecError(e) ? e.code : 'UNEXPECTED';
        state.error = { code, message: String(e?.message ?? e) };
        showRulesError(`${code}: ${state.error.message}`);
        return snapshot();
      }
      state.error = null;
      showRulesError(null);
      state.lastRules = rules;
      state.result = result;
      const { items, trace } = result;
      state.metrics = metricsOf(items, trace.pool);
      renderColumns(items, trace);
      renderMetrics(state.metrics, trace);
      renderLegend(items);
      renderHistory();
      renderHeatmaps(items, trace.pool);
      renderProjection(items, trace.pool);
      summary.replaceChildren(
        trace.cold ? 'New user: ' : `Personalised from ${state.clicks.length} click${state.clicks.length === 1 ? '' : 's'}: `,
        `${trace.candidates} recall candidates → ${trace.pool.length} ranked by ${trace.orderedBy} → ${items.length} re-ranked with `,
        el('b', { text: trace.diversity === 'none' ? 'no diversity term' : trace.diversity.toUpperCase() }),
        rules.length ? ` and ${rules.length} rule${rules.length > 1 ? 's' : ''}` : '',
        ` in ${trace.timings.totalMs.toFixed(1)} ms.`,
      );
      state.version++;
      return snapshot();
    } finally {
      document.body.dataset.busy = 'false';
    }
  }

  // -------------------------------------------------------------------------------------------
  // Controls

  const methodInputs = [...document.querySelectorAll('input[name="method"]')];
  const lambdaInput = $('#lambda');
  const thetaInput = $('#theta');
  const windowInput = $('#window');
  const similarityInput = $('#similarity');

  function syncControls() {
    for (const input of methodInputs) input.checked = input.value === state.method;
    lambdaInput.value = String(state.lambda);
    thetaInput.value = String(state.theta);
    $('#lambda-out').textContent = state.lambda.toFixed(2);
    $('#theta-out').textContent = state.theta.toFixed(2);
    windowInput.value = state.window === null ? '' : String(state.window);
    similarityInput.value = state.similarity;
    document.querySelectorAll('.slider').forEach((s) => s.classList.toggle('inactive', s.dataset.for !== state.method));
    lambdaInput.disabled = state.method !== 'mmr';
    thetaInput.disabled = state.method !== 'dpp';
    windowInput.disabled = state.method === 'none';
    similarityInput.disabled = state.method === 'none';
    for (const box of document.querySelectorAll('#presets input')) box.checked = state.presets.has(box.value);
  }

  const set = (patch) => {
    Object.assign(state, patch);
    syncControls();
    return refresh();
  };
  const setMethod = (method) => {
    if (!['none', 'mmr', 'dpp'].includes(method)) throw new Error(`unknown method ${method}`);
    return set({ method });
  };
  const setLambda = (x) => set({ lambda: Math.min(1, Math.max(0, Number(x))) });
  const setTheta = (x) => set({ theta: Math.min(0.99, Math.max(0, Number(x))) });
  const setWindow = (w) => set({ window: w === null || w === '' || w === 'off' || !Number(w) ? null : Number(w) });
  const setSimilarity = (s) => set({ similarity: s });
  const toggleRule = (name, on) => {
    if (!PRESETS.some((p) => p.name === name)) throw new Error(`unknown preset rule ${name}; presets: ${PRESETS.map((p) => p.name).join(', ')}`);
    const want = on ?? !state.presets.has(name);
    if (want) state.presets.add(name);
    else state.presets.delete(name);
    syncControls();
    return refresh();
  };

  /** Parses and checks custom rules with a dry run; on error keeps the rules in force and says why. */
  async function setCustomRules(text) {
    $('#custom-rules').value = text;
    let parsed;
    const trimmed = text.trim();
    try {
      parsed = trimmed === '' ? [] : JSON.parse(trimmed);
    } catch (e) {
      showRulesError(`Not valid JSON: ${e.message}`);
      return { ...snapshot(), error: { code: 'BAD_JSON', message: e.message } };
    }
    if (!Array.isArray(parsed)) parsed = [parsed];
    if (parsed.some((r) => typeof r !== 'object' || r === null || Array.isArray(r))) {
      showRulesError('Each rule must be a JSON object, e.g. {"kind": "max_consecutive", "attribute": "category", "max": 2}');
      return { ...snapshot(), error: { code: 'BAD_JSON', message: 'not a list of rule objects' } };
    }
    await running?.catch(() => {});
    try {
      await rec.recommend(options(parsed));
    } catch (e) {
      const code = isEdgerecError(e) ? e.code : 'UNEXPECTED';
      showRulesError(`${code}: ${e?.message ?? e}`);
      return { ...snapshot(), error: { code, message: String(e?.message ?? e) } };
    }
    state.custom = parsed;
    return refresh();
  }

  async function click(id) {
    try {
      await rec.record(id);
    } catch (e) {
      const code = isEdgerecError(e) ? e.code : 'UNEXPECTED';
      summary.textContent = `Could not record a click on ${id}: ${code}: ${e?.message ?? e}`;
      return { ...snapshot(), error: { code, message: String(e?.message ?? e) } };
    }
    state.clicks.push(id);
    const q = await rec.query();
    if (q) {
      const row = bundle.rowOf(id);
      state.trail.push({ xy: projectVector(q), after: catalogue[row]?.name ?? id });
    }
    closeMatches();
    return refresh();
  }

  async function reset() {
    await rec.resetUser();
    state.clicks = [];
    state.trail = [];
    return refresh();
  }

  // Search: client-side over every title; prefix matches first, then by length.
  const matchesBox = $('#matches');
  const searchInput = $('#search');
  function closeMatches() {
    matchesBox.hidden = true;
    matchesBox.replaceChildren();
  }
  function search(q) {
    const needle = String(q ?? '').trim().toLowerCase();
    if (searchInput.value !== q) searchInput.value = q ?? '';
    if (needle.length < 2) {
      closeMatches();
      state.matches = [];
      return [];
    }
    const hits = [];
    for (const c of catalogue) {
      const at = c.haystack.indexOf(needle);
      if (at >= 0) hits.push({ c, prefix: c.name.toLowerCase().startsWith(needle) || c.title.toLowerCase().startsWith(needle) });
    }
    hits.sort((a, b) => (b.prefix - a.prefix) || a.c.title.length - b.c.title.length || a.c.row - b.c.row);
    state.matches = hits.slice(0, 10).map(({ c }) => ({ id: c.id, title: c.title, row: c.row }));
    matchesBox.replaceChildren(...(state.matches.length ? state.matches.map((m) => {
      const genre = genreOfRow(m.row);
      const { name, year } = splitTitle(m.title);
      const pick = () => {
        searchInput.value = '';
        return click(m.id);
      };
      return el('li', { style: { '--genre': genreColor(genre) }, data: { id: m.id }, tabindex: 0, onclick: pick,
        onkeydown: (e) => { if (e.key === 'Enter') pick(); } },
      el('i', { class: 'swatch' }), el('span', { class: 'movie-title', text: name }), el('span', { class: 'year', text: year }),
      el('span', { class: 'genre', text: genre }));
    }) : [el('li', { class: 'none', text: 'No movie matches.' })]));
    matchesBox.hidden = false;
    return state.matches;
  }
  searchInput.addEventListener('input', () => search(searchInput.value));
  searchInput.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && state.matches[0]) {
      const { id } = state.matches[0];
      searchInput.value = '';
      click(id);
    }
    if (e.key === 'Escape') closeMatches();
  });
  document.addEventListener('click', (e) => {
    if (!e.target.closest('.search')) closeMatches();
  });

  for (const input of methodInputs) input.addEventListener('change', () => setMethod(input.value));
  lambdaInput.addEventListener('input', () => setLambda(lambdaInput.value));
  thetaInput.addEventListener('input', () => setTheta(thetaInput.value));
  windowInput.addEventListener('change', () => setWindow(windowInput.value));
  similarityInput.addEventListener('change', () => setSimilarity(similarityInput.value));
  $('#presets').replaceChildren(...PRESETS.map((p) => el('label', { class: 'toggle', title: JSON.stringify(p.rule) },
    el('input', { type: 'checkbox', value: p.name, onchange: (e) => toggleRule(p.name, e.target.checked) }),
    el('span', { class: 'knob' }), el('span', { text: p.label }))));
  $('#apply-rules').addEventListener('click', () => setCustomRules($('#custom-rules').value));
  $('#clear-rules').addEventListener('click', () => setCustomRules(''));
  $('#reset').addEventListener('click', () => reset());

  const engine = `${rec.backend}`;
  $('#backend').textContent = engine === 'webgpu' ? 'WebGPU' : 'CPU · wasm SIMD';
  $('#backend').dataset.backend = engine;
  $('#backend-reason').textContent = rec.backendReason;
  document.querySelectorAll('.k').forEach((s) => { s.textContent = String(K); });

  function snapshot() {
    const r = state.result;
    const rowOut = (x) => ({ id: x.id, title: x.title, category: firstGenre(x.categories) });
    return {
      status: document.body.dataset.status,
      version: state.version,
      backend: rec.backend,
      backendReason: rec.backendReason,
      method: state.method,
      lambda: state.lambda,
      theta: state.theta,
      window: state.window,
      similarity: state.similarity,
      presets: [...state.presets],
      rules: (state.lastRules ?? []).map((x) => ({ name: x.name, label: x.label, short: x.short, rule: x.rule })),
      clicks: [...state.clicks],
      trail: state.trail.map((t) => t.xy),
      error: state.error,
      cold: r?.trace.cold,
      recall: r ? [...r.trace.pool].sort((a, b) => b.recallScore - a.recallScore).map((p) => ({ ...rowOut(p), channels: p.channels, recallScore: p.recallScore })) : [],
      ranked: r ? r.trace.pool.map((p) => ({ ...rowOut(p), score: p.score })) : [],
      reranked: r ? r.items.map((it) => ({ ...rowOut(it), score: it.score, placedBy: it.placedBy, rankedPosition: it.rankedPosition, rule: it.rule, relaxed: it.relaxed })) : [],
      relaxedRules: r?.trace.relaxedRules ?? [],
      metrics: state.metrics,
      timings: r?.trace.timings,
    };
  }

  syncControls();
  await refresh();
  window.edgerecLab = {
    state: snapshot,
    idle: async () => {
      await pending;
      await running;
      return snapshot();
    },
    setMethod, setLambda, setTheta, setWindow, setSimilarity, toggleRule, setCustomRules,
    click, search, reset,
    presets: PRESETS.map((p) => p.name),
  };
  document.body.dataset.status = 'ready';
} catch (e) {
  console.warn('lab failed to start', e);
  window.edgerecLab = { status: 'error', code: isEdgerecError(e) ? e.code : 'UNEXPECTED', message: String(e?.message ?? e) };
  summary.textContent = `Error: ${e?.message ?? e}`;
  summary.classList.add('error');
  document.body.dataset.status = 'error';
}
