// The dashboard in real Chromium, against a real `savepoint serve` with a token
// (started by tests/e2e/browser.rs, whose workflows folder holds
// examples/workflows/approval.toml): log in; start a run whose second node
// interrupts; see the graph and the run's position move without a reload; answer
// the interrupt through the form (an invalid JSON first: an alert, and nothing
// sent), by keyboard alone; watch the run complete; fork it at step 1 from the run
// page; filter the runs list to the fork; read a run with JavaScript off.
// Screenshots go to $SAVEPOINT_ARTIFACTS; the README's to $SAVEPOINT_SCREENSHOT_DIR.
//
// The page is found by what a person (or a screen reader) sees: labels, button
// names, headings; the few ids and data attributes are the DOM contract of the
// dashboard (/work/helpers/COMMON.md of issue 16, host/server/src/dashboard/).

import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

import { api, artifacts, context, launch, section, settings, text, until, waitForText } from './harness.mjs';

const RUN = 'hello-post';
// The fork's thread starts with the run's: the Thread filter `hello-post-` must
// keep the fork and drop its source.
const FORK = 'hello-post-fork';
const THREAD_FILTER = 'hello-post-';

const config = settings();
const server = api(config.base, config.token);
const saved = artifacts(config.artifacts);
const browser = await launch(config.chromium);
let page = null;
const errors = [];
let runningStep = 'starting chromium';

