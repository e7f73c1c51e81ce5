// Configurator budgets, measured in Debian's Chromium (headless, offline,
// opened from file://), each on one line with its budget:
//   - what the page loads: every file of web/dist the page requests for the
//     production example, gzipped (level 9), at most 700 KB in all (the
//     upstream manifests of other versions and choices load only when a
//     spec needs them);
//   - the first render: under 300 ms from navigation start in a new tab
//     until the page has the files and starts showing them (median of 5),
//     which compiles the module the browser keeps from the visits before
//     (its bytes: from file:// the browser keeps no compiled code, so each
//     function is compiled the first time it runs); beside it, when the
//     browser has drawn them (the next frame), and, for reference, the
//     first visit in a new browser profile, which unpacks the module
//     (median of 3);
//   - a full render of the production example inside the worker, as the page
//     has it made (the files, their SHA-256 and the tree digest): under 20 ms
//     (median of 40);
//   - input to update (a keystroke in the form until the files are rendered
//     again, 120 ms of debounce included) at 6, 250 and 2,000 nodes, and the
//     longest time the page's own thread was blocked meanwhile (the longest
//     gap between timer ticks): under 50 ms at every size, so typing never
//     stalls;
//   - the same for Add node and for Remove on the row it added (median of 6
//     clicks): the table changes by a row (it shows 50 nodes at a time;
//     Add node shows the last 50), and the page never stalls.
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
const dist = process.env.WEB_DIST || path.join(repo, "web/dist");
const pageUrl = pathToFileURL(path.join(dist, "index.html")).href;

