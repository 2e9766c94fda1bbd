// folio serve in a real browser (headless Debian chromium through
// playwright-core): the author's loop. Needs T_URL (folio serve) and T_SITE
// (the site it serves). Prints "N passed, N failed"; exit 0 only when all passed.
import { readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { launch, check, step, finish } from './lib.mjs';

const base = process.env.T_URL, site = process.env.T_SITE;
if (!base || !site) {
  console.error('serve.mjs: T_URL and T_SITE must be set');
  process.exit(2);
}
const browser = await launch();
const page = await browser.newPage();
page.setDefaultTimeout(15000);
const live = () => page.waitForSelector('html[data-folio-serve="live"]', { state: 'attached' });
const about = `${site}/content/about.md`;
const tpl = `${site}/templates/page.mustache`;

await step('an edit shows without a manual reload', async () => {
  await page.goto(`${base}/about/`);
  await live();
  // A mark that only this load of the page has: a reload drops it.
  await page.evaluate(() => { window.folioTestMark = 1; });
  const text = readFileSync(about, 'utf8').replace(/^title:.*$/m, 'title: "Changed in the browser test"');
  writeFileSync(about, text);
  await page.waitForFunction(() => /Changed in the browser test/.test(document.querySelector('h1')?.textContent || ''));
  check('an edit shows without a manual reload', true);
  check('the page was reloaded by folio serve', await page.evaluate(() => window.folioTestMark === undefined));
});

const good = readFileSync(tpl, 'utf8');
await step('a broken template shows the overlay with file:line', async () => {
  await live();
  appendFileSync(tpl, '{{#never_closed}}\n');
  const where = await page.waitForSelector('#folio-error-where');
  const w = (await where.textContent()) || '';
  check('a broken template shows the overlay', await page.locator('#folio-error').isVisible());
  check('the overlay names file:line', /^templates\/page\.mustache:\d+$/.test(w), `where: ${w}`);
  check('the overlay says why', /never_closed/.test(await page.textContent('#folio-error-message')));
  check('under it is the last good page',
        /Changed in the browser test/.test(await page.textContent('h1')));
});

await step('the fix removes the overlay and reloads', async () => {
  await page.evaluate(() => { window.folioTestMark = 2; });
  writeFileSync(tpl, good);
  await page.waitForFunction(() => window.folioTestMark === undefined && !document.getElementById('folio-error'));
  await live();
  check('the fix removes the overlay and reloads', (await page.locator('#folio-error').count()) === 0);
});

await step('a page opened while the build is broken shows the overlay', async () => {
  appendFileSync(tpl, '{{#never_closed}}\n');
  await page.waitForSelector('#folio-error');
  const other = await browser.newPage();
  await other.goto(`${base}/projects/`);
  await other.waitForSelector('#folio-error', { timeout: 10000 });
  check('a page opened while the build is broken shows the overlay', true);
  writeFileSync(tpl, good);
  await other.waitForFunction(() => !document.getElementById('folio-error'));
  await other.close();
});

await step('a hidden tab lets go of its stream and catches up when shown', async () => {
  await page.goto(`${base}/about/`);
  await live();
  const setHidden = (h) => page.evaluate((hidden) => {
    Object.defineProperty(document, 'hidden', { value: hidden, configurable: true });
    document.dispatchEvent(new Event('visibilitychange'));
  }, h);
  await page.evaluate(() => { window.folioTestMark = 3; });
  await setHidden(true);
  check('a hidden tab closes its event stream',
        await page.evaluate(() => !document.documentElement.hasAttribute('data-folio-serve')));
  const before = (await (await fetch(`${base}/__folio/status`)).json()).build;
  const text = readFileSync(about, 'utf8').replace(/^title:.*$/m, 'title: "Changed while hidden"');
  writeFileSync(about, text);
  for (let i = 0; i < 200; i++) {
    if ((await (await fetch(`${base}/__folio/status`)).json()).build > before) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  check('a hidden tab does not reload', await page.evaluate(() => window.folioTestMark === 3));
  await setHidden(false);
  await page.waitForFunction(() => /Changed while hidden/.test(document.querySelector('h1')?.textContent || ''));
  check('shown again, it reloads to the new build', true);
});

await browser.close();
finish();