try {
  const ctx = await context(browser, config.base, 'with JavaScript');
  page = await ctx.newPage();
  // An exception in the dashboard's script fails the test, whatever the page shows.
  page.on('pageerror', (error) => errors.push(error));
  const answersSent = [];
  page.on('request', (request) => {
    if (request.method() === 'POST' && /\/runs\/[^/]+\/resume$/.test(new URL(request.url()).pathname)) {
      answersSent.push(request.postData());
    }
  });

  // The event streams the page follows (EventSource), and what each answered:
  // the live updates must come from Server-Sent Events, not from polling.
  const streams = [];
  page.on('response', (response) => {
    if (response.request().resourceType() === 'eventsource') {
      streams.push({ path: new URL(response.url()).pathname, type: response.headers()['content-type'] });
    }
  });

  await step('1. log in with the token', () => logIn(page, '/'));
  await step('2. start the approval workflow', () =>
    server.post('/runs', { workflow: 'approval', thread: RUN, input: { title: 'Hello, world' } }, 201),
  );
  await step('3. the run page: the graph, and the run parked at review', async () => {
    await page.goto(`/ui/runs/${RUN}`);
    await runPage(page, RUN);
    await currentNode(page, 'review');
    await waitForText(page, '#run-status', /interrupted/, 'the run parks at review');
    await page.getByText('Current: review (interrupted)').first().waitFor();
    // Set on this document: a reload or a navigation would lose it.
    await page.evaluate(() => {
      window.savepointNotReloaded = true;
    });
    await saved.screenshot(page, 'run-interrupted.png');
  });
  if (config.screenshots) {
    mkdirSync(config.screenshots, { recursive: true });
    copyFileSync(join(saved.dir, 'run-interrupted.png'), join(config.screenshots, 'dashboard-run.png'));
  }

  await step('4a. an answer that is not JSON: an alert, and nothing sent', async () => {
    const answer = page.getByLabel('Answer (JSON)', { exact: true });
    await answer.fill('{"approved": tru');
    await page.getByRole('button', { name: 'Send answer', exact: true }).click();
    const alert = page.getByRole('alert');
    await alert.first().waitFor();
    assert.notEqual(await text(alert.first()), '', 'the alert says what is wrong');
    assert.deepEqual(answersSent, [], 'invalid JSON is not sent');
    const kinds = (await server.events(RUN)).map((e) => e.event);
    assert.ok(!kinds.includes('answered'), `no answer reached the run: ${kinds}`);
  });

  await step('4b. an answer that does not fit: review asks again, the events grow live', async () => {
    const events = section(page, 'Events');
    const before = await text(events);
    const answer = page.getByLabel('Answer (JSON)', { exact: true });
    await answer.fill('{"approved": "yes"}');
    await page.getByRole('button', { name: 'Send answer', exact: true }).click();
    await server.waitFor(`/runs/${RUN}/events?limit=500`, 'review to ask again', (pageOf) => {
      const kinds = pageOf.entries.map((e) => e.event);
      return kinds.includes('answered') && kinds.lastIndexOf('interrupted') > kinds.indexOf('answered');
    });
    await until('the new events on the page, without a reload', async () => {
      const now = await text(events);
      return now !== before ? { value: now } : { seen: now };
    });
    await waitForText(page, '#run-status', /interrupted/, 'the run parks again');
  });

  await step('4c. the answer by keyboard alone, and the run completes live', async () => {
    const answer = page.getByLabel('Answer (JSON)', { exact: true });
    const send = page.getByRole('button', { name: 'Send answer', exact: true });
    // From the top of the page, as someone without a mouse starts.
    await page.evaluate(() => document.activeElement?.blur());
    await tabTo(page, answer, 'the Answer (JSON) field');
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.type('{"approved": true, "comment": "ship it"}');
    await tabTo(page, send, 'the Send answer button');
    await page.keyboard.press('Enter');
    await waitForText(page, '#run-status', /completed/, 'the run completes');
    await page.waitForFunction(() => !document.querySelector('#graph g[data-node="review"].current'));
    assert.equal(await page.evaluate(() => window.savepointNotReloaded), true, 'the page was not reloaded');
    const state = await server.get(`/runs/${RUN}/state`);
    assert.deepEqual(state.trace, ['draft', 'publish'], JSON.stringify(state));
    assert.equal(state.approved, true, JSON.stringify(state));
    assert.equal(answersSent.length, 2, `two answers sent: ${answersSent}`);
    const runStream = streams.find((s) => s.path === `/runs/${RUN}/events`);
    assert.ok(runStream, `the page follows the run's event stream: ${JSON.stringify(streams)}`);
    assert.match(runStream.type ?? '', /^text\/event-stream/, "the run's events come as Server-Sent Events");
    await saved.screenshot(page, 'run-completed.png');
  });

  await step('5. fork at step 1 from the run page', async () => {
    await page.getByLabel('Fork at step', { exact: true }).fill('1');
    await page.getByLabel('New thread', { exact: true }).fill(FORK);
    await page.getByRole('button', { name: 'Fork', exact: true }).click();
    await page.waitForURL((url) => url.pathname === `/ui/runs/${FORK}`);
    await runPage(page, FORK);
    // The fork starts after `draft`: it runs `review` again, which asks again.
    await waitForText(page, '#run-status', /interrupted/, 'the fork parks at review');
    await currentNode(page, 'review');
    const fork = await server.get(`/runs/${FORK}`);
    assert.equal(fork.status, 'interrupted', JSON.stringify(fork));
  });

  await step('6. the runs list, filtered to the fork by thread', async () => {
    await page.goto('/');
    await page.getByRole('heading', { name: 'Runs', exact: true, level: 1 }).waitFor();
    // The counts per status, as words (not colour): the run and its fork.
    await page.getByText('completed 1', { exact: true }).first().waitFor();
    await page.getByText('interrupted 1', { exact: true }).first().waitFor();
    await threadLink(page, RUN).waitFor();
    await threadLink(page, FORK).waitFor();
    for (const label of ['Status', 'Workflow', 'Tag']) {
      await page.getByLabel(label, { exact: true }).waitFor();
    }
    await page.getByLabel('Thread', { exact: true }).fill(THREAD_FILTER);
    await page.getByRole('button', { name: 'Filter', exact: true }).click();
    await page.waitForURL((url) => url.searchParams.get('thread') === THREAD_FILTER);
    await threadLink(page, FORK).waitFor();
    assert.equal(await threadLink(page, RUN).count(), 0, `${RUN} does not start with ${THREAD_FILTER}`);
    await saved.screenshot(page, 'runs-filtered.png');
  });

  await step('7. without JavaScript: log in, and read the run', async () => {
    const plain = await context(browser, config.base, 'without JavaScript');
    const reader = await plain.newPage();
    try {
      await logIn(reader, `/ui/runs/${RUN}`);
      await runPage(reader, RUN);
      await waitForText(reader, '#run-status', /completed/, 'the status, served as HTML');
      const history = await text(section(reader, 'History'));
      for (const node of ['draft', 'review', 'publish']) {
        assert.ok(history.includes(node), `History names ${node}: ${history}`);
      }
      await saved.screenshot(reader, 'run-without-javascript.png');
    } catch (error) {
      console.error(`  page without JavaScript: ${await saved.failure(reader, 'failure-without-javascript')}`);
      throw error;
    } finally {
      await plain.close();
    }
  });

  assert.deepEqual(errors.map(String), [], 'no script error on any page');
  console.log(`screenshots in ${saved.dir}`);
} catch (error) {
  // The step and the page first: the stack (with assert's diff) after them.
  console.error(`FAILED at step ${runningStep}: ${error.message}`);
  if (page) console.error(`  page: ${await saved.failure(page, 'failure')}`);
  if (errors.length) console.error(`  script errors on the page: ${errors.map(String).join('; ')}`);
  console.error(error);
  process.exitCode = 1;
} finally {
  await browser.close();
}

