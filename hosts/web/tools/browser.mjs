// Drive the page in headless Chromium (Debian's `chromium` through playwright-core).
//
//   node tools/browser.mjs URL [--texts TEXTS.json --out OUT.json] [--screenshot PAGE.png]
//
// URL is the page (served by `python -m http.server`), e.g. with ?model=...&conformance=1.
// Prints the page's conformance result (if asked for) as JSON; with --texts, embeds the JSON
// array of strings in the page and writes {ids, features, seconds} to OUT.json. Any request
// that leaves the page's own origin fails the run: the page must work without a network.

import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { chromium } from 'playwright-core';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { texts: { type: 'string' }, out: { type: 'string' }, screenshot: { type: 'string' } },
});
const url = new URL(positionals[0]);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const problems = [];
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console: ${msg.text()}`); });
  await page.route('**/*', (route) => {
    if (new URL(route.request().url()).origin === url.origin) return route.continue();
    problems.push(`request outside the page's origin: ${route.request().url()}`);
    return route.abort();
  });
  await page.goto(url.href);
  await page.waitForSelector('body[data-ready]', { timeout: 120_000 });
  if ((await page.getAttribute('body', 'data-ready')) !== 'true') {
    throw new Error(`page failed: ${await page.textContent('#status')}`);
  }
  const result = { conformance: await page.evaluate(() => window.cnnfeatConformance ?? null) };
  if (values.texts) {
    const texts = JSON.parse(readFileSync(values.texts, 'utf8'));
    const embedded = await page.evaluate(async (lines) => {
      const start = performance.now();
      const out = await window.cnnfeat.embed(lines);
      return { ...out, seconds: (performance.now() - start) / 1000 };
    }, texts);
    writeFileSync(values.out, JSON.stringify(embedded));
    result.seconds = embedded.seconds;
  }
  if (values.screenshot) {
    await page.fill('#input', [
      "I can't believe you did that!",
      'Oh my God, I\u2019m so happy for you\u2026',
      'Get out. Now!',
      'What?! Are you serious?',
      '\u041f\u0440\u0438\u0432\u0435\u0442, \u043a\u0430\u043a \u0434\u0435\u043b\u0430? \ud83d\ude02',
    ].join('\n'));
    await page.waitForFunction(() => document.querySelectorAll('#results .row').length === 5);
    await page.waitForTimeout(300);
    await page.screenshot({ path: values.screenshot, fullPage: true });
  }
  result.problems = problems;
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
process.exit(problems.length ? 1 : 0);
