// A member's whole life in a real browser (headless chromium through
// playwright-core, nginx + folio-fcgi): sign up → the verification mail
// in the outbox → verify → on /community/ → sign in → rename → the
// community page shows the new name → download my data → delete my
// account → gone from /community/. No JavaScript of the site's is needed:
// every step is a plain form. Needs T_URL, T_SITE, ACCOUNT_ADDR.
// Prints "N passed, N failed"; exit 0 only when all passed.
import fs from 'node:fs';
import { launch, check, step, finish, mailedLink } from './lib.mjs';

const base = process.env.T_URL;
const addr = process.env.ACCOUNT_ADDR;
if (!base || !addr) {
  console.error('account.mjs: T_URL and ACCOUNT_ADDR must be set');
  process.exit(2);
}
const browser = await launch();
const context = await browser.newContext({ acceptDownloads: true, javaScriptEnabled: false });
const page = await context.newPage();
page.setDefaultTimeout(15000);
const name = 'Browser Member Ada';
const renamed = 'Browser Member Grace';
const password = 'a browser-typed password';

// The community page's names, once it shows (or stops showing) want.
async function communityNames(want, present) {
  let names = [];
  for (let i = 0; i < 50; i++) {
    await page.goto(`${base}/community/`);
    names = await page.locator('.member__name').allTextContents();
    if (names.includes(want) === present) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return names;
}

await step('sign up and verify from the mail', async () => {
  await page.goto(`${base}/register/`);
  await page.fill('#email', addr);
  await page.fill('#display_name', name);
  await page.fill('#password', password);
  await Promise.all([page.waitForURL('**/register/check/'), page.click('form.form button[type=submit]')]);
  check('sign-up lands on the check-your-inbox page', new URL(page.url()).pathname === '/register/check/');
  const link = await mailedLink('verify', addr, 'verify');
  check('the outbox holds the verification link', link.startsWith('/verify?token='), link);
  await page.goto(`${base}${link}`);
  check('the link lands on the welcome page', new URL(page.url()).pathname === '/register/welcome/');
  const names = await communityNames(name, true);
  check('the member is on /community/', names.includes(name), names.slice(0, 5).join(', '));
});

await step('sign in', async () => {
  await page.goto(`${base}/login/`);
  await page.fill('#email', addr);
  await page.fill('#password', password);
  await Promise.all([page.waitForURL('**/account/'), page.click('form.form button[type=submit]')]);
  check('signing in lands on the account page', new URL(page.url()).pathname === '/account/');
  check('the account page greets the member', (await page.textContent('.account__name')) === name);
  const cookies = await context.cookies();
  const c = cookies.find((k) => k.name === 'folio');
  check('the session cookie is HttpOnly and SameSite=Lax', c && c.httpOnly && c.sameSite === 'Lax', JSON.stringify(c));
});

await step('rename', async () => {
  await page.fill('#display_name', renamed);
  await Promise.all([page.waitForURL('**/account/?done=name'), page.click('form[action="/account/name"] button')]);
  check('the account page says the name changed', (await page.locator('.notice').count()) === 1);
  check('... and shows the new one', (await page.textContent('.account__name')) === renamed);
  const names = await communityNames(renamed, true);
  check('the community page shows the new name', names.includes(renamed), names.slice(0, 5).join(', '));
  check('... and not the old one', !names.includes(name));
  await page.goto(`${base}/account/`);
});

await step('download my data', async () => {
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.click('form[action="/account/data"] button'),
  ]);
  check('the download is my-data.json', download.suggestedFilename() === 'my-data.json', download.suggestedFilename());
  const doc = JSON.parse(fs.readFileSync(await download.path(), 'utf8'));
  const types = doc.events.map((e) => e.type);
  check('it holds the sign-up, the verification and the renaming',
        ['UserRegistered', 'MemberVerified', 'MemberRenamed'].every((t) => types.includes(t)), types.join(' '));
  const reg = doc.events.find((e) => e.type === 'UserRegistered');
  check('decrypted: the address as it was typed', reg && reg.data.email === addr, reg && reg.data.email);
});

await step('delete my account', async () => {
  await page.goto(`${base}/account/`);
  await page.fill('#delete_password', password);
  await Promise.all([page.waitForURL('**/goodbye/'), page.click('form[action="/account/delete"] button')]);
  check('deleting lands on the goodbye page', new URL(page.url()).pathname === '/goodbye/');
  const names = await communityNames(renamed, false);
  check('gone from /community/', !names.includes(renamed) && !names.includes(name), names.slice(0, 5).join(', '));
  await page.goto(`${base}/account/`);
  check('signed out: /account/ sends to the sign-in page', new URL(page.url()).pathname === '/login/');
});

await browser.close();
finish();
