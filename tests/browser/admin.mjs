// The owner's inbox in a real browser (headless Debian chromium through
// playwright-core), without JavaScript of the site's own: a visitor sends
// the contact form; the owner signs in, finds it in the unread view of
// /admin/inbox/, opens it, marks it handled, and it has left the unread
// view. Needs T_URL, OWNER_EMAIL and OWNER_PASSWORD.
// Prints "N passed, N failed"; exit 0 only when all passed.
import { launch, check, step, finish } from './lib.mjs';

const base = process.env.T_URL;
if (!base || !process.env.OWNER_EMAIL) {
  console.error('admin.mjs: T_URL or OWNER_EMAIL is not set');
  process.exit(2);
}
const browser = await launch();
const visitor = await browser.newPage();
visitor.setDefaultTimeout(15000);
const subject = `A question from the browser ${Date.now()}`;

await step('a visitor sends the contact form', async () => {
  await visitor.goto(`${base}/contact/`);
  await visitor.fill('#name', 'Browser <b>Visitor</b>');
  await visitor.fill('#email', 'visitor@example.org');
  await visitor.fill('#subject', subject);
  await visitor.fill('#message', 'Could you tell me more about folio?');
  await Promise.all([visitor.waitForURL('**/contact/thanks/'), visitor.click('form.form button[type=submit]')]);
  check('a visitor sends the contact form', new URL(visitor.url()).pathname === '/contact/thanks/');
});

const ctx = await browser.newContext({ javaScriptEnabled: false });
const page = await ctx.newPage();
page.setDefaultTimeout(15000);

await step('signed out, /admin/ asks to sign in', async () => {
  await page.goto(`${base}/admin/inbox/`);
  check('signed out, /admin/ asks to sign in', new URL(page.url()).pathname === '/login/');
});

await step('the owner signs in', async () => {
  await page.fill('#email', process.env.OWNER_EMAIL);
  await page.fill('#password', process.env.OWNER_PASSWORD);
  await Promise.all([page.waitForURL('**/admin/inbox/'), page.click('form.form button[type=submit]')]);
  check('the owner signs in, back at the inbox they asked for',
        new URL(page.url()).pathname === '/admin/inbox/');
});

await step('the unread view shows the contact', async () => {
  await page.goto(`${base}/admin/inbox/`);
  const row = page.locator('tr.admin-row', { hasText: subject });
  check('the unread view shows the contact', (await row.count()) === 1);
  check('... in the site\'s theme', (await page.locator('header.site-header').count()) === 1);
  check('... the visitor\'s markup stays text', (await page.locator('tr.admin-row b').count()) === 0 &&
        (await row.textContent()).includes('Browser <b>Visitor</b>'));
  await Promise.all([page.waitForURL('**/admin/inbox/*/'), row.locator('a').click()]);
  check('one request a page, with its message',
        (await page.textContent('.request__message')).includes('Could you tell me more about folio?'));
  const reply = await page.getAttribute('a[href^="mailto:"]', 'href');
  check('a mailto: reply link', reply && reply.startsWith('mailto:visitor@example.org?subject='), reply);
});

await step('mark handled', async () => {
  await Promise.all([
    page.waitForURL('**/admin/inbox/?done=handled'),
    page.locator('form', { has: page.locator('input[name=status][value=handled]') }).locator('button').click(),
  ]);
  check('mark handled', /marked handled/.test(await page.textContent('.admin-flash')));
  check('it has left the unread view',
        (await page.locator('tr.admin-row', { hasText: subject }).count()) === 0);
  await page.goto(`${base}/admin/inbox/?status=handled`);
  check('it is in the handled view',
        (await page.locator('tr.admin-row', { hasText: subject }).count()) === 1);
});

await browser.close();
finish();
