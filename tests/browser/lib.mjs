// What folio's browser tests share: headless Debian chromium through
// playwright-core, and "ok - NAME" / "FAIL - NAME: why" lines ending with
// "N passed, N failed" (run.sh and serve.sh count them).
import fs from 'node:fs';
import { chromium } from 'playwright-core';

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

export const results = { passed: 0, failed: 0 };

export function check(name, ok, detail) {
  if (ok) { results.passed++; console.log(`ok - ${name}`); }
  else { results.failed++; console.log(`FAIL - ${name}${detail ? ': ' + detail : ''}`); }
}

// Runs one scenario; an exception fails it by name instead of ending the run.
export async function step(name, fn) {
  try { await fn(); } catch (e) { check(name, false, String(e.message || e).split('\n')[0]); }
}

// Prints the count and exits: 0 only when something passed and nothing failed.
export function finish() {
  console.log(`${results.passed} passed, ${results.failed} failed`);
  process.exit(results.failed === 0 && results.passed > 0 ? 0 : 1);
}

// The newest link to PATH in a KIND mail to ADDR in the site's outbox
// (T_SITE/var/mail), waiting for it to be delivered.
export async function mailedLink(kind, addr, path) {
  const dir = `${process.env.T_SITE}/var/mail`;
  for (let i = 0; i < 100; i++) {
    const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(`-${kind}.eml`)).sort() : [];
    let link = null;
    for (const f of files) {
      // quoted-printable: soft line breaks and "=3D"
      const text = fs.readFileSync(`${dir}/${f}`, 'utf8').replace(/=\r?\n/g, '').replace(/=3D/g, '=');
      if (!text.toLowerCase().includes(`to: ${addr}`) && !text.toLowerCase().includes(`<${addr}>`)) continue;
      const m = text.match(new RegExp(`https?://[^/\\s]+(/${path}[^\\s"<]*)`));
      if (m) link = m[1];
    }
    if (link) return link;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ${kind} mail to ${addr} in ${dir}`);
}
