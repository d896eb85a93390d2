// The crawl benchmark's peer: Crawlee's PlaywrightCrawler doing the same work as Harvester on the demo site, with the
// same Chromium, flags, page concurrency, download concurrency, caps and resource blocking.
//   --layout classic: search URL → result list in an iframe → place → photo tab → lazy grid → full-size photos
//   --layout paged:   search page, typed query, button → numbered result pages replaced in place (waiting until the
//                     list changed) → place → CSS background-image gallery grown by its 더보기 button → full-size photos
// Usage: node crawlee-crawl.mjs --layout classic|paged --base URL --queries "q1|q2" --places N --photos N --pages 3 --downloads 8 --out DIR
import { PlaywrightCrawler, BasicCrawler, Configuration, RequestQueue, log } from 'crawlee';
import { chromium } from 'playwright-core';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const arg = (name, def) => { const i = process.argv.indexOf('--' + name); return i > 0 ? process.argv[i + 1] : def; };
const layout = arg('layout', 'classic');
const base = arg('base');
const queries = arg('queries').split('|');
const placesCap = +arg('places', 20), photosCap = +arg('photos', 10);
const pages = +arg('pages', 3), downloads = +arg('downloads', 8);
const out = arg('out', '/tmp/crawlee-out');
const idle = 3000;
mkdirSync(out, { recursive: true });
log.setLevel(log.LEVELS.WARNING);
const config = new Configuration({ persistStorage: false, purgeOnStart: true });

const photoQueue = await RequestQueue.open('photos-' + Date.now(), { config });
let stored = 0, failed = 0, places = 0;

const unwrap = (raw, pageUrl) => {
  let u = new URL(raw, pageUrl);
  const inner = u.searchParams.get('src');
  if (inner) u = new URL(inner, u);
  for (const p of ['type', 'w', 'h', 's']) u.searchParams.delete(p);
  u.search = u.searchParams.toString();
  return u.href;
};
const cssUrl = style => { const m = /url\(\s*(['"]?)(.*?)\1\s*\)/.exec(style || ''); return m ? m[2] : null; };

// Paged layout: the result pages replace the list in place, so each click waits until the list shows another page.
async function pagedSearch(page, query) {
  await page.fill('#q', query);
  await page.click('button.search-btn');
  const links = new Map();
  for (;;) {
    const items = page.locator('#results li.result');
    await items.first().waitFor({ state: 'attached', timeout: 20000 });
    for (const h of await items.evaluateAll(els => els.map(e => e.querySelector('a.name')?.href).filter(Boolean))) links.set(h, { key: h });
    if (links.size >= placesCap) break;
    const next = page.locator('nav.pager button.next:not([disabled])');
    if (await next.count() === 0) break;
    const first = await items.first().getAttribute('data-id');
    await next.click();
    await page.waitForFunction(f => { const e = document.querySelector('#results li.result'); return e && e.dataset.id !== f; }, first, { timeout: 20000 });
  }
  return [...links.values()].slice(0, placesCap);
}

// Paged layout: the gallery grows by its 더보기 button until the cap or until the button is gone.
async function pagedPhotos(page) {
  const cells = page.locator('.gallery .cell .ph');
  await cells.first().or(page.locator('p.no-photo:not([hidden])')).waitFor({ state: 'attached', timeout: idle });
  for (;;) {
    const n = await cells.count();
    const more = page.locator('button.more');
    if (n >= photosCap || !(await more.isVisible())) break;
    await more.click();
    try { await page.waitForFunction(n => document.querySelectorAll('.gallery .cell .ph').length > n, n, { timeout: idle }); } catch { break; }
  }
  const styles = await cells.evaluateAll(els => els.map(e => e.getAttribute('style')));
  return styles.map(cssUrl).filter(v => v && !v.endsWith('.svg')).map(v => ({ key: unwrap(v, page.url()) })).slice(0, photosCap);
}

async function scrollCollect(read, scroll, cap, endLocator) {
  const seen = new Map();
  let lastGrowth = Date.now();
  for (;;) {
    for (const x of await read()) if (!seen.has(x.key)) { seen.set(x.key, x); lastGrowth = Date.now(); }
    if (seen.size >= cap || Date.now() - lastGrowth > idle) break;
    if (endLocator && await endLocator.count() > 0) { for (const x of await read()) if (!seen.has(x.key)) seen.set(x.key, x); break; }
    await scroll();
    await new Promise(r => setTimeout(r, 150));
  }
  return [...seen.values()].slice(0, cap);
}

const pageCrawler = new PlaywrightCrawler({
  maxConcurrency: pages,
  minConcurrency: pages,
  maxRequestRetries: 3,
  requestHandlerTimeoutSecs: 120,
  navigationTimeoutSecs: 20,
  launchContext: {
    launcher: chromium,
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
             '--disable-sync', '--no-first-run', '--disable-quic', '--disable-dev-shm-usage',
             // Harvester launches with this when it blocks page resources (its default); the peer gets the same flag.
             '--blink-settings=imagesEnabled=false'],
    },
  },
  browserPoolOptions: { maxOpenPagesPerBrowser: pages, retireBrowserAfterPageCount: 1000 },
  preNavigationHooks: [async ({ page }) => {
    await page.route('**/*', r => ['image', 'media', 'font'].includes(r.request().resourceType()) ? r.abort() : r.continue());
  }],
  async requestHandler({ page, request, crawler }) {
    if (request.label === 'SEARCH' && layout === 'paged') {
      const links = await pagedSearch(page, request.userData.query);
      await crawler.addRequests(links.map(l => ({ url: l.key, label: 'PLACE' })));
    } else if (request.label === 'SEARCH') {
      const frame = page.frameLocator('iframe#searchIframe');
      await frame.locator('li.place-item, .no-results').first().waitFor({ state: 'attached', timeout: 20000 });
      const items = frame.locator('li.place-item');
      const links = await scrollCollect(
        async () => (await items.evaluateAll(els => els.map(e => e.querySelector('a.place-link')?.href).filter(Boolean))).map(h => ({ key: h })),
        async () => frame.locator('#list-scroll').first().evaluate(el => el.scrollTo(0, el.scrollHeight)),
        placesCap, frame.locator('.list-end'));
      await crawler.addRequests(links.map(l => ({ url: l.key, label: 'PLACE' })));
    } else if (layout === 'paged') {
      places++;
      for (const p of await pagedPhotos(page)) await photoQueue.addRequest({ url: p.key, uniqueKey: p.key });
    } else {
      places++;
      const tab = page.locator("a[role=tab][href*='/photo']").first();
      await tab.waitFor({ state: 'attached', timeout: 20000 });
      await page.goto(new URL(await tab.getAttribute('href'), page.url()).href, { waitUntil: 'domcontentloaded' });
      const imgs = page.locator('#photo-grid .photo-item img');
      const photos = await scrollCollect(
        async () => (await imgs.evaluateAll(els => els.map(e => e.getAttribute('data-src') || e.getAttribute('src')).filter(v => v && !v.startsWith('data:'))))
          .map(v => ({ key: unwrap(v, page.url()) })),
        async () => page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight)),
        photosCap, page.locator('.photo-empty'));
      for (const p of photos) await photoQueue.addRequest({ url: p.key, uniqueKey: p.key });
    }
  },
  failedRequestHandler() { failed++; },
}, config);

