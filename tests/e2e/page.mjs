// End-to-end test of the configurator page itself, in Debian's Chromium
// driven by playwright-core, opened from file:// with the network off:
//   - layout: no sideways scrolling of the page from 360 to 2560 px, the nodes
//     table readable on a phone, and axe-core finds no violation at 390, 1280
//     and 1920 px, in light and dark mode;
//   - the module runs in a Web Worker: the page's own thread keeps running
//     timers while a 2,000-node site is validated and rendered;
//   - autosave survives a reload; "Copy link" round-trips the exact spec
//     (never secrets) and wins over the autosave;
//   - a later visit compiles the module kept in Cache Storage, and only if
//     its bytes have the page's digest (every file:// page shares that
//     storage); a worker that can get no module fails every call, saying why;
//   - secrets and lock are shown (file, site, fingerprint), replaced and
//     cleared; a bad lock is a problem in Problems;
//   - downloads flush input typed within the debounce window;
//   - stale output is marked and the disabled download says why;
//   - Add node with an address-less last node, after a removal; focus after
//     removing a node; field errors announced; YAML does not soft-wrap;
//   - help and allowed values come from the schema `meshbundle schema` prints;
//     the viewer copies, downloads one file, and diffs against the last
//     download;
//   - the .tar.gz stays byte-identical to `meshbundle render --tar` after form
//     edits with secrets loaded.
//
//   node tests/e2e/page.mjs      (after web/build.sh and cargo build)
//
// Environment: MESHBUNDLE_BIN (default target/debug/meshbundle), CHROMIUM
// (default /usr/bin/chromium), WEB_DIST (default web/dist), E2E_OUT
// (default target/e2e).

import { createRequire } from "node:module";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import assert from "node:assert/strict";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(path.join(repo, "web/package.json"));
const { chromium } = require("playwright-core");
const axeSource = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

const bin = process.env.MESHBUNDLE_BIN || path.join(repo, "target/debug/meshbundle");
const dist = process.env.WEB_DIST || path.join(repo, "web/dist");
const out = process.env.E2E_OUT || path.join(repo, "target/e2e");
const pageUrl = pathToFileURL(path.join(dist, "index.html")).href;
fs.mkdirSync(out, { recursive: true });
assert.ok(fs.existsSync(path.join(dist, "index.html")), `${dist} is not built: run web/build.sh`);
assert.ok(fs.existsSync(bin), `${bin} is not built: cargo build`);

const work = fs.mkdtempSync(path.join(os.tmpdir(), "meshbundle-page-"));
const profile = fs.mkdtempSync(path.join(os.tmpdir(), "meshbundle-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  offline: true,
  acceptDownloads: true,
  viewport: { width: 1280, height: 900 },
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
  ],
});
// Nothing may leave the machine: every request that is not a local file fails.
await context.route(/^(?!file:|data:|blob:)/, (route) => route.abort());

const step = (s) => console.log(`e2e page: ${s}`);
const requests = [];
const errors = [];
const page = context.pages()[0] || (await context.newPage());
page.on("request", (r) => requests.push(r.url()));
page.on("pageerror", (e) => errors.push(String(e)));
page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });

const secretsFile = path.join(work, "site.secrets.yaml");
fs.copyFileSync(path.join(repo, "tests/fixtures/production.secrets.yaml"), secretsFile);
fs.chmodSync(secretsFile, 0o600);
const production = fs.readFileSync(path.join(repo, "core/examples/production.yaml"), "utf8");

async function open(url = pageUrl) {
  await page.goto(url);
  await page.waitForSelector("html[data-ready=true]", { timeout: 30000 });
  await settle();
}
// Waits until the page has answered every change made so far.
async function settle() {
  await page.waitForFunction(() => document.documentElement.dataset.busy === "false", null, { timeout: 60000 });
}
async function loadSpec(text, name = "meshbundle.yaml") {
  const file = path.join(work, name);
  fs.writeFileSync(file, text);
  const updates = await page.evaluate(() => window.meshbundleTimings.updates);
  await page.setInputFiles("#load-spec", file);
  await page.waitForFunction((t) => document.getElementById("yaml").value === t, text);
  await page.waitForFunction((n) => window.meshbundleTimings.updates > n, updates, { timeout: 60000 });
  await settle();
}
const field = (p) => page.locator(`[data-path="${p}"]`);
async function download(selector) {
  const [dl] = await Promise.all([page.waitForEvent("download"), page.click(selector)]);
  const file = path.join(work, `${Date.now()}-${dl.suggestedFilename()}`);
  await dl.saveAs(file);
  return file;
}
function cliTar(specText, secrets) {
  // The page names its spec meshbundle.yaml (its download name), and the
  // rendered README and file headers carry the spec's file name.
  fs.mkdirSync(path.join(work, "cli"), { recursive: true });
  const spec = path.join(work, "cli", "meshbundle.yaml");
  fs.writeFileSync(spec, specText);
  const tar = path.join(work, "cli.tar.gz");
  fs.rmSync(tar, { force: true });
  execFileSync(bin, ["render", spec, "--tar", tar, ...(secrets ? ["--secrets", secrets] : [])], { stdio: "pipe" });
  return fs.readFileSync(tar);
}
async function axe(label) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"], preload: false }));
  const found = result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
  assert.deepEqual(found, [], `axe-core at ${label}`);
}

