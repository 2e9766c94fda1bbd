// folio's forms in a real browser (headless Debian chromium through
// playwright-core): contact → thanks page; an invalid form shows the errors
// beside the fields and keeps what was typed; register → the new member is
// on the community page. Needs T_URL (the site, served by nginx + folio-fcgi).
// Prints "N passed, N failed"; exit 0 only when all passed.
import { launch, check, step, finish, mailedLink } from './lib.mjs';

const base = process.env.T_URL;
if (!base) {
  console.error('forms.mjs: T_URL is not set');
  process.exit(2);
}
const browser = await launch();
const page = await browser.newPage();
page.setDefaultTimeout(15000);

await step('contact form lands on the thanks page', async () => {
  await page.goto(`${base}/contact/`);
  await page.fill('#name', 'Browser Visitor');
  await page.fill('#email', 'browser@example.org');
  await page.fill('#subject', 'From a real browser');
  await page.fill('#message', 'Hello Noor, this message came through headless chromium.');
  await Promise.all([page.waitForURL('**/contact/thanks/'), page.click('form.form button[type=submit]')]);
  check('contact form lands on the thanks page', new URL(page.url()).pathname === '/contact/thanks/');
  check('the thanks page says thanks', /Thank you/i.test(await page.textContent('h1')));
});

await step('an invalid form shows errors beside the fields', async () => {
  await page.goto(`${base}/contact/`);
  // Let the server judge: the browser's own checks would stop the submit.
  await page.$eval('form.form', (f) => { f.noValidate = true; });
  await page.fill('#name', 'Typed <b>name</b>');
  await page.fill('#email', 'not-an-address');
  await page.fill('#message', 'This one has a bad address.');
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST'),
    page.click('form.form button[type=submit]'),
  ]);
  await page.waitForLoadState();
  check('an invalid form is answered 422', resp.status() === 422, `status ${resp.status()}`);
  const err = page.locator('#email-error');
  check('the e-mail error is shown', await err.isVisible());
  // "beside the field": the error sits in the e-mail field's own group.
  const sameField = await page.$eval('#email-error', (e) => !!e.closest('.field')?.querySelector('#email'));
  check('the error is beside the e-mail field', sameField);
  check('the field is marked invalid', (await page.getAttribute('#email', 'aria-invalid')) === 'true');
  check('what they typed is kept', (await page.inputValue('#name')) === 'Typed <b>name</b>');
  check('typed markup stays text', (await page.locator('form.form b').count()) === 0);
  check('the message is kept', (await page.inputValue('#message')) === 'This one has a bad address.');
});

const member = `Browser Member ${Date.now() % 100000}`;
const memberAddr = `member${Date.now()}@example.org`;
await step('register, confirm from the mail, then see the new member', async () => {
  await page.goto(`${base}/register/`);
  await page.fill('#email', memberAddr);
  await page.fill('#display_name', member);
  await page.fill('#password', 'a browser-typed password');
  await Promise.all([page.waitForURL('**/register/check/'), page.click('form.form button[type=submit]')]);
  check('registration lands on the check-your-inbox page', new URL(page.url()).pathname === '/register/check/');
  const link = await mailedLink('verify', memberAddr, 'verify');
  await page.goto(`${base}${link}`);
  check('the link in the mail lands on the welcome page', new URL(page.url()).pathname === '/register/welcome/');
  await page.goto(`${base}/community/`);
  const names = await page.locator('.member__name').allTextContents();
  check('the new member is on the community page', names.includes(member), `names: ${names.slice(0, 5).join(', ')}`);
});

await browser.close();
finish();
