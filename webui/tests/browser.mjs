// The web UI in a real browser (Debian's chromium through playwright-core) against the
// real cats-cpe: driven by tests/lab/test_webui.py, which runs this inside a lab client's
// network namespace. Input (JSON on stdin):
//   {base, setup_url, spki, admin: {user, password}, viewer: {user, password},
//    wans: [..], vcpes: [..], instances: ["vcpe|service|", ..], service: id,
//    shots: dir|null, chromium: path}
// Asks the test for a lab action with a line {"ask": action, ...} on stdout and waits for
// the answer line on stdin (the lab's impairments are the host's to change).
// Prints one JSON line of results and measurements; exit 1 with {"error"} on a failure.
// Every wait has a deadline (waitFor*/timeout); nothing sleeps a fixed time.
import { chromium } from 'playwright-core';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const stdinReader = createInterface({ input: process.stdin });
const stdinLines = stdinReader[Symbol.asyncIterator]();
const input = JSON.parse((await stdinLines.next()).value);
async function ask(action, args = {}) {
  console.log(JSON.stringify({ ask: action, ...args }));
  const r = await stdinLines.next();
  if (r.done) throw new Error(`no answer to ${action}`);
  const a = JSON.parse(r.value);
  if (a.error) throw new Error(`${action}: ${a.error}`);
  return a;
}

// axe-core (npm, lockfile) in the page: every serious or critical violation, by page.
// Evaluated through the DevTools protocol, which the page's CSP (no inline script) does
// not govern; the app itself still runs under it.
const axeSource = readFileSync(new URL('../node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');
async function axeOn(page, name) {
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.evaluate(axeSource);
  const v = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations
    .filter((x) => x.impact === 'serious' || x.impact === 'critical')
    .map((x) => ({ id: x.id, impact: x.impact, help: x.help, nodes: x.nodes.slice(0, 4).map((n) => n.target.join(' ')) })));
  (out.axe ??= {})[name] = v;
}

// Raw public keys as a vCPE would print them (cats-vcpe pubkey [--report]).
const rawPublic = (type) => generateKeyPairSync(type).publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64');
const out = { steps: [] };
const step = (name, extra = {}) => {
  out.steps.push({ name, t_ms: Math.round(performance.now()), ...extra });
  process.stderr.write(`  browser: ${name} (${(performance.now() / 1000).toFixed(1)} s)\n`);
};
const kWait = 20_000;

const browser = await chromium.launch({
  executablePath: input.chromium || '/usr/bin/chromium',
  headless: true,
  // Root in a lab namespace: no setuid sandbox. The self-signed certificate is pinned by
  // its public key (SPKI SHA-256), not waved through.
  args: ['--no-sandbox', `--ignore-certificate-errors-spki-list=${input.spki}`, '--disable-gpu', '--no-first-run'],
});

const problems = [];
// For a failure's report: what went wrong on the wire and in the console (bounded).
const diag = [];
const note = (s) => diag.length < 60 && diag.push(s);
function watch(page, who) {
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content.Security.Policy|Refused to/i.test(m.text())) problems.push(`${who}: ${m.text()}`);
    if (m.type() === 'error') note(`${who} console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`${who}: page error: ${e.message}`));
  page.on('requestfailed', (r) => note(`${who} failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => {
    if (r.status() >= 400 && !r.url().includes('/api/v1/stream')) note(`${who} ${r.status()}: ${r.request().method()} ${r.url()}`);
    // What the pages ask GET /api/v1/events for, and the kinds they get (filtered in SQL).
    if (r.url().includes('/api/v1/events?') && r.status() === 200) {
      const entry = { page: new URL(page.url()).pathname, query: new URL(r.url()).search, kinds: null };
      eventReads.push(entry);
      r.json().then((evs) => { entry.kinds = [...new Set(evs.map((e) => e.kind))].sort(); }, () => {});
    }
  });
}
const eventReads = [];

async function newPage(storageState) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, storageState });
  // When each path's last `paths` stream message arrived (page time), recorded before the
  // app's own listener runs: the live charts' delay is measured from it. Installed through
  // the DevTools protocol, which the page's CSP does not govern.
  await ctx.addInitScript(() => {
    const ES = window.EventSource;
    if (!ES) return;
    window.catsSseAt = {};
    window.EventSource = class extends ES {
      constructor(...a) {
        super(...a);
        window.catsES = this; // the newest: a test can dispatch a contract-shaped message on it
        super.addEventListener('paths', (e) => {
          try {
            const p = JSON.parse(e.data);
            window.catsSseAt[`${p.wan}|${p.vcpe}`] = performance.now();
          } catch { /* not a sample */ }
        });
      }
    };
  });
  const page = await ctx.newPage();
  watch(page, 'page');
  return { ctx, page };
}

async function shot(page, name, fullPage = true) {
  if (!input.shots) return;
  mkdirSync(input.shots, { recursive: true });
  await page.screenshot({ path: `${input.shots}/${name}.png`, fullPage });
}

// Two animation frames: the ResizeObservers (the charts' widths) have run after a resize.
const frames = (page) => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
const overflowX = (page) => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);

// A page at both sizes: screenshots, and how far it scrolls sideways at each (<= 0: not at all).
async function bothSizes(page, name) {
  await frames(page);
  const o = { w1280: await overflowX(page) };
  await shot(page, `${name}-1280x800`);
  await page.setViewportSize({ width: 768, height: 1024 });
  await frames(page);
  o.w768 = await overflowX(page);
  await shot(page, `${name}-768x1024`);
  await page.setViewportSize({ width: 1280, height: 800 });
  (out.overflow ??= {})[name] = o;
}

// Keyboard reachability: every visible control (link, button, input, select, textarea,
// tabindex >= 0) gets the focus by Tab alone from the top of the page; a radio group is
// one tab stop (arrows move within it).
async function keyboardReach(page) {
  const n = await page.evaluate(() => {
    const sel = 'a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), select:not([disabled]), '
      + 'textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';
    const els = [...document.querySelectorAll(sel)].filter((e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden');
    els.forEach((e, i) => e.setAttribute('data-kbd', String(i)));
    window.catsKbd = new Set();
    if (!window.catsKbdHook) {
      window.catsKbdHook = true;
      document.addEventListener('focusin', (ev) => {
        const k = ev.target?.getAttribute?.('data-kbd');
        if (k !== null && k !== undefined) window.catsKbd.add(k);
      });
    }
    document.activeElement?.blur?.();
    return els.length;
  });
  // A click in the page's top-left margin (outside the header): Tab starts from the top.
  await page.mouse.click(2, 2);
  // Until every control has had the focus (at most 400 presses): a live re-render (the
  // history list after a revert) can drop the focus to the body, and Tab starts again
  // from the top, so n + 10 presses are not always enough to go round once.
  for (let i = 0; i < 400; i++) {
    await page.keyboard.press('Tab');
    if (i >= n && i % 10 === 0 && await page.evaluate((m) => window.catsKbd.size >= m, n)) break;
  }
  return page.evaluate(() => {
    const els = [...document.querySelectorAll('[data-kbd]')];
    const reached = (e) => window.catsKbd.has(e.getAttribute('data-kbd'));
    const missed = els.filter((e) => !reached(e))
      .filter((e) => !(e.type === 'radio' && els.some((o) => o.type === 'radio' && o.name === e.name && reached(o))));
    const r = { controls: els.length, reached: els.filter(reached).length, missed: missed.slice(0, 10).map((e) => e.outerHTML.slice(0, 140)) };
    els.forEach((e) => e.removeAttribute('data-kbd'));
    document.activeElement?.blur?.();
    return r;
  });
}

// State not carried by colour alone: each coloured node of the topology writes its state
// in its visible text (not only in its tooltip), each chip and notification has text.
async function colourNotAlone(page) {
  return page.evaluate(() => {
    const bad = [];
    let checked = 0;
    for (const n of document.querySelectorAll('[data-node][data-state]')) {
      const st = n.getAttribute('data-state');
      if (st === 'neutral') continue;
      checked++;
      const visible = [...n.querySelectorAll('text')].map((t) => t.textContent).join(' ');
      if (!visible.includes(st)) bad.push(`node ${n.getAttribute('data-node')} is ${st} but says "${visible}"`);
    }
    for (const c of document.querySelectorAll('.chip, [data-toast]')) {
      checked++;
      if (!c.textContent.trim()) bad.push(`${c.className}: no text`);
    }
    return { checked, bad };
  });
}

// Waits until every named topology node shows state up (text and attribute agree).
async function topologyUp(page, ids) {
  await page.waitForFunction(
    (ids) => ids.every((id) => document.querySelector(`[data-node="${id}"]`)?.getAttribute('data-state') === 'up'),
    ids,
    { timeout: 60_000 },
  );
}

// Waits for the app's first data render (html[data-ready]) without running Playwright's
// injected script in the page while it loads: a selector wait or page.evaluate compiles
// it into the page, 100-240 ms of the page's main thread on the lab machine, in the very
// window being measured (seen in a DevTools trace as one EvaluateScript). One DevTools
// Runtime.evaluate of a small observer instead, with the same deadline.
async function dataReady({ ctx, page }) {
  const cdp = await ctx.newCDPSession(page);
  try {
    const r = await cdp.send('Runtime.evaluate', { awaitPromise: true, returnByValue: true, expression: `new Promise((resolve) => {
      const ok = () => document.documentElement.dataset.ready === '1';
      if (ok()) return resolve(true);
      const o = new MutationObserver(() => { if (ok()) { o.disconnect(); resolve(true); } });
      o.observe(document.documentElement, { attributes: true, attributeFilter: ['data-ready'] });
      setTimeout(() => { o.disconnect(); resolve(false); }, ${kWait});
    })` });
    if (r.result?.value !== true) throw new Error(`no first data render (html[data-ready]) within ${kWait} ms: ${JSON.stringify(r.exceptionDetails ?? r.result)}`);
  } finally {
    await cdp.detach();
  }
}

// First-load cost of the page as loaded: compressed bytes on the wire (resource timing
// transferSize: body as sent + headers) and navigation start -> the app's data-ready mark.
async function firstLoad(page) {
  return page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const res = performance.getEntriesByType('resource');
    const isStatic = (r) => !new URL(r.name).pathname.startsWith('/api/');
    const sum = (xs, k) => xs.reduce((a, r) => a + (r[k] || 0), 0);
    const ready = performance.getEntriesByName('cats-data-ready')[0];
    return {
      transfer_bytes: nav.transferSize + sum(res, 'transferSize'),
      static_transfer_bytes: nav.transferSize + sum(res.filter(isStatic), 'transferSize'),
      static_encoded_body_bytes: nav.encodedBodySize + sum(res.filter(isStatic), 'encodedBodySize'),
      static_decoded_body_bytes: nav.decodedBodySize + sum(res.filter(isStatic), 'decodedBodySize'),
      requests: 1 + res.length,
      dom_content_loaded_ms: Math.round(nav.domContentLoadedEventEnd),
      data_ready_ms: ready ? Math.round(ready.startTime) : null,
    };
  });
}

// A service card's weights chart legend ("instance via wan" per band), and the same
// names from its candidates table: every band should be a candidate the table names.
async function historyLabels(page, sel) {
  return {
    bands: await page.$$eval(`${sel} [data-testid=weights-history] .u-legend .u-series .u-label`, (ls) => ls.slice(1).map((l) => l.textContent)),
    table: await page.$$eval(`${sel} tr[data-candidate]`, (rows) => rows.map((r) => `${r.children[0].textContent} via ${r.children[2].textContent}`)),
  };
}

async function topologyUpAfterNav(page, ids) {
  await page.click('nav >> text=Overview');
  await topologyUp(page, ids);
}

