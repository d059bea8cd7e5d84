// Drives Debian's chromium (headless, through playwright-core; never a downloaded browser)
// through the goshelf web UI. Run by tests/web_ui.rs:
//
//   node tests/browser/ui.mjs --url http://127.0.0.1:PORT --out DIR --owner acme \
//        --module example.com/hello --version v1.0.0 --readme-text "..." \
//        [--user NAME --password PW --private-owner OWNER] [--retention-keep N]
//
// Exits non-zero with a message on the first failed check; saves screenshots in --out.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const args = {};
for (let i = 2; i < process.argv.length; i += 2) {
  args[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
}
for (const k of ["url", "out", "owner", "module", "version", "readme-text", "gosumdb"]) {
  if (!args[k]) {
    console.error(`ui.mjs: missing --${k}`);
    process.exit(2);
  }
}
const executablePath = process.env.GOSHELF_TEST_CHROMIUM || "/usr/bin/chromium";
mkdirSync(args.out, { recursive: true });

function check(cond, message) {
  if (!cond) {
    throw new Error(`check failed: ${message}`);
  }
  console.log(`ok: ${message}`);
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    // No --user-data-dir: playwright refuses it with launch() and gives every launch a fresh
    // temporary profile of its own.
  ],
});
let failed = false;
try {
  const origin = new URL(args.url).origin;
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin });
  const page = await context.newPage();
  const consoleErrors = [];
  // Script errors and CSP violations fail the test; "Failed to load resource" is the browser
  // reporting the 404 and 401 pages this test opens on purpose.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));

  // Home: the namespace and the recent version are listed.
  await page.goto(args.url + "/");
  check((await page.title()).includes("goshelf"), "home page title");
  check(await page.locator(`a[href="/ui/${args.owner}"]`).count() === 1, `home lists namespace ${args.owner}`);
  check((await page.locator("#stat-versions").textContent()).trim() !== "0", "home shows storage figures");
  await page.screenshot({ path: join(args.out, "home-desktop.png"), fullPage: true });

  // Search box finds the module.
  await page.fill("input[name=q]", args.module.split("/").pop());
  await page.press("input[name=q]", "Enter");
  await page.waitForURL(/\?q=/);
  check(await page.locator(`text=${args.module}`).count() > 0, "search finds the module");

  // Navigate: home -> namespace -> module, by clicking.
  await page.goto(args.url + "/");
  await page.click(`a[href="/ui/${args.owner}"]`);
  await page.waitForURL(`**/ui/${args.owner}`);
  await page.click(`text=${args.module}`);
  await page.waitForSelector("#readme");
  const readme = await page.locator("#readme").innerText();
  check(readme.includes(args["readme-text"]), `README shows "${args["readme-text"]}"`);
  const expected = `GOPROXY=${args.url}/api/packages/${args.owner}/go GOSUMDB=${args.gosumdb} go get ${args.module}@${args.version}`;
  const snippet = (await page.locator("#install-snippet").innerText()).trim();
  check(snippet === expected, `install snippet is "${expected}" (got "${snippet}")`);
  check((await page.locator("#gosum").innerText()).includes(`${args.module} ${args.version}/go.mod h1:`), "go.sum lines");

  // The copy button (script-enhanced) puts the snippet on the clipboard.
  const button = page.locator('button.copy[data-copy="install-snippet"]');
  check(await button.isVisible(), "copy button shown once the script ran");
  await button.click();
  await page.waitForFunction(() => document.querySelector('button.copy[data-copy="install-snippet"]').textContent === "Copied");
  const clip = await page.evaluate(() => navigator.clipboard.readText());
  check(clip === expected, `clipboard holds the install snippet (got "${clip}")`);
  await page.screenshot({ path: join(args.out, "module-desktop.png"), fullPage: true });

  // Package documentation (issue 22): the module page lists its packages; the package page
  // shows the index and the docs; a doc link goes to its symbol, a source link to the line,
  // and the symbol search finds the symbol.
  if (args["doc-symbol"]) {
    const sym = args["doc-symbol"];
    await page.click("#packages a[href$='/pkg']");
    await page.waitForURL(/\/pkg$/);
    check((await page.locator("h1").innerText()).startsWith("package "), "package page opens");
    check(await page.locator(`#index a[href="#${sym}"]`).count() === 1, `index lists ${sym}`);
    await page.screenshot({ path: join(args.out, "package-desktop.png"), fullPage: true });
    // The package comment's doc link [Sym] points at the symbol on this page.
    await page.click(`#overview a[href="#${sym}"]`);
    await page.waitForURL(new RegExp(`#${sym}$`));
    check(await page.locator(`[id="${sym}"]`).isVisible(), `doc link goes to ${sym}`);
    // Its source link opens the file at its line, which is highlighted.
    await page.click(`[id="${sym}"] .source-link a`);
    await page.waitForURL(/\/src\/.*#L\d+$/);
    const line = new URL(page.url()).hash.slice(1);
    const text = await page.locator(`[id="${line}"]`).innerText();
    check(text.includes(sym), `source link lands on ${line}: "${text.trim()}"`);
    const bgLine = await page.locator(`[id="${line}"]`).evaluate((e) => getComputedStyle(e).backgroundColor);
    check(bgLine !== "rgba(0, 0, 0, 0)", `the target line is highlighted (${bgLine})`);
    await page.screenshot({ path: join(args.out, "source-desktop.png"), fullPage: false });
    // The symbol search, with the keyboard only.
    await page.goto(args.url + "/");
    await page.focus("input[name=q]");
    await page.keyboard.type(sym);
    await page.keyboard.press("Enter");
    await page.waitForURL(/\?q=/);
    const hit = page.locator(`#symbols a[href$="/pkg#${sym}"]`);
    check(await hit.count() === 1, `symbol search finds ${sym}`);
    await hit.click();
    await page.waitForURL(new RegExp(`/pkg#${sym}$`));
    check(await page.locator(`[id="${sym}"]`).isVisible(), "search result opens the symbol");
    await page.goto(args.url + `/ui/${args.owner}/${args.module}`);
  }

  // Phone-sized and dark.
  const phone = await browser.newContext({
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
    colorScheme: "dark",
  });
  const p2 = await phone.newPage();
  await p2.goto(page.url());
  const overflow = await p2.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `no horizontal scrolling on a phone (overflow ${overflow}px)`);
  const bg = await p2.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check(bg !== "rgb(255, 255, 255)", `dark color scheme applied (body ${bg})`);
  await p2.screenshot({ path: join(args.out, "module-phone-dark.png"), fullPage: false });
  await p2.goto(args.url + "/");
  await p2.screenshot({ path: join(args.out, "home-phone-dark.png"), fullPage: true });
  await phone.close();

  // An unknown page is the 404 page.
  const resp = await page.goto(args.url + "/ui/nobody-here");
  check(resp.status() === 404, "unknown namespace is 404");
  check((await page.locator("h1").innerText()) === "Not found", "404 page");

  // Sign in to see a private namespace.
  if (args.user) {
    const priv = args["private-owner"];
    await page.goto(args.url + "/");
    check(await page.locator(`a[href="/ui/${priv}"]`).count() === 0, `private ${priv} hidden when signed out`);
    await page.click("text=Sign in");
    await page.fill("input[name=user]", args.user);
    await page.fill("input[name=password]", "wrong-" + args.password);
    await page.click("button[type=submit]");
    check((await page.locator("#signin-error").innerText()).includes("wrong user name or password"), "wrong password refused");
    await page.fill("input[name=user]", args.user);
    await page.fill("input[name=password]", args.password);
    await page.click("button[type=submit]");
    await page.waitForURL(args.url + "/");
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === "goshelf_session");
    check(session && session.httpOnly && session.sameSite === "Strict", "session cookie is HttpOnly, SameSite=Strict");
    check(await page.locator(`a[href="/ui/${priv}"]`).count() === 1, `private ${priv} listed after sign-in`);
    await page.click(`a[href="/ui/${priv}"]`);
    check((await page.locator("h1").innerText()).includes(priv), `private namespace page opens`);
    await page.screenshot({ path: join(args.out, "private-namespace.png"), fullPage: true });
    // Tokens page: create and revoke a token.
    await page.goto(args.url + "/tokens");
    await page.fill("input[name=name]", "browser-test");
    await page.click("text=Create token");
    const secret = (await page.locator("#new-secret").innerText()).trim();
    check(secret.length > 20, "new token shown once");
    await page.screenshot({ path: join(args.out, "tokens.png"), fullPage: true });
    await page.click("text=Revoke");
    check(await page.locator("text=browser-test").count() === 0, "token revoked");
    await page.click("text=Sign out");
    await page.waitForURL(args.url + "/");
    check(await page.locator(`a[href="/ui/${priv}"]`).count() === 0, "signed out: private hidden again");
  }
  // An admin adds a private pattern on the settings page.
  if (args["admin-user"]) {
    await page.click("text=Sign in");
    await page.fill("input[name=user]", args["admin-user"]);
    await page.fill("input[name=password]", args["admin-password"]);
    await page.click("button[type=submit]");
    await page.waitForURL(args.url + "/");
    await page.click("text=Settings");
    await page.waitForURL(args.url + "/settings");
    check((await page.locator("#gosumdb").innerText()).trim() === "GOSUMDB=" + args.gosumdb, "settings show GOSUMDB");
    await page.fill("input[name=pattern]", args["new-pattern"]);
    await page.click("text=Add pattern");
    check((await page.locator("#settings-message").innerText()).includes(args["new-pattern"]), "pattern added message");
    check(await page.locator(`#patterns code:text-is("${args["new-pattern"]}")`).count() === 1, "new pattern listed");
    await page.screenshot({ path: join(args.out, "settings.png"), fullPage: true });
    // The pull-through cache's page lists the cached module apart from hosted ones.
    if (args["cached-module"]) {
      const [cachedPath, cachedVersion] = args["cached-module"].split("@");
      await page.click("text=Cache");
      await page.waitForURL(args.url + "/cache");
      const row = page.locator("#cached tbody tr", { hasText: cachedPath });
      check(await row.count() === 1, "cached module listed");
      check((await row.innerText()).includes(cachedVersion), "cached version listed");
      check((await row.locator(".downloads").innerText()).trim() === "2", "cached downloads counted");
      await page.screenshot({ path: join(args.out, "cache.png"), fullPage: true });
    }
    // The admin, a writer of every namespace, sets the owner's retention rules on its page.
    if (args["retention-keep"]) {
      await page.goto(`${args.url}/ui/${args.owner}`);
      check((await page.locator("#retention").innerText()).includes("no rules"), "no retention rules yet");
      await page.fill("#retention-form input[name=keep_pseudo]", args["retention-keep"]);
      await page.click("text=Save rules");
      await page.waitForURL(`${args.url}/ui/${args.owner}`);
      const said = await page.locator("#retention").innerText();
      check(said.includes(`keep the newest ${args["retention-keep"]} pseudo-versions`), `retention rules shown (${said})`);
      check(await page.locator("#retention-form input[name=keep_pseudo]").inputValue() === args["retention-keep"], "form shows the rule");
      await page.screenshot({ path: join(args.out, "retention.png"), fullPage: true });
    }
    await page.click("text=Sign out");
  }
  check(consoleErrors.length === 0, `no script errors or CSP violations (${consoleErrors.join("; ")})`);
} catch (e) {
  failed = true;
  console.error(`ui.mjs: ${e.message}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