try {
  step(`open ${pageUrl} with the network off`);
  await open();

  assert.equal(await page.evaluate(() => window.meshbundleTimings.moduleKept), false, "a new profile unpacks the module");

  step("the module runs in a worker, not on the page's thread");
  assert.equal(await page.evaluate("typeof wasm_bindgen"), "undefined", "no wasm-bindgen glue on the page");
  const workers = page.workers();
  assert.ok(workers.length >= 1 && workers.some((w) => w.url().startsWith("blob:")), "a worker started from a Blob URL");
  assert.ok(await workers[0].evaluate(() => typeof wasm_bindgen === "function"), "the worker holds the module");

  step("layout and accessibility at 360 to 2560 px, light and dark");
  await loadSpec(production, "production.yaml");
  for (const width of [360, 390, 1280, 1366, 1440, 1920, 2560]) {
    await page.setViewportSize({ width, height: 900 });
    const { scrollWidth, innerWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));
    assert.ok(scrollWidth <= innerWidth, `at ${width} px the page is ${scrollWidth} px wide`);
    // Each node's role is shown whole ("control-plane"), arrow beside.
    const cut = await page.evaluate(() => {
      const ctx = document.createElement("canvas").getContext("2d");
      return [...document.querySelectorAll("table.nodes select")].filter((s) => {
        const st = getComputedStyle(s);
        ctx.font = st.font;
        return ctx.measureText(s.value).width + parseFloat(st.paddingLeft) + parseFloat(st.paddingRight) + 20 > s.clientWidth;
      }).length;
    });
    assert.equal(cut, 0, `at ${width} px every node's role is shown whole`);
    if (width >= 1700) {
      // Four columns: the section list stays in view as the form scrolls.
      await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight / 2));
      const top = await page.evaluate(() => document.querySelector("nav ol").getBoundingClientRect().top);
      assert.ok(top >= 0 && top < 50, `at ${width} px the section list stays in view (top ${top})`);
      await page.evaluate(() => window.scrollTo(0, 0));
    }
    if (width <= 390) {
      // Every column of the nodes table is on screen.
      const offscreen = await page.evaluate(() => [...document.querySelectorAll("table.nodes input, table.nodes select")]
        .filter((e) => { const r = e.getBoundingClientRect(); return r.width < 40 || r.right > window.innerWidth || r.left < 0; }).length);
      assert.equal(offscreen, 0, `at ${width} px every node field is on screen and usable`);
      const cramped = await page.evaluate(() => [...document.querySelectorAll(".field label")].filter((l) => l.getBoundingClientRect().width < 120).length);
      assert.equal(cramped, 0, `at ${width} px every field label has room (a line of its own)`);
    }
    if ([390, 1280, 1920].includes(width)) {
      await axe(`${width} px`);
      await page.emulateMedia({ colorScheme: "dark" });
      assert.notEqual(await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor), "rgb(255, 255, 255)", "dark mode follows the system");
      await axe(`${width} px, dark`);
      await page.emulateMedia({ colorScheme: "light" });
    }
    await page.screenshot({ path: path.join(out, `page-${width}.png`), fullPage: false });
  }
  // In one column the YAML and file panes do not overlap.
  await page.setViewportSize({ width: 390, height: 900 });
  const overlap = await page.evaluate(() => {
    const a = document.getElementById("yaml-pane").getBoundingClientRect();
    const b = document.getElementById("preview").getBoundingClientRect();
    return a.bottom > b.top && b.bottom > a.top;
  });
  assert.ok(!overlap, "the YAML and file panes do not overlap at 390 px");
  // On a phone: add a node, name it, remove it; the page still fits.
  const phoneRows = await page.locator("table.nodes tbody tr").count();
  await page.click("#add-node");
  await settle();
  await page.fill("table.nodes tbody tr:last-child td:first-child input", "phone-node");
  await settle();
  assert.match(await page.inputValue("#yaml"), /name: phone-node/);
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth), "fits after adding a node at 390 px");
  await page.click("table.nodes tbody tr:last-child .remove-node");
  await settle();
  assert.equal(await page.locator("table.nodes tbody tr").count(), phoneRows);
  assert.doesNotMatch(await page.inputValue("#yaml"), /phone-node/);
  await page.setViewportSize({ width: 1280, height: 900 });

  step("the YAML editor does not soft-wrap and has a label");
  assert.equal(await page.evaluate(() => getComputedStyle(document.getElementById("yaml")).whiteSpace), "pre");
  assert.equal(await page.locator("#yaml").getAttribute("wrap"), "off");
  assert.equal(await page.getByLabel("meshbundle.yaml", { exact: true }).count(), 1);

  step("help and allowed values come from the schema the CLI prints");
  const cliSchema = JSON.parse(execFileSync(bin, ["schema"], { encoding: "utf8" }));
  const podId = await field("spec.kubernetes.podSubnet").getAttribute("id");
  assert.equal(await page.textContent(`#${podId}-help`),
    cliSchema.$defs.Kubernetes.properties.podSubnet.description.replace(/`/g, "").replace(/([^\n])\n(?!\n)/g, "$1 ") + "\nDefault: " + cliSchema.$defs.Kubernetes.properties.podSubnet.default);
  const cniOptions = await field("spec.kubernetes.cni").evaluate((s) => [...s.options].map((o) => o.value).filter((v) => v));
  assert.deepEqual(cniOptions, cliSchema.$defs.Cni.enum);
  const schemaFile = await download("#download-schema");
  // The same bytes, not only the same value (`1.0` stays `1.0`).
  assert.equal(fs.readFileSync(schemaFile, "utf8"), execFileSync(bin, ["schema"], { encoding: "utf8" }), "Download meshbundle.schema.json is `meshbundle schema`");

  step("a 2,000-node site: a keystroke does not block the page");
  const big = await page.evaluate(async () => {
    const api = window.meshbundleApi;
    const v = await api.validate(document.getElementById("yaml").value);
    const s = v.spec;
    const first = s.spec.nodes[0];
    for (let i = s.spec.nodes.length; i < 2000; i++) {
      s.spec.nodes.push({ name: `w-${i}`, address: `10.${10 + Math.floor(i / 250)}.${i % 250}.10`, role: "worker", zone: first.zone });
    }
    delete s.spec.kubernetes.nodeSubnet;
    s.spec.kubernetes.podSubnet = "10.128.0.0/12";
    return (await api.spec_to_yaml(s)).yaml;
  });
  await loadSpec(big, "big.yaml");
  // The nodes table shows 50 nodes at a time, with a pager.
  assert.equal(await page.locator("table.nodes tbody tr").count(), 50);
  assert.equal(await page.textContent("#node-range"), "Nodes 1\u201350 of 2,000");
  assert.ok(await page.isDisabled("#node-prev"));
  const ticks = await page.evaluate(async () => {
    let n = 0;
    const t = setInterval(() => n++, 1);
    const html = document.documentElement;
    const during = new Promise((resolve) => {
      let atStart = null;
      new MutationObserver((_, obs) => {
        if (html.dataset.working === "true" && atStart === null) atStart = n;
        if (html.dataset.working === "false" && atStart !== null) { obs.disconnect(); resolve(n - atStart); }
      }).observe(html, { attributes: true, attributeFilter: ["data-working"] });
    });
    const tz = document.querySelector("[data-path='spec.timezone']");
    tz.value = "Europe/Paris";
    tz.dispatchEvent(new Event("input", { bubbles: true }));
    const r = await during;
    clearInterval(t);
    return r;
  });
  assert.ok(ticks > 0, "timers keep firing on the page while a 2,000-node site is validated and rendered");
  await settle();
  // The editor is folded at this size: it shows the text once unfolded.
  assert.equal(await page.isHidden("#yaml"), true, "a 2,000-node spec folds the editor");
  await page.click("#yaml-toggle");
  assert.match(await page.inputValue("#yaml"), /timezone: Europe\/Paris/);

  step("a 2,000-node site: the pager, a problem on another page, Add node and Remove");
  const rowNames = () => page.$$eval("table.nodes tbody tr", (rows) => rows.map((r) => r.querySelector("[data-path$='.name']").value));
  const rowPaths = () => page.$$eval("table.nodes tbody tr", (rows) => rows.map((r) => r.querySelector("[data-path$='.name']").dataset.path));
  await page.click("#node-next");
  assert.equal(await page.textContent("#node-range"), "Nodes 51\u2013100 of 2,000");
  assert.deepEqual((await rowNames()).slice(0, 2), ["w-50", "w-51"]);
  assert.equal((await rowPaths())[0], "spec.nodes[50].name");
  assert.equal(await page.getAttribute("table.nodes tbody tr:first-child .remove-node", "aria-label"), "Remove node 51");
  await page.selectOption("#node-page", "1950");
  assert.equal(await page.textContent("#node-range"), "Nodes 1951\u20132000 of 2,000");
  assert.equal((await rowNames()).at(-1), "w-1999");
  assert.ok(await page.isDisabled("#node-next"));
  await axe("2,000 nodes, the pager shown");
  // Find node: Enter shows the page of the next node whose name or address
  // holds the text (any case) and marks its row, the focus staying in the
  // field; Shift+Enter the one before; "Go to node" focuses its name.
  const findResult = (want) => page.waitForFunction((w) => document.querySelector("#node-find-result").textContent === w, want)
    .catch(async () => assert.equal(await page.textContent("#node-find-result"), want));
  const foundRows = () => page.$$eval("table.nodes tbody tr.found", (trs) => trs.map((tr) => tr.dataset.index));
  await page.fill("#node-find", "W-1777");
  await page.press("#node-find", "Enter");
  await findResult("Node 1778: w-1777 (1 of 1)");
  assert.equal(await page.textContent("#node-range"), "Nodes 1751\u20131800 of 2,000");
  assert.equal(await page.evaluate(() => document.activeElement.id), "node-find");
  assert.deepEqual(await foundRows(), ["1777"]);
  assert.equal(await page.textContent("#node-find-go"), "Go to node 1778");
  await axe("Find node, a node found");
  await page.click("#node-find-go");
  assert.equal(await page.evaluate(() => document.activeElement.dataset.path), "spec.nodes[1777].name");
  // A new text searches from the first node; Enter again goes on, from the
  // keyboard, in the field.
  await page.fill("#node-find", "w-177");
  await page.press("#node-find", "Enter");
  await findResult("Node 178: w-177 (1 of 11)");
  assert.equal(await page.textContent("#node-range"), "Nodes 151\u2013200 of 2,000");
  await page.keyboard.press("Enter");
  await findResult("Node 1771: w-1770 (2 of 11)");
  assert.deepEqual(await foundRows(), ["1770"]);
  await page.keyboard.press("Shift+Enter");
  await findResult("Node 178: w-177 (1 of 11)");
  await page.keyboard.press("Shift+Enter");
  await findResult("Node 1780: w-1779 (11 of 11)");
  assert.equal(await page.evaluate(() => document.activeElement.id), "node-find");
  // Paging away and back keeps the mark on its node, not on its row.
  await page.click("#node-prev");
  assert.deepEqual(await foundRows(), []);
  await page.click("#node-next");
  assert.deepEqual(await foundRows(), ["1779"]);
  // "Go to node" from another page shows the node's page again.
  await page.click("#node-prev");
  await page.click("#node-find-go");
  assert.equal(await page.textContent("#node-range"), "Nodes 1751\u20131800 of 2,000");
  assert.equal(await page.evaluate(() => document.activeElement.dataset.path), "spec.nodes[1779].name");
  await page.focus("#node-find");
  await page.fill("#node-find", "no-such-node");
  await page.press("#node-find", "Enter");
  await findResult("No node's name or address holds \u201cno-such-node\u201d.");
  assert.deepEqual(await foundRows(), []);
  assert.ok(await page.isHidden("#node-find-go"));
  assert.equal(await page.textContent("#node-range"), "Nodes 1751\u20131800 of 2,000");
  // The same words again are said again (the status is emptied first).
  await page.press("#node-find", "Enter");
  await findResult("No node's name or address holds \u201cno-such-node\u201d.");
  // A node on another page with a bad address: its problem is listed under
  // the table with the node's number, and the pager marks its page.
  await loadSpec(big.replace('address: "10.16.0.10"\n', 'address: "10.16.0.999"\n'), "big.yaml");
  assert.equal(await page.textContent("#node-range"), "Nodes 1\u201350 of 2,000");
  // A spec loaded whole: Find node starts again from the first node.
  assert.equal(await page.inputValue("#node-find"), "");
  await page.fill("#node-find", "w-1");
  await page.press("#node-find", "Enter");
  await findResult("Node 11: w-10 (1 of 1,110)");
  assert.equal(await page.textContent("#node-range"), "Nodes 1\u201350 of 2,000");
  assert.match(await page.textContent("#nodes-error"), /Node 1501 address: /);
  assert.equal(await page.textContent("#node-page option[value='1500']"), "1501\u20131550 (1 problem)");
  await page.selectOption("#node-page", "1500");
  const bad = field("spec.nodes[1500].address");
  assert.equal(await bad.inputValue(), "10.16.0.999");
  assert.equal(await bad.getAttribute("aria-invalid"), "true");
  assert.doesNotMatch(await page.textContent("#nodes-error"), /Node 1501/);
  assert.equal(await page.textContent("#node-page option[value='1500']"), "1501\u20131550");
  // Text the form refuses stays with its node while another page is shown.
  await field("spec.nodes[1501].labels").fill("foo");
  await settle();
  assert.equal(await field("spec.nodes[1501].labels").getAttribute("aria-invalid"), "true");
  await page.click("#node-prev");
  assert.equal(await field("spec.nodes[1501].labels").count(), 0);
  // Both nodes are off this page: one problem to a line.
  const nodeLines = (await page.textContent("#nodes-error")).split("\n");
  assert.deepEqual(nodeLines.map((l) => l.replace(/:.*/, "")), ["Warning", "Node 1501 address", "Node 1502 labels"]);
  assert.equal(await page.$eval("#nodes-error", (e) => getComputedStyle(e).whiteSpace), "pre-line");
  await page.click("#node-next");
  assert.equal(await field("spec.nodes[1501].labels").inputValue(), "foo");
  assert.equal(await field("spec.nodes[1501].labels").getAttribute("aria-invalid"), "true");
  await field("spec.nodes[1501].labels").fill("");
  await field("spec.nodes[1500].address").fill("10.16.0.10");
  await settle();
  assert.doesNotMatch(await page.textContent("#nodes-error"), /Node \d+ /);
  // A button of the pager that goes off under the focus hands it to the choice of pages.
  await page.selectOption("#node-page", "50");
  await page.focus("#node-prev");
  await page.keyboard.press("Enter");
  assert.equal(await page.textContent("#node-range"), "Nodes 1\u201350 of 2,000");
  assert.equal(await page.evaluate(() => document.activeElement.id), "node-page");
  // Text refused on another page than the one Add node leaves stays with its node.
  await page.selectOption("#node-page", "1950");
  await field("spec.nodes[1960].labels").fill("foo");
  await settle();
  await page.selectOption("#node-page", "0");
  await page.click("#add-node");
  await settle();
  assert.equal(await field("spec.nodes[1960].labels").inputValue(), "foo");
  assert.equal(await field("spec.nodes[1960].labels").getAttribute("aria-invalid"), "true");
  await page.click("table.nodes tbody tr:last-child .remove-node");
  await settle();
  assert.equal(await field("spec.nodes[1960].labels").inputValue(), "foo");
  await field("spec.nodes[1960].labels").fill("");
  await settle();
  assert.doesNotMatch(await page.textContent("#nodes-error"), /Node \d+ /);
  // Add node shows the last 50 nodes, the new one last and focused; Remove
  // on it shows the 50 before.
  await page.click("#add-node");
  await settle();
  assert.equal(await page.textContent("#node-range"), "Nodes 1952\u20132001 of 2,001");
  assert.deepEqual(await rowPaths(), Array.from({ length: 50 }, (_, k) => `spec.nodes[${1951 + k}].name`));
  const added = (await rowNames()).at(-1);
  assert.match(added, /^worker-\d+$/);
  assert.equal(await page.evaluate(() => document.activeElement.dataset.path), "spec.nodes[2000].name");
  assert.match(await page.textContent("#node-page"), /1901\u20131950.*1952\u20132001/s);
  await page.click("table.nodes tbody tr:last-child .remove-node");
  await settle();
  assert.equal(await page.textContent("#node-range"), "Nodes 1951\u20132000 of 2,000");
  assert.deepEqual((await rowNames()).slice(-2), ["w-1998", "w-1999"]);
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute("aria-label")), "Remove node 2000");
  // Remove in the middle of a page: the nodes after it move up a row.
  await page.selectOption("#node-page", "1000");
  await page.click("table.nodes tbody tr:nth-child(3) .remove-node");
  await settle();
  assert.deepEqual((await rowNames()).slice(0, 4), ["w-1000", "w-1001", "w-1003", "w-1004"]);
  assert.equal(await page.textContent("#node-range"), "Nodes 1001\u20131050 of 1,999");
  if ((await page.getAttribute("#yaml-toggle", "aria-expanded")) === "false") await page.click("#yaml-toggle");
  assert.doesNotMatch(await page.inputValue("#yaml"), /name: w-1002\n/);
  assert.match(await page.inputValue("#yaml"), /name: w-1003\n/);

  step("a trap in the module: the input is refused, a fresh worker takes over");
  await loadSpec(production, "production.yaml");
  await page.workers()[0].evaluate(() => {
    const real = wasm_bindgen.validate_json;
    wasm_bindgen.validate_json = (t) => { if (t.includes("Etc/Trap")) throw new WebAssembly.RuntimeError("unreachable"); return real(t); };
  });
  await field("spec.timezone").fill("Etc/Trap");
  await settle();
  assert.match(await page.textContent("#yaml-problems"), /module failed on this spec \(unreachable\) and was started again/);
  assert.ok(await page.isDisabled("#download-tar"));
  assert.equal(await page.evaluate(() => window.meshbundleTimings.workers), 2);
  await field("spec.timezone").fill("Etc/UTC");
  await settle();
  assert.match(await page.textContent("#status"), /^valid; \d+ files rendered/);
  assert.ok(!(await page.isDisabled("#download-tar")));

  step("Add node: an address-less last node, and no taken name after a removal");
  await loadSpec(production, "production.yaml");
  const nodeNames = async () => page.evaluate(() => [...document.querySelectorAll("table.nodes tbody tr td:first-child input")].map((i) => i.value));
  const rows0 = (await nodeNames()).length;
  await page.click("#add-node");
  await page.click("#add-node");
  await settle();
  let names = await nodeNames();
  assert.equal(names.length, rows0 + 2);
  assert.equal(new Set(names).size, names.length, `names are unique: ${names}`);
  // Remove the first added worker: the next proposal must not reuse a name still taken.
  const firstAdded = rows0;
  await page.click(`table.nodes tbody tr:nth-child(${firstAdded + 1}) .remove-node`);
  await settle();
  const focusedTag = await page.evaluate(() => document.activeElement && document.activeElement.tagName);
  assert.notEqual(focusedTag, "BODY", "focus stays in the nodes table after a removal");
  assert.match(await page.evaluate(() => document.activeElement.getAttribute("aria-label") || document.activeElement.id), /Remove node|add-node/);
  await page.click("#add-node");
  await settle();
  names = await nodeNames();
  assert.equal(new Set(names).size, names.length, `names are unique after a removal: ${names}`);
  // The last node's address emptied in the form: refused (an address is
  // required), the YAML keeps it, and Add node still proposes a free one.
  const lastAddress = "table.nodes tbody tr:last-child td:nth-child(2) input";
  const keptAddress = await page.inputValue(lastAddress);
  await page.fill(lastAddress, "");
  await page.press(lastAddress, "Tab");
  await page.waitForFunction((sel) => document.getElementById(document.querySelector(sel).id + "-error").textContent.startsWith("`address` is required"), lastAddress);
  await settle();
  assert.ok((await page.inputValue("#yaml")).includes(`address: ${keptAddress}\n`), "the YAML keeps the address");
  await page.fill(lastAddress, keptAddress);
  await settle();
  await page.waitForFunction((sel) => document.getElementById(document.querySelector(sel).id + "-error").textContent === "", lastAddress);
  await page.click("#add-node");
  await settle();
  names = await nodeNames();
  assert.equal(names.length, rows0 + 3);
  assert.equal(new Set(names).size, names.length, `names are unique: ${names}`);
  const addresses = await page.evaluate(() => [...document.querySelectorAll("table.nodes tbody tr td:nth-child(2) input")].map((i) => i.value).filter((a) => a));
  assert.equal(new Set(addresses).size, addresses.length, "no address is proposed twice");
  assert.deepEqual(errors, [], "Add node threw");

  step("a field error is announced and the stale output is marked");
  await loadSpec(production, "production.yaml");
  const pod = field("spec.kubernetes.podSubnet");
  await pod.fill("10.96.0.0/16");
  await settle();
  assert.equal(await pod.getAttribute("aria-invalid"), "true");
  assert.match(await page.textContent("#announce"), /overlaps the service network/);
  assert.ok(await page.isDisabled("#download-tar"));
  assert.equal(await page.textContent("#tar-reason"), "1 error, see Problems");
  assert.ok(await page.isVisible("#stale"));
  assert.match(await page.textContent("#stale"), /Out of date/);
  assert.ok(await page.evaluate(() => Number(getComputedStyle(document.getElementById("download-tar")).opacity) < 1), "the disabled button looks disabled");
  await axe("1280 px, stale output");
  await pod.fill("10.244.0.0/16");
  await settle();
  assert.ok(!(await page.isDisabled("#download-tar")));
  assert.ok(!(await page.isVisible("#stale")));
  assert.equal(await page.textContent("#tar-reason"), "");
  // Out of date while a later render was made and not shown (text the form
  // refused, then a node removed): a file of the files shown shows the text
  // they were rendered with.
  const lastNode = await field("spec.nodes[5].name").inputValue();
  const nodeFile = `nodes/${lastNode}/bootstrap.sh`;
  await page.click(`#tree button[data-file='${nodeFile}']`);
  await settle();
  const nodeText = await page.textContent("#viewer");
  assert.match(nodeText, /bootstrap/);
  await field("spec.istio.istiod.replicas").fill("4e");
  await settle();
  await page.click("table.nodes tbody tr:nth-child(6) .remove-node");
  await settle();
  assert.ok(await page.isVisible("#stale"));
  await page.click("#tree button[data-file='README.md']");
  await settle();
  await page.click(`#tree button[data-file='${nodeFile}']`);
  await settle();
  assert.equal(await page.textContent("#viewer-title"), nodeFile);
  assert.equal(await page.textContent("#viewer"), nodeText, "the file as the files shown have it");
  // However many renders come after it and are not shown.
  for (const zone of ["Asia/Tokyo", "Europe/Paris", "America/Lima", "Africa/Cairo"]) {
    await field("spec.timezone").fill(zone);
    await settle();
  }
  await page.click("#tree button[data-file='README.md']");
  await settle();
  await page.click(`#tree button[data-file='${nodeFile}']`);
  await settle();
  assert.equal(await page.textContent("#viewer"), nodeText, "the file as the files shown have it, four renders later");
  await loadSpec(production, "production.yaml");

  step("the form's tables (routes, ports, JWT issuers, authorization rules, images, files) and node labels fit 360 px and pass axe-core");
  await page.setViewportSize({ width: 360, height: 800 });
  for (const name of ["Add route", "Add issuer", "Add port", "Add allow rule", "Add extra image", "Add extra file"]) {
    await page.getByRole("button", { name }).first().click();
    await settle();
  }
  await field("spec.nodes[0].labels").fill("disk=ssd, rack");
  await field("spec.istio.ingressGateway.routes[0].port").fill("8x");
  await settle();
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth), "fits at 360 px with routes, ports, issuers and labels");
  for (const t of await page.locator("table.items, table.nodes").all()) {
    assert.ok(await t.evaluate((e) => e.getBoundingClientRect().right <= innerWidth), "each table fits at 360 px");
  }
  await axe("360 px, routes, ports, issuers, labels, field errors");
  await page.emulateMedia({ colorScheme: "dark" });
  await axe("360 px, routes, ports, issuers, labels, field errors, dark");
  await page.emulateMedia({ colorScheme: "light" });
  await page.setViewportSize({ width: 1280, height: 900 });
  await loadSpec(production, "production.yaml");

  step("secrets and lock: shown, replaced, cleared; a bad lock is a problem");
  await page.setInputFiles("#load-secrets", secretsFile);
  await settle();
  const secretsInfo = await page.textContent("#secrets-info");
  assert.match(secretsInfo, /site\.secrets\.yaml, site prod-site, sha256:[0-9a-f]{16}/);
  const badLock = path.join(work, "bad.lock");
  fs.writeFileSync(badLock, "apiVersion: meshbundle.dev/v1alpha1\nkind: Lock\nimages: [ {\n");
  await page.setInputFiles("#load-lock", badLock);
  await settle();
  assert.match(await page.textContent("#lock-info"), /bad\.lock, sha256:/);
  assert.match(await page.textContent("#yaml-problems"), /lock:/);
  assert.ok(await page.isDisabled("#download-tar"));
  assert.match(await page.textContent("#tar-reason"), /^1 error, see Problems$/);
  const otherLock = path.join(work, "lab.lock");
  fs.copyFileSync(path.join(repo, "fuzz/seeds/lock/lab.lock"), otherLock);
  await page.setInputFiles("#load-lock", otherLock);
  await settle();
  assert.match(await page.textContent("#lock-info"), /lab\.lock, sha256:/);
  assert.match(await page.textContent("#yaml-problems"), /does not cover/);
  await page.click("#clear-lock");
  await settle();
  assert.equal(await page.textContent("#lock-info"), "No lock");
  assert.match(await page.textContent("#yaml-problems"), /No problems/);
  assert.ok(!(await page.isDisabled("#download-tar")));

  step("downloads flush input typed just before; byte identity with secrets and form edits");
  // Typed and clicked in the same task: well within the debounce window.
  const typeThenClick = (p, value, button) => page.evaluate(([p, value, button]) => {
    const input = document.querySelector(`[data-path="${p}"]`);
    input.value = value;
    input.dispatchEvent(new Event("input", { bubbles: true }));
    document.getElementById(button).click();
  }, [p, value, button]);
  let [dl] = await Promise.all([page.waitForEvent("download"), typeThenClick("spec.kubernetes.podSubnet", "10.250.0.0/16", "download-spec")]);
  const specFile = path.join(work, "flushed.yaml");
  await dl.saveAs(specFile);
  assert.match(fs.readFileSync(specFile, "utf8"), /podSubnet: 10\.250\.0\.0\/16/, "the spec download has the last edit");
  [dl] = await Promise.all([page.waitForEvent("download"), typeThenClick("spec.timezone", "Asia/Tokyo", "download-tar")]);
  const tarFile = path.join(work, "flushed.tar.gz");
  await dl.saveAs(tarFile);
  const edited = await page.inputValue("#yaml");
  assert.match(edited, /timezone: Asia\/Tokyo/);
  assert.ok(fs.readFileSync(tarFile).equals(cliTar(edited, secretsFile)), "the .tar.gz is byte-identical to meshbundle render --tar --secrets of the edited spec");
  // The downloads are off while the spec has errors; a fix typed into the
  // YAML and a click on the download right after it (before its check) is
  // not lost: the click waits for the check and downloads the fixed spec's
  // files. A click while the errors stay says why nothing comes.
  await field("spec.kubernetes.podSubnet").fill("10.96.0.0/16");
  await settle();
  assert.ok(await page.isDisabled("#download-tar"));
  await page.click("#download-tar", { force: true });
  await page.waitForFunction(() => document.getElementById("status").textContent === "Nothing to download: 1 error, see Problems");
  const fixed = (await page.inputValue("#yaml")).replace("podSubnet: 10.96.0.0/16", "podSubnet: 10.244.0.0/16");
  [dl] = await Promise.all([page.waitForEvent("download"), page.evaluate((t) => {
    const ta = document.getElementById("yaml");
    ta.value = t;
    ta.dispatchEvent(new Event("input", { bubbles: true }));
    document.getElementById("download-tar").click();
  }, fixed)]);
  const fixedTar = path.join(work, "fixed.tar.gz");
  await dl.saveAs(fixedTar);
  assert.ok(fs.readFileSync(fixedTar).equals(cliTar(fixed, secretsFile)), "the download clicked right after the fix has the fixed spec's files");
  assert.ok(!(await page.isDisabled("#download-tar")));

  step("viewer: copy, one-file download, changes since the last download");
  await page.click("#tree button[data-file='README.md']");
  const readme = path.join(work, "readme-dl");
  const [one] = await Promise.all([page.waitForEvent("download"), page.click("#download-file")]);
  assert.equal(one.suggestedFilename(), "README.md");
  await one.saveAs(readme);
  assert.equal(fs.readFileSync(readme, "utf8"), await page.textContent("#viewer"));
  assert.ok(await page.isEnabled("#copy-file"));
  await field("spec.timezone").fill("America/Lima");
  await settle();
  const changed = page.locator("#tree button.changed");
  assert.ok((await changed.count()) > 0, "files changed since the download are marked");
  await changed.first().click();
  await page.check("#show-diff");
  // The viewer asks the worker for the file: wait for its answer.
  await page.locator("#viewer ins").first().waitFor({ timeout: 10000 }).catch(() => {});
  assert.ok((await page.locator("#viewer ins").count()) > 0, "added lines are shown");
  assert.match(await page.locator("#viewer ins").allTextContents().then((l) => l.join("\n")), /America\/Lima/);
  assert.match(await page.locator("#viewer del").allTextContents().then((l) => l.join("\n")), /Asia\/Tokyo/);
  // The line taken out comes before the one put in its place.
  assert.ok(await page.evaluate(() => {
    const del = [...document.querySelectorAll("#viewer del")].find((d) => /Asia\/Tokyo/.test(d.textContent));
    const ins = [...document.querySelectorAll("#viewer ins")].find((d) => /America\/Lima/.test(d.textContent));
    return del && ins && (del.compareDocumentPosition(ins) & Node.DOCUMENT_POSITION_FOLLOWING) !== 0;
  }), "- before +");
  await page.uncheck("#show-diff");
  await page.click("#clear-secrets");
  await settle();
  assert.equal(await page.textContent("#secrets-info"), "No secrets file");

  step("autosave survives a reload (never secrets)");
  const before = await page.inputValue("#yaml");
  await page.reload();
  await page.waitForSelector("html[data-ready=true]");
  await settle();
  assert.equal(await page.inputValue("#yaml"), before);
  const stored = await page.evaluate(() => JSON.stringify(Object.assign({}, localStorage)));
  // The spec keeps its comments now, one of which shows where a PEM block
  // goes (`-----BEGIN CERTIFICATE-----`): look for the secrets themselves,
  // every value of the secrets file the spec does not hold too.
  const secretValues = fs.readFileSync(secretsFile, "utf8").split("\n")
    .map((l) => l.trim().replace(/^[A-Za-z]+:\s*/, ""))
    .filter((v) => /^[A-Za-z0-9+/=._-]{16,}$/.test(v) && !production.includes(v));
  assert.ok(secretValues.length > 20, "the secrets file has values to look for");
  assert.ok(!stored.includes("PRIVATE KEY") && !stored.includes("prod-site-token") && secretValues.every((v) => !stored.includes(v)), "no secret in localStorage");
  // A form edit typed just before a reload (within the debounce, not yet
  // in the text) is kept too.
  const zoneWas = await field("spec.timezone").inputValue();
  await field("spec.timezone").fill("Asia/Tokyo");
  await page.reload();
  await page.waitForSelector("html[data-ready=true]");
  await settle();
  assert.equal(await field("spec.timezone").inputValue(), "Asia/Tokyo");
  assert.match(await page.inputValue("#yaml"), /timezone: Asia\/Tokyo/);
  assert.equal(await page.evaluate(() => localStorage.getItem("meshbundle.pending")), null, "the saved edits are made once");
  await field("spec.timezone").fill(zoneWas);
  await settle();
  assert.equal(await page.inputValue("#yaml"), before);
  // So is an Add node on its way through the worker (each edit's round trip
  // made to take 2 s, so that the reload surely comes first).
  const rowsWere = await page.locator("table.nodes tbody tr").count();
  await page.evaluate(() => {
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (m, t) {
      if (m && m.name === "edit_yaml") setTimeout(() => post.call(this, m, t || []), 2000);
      else post.call(this, m, t || []);
    };
  });
  await page.click("#add-node");
  await page.reload();
  await page.waitForSelector("html[data-ready=true]");
  await settle();
  assert.equal(await page.locator("table.nodes tbody tr").count(), rowsWere + 1, "the node added just before the reload");
  await page.click("table.nodes tbody tr:last-child .remove-node");
  await settle();
  assert.equal(await page.inputValue("#yaml"), before);

  step("a later visit compiles the kept module; a tampered or foreign copy is refused and replaced");
  // What Cache Storage holds for the module: {url: sha256 of the bytes}.
  const kept = () => page.evaluate(async () => {
    const store = await caches.open("meshbundle-module");
    const out = {};
    for (const req of await store.keys()) {
      const bytes = await (await store.match(req)).arrayBuffer();
      out[req.url] = Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
    }
    return out;
  });
  const sha = await page.evaluate(() => self.MESHBUNDLE_WASM_SHA256);
  const key = `https://meshbundle.invalid/module/${sha}.wasm`;
  assert.match(sha, /^[0-9a-f]{64}$/);
  assert.equal(await page.evaluate(() => window.meshbundleTimings.moduleKept), true, "the reload compiled the kept module");
  assert.deepEqual(await kept(), { [key]: sha }, "one copy, with the page's digest");
  const digestShown = () => page.textContent("#digest").then((t) => t.replace(/ \(rendered in .*\)$/, ""));
  const digestBefore = await digestShown();
  const version = await page.textContent("#version");
  assert.match(version, /^v\d+\.\d+\.\d+/);
  // Any page opened from file:// shares this storage: one puts another
  // module under the module's key (this one with every copy of its version
  // changed, so that it would show if it ran), and a stale module beside it.
  await page.evaluate(async ([k, v]) => {
    const store = await caches.open("meshbundle-module");
    const bytes = new Uint8Array(await (await store.match(k)).arrayBuffer());
    const from = new TextEncoder().encode(v.slice(1));
    let changed = 0;
    for (let i = 0; i + from.length <= bytes.length; i++) {
      if (from.every((b, j) => bytes[i + j] === b)) {
        bytes.set(from.map(() => 0x39), i);
        changed++;
      }
    }
    if (!changed) throw new Error(`the module holds no ${v}`);
    await WebAssembly.compile(bytes);
    const headers = { "Content-Type": "application/wasm" };
    await store.put(k, new Response(bytes, { headers }));
    await store.put("https://meshbundle.invalid/module/stale.wasm", new Response(bytes, { headers }));
  }, [key, version]);
  const unpacking = requests.length;
  await page.reload();
  await page.waitForSelector("html[data-ready=true]");
  await settle();
  assert.equal(await page.evaluate(() => window.meshbundleTimings.moduleKept), false, "the worker refused the other bytes");
  assert.ok(requests.slice(unpacking).some((u) => u.endsWith("/wasm-bytes.js")), "the page loaded the module to unpack");
  assert.equal(await page.textContent("#version"), version, "the module that runs is the page's own");
  assert.equal(await page.inputValue("#yaml"), before);
  assert.equal(await digestShown(), digestBefore);
  await page.waitForFunction(async (k) => {
    const keys = await (await caches.open("meshbundle-module")).keys();
    return keys.length === 1 && keys[0].url === k;
  }, key);
  assert.deepEqual(await kept(), { [key]: sha }, "the unpacked module replaced both");
  // Another entry put while the module is kept goes at the next visit.
  await page.evaluate(() => caches.open("meshbundle-module").then((s) => s.put("https://meshbundle.invalid/module/other.wasm", new Response("other"))));
  const seen = requests.length;
  await page.reload();
  await page.waitForSelector("html[data-ready=true]");
  await settle();
  assert.equal(await page.evaluate(() => window.meshbundleTimings.moduleKept), true);
  assert.ok(!requests.slice(seen).some((u) => u.endsWith("/wasm-bytes.js")), "a visit with the module kept does not load wasm-bytes.js");
  await page.waitForFunction(async (k) => {
    const keys = await (await caches.open("meshbundle-module")).keys();
    return keys.length === 1 && keys[0].url === k;
  }, key);
  // A trap now: the fresh worker compiles the kept module itself (the page
  // loads nothing to unpack).
  await page.workers()[0].evaluate(() => {
    const real = wasm_bindgen.validate_json;
    wasm_bindgen.validate_json = (t) => { if (t.includes("Etc/Trap")) throw new WebAssembly.RuntimeError("unreachable"); return real(t); };
  });
  const zone = await field("spec.timezone").inputValue();
  const trapped = requests.length;
  await field("spec.timezone").fill("Etc/Trap");
  await settle();
  assert.match(await page.textContent("#yaml-problems"), /module failed on this spec \(unreachable\) and was started again/);
  assert.equal(await page.evaluate(() => window.meshbundleTimings.workers), 2);
  await field("spec.timezone").fill(zone);
  await settle();
  assert.match(await page.textContent("#status"), /^valid; \d+ files rendered/);
  assert.equal(await page.inputValue("#yaml"), before);
  assert.ok(!requests.slice(trapped).some((u) => u.endsWith("/wasm-bytes.js")), "the fresh worker used the kept module");

  step("Copy link round-trips the exact spec and wins over the autosave");
  await page.setInputFiles("#load-secrets", secretsFile);
  await settle();
  const shared = (await page.inputValue("#yaml")) + "# a comment the link must keep\n";
  await page.fill("#yaml", shared);
  await page.click("#copy-link");
  await page.waitForFunction(() => document.getElementById("share-link").value.includes("#spec="));
  const link = await page.inputValue("#share-link");
  assert.ok(link.startsWith("file://"));
  assert.ok(link.length < shared.length, "the link is compressed");
  assert.ok(!link.includes("BEGIN"), "no secret in the link");
  await loadSpec(fs.readFileSync(path.join(repo, "core/examples/lab.yaml"), "utf8"), "lab.yaml");
  // A colleague opens it in a new tab (the same browser: the autosave is the lab spec).
  const tab = await context.newPage();
  tab.on("pageerror", (e) => errors.push(String(e)));
  tab.on("request", (r) => requests.push(r.url()));
  await tab.goto(link);
  await tab.waitForSelector("html[data-ready=true]", { timeout: 30000 });
  await tab.waitForFunction(() => document.documentElement.dataset.busy === "false");
  assert.equal(await tab.inputValue("#yaml"), shared, "the link opens exactly the shared spec");
  assert.equal(await tab.textContent("#secrets-info"), "No secrets file");
  assert.ok(!tab.url().includes("#spec="), "the fragment is dropped once read, so a reload shows the autosave");
  // Pasted into the address bar of an open page: only the fragment changes.
  await tab.goto(pageUrl);
  await tab.waitForSelector("html[data-ready=true]");
  await tab.evaluate((hash) => { location.hash = hash; }, new URL(link).hash);
  await tab.waitForFunction((t) => document.getElementById("yaml").value === t, shared);
  // A hostile link: a deflate bomb (64 MB of spaces) and garbage leave the spec as it was.
  const bomb = await tab.evaluate(async () => {
    const big = new Uint8Array(64 << 20).fill(32);
    const z = new Uint8Array(await new Response(new Blob([big]).stream().pipeThrough(new CompressionStream("deflate-raw"))).arrayBuffer());
    let s = "";
    for (let i = 0; i < z.length; i += 0x8000) s += String.fromCharCode(...z.subarray(i, i + 0x8000));
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  });
  for (const hash of [`#spec=${bomb}`, "#spec=AAAA"]) {
    await tab.evaluate((h) => { location.hash = h; }, hash);
    await tab.waitForFunction(() => /incomplete or damaged|larger than/.test(document.getElementById("status").textContent));
    assert.equal(await tab.inputValue("#yaml"), shared, "a bad link changes nothing");
    await tab.evaluate(() => { document.getElementById("status").textContent = ""; });
  }
  await tab.close();

  step("what holds secrets is never the spec: not loaded, saved or put in a link");
  const yamlBefore = await page.inputValue("#yaml");
  await settle();
  const savedBefore = await page.evaluate(() => localStorage.getItem("meshbundle.spec"));
  await page.setInputFiles("#load-spec", secretsFile);
  await page.waitForFunction(() => /holds secrets: nothing was loaded as the spec/.test(document.getElementById("status").textContent));
  assert.equal(await page.inputValue("#yaml"), yamlBefore, "the spec is left as it was");
  // Pasted in the editor: one problem that says what it is.
  await page.fill("#yaml", fs.readFileSync(secretsFile, "utf8"));
  await page.waitForFunction(() => /this is a site secrets file, not a spec/.test(document.getElementById("yaml-problems").textContent));
  assert.equal(await page.locator("#yaml-problems li").count(), 1, "one problem, not one for each field");
  await page.click("#copy-link");
  await page.waitForFunction(() => /holds secrets .*not put in a link/.test(document.getElementById("status").textContent));
  assert.ok(await page.isHidden("#share"));
  await page.evaluate(() => window.dispatchEvent(new Event("pagehide")));
  assert.equal(await page.evaluate(() => localStorage.getItem("meshbundle.spec")), savedBefore, "never saved");
  await page.fill("#yaml", yamlBefore);
  await settle();

  step("the secret files of a render are shown only when asked for");
  await loadSpec(production, "production.yaml");
  await page.setInputFiles("#load-secrets", secretsFile);
  await settle();
  await page.click("#tree button[data-file='nodes/cp-1/kubeadm.yaml']");
  await page.waitForFunction(() => /a secret file, mode 0600/.test(document.getElementById("viewer").textContent));
  assert.doesNotMatch(await page.textContent("#viewer"), /token/i);
  await page.click("#reveal-file");
  await page.waitForFunction(() => /JoinConfiguration|InitConfiguration/.test(document.getElementById("viewer").textContent));
  await page.click("#tree button[data-file='README.md']");
  await page.click("#tree button[data-file='secrets/addon-credentials.yaml']");
  await page.waitForFunction(() => /a secret file, mode 0600/.test(document.getElementById("viewer").textContent));
  // Another site's secrets: one problem, in the secrets file, that says so.
  const labSecrets = path.join(work, "lab.secrets.yaml");
  fs.copyFileSync(path.join(repo, "tests/fixtures/lab.secrets.yaml"), labSecrets);
  await page.setInputFiles("#load-secrets", labSecrets);
  await settle();
  await page.waitForFunction(() => /belong to site/.test(document.getElementById("yaml-problems").textContent));
  assert.deepEqual(await page.locator("#yaml-problems li").allTextContents(), [
    "Secrets file lab.secrets.yaml: the site secrets do not fit this spec: site: these secrets belong to site `lab`, not `prod-site` (load the site.secrets.yaml meshbundle secrets wrote for this site, or clear the secrets)",
  ]);
  await page.click("#clear-secrets");
  await settle();

  step("a long line of a large file scrolls sideways inside the viewer");
  await page.click("#tree button[data-file='manifests/cni/calico.yaml']");
  await page.waitForFunction(() => document.querySelectorAll("#viewer .part").length > 1);
  // The parts are laid out (content-visibility: auto) at the browser's next
  // frame: wait for it rather than measure before it (up to 10 s).
  await page.waitForFunction(() => {
    const v = document.getElementById("viewer");
    return v.scrollWidth > v.clientWidth;
  }, null, { timeout: 10000 }).catch(() => {});
  const sideways = await page.evaluate(() => {
    const v = document.getElementById("viewer");
    v.scrollLeft = 400;
    return { scrolled: v.scrollLeft, wide: v.scrollWidth > v.clientWidth };
  });
  assert.ok(sideways.wide && sideways.scrolled > 0, `the viewer scrolls sideways: ${JSON.stringify(sideways)}`);

  step("Start from under the arrow keys: Undo brings back the spec from before the first");
  const mine = production.replace("  timezone: Etc/UTC\n", "  timezone: Pacific/Auckland\n");
  assert.notEqual(mine, production);
  await page.fill("#yaml", mine);
  await page.waitForFunction(() => document.getElementById("example").value === "");
  await settle();
  await page.focus("#example");
  await page.keyboard.press("ArrowDown");
  await settle();
  await page.keyboard.press("ArrowDown");
  await settle();
  assert.notEqual(await page.inputValue("#yaml"), mine);
  await page.click("#undo-load");
  await settle();
  assert.equal(await page.inputValue("#yaml"), mine, "the spec from before the first example");

  step("a link opened over a saved spec: Undo brings the saved one back");
  const savedSpec = production.replace("  timezone: Etc/UTC\n", "  timezone: Europe/Oslo\n");
  await page.fill("#yaml", savedSpec);
  await settle();
  const linkTab = await context.newPage();
  linkTab.on("pageerror", (e) => errors.push(String(e)));
  await linkTab.goto(link);
  await linkTab.waitForSelector("html[data-ready=true]", { timeout: 30000 });
  await linkTab.waitForFunction(() => document.documentElement.dataset.busy === "false");
  assert.equal(await linkTab.inputValue("#yaml"), shared);
  assert.match(await linkTab.textContent("#status"), /^Opened the spec of the link/);
  assert.equal(await linkTab.textContent("#undo-load"), "Undo open link");
  await linkTab.click("#undo-load");
  await linkTab.waitForFunction((t) => document.getElementById("yaml").value === t, savedSpec);
  await linkTab.close();

  step("two tabs: a reload shows each tab its own spec");
  await page.fill("#yaml", mine);
  await settle();
  const otherTab = await context.newPage();
  otherTab.on("pageerror", (e) => errors.push(String(e)));
  await otherTab.goto(pageUrl);
  await otherTab.waitForSelector("html[data-ready=true]", { timeout: 30000 });
  await otherTab.fill("#yaml", savedSpec);
  await otherTab.waitForFunction(() => document.documentElement.dataset.busy === "false");
  await otherTab.waitForFunction((t) => localStorage.getItem("meshbundle.spec") === t, savedSpec);
  await page.reload();
  await page.waitForSelector("html[data-ready=true]");
  await settle();
  assert.equal(await page.inputValue("#yaml"), mine, "this tab's spec, not the other's");
  await otherTab.close();

  step("the share box goes with the text it was made from; buttons are named with their table; in-page links move the focus");
  await page.click("#copy-link");
  await page.waitForFunction(() => !document.getElementById("share").hidden);
  await field("spec.timezone").fill("Asia/Tokyo");
  await page.waitForFunction(() => document.getElementById("share").hidden);
  assert.equal(await page.getByRole("button", { name: "Add port to Ingress gateway: ports" }).count(), 1);
  assert.equal(await page.getByRole("button", { name: "Add port to Egress gateway: ports" }).count(), 1);
  await page.focus(".skip");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.activeElement && document.activeElement.id === "form");

  step("a fresh worker that can get no module: calls fail and say why, nothing waits");
  // A copy of the page without wasm-bytes.js, opened while the module is
  // kept; then the kept copy goes, and a trap needs a fresh worker.
  const bare = path.join(work, "bare");
  fs.cpSync(dist, bare, { recursive: true });
  fs.rmSync(path.join(bare, "wasm-bytes.js"));
  const lone = await context.newPage();
  lone.on("pageerror", (e) => errors.push(String(e)));
  lone.on("request", (r) => requests.push(r.url()));
  await lone.goto(pathToFileURL(path.join(bare, "index.html")).href);
  await lone.waitForSelector("html[data-ready=true]", { timeout: 30000 });
  await lone.waitForFunction(() => document.documentElement.dataset.busy === "false");
  assert.equal(await lone.evaluate(() => window.meshbundleTimings.moduleKept), true);
  await lone.evaluate(() => caches.delete("meshbundle-module"));
  await lone.workers()[0].evaluate(() => {
    const real = wasm_bindgen.validate_json;
    wasm_bindgen.validate_json = (t) => { if (t.includes("Etc/Trap")) throw new WebAssembly.RuntimeError("unreachable"); return real(t); };
  });
  await lone.locator('[data-path="spec.timezone"]').fill("Etc/Trap");
  await lone.waitForFunction(() => /could not be started again \(cannot load wasm-bytes\.js/.test(document.getElementById("status").textContent), null, { timeout: 30000 });
  // What is typed next fails at once, saying why.
  await lone.fill("#yaml", (await lone.inputValue("#yaml")) + "# more\n");
  await lone.waitForFunction(() => /could not be started again/.test(document.getElementById("yaml-problems").textContent), null, { timeout: 30000 });
  await lone.waitForFunction(() => document.documentElement.dataset.busy === "false", null, { timeout: 30000 });
  assert.match(await lone.textContent("#yaml-problems"), /reload the page/);
  assert.ok(await lone.isDisabled("#download-tar"));
  await lone.close();

  step("nothing left the page");
  const remote = requests.filter((u) => !/^(file|data|blob):/.test(u));
  assert.deepEqual(remote, [], "no network request");
  assert.deepEqual(errors, [], "no page error");
  step("ok");
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
}