/// Run one step of the test, naming it in the output (and in its failure, above).
async function step(name, body) {
  runningStep = name;
  await body();
  console.log(`ok ${name}`);
}

/// Open `path` unauthenticated: the dashboard sends the browser to its login page
/// (303 to /login?next=PATH); a wrong token is refused there; log in with the
/// token, and land back on `path`.
async function logIn(tab, path) {
  const first = await tab.goto(path);
  const url = new URL(tab.url());
  assert.equal(url.pathname, '/login', `${path} without a session goes to the login page`);
  assert.equal(url.searchParams.get('next'), path, 'the login page knows where to go back');
  const redirect = first.request().redirectedFrom();
  assert.ok(redirect, `${path} answered ${first.status()} at ${tab.url()} instead of a redirect`);
  assert.equal((await redirect.response()).status(), 303);
  const token = tab.getByLabel('Token', { exact: true });
  const logInButton = tab.getByRole('button', { name: 'Log in', exact: true });
  // A wrong token first: the page says so (role=alert) and no cookie is set.
  await token.fill(`${config.token}-wrong`);
  await logInButton.click();
  await tab.getByRole('alert').first().waitFor();
  assert.equal(new URL(tab.url()).pathname, '/login', 'a wrong token stays on the login page');
  assert.ok(
    !(await tab.context().cookies()).some((c) => c.name === 'savepoint_session'),
    'a wrong token gets no session cookie',
  );
  await token.fill(config.token);
  await logInButton.click();
  await tab.waitForURL((to) => to.pathname === path);
  const cookies = await tab.context().cookies();
  const session = cookies.find((c) => c.name === 'savepoint_session');
  assert.ok(session, `a session cookie: ${JSON.stringify(cookies)}`);
  assert.equal(session.httpOnly, true, 'the session cookie is HttpOnly');
  assert.equal(session.sameSite, 'Strict', 'the session cookie is SameSite=Strict');
}

/// What every run page shows: its thread, its status, the graph of the approval
/// workflow, and its sections.
async function runPage(tab, thread) {
  await tab.getByRole('heading', { level: 1 }).filter({ hasText: thread }).first().waitFor();
  await tab.locator('#run-status').waitFor();
  await tab.locator('figure#graph svg').waitFor();
  for (const node of ['draft', 'review', 'publish']) {
    await tab.locator(`figure#graph g[data-node="${node}"]`).waitFor();
  }
  for (const name of ['History', 'Events', 'Logs', 'Pinned components', 'Actions']) {
    await tab.getByRole('heading', { name, exact: true }).waitFor();
  }
}

/// Wait until `node` is the graph's current node: class `current` and
/// `aria-current="step"` (so the highlight is not colour alone).
async function currentNode(tab, node) {
  const current = tab.locator(`figure#graph g[data-node="${node}"].current`);
  await current.waitFor();
  assert.equal(await current.getAttribute('aria-current'), 'step', `${node} is aria-current`);
}

/// The runs list's link to a thread (its text is the thread id).
function threadLink(tab, thread) {
  return tab.getByRole('link', { name: thread, exact: true });
}

/// Press Tab until `target` has the focus; fails after as many presses as the
/// page has focusable elements (then it cannot be reached by keyboard).
async function tabTo(tab, target, what) {
  const reachable = await tab.evaluate(
    () => document.querySelectorAll('a[href], button, input, select, textarea, summary, [tabindex]').length,
  );
  for (let presses = 0; presses <= reachable + 1; presses += 1) {
    if (await target.evaluate((el) => el === document.activeElement)) return;
    await tab.keyboard.press('Tab');
  }
  const focused = await tab.evaluate(() => document.activeElement?.outerHTML.slice(0, 200));
  assert.fail(`${what} is not reached by Tab (${reachable} focusable elements); focus is on ${focused}`);
}
