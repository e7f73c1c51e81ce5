// Configurator budgets, measured in Debian's Chromium (headless, offline):
//   - the .wasm as built: under 2 MB, and under 700 KB gzipped;
//   - a full render of the default spec: under 30 ms;
//   - the first render: within 1 s of loading the page.
//
//   web/build.sh && node bench/web.mjs
import { createRequire } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { fileURLToPath, pathToFileURL } from "node:url";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(path.join(repo, "web/package.json"));
const { chromium } = require("playwright-core");

const wasm = fs.readFileSync(path.join(repo, "web/dist/pkg/meshbundle_wasm_bg.wasm"));
const gz = zlib.gzipSync(wasm, { level: 9 }).length;
const results = [];
const report = (name, value, unit, budget) => {
  const ok = value <= budget;
  results.push(ok);
  console.log(`${name.padEnd(34)} ${value.toFixed(unit === "ms" ? 1 : 0).padStart(10)} ${unit.padEnd(5)} budget ${budget} ${unit}  ${ok ? "ok" : "OVER"}`);
};
report(".wasm size", wasm.length / 1024, "KiB", 2000 * 1000 / 1024);
report(".wasm gzipped", gz / 1024, "KiB", 700 * 1000 / 1024);

const profile = fs.mkdtempSync(path.join(os.tmpdir(), "meshbundle-bench-"));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  offline: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});
try {
  const page = ctx.pages()[0] || (await ctx.newPage());
  const firsts = [];
  for (let i = 0; i < 5; i++) {
    await page.goto(pathToFileURL(path.join(repo, "web/dist/index.html")).href);
    await page.waitForFunction(() => window.meshbundleTimings && window.meshbundleTimings.firstRender !== null, null, { timeout: 20000 });
    firsts.push(await page.evaluate(() => performance.now()));
  }
  firsts.sort((a, b) => a - b);
  report("first render after load (median)", firsts[2], "ms", 1000);
  const times = await page.evaluate(() => {
    const mb = wasm_bindgen;
    const r = new mb.Renderer(self.MESHBUNDLE_UPSTREAM);
    const spec = mb.examples()[0].text;
    const t = [];
    for (let i = 0; i < 40; i++) {
      const s = performance.now();
      const out = r.render(spec, null, null);
      t.push(performance.now() - s);
      if (!out.ok) throw new Error(out.error);
    }
    return t;
  });
  times.sort((a, b) => a - b);
  report("full render, default spec (median)", times[Math.floor(times.length / 2)], "ms", 30);
} finally {
  await ctx.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
process.exit(results.every(Boolean) ? 0 : 1);
