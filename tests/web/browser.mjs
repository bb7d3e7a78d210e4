// browser.mjs - the dashboard in a real browser: Debian's chromium, headless,
// driven by puppeteer-core (pinned in web/package.json).
//
// usage: node browser.mjs BUILD_DIR NPM_DIR ARTIFACT_DIR
//
// A demo producer fills hpx, hpxpy and hprof; `mapf serve` serves the file.
// The page opens /, the test clicks the three records in the tree, reads the
// histogram JSROOT drew back out of the page and compares its bins with
// `mapf get --json`, waits for the producer's next fills to show without a
// reload, counts drawn pixels in the frame, and saves a screenshot. No
// request may leave the server, no console error may appear.
import { spawn, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [buildDir, npmDir, artifactDir] = process.argv.slice(2).map((p) => p && path.resolve(p));
if (!buildDir || !npmDir || !artifactDir) {
  console.error('usage: node browser.mjs BUILD_DIR NPM_DIR ARTIFACT_DIR');
  process.exit(2);
}
const require = createRequire(path.join(npmDir, 'package.json'));
const puppeteer = require('puppeteer-core');

const mapf = path.join(buildDir, 'tools/mapf');
const demo = path.join(buildDir, 'tools/mapfile-demo');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mapf-browser-'));
const map = path.join(tmp, 'demo.map');
const children = [];
let passed = 0, failed = 0;

function check(ok, what, detail = '') {
  if (ok) { passed++; console.log(`ok: ${what}${detail ? ' (' + detail + ')' : ''}`); }
  else { failed++; console.log(`FAIL: ${what}${detail ? ': ' + detail : ''}`); }
  return ok;
}

function run(cmd, args) {
  const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(p);
  p.stderr.on('data', (d) => process.stderr.write(`[${path.basename(cmd)}] ${d}`));
  return p;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, fn, ms = 15000) {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function getJson(name) {
  return JSON.parse(execFileSync(mapf, ['get', '--json', map, name], { encoding: 'utf8' }));
}

let server = null;

async function startServer(listen) {
  server = run(mapf, ['serve', map, '--listen', listen]);
  let out = '';
  server.stdout.on('data', (d) => { out += d; });
  return until('the server URL', () => (out.match(/http:\/\/\S+/) || [])[0]);
}

async function main() {
  // 5 updates a second of 200 fills each: a steady stream, with quiet
  // windows long enough to compare the page with a fresh get.
  const producer = run(demo, ['produce', map, '--rate', '5', '--every', '200']);
  globalThis.producer = producer;
  await until('the producer to create the file', () => fs.existsSync(map));
  const url = await startServer('127.0.0.1:0');
  const origin = new URL(url).origin;
  console.log(`server at ${url}`);

  const profile = fs.mkdtempSync(path.join(tmp, 'chromium-'));
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    userDataDir: profile,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic',
           '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
  try {
    await testPage(browser, url, origin);
  } finally {
    await browser.close();
  }
}

async function testPage(browser, url, origin) {
  const producer = globalThis.producer;
  const page = await browser.newPage();
  await page.setViewport({ width: 1500, height: 820 });
  const foreign = [], consoleErrors = [], badResponses = [];
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin + '/') && !u.startsWith('data:')) foreign.push(u);
  });
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  page.on('response', (r) => { if (r.status() >= 400) badResponses.push(`${r.status()} ${r.url()}`); });

  await page.goto(url, { waitUntil: 'load' });
  await page.evaluate(() => { window.__sameDocument = true; });
  await page.waitForSelector('#tree .item[data-record="hpx"]', { timeout: 15000 });
  check(true, 'the tree lists hpx');
  const kinds = await page.$$eval('#tree .item', (els) =>
    els.map((e) => e.dataset.record + ':' + e.querySelector('.kind').textContent));
  check(['hpx:TH1D', 'hpxpy:TH2D', 'hprof:TProfile'].every((k) => kinds.includes(k)),
        'the tree shows each record with its ROOT class', kinds.join(' '));

  for (const name of ['hpx', 'hpxpy', 'hprof'])
    await page.click(`#tree .item[data-record="${name}"]`);
  await until('hpx to be drawn', () => page.evaluate(() => window.mapf.drawn('hpx') !== null));
  await until('all three to be drawn', () => page.evaluate(() =>
    ['hpxpy', 'hprof'].every((n) => window.mapf.drawn(n) !== null)));
  check(true, 'JSROOT drew hpx, hpxpy and hprof side by side');

  // Bins drawn == bins stored: hold the producer (SIGSTOP), let the page
  // catch up with the file, compare, let the producer go on.
  let compared;
  producer.kill('SIGSTOP');
  const ref = getJson('hpx');
  await until('the page to show the held file', () => page.evaluate(
    (n) => window.mapf.drawn('hpx').fEntries === n, ref.entries));
  {
    const drawn = await page.evaluate(() => {
      const o = window.mapf.drawn('hpx');
      return { entries: o.fEntries, bins: Array.from(o.fArray), typename: o._typename,
               sumw: o.fTsumw, sumwx: o.fTsumwx, nbins: o.fXaxis.fNbins };
    });
    compared = ref.entries === drawn.entries;
    check(drawn.typename === 'TH1D', 'hpx is drawn as a TH1D');
    check(drawn.nbins === ref.xaxis.nbins, 'drawn axis has the stored bin count');
    check(drawn.bins.length === ref.bins.length &&
          drawn.bins.every((v, k) => v === ref.bins[k]),
          'every drawn bin (with under- and overflow) equals mapf get --json',
          `drawn ${drawn.bins.slice(0, 8)} stored ${ref.bins.slice(0, 8)}`);
    check(drawn.sumw === ref.sumw && drawn.sumwx === ref.sumwx,
          'the drawn statistics sums equal the stored ones');
  }
  producer.kill('SIGCONT');
  check(compared, 'the page caught up with the held producer');

  // The stats box JSROOT draws shows the entries; a newer count must appear
  // without a reload.
  const statsEntries = () => page.evaluate(() => {
    const t = [...document.querySelectorAll('[data-record="hpx"] svg text')].map((e) => e.textContent);
    const i = t.findIndex((s) => s.trim() === 'Entries');
    return i >= 0 ? Number(t[i + 1]) : NaN;
  });
  const first = await until('the stats box', async () => { const v = await statsEntries(); return v > 0 && v; });
  const later = await until('a newer entry count in the stats box', async () => {
    const v = await statsEntries(); return v > first && v;
  });
  const same = await page.evaluate(() => window.__sameDocument === true);
  check(later > first && same, 'the stats box shows the new entries without a reload',
        `${first} -> ${later}`);
  const header = await page.$eval('#gen', (e) => Number(e.textContent));
  check(header > 0, 'the status line shows the generation', String(header));
  check((await page.$eval('#conn', (e) => e.textContent)) === 'live', 'the status line says live');

  // What a person sees: the histogram line is drawn (TAttLine present),
  // i.e. the frame holds pixels of the line colour.
  const panel = await page.$('[data-record="hpx"] .plot');
  const png = await panel.screenshot({ encoding: 'base64' });
  const blue = await page.evaluate(async (b64) => {
    const img = new Image();
    img.src = 'data:image/png;base64,' + b64;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width; c.height = img.height;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4)
      if (d[i + 2] > d[i] + 50 && d[i + 2] > d[i + 1] + 50) n++;
    return n;
  }, png);
  check(blue > 400, 'the hpx frame holds the histogram line (blue pixels)', `${blue} pixels`);

  fs.mkdirSync(artifactDir, { recursive: true });
  const shot = path.join(artifactDir, 'dashboard.png');
  await page.screenshot({ path: shot });
  check(fs.statSync(shot).size > 10000, `screenshot written to ${shot}`);

  // The server goes away and comes back on the same port: the page says
  // so, reconnects by itself and keeps drawing new fills.
  const connText = () => page.$eval('#conn', (e) => e.textContent);
  server.kill('SIGTERM');
  await until('the page to notice the server is gone', async () => (await connText()) !== 'live');
  check(true, `the status line shows the lost connection (${await connText()})`);
  const before = await page.evaluate(() => window.mapf.drawn('hpx').fEntries);
  await startServer(new URL(url).host);
  await until('the page to be live again', async () => (await connText()) === 'live', 20000);
  const after = await until('new entries after the reconnect', async () => {
    const v = await page.evaluate(() => window.mapf.drawn('hpx').fEntries);
    return v > before && v;
  }, 20000);
  check(await page.evaluate(() => window.__sameDocument === true),
        'after a server restart the page reconnects by itself and redraws',
        `${before} -> ${after}`);
  // The restart's 404s/connection errors are expected; nothing else.
  consoleErrors.splice(0, consoleErrors.length,
    ...consoleErrors.filter((e) => !/ERR_CONNECTION_REFUSED|EventSource|net::/.test(e)));

  check(foreign.length === 0, 'no request left the server', foreign.join(' '));
  check(consoleErrors.length === 0, 'no console errors', consoleErrors.join(' | '));
  check(badResponses.length === 0, 'no failed responses', badResponses.join(' '));
}

try {
  await main();
} catch (e) {
  failed++;
  console.log(`FAIL: ${e.stack || e}`);
} finally {
  for (const c of children) { c.kill('SIGCONT'); c.kill('SIGTERM'); }
  await sleep(200);
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