// Polls `fn(arg)` in the page (it may be async: fetch the API) until it gives something
// truthy, which is returned; throws naming `what` at the deadline. page.waitForFunction
// does not await an async predicate: its Promise is truthy at the first poll, so it
// returned at once (with null when the answer was not there yet).
// `seen(arg)`, when given, is evaluated at the deadline and its answer put in the error:
// what the predicate saw when it can only say false.
async function untilPage(page, what, fn, arg, { timeout = kWait, interval = 100, seen } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await page.evaluate(fn, arg);
    if (last) return last;
    if (Date.now() >= deadline) {
      const saw = seen ? `; saw ${JSON.stringify(await page.evaluate(seen, arg))}` : '';
      throw new Error(`timed out after ${timeout} ms waiting for ${what}; last ${JSON.stringify(last)}${saw}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

// The text of the first element matching `sel` once it exists.
async function textOf(page, sel, timeout = kWait) {
  return (await page.waitForSelector(sel, { timeout })).textContent();
}

// The forms of the Configuration page (webui/src/pages/forms/), on the page as an
// admin: WANs (a local and an API field error next to their fields, the diffs of an edit
// and a removal), a service added (an API error at its instance's vCPE, then applied and
// confirmed), a change of it left unconfirmed (3 s) that the daemon reverts by itself,
// the "add a vCPE" wizard (bundle, download, keys, applied), and finally a revert (asked
// first, with the daemon's diff) back to where the forms started.
async function configForms(page) {
  const revs = () => page.evaluate(async () => (await (await fetch('/api/v1/config/revisions?limit=1')).json()).current);
  const doc = () => page.evaluate(async () => (await fetch('/api/v1/config')).json());
  const base = await revs();
  const start = await doc();
  const fid = (ptr) => `#f-${ptr.replace(/[^a-zA-Z0-9_-]/g, '-')}`;
  const cancelPreview = () => page.click('[data-testid=change-preview] >> text=Cancel');
  await page.waitForSelector('[data-section=wan] tr[data-item]', { timeout: kWait });
  await axeOn(page, 'config');

  // ---- WANs
  const nw = start.wan.length;
  const wp = `/wan/${nw}`;
  await page.click('[data-testid=add-wan]');
  await page.fill(fid(`${wp}/name`), 'wan9');
  await page.fill(fid(`${wp}/interface`), 'bad/if');
  await page.fill(fid(`${wp}/gateway`), '192.0.2.99');
  await page.fill(fid(`${wp}/weight`), '500');
  await page.click('[data-testid=form-preview]');
  out.wan_local_error = await textOf(page, `${fid(`${wp}/weight`)}-error`);
  out.wan_preview_before_fix = await page.locator('[data-testid=change-preview]').count();
  await page.fill(fid(`${wp}/weight`), '5');
  // The preview is the daemon's dry run: it refuses the interface, at its field, and
  // offers nothing to apply.
  await page.click('[data-testid=form-preview]');
  out.wan_api_error = await textOf(page, `${fid(`${wp}/interface`)}-error`);
  out.wan_api_error_attr = await page.getAttribute(`${fid(`${wp}/interface`)}-error`, 'data-field-error');
  out.wan_refused_apply = await page.locator('[data-testid=change-apply]').count();
  out.wan_other_errors = await page.locator('[data-testid=change-field-errors]').count()
    ? await page.textContent('[data-testid=change-field-errors]') : '';
  await axeOn(page, 'config-form-errors');
  await shot(page, 'config-wan-error-1280x800');
  // A WAN on an interface this CPE does not have cannot be applied live: the daemon's dry
  // run says so at that field, and the page offers no Apply.
  await page.fill(fid(`${wp}/interface`), 'nosuch9');
  await page.click('[data-testid=form-preview]');
  out.wan_missing_if_error = await (await page.waitForFunction((sel) => {
    const t = document.querySelector(sel)?.textContent ?? '';
    return t.includes('nosuch9') ? t : null;
  }, `${fid(`${wp}/interface`)}-error`, { timeout: kWait })).jsonValue();
  out.wan_missing_if_apply = await page.locator('[data-testid=change-apply]').count();
  // On an interface it has (the loopback, no WAN's): the dry run's diff, with the vCPEs' ports.
  await page.fill(fid(`${wp}/interface`), 'lo');
  await page.click('[data-testid=form-preview]');
  out.wan_add_diff = await textOf(page, '[data-testid=change-diff]');
  await page.click('[data-testid=form-wan] >> text=Cancel');
  // A change the daemon cannot apply although its checks pass (a gateway off the WAN's
  // subnet: the kernel refuses the route): the apply fails (500 apply_failed), the page
  // says why, nothing changed.
  const w2 = start.wan[nw - 1].name;
  await page.click(`[aria-label="Edit wan ${w2}"]`);
  await page.fill(fid(`/wan/${nw - 1}/gateway`), '198.51.100.1');
  await page.click('[data-testid=form-preview]');
  out.wan_gateway_diff = await textOf(page, '[data-testid=change-diff]');
  await page.click('[data-testid=change-apply]');
  out.wan_apply_failed = await textOf(page, '[data-testid=change-error]');
  out.wan_apply_failed_unchanged = (await revs()) === base;
  await page.click('[data-testid=form-wan] >> text=Cancel');
  await page.click(`[aria-label="Edit wan ${w2}"]`);
  await page.fill(fid(`/wan/${nw - 1}/cost`), '7');
  await page.click('[data-testid=form-preview]');
  out.wan_edit_diff = await textOf(page, '[data-testid=change-diff]');
  await cancelPreview();
  await page.click(`[aria-label="Remove wan ${w2}"]`);
  out.wan_remove_diff = await textOf(page, '[data-testid=change-diff]');
  await cancelPreview();
  // Every existing WAN, vCPE and service read into its form and back unchanged: no diff.
  out.roundtrip = {};
  for (const [sec, key] of [['wan', 'name'], ['vcpe', 'name'], ['service', 'id']]) {
    for (const x of start[sec] ?? []) {
      await page.click(`[aria-label="Edit ${sec} ${x[key]}"]`);
      await page.click('[data-testid=form-preview]');
      out.roundtrip[`${sec}/${x[key]}`] = await textOf(page, '[data-testid=change-diff]');
      await cancelPreview();
    }
  }
  out.wan_unchanged = (await revs()) === base;
  step('config forms: WAN errors at their fields, edit and remove diffs');

  // ---- a service through the form
  const ns = (start.service ?? []).length;
  const sp = `/service/${ns}`;
  await page.click('[data-testid=add-service]');
  await page.fill(fid(`${sp}/id`), 'web9');
  await page.fill(fid(`${sp}/vip`), input.web9_vip);
  await page.fill(fid(`${sp}/ports`), '8080, 8443');
  await page.fill(fid(`${sp}/instance/0/vcpe`), 'cloud9');
  await page.fill(fid(`${sp}/instance/0/address`), input.instance_address);
  await page.click('[data-testid=form-preview]');
  out.service_api_error = await textOf(page, `${fid(`${sp}/instance/0/vcpe`)}-error`);
  await page.fill(fid(`${sp}/instance/0/vcpe`), input.instance_vcpe);
  await page.click('[data-testid=form-preview]');
  out.service_add_diff = await textOf(page, '[data-testid=change-diff]');
  await page.click('[data-testid=change-apply]');
  const r1 = base + 1;
  await page.waitForSelector(`[data-testid=pending-banner][data-revision="${r1}"]`, { timeout: kWait });
  await page.click('[data-testid=pending-banner] button');
  await page.waitForSelector('[data-testid=pending-banner]', { state: 'detached', timeout: kWait });
  await page.waitForSelector('[data-section=service] tr[data-item="service/web9"]', { timeout: kWait });
  out.service_added = (await doc()).service?.find((x) => x.id === 'web9') ?? null;
  // The page's diff against the daemon's own for the revision it made.
  out.service_daemon_diff = await page.evaluate(async ([a, b]) => (await fetch(`/api/v1/config/diff?from=${a}&to=${b}&format=text`)).text(), [base, r1]);
  step('config forms: service added, confirmed');
  // Its decision on the Services page, and its VIP answering a lab client (c1) through the CPE.
  {
    const t = Date.now();
    await page.click('nav >> text=Services');
    out.web9_decision = await (await page.waitForFunction(() => {
      const s = document.querySelector('section[data-service="web9"]');
      const rows = s ? [...s.querySelectorAll('tr[data-candidate]')] : [];
      return s && s.getAttribute('data-weight-sum') === '1000' && rows.length
        ? rows.map((r) => [r.getAttribute('data-candidate'), Number(r.querySelector('[data-field=weight]').textContent)]) : null;
    }, null, { timeout: kWait })).jsonValue();
    out.web9_decision_ms = Date.now() - t;
    const deadline = Date.now() + kWait;
    do {
      out.web9_reach = (await ask('reach', { target: `${input.web9_vip}:8080`, n: 4 })).summary;
      if (out.web9_reach.ok === 4) break;
      await new Promise((r) => setTimeout(r, 250));
    } while (Date.now() < deadline);
    out.web9_reach_ms = Date.now() - t;
    // Those connections are counted as web9's flows (conntrack entries by mark, kept in
    // TIME_WAIT; the daemon counts every 5 s): per candidate on Services, per service on
    // the Overview.
    out.web9_flows_candidates = await untilPage(page, "web9's flows per candidate", () => {
      const cells = [...document.querySelectorAll('section[data-service="web9"] tr[data-candidate] [data-field=flows]')];
      const n = cells.reduce((a, c) => a + (/^\d+$/.test(c.textContent) ? Number(c.textContent) : 0), 0);
      return n >= 4 ? n : null;
    }, null, { timeout: kWait, interval: 250 });
    await shot(page, 'services-web9-1280x800');
    await page.click('nav >> text=Overview');
    out.web9_flows_overview = await untilPage(page, "web9's flows on the overview", () => {
      const t = document.querySelector('tr[data-overview-service="web9"] [data-field=flows]')?.textContent ?? '';
      return /^\d+$/.test(t) && Number(t) >= 4 ? Number(t) : null;
    }, null, { timeout: kWait, interval: 250 });
    await page.click('nav >> text=Configuration');
    await page.waitForSelector('[data-section=service] tr[data-item="service/web9"]', { timeout: kWait });
    step('service web9: decision shown, VIP answers', { decision_ms: out.web9_decision_ms, reach: out.web9_reach });
  }

  // ---- an unconfirmed change reverts by itself
  await page.click('[aria-label="Edit service web9"]');
  await page.fill(fid(`${sp}/sla/max_rtt_ms`), '500');
  await page.click('[data-testid=form-preview]');
  out.expiry_diff = await textOf(page, '[data-testid=change-diff]');
  await page.fill('#chg-within', '3');
  await page.click('[data-testid=change-apply]');
  const r2 = r1 + 1;
  await page.waitForSelector(`[data-testid=pending-banner][data-revision="${r2}"]`, { timeout: kWait });
  const tPending = Date.now();
  out.expired_banner = await textOf(page, `[data-testid=pending-expired][data-revision="${r2}"]`, 20_000);
  out.expired_after_ms = Date.now() - tPending;
  await page.waitForSelector(`tr[data-revision="${r2 + 1}"]`, { timeout: kWait });
  out.expired_rows = {
    pending_one: await page.getAttribute(`tr[data-revision="${r2}"]`, 'data-state'),
    revert: await page.textContent(`tr[data-revision="${r2 + 1}"]`),
  };
  await page.click('[data-testid=config-stale] button');
  await page.waitForSelector('[data-testid=config-stale]', { state: 'detached', timeout: kWait });
  await page.waitForSelector(`tr[data-pointer="${sp}/id"]`, { timeout: kWait });
  out.expired_doc_sla = await page.locator(`tr[data-pointer="${sp}/sla/max_rtt_ms"]`).count();
  out.expired_doc_api_sla = (await doc()).service?.find((x) => x.id === 'web9')?.sla ?? null;
  await shot(page, 'config-expired-1280x800');
  step('config forms: an unconfirmed change reverted by itself', { after_ms: out.expired_after_ms });

  // ---- add a vCPE
  const nv = start.vcpe.length;
  await page.click('[data-testid=vcpe-wizard-open]');
  await page.click('[data-testid=vcpe-bundle]');
  out.wizard_required = await textOf(page, '#wiz-name-error');
  await page.fill('#wiz-name', 'cloud9');
  await page.fill('#wiz-endpoint', '203.0.113.50');
  await page.fill('#wiz-address', '10.2.9.1');
  await page.fill('#wiz-subnets', '10.2.9.1/24');
  await page.click('[data-testid=vcpe-bundle]');
  out.wizard_api_error = await textOf(page, '#wiz-subnets-error');
  await page.fill('#wiz-subnets', '10.2.9.0/24');
  await page.click('[data-testid=vcpe-bundle]');
  out.wizard_toml = await textOf(page, '[data-testid=vcpe-toml]');
  out.wizard_cloud_init = (await textOf(page, '[data-testid=cloud-init]')).slice(0, 40);
  out.wizard_cpe_key = await textOf(page, '[data-testid=cpe-public-key]');
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: kWait }), page.click('[data-testid=dl-vcpe-toml]')]);
  out.wizard_download = { name: dl.suggestedFilename(), same: (await dl.path().then((p) => readFileSync(p, 'utf8'))) === out.wizard_toml };
  await axeOn(page, 'config-vcpe-wizard');
  await shot(page, 'config-vcpe-wizard-1280x800');
  await page.fill('#wiz-public_key', rawPublic('x25519'));
  await page.fill('#wiz-report_key', rawPublic('ed25519'));
  await page.click('[data-testid=vcpe-keys-preview]');
  out.vcpe_add_diff = await textOf(page, '[data-testid=change-diff]');
  await page.click('[data-testid=change-apply]');
  const r3 = r2 + 2;
  await page.waitForSelector(`[data-testid=pending-banner][data-revision="${r3}"]`, { timeout: kWait });
  await page.click('[data-testid=pending-banner] button');
  await page.waitForSelector('[data-testid=pending-banner]', { state: 'detached', timeout: kWait });
  await page.waitForSelector('[data-section=vcpe] tr[data-item="vcpe/cloud9"]', { timeout: kWait });
  out.vcpe_added = (await doc()).vcpe.length === nv + 1;
  step('config forms: vCPE added through the wizard');

  // ---- a WAN edited through its form and applied in the lab: its tunnel's listen port
  // (live-applied: the overlay plan is re-applied), read back from the daemon's WireGuard
  // device (GET /api/v1/status), and the paths over that WAN up again through the new port.
  {
    const wi = nw - 1;
    const wname = start.wan[wi].name;
    const port = Number(start.wan[wi].listen_port ?? 51800) + 10;
    await page.click(`[aria-label="Edit wan ${wname}"]`);
    await page.fill(fid(`/wan/${wi}/listen_port`), String(port));
    await page.click('[data-testid=form-preview]');
    out.wan_port_diff = await textOf(page, '[data-testid=change-diff]');
    await page.click('[data-testid=change-apply]');
    await page.waitForSelector(`[data-testid=pending-banner][data-revision="${r3 + 1}"]`, { timeout: kWait });
    await page.click('[data-testid=pending-banner] button');
    await page.waitForSelector('[data-testid=pending-banner]', { state: 'detached', timeout: kWait });
    const t = Date.now();
    const seen = await untilPage(page, `${wname}'s device on port ${port}`, async ([w, port]) => {
      const p = (await (await fetch('/api/v1/status')).json()).tunnels?.find((x) => x.wan === w)?.listen_port;
      return p === port ? p : null;
    }, [wname, port]);
    out.wan_port_applied = { want: port, device: seen, after_ms: Date.now() - t, doc: (await doc()).wan[wi].listen_port };
    // Traffic through the new port: each vCPE's WireGuard moves its CPE peer's endpoint to
    // the source port of the CPE's authenticated packets (asked of the lab, polled to a deadline).
    const deadline = Date.now() + kWait;
    do {
      out.wan_port_peers = (await ask('peer_ports', { wan: wname })).ports;
      if (Object.keys(out.wan_port_peers).length && Object.values(out.wan_port_peers).every((ps) => ps.length && ps.every((x) => x === port))) break;
      await new Promise((r) => setTimeout(r, 250));
    } while (Date.now() < deadline);
    out.wan_port_peers_ms = Date.now() - t;
    await untilPage(page, `${wname}'s paths up`, async ([w, vs]) => {
      const ps = (await (await fetch('/api/v1/paths')).json()).filter((p) => p.wan === w && vs.includes(p.vcpe));
      return ps.length === vs.length && ps.every((p) => p.state === 'up');
    }, [wname, input.vcpes], { timeout: 30_000, interval: 250 });
    out.wan_port_paths_up_ms = Date.now() - t;
    step('config forms: WAN listen port applied, the device has it, the vCPEs see it, its paths up', out.wan_port_applied);
  }

  // ---- a new WAN through the form on the lab's spare interface, with a cost: applied,
  // confirmed, its tunnel on the CPE (GET /api/v1/status) and on every vCPE (the lab gives
  // them its path, as an operator edits vcpe.toml and reloads), its paths probed up, and
  // its cost in the daemon's decisions (docs/SELECTION.md "WAN cost and weight").
  let last = r3 + 1;
  if (input.spare_wan) {
    const sw = input.spare_wan;
    const wi = (await doc()).wan.length;
    const p = `/wan/${wi}`;
    await page.click('[data-testid=add-wan]');
    await page.fill(fid(`${p}/name`), sw.name);
    await page.fill(fid(`${p}/interface`), sw.interface);
    await page.fill(fid(`${p}/gateway`), sw.gateway);
    await page.fill(fid(`${p}/tunnel_interface`), sw.tunnel_interface);
    await page.fill(fid(`${p}/listen_port`), String(sw.listen_port));
    await page.fill(fid(`${p}/cost`), String(sw.cost));
    out.wan_new_cost_hint = await page.textContent(`${fid(`${p}/cost`)}-hint`);
    await page.click('[data-testid=form-preview]');
    out.wan_new_diff = await textOf(page, '[data-testid=change-diff]');
    await page.click('[data-testid=change-apply]');
    last = r3 + 2;
    await page.waitForSelector(`[data-testid=pending-banner][data-revision="${last}"]`, { timeout: kWait });
    await page.click('[data-testid=pending-banner] button');
    await page.waitForSelector('[data-testid=pending-banner]', { state: 'detached', timeout: kWait });
    await page.waitForSelector(`[data-section=wan] tr[data-item="wan/${sw.name}"]`, { timeout: kWait });
    const t = Date.now();
    out.wan_new_cpe_tunnel = await untilPage(page, `the CPE's device for ${sw.name}`, async (w) => {
      const x = (await (await fetch('/api/v1/status')).json()).tunnels?.find((y) => y.wan === w);
      return x?.up ? { interface: x.interface, listen_port: x.listen_port } : null;
    }, sw.name);
    out.wan_new_vcpe_tunnels = (await ask('spare_wan', { wan: sw.name })).tunnels;
    // Each vCPE's device for the new WAN is up and has had a handshake with the CPE.
    const deadline = Date.now() + kWait;
    do {
      out.wan_new_vcpe_devices = (await ask('vcpe_tunnels', { wan: sw.name })).tunnels;
      if (input.vcpes.every((v) => out.wan_new_vcpe_devices[v]?.up && out.wan_new_vcpe_devices[v]?.handshake)) break;
      await new Promise((r) => setTimeout(r, 250));
    } while (Date.now() < deadline);
    out.wan_new_paths = await untilPage(page, `${sw.name}'s paths up`, async ([w, vs]) => {
      const ps = (await (await fetch('/api/v1/paths')).json()).filter((x) => x.wan === w && vs.includes(x.vcpe));
      return ps.length === vs.length && ps.every((x) => x.state === 'up') ? ps.map((x) => `${x.vcpe} ${x.state}`) : null;
    }, [sw.name, input.vcpes], { timeout: 30_000, interval: 250 });
    out.wan_new_up_ms = Date.now() - t;
    // Its cost edited through the form (selection tuning, applied live): the next decision
    // is published at once, and each of its candidates' cost is its E2E estimate plus the
    // WAN cost, whatever the paths' figures then (test_webui checks it exactly). The paths'
    // figures at the edit go to the log.
    out.wan_new_paths_at_edit = await page.evaluate(async (w) => (await (await fetch('/api/v1/paths')).json())
      .filter((x) => x.wan === w).map((x) => ({ vcpe: x.vcpe, state: x.state, rtt_ms: x.rtt_ms, jitter_ms: x.jitter_ms, loss_pct: x.loss_pct })), sw.name);
    await page.click(`[aria-label="Edit wan ${sw.name}"]`);
    await page.fill(fid(`${p}/cost`), String(sw.cost_edit));
    await page.click('[data-testid=form-preview]');
    out.wan_new_cost_diff = await textOf(page, '[data-testid=change-diff]');
    await page.click('[data-testid=change-apply]');
    last = r3 + 3;
    await page.waitForSelector(`[data-testid=pending-banner][data-revision="${last}"]`, { timeout: kWait });
    await page.click('[data-testid=pending-banner] button');
    await page.waitForSelector('[data-testid=pending-banner]', { state: 'detached', timeout: kWait });
    const tc = Date.now();
    // Its candidates are scored with the cost (each next to the same instance over the
    // first WAN, from the same publication), and carry no weight: the cost puts them
    // outside the spread window.
    out.wan_new_decisions = await untilPage(page, `${sw.name}'s candidates scored with cost ${sw.cost_edit}`, async ([w, first, svc, cost]) => {
      const ds = (await (await fetch('/api/v1/decisions')).json()).filter((d) => d.service === svc);
      const mine = ds.filter((d) => d.wan === w && d.cost_ms !== null && d.excluded === 'none' && d.wan_cost_ms === cost);
      if (!mine.length || mine.length !== ds.filter((d) => d.wan === first).length) return null;
      const firstOf = (d) => ds.find((x) => x.wan === first && x.instance === d.instance) ?? {};
      return mine.map((d) => ({ instance: d.instance, weight: d.weight, cost_ms: d.cost_ms, e2e_ms: d.e2e_ms,
                                wan_cost_ms: d.wan_cost_ms, first_cost_ms: firstOf(d).cost_ms ?? null,
                                first_e2e_ms: firstOf(d).e2e_ms ?? null }));
    }, [sw.name, input.wans[0], input.service, sw.cost_edit], { timeout: 10_000, interval: 100 });
    out.wan_new_cost_ms = Date.now() - tc;
    await shot(page, 'config-wan-added-1280x800');
    // The Services page says what the cost is made of; then back to the forms.
    await page.click('nav >> text=Services');
    const costCell = `section[data-service="${input.service}"] tr[data-candidate="${input.service}|${out.wan_new_decisions[0]?.instance}|${sw.name}"] [data-field=cost]`;
    out.wan_new_cost_cell = await (await page.waitForFunction((sel) => {
      const t = document.querySelector(sel)?.textContent ?? '';
      return t.includes('WAN cost') ? t : null;
    }, costCell, { timeout: kWait })).jsonValue();
    await page.click('nav >> text=Configuration');
    await page.waitForSelector(`[data-section=wan] tr[data-item="wan/${sw.name}"]`, { timeout: kWait });
    await page.waitForSelector(`[aria-label="Revert to revision ${base}"]`, { timeout: kWait });
    step('config forms: a WAN added on the spare interface, tunnels on the CPE and the vCPEs, paths up',
         { up_ms: out.wan_new_up_ms, tunnels: out.wan_new_vcpe_tunnels });
  }

  // ---- the selection and probing settings through their forms: read back unchanged (no
  // diff); a value out of range stopped in the page; one the daemon refuses
  // (min_timeout_ms above timeout_ms) shown at its field from the dry run, nothing to
  // apply; a hold-down applied and confirmed.
  {
    out.settings_roundtrip = {};
    for (const key of ['selection', 'probing']) {
      await page.click(`[data-testid=edit-${key}]`);
      await page.click(`[data-testid=form-${key}] [data-testid=form-preview]`);
      out.settings_roundtrip[key] = await textOf(page, '[data-testid=change-diff]');
      await cancelPreview();
    }
    await page.click('[data-testid=edit-probing]');
    await page.fill(fid('/probing/min_timeout_ms'), '60000');
    await page.click('[data-testid=form-probing] [data-testid=form-preview]');
    out.probing_api_error = await textOf(page, `${fid('/probing/min_timeout_ms')}-error`);
    out.probing_apply = await page.locator('[data-testid=change-apply]').count();
    await axeOn(page, 'config-settings-error');
    await page.click('[data-testid=form-probing] >> text=Cancel');
    await page.click('[data-testid=edit-selection]');
    await page.fill(fid('/selection/hold_down_ms'), '700000');
    await page.click('[data-testid=form-selection] [data-testid=form-preview]');
    out.selection_local_error = await textOf(page, `${fid('/selection/hold_down_ms')}-error`);
    await page.fill(fid('/selection/hold_down_ms'), '1300');
    await page.click('[data-testid=form-selection] [data-testid=form-preview]');
    out.selection_diff = await textOf(page, '[data-testid=change-diff]');
    await shot(page, 'config-selection-1280x800');
    await page.click('[data-testid=change-apply]');
    last += 1;
    await page.waitForSelector(`[data-testid=pending-banner][data-revision="${last}"]`, { timeout: kWait });
    await page.click('[data-testid=pending-banner] button');
    await page.waitForSelector('[data-testid=pending-banner]', { state: 'detached', timeout: kWait });
    out.selection_applied = (await doc()).selection?.hold_down_ms ?? null;
    await page.waitForSelector(`[aria-label="Revert to revision ${base}"]`, { timeout: kWait });
    step('config forms: selection and probing settings', { applied: out.selection_applied });
  }

  // ---- revert, asked first with the daemon's diff, back to where the forms started
  await page.click(`[aria-label="Revert to revision ${base}"]`);
  out.revert_diff = await textOf(page, `[data-testid=revert-confirm][data-revision="${base}"] [data-testid=revert-diff]`);
  out.revert_unchanged_before_ok = (await revs()) === last;
  await axeOn(page, 'config-revert');
  await page.click('[data-testid=revert-apply]');
  out.revert_msg = await textOf(page, '[data-testid=revert-msg]');
  const end = await doc();
  out.revert_back = JSON.stringify(end) === JSON.stringify(start);
  step('config forms: revert with its diff, back to the start');

  // ---- the diff of any two revisions, not only neighbours: from where the forms started
  // to the vCPE's revision (across the service's, the expired one and its revert)
  await page.selectOption('#diff-from', String(base));
  await page.selectOption('#diff-to', String(r3));
  await page.click('button:text-is("Show diff")');
  out.any_diff = {
    from: base, to: r3,
    text: await textOf(page, `[data-testid=config-diff][data-from="${base}"][data-to="${r3}"]`),
    daemon: await page.evaluate(async ([a, b]) => (await fetch(`/api/v1/config/diff?from=${a}&to=${b}&format=text`)).text(), [base, r3]),
  };
  step('config: the diff of two revisions apart', { from: base, to: r3 });
}

