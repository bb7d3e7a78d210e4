// mapf serve dashboard: the record tree from /h.json, one panel per opened
// record drawn by JSROOT from NAME/root.json (or shown as JSON for classes
// without a ROOT layout), redrawn when /events names it. Everything comes
// from this server: JSROOT is served at /jsrootsys/.
import { parse } from './jsrootsys/modules/core.mjs';
import { draw, redraw, cleanup } from './jsrootsys/modules/draw.mjs';
import { getElementCanvPainter } from './jsrootsys/modules/base/ObjectPainter.mjs';

const $ = (id) => document.getElementById(id);
const panels = new Map(); // record name -> panel state
let tree = null;
let genHistory = []; // [time ms, generation] over the last seconds

// A record name as a URL path: each '/'-separated part encoded.
const recordUrl = (name, what) =>
  name.split('/').map(encodeURIComponent).join('/') + '/' + what;

function setConn(state, text) {
  const c = $('conn');
  c.className = 'conn conn-' + state;
  c.textContent = text;
}

function setGeneration(g) {
  $('gen').textContent = g;
  const now = performance.now();
  genHistory.push([now, g]);
  while (genHistory.length > 2 && now - genHistory[0][0] > 5000) genHistory.shift();
}

function showRate() {
  const now = performance.now();
  while (genHistory.length > 1 && now - genHistory[0][0] > 5000) genHistory.shift();
  let rate = 0;
  if (genHistory.length > 1) {
    const [t0, g0] = genHistory[0];
    const g1 = genHistory[genHistory.length - 1][1];
    rate = g1 >= g0 ? (g1 - g0) / Math.max((now - t0) / 1000, 1) : 0;
  }
  $('rate').textContent = rate < 10 ? rate.toFixed(1) : Math.round(rate);
}

// ---- the tree --------------------------------------------------------------

function treeNode(item) {
  const li = document.createElement('li');
  if (item._childs) {
    li.className = 'folder';
    const span = document.createElement('span');
    span.textContent = item._name;
    li.append(span, treeList(item._childs));
    return li;
  }
  const b = document.createElement('button');
  b.className = 'item';
  b.dataset.record = item._record;
  b.title = item._title || item._record;
  b.textContent = item._name;
  const k = document.createElement('span');
  k.className = 'kind';
  k.textContent = item._kind.replace(/^ROOT\./, '').replace(/^mapfile\./, '');
  b.append(k);
  b.addEventListener('click', () => togglePanel(item));
  if (panels.has(item._record)) b.classList.add('open');
  li.append(b);
  return li;
}

function treeList(items) {
  const ul = document.createElement('ul');
  for (const it of items) ul.append(treeNode(it));
  return ul;
}

function findItems(items, out = new Map()) {
  for (const it of items || []) {
    if (it._childs) findItems(it._childs, out);
    else out.set(it._record, it);
  }
  return out;
}

async function loadTree() {
  const res = await fetch('h.json', { cache: 'no-store' });
  if (!res.ok) throw new Error(`h.json: HTTP ${res.status}`);
  tree = await res.json();
  $('title').textContent = tree._title || 'mapf serve';
  document.title = (tree._title || tree._file) + ' - mapf serve';
  $('file').textContent = tree._file;
  const nav = $('tree');
  nav.replaceChildren(tree._childs.length ? treeList(tree._childs)
                                          : Object.assign(document.createElement('p'),
                                            { className: 'muted', textContent: 'no records yet' }));
  const items = findItems(tree._childs);
  for (const [name, p] of panels) {
    const it = items.get(name);
    if (!it) markGone(p);
    else if (it._kind !== p.kind) { p.kind = it._kind; p.drawn = false; refresh(p); }
  }
  return items;
}

// ---- panels ----------------------------------------------------------------

function markGone(p) {
  p.meta.textContent = 'removed';
}

function togglePanel(item) {
  const name = item._record;
  if (panels.has(name)) { closePanel(name); return; }
  const el = document.createElement('article');
  el.className = 'panel';
  el.dataset.record = name;
  const head = document.createElement('header');
  const title = document.createElement('span');
  title.className = 'name';
  title.textContent = name;
  const meta = document.createElement('span');
  meta.className = 'meta';
  const close = document.createElement('button');
  close.textContent = '\u00d7';
  close.title = 'close';
  close.addEventListener('click', () => closePanel(name));
  head.append(title, meta, close);
  const plot = document.createElement('div');
  plot.className = 'plot';
  plot.id = 'plot-' + panels.size + '-' + Date.now();
  el.append(head, plot);
  $('hint')?.remove();
  $('panels').append(el);
  const p = { name, kind: item._kind, el, plot, meta, busy: false, dirty: false, drawn: false,
              draws: 0, obj: null };
  panels.set(name, p);
  document.querySelector(`#tree .item[data-record="${CSS.escape(name)}"]`)?.classList.add('open');
  saveHash();
  refresh(p);
}

function closePanel(name) {
  const p = panels.get(name);
  if (!p) return;
  if (p.drawn && p.kind.startsWith('ROOT.')) cleanup(p.plot);
  p.el.remove();
  panels.delete(name);
  document.querySelector(`#tree .item[data-record="${CSS.escape(name)}"]`)?.classList.remove('open');
  saveHash();
}

