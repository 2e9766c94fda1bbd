// A bundle's cover in a real browser (headless Debian chromium through
// playwright-core) at a phone's and a desktop's width: the <picture> picks
// a WebP variant that fits the width, and it has loaded. Needs T_URL and
// PAGE (the bundle's URL path). Prints "N passed, N failed".
import { launch, check, step, finish } from './lib.mjs';

const base = process.env.T_URL, path = process.env.PAGE;
const browser = await launch();
// phone: 100vw of 375 px picks 480w; desktop: the 42rem column (672 px) picks 960w
for (const [width, want] of [[375, '-480.webp'], [1280, '-960.webp']]) {
  const name = `${width} px`;
  await step(name, async () => {
    // a context each: a larger variant cached at one width would be reused at the other
    const ctx = await browser.newContext({ viewport: { width, height: 900 }, deviceScaleFactor: 1 });
    const page = await ctx.newPage();
    page.setDefaultTimeout(15000);
    await page.goto(`${base}${path}`);
    const img = page.locator('picture.project__cover img');
    await img.evaluate((el) => el.complete || new Promise((ok, no) => {
      el.addEventListener('load', ok); el.addEventListener('error', no);
    }));
    const got = await img.evaluate((el) => ({ src: el.currentSrc, w: el.naturalWidth }));
    check(`${name}: the cover is the ${want} variant`, got.src.endsWith(want), got.src);
    check(`${name}: the cover has loaded`, got.w > 0, `naturalWidth ${got.w}`);
    const box = await img.boundingBox();
    check(`${name}: the cover fits the page`, box && box.width <= width, JSON.stringify(box));
    await ctx.close();
  });
}
await browser.close();
finish();