try {
  const ids = [...input.wans.map((w) => `wan:${w}`), ...input.vcpes.map((v) => `vcpe:${v}`)];
  // ---- setup: the one-time link, a refused password shown next to its field, then the admin
  let { ctx, page } = await newPage();
  await page.goto(input.setup_url, { timeout: kWait });
  await page.waitForSelector('#password', { timeout: kWait });
  await axeOn(page, 'setup');
  await bothSizes(page, 'setup');
  (out.keyboard ??= {}).setup = await keyboardReach(page);
  await page.fill('#user', input.admin.user);
  await page.fill('#password', 'short');
  await page.fill('#confirm', 'short');
  await page.click('button[type=submit]');
  const pwErr = await page.waitForSelector('#password-error', { timeout: kWait });
  out.setup_field_error = await pwErr.textContent();
  await page.fill('#password', input.admin.password);
  await page.fill('#confirm', input.admin.password);
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=setup-done]', { timeout: kWait });
  out.setup_url_after = page.url();
  step('admin created via /setup');

  // ---- login
  await page.click('text=Go to login');
  await page.waitForSelector('#password', { timeout: kWait });
  await axeOn(page, 'login');
  await bothSizes(page, 'login');
  out.keyboard.login = await keyboardReach(page);
  // A wrong password: the error next to the password field (right after it, and the field
  // described by it and marked invalid), naming no field.
  await page.fill('#user', input.admin.user);
  await page.fill('#password', `${input.admin.password}x`);
  await page.click('button[type=submit]');
  await page.waitForSelector('#login-error', { timeout: kWait });
  out.login_wrong = await page.evaluate(() => {
    const pw = document.querySelector('#password');
    const err = document.querySelector('#login-error');
    const a = pw.getBoundingClientRect();
    const b = err.getBoundingClientRect();
    return { text: err.textContent, describedby: pw.getAttribute('aria-describedby'), invalid: pw.getAttribute('aria-invalid'),
             after_field: pw.closest('.field')?.nextElementSibling === err, gap_px: Math.round(b.top - a.bottom),
             visible: b.height > 0 };
  });
  await axeOn(page, 'login-error');
  await page.fill('#password', input.admin.password);
  await page.click('button[type=submit]');
  await page.waitForSelector('html[data-ready="1"]', { timeout: kWait });
  step('logged in, overview rendered');
  out.admin_controls_on_users = await (async () => {
    await page.click('nav >> text=Users');
    await page.waitForSelector('tr[data-user]', { timeout: kWait });
    await axeOn(page, 'users');
    return page.locator('[data-admin-control]').count();
  })();
  // ---- API tokens: a refused name at its field; created (role, expiry), its secret shown
  // once with a copy button, usable as a bearer; gone from the page when closed and after
  // a reload (the list never has it); revoked, then refused.
  {
    await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: input.base });
    await page.waitForSelector('[data-testid=tokens]', { timeout: kWait });
    await page.fill('#tok-name', '');
    await page.click('[data-testid=token-create]');
    out.token_name_error = await textOf(page, '#tok-name-error');
    await page.fill('#tok-name', 'ci-browser');
    await page.selectOption('#tok-role', 'viewer');
    await page.fill('#tok-days', '30');
    await page.click('[data-testid=token-create]');
    const secret = (await textOf(page, '[data-testid=token-secret]')).trim();
    out.token_prefix = secret.slice(0, 5);
    await page.click('[data-testid=token-copy]');
    out.token_copied = await textOf(page, '[data-testid=token-copied]');
    out.token_clipboard_same = (await page.evaluate(() => navigator.clipboard.readText()).catch((e) => String(e))) === secret;
    const bearer = (tok) => page.evaluate(async (tok) => {
      const r = await fetch('/api/v1/session', { headers: { Authorization: `Bearer ${tok}` }, credentials: 'omit', cache: 'no-store' });
      return { status: r.status, body: r.ok ? await r.json() : null };
    }, tok);
    out.token_use = await bearer(secret);
    await page.waitForSelector('tr[data-token="ci-browser"][data-state=active]', { timeout: kWait });
    out.token_row = await page.textContent('tr[data-token="ci-browser"]');
    await axeOn(page, 'users-token');
    await shot(page, 'users-token-1280x800');
    await page.click('[data-testid=token-done]');
    out.token_secret_after_done = await page.evaluate((s) => document.documentElement.outerHTML.includes(s), secret);
    await page.reload({ timeout: kWait });
    await page.waitForSelector('tr[data-token="ci-browser"]', { timeout: kWait });
    out.token_secret_after_reload = await page.evaluate((s) => document.documentElement.outerHTML.includes(s), secret);
    out.token_list_has_secret = await page.evaluate(async (s) => (await (await fetch('/api/v1/tokens')).text()).includes(s.split('_').pop()), secret);
    await page.click('[aria-label="Revoke token ci-browser"]');
    await page.waitForSelector('tr[data-token="ci-browser"][data-state=revoked]', { timeout: kWait });
    out.token_after_revoke = (await bearer(secret)).status;
    step('users: a token created, shown once, used, revoked');
  }
  await page.click('nav >> text=Overview');

  // ---- first load, measured in a fresh context (empty cache) carrying the session
  const state = await ctx.storageState();
  {
    const fresh = await newPage(state);
    await fresh.page.goto(`${input.base}/overview`, { timeout: kWait });
    await dataReady(fresh);
    out.first_load = await firstLoad(fresh.page);
    out.live_mode = await fresh.page.textContent('[data-testid=live-mode]');
    await fresh.ctx.close();
    step('first load measured', out.first_load);
  }

  // ---- overview: both WANs and both vCPEs up
  await topologyUp(page, ids);
  out.topology = await page.$$eval('[data-node]', (ns) => ns.map((n) => [n.getAttribute('data-node'), n.getAttribute('data-state')]));
  step('topology: WANs and vCPEs up');
  await axeOn(page, 'overview');
  // Flows per service: the daemon's conntrack counts (GET /api/v1/flows) summed per service.
  out.overview_flows = await untilPage(page, 'flows per service on the overview', async () => {
    const rows = [...document.querySelectorAll('tr[data-overview-service]')];
    const shown = Object.fromEntries(rows.map((r) => [r.getAttribute('data-overview-service'), r.querySelector('[data-field=flows]')?.textContent]));
    const api = {};
    for (const f of (await (await fetch('/api/v1/flows')).json()).services) api[f.service] = (api[f.service] ?? 0) + (f.flows ?? NaN);
    const ok = rows.length > 0 && rows.every((r) => /^\d+$/.test(shown[r.getAttribute('data-overview-service')] ?? ''))
      && Object.entries(shown).every(([k, v]) => Number(v) === api[k]);
    return ok ? { shown, api } : null;
  }, null, { timeout: kWait, interval: 250 });
  await bothSizes(page, 'overview');
  out.overflow_768 = out.overflow.overview.w768;

  // ---- paths: charts with points (history first, then live)
  const t0 = Date.now();
  await page.click('nav >> text=Paths');
  const charts = input.wans.flatMap((w) => input.vcpes.map((v) => `${w}|${v}|rtt`));
  await page.waitForFunction(
    (charts) => charts.every((c) => Number(document.querySelector(`[data-chart="${c}"]`)?.getAttribute('data-points') ?? 0) >= 2),
    charts,
    { timeout: kWait },
  );
  out.charts_ms = Date.now() - t0;
  out.chart_points = await page.$$eval('[data-chart]', (cs) => Object.fromEntries(cs.map((c) => [c.getAttribute('data-chart'), Number(c.getAttribute('data-points'))])));
  // uPlot drew into its canvas (not just the container).
  out.canvases = await page.locator('.chart canvas').count();
  step('paths charts have points', { charts_ms: out.charts_ms });
  // Live: the stream's samples drawn as they come: the time from a `paths` message's
  // arrival to its point on the chart (data-last-t moves), for the next few samples.
  {
    const k = `${input.wans[0]}|${input.vcpes[0]}`;
    out.live_points = await untilPage(page, 'live points on the RTT chart', (k) => {
      if (!window.catsLive) {
        window.catsLive = [];
        window.catsLiveT0 = performance.now();
        new MutationObserver(() => {
          const at = window.catsSseAt?.[k];
          if (at !== undefined) window.catsLive.push({ delay: performance.now() - at, t: performance.now() - window.catsLiveT0 });
        }).observe(document.querySelector(`[data-chart="${k}|rtt"]`), { attributes: true, attributeFilter: ['data-last-t'] });
      }
      return window.catsLive.length >= 5 ? { delays_ms: window.catsLive.map((x) => Math.round(x.delay)),
                                             first_after_ms: Math.round(window.catsLive[0].t) } : null;
    }, k, { timeout: kWait });
    out.live_first_ms = out.charts_ms + out.live_points.first_after_ms;
    step('paths: live points', out.live_points);
  }
  await axeOn(page, 'paths');
  await shot(page, 'paths-1280x800');

  // ---- paths: the charts' history survives a reload (read back from the daemon: the
  // oldest point is from before the reload), and the 1 h and 24 h buttons read history
  // (GET /api/v1/paths?history=1 over that span, answered with points, drawn).
  {
    const npaths = input.wans.length * input.vcpes.length;
    const rtt = `[data-chart="${input.wans[0]}|${input.vcpes[0]}|rtt"]`;
    const chartNow = () => page.evaluate((sel) => {
      const c = document.querySelector(sel);
      return { points: Number(c?.getAttribute('data-points') ?? 0), first_t: Number(c?.getAttribute('data-first-t') ?? NaN) };
    }, rtt);
    const histReads = [];
    const onHist = (r) => {
      if (!r.url().includes('/api/v1/paths?') || r.status() !== 200) return;
      const q = new URL(r.url()).searchParams;
      if (q.get('history') !== '1') return;
      const e = { span_ms: Number(q.get('to')) - Number(q.get('from')), at: Date.now(), rows: null };
      histReads.push(e);
      r.json().then((rows) => { e.rows = rows.length; }, () => {});
    };
    page.on('response', onHist);
    const before = await chartNow();
    const reloadAt = await page.evaluate(() => Date.now());
    await page.reload({ timeout: kWait });
    const after = await untilPage(page, 'the RTT chart with points after the reload', (sel) => {
      const c = document.querySelector(sel);
      const n = Number(c?.getAttribute('data-points') ?? 0);
      return n >= 2 ? { points: n, first_t: Number(c.getAttribute('data-first-t')) } : null;
    }, rtt);
    out.paths_reload = { before, after, reload_at_s: reloadAt / 1000 };
    out.paths_ranges = {};
    for (const [label, span] of [['1 h', 3600_000], ['24 h', 24 * 3600_000]]) {
      const t = Date.now();
      await page.click(`button:text-is("${label}")`);
      const deadline = Date.now() + kWait;
      let mine = [];
      for (;;) {
        mine = histReads.filter((e) => e.at >= t && Math.abs(e.span_ms - span) < 60_000);
        const c = await chartNow();
        const pressed = await page.getAttribute(`button:text-is("${label}")`, 'aria-pressed');
        if (mine.length >= npaths && mine.every((e) => e.rows !== null) && pressed === 'true' && c.points >= 2) {
          out.paths_ranges[label] = { reads: mine.length, rows: mine.map((e) => e.rows), points: c.points, first_t: c.first_t };
          break;
        }
        if (Date.now() >= deadline) throw new Error(`the ${label} range: reads ${JSON.stringify(mine)}, chart ${JSON.stringify(c)}, pressed ${pressed}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    page.off('response', onHist);
    await page.click('button:text-is("Live (5 min)")');
    step('paths: history after a reload, 1 h and 24 h from history', { reload: out.paths_reload, ranges: out.paths_ranges });
  }

  // ---- instances: every instance of the scenario with numbers and sparklines
  {
    const t = Date.now();
    await page.click('nav >> text=Instances');
    await page.waitForFunction((want) => want.every((w) => {
      const r = [...document.querySelectorAll('tr[data-instance]')].find((x) => x.getAttribute('data-instance').startsWith(w));
      const num = (f) => /\d/.test(r?.querySelector(`[data-field=${f}]`)?.textContent ?? '');
      return r && num('vcpus') && num('utilization') && Number(r.querySelector('.spark')?.getAttribute('data-points') ?? 0) >= 2;
    }), input.instances, { timeout: kWait });
    out.instances_ms = Date.now() - t;
    // ... and the availability and utilisation sparklines too (history, then live samples).
    await untilPage(page, 'availability and utilisation sparklines with points', (want) => want.every((w) => {
      const r = [...document.querySelectorAll('tr[data-instance]')].find((x) => x.getAttribute('data-instance').startsWith(w));
      const pts = (s) => Number(r?.querySelector(`.spark[data-series="${s}"]`)?.getAttribute('data-points') ?? 0);
      return pts('availability') >= 2 && pts('utilisation') >= 2;
    }), input.instances);
    out.instances = await page.$$eval('tr[data-instance]', (rows) => rows.map((r) => ({
      key: r.getAttribute('data-instance'),
      vcpus: r.querySelector('[data-field=vcpus]').textContent,
      utilization: r.querySelector('[data-field=utilization]').textContent,
      delay: r.querySelector('[data-field=delay]').textContent,
      available: r.querySelector('[data-field=available]').textContent,
      // the processing delay's cell: the reported delay, else the last measured one or the
      // service time the selector uses
      delay_cell: r.querySelector('[data-field=delay]').parentElement.textContent,
      spark_points: [...r.querySelectorAll('.spark')].map((x) => Number(x.getAttribute('data-points'))),
      sparks: Object.fromEntries([...r.querySelectorAll('.spark')].map((x) => [x.getAttribute('data-series'), Number(x.getAttribute('data-points'))])),
    })));
    step('instances with numbers and sparklines', { instances_ms: out.instances_ms });
    await shot(page, 'instances-1280x800');
    await axeOn(page, 'instances');
  }

  // ---- services: the candidates of the first service, weights summing to 1000
  {
    await page.click('nav >> text=Services');
    const sel = `section[data-service="${input.service}"]`;
    await page.waitForFunction((sel) => {
      const s = document.querySelector(sel);
      return s && s.getAttribute('data-weight-sum') === '1000' && s.querySelectorAll('tr[data-candidate]').length >= 2;
    }, sel, { timeout: kWait });
    out.service_weight_sum = Number(await page.getAttribute(sel, 'data-weight-sum'));
    out.candidates = await page.$$eval(`${sel} tr[data-candidate]`, (rows) => rows.map((r) => ({
      key: r.getAttribute('data-candidate'),
      weight: Number(r.querySelector('[data-field=weight]').textContent),
      flows: r.querySelector('[data-field=flows]').textContent,
    })));
    out.weights_bar_rects = await page.locator(`${sel} svg.weights rect`).count();
    // Each candidate's cost breakdown (RTT, jitter and loss penalties, compute, WAN cost,
    // access) as the daemon's decision has it (GET /api/v1/decisions cost_parts), and its
    // flows counted. The parts the page shows, each to 0.1 ms, add up to the cost (a part
    // it leaves out as 0 counts 0).
    out.breakdown = await untilPage(page, 'cost breakdowns and flows of the candidates', async ([sel, svc]) => {
      const api = (await (await fetch('/api/v1/decisions')).json()).filter((d) => d.service === svc);
      const kParts = { delay: 'delay_ms', jitter: 'jitter_ms', loss: 'loss_ms', compute: 'compute_ms', wan: 'wan_cost_ms', access: 'access_ms' };
      const rows = [...document.querySelectorAll(`${sel} tr[data-candidate]`)].map((r) => {
        const part = (k) => { const x = r.querySelector(`[data-field=breakdown] [data-part=${k}]`); return x ? parseFloat(x.textContent) : null; };
        return { key: r.getAttribute('data-candidate'), cost: parseFloat(r.querySelector('[data-field=cost]').textContent),
                 parts: Object.fromEntries(Object.keys(kParts).map((k) => [k, part(k)])),
                 api: null, flows: r.querySelector('[data-field=flows]').textContent };
      });
      const near = (a, b) => a !== null && b !== null && b !== undefined && Math.abs(a - b) < 0.051;
      const ok = rows.length > 0 && rows.every((r) => {
        const d = api.find((x) => `${x.service}|${x.instance}|${x.wan}` === r.key);
        if (!d || !d.cost_parts || !/^\d+$/.test(r.flows)) return false;
        r.api = { cost_ms: d.cost_ms, ...d.cost_parts };
        // Shown parts match the API's; the ones not shown (access, WAN cost) are 0 there.
        return Object.entries(kParts).every(([k, f]) => (r.parts[k] === null ? d.cost_parts[f] === 0 : near(r.parts[k], d.cost_parts[f])));
      });
      return ok ? rows : null;
    }, [sel, input.service], { timeout: kWait, interval: 200 });
    step('services: candidates and weights');
    await shot(page, 'services-1280x800');
    await axeOn(page, 'services');
  }

  // ---- services: the weights history. An app's load raised in the lab: a new publication
  // whose reason names the load move arrives in the list live (no re-read) and the
  // stacked chart has points; a custom range read back from history has it too.
  {
    const sel = `section[data-service="${input.service}"]`;
    const hist = `${sel} [data-testid=weights-history]`;
    await page.waitForSelector(`${hist} [data-testid=publications]`, { timeout: kWait });
    const weightReads = () => eventReads.filter((e) => e.page === '/services' && e.query.includes('kind=weights'));
    const readsBefore = weightReads().length;
    // The loaded vCPE's share of the service in the candidates table (its rows' weights).
    const shareOf = (v) => page.$$eval(`${sel} tr[data-candidate]`, (rows, v) => rows
      .filter((r) => r.children[1].textContent === v)
      .reduce((a, r) => a + Number(r.querySelector('[data-field=weight]').textContent), 0), v);
    out.load_share_before = await shareOf(input.load_vcpe);
    const t = Date.now();
    await ask('load', { vcpe: input.load_vcpe, fraction: 0.95 });
    const pub = await page.waitForFunction(([hist, t, v]) => {
      const li = [...document.querySelectorAll(`${hist} li[data-publication]`)].find((x) => Number(x.getAttribute('data-publication')) >= t
        && /utilisation/.test(x.querySelector('[data-field=reason]')?.textContent ?? '')
        && (x.querySelector('[data-field=reason]')?.textContent ?? '').includes(v));
      return li ? { ts: Number(li.getAttribute('data-publication')), reason: li.querySelector('[data-field=reason]').textContent } : null;
    }, [hist, t - 500, input.load_vcpe], { timeout: 30_000 });
    out.load_publication = await pub.jsonValue();
    out.load_publication_ms = out.load_publication.ts - t;
    // ... and the weights shift: the loaded vCPE keeps at most two thirds of its share.
    await page.waitForFunction(([sel, v, before]) => [...document.querySelectorAll(`${sel} tr[data-candidate]`)]
      .filter((r) => r.children[1].textContent === v)
      .reduce((a, r) => a + Number(r.querySelector('[data-field=weight]').textContent), 0) <= (2 * before) / 3,
    [sel, input.load_vcpe, out.load_share_before], { timeout: 30_000 });
    out.load_share_after = await shareOf(input.load_vcpe);
    out.load_shift_ms = Date.now() - t;
    await page.waitForFunction((hist) => Number(document.querySelector(`${hist} figure[data-chart]`)?.getAttribute('data-points') ?? 0) >= 2,
      hist, { timeout: kWait });
    out.weights_history_points = Number(await page.getAttribute(`${hist} figure[data-chart]`, 'data-points'));
    out.weights_history_series = (await page.locator(`${hist} figure[data-chart] .u-legend .u-series`).count()) - 1; // less the time row
    out.weights_history_labels = await historyLabels(page, sel);
    out.weights_history_reads = weightReads().length - readsBefore;
    step('services: the load move published, shown live with its reason', { after_ms: out.load_publication_ms });
    await axeOn(page, 'services-history');
    await shot(page, 'services-history-1280x800');
    // A custom range around the move, read back from history only.
    await page.click('[data-testid=svc-range-custom]');
    const [from, to] = await page.evaluate(() => [Date.now() - 10 * 60_000, Date.now() + 2 * 60_000].map((ms) =>
      new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 16)));
    await page.fill('#svc-range-from', from);
    await page.fill('#svc-range-to', to);
    await page.click('[data-testid=svc-range-show]');
    await page.waitForFunction(([hist, ts]) => document.querySelector(`${hist} li[data-publication="${ts}"]`)
      && Number(document.querySelector(`${hist} figure[data-chart]`)?.getAttribute('data-points') ?? 0) >= 2,
    [hist, out.load_publication.ts], { timeout: kWait });
    out.weights_history_custom = {
      points: Number(await page.getAttribute(`${hist} figure[data-chart]`, 'data-points')),
      has_load: await page.locator(`${hist} li[data-publication="${out.load_publication.ts}"]`).count() === 1,
    };
    await axeOn(page, 'services-custom-range');
    await page.click(`button >> text=Live (5 min)`);
    out.services_event_reads = weightReads();
    await ask('load', { vcpe: input.load_vcpe, fraction: input.load_restore });
    step('services: custom range from history', out.weights_history_custom);
  }

  // ---- events: non-empty, newest first, the kind filter narrows
  {
    await page.click('nav >> text=Events');
    await page.waitForSelector('tr[data-event-kind]', { timeout: kWait });
    out.events_count = await page.locator('tr[data-event-kind]').count();
    const kinds = await page.$$eval('tr[data-event-kind]', (rows) => rows.map((r) => r.getAttribute('data-event-kind')));
    const unfiltered = await page.$$eval('tr[data-event-kind]', (rows) => rows.map((r) => ({
      kind: r.getAttribute('data-event-kind'), subject: r.getAttribute('data-event-subject'), ts: Number(r.getAttribute('data-ts')) })));
    const kind = kinds[kinds.length - 1];
    const asked = (want) => page.waitForResponse((r) => {
      if (!r.url().includes('/api/v1/events?')) return false;
      const q = new URL(r.url()).searchParams;
      return Object.entries(want).every(([k, v]) => q.get(k) === v);
    }, { timeout: kWait });
    let answer = asked({ kind });
    await page.selectOption('#event-kind', kind);
    out.events_filtered = { kind, answered: [...new Set((await (await answer).json()).map((e) => e.kind))] };
    await page.waitForFunction((k) => {
      const rows = [...document.querySelectorAll('tr[data-event-kind]')];
      return rows.length > 0 && rows.every((r) => r.getAttribute('data-event-kind') === k);
    }, kind, { timeout: kWait });
    out.events_filtered.rows = await page.locator('tr[data-event-kind]').count();
    // Kind group and subject (a vCPE: a whole segment of "wan/vcpe"), asked of the daemon.
    const v = input.vcpes[0];
    await page.selectOption('#event-kind', 'path_*');
    await page.fill('#event-subject', v);
    answer = asked({ kind: 'path_*', subject: v });
    await page.press('#event-subject', 'Enter');
    const evs = await (await answer).json();
    await page.waitForFunction((v) => {
      const rows = [...document.querySelectorAll('tr[data-event-kind]')];
      return rows.length > 0 && rows.every((r) => r.getAttribute('data-event-kind').startsWith('path_')
        && r.getAttribute('data-event-subject').split('/').includes(v));
    }, v, { timeout: kWait });
    out.events_subject = { subject: v, answered: evs.length, kinds: [...new Set(evs.map((e) => e.kind))],
                           subjects: [...new Set(evs.map((e) => e.subject))],
                           rows: await page.locator('tr[data-event-kind]').count() };
    const rowsNow = () => page.$$eval('tr[data-event-kind]', (rows) => rows.map((r) => ({
      kind: r.getAttribute('data-event-kind'), subject: r.getAttribute('data-event-subject'), ts: Number(r.getAttribute('data-ts')) })));
    // By service: the first service's id as the subject (its weights publications), any kind.
    await page.selectOption('#event-kind', '');
    answer = asked({ subject: input.service, kind: null });
    await page.fill('#event-subject', input.service);
    await page.press('#event-subject', 'Enter');
    const svcEvs = await (await answer).json();
    await page.waitForFunction((s) => {
      const rows = [...document.querySelectorAll('tr[data-event-kind]')];
      return rows.length > 0 && rows.every((r) => r.getAttribute('data-event-subject').split('/').includes(s));
    }, input.service, { timeout: kWait });
    const svcRows = await rowsNow();
    out.events_service = { service: input.service, rows: svcRows.length, kinds: [...new Set(svcRows.map((r) => r.kind))],
                           subjects: [...new Set(svcRows.map((r) => r.subject))], answered: svcEvs.length,
                           answered_subjects: [...new Set(svcEvs.map((e) => e.subject))],
                           unfiltered: unfiltered.length,
                           unfiltered_other: unfiltered.filter((r) => !r.subject.split('/').includes(input.service)).length };
    await page.fill('#event-subject', '');
    await page.press('#event-subject', 'Enter');
    // By time: a custom range from the middle of the unfiltered list (to the second) to
    // now + 2 min: only the events from then on, asked of the daemon with since=.
    {
      const ts = unfiltered.map((r) => r.ts).sort((a, b) => a - b);
      const oldest = ts[0];
      let since = Math.floor(ts[Math.floor(ts.length / 2)] / 1000) * 1000;
      if (since <= oldest) since = Math.floor(ts[ts.length - 1] / 1000) * 1000;
      const until = (Math.floor(Date.now() / 60_000) + 3) * 60_000;
      const local = (ms) => page.evaluate((ms) => {
        const s = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
        return s.endsWith(':00') ? s.slice(0, 16) : s; // the input drops ":00" seconds
      }, ms);
      await page.selectOption('#event-range', 'custom');
      await page.fill('#event-until', await local(until));
      answer = asked({ since: String(since), until: String(until) });
      await page.fill('#event-since', await local(since));
      const timeEvs = await (await answer).json();
      await page.waitForFunction(([since, until]) => {
        const rows = [...document.querySelectorAll('tr[data-event-kind]')];
        return rows.length > 0 && rows.every((r) => Number(r.getAttribute('data-ts')) >= since && Number(r.getAttribute('data-ts')) <= until);
      }, [since, until], { timeout: kWait });
      const timeRows = await rowsNow();
      out.events_time = { since, until, oldest, rows: timeRows.length, answered: timeEvs.length,
                          min_ts: Math.min(...timeRows.map((r) => r.ts)), max_ts: Math.max(...timeRows.map((r) => r.ts)),
                          unfiltered_before: ts.filter((x) => x < since).length };
    }
    // A range the daemon refuses (from after to): its field error next to "From".
    await page.selectOption('#event-range', 'custom');
    await page.fill('#event-until', '2030-01-01T00:00');
    await page.fill('#event-since', '2030-01-02T00:00');
    out.events_range_error = await (await page.waitForSelector('#event-since-error', { timeout: kWait })).textContent();
    await axeOn(page, 'events-filter-error');
    await page.selectOption('#event-range', '24h');
    await page.fill('#event-subject', '');
    await page.press('#event-subject', 'Enter');
    await page.selectOption('#event-kind', '');
    await page.waitForSelector('tr[data-event-kind]', { timeout: kWait });
    step('events listed and filtered by the daemon', { events: out.events_count, subject: out.events_subject });
    await shot(page, 'events-1280x800');
    await axeOn(page, 'events');
  }

  // ---- notifications: WAN1 blackholed (100 % loss), then restored; a toast for the path
  // going down and coming back, and for a service whose active candidates moved off
  // WAN1; the Events list has the path_down; the Paths page then shows the downtime and
  // the last state change.
  {
    const w = input.wans[0];
    const subject = `${w}/${input.vcpes[0]}`;
    await page.click('nav >> text=Services');
    await page.waitForSelector('tr[data-candidate]', { timeout: kWait });
    // Every toast the page shows from now on, recorded as it is added: one may be replaced
    // by a newer one (same subject, or past the four shown) before a poll would see it.
    await page.evaluate(() => {
      window.catsToasts = [];
      new MutationObserver((ms) => {
        for (const m of ms) for (const n of m.addedNodes) {
          if (n.nodeType !== 1) continue;
          for (const t of [n, ...n.querySelectorAll('[data-toast]')].filter((x) => x.matches('[data-toast]')))
            window.catsToasts.push({ event: t.getAttribute('data-toast'), kind: t.getAttribute('data-toast-kind'), text: t.textContent });
        }
      }).observe(document.body, { childList: true, subtree: true });
    });
    // The first recorded toast of an event kind whose text has `text`; for "weights", one
    // saying the service left WAN `text`.
    const toast = async (event, text) => (await page.waitForFunction(([event, text]) => window.catsToasts.find((t) => {
      if (t.event !== event && t.kind !== event) return false;
      if (event !== 'weights') return t.text.includes(text);
      const m = /now on (.*) \(was (.*)\)/.exec(t.text);
      return !!m && !m[1].split(', ').includes(text) && m[2].split(', ').includes(text);
    })?.text, [event, text], { timeout: 30_000 })).jsonValue();
    // Meanwhile on the Events page: the path_down arrives in its list live (no re-read).
    await page.click('nav >> text=Events');
    await page.waitForSelector('tr[data-event-kind]', { timeout: kWait });
    const eventsReadsBefore = eventReads.filter((e) => e.page === '/events' && e.query.includes('since=')).length;
    const t = Date.now();
    const tPage = await page.evaluate(() => Date.now());
    await ask('blackhole', { wan: w });
    out.toast_down = await toast('path_down', subject);
    out.toast_down_ms = Date.now() - t;
    out.events_live = await untilPage(page, `the path_down of ${subject} in the Events list`, ([subject, t0]) => {
      const r = [...document.querySelectorAll('tr[data-event-kind="path_down"]')]
        .find((x) => x.getAttribute('data-event-subject') === subject && Number(x.getAttribute('data-ts')) >= t0 - 1000);
      return r ? { ts: Number(r.getAttribute('data-ts')), text: r.textContent } : null;
    }, [subject, tPage]);
    out.events_live.reads = eventReads.filter((e) => e.page === '/events' && e.query.includes('since=')).length - eventsReadsBefore;
    // A service whose candidates were on WAN1 before and are not now.
    out.toast_weights = await toast('weights', w);
    // The topology marks the WAN down, in text too.
    await page.click('nav >> text=Overview');
    await page.waitForFunction((w) => document.querySelector(`[data-node="wan:${w}"]`)?.getAttribute('data-state') === 'down'
      && document.querySelector(`[data-edge="cpe|${w}"]`)?.getAttribute('data-state') === 'down', w, { timeout: kWait });
    out.topology_wan_down = {
      text: await page.$$eval(`[data-node="wan:${w}"] text`, (ts) => ts.map((t) => t.textContent).join(' ')),
      after_ms: Date.now() - t,
    };
    out.colour_wan_down = await colourNotAlone(page);
    // ... and its recent events list the path_down.
    out.overview_recent = await untilPage(page, 'the path_down in the overview\'s recent events', ([subject, t0]) => {
      // (one of the WAN's path_downs: both went down, and the list keeps the last 12 events)
      const li = [...document.querySelectorAll('[data-testid=events] li[data-kind="path_down"]')]
        .find((x) => x.getAttribute('data-subject').startsWith(`${subject.split('/')[0]}/`) && Number(x.getAttribute('data-ts')) >= t0 - 1000);
      return li ? li.textContent : null;
    }, [subject, tPage]);
    await shot(page, 'overview-wan-down-1280x800', false);
    await page.click('nav >> text=Events');
    await page.waitForSelector(`tr[data-event-kind="path_down"]`, { timeout: kWait });
    out.events_path_down = await page.locator('tr[data-event-kind="path_down"]').count();
    await shot(page, 'toast-down-1280x800', false); // the viewport: where the toasts are
    await ask('restore', { wan: w });
    out.toast_up = await toast('path_up', subject);
    step('notifications: path down, candidates moved, path up', { toast_down_ms: out.toast_down_ms });
    await page.click('nav >> text=Paths');
    await page.click('button >> text=15 min');
    const cell = `tr[data-path="${w}|${input.vcpes[0]}"]`;
    await page.waitForFunction((cell) => Number(document.querySelector(`${cell} [data-field=uptime]`)?.getAttribute('data-down-ms') ?? 0) > 0
      && document.querySelector(`${cell} [data-field=last-change]`)?.getAttribute('data-to') === 'up', cell, { timeout: kWait });
    out.path_uptime = {
      pct_up: Number(await page.getAttribute(`${cell} [data-field=uptime]`, 'data-pct-up')),
      down_ms: Number(await page.getAttribute(`${cell} [data-field=uptime]`, 'data-down-ms')),
      text: await page.textContent(`${cell} [data-field=uptime]`),
      last_change: await page.textContent(`${cell} [data-field=last-change]`),
    };
    await shot(page, 'paths-uptime-1280x800');
    // The Paths page read only the path state changes (kind=...), not every event.
    out.paths_event_reads = eventReads.filter((e) => e.page === '/paths' && e.query.includes('since='));
    step('paths: uptime and last change after the blackhole', out.path_uptime);
    // A custom range around the blackhole, from history only: charts with points, and the
    // same downtime (each path's state at the range's start asked of the daemon).
    {
      const [from, to] = await page.evaluate(() => [Date.now() - 10 * 60_000, Date.now() + 60_000].map((ms) =>
        new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 16)));
      await page.click('[data-testid=paths-range-custom]');
      await page.fill('#paths-range-from', to); // first the wrong way round: refused in the page
      await page.fill('#paths-range-to', from);
      await page.click('[data-testid=paths-range-show]');
      out.paths_custom_error = await textOf(page, '#paths-range-from-error');
      await page.fill('#paths-range-from', from);
      await page.fill('#paths-range-to', to);
      // The state of the path at the range's start, asked of the daemon (the last change before it).
      const lookback = page.waitForResponse((r) => {
        const q = new URL(r.url()).searchParams;
        return r.url().includes('/api/v1/events?') && q.get('subject') === `${w}/${input.vcpes[0]}` && q.get('limit') === '1';
      }, { timeout: kWait });
      await page.click('[data-testid=paths-range-show]');
      await lookback;
      await page.waitForFunction(([cell, charts]) => Number(document.querySelector(`${cell} [data-field=uptime]`)?.getAttribute('data-down-ms') ?? 0) > 0
        && document.querySelector('[data-testid=paths-range-custom]')?.getAttribute('aria-pressed') === 'true'
        && charts.every((c) => Number(document.querySelector(`[data-chart="${c}"]`)?.getAttribute('data-points') ?? 0) >= 2),
      [cell, input.wans.flatMap((w) => input.vcpes.map((v) => `${w}|${v}|rtt`))], { timeout: kWait });
      out.paths_custom = {
        down_ms: Number(await page.getAttribute(`${cell} [data-field=uptime]`, 'data-down-ms')),
        points: Number(await page.getAttribute(`[data-chart="${w}|${input.vcpes[0]}|rtt"]`, 'data-points')),
        reads: eventReads.filter((e) => e.page === '/paths' && e.query.includes('until=')).map((e) => e.query),
      };
      await axeOn(page, 'paths-custom-range');
      await page.click('button >> text=15 min');
      step('paths: a custom range from history', out.paths_custom);
    }

    // WAN1 +40 ms: the Paths table shows it; then WAN2 too, and a service whose SLA
    // (RTT <= 15 ms) no path meets has no eligible candidate: a warning toast.
    const rtt = `tr[data-path="${w}|${input.vcpes[0]}"] td:nth-child(4)`;
    const chart = `[data-chart="${w}|${input.vcpes[0]}|rtt"]`;
    await ask('delay', { wan: w, ms: 40 });
    const t1 = Date.now();
    [out.delay_shown_ms, out.delay_chart_ms] = await Promise.all([
      page.waitForFunction((sel) => parseFloat(document.querySelector(sel)?.textContent ?? '') >= 40, rtt, { timeout: kWait })
        .then(() => Date.now() - t1),
      page.waitForFunction((sel) => Number(document.querySelector(sel)?.getAttribute('data-last') ?? 0) >= 40, chart, { timeout: kWait })
        .then(() => Date.now() - t1),
    ]);
    out.delay_chart_last = Number(await page.getAttribute(chart, 'data-last'));
    out.delay_rtt = await page.textContent(rtt);
    // At 40 ms WAN1's paths break the SLA of the services with one (RTT <= 15 ms): up but
    // degraded, in words on the Paths table, and on the topology: WAN1's node says so, its
    // path's link is dashed (not colour alone) and named degraded in its title.
    out.degraded_paths_chip = await untilPage(page, `${w}'s path degraded on the Paths table`, (sel) => {
      const t = document.querySelector(sel)?.textContent ?? '';
      return t === 'degraded' ? t : null;
    }, `tr[data-path="${w}|${input.vcpes[0]}"] td:nth-child(3) .chip`);
    await page.click('nav >> text=Overview');
    out.degraded_topology = await untilPage(page, `${w} degraded on the topology`, ([w, v]) => {
      const n = document.querySelector(`[data-node="wan:${w}"]`);
      const e = document.querySelector(`[data-edge="${w}|${v}"]`);
      if (n?.getAttribute('data-state') !== 'degraded' || e?.getAttribute('data-state') !== 'degraded') return null;
      return { node_text: [...n.querySelectorAll('text')].map((x) => x.textContent).join(' '),
               edge_title: e.querySelector('title')?.textContent ?? null, edge_dash: getComputedStyle(e).strokeDasharray,
               up_dash: getComputedStyle(document.querySelector('.edge.up') ?? e).strokeDasharray };
    }, [w, input.vcpes[0]]);
    out.colour_degraded = await colourNotAlone(page);
    await shot(page, 'overview-degraded-1280x800', false);
    await ask('delay', { wan: input.wans[1], ms: 40 });
    out.toast_no_candidate = await toast('warn', 'no eligible candidate');
    await shot(page, 'toast-warn-1280x800', false);
    await ask('restore', { wan: w });
    await ask('restore', { wan: input.wans[1] });
    await topologyUpAfterNav(page, ids);
    step('WANs +40 ms: Paths shows it; no eligible candidate notified', { delay_shown_ms: out.delay_shown_ms });
  }

  // ---- configuration: a refused value shown at its pointer, a change with confirm-within,
  // the pending banner, Confirm, the revision and its diff, then a 409 from a concurrent change
  {
    const ptr = '/selection/hold_down_ms';
    await page.click('nav >> text=Configuration');
    await page.waitForSelector('tr[data-revision]', { timeout: kWait });
    const before = Number(await page.getAttribute('tr[data-revision]', 'data-revision'));
    await page.fill('#cfg-pointer', ptr);
    await page.fill('#cfg-value', '700000');
    await page.click('[data-testid=config-preview]');
    const fe = await page.waitForSelector(`#cfg-pointer ~ [data-field-error="${ptr}"]`, { timeout: kWait });
    out.config_field_error = await fe.textContent();
    out.config_field_error_in_doc = await page.locator(`tr[data-pointer="${ptr}"] [data-field-error]`).count();
    await page.fill('#cfg-value', '1100');
    await page.fill('#cfg-comment', 'from the browser test');
    await page.fill('#cfg-within', '60');
    // The daemon's dry-run diff first; nothing is changed until Apply.
    await page.click('[data-testid=config-preview]');
    out.config_preview_diff = await textOf(page, '[data-testid=config-preview-diff]');
    out.config_preview_unchanged = (await page.evaluate(async () => (await (await fetch('/api/v1/config/revisions?limit=1')).json()).current)) === before;
    await shot(page, 'config-raw-preview-1280x800');
    await page.click('[data-testid=config-apply]');
    const banner = await page.waitForSelector(`[data-testid=pending-banner][data-revision="${before + 1}"]`, { timeout: kWait });
    out.pending_banner = await banner.textContent();
    await page.waitForSelector(`tr[data-revision="${before + 1}"][data-state=pending]`, { timeout: kWait });
    await shot(page, 'config-pending-1280x800');
    await page.click('[data-testid=pending-banner] button');
    await page.waitForSelector('[data-testid=pending-banner]', { state: 'detached', timeout: kWait });
    await page.waitForSelector(`tr[data-revision="${before + 1}"][data-state=confirmed]`, { timeout: kWait });
    out.config_revision_row = await page.textContent(`tr[data-revision="${before + 1}"]`);
    await page.click(`tr[data-revision="${before + 1}"] >> text=Diff`);
    await page.waitForSelector(`[data-testid=config-diff][data-to="${before + 1}"]`, { timeout: kWait });
    out.config_diff = await page.textContent('[data-testid=config-diff]');
    step('config: change with confirm-within, pending banner, confirmed, diff');
    await shot(page, 'config-1280x800');
    // Someone else changes it (here: the same session behind the page's back); the
    // page's next change, sent with its older ETag, is a 409. Meanwhile the keyboard focus
    // is on a control of the revisions list, which the live update re-renders (a new row
    // on top, this row's Revert button): the focus stays on that control, and Tab goes on
    // from there (to its row's new Revert button), not from the top of the page.
    const diffBtn = `tr[data-revision="${before + 1}"] button[aria-label="Diff ${before} to ${before + 1}"]`;
    await page.focus(diffBtn);
    const focusedLabel = await page.evaluate(() => { window.catsFocused = document.activeElement; return document.activeElement?.getAttribute('aria-label'); });
    out.concurrent_status = await page.evaluate(async (ptr) => {
      const s = await (await fetch('/api/v1/session')).json();
      const cur = await fetch('/api/v1/config');
      const r = await fetch('/api/v1/config?comment=concurrent', {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf_token ?? '', 'If-Match': cur.headers.get('ETag') },
        body: JSON.stringify([{ op: 'replace', path: ptr, value: 1000 }]),
      });
      return r.status;
    }, ptr);
    await page.waitForSelector(`tr[data-revision="${before + 2}"]`, { timeout: kWait });
    await page.waitForSelector(`tr[data-revision="${before + 1}"] [data-admin-control=revert]`, { timeout: kWait });
    await frames(page);
    out.focus_live = await page.evaluate(() => ({
      same: document.activeElement === window.catsFocused,
      connected: window.catsFocused?.isConnected ?? false,
      now: document.activeElement?.outerHTML?.slice(0, 140) ?? null,
      label_now: document.activeElement?.getAttribute('aria-label') ?? null,
    }));
    out.focus_live.label_before = focusedLabel;
    await page.keyboard.press('Tab');
    out.focus_live.after_tab = await page.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? document.activeElement?.tagName);
    step('config: a live update keeps the keyboard focus', out.focus_live);
    await page.fill('#cfg-pointer', ptr);
    await page.fill('#cfg-value', '1200');
    await page.click('[data-testid=config-preview]');
    out.config_conflict = await (await page.waitForSelector('[data-testid=config-conflict]', { timeout: kWait })).textContent();
    await page.click('[data-testid=config-conflict] button');
    await page.waitForSelector(`tr[data-revision="${before + 2}"]`, { timeout: kWait });
    step('config: a concurrent change gives 409, reload shows it');
    await configForms(page);
  }

  // ---- the new pages at the tablet size: no horizontal scrolling (wide tables scroll
  // inside their card)
  {
    out.overflow_768_pages = {};
    out.keyboard ??= {};
    out.colour = {};
    for (const [label, sel, name] of [['Overview', '[data-node]', 'overview'], ['Paths', '[data-chart]', 'paths'],
      ['Instances', 'tr[data-instance]', 'instances'], ['Services', 'tr[data-candidate]', 'services'],
      ['Events', 'tr[data-event-kind]', 'events'], ['Configuration', 'tr[data-revision]', 'config'], ['Users', 'tr[data-user]', 'users']]) {
      await page.click(`nav >> text=${label}`);
      await page.waitForSelector(sel, { timeout: kWait });
      out.keyboard[name] = await keyboardReach(page);
      out.colour[name] = await colourNotAlone(page);
      await bothSizes(page, name);
      out.overflow_768_pages[name] = out.overflow[name].w768;
      await page.setViewportSize({ width: 768, height: 1024 });
      await frames(page);
      await axeOn(page, `${name}-768`); // tables scroll inside their card here
      await page.setViewportSize({ width: 1280, height: 800 });
    }
    step('every page at both sizes, by keyboard, state in words', out.overflow);
  }

  // ---- the README's picture: the first service's card after the whole run (the load
  // raised, WAN1 blackholed and delayed, the configuration changed), an element shot so
  // it stays small. The notifications are hidden for it (they float over what is below
  // them) through the CSSOM: an injected stylesheet would be an inline style the CSP refuses.
  {
    const sel = `section[data-service="${input.service}"]`;
    await page.click('nav >> text=Services');
    // A moment when the table shows the newest publication's weights (it re-reads the
    // decisions within 200 ms of one), so the picture agrees with itself.
    const seenNow = () => page.evaluate((sel) => ({
      points: document.querySelector(`${sel} figure[data-chart]`)?.getAttribute('data-points'),
      newest: document.querySelector(`${sel} li[data-publication]`)?.textContent,
      rows: [...document.querySelectorAll(`${sel} tr[data-candidate]`)].map((r) => r.textContent),
    }), sel);
    await page.waitForFunction((sel) => {
      if (Number(document.querySelector(`${sel} figure[data-chart]`)?.getAttribute('data-points') ?? 0) < 2) return false;
      const newest = document.querySelector(`${sel} li[data-publication] small`)?.textContent ?? '';
      const pub = Object.fromEntries([...newest.matchAll(/(\S+ via \S+) (\d+)/g)].map((m) => [m[1], Number(m[2])]));
      const rows = [...document.querySelectorAll(`${sel} tr[data-candidate]`)];
      return rows.length > 0 && rows.every((r) => (pub[`${r.children[0].textContent} via ${r.children[2].textContent}`] ?? 0)
        === Number(r.querySelector('[data-field=weight]').textContent));
    }, sel, { timeout: kWait }).catch(async (e) => {
      note(`README picture: table and newest publication never agreed: ${JSON.stringify(await seenNow())}`);
      throw e;
    });
    out.final_history_labels = await historyLabels(page, sel);
    if (input.shots) {
      const toasts = (display) => page.evaluate((d) => { document.querySelector('.toasts').style.display = d; }, display);
      await toasts('none');
      await page.locator(sel).screenshot({ path: `${input.shots}/services-card-1280x800.png` });
      await toasts('');
    }
  }

  // ---- log out: the session is gone server-side too
  await page.click('text=Log out');
  await page.waitForSelector('#password', { timeout: kWait });
  out.session_after_logout = await page.evaluate(async () => (await fetch('/api/v1/session')).status);
  out.old_cookie_after_logout = await (async () => {
    // The cookie from before the logout, in a browser of its own (page.request would not
    // share the browser's certificate pin).
    const stale = await newPage(state);
    await stale.page.goto(`${input.base}/favicon.svg`, { timeout: kWait });
    const status = await stale.page.evaluate(async () => (await fetch('/api/v1/session')).status);
    await stale.ctx.close();
    return status;
  })();
  step('logged out');
  await ctx.close();

  // ---- a viewer: same pages, no control that would fail, a forged change refused
  ({ ctx, page } = await newPage());
  await page.goto(`${input.base}/login`, { timeout: kWait });
  await page.fill('#user', input.viewer.user);
  await page.fill('#password', input.viewer.password);
  await page.click('button[type=submit]');
  await page.waitForSelector('html[data-ready="1"]', { timeout: kWait });
  out.viewer_role = await page.getAttribute('[data-role]', 'data-role');
  out.viewer_users_link = await page.locator('nav >> text=Users').count();
  const userReads = [];
  page.on('request', (r) => { if (/\/api\/v1\/(users|tokens)/.test(r.url())) userReads.push(r.url()); });
  await page.goto(`${input.base}/users`, { timeout: kWait });
  out.viewer_users_page = await textOf(page, '[data-testid=users-admin-only]');
  out.viewer_users_reads = userReads.length;
  out.viewer_admin_controls = await page.locator('[data-admin-control]').count();
  out.viewer_forms = await page.locator('form').count();
  out.viewer_forged_change = await page.evaluate(async () => {
    const s = await (await fetch('/api/v1/session')).json();
    const r = await fetch('/api/v1/users', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf_token ?? '' },
      body: JSON.stringify({ name: 'mallory', role: 'admin', password: 'mallory password 1' }),
    });
    return r.status;
  });
  await shot(page, 'users-viewer-1280x800');
  await axeOn(page, 'users-viewer');
  await page.click('nav >> text=Configuration');
  await page.waitForSelector('tr[data-revision]', { timeout: kWait });
  await page.waitForSelector('tr[data-pointer]', { timeout: kWait });
  out.viewer_config_rows = await page.locator('tr[data-pointer]').count();
  out.viewer_config_controls = await page.locator('[data-admin-control], textarea, #cfg-pointer, [data-testid=config-apply]').count();
  out.viewer_config_redacted = await page.locator('tr[data-pointer="/probing/auth_key"]').count()
    ? await page.textContent('tr[data-pointer="/probing/auth_key"] td:nth-child(2)') : null;
  await shot(page, 'config-viewer-1280x800');
  await axeOn(page, 'config-viewer');
  // Every page: no control whose request a viewer's role would fail (apply, edit, delete,
  // confirm, revert, add, create, revoke, preview; nor any marked admin-only).
  out.viewer_pages = {};
  const failing = () => page.evaluate(() => {
    const re = /\b(apply|edit|delete|remove|confirm|revert|add|create|revoke|preview|save)\b/i;
    const els = [...document.querySelectorAll('button, input[type=submit], [role=button], [data-admin-control]')]
      .filter((e) => e.getClientRects().length > 0);
    return els.filter((e) => e.hasAttribute('data-admin-control') || re.test(`${e.textContent} ${e.getAttribute('aria-label') ?? ''}`))
      .map((e) => e.outerHTML.slice(0, 120));
  });
  for (const [label, sel, name] of [['Overview', '[data-node]', 'overview'], ['Paths', '[data-chart]', 'paths'],
    ['Instances', 'tr[data-instance]', 'instances'], ['Services', 'tr[data-candidate]', 'services'],
    ['Events', 'tr[data-event-kind]', 'events'], ['Configuration', 'tr[data-pointer]', 'config']]) {
    await page.click(`nav >> text=${label}`);
    await page.waitForSelector(sel, { timeout: kWait });
    out.viewer_pages[name] = await failing();
  }
  // A change pending confirmation (made on the root socket by the test): the viewer sees
  // the banner and its countdown, with no Confirm button.
  {
    const { revision } = await ask('pending');
    const banner = await page.waitForSelector(`[data-testid=pending-banner][data-revision="${revision}"]`, { timeout: kWait });
    out.viewer_pending = { revision, text: await banner.textContent(),
                           buttons: await page.$$eval('[data-testid=pending-banner] button', (bs) => bs.map((b) => b.textContent)),
                           failing: await failing() };
    await shot(page, 'config-viewer-pending-1280x800');
    await axeOn(page, 'config-viewer-pending');
    await ask('confirm', { revision });
    await page.waitForSelector('[data-testid=pending-banner]', { state: 'detached', timeout: kWait });
  }
  step('viewer: no admin controls', { pages: out.viewer_pages, pending: out.viewer_pending });

  // ---- the SSE client against the stream contract (docs/API.md "GET /api/v1/stream"):
  // the browser answers the stream with contract-shaped messages; everything else is the
  // real CPE. First connection: a paths sample, an event and a decisions message (one
  // whole service, as the daemon sends it); the next one must resume with
  // ?last_event_id=, and gets a reset (held until the page has been looked at), after
  // which the page reloads over REST.
  {
    const viewerState = await ctx.storageState();
    const sse = await newPage(viewerState);
    const seen = [];
    let resumed44, allowReset;
    const resumedP = new Promise((resolve) => (resumed44 = resolve));
    const resetP = new Promise((resolve) => (allowReset = resolve));
    const [w, v] = [input.wans[0], input.vcpes[0]];
    const svc = input.service;
    const cand = (instance, weight) => ({ service: svc, instance, address: '10.9.9.9:80', vcpe: v, wan: w, weight,
                                          cost_ms: 12.5, excluded: 'none', health: 'ok', outcome: 'ok', reason: 'from the stream' });
    await sse.page.route((u) => u.pathname === '/api/v1/stream', async (route) => {
      const url = route.request().url();
      seen.push(url);
      if (url.includes('last_event_id=44')) resumed44();
      const resumed = url.includes('last_event_id=');
      const msg = (id, ev, data) => `id: ${id}\nevent: ${ev}\ndata: ${JSON.stringify(data)}\n\n`;
      // Only the first reset is answered; later reconnects wait (as a live stream would).
      if (resumed && seen.filter((u) => u.includes('last_event_id=')).length > 1) return;
      if (resumed) await resetP;
      const body = resumed
        ? msg(45, 'reset', { last_event_id: 45 })
        : 'retry: 200\n\n' +
          msg(42, 'paths', { wan: w, vcpe: v, tunnel: 'x', rtt_ms: 123.45, jitter_ms: 1, loss_pct: 0, state: 'up' }) +
          msg(43, 'events', { ts_ms: Date.now(), kind: 'stream_check', subject: `${w}/${v}`, detail: 'from the stream' }) +
          msg(44, 'decisions', { service: svc, publication: 7, total: 1000, candidates: [cand('stream-a', 999), cand('stream-b', 1)] });
      return route.fulfill({ status: 200, headers: { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store' }, body });
    });
    await sse.page.goto(`${input.base}/paths`, { timeout: kWait });
    const row = `tr[data-path="${w}|${v}"] td:nth-child(4)`;
    await sse.page.waitForFunction((sel) => document.querySelector(sel)?.textContent === '123.45 ms', row, { timeout: kWait });
    out.sse_mode = await sse.page.textContent('.toolbar .muted');
    // The decisions message replaced the service's candidates: only the streamed two, 999 + 1.
    await sse.page.click('nav >> text=Services');
    const card = `section[data-service="${svc}"]`;
    out.sse_decisions = await (await sse.page.waitForFunction((sel) => {
      const rows = [...document.querySelectorAll(`${sel} tr[data-candidate]`)];
      if (!rows.some((r) => r.children[0].textContent === 'stream-a')) return null;
      return { rows: rows.map((r) => [r.children[0].textContent, Number(r.querySelector('[data-field=weight]').textContent)]),
               sum: Number(document.querySelector(sel).getAttribute('data-weight-sum')) };
    }, card, { timeout: kWait })).jsonValue();
    // Instances: an instance that reports GPUs and its processing delay (the lab's apps
    // report neither): two `instances` messages on the stream, a millisecond apart (the
    // page keeps one sample per ms). The GPU column appears with its figures, and the GPU
    // and delay sparklines have both samples.
    await sse.page.click('nav >> text=Instances');
    await sse.page.waitForSelector('tr[data-instance]', { timeout: kWait });
    const gpuKey = `${v}|${svc}|gpu-check`;
    for (const [g, d] of [[0.5, 33.3], [0.75, 44.4]]) {
      await sse.page.evaluate(async (m) => {
        const t = Date.now();
        while (Date.now() <= t) await new Promise((r) => setTimeout(r, 1));
        window.catsES.dispatchEvent(new MessageEvent('instances', { data: JSON.stringify(m) }));
      }, { service: svc, instance: 'gpu-check', vcpe: v, address: '10.9.9.8:80', vcpus: 8, utilization: 0.25,
           processing_delay_ms: d, gpu_count: 2, gpu_utilization: g, available: true });
    }
    out.instance_gpu = await untilPage(sse.page, 'the GPU instance with its figures and sparklines', (k) => {
      const r = document.querySelector(`tr[data-instance="${k}"]`);
      const pts = (s) => Number(r?.querySelector(`.spark[data-series="${s}"]`)?.getAttribute('data-points') ?? 0);
      if (!r || pts('GPU utilisation') < 2 || pts('processing delay') < 2) return null;
      return { gpu: r.querySelector('[data-field=gpu]')?.textContent, delay: r.querySelector('[data-field=delay]').textContent,
               available: r.querySelector('[data-field=available]').textContent, gpu_points: pts('GPU utilisation'),
               delay_points: pts('processing delay'), avail_points: pts('availability'),
               header: [...document.querySelectorAll('[data-testid=instances-table] thead th')].map((h) => h.textContent) };
    }, gpuKey);
    await shot(sse.page, 'instances-gpu-1280x800');
    await axeOn(sse.page, 'instances-gpu');
    await sse.page.click('nav >> text=Services');
    await sse.page.waitForSelector(`${card} tr[data-candidate]`, { timeout: kWait });
    allowReset();
    let deadline;
    await Promise.race([resumedP, new Promise((_, reject) => (deadline = setTimeout(() => reject(new Error(`no resume with last_event_id=44: ${seen}`)), kWait)))]);
    clearTimeout(deadline);
    out.sse_urls = seen.map((u) => new URL(u).search);
    // After the reset the REST reload replaces the streamed decisions and the 123.45 ms
    // with the daemon's.
    await sse.page.waitForFunction((sel) => {
      const rows = [...document.querySelectorAll(`${sel} tr[data-candidate]`)];
      return rows.length > 0 && !rows.some((r) => r.children[0].textContent.startsWith('stream-'));
    }, card, { timeout: kWait });
    await sse.page.click('nav >> text=Paths');
    await sse.page.waitForFunction((sel) => {
      const t = document.querySelector(sel)?.textContent ?? '';
      return t !== '' && t !== '123.45 ms';
    }, row, { timeout: kWait });
    out.sse_after_reset = await sse.page.textContent(row);
    await sse.ctx.close();
    step('stream client: paths and decisions messages applied, resumed with last_event_id, reset reloads');
  }
  await ctx.close();
  out.csp_problems = problems;
  console.log(JSON.stringify(out));
  await browser.close();
  stdinReader.close(); // the open stdin would keep node running
  process.stdin.destroy();
} catch (e) {
  out.error = String(e && e.stack ? e.stack : e);
  out.csp_problems = problems;
  out.diag = diag;
  console.log(JSON.stringify(out));
  await browser.close().catch(() => {});
  process.exit(1);
}
