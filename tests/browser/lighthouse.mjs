// Lighthouse (the npm package, pinned in package.json) over Debian's chromium, for the web
// UI's accessibility and performance scores (issue 22). Run by tests/lighthouse.rs:
//
//   node tests/browser/lighthouse.mjs URL...
//
// Prints one JSON line per URL: {"url", "accessibility", "performance", "failing": [audit
// ids of the categories that scored below 1]}. Desktop settings (lighthouse's desktop
// preset: no mobile CPU slowdown, a fast network): a shelf is read on the LAN.
import lighthouse from "lighthouse";
import desktopConfig from "lighthouse/core/config/desktop-config.js";
import * as chromeLauncher from "chrome-launcher";

const urls = process.argv.slice(2);
if (urls.length === 0) {
  console.error("lighthouse.mjs: no URL");
  process.exit(2);
}
const chrome = await chromeLauncher.launch({
  chromePath: process.env.GOSHELF_TEST_CHROMIUM || "/usr/bin/chromium",
  chromeFlags: ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let failed = false;
try {
  for (const url of urls) {
    const result = await lighthouse(url, {
      port: chrome.port,
      output: "json",
      logLevel: "error",
      onlyCategories: ["accessibility", "performance"],
    }, desktopConfig);
    const lhr = result.lhr;
    const failing = [];
    for (const cat of Object.values(lhr.categories)) {
      for (const ref of cat.auditRefs) {
        const a = lhr.audits[ref.id];
        if (ref.weight > 0 && a.score !== null && a.score < 1) {
          const items = (a.details && a.details.items) || [];
          const nodes = items.slice(0, 3).map((i) => (i.node && i.node.snippet) || "").join(" | ");
          failing.push(`${ref.id}:${a.score} ${nodes}`);
        }
      }
    }
    console.log(JSON.stringify({
      url,
      accessibility: Math.round(lhr.categories.accessibility.score * 100),
      performance: Math.round(lhr.categories.performance.score * 100),
      failing,
      runtimeError: lhr.runtimeError ? lhr.runtimeError.message : null,
    }));
  }
} catch (e) {
  failed = true;
  console.error(`lighthouse.mjs: ${e.stack || e}`);
} finally {
  await chrome.kill();
}
process.exit(failed ? 1 : 0);
