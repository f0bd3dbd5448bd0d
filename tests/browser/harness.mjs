// What the dashboard test stands on: Debian's chromium driven by playwright-core
// (which never downloads a browser of its own), a client of the JSON API, waits
// that poll the DOM until a deadline (never a fixed sleep), and the artifacts
// folder that screenshots and failure dumps go to.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

/// How long any one wait for the page or the API lasts before the test fails,
/// as DEADLINE in tests/e2e/fixtures: a bound on a hang, not a timed assertion.
export const DEADLINE_MS = 30_000;

/// What the Rust side (tests/e2e/browser.rs) hands over in the environment.
export function settings() {
  const need = (name) => {
    const value = process.env[name];
    assert.ok(value, `${name} is not set: run this through tests/e2e/browser.rs`);
    return value;
  };
  return {
    base: need('SAVEPOINT_URL'),
    token: need('SAVEPOINT_TOKEN'),
    artifacts: need('SAVEPOINT_ARTIFACTS'),
    // When set: where the README's screenshot of the run page is written.
    screenshots: process.env.SAVEPOINT_SCREENSHOT_DIR || null,
    chromium: process.env.SAVEPOINT_CHROMIUM || '/usr/bin/chromium',
  };
}

/// Chromium as CI runs it: as root (so no sandbox), no GPU, and nothing that
/// talks to the network on its own (updates, sync, QUIC probes). playwright's
/// `launch` gives every browser a fresh, temporary user-data-dir, deleted on close.
export async function launch(executablePath) {
  return chromium.launch({
    executablePath,
    headless: true,
    timeout: DEADLINE_MS,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/// A browser context on the daemon: a fixed viewport (the screenshots are the
/// same size on every machine), with or without JavaScript.
export async function context(browser, base, javaScript) {
  const ctx = await browser.newContext({
    baseURL: base,
    viewport: { width: 1280, height: 860 },
    javaScriptEnabled: javaScript === 'with JavaScript',
  });
  ctx.setDefaultTimeout(DEADLINE_MS);
  ctx.setDefaultNavigationTimeout(DEADLINE_MS);
  return ctx;
}

/// The JSON API, with the bearer token (not the browser's cookie): what the
/// test does and checks behind the page's back.
export function api(base, token) {
  const call = async (method, path, body) => {
    const headers = { Authorization: `Bearer ${token}`, Accept: 'application/json' };
    const init = { method, headers };
    if (method !== 'GET') {
      headers['Content-Type'] = 'application/json';
      init.body = body === undefined ? '' : JSON.stringify(body);
    }
    const response = await fetch(new URL(path, base), init);
    const text = await response.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      // Not JSON: the assertion below shows the text.
    }
    return { status: response.status, json, text };
  };
  return {
    async get(path) {
      const answer = await call('GET', path);
      assert.equal(answer.status, 200, `GET ${path}: ${answer.text}`);
      return answer.json;
    },
    async post(path, body, expected = 200) {
      const answer = await call('POST', path, body);
      assert.equal(answer.status, expected, `POST ${path}: ${answer.text}`);
      return answer.json;
    },
    /// Every event of a run, oldest first (all pages of the JSON listing).
    async events(thread) {
      const entries = [];
      let cursor = null;
      do {
        const query = new URLSearchParams({ limit: '500' });
        if (cursor) query.set('cursor', cursor);
        const page = await this.get(`/runs/${encodeURIComponent(thread)}/events?${query}`);
        entries.push(...page.entries);
        cursor = page.next_cursor;
      } while (cursor);
      return entries;
    },
    /// Poll `GET path` until `done(json)` holds.
    async waitFor(path, what, done) {
      return until(what, async () => {
        const answer = await call('GET', path);
        const ok = answer.status === 200 && done(answer.json);
        return ok ? { value: answer.json } : { seen: `GET ${path}: ${answer.status} ${answer.text}` };
      });
    },
  };
}

/// Call `probe` every 50 ms until it returns `{value}`; after DEADLINE_MS fail,
/// naming `what` and the last thing seen (`{seen}`).
export async function until(what, probe) {
  const started = Date.now();
  for (;;) {
    const answer = await probe();
    if ('value' in answer) return answer.value;
    if (Date.now() - started > DEADLINE_MS) {
      assert.fail(`gave up after ${DEADLINE_MS} ms waiting for ${what}; last seen: ${answer.seen}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/// The text of an element with its whitespace folded to single spaces, so that
/// "completed 3" matches however the page lays the word and the number out.
export async function text(locator) {
  return ((await locator.innerText()) || '').replace(/\s+/g, ' ').trim();
}

/// Wait until the text of the first element matching `selector` satisfies
/// `pattern` (a RegExp), re-reading it as the page changes.
export async function waitForText(page, selector, pattern, what) {
  try {
    await page.waitForFunction(
      ([sel, source, flags]) => {
        const el = document.querySelector(sel);
        return !!el && new RegExp(source, flags).test(el.textContent.replace(/\s+/g, ' '));
      },
      [selector, pattern.source, pattern.flags],
      { timeout: DEADLINE_MS },
    );
  } catch (error) {
    const now = await page.locator(selector).first().textContent().catch(() => '(no such element)');
    throw new Error(`${what}: ${selector} never matched ${pattern}; it reads ${JSON.stringify(now)}`, {
      cause: error,
    });
  }
}

/// The section of the page whose heading is `name` (the innermost, when sections nest).
export function section(page, name) {
  return page
    .locator('section')
    .filter({ has: page.getByRole('heading', { name, exact: true }) })
    .last();
}

/// The artifacts folder: screenshots, and what the page was when a step failed.
export function artifacts(dir) {
  mkdirSync(dir, { recursive: true });
  return {
    dir,
    async screenshot(page, name) {
      const path = join(dir, name);
      await page.screenshot({ path });
      return path;
    },
    /// Save what a page showed when the test failed, for whoever fixes it.
    async failure(page, name) {
      try {
        await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
        writeFileSync(join(dir, `${name}.html`), await page.content());
        return `${page.url()} (saved as ${join(dir, name)}.png and .html)`;
      } catch (error) {
        return `${page.url()} (could not save it: ${error.message})`;
      }
    },
  };
}
