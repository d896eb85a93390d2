// The crawl benchmark's peer: Crawlee's PlaywrightCrawler doing the same work as Harvester on the demo site
// (search → result list in an iframe → place → photo tab → lazy grid → download full-size photos), with the same
// Chromium, flags, page concurrency, download concurrency, caps and resource blocking.
// Usage: node crawlee-crawl.mjs --base URL --queries "q1|q2" --places N --photos N --pages 3 --downloads 8 --out DIR
import { PlaywrightCrawler, BasicCrawler, Configuration, RequestQueue, log } from 'crawlee';
import { chromium } from 'playwright-core';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const arg = (name, def) => { const i = process.argv.indexOf('--' + name); return i > 0 ? process.argv[i + 1] : def; };
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
  for (const p of ['type', 'w', 'h']) u.searchParams.delete(p);
  return u.href;
};

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
             '--disable-sync', '--no-first-run', '--disable-quic', '--disable-dev-shm-usage'],
    },
  },
  browserPoolOptions: { maxOpenPagesPerBrowser: pages, retireBrowserAfterPageCount: 1000 },
  preNavigationHooks: [async ({ page }) => {
    await page.route('**/*', r => ['image', 'media', 'font'].includes(r.request().resourceType()) ? r.abort() : r.continue());
  }],
  async requestHandler({ page, request, crawler }) {
    if (request.label === 'SEARCH') {
      const frame = page.frameLocator('iframe#searchIframe');
      await frame.locator('li.place-item, .no-results').first().waitFor({ state: 'attached', timeout: 20000 });
      const items = frame.locator('li.place-item');
      const links = await scrollCollect(
        async () => (await items.evaluateAll(els => els.map(e => e.querySelector('a.place-link')?.href).filter(Boolean))).map(h => ({ key: h })),
        async () => frame.locator('#list-scroll').first().evaluate(el => el.scrollTo(0, el.scrollHeight)),
        placesCap, frame.locator('.list-end'));
      await crawler.addRequests(links.map(l => ({ url: l.key, label: 'PLACE' })));
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
await pageCrawler.run(queries.map(q => ({ url: `${base}/map/search/${encodeURIComponent(q)}`, label: 'SEARCH', uniqueKey: 'search:' + q })));
pagesDone = true;
while (!(await photoQueue.isFinished())) await new Promise(r => setTimeout(r, 200));
downloader.autoscaledPool?.abort();
await dl.catch(() => {});
const seconds = (Date.now() - started) / 1000;
console.log(JSON.stringify({ places, stored, failed, seconds, pagesDone }));
process.exit(0);
