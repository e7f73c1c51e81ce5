// End-to-end test of the configurator in Debian's Chromium, driven by
// playwright-core: opened from file:// with the network off, it edits the
// spec (adds a node, breaks and fixes the pod network), downloads the spec
// and the config .tar.gz, and checks the download is byte-identical to what
// `meshbundle render` writes for the same spec. Keeps a screenshot.
//
//   node tests/e2e/configurator.mjs      (after web/build.sh and cargo build)
//
// Environment: MESHBUNDLE_BIN (default target/debug/meshbundle),
// CHROMIUM (default /usr/bin/chromium), E2E_OUT (default target/e2e).

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
const out = process.env.E2E_OUT || path.join(repo, "target/e2e");
const page_url = pathToFileURL(path.join(repo, "web/dist/index.html")).href;
fs.mkdirSync(out, { recursive: true });
assert.ok(fs.existsSync(path.join(repo, "web/dist/index.html")), "web/dist is not built: run web/build.sh");
assert.ok(fs.existsSync(bin), `${bin} is not built: cargo build`);

const work = fs.mkdtempSync(path.join(os.tmpdir(), "meshbundle-e2e-"));
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

const step = (s) => console.log(`e2e: ${s}`);
try {
  const page = context.pages()[0] || (await context.newPage());
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });

  step(`open ${page_url} with the network off`);
  await page.goto(page_url);
  await page.waitForSelector("html[data-ready=true]", { timeout: 20000 });
  await page.waitForFunction(() => window.meshbundleTimings && window.meshbundleTimings.firstRender !== null);
  assert.match(await page.textContent("#status"), /valid; \d+ files rendered/);
  assert.ok((await page.locator("#tree button").count()) > 30, "the file tree is shown");

  step("view a rendered file");
  await page.getByRole("button", { name: /^install\.sh/ }).click();
  // The viewer fetches the file from the worker.
  await page.waitForFunction(() => document.getElementById("viewer-title").textContent === "install.sh");
  assert.match(await page.textContent("#viewer"), /#!\/usr\/bin\/env bash/);

  step("add a node");
  const rowsBefore = await page.locator("table.nodes tbody tr").count();
  await page.click("#add-node");
  await page.waitForFunction((n) => document.querySelectorAll("table.nodes tbody tr").length === n + 1, rowsBefore);
  const newName = await page.inputValue("table.nodes tbody tr:last-child input >> nth=0");
  await page.waitForFunction((name) => document.getElementById("yaml").value.includes(`name: ${name}`), newName);
  await page.fill("table.nodes tbody tr:last-child input >> nth=0", "worker-9");
  await page.waitForFunction(() => document.getElementById("yaml").value.includes("name: worker-9"));

  step("an overlapping pod network shows an error at that field");
  const pod = page.getByLabel("Pod network (CIDR)");
  await pod.fill("10.96.0.0/16");
  await page.waitForFunction(() => document.querySelector("[aria-invalid=true]") !== null);
  assert.equal(await pod.getAttribute("aria-invalid"), "true");
  const podError = await page.locator(`#${await pod.getAttribute("id")}-error`).textContent();
  assert.match(podError, /overlaps the service network/);
  assert.ok(await page.isDisabled("#download-tar"), "no download while the spec has errors");
  assert.match(await page.textContent("#yaml-problems"), /spec\.kubernetes\.podSubnet/);

  step("fix it");
  await pod.fill("10.244.0.0/16");
  await page.waitForFunction(() => document.querySelector("[aria-invalid=true]") === null);
  await page.waitForFunction(() => document.getElementById("download-tar").getAttribute("aria-disabled") !== "true");
  assert.equal(await page.locator(`#${await pod.getAttribute("id")}-error`).textContent(), "");

  step("edit the YAML directly; the form follows");
  const yaml = await page.inputValue("#yaml");
  await page.fill("#yaml", yaml.replace("timezone: Etc/UTC", "timezone: Europe/Berlin"));
  await page.waitForFunction(() => document.querySelector("input[data-path='spec.timezone']").value === "Europe/Berlin");

  step("keyboard: the form is reachable and focus is visible");
  await page.keyboard.press("Tab");
  // The focused element, or the label around a hidden file input
  // (.button:focus-within), draws an indicator it does not draw unfocused:
  // its computed outline or box-shadow, read focused, then after blur().
  const focus = await page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return { tag: el ? el.tagName : null };
    const chain = [el, el.parentElement].filter(Boolean);
    const look = (e) => {
      const cs = getComputedStyle(e);
      const r = e.getBoundingClientRect();
      return {
        outline: `${cs.outlineStyle} ${cs.outlineWidth} ${cs.outlineColor}`,
        outlineStyle: cs.outlineStyle,
        outlineWidth: parseFloat(cs.outlineWidth) || 0,
        outlineColor: cs.outlineColor,
        boxShadow: cs.boxShadow,
        size: [r.width, r.height],
      };
    };
    const focused = chain.map(look);
    el.blur();
    const unfocused = chain.map(look);
    return { tag: el.tagName, id: el.id, focused, unfocused };
  });
  assert.ok(focus.tag && focus.tag !== "BODY", "Tab moves the focus into the page");
  const transparent = (c) => c === "transparent" || /^rgba\(.*,\s*0\)$/.test(c);
  const indicator = focus.focused.findIndex((f, i) => {
    const u = focus.unfocused[i];
    const outline = f.outlineStyle !== "none" && f.outlineWidth > 0 && !transparent(f.outlineColor)
      && (f.outline !== u.outline);
    const shadow = f.boxShadow !== "none" && f.boxShadow !== u.boxShadow;
    return (outline || shadow) && f.size[0] > 1 && f.size[1] > 1;
  });
  assert.ok(indicator >= 0, `no visible focus indicator on ${focus.tag}#${focus.id}: ${JSON.stringify(focus)}`);

  step("download the spec and the config .tar.gz");
  const [specDl] = await Promise.all([page.waitForEvent("download"), page.click("#download-spec")]);
  const specPath = path.join(work, "meshbundle.yaml");
  await specDl.saveAs(specPath);
  const [tarDl] = await Promise.all([page.waitForEvent("download"), page.click("#download-tar")]);
  const tarPath = path.join(work, tarDl.suggestedFilename());
  await tarDl.saveAs(tarPath);
  assert.equal(fs.readFileSync(specPath, "utf8"), await page.inputValue("#yaml"));

  await page.screenshot({ path: path.join(out, "configurator.png"), fullPage: true });

  step("compare with meshbundle render of the same spec");
  const renderDir = path.join(work, "render");
  execFileSync(bin, ["render", specPath, "-o", renderDir, "--tar", path.join(work, "cli.tar.gz")], { stdio: "pipe" });
  assert.ok(fs.readFileSync(tarPath).equals(fs.readFileSync(path.join(work, "cli.tar.gz"))), "the .tar.gz is byte-identical to meshbundle render --tar");
  const extract = path.join(work, "extract");
  fs.mkdirSync(extract);
  execFileSync("tar", ["-xzf", tarPath, "-C", extract]);
  const [top] = fs.readdirSync(extract);
  const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]);
  const fromBrowser = walk(path.join(extract, top)).map((p) => path.relative(path.join(extract, top), p)).sort();
  const fromCli = walk(renderDir).map((p) => path.relative(renderDir, p)).sort();
  assert.deepEqual(fromBrowser, fromCli, "the same files");
  for (const f of fromCli) {
    const a = fs.readFileSync(path.join(extract, top, f));
    const b = fs.readFileSync(path.join(renderDir, f));
    assert.ok(a.equals(b), `${f} is byte-identical`);
    assert.equal(fs.statSync(path.join(extract, top, f)).mode & 0o777, fs.statSync(path.join(renderDir, f)).mode & 0o777, `${f} mode`);
  }
  assert.ok(fromCli.includes("nodes/worker-9/bootstrap.sh"), "the added node is rendered");

  step("nothing left the page");
  const remote = requests.filter((u) => !/^(file|data|blob):/.test(u));
  assert.deepEqual(remote, [], "no network request");
  assert.deepEqual(errors, [], "no page error");
  step(`ok (${fromCli.length} files identical; screenshot ${path.join(out, "configurator.png")})`);
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
}