let pagesDone = false;
const downloader = new BasicCrawler({
  requestQueue: photoQueue,
  maxConcurrency: downloads,
  minConcurrency: downloads,
  maxRequestRetries: 3,
  keepAlive: true,
  async requestHandler({ request, sendRequest }) {
    const res = await sendRequest({ responseType: 'buffer', timeout: { request: 20000 } });
    const body = res.body;
    if (body.length > 20 * 1024 * 1024) throw new Error('over size cap');
    const isImage = (body[0] === 0xFF && body[1] === 0xD8) || (body[0] === 0x89 && body[1] === 0x50) || body.subarray(8, 12).toString() === 'WEBP';
    if (!isImage) { request.noRetry = true; throw new Error('not an image'); }
    writeFileSync(join(out, createHash('sha256').update(body).digest('hex')), body);
    stored++;
  },
  failedRequestHandler() { failed++; },
}, config);

const started = Date.now();
const dl = downloader.run();
await pageCrawler.run(queries.map(q => layout === 'paged'
  ? { url: `${base}/paged/`, label: 'SEARCH', uniqueKey: 'search:' + q, userData: { query: q } }
  : { url: `${base}/map/search/${encodeURIComponent(q)}`, label: 'SEARCH', uniqueKey: 'search:' + q }));
pagesDone = true;
while (!(await photoQueue.isFinished())) await new Promise(r => setTimeout(r, 200));
downloader.autoscaledPool?.abort();
await dl.catch(() => {});
const seconds = (Date.now() - started) / 1000;
console.log(JSON.stringify({ places, stored, failed, seconds, pagesDone }));
process.exit(0);
