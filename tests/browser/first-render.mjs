// Measure a dashboard page in Chromium: the time to first contentful paint and
// the page's weight (HTML, CSS, JS as transferred), the median of several loads.
// A measurement, not a test: nothing here passes or fails on a number.
//
//   node tests/browser/first-render.mjs http://127.0.0.1:7878 [PATH ...] [--token T] [--loads N]
//
// PATH defaults to `/` (the runs list). With a token (or SAVEPOINT_TOKEN) it logs
// in through /login first. Prints one JSON object per path on stdout.

import { context, launch } from './harness.mjs';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  if (at < 0) return fallback;
  const [, value] = args.splice(at, 2);
  return value;
};
const token = option('--token', process.env.SAVEPOINT_TOKEN || '');
const loads = Number(option('--loads', '5'));
const [base, ...paths] = args;
if (!base || !Number.isInteger(loads) || loads < 1) {
  console.error('usage: first-render.mjs BASE_URL [PATH ...] [--token T] [--loads N]');
  process.exit(2);
}

const browser = await launch(process.env.SAVEPOINT_CHROMIUM || '/usr/bin/chromium');
try {
  const ctx = await context(browser, base, 'with JavaScript');
  if (token) {
    const login = await ctx.newPage();
    await login.goto('/login');
    await login.getByLabel('Token', { exact: true }).fill(token);
    await login.getByRole('button', { name: 'Log in', exact: true }).click();
    await login.waitForURL((url) => url.pathname !== '/login');
    await login.close();
  }
  for (const path of paths.length ? paths : ['/']) {
    const samples = [];
    for (let i = 0; i < loads; i += 1) samples.push(await measure(ctx, path));
    const median = (key) => {
      const sorted = samples.map((s) => s[key]).sort((a, b) => a - b);
      const middle = sorted[Math.floor(sorted.length / 2)];
      return middle === null ? null : Math.round(middle * 10) / 10;
    };
    console.log(
      JSON.stringify({
        path,
        loads,
        first_contentful_paint_ms: median('fcp'),
        dom_content_loaded_ms: median('dcl'),
        kib: samples[0].kib,
      }),
    );
  }
} finally {
  await browser.close();
}

/// One load of `path` in a fresh page (the HTTP cache kept: CSS and JS come from
/// it after the first load, as for a user who comes back).
async function measure(ctx, path) {
  const page = await ctx.newPage();
  await page.goto(path, { waitUntil: 'load' });
  // Chromium records the paint entry a frame or so after it paints, which may be
  // after 'load': wait for it (a page that never paints gives null after a while).
  await page
    .waitForFunction(() => performance.getEntriesByName('first-contentful-paint').length > 0, null, {
      timeout: 5_000,
    })
    .catch(() => {});
  const numbers = await page.evaluate(() => {
    const [nav] = performance.getEntriesByType('navigation');
    const paint = performance.getEntriesByName('first-contentful-paint')[0];
    const kib = { html: nav.encodedBodySize / 1024, css: 0, js: 0, other: 0 };
    for (const r of performance.getEntriesByType('resource')) {
      const kind = r.name.endsWith('.css') ? 'css' : r.name.endsWith('.js') ? 'js' : 'other';
      // encodedBodySize is the body's size on the wire (0 only for cross-origin).
      kib[kind] += r.encodedBodySize / 1024;
    }
    kib.total = kib.html + kib.css + kib.js + kib.other;
    for (const key of Object.keys(kib)) kib[key] = Math.round(kib[key] * 10) / 10;
    return { fcp: paint ? paint.startTime : null, dcl: nav.domContentLoadedEventEnd, kib };
  });
  await page.close();
  return numbers;
}
