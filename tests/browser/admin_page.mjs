// Drives the admin page of a site in Debian's chromium, as an operator
// would, and prints what it saw as JSON (tests/e2e/admin_page_test.cc
// compares it with the API).
//
//   node admin_page.mjs URL TOKEN REPLICABLE FAILED_ID SCREENSHOT
import { chromium } from 'playwright-core';

const [url, token, replicable, failedId, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
const out = {};
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url + '/admin');
  await page.waitForSelector('body[data-loaded="true"]', { timeout: 30000 });
  await page.waitForSelector('#sites tbody tr');
  out.title = await page.textContent('#site-title');
  out.sites = await page.$$eval('#sites tbody tr', (rows) => rows.map((r) => ({
    name: r.dataset.site,
    health: r.children[3].textContent,
    holds: r.querySelector('.holds') ? r.querySelector('.holds').textContent : null,
    disabled: [...r.querySelectorAll('.disabled')].map((d) => d.dataset.replicable),
    replicables: Object.fromEntries([...r.querySelectorAll('.replicable')].map((d) => [
      d.dataset.replicable,
      { synced: Number(d.dataset.synced), registry: Number(d.dataset.registry),
        verified: Number(d.dataset.verified), failed: Number(d.dataset.failed) }])),
  })));

  // The failed rows of one replicable, and the planted one's reason.
  await page.selectOption('#replicable', replicable);
  await page.selectOption('#state', 'failed');
  await page.click('#filters button[type="submit"]');
  const row = `#registry tbody tr[data-id="${failedId}"]`;
  await page.waitForSelector(row, { timeout: 30000 });
  out.failed_rows = await page.$$eval('#registry tbody tr', (rows) => rows.length);
  out.failure = await page.textContent(`${row} .failure`);

  // Resync without the token: refused; with it: queued.
  await page.click(`${row} button.resync`);
  await page.waitForFunction(() => /HTTP/.test(document.getElementById('message').textContent));
  out.without_token = await page.textContent('#message');
  await page.fill('#token', token);
  await page.click('#token-form button[type="submit"]');
  await page.waitForSelector(row);
  await page.click(`${row} button.resync`);
  await page.waitForFunction(() => /queued/.test(document.getElementById('message').textContent));
  out.with_token = await page.textContent('#message');
  await page.screenshot({ path: screenshot, fullPage: true });
  out.page_errors = errors;
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