function saveHash() {
  const names = [...panels.keys()].map(encodeURIComponent).join(',');
  history.replaceState(null, '', names ? '#' + names : location.pathname);
}

function drawOption(obj) {
  return obj._typename && obj._typename.startsWith('TH2') ? 'colz' : '';
}

// Fetch and (re)draw one panel. Changes that arrive meanwhile are folded
// into one more round: a panel never queues redraws.
async function refresh(p) {
  if (p.busy) { p.dirty = true; return; }
  p.busy = true;
  try {
    do {
      p.dirty = false;
      await drawOnce(p);
    } while (p.dirty && panels.get(p.name) === p);
  } catch (e) {
    // The server is gone: keep the last drawing; the resync after the
    // event stream reconnects redraws it.
    p.meta.textContent = 'offline';
  } finally {
    p.busy = false;
  }
}

async function drawOnce(p) {
  const res = await fetch(recordUrl(p.name, 'root.json'), { cache: 'no-store' });
  if (panels.get(p.name) !== p) return;
  if (!res.ok) {
    let msg = `HTTP ${res.status}`;
    try { msg = (await res.json()).message; } catch (e) { /* not JSON */ }
    p.meta.textContent = res.status === 404 ? 'removed' : 'error';
    showError(p, msg);
    return;
  }
  const text = await res.text();
  if (p.kind.startsWith('ROOT.')) {
    const obj = parse(text);
    if (!p.drawn || p.plot.querySelector('.error')) {
      p.plot.replaceChildren();
      await draw(p.plot, obj, drawOption(obj));
      p.drawn = true;
    } else if (obj._typename === 'TProfile') {
      // redraw() does not copy fBinSumw2/fTsumw2 of a weighted profile.
      cleanup(p.plot);
      await draw(p.plot, obj, drawOption(obj));
    } else {
      await redraw(p.plot, obj, drawOption(obj));
    }
    p.obj = obj;
    p.meta.textContent = `entries ${obj.fEntries}`;
  } else {
    const pre = document.createElement('pre');
    pre.className = 'json';
    pre.textContent = JSON.stringify(JSON.parse(text), null, 2);
    p.plot.replaceChildren(pre);
    p.drawn = true;
    p.meta.textContent = p.kind.replace(/^mapfile\./, '');
  }
  p.draws++;
}

function showError(p, msg) {
  if (p.drawn && p.kind.startsWith('ROOT.')) cleanup(p.plot);
  p.drawn = false;
  const d = document.createElement('div');
  d.className = 'error';
  d.textContent = msg;
  p.plot.replaceChildren(d);
}

// ---- live updates ----------------------------------------------------------

let source = null;
let retryTimer = null;

function connect() {
  clearTimeout(retryTimer);
  source = new EventSource('events');
  source.addEventListener('hello', (e) => {
    const d = JSON.parse(e.data);
    setGeneration(d.generation);
    setConn(d.open ? 'live' : 'wait', d.open ? 'live' : 'waiting for the file');
  });
  source.addEventListener('message', (e) => {
    const d = JSON.parse(e.data);
    setGeneration(d.generation);
    setConn('live', 'live');
    if (d.tree || d.removed.length) loadTree().catch(() => {});
    for (const name of d.changed) {
      const p = panels.get(name);
      if (p) refresh(p);
    }
  });
  source.addEventListener('resync', (e) => {
    const d = JSON.parse(e.data);
    setGeneration(d.generation);
    setConn('live', 'live');
    resyncAll();
  });
  source.addEventListener('open', () => setConn('live', 'live'));
  source.addEventListener('error', () => {
    if (source.readyState === EventSource.CLOSED) {
      // The browser gave up (e.g. a 503): try again ourselves.
      setConn('down', 'disconnected, retrying');
      retryTimer = setTimeout(connect, 2000);
    } else {
      setConn('down', 'reconnecting');
    }
  });
}

async function resyncAll() {
  try { await loadTree(); } catch (e) { /* the next event retries */ }
  for (const p of panels.values()) { p.drawn = false; refresh(p); }
}

async function start() {
  let items = new Map();
  try { items = await loadTree(); } catch (e) { setConn('down', 'cannot load h.json'); }
  connect();
  setInterval(showRate, 1000);
  for (const n of location.hash.slice(1).split(',').filter(Boolean)) {
    const it = items.get(decodeURIComponent(n));
    if (it && !panels.has(it._record)) togglePanel(it);
  }
}

// For tests and the console: what is drawn, read back from JSROOT itself.
window.mapf = {
  panels,
  open: (name) => { const it = findItems(tree?._childs).get(name); if (it && !panels.has(name)) togglePanel(it); },
  drawn(name) {
    const p = panels.get(name);
    const cp = p && getElementCanvPainter(p.plot);
    const mp = cp && cp.getMainPainter();
    return mp ? mp.getObject() : null;
  },
  draws: (name) => panels.get(name)?.draws ?? 0,
};

start();