const results = [];
const report = (name, value, unit, budget) => {
  const ok = value <= budget;
  results.push(ok);
  const digits = unit === "ms" ? 1 : 0;
  console.log(`${name.padEnd(44)} ${value.toFixed(digits).padStart(9)} ${unit.padEnd(3)} budget ${String(budget).padStart(5)} ${unit}  ${ok ? "ok" : "OVER"}`);
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// The machine's speed at the moment, for reading the figures: the same
// fixed loop of arithmetic (median of 3), which takes about 1,000 ms on this
// machine when it is quiet. A shared machine slows by up to half at times,
// and every figure below with it.
const machineSpeed = () => {
  const runs = [];
  for (let r = 0; r < 3; r++) {
    const start = performance.now();
    let x = 0;
    for (let i = 0; i < 1e8; i++) x = (x * 1103515245 + 12345) | 0;
    runs.push(performance.now() - start + (x & 0));
  }
  return median(runs) * 2;
};

const launch = (dir) => chromium.launchPersistentContext(dir, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  offline: true,
  viewport: { width: 1600, height: 1000 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});

// The first visit: a new browser profile each time, nothing kept.
const firstVisits = [];
for (let i = 0; i < 3; i++) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "meshbundle-bench-first-"));
  const c = await launch(dir);
  try {
    const tab = c.pages()[0] || (await c.newPage());
    await tab.goto(pageUrl);
    await tab.waitForFunction(() => window.meshbundleTimings && window.meshbundleTimings.firstRenderAt !== null, null, { timeout: 30000 });
    if (await tab.evaluate(() => window.meshbundleTimings.moduleKept)) throw new Error("a new profile had the module kept");
    firstVisits.push(await tab.evaluate(() => window.meshbundleTimings.firstRenderAt));
  } finally {
    await c.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const profile = fs.mkdtempSync(path.join(os.tmpdir(), "meshbundle-bench-"));
const ctx = await launch(profile);
try {
  const page = ctx.pages()[0] || (await ctx.newPage());
  const loaded = new Set();
  page.on("request", (r) => loaded.add(r.url()));
  const open = async () => {
    await page.goto(pageUrl);
    await page.waitForFunction(() => window.meshbundleTimings && window.meshbundleTimings.firstRenderAt !== null, null, { timeout: 30000 });
    await page.waitForFunction(() => document.documentElement.dataset.busy === "false");
  };

  // Each first render in a new tab, as a user opens the page: no autosave
  // from the run before, and no page of the run before to unload (which a
  // navigation from a running configurator counts too: its figure is
  // printed beside).
  const speedBefore = machineSpeed();
  const firsts = [];
  const onScreen = [];
  const forms = [];
  const reloads = [];
  for (let i = 0; i < 5; i++) {
    await open();
    await page.evaluate(() => localStorage.clear());
    await open();
    reloads.push(await page.evaluate(() => window.meshbundleTimings.firstRenderAt));
    await page.evaluate(() => localStorage.clear());
    await page.goto("about:blank");
    const tab = await ctx.newPage();
    tab.on("request", (r) => loaded.add(r.url()));
    await tab.goto(pageUrl);
    await tab.waitForFunction(() => window.meshbundleTimings && window.meshbundleTimings.firstRenderAt !== null, null, { timeout: 30000 });
    if (!(await tab.evaluate(() => window.meshbundleTimings.moduleKept))) throw new Error("a new tab unpacked the module the browser keeps");
    firsts.push(await tab.evaluate(() => window.meshbundleTimings.firstRenderAt));
    await tab.waitForFunction(() => window.meshbundleTimings.filesOnScreenAt !== undefined, null, { timeout: 30000 });
    onScreen.push(await tab.evaluate(() => window.meshbundleTimings.filesOnScreenAt));
    await tab.waitForFunction(() => window.meshbundleTimings.formAt !== undefined, null, { timeout: 30000 });
    forms.push(await tab.evaluate(() => window.meshbundleTimings.formAt));
    await tab.close();
  }
  await open();

  let total = 0;
  // blob: is the worker, made from index.html's first script (counted there).
  for (const url of [...loaded].filter((u) => !u.startsWith("blob:")).sort()) {
    if (!url.startsWith("file:")) throw new Error(`the page requested ${url}`);
    const gz = zlib.gzipSync(fs.readFileSync(fileURLToPath(url)), { level: 9 }).length;
    total += gz;
    console.log(`  loads ${path.relative(dist, fileURLToPath(url)).padEnd(52)} ${(gz / 1000).toFixed(1).padStart(9)} KB gzipped`);
  }
  const loadedFiles = new Set([...loaded].filter((u) => u.startsWith("file:")).map((u) => fileURLToPath(u)));
  const unused = fs.readdirSync(dist, { recursive: true }).filter((f) => fs.statSync(path.join(dist, f)).isFile() && !loadedFiles.has(path.join(dist, f)));
  // Upstream manifests load only when a spec needs them (other versions and choices).
  const later = unused.filter((f) => f.startsWith(`upstream${path.sep}`));
  const never = unused.filter((f) => !later.includes(f));
  if (later.length) {
    const gz = later.reduce((n, f) => n + zlib.gzipSync(fs.readFileSync(path.join(dist, f)), { level: 9 }).length, 0);
    console.log(`  not loaded for this spec: ${later.length} other upstream manifests, ${(gz / 1000).toFixed(1)} KB gzipped`);
  }
  if (never.length) console.log(`  shipped but never loaded: ${never.join(", ")}`);
  report("everything the page loads, gzipped", total / 1000, "KB", 700);
  report("first render in a new tab (median of 5)", median(firsts), "ms", 300);
  // The speed of a shared machine varies between runs (the same page
  // measured 388 and 508 ms here within half an hour): the five show the
  // spread of this run.
  console.log(`  each: ${[...firsts].sort((a, b) => a - b).map((x) => x.toFixed(0)).join(", ")} ms`);
  // The first render is when the page has the files and starts showing
  // them; the browser draws them in the frame after.
  console.log(`  the files on the screen (the next frame drawn, median of the same tabs): ${median(onScreen).toFixed(1)} ms`);
  // The page shows the files first, then builds its form (which would
  // otherwise hold its thread while the files wait): when that is there.
  console.log(`  the form is there by (median of the same tabs): ${median(forms).toFixed(1)} ms`);
  console.log(`  the same, reloading a running configurator: ${median(reloads).toFixed(1)} ms`);
  console.log(`  the first visit, a new browser profile (unpacks the module, median of 3): ${median(firstVisits).toFixed(1)} ms`);
  console.log(`  this machine's speed meanwhile: the fixed loop took ${speedBefore.toFixed(0)} ms before, ${machineSpeed().toFixed(0)} ms after (about 1,000 when quiet)`);

  const production = fs.readFileSync(path.join(repo, "core/examples/production.yaml"), "utf8");
  const [worker] = page.workers();
  // As the page has it rendered: the files, hashed by the browser, and the tree digest.
  const renders = await worker.evaluate(async (spec) => {
    const t = [];
    for (let i = 0; i < 40; i++) {
      const s = performance.now();
      const out = await own.render_summary(spec, null, null);
      t.push(performance.now() - s);
      if (!out.ok) throw new Error(out.error);
    }
    return t;
  }, production);
  report("full render, production example (median)", median(renders), "ms", 20);

  for (const [nodes, budget] of [[6, 400], [250, 1000], [2000, 6000]]) {
    const spec = await page.evaluate(async ([text, n]) => {
      const api = window.meshbundleApi;
      const s = (await api.validate(text)).spec;
      const zone = s.spec.nodes[0].zone;
      s.spec.nodes = s.spec.nodes.slice(0, Math.min(n, s.spec.nodes.length));
      for (let i = s.spec.nodes.length; i < n; i++) {
        s.spec.nodes.push({ name: `w-${i}`, address: `10.${10 + Math.floor(i / 250)}.${i % 250}.10`, role: "worker", zone });
      }
      delete s.spec.kubernetes.nodeSubnet;
      s.spec.kubernetes.podSubnet = "10.128.0.0/12";
      return (await api.spec_to_yaml(s)).yaml;
    }, [production, nodes]);
    const specFile = path.join(profile, `bench-${nodes}.yaml`);
    fs.writeFileSync(specFile, spec);
    const before = await page.evaluate(() => window.meshbundleTimings.updates);
    await page.setInputFiles("#load-spec", specFile);
    await page.waitForFunction((n) => window.meshbundleTimings.updates > n && document.documentElement.dataset.busy === "false", before, { timeout: 120000 });
    // The nodes table shows 50 nodes at a time.
    const rows = await page.locator("table.nodes tbody tr").count();
    if (rows !== Math.min(nodes, 50)) throw new Error(`${nodes} nodes asked, the form shows ${rows} rows`);
    if (nodes > 50 && !(await page.textContent("#node-range")).endsWith(`of ${nodes.toLocaleString("en")}`)) throw new Error(`${nodes} nodes asked, the pager says ${await page.textContent("#node-range")}`);
    const samples = [];
    for (let i = 0; i < 5; i++) {
      samples.push(await page.evaluate(async (i) => {
        const html = document.documentElement;
        const t = window.meshbundleTimings;
        const tz = document.querySelector("[data-path='spec.timezone']");
        let last = performance.now();
        let gap = 0;
        const tick = setInterval(() => { const now = performance.now(); gap = Math.max(gap, now - last); last = now; }, 1);
        const n = t.updates;
        const start = performance.now();
        tz.value = `Etc/GMT+${i + 1}`;
        tz.dispatchEvent(new Event("input", { bubbles: true }));
        await new Promise((resolve) => {
          const poll = () => (t.updates > n && html.dataset.busy === "false" ? resolve() : setTimeout(poll, 1));
          poll();
        });
        const took = performance.now() - start;
        clearInterval(tick);
        gap = Math.max(gap, performance.now() - last);
        return { took, gap };
      }, i));
    }
    report(`input to update, ${nodes} nodes (median)`, median(samples.map((s) => s.took)), "ms", budget);
    report(`  page thread blocked at most, ${nodes} nodes`, median(samples.map((s) => s.gap)), "ms", 50);
    // Add node, then Remove on the row it added: the table changes by a row.
    const clicks = [];
    for (let i = 0; i < 3; i++) {
      for (const selector of ["#add-node", "table.nodes tbody tr:last-child .remove-node"]) {
        clicks.push(await page.evaluate(async (selector) => {
          const html = document.documentElement;
          const t = window.meshbundleTimings;
          let last = performance.now();
          let gap = 0;
          const tick = setInterval(() => { const now = performance.now(); gap = Math.max(gap, now - last); last = now; }, 1);
          const n = t.updates;
          // The last row shows another node once the table has changed.
          const lastRow = () => { const body = document.querySelector("table.nodes tbody"); return body.rows.length + ":" + (body.lastElementChild ? body.lastElementChild.dataset.index : ""); };
          const rows = lastRow();
          const start = performance.now();
          document.querySelector(selector).click();
          await new Promise((resolve) => {
            const poll = () => (t.updates > n && html.dataset.busy === "false" && lastRow() !== rows ? resolve() : setTimeout(poll, 1));
            poll();
          });
          const took = performance.now() - start;
          clearInterval(tick);
          return { took, gap: Math.max(gap, performance.now() - last) };
        }, selector));
      }
    }
    report(`Add node or Remove, ${nodes} nodes (median)`, median(clicks.map((s) => s.took)), "ms", budget);
    report(`  page thread blocked at most, ${nodes} nodes`, median(clicks.map((s) => s.gap)), "ms", 50);
  }
} finally {
  await ctx.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
process.exit(results.every(Boolean) ? 0 : 1);
