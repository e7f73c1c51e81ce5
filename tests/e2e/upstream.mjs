// End-to-end test of how the configurator loads upstream manifests, in
// Debian's Chromium from file:// with the network off:
//  - opening the production example loads only the manifests it renders
//    (Calico, MetalLB, the addons of its Istio release), each from its own
//    script web/dist/upstream/COPY.js, and no other manifest;
//  - changing the spec to Flannel and another Istio release loads those
//    manifests then, and the config .tar.gz is byte-identical to what
//    `meshbundle render --tar` writes for the same spec;
//  - a trap in the module starts a fresh worker, which gets the manifests
//    loaded so far: a render after it is still byte-identical;
//  - a new tab's worker validates and renders the spec the tab opens with
//    (the first example, or the autosave) before the page asks, and the
//    page takes both; not when the autosave changed meanwhile, nor for a
//    link; an autosave that traps the module leaves a page that started
//    and says so.
//
//   node tests/e2e/upstream.mjs      (after web/build.sh and cargo build)
//
// Environment: MESHBUNDLE_BIN (default target/debug/meshbundle),
// CHROMIUM (default /usr/bin/chromium).

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

const bin = process.env.MESHBUNDLE_BIN || path.join(repo, "target/debug/meshbundle");
const dist = path.join(repo, "web/dist");
const pageUrl = pathToFileURL(path.join(dist, "index.html")).href;
const production = fs.readFileSync(path.join(repo, "core/examples/production.yaml"), "utf8");
assert.ok(fs.existsSync(path.join(dist, "index.html")), "web/dist is not built: run web/build.sh");
assert.ok(fs.existsSync(bin), `${bin} is not built: cargo build`);

// Every manifest web/build.sh ships, by catalog copy path.
const shipped = fs.readdirSync(path.join(dist, "upstream"), { recursive: true })
  .filter((f) => f.endsWith(".js"))
  .map((f) => `upstream/${f.split(path.sep).join("/").replace(/\.js$/, "")}`)
  .sort();
assert.ok(shipped.length >= 15, `web/dist/upstream holds ${shipped.length} manifests`);

// The production example with Flannel and Istio 1.28.10 (outside its
// Kubernetes range, so the support policy allows it).
const one = (text, from, to) => {
  assert.equal(text.split(from).length, 2, `one ${JSON.stringify(from)} in the example`);
  return text.replace(from, to);
};
let other = one(production, "cni: calico", "cni: flannel");
other = one(other, "version: 1.30.3", "version: 1.28.10");
other = one(other, "\nspec:\n", "\nspec:\n  supportPolicy:\n    allowUnsupportedVersions: true\n    reason: another release's manifests\n");

const work = fs.mkdtempSync(path.join(os.tmpdir(), "meshbundle-e2e-upstream-"));
const profile = fs.mkdtempSync(path.join(os.tmpdir(), "meshbundle-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  offline: true,
  acceptDownloads: true,
  viewport: { width: 1600, height: 1000 },
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
  ],
});

const step = (s) => console.log(`e2e upstream: ${s}`);
try {
  const page = context.pages()[0] || (await context.newPage());
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  // The manifests requested so far, by copy path.
  const manifests = () => [...new Set(requests.filter((u) => u.startsWith("file:"))
    .map((u) => path.relative(dist, fileURLToPath(u)).split(path.sep).join("/"))
    .filter((p) => p.startsWith("upstream/"))
    .map((p) => p.replace(/\.js$/, "")))].sort();
  const settled = (before) => page.waitForFunction((n) => window.meshbundleTimings.updates > n &&
    document.documentElement.dataset.busy === "false", before, { timeout: 60000 });
  const updates = () => page.evaluate(() => window.meshbundleTimings.updates);
  async function sameAsCli(name) {
    const [specDl] = await Promise.all([page.waitForEvent("download"), page.click("#download-spec")]);
    const dir = path.join(work, name);
    fs.mkdirSync(dir);
    await specDl.saveAs(path.join(dir, "meshbundle.yaml"));
    assert.ok(await page.isEnabled("#download-tar"), `${name}: the .tar.gz can be downloaded`);
    const [tarDl] = await Promise.all([page.waitForEvent("download"), page.click("#download-tar")]);
    await tarDl.saveAs(path.join(dir, "browser.tar.gz"));
    execFileSync(bin, ["render", path.join(dir, "meshbundle.yaml"), "-o", path.join(dir, "render"), "--tar", path.join(dir, "cli.tar.gz")], { stdio: "pipe" });
    assert.ok(fs.readFileSync(path.join(dir, "browser.tar.gz")).equals(fs.readFileSync(path.join(dir, "cli.tar.gz"))),
      `${name}: byte-identical to meshbundle render --tar`);
  }

  step("the production example loads only its own manifests");
  await page.goto(pageUrl);
  await page.evaluate(() => localStorage.clear());
  await page.goto(pageUrl);
  await page.waitForFunction(() => window.meshbundleTimings && window.meshbundleTimings.firstRenderAt !== null, null, { timeout: 60000 });
  await page.waitForFunction(() => document.documentElement.dataset.busy === "false");
  assert.equal(await page.inputValue("#yaml"), production);
  // The page opening draws the files before it builds the form (which
  // took its thread for tens of milliseconds, and kept them off the screen).
  const drawn = await page.evaluate(() => [window.meshbundleTimings.filesOnScreenAt, window.meshbundleTimings.formAt]);
  assert.ok(drawn[0] < drawn[1], `the files are on the screen (${drawn[0]} ms) before the form is built (${drawn[1]} ms)`);
  const first = [
    "upstream/calico/calico-vxlan-v3.31.7.yaml",
    "upstream/istio-addons/1.30.3/grafana.yaml",
    "upstream/istio-addons/1.30.3/jaeger.yaml",
    "upstream/istio-addons/1.30.3/kiali.yaml",
    "upstream/istio-addons/1.30.3/prometheus.yaml",
    "upstream/metallb/metallb-native-v0.16.1.yaml",
  ];
  assert.deepEqual(manifests(), first);
  await sameAsCli("production");

  step("Flannel and Istio 1.28.10: their manifests load then, and the render is the CLI's");
  let n = await updates();
  await page.fill("#yaml", other);
  await settled(n);
  const second = [
    ...first,
    "upstream/flannel/kube-flannel-v0.27.4.yml",
    "upstream/istio-addons/1.28.10/grafana.yaml",
    "upstream/istio-addons/1.28.10/jaeger.yaml",
    "upstream/istio-addons/1.28.10/kiali.yaml",
    "upstream/istio-addons/1.28.10/prometheus.yaml",
  ].sort();
  assert.deepEqual(manifests(), second);
  for (const m of second) assert.ok(shipped.includes(m), `${m} is shipped`);
  assert.match(await page.textContent("#status"), /^valid; \d+ files rendered/);
  await sameAsCli("flannel-1.28");

  step("a fresh worker after a trap gets the manifests loaded so far");
  // A trap, as tests/e2e/page.mjs makes one.
  await page.workers()[0].evaluate(() => {
    const real = wasm_bindgen.validate_json;
    wasm_bindgen.validate_json = (t) => { if (t.includes("Etc/Trap")) throw new WebAssembly.RuntimeError("unreachable"); return real(t); };
  });
  n = await updates();
  await page.fill("#yaml", other.replace("timezone: Etc/UTC", "timezone: Etc/Trap"));
  await settled(n);
  assert.match(await page.textContent("#yaml-problems"), /module failed on this spec \(unreachable\) and was started again/);
  assert.equal(await page.evaluate(() => window.meshbundleTimings.workers), 2);
  n = await updates();
  await page.fill("#yaml", other.replace("reason: another release's manifests", "reason: once more"));
  await settled(n);
  assert.match(await page.textContent("#status"), /^valid; \d+ files rendered/);
  await sameAsCli("after-restart");
  assert.deepEqual(manifests(), second, "no manifest loaded twice");

  step("the early render waits for a manifest on its way: it renders when it comes, and stops when the page says it will not");
  {
    const [worker] = page.workers();
    const need = await worker.evaluate(() => validated.upstream[0]);
    const copy = await page.evaluate((c) => self.MESHBUNDLE_UPSTREAM[c], need);
    const seen = await worker.evaluate(async ([need, copy]) => {
      // The spec validated last (valid), as if one of its manifests were
      // still loading on the page.
      const text = validated.text;
      const state = (p, ms) => Promise.race([
        p.then((r) => (r.skipped ? "skipped" : r.ok ? "rendered" : "failed")),
        new Promise((resolve) => setTimeout(() => resolve("waiting"), ms)),
      ]);
      given.delete(need);
      coming.add(need);
      const first = own.render_if_valid(text, null, null);
      const before = await state(first, 200);
      await own.add_upstream({ [need]: copy });
      const after = await state(first, 2000);
      given.delete(need);
      coming.add(need);
      const second = own.render_if_valid(text, null, null);
      own.not_coming([need]);
      // Its own limit is 5 s: this is the page's word.
      const stopped = await state(second, 2000);
      await own.add_upstream({ [need]: copy });
      return { before, after, stopped };
    }, [need, copy]);
    assert.deepEqual(seen, { before: "waiting", after: "rendered", stopped: "skipped" });
  }

  step("a new tab: the worker validates and renders the spec it opens with before the page asks, and the page takes both");
  {
    // A new tab, as a user opens one: the module is kept by now.
    // Once it has rendered (or, RENDERS false, once it has started).
    const open = async (url, init, renders = true) => {
      const tab = await context.newPage();
      tab.on("request", (r) => requests.push(r.url()));
      tab.on("pageerror", (e) => errors.push(String(e)));
      if (init) await tab.addInitScript(init.fn, init.arg);
      await tab.goto(url);
      await tab.waitForFunction((renders) => window.meshbundleTimings && (renders ? window.meshbundleTimings.firstRenderAt !== null
        : document.documentElement.dataset.ready === "true") && document.documentElement.dataset.busy === "false", renders, { timeout: 60000 });
      assert.ok(await tab.evaluate(() => window.meshbundleTimings.moduleKept), "the module is kept");
      return tab;
    };
    const boot = (tab) => tab.evaluate(() => window.meshbundleTimings.boot);
    const digestOf = async (tab, text) => {
      const shown = (await tab.textContent("#digest")).match(/tree digest (\S+)/)[1];
      const again = await tab.evaluate(async (t) => (await window.meshbundleApi.render_summary(t, null, null)).digest, text);
      assert.equal(shown, again, "the digest shown is that of a render asked now");
      return shown;
    };

    // No autosave: the first example.
    await page.evaluate(() => localStorage.clear());
    let tab = await open(pageUrl);
    assert.deepEqual(await boot(tab), { validation: true, render: true });
    assert.equal(await tab.inputValue("#yaml"), production);
    const exampleDigest = await digestOf(tab, production);
    await tab.close();

    // The autosave: another spec, with the manifests it needed when saved.
    const n = await updates();
    await page.fill("#yaml", other);
    await settled(n);
    tab = await open(pageUrl);
    assert.deepEqual(await boot(tab), { validation: true, render: true });
    assert.equal(await tab.inputValue("#yaml"), other);
    assert.notEqual(await digestOf(tab, other), exampleDigest);
    await tab.close();

    // The autosave changes (another tab saved) between the worker's boot and
    // the page's first check: the page checks what it opens, not the boot's.
    tab = await open(pageUrl, {
      fn: ([first, later]) => {
        const get = Storage.prototype.getItem;
        let reads = 0;
        Storage.prototype.getItem = function (key) {
          if (key === "meshbundle.spec") return reads++ === 0 ? first : later;
          return get.call(this, key);
        };
      },
      arg: [production, other],
    });
    assert.deepEqual(await boot(tab), { validation: false, render: false });
    assert.equal(await tab.inputValue("#yaml"), other);
    assert.match(await tab.textContent("#status"), /^valid; \d+ files rendered/);
    await digestOf(tab, other);
    await tab.close();

    // An autosave that traps the module: the boot's validation traps, a
    // fresh worker takes over, the page starts all the same and says so, and
    // the next spec renders. (The trap is made as tests/e2e/page.mjs makes
    // one, here in the worker's source, since the boot runs before the test
    // could reach the worker.)
    const trapping = other.replace("timezone: Etc/UTC", "timezone: Etc/Trap");
    assert.notEqual(trapping, other);
    await page.evaluate((t) => localStorage.setItem("meshbundle.spec", t), trapping);
    tab = await open(pageUrl, {
      fn: () => {
        const RealBlob = Blob;
        const trap = ";(() => { const real = wasm_bindgen.validate_json; wasm_bindgen.validate_json = (t) => { " +
          "if (t.includes(\"Etc/Trap\")) throw new WebAssembly.RuntimeError(\"unreachable\"); return real(t); }; })();";
        self.Blob = function Blob(parts, options) {
          const source = parts && typeof parts[0] === "string" && parts[0].includes("wasm_bindgen") ? [parts[0] + trap] : parts;
          return new RealBlob(source, options);
        };
        self.Blob.prototype = RealBlob.prototype;
      },
    }, false);
    assert.equal(await boot(tab).then((b) => b.validation), false);
    assert.ok(await tab.evaluate(() => window.meshbundleTimings.workers) >= 2, "a fresh worker took over");
    assert.match(await tab.textContent("#yaml-problems"), /module failed on this spec \(unreachable\) and was started again/);
    {
      const before = await tab.evaluate(() => window.meshbundleTimings.updates);
      await tab.fill("#yaml", other);
      await tab.waitForFunction((n) => window.meshbundleTimings.updates > n && document.documentElement.dataset.busy === "false", before, { timeout: 60000 });
      assert.match(await tab.textContent("#status"), /^valid; \d+ files rendered/);
      await digestOf(tab, other);
    }
    await tab.close();

    // A link: the spec is read from it after the page has started, no boot.
    const link = pageUrl + "#spec=" + await page.evaluate(async (t) => {
      const deflated = await new Response(new Blob([t]).stream().pipeThrough(new CompressionStream("deflate-raw"))).arrayBuffer();
      return btoa(String.fromCharCode(...new Uint8Array(deflated))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    }, other);
    tab = await open(link);
    assert.equal(await boot(tab), null);
    assert.equal(await tab.inputValue("#yaml"), other);
    await digestOf(tab, other);
    await tab.close();
    await page.evaluate(() => localStorage.clear());
  }

  step("a manifest missing from the page's folder: the page says which file, and that the module did not fail");
  {
    // A copy of web/dist without Grafana's manifest, opened with no autosave:
    // the first example needs it.
    const broken = path.join(work, "dist-without-grafana");
    fs.cpSync(dist, broken, { recursive: true });
    const missing = "upstream/istio-addons/1.30.3/grafana.yaml";
    fs.rmSync(path.join(broken, `${missing}.js`));
    await page.evaluate(() => localStorage.clear());
    const tab = await context.newPage();
    tab.on("request", (r) => requests.push(r.url()));
    await tab.goto(pathToFileURL(path.join(broken, "index.html")).href);
    await tab.waitForFunction((m) => document.getElementById("yaml-problems").textContent.includes(`cannot load ${m}.js beside index.html`), missing, { timeout: 30000 });
    const problems = await tab.textContent("#yaml-problems");
    assert.match(problems, /needs a file the page's folder lacks/);
    assert.doesNotMatch(problems, /module failed/);
    assert.equal(await tab.evaluate(() => window.meshbundleTimings.workers), 1, "no worker was started again");
    assert.ok(await tab.isDisabled("#download-tar"));
    await tab.close();
  }

  step("nothing left the page");
  for (const u of requests) assert.ok(u.startsWith("file:") || u.startsWith("blob:") || u.startsWith("data:"), `request to ${u}`);
  assert.deepEqual(errors, []);
  step("ok");
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
}
