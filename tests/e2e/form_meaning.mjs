// End-to-end test of what a form edit means, in Chromium from file:// with
// the network off: an edit changes the one field it edits and nothing else
// the spec means (the rest of a part written in part keeps its defaults);
// every part of the spec the schema has has a field in the form, and the
// fields made from the schema (lists of numbers, maps, tables) edit what
// they show;
// text typed in the YAML editor while an edit is made is never written over;
// the form never acts on a spec the YAML no longer is; nodes are added and
// removed as shown; out-of-date files are neither copied nor downloaded;
// files that are not UTF-8, and empty secrets files, are refused as the CLI
// refuses them; a reload right after typing keeps the text; a link that is
// not one the page writes says so. Layout: the files sit beside the form,
// and a YAML error does not move the editor.
//
//   web/build.sh && cargo build -p meshbundle && node tests/e2e/form_meaning.mjs
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
const page_url = pathToFileURL(path.join(repo, "web/dist/index.html")).href;
const production = fs.readFileSync(path.join(repo, "core/examples/production.yaml"), "utf8");
const lab = fs.readFileSync(path.join(repo, "core/examples/lab.yaml"), "utf8");
assert.ok(fs.existsSync(path.join(repo, "web/dist/index.html")), "web/dist is not built: run web/build.sh");
assert.ok(fs.existsSync(bin), `${bin} is not built: cargo build`);

// A spec that leaves every part but its nodes, registry, load balancer and
// time source to the defaults.
const minimal = `# minimal
apiVersion: meshbundle.dev/v1alpha1
kind: Site
metadata:
  name: mini
spec:
  nodes:
    - name: cp-1
      address: 10.0.0.11
      role: control-plane
  registry: 10.0.0.5:5000
  loadBalancer:
    provider: existing
  time:
    sourceNode: cp-1
`;

const work = fs.mkdtempSync(path.join(os.tmpdir(), "meshbundle-e2e-meaning-"));
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
const step = (s) => console.log(`e2e meaning: ${s}`);
// The spec as the core reads it (defaults filled in), as JSON: the page's
// module validates it (the CLI's reader; `meshbundle validate` agrees on
// its validity).
let meaning;
// The paths at which two JSON values differ.
function differences(a, b, at = "") {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
    return [...new Set([...Object.keys(a), ...Object.keys(b)])].flatMap((k) => differences(a[k], b[k], at ? `${at}.${k}` : k));
  }
  return [at];
}

try {
  const page = context.pages()[0] || (await context.newPage());
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const yaml = () => page.inputValue("#yaml");
  const field = (p) => page.locator(`[data-path='${p}']`);
  const idle = () => page.waitForFunction(() => document.documentElement.dataset.busy === "false");
  const setYaml = async (t) => {
    await page.evaluate((t) => {
      const y = document.getElementById("yaml");
      y.value = t;
      y.dispatchEvent(new Event("input", { bubbles: true }));
    }, t);
    // Past the editor's debounce, until the check it starts is done.
    await page.waitForTimeout(250);
    await idle();
  };
  meaning = async (text) => {
    const v = await page.evaluate((t) => window.meshbundleApi.validate(t), text);
    const p = path.join(work, "spec.yaml");
    fs.writeFileSync(p, text);
    execFileSync(bin, ["validate", p], { stdio: "pipe" });
    assert.ok(v.valid && v.spec, "valid");
    return v.spec;
  };
  const valid = () => page.waitForFunction(() => /valid; \d+ files/.test(document.getElementById("status").textContent));

  await page.goto(page_url);
  await page.waitForSelector("html[data-ready=true]", { timeout: 20000 });
  await valid();

  step("a form edit changes only the field it edits, in what the spec means");
  const before = await meaning(minimal);
  const edits = [
    ["spec.istio.ingressGateway.hosts", "shop.example.internal", "spec.istio.ingressGateway.hosts"],
    ["spec.istio.ingressGateway.replicas", "4", "spec.istio.ingressGateway.replicas"],
    ["spec.istio.istiod.resources.requests.cpu", "750m", "spec.istio.istiod.resources.requests.cpu"],
    ["spec.tuning.sysctl[\"vm.max_map_count\"]", "262145", "spec.tuning.sysctl.vm.max_map_count"],
  ];
  for (const [p, value, changed] of edits) {
    await setYaml(minimal);
    await valid();
    await field(p).fill(value);
    await page.waitForFunction((v) => document.getElementById("yaml").value.includes(v), value);
    await idle();
    const after = await meaning(await yaml());
    assert.deepEqual(differences(before, after), [changed], `${p}: only it changes`);
  }
  assert.equal((await meaning(minimal)).spec.istio.ingressGateway.tls.credentialName, "ingress-tls", "the default ingress gateway has TLS");

  step("every part of the spec has a field in the form, and the fields the schema adds mean what they show");
  // The schema's parts, walked here on their own: each value, list and map
  // (a field each), and each list of objects (a table: a column per key).
  const schema = JSON.parse(execFileSync(bin, ["schema"], { encoding: "utf8" }));
  const plain = (n) => {
    while (n && n.$ref) n = schema.$defs[n.$ref.split("/").pop()];
    const alts = n && n.anyOf;
    if (alts && alts.some((a) => a.type === "null") && alts.length === 2) return plain(alts.find((a) => a.type !== "null"));
    return n;
  };
  const fields = [];
  const tables = [];
  (function walk(n, at) {
    n = plain(n);
    if (n.properties) {
      for (const [k, v] of Object.entries(n.properties)) walk(v, at ? `${at}.${k}` : k);
    } else if (n.type === "array" && plain(n.items).properties) {
      tables.push([at, Object.keys(plain(n.items).properties)]);
    } else {
      fields.push(at);
    }
  })(schema, "");
  assert.ok(fields.length > 140 && tables.length >= 9, `${fields.length} fields, ${tables.length} tables`);
  await setYaml(production);
  await valid();
  const missing = [];
  // The egress gateway refuses the ingress gateway's own parts (TLS, the
  // redirect to HTTPS, routes): the form offers them for the ingress only.
  const ingressOnly = /^spec\.istio\.egressGateway\.(tls|httpsRedirect|routes)\b/;
  for (const p of fields) {
    if (/^(apiVersion|kind)$/.test(p) || ingressOnly.test(p)) continue;
    // The sysctls: one field per key, and one for them all (to add a key).
    if (!(await field(p).count())) missing.push(p);
  }
  for (const [p, keys] of tables) {
    if (ingressOnly.test(p)) {
      if (await page.locator(`button[data-table='${p}']`).count()) missing.push(p + " (offered, but refused)");
      continue;
    }
    if (p !== "spec.nodes" && !(await page.locator(`button[data-table='${p}']`).count())) missing.push(p + " (no Add)");
    if (!(await field(`${p}[0].${keys[0]}`).count())) {
      await page.click(`button[data-table='${p}']`);
      await page.waitForSelector(`[data-path='${p}[0].${keys[0]}']`);
      await idle();
    }
    for (const k of keys) if (!(await field(`${p}[0].${k}`).count())) missing.push(`${p}[0].${k}`);
  }
  assert.deepEqual(missing, [], "parts of the spec without a form field");
  // The version fields offer the catalog's versions (the CLI's supported list).
  const read = await meaning(production);
  for (const [p, want] of [["spec.kubernetes.version", read.spec.kubernetes.version], ["spec.istio.version", read.spec.istio.version], ["spec.containerd.version", read.spec.containerd.version]]) {
    const offered = await field(p).evaluate((el) => [...el.list.options].map((o) => o.value));
    assert.ok(offered.length > 1 && offered.includes(want), `${p} offers ${offered}`);
  }

  const schemaEdits = [
    ["spec.kubernetes.certSANs", "api.site.example.internal, 10.0.0.9", ["spec.kubernetes.certSANs"]],
    ["spec.istio.istiod.env", "PILOT_PUSH_THROTTLE=100", ["spec.istio.istiod.env"]],
    ["spec.istio.istiod.hpa.targetCPUUtilizationPercent", "65", ["spec.istio.istiod.hpa.targetCPUUtilizationPercent"]],
    ["spec.observability.prometheus.retention", "30d", ["spec.observability.prometheus.retention"]],
    ["spec.istio.ingressGateway.service.annotations", "metallb.universe.tf/allow-shared-ip=web", ["spec.istio.ingressGateway.service.annotations"]],
  ];
  for (const [p, value, changed] of schemaEdits) {
    await setYaml(minimal);
    await valid();
    await field(p).fill(value);
    await page.waitForFunction((v) => document.getElementById("yaml").value.includes(v.split(/[,=]/)[0]), value);
    await idle();
    const after = await meaning(await yaml());
    assert.deepEqual(differences(before, after).map((d) => d.replace(/^(spec\.istio\.istiod\.env|spec\.istio\.ingressGateway\.service\.annotations)\..*/, "$1")), changed, `${p}: only it changes`);
  }
  // An optional part on by default is turned off (null) and on again.
  await setYaml(minimal);
  await valid();
  // (The redirect to HTTPS needs TLS: it goes off with it.)
  await field("spec.istio.ingressGateway.tls").uncheck();
  await page.waitForFunction(() => /tls: null/.test(document.getElementById("yaml").value));
  await idle();
  await valid();
  assert.ok(!(await field("spec.istio.ingressGateway.httpsRedirect").isChecked()), "the redirect is off");
  assert.deepEqual(differences(before, await meaning(await yaml())).sort(), ["spec.istio.ingressGateway.httpsRedirect", "spec.istio.ingressGateway.tls"]);
  assert.equal((await meaning(await yaml())).spec.istio.ingressGateway.tls, undefined, "TLS off");
  assert.ok(!(await field("spec.istio.ingressGateway.tls").isChecked()));
  await field("spec.istio.ingressGateway.tls").check();
  await page.waitForFunction(() => !/tls: null|httpsRedirect/.test(document.getElementById("yaml").value));
  await idle();
  assert.deepEqual(differences(before, await meaning(await yaml())), [], "TLS on again, and the redirect, as the defaults have them");
  // What it held comes back with it: its own secret, TLS 1.3, and no redirect.
  const tlsHeld = minimal.replace("spec:\n", "spec:\n  istio:\n    ingressGateway:\n      httpsRedirect: false\n      tls:\n        credentialName: shop-tls\n        minProtocolVersion: TLSV1_3\n");
  await setYaml(tlsHeld);
  await valid();
  await field("spec.istio.ingressGateway.tls").uncheck();
  await page.waitForFunction(() => /tls: null/.test(document.getElementById("yaml").value));
  await idle();
  await field("spec.istio.ingressGateway.tls").check();
  await page.waitForFunction(() => /shop-tls/.test(document.getElementById("yaml").value));
  await idle();
  await valid();
  assert.deepEqual(differences(await meaning(tlsHeld), await meaning(await yaml())), [], "TLS off and on again: as it was");
  assert.ok(!(await yaml()).includes("ingress-tls"), "no default written");
  // A field emptied to type another value keeps its key where it was.
  await setYaml(production);
  await valid();
  const istiodReplicas = field("spec.istio.istiod.replicas");
  await istiodReplicas.click();
  await istiodReplicas.press("Control+a");
  await istiodReplicas.press("Backspace");
  await page.waitForTimeout(300);
  await istiodReplicas.press("3");
  await page.waitForFunction(() => /istiod:\n(?: +#[^\n]*\n)* +replicas: 3\n/.test(document.getElementById("yaml").value));
  await idle();
  // A sysctl added through the field of them all, typed key by key (each
  // pause an edit, and a new key a new field): the others keep their values,
  // and what is typed stays where it is typed.
  await setYaml(minimal);
  await valid();
  const all = field("spec.tuning.sysctl");
  await all.click();
  await page.keyboard.press("End");
  await page.keyboard.type(", kernel.pid_max=65536", { delay: 200 });
  await page.waitForFunction(() => /kernel\.pid_max: "?65536/.test(document.getElementById("yaml").value));
  await idle();
  assert.deepEqual(differences(before, await meaning(await yaml())), ["spec.tuning.sysctl.kernel.pid_max"]);
  assert.equal((await meaning(await yaml())).spec.tuning.sysctl["kernel.pid_max"], "65536");
  await page.waitForSelector(`[data-path='spec.tuning.sysctl["kernel.pid_max"]']`);
  // A certificate keeps its lines.
  const crt = path.join(work, "registry-ca.crt");
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", path.join(work, "registry-ca.key"),
    "-subj", "/CN=registry-ca", "-days", "1", "-out", crt], { stdio: "pipe" });
  const pem = fs.readFileSync(crt, "utf8");
  await setYaml(minimal);
  await valid();
  await field("spec.containerd.registryCA").fill(pem);
  await page.waitForFunction(() => /END CERTIFICATE/.test(document.getElementById("yaml").value));
  await idle();
  assert.equal((await meaning(await yaml())).spec.containerd.registryCA, pem);
  // Written as the certificate reads: a literal block, a line of the YAML for each of its lines.
  assert.ok((await yaml()).includes("registryCA: |\n" + pem.trimEnd().split("\n").map((l) => "      " + l).join("\n") + "\n"), await yaml());
  // A whole number refuses a fraction, a map a key given twice: at the
  // field, the YAML as it was.
  for (const [p, bad, says] of [["spec.trafficPolicy.connectionPool.http.maxRequestsPerConnection", "1.5", /`1\.5` is not a whole number/], ["spec.istio.istiod.env", "A=1, A=2", /`A` is given twice/]]) {
    await setYaml(minimal);
    await valid();
    await field(p).fill(bad);
    await page.waitForSelector("#preview.stale");
    await idle();
    assert.match(await page.textContent("#yaml-problems"), says);
    assert.equal(await yaml(), minimal, `${p}: the YAML is kept`);
  }
  // A rule added in the table of authorization rules, its ports as numbers.
  await setYaml(minimal);
  await valid();
  await page.click("button[data-table='spec.security.authorization.allow']");
  await page.waitForSelector("[data-path='spec.security.authorization.allow[0].ports']");
  await idle();
  await field("spec.security.authorization.allow[0].name").fill("web");
  await field("spec.security.authorization.allow[0].namespace").fill("shop");
  await field("spec.security.authorization.allow[0].ports").fill("8080, 8443");
  await page.waitForFunction(() => /8443/.test(document.getElementById("yaml").value));
  await idle();
  await valid();
  const rule = (await meaning(await yaml())).spec.security.authorization.allow;
  assert.deepEqual([rule.length, rule[0].name, rule[0].namespace, rule[0].ports], [1, "web", "shop", [8080, 8443]]);
  await field("spec.security.authorization.allow[0].ports").fill("8080, http");
  await page.waitForSelector("#preview.stale");
  await idle();
  assert.match(await page.textContent("#yaml-problems"), /`http` is not a whole number/);
  await setYaml(minimal);
  await valid();

  step("text typed in the YAML editor while a form edit is made is kept");
  await setYaml(production);
  await valid();
  // Each edit's round trip to the worker made to take 300 ms, so that the
  // typing surely falls inside it.
  await page.evaluate(() => {
    const post = Worker.prototype.postMessage;
    window.__restorePost = () => { Worker.prototype.postMessage = post; };
    Worker.prototype.postMessage = function (m, t) {
      if (m && m.name === "edit_yaml") setTimeout(() => post.call(this, m, t || []), 300);
      else post.call(this, m, t || []);
    };
  });
  await field("metadata.description").fill("described");
  await page.waitForTimeout(250);
  const typed = (await yaml()).replace("  timezone: ", "  # typed meanwhile\n  timezone: ");
  assert.doesNotMatch(typed, /description: described/, "typed while the edit is under way");
  await page.evaluate((t) => {
    const y = document.getElementById("yaml");
    y.value = t;
    y.dispatchEvent(new Event("input", { bubbles: true }));
  }, typed);
  await page.waitForFunction(() => /description: described/.test(document.getElementById("yaml").value));
  await idle();
  await page.evaluate(() => window.__restorePost());
  assert.match(await yaml(), /# typed meanwhile/, "the typed line is kept");
  assert.match(await yaml(), /description: described/, "and the form's edit made on it");

  step("the caret stays where it was in the YAML editor when a form edit lands");
  await setYaml(production);
  await valid();
  await page.evaluate(() => {
    const post = Worker.prototype.postMessage;
    window.__restorePost = () => { Worker.prototype.postMessage = post; };
    Worker.prototype.postMessage = function (m, t) {
      if (m && m.name === "edit_yaml") setTimeout(() => post.call(this, m, t || []), 300);
      else post.call(this, m, t || []);
    };
  });
  await field("spec.registry").fill("10.0.0.77:5000");
  await page.waitForTimeout(150);
  await page.evaluate(() => {
    const y = document.getElementById("yaml");
    const at = y.value.indexOf("description: ") + "description: ".length;
    y.focus();
    y.setSelectionRange(at, at);
  });
  await page.keyboard.type("ABC");
  await page.waitForFunction(() => /registry: 10\.0\.0\.77:5000/.test(document.getElementById("yaml").value));
  await page.keyboard.type("DEF");
  await idle();
  await page.evaluate(() => window.__restorePost());
  assert.match(await yaml(), /description: ABCDEF\S/, "what is typed goes on where the caret was (it went to the end of the text)");
  assert.match(await yaml(), /registry: 10\.0\.0\.77:5000/);

  step("the focus is never sent to the page's body: a form made read-only under a field, a problems list made again under its button");
  await setYaml(production);
  await valid();
  await field("metadata.description").focus();
  await setYaml(production.replace("kind: Site", "kind Site\n  : : ["));
  await page.waitForSelector("#yaml-broken:not([hidden])");
  assert.equal(await page.evaluate(() => document.activeElement.id), "yaml-broken", "the focus goes to the banner that says why");
  await setYaml(production.replace("  timezone: ", "  extra: 1\n  timezone: "));
  await page.waitForFunction(() => document.querySelector("#yaml-problems button"));
  await page.focus("#yaml-problems button");
  await setYaml(production.replace("  timezone: ", "  extra: 1\n  other: 2\n  timezone: "));
  await page.waitForFunction(() => document.querySelectorAll("#yaml-problems button").length === 2);
  assert.equal(await page.evaluate(() => document.activeElement.closest("#yaml-problems") !== null), true, "the focus stays in the list made again");
  await setYaml(production);
  await valid();

  step("a YAML that parses but is not a spec: the form is read-only and shows why");
  await setYaml(production);
  await valid();
  const lacking = production.replace(/\n {2}registry: [^\n]*/, "").replace("    - name: worker-3", "    - name: worker-3b\n      role: worker\n    - name: worker-3");
  await setYaml(lacking);
  await page.waitForSelector("#yaml-broken:not([hidden])");
  assert.match(await page.textContent("#yaml-broken"), /does not read as a spec yet \(\d+ errors?, see Problems\)/);
  assert.ok(await page.isDisabled("#add-node"), "Add node is off");
  assert.ok(await field("metadata.description").isDisabled());
  assert.equal(await yaml(), lacking, "the text is kept");
  // The editor stays where it was: the banner sits in the form's column.
  const box = await page.locator("#yaml").boundingBox();
  assert.ok(box.y < 900, `the editor stays in view (y ${box.y})`);
  await setYaml(production);
  await valid();
  await page.waitForSelector("#yaml-broken[hidden]", { state: "attached" });

  step("the files sit beside the form, not below it");
  const form = await page.locator("#form").boundingBox();
  const files = await page.locator("#preview").boundingBox();
  assert.ok(files.x > form.x + form.width - 1 && files.y < form.y + form.height / 2, `files at ${files.x},${files.y}`);

  step("Remove clicked twice before the table is rebuilt removes one node");
  await idle();
  const names = async () => (await yaml()).match(/- name: [\w-]+/g);
  const n0 = (await names()).length;
  await page.locator("button[aria-label='Remove node 4']").dblclick();
  await idle();
  await page.waitForFunction((n) => (document.getElementById("yaml").value.match(/- name: [\w-]+/g) || []).length === n - 1, n0);
  await page.waitForTimeout(400);
  await idle();
  assert.equal((await names()).length, n0 - 1, "one node removed");
  // The table lost its last row and shows the nodes as they are now: each
  // row the node at its place (those after the one removed moved up), and
  // a field of the last row edits the last node.
  const shown = await page.$$eval("table.nodes tbody tr", (rows) => rows.map((r) => r.querySelector("[data-path$='.name']").value));
  assert.deepEqual(shown, (await meaning(await yaml())).spec.nodes.map((n) => n.name), "each row shows its node");
  const count = shown.length;
  const lastName = field(`spec.nodes[${count - 1}].name`);
  await lastName.fill("renamed-last");
  await page.waitForFunction(() => /- name: renamed-last/.test(document.getElementById("yaml").value));
  await idle();
  assert.equal((await meaning(await yaml())).spec.nodes.at(-1).name, "renamed-last");
  assert.equal(await page.locator(`[data-path='spec.nodes[${count}].name']`).count(), 0, "no row for a node that is gone");

  step("Remove on two rows, and typing in a third, before the first is made: each acts on the node its row showed");
  // (A focused field is not filled from the spec: the last step's.)
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await setYaml(production);
  await valid();
  await idle();
  const nodesBefore = (await meaning(await yaml())).spec.nodes;
  await page.evaluate(() => {
    const post = Worker.prototype.postMessage;
    window.__restorePost = () => { Worker.prototype.postMessage = post; };
    Worker.prototype.postMessage = function (m, t) {
      if (m && m.name === "edit_yaml") setTimeout(() => post.call(this, m, t || []), 300);
      else post.call(this, m, t || []);
    };
  });
  const rowShows = (k) => page.$eval(`table.nodes tbody tr:nth-child(${k}) [data-key=name]`, (i) => i.value);
  const shownAt = [await rowShows(2), await rowShows(5), await rowShows(6)];
  assert.deepEqual(shownAt, [nodesBefore[1].name, nodesBefore[4].name, nodesBefore[5].name]);
  await page.locator("button[aria-label='Remove node 2']").click();
  await page.waitForTimeout(50);
  assert.equal(await rowShows(5), nodesBefore[4].name, "the table is not rebuilt yet");
  await page.locator("button[aria-label='Remove node 5']").click();
  await page.waitForTimeout(50);
  await page.locator("table.nodes tbody tr:nth-child(6) [data-key=name]").fill("renamed-six");
  await idle();
  await page.waitForTimeout(400);
  await idle();
  await page.evaluate(() => window.__restorePost());
  const nodesAfter = (await meaning(await yaml())).spec.nodes;
  assert.deepEqual(nodesAfter.map((n) => n.address), nodesBefore.filter((_, k) => k !== 1 && k !== 4).map((n) => n.address), "the two nodes shown were removed");
  assert.equal(nodesAfter.find((n) => n.address === nodesBefore[5].address).name, "renamed-six", "the node the third row showed was renamed");

  step("Add node proposes a free name and an address no part of the spec uses");
  await setYaml(production);
  await valid();
  await idle();
  const used = new Set((await yaml()).match(/\b\d+\.\d+\.\d+\.\d+\b/g));
  await page.click("#add-node");
  await page.waitForFunction(() => /- name: worker-4/.test(document.getElementById("yaml").value));
  await idle();
  const added = (await yaml()).match(/- name: worker-4\n\s+address: ([\d.]+)/);
  assert.ok(added && !used.has(added[1]), `a free address (${added && added[1]})`);
  // The file list, changed in place by the node's files, is the render's.
  const listed = () => page.$$eval("#tree button", (bs) => bs.map((b) => b.dataset.file));
  const rendered = async () => (await page.evaluate((t) => window.meshbundleApi.render_summary(t, null, null), await yaml())).files.map((f) => f.path);
  assert.deepEqual(await listed(), await rendered(), "the list after Add node");
  assert.ok((await listed()).some((p) => p.includes("worker-4")), "with the new node's files");
  await page.click("table.nodes tbody tr:last-child .remove-node");
  await page.waitForFunction(() => !/- name: worker-4/.test(document.getElementById("yaml").value));
  await idle();
  assert.deepEqual(await listed(), await rendered(), "the list after Remove");
  // Inside the nodes' network, never its broadcast address: in a /28
  // holding .10 to .13, after .14 comes .1 (not .15, the broadcast, nor .16,
  // outside it).
  const small = lab.replace(/\n {2}kubernetes:\n/, "\n  kubernetes:\n    nodeSubnet: 192.168.56.0/28\n");
  assert.notEqual(small, lab);
  await setYaml(small);
  await valid();
  for (const want of ["192.168.56.11", "192.168.56.12", "192.168.56.13", "192.168.56.14", "192.168.56.1"]) {
    const n = ((await yaml()).match(/- name: /g) || []).length;
    await page.click("#add-node");
    await page.waitForFunction((k) => (document.getElementById("yaml").value.match(/- name: /g) || []).length === k + 1, n);
    await idle();
    const nodes = (await meaning(await yaml())).spec.nodes;
    assert.equal(nodes.at(-1).address, want, `Add node in a /28: ${nodes.map((x) => x.address)}`);
  }
  await valid();

  step("out-of-date files are neither copied nor downloaded");
  await setYaml(production);
  await valid();
  await setYaml(production.replace("podSubnet: 10.244.0.0/16", "podSubnet: 10.96.0.0/16"));
  await page.waitForSelector("#preview.stale");
  await idle();
  assert.ok(await page.isDisabled("#download-file"));
  assert.ok(await page.isDisabled("#copy-file"));
  await setYaml(production);
  await valid();

  step("a spec or secrets file that is not UTF-8 text is refused, an empty secrets file is not taken for none");
  const latin1 = path.join(work, "latin1.yaml");
  fs.writeFileSync(latin1, Buffer.concat([Buffer.from(production.replace("# ", "# caf")), Buffer.from([0xe9, 0x0a])]));
  await page.setInputFiles("#load-spec", latin1);
  await page.waitForFunction(() => /is not UTF-8 text: nothing was loaded/.test(document.getElementById("status").textContent));
  assert.equal(await yaml(), production, "nothing loaded");
  const empty = path.join(work, "site.secrets.yaml");
  fs.writeFileSync(empty, "");
  await page.setInputFiles("#load-secrets", empty);
  await page.waitForSelector("#preview.stale");
  assert.match(await page.textContent("#yaml-problems"), /secrets/);
  await page.click("#clear-secrets");
  await valid();

  step("text the form refuses is a problem: counted, announced at the field, and the files are out of date until it is fixed");
  await setYaml(production);
  await valid();
  await idle();
  const replicas = field("spec.istio.istiod.replicas");
  await replicas.fill("3x");
  await page.waitForSelector("#preview.stale");
  await idle();
  assert.match(await page.textContent("#yaml-problems"), /`3x` is not a (whole )?number/);
  assert.match(await page.textContent("#status"), /1 error/);
  assert.ok(await page.isDisabled("#download-tar"));
  assert.match(await page.textContent("#announce"), /`3x` is not a (whole )?number/, "read out at the focused field");
  await replicas.fill("3");
  await valid();
  assert.ok(!(await page.isDisabled("#download-tar")));

  step("each row of the nodes table shows its node: after a YAML edit of one node, and after text it refused");
  await setYaml(production);
  await valid();
  await idle();
  const rowsShow = () => page.$$eval("table.nodes tbody tr", (rows) => rows.map((r) => [...r.querySelectorAll("[data-path]")].map((f) => f.value)));
  const nodesMean = async () => (await meaning(await yaml())).spec.nodes.map((n) => [n.name, n.address, n.role, n.zone, Object.entries(n.labels || {}).map(([k, v]) => `${k}=${v}`).join(", ")]);
  assert.deepEqual(await rowsShow(), await nodesMean(), "the rows at the start");
  const labels = field("spec.nodes[1].labels");
  await labels.fill("not-a-label");
  await page.waitForSelector("#preview.stale");
  await idle();
  // The YAML is now what is edited: the text refused gives way to the
  // spec's value, and the one node edited there shows its new address.
  await page.focus("#yaml");
  await setYaml(production.replace("address: 10.0.0.22", "address: 10.0.0.122"));
  await valid();
  await idle();
  assert.deepEqual(await rowsShow(), await nodesMean(), "the rows after a YAML edit");
  assert.equal(await field("spec.nodes[1].labels").inputValue(), "", "refused text gone");
  assert.ok((await rowsShow()).some((r) => r[1] === "10.0.0.122"), "the edited node's row");
  // One current file in the list, the one clicked, after a render too.
  const other = await page.getAttribute("#tree li:nth-child(2) button", "data-file");
  await page.click("#tree li:nth-child(2) button");
  const current = () => page.$$eval("#tree [aria-current=true]", (bs) => bs.map((b) => b.dataset.file));
  assert.deepEqual(await current(), [other]);
  await field("spec.timezone").fill("Etc/GMT+3");
  await idle();
  await valid();
  assert.deepEqual(await current(), [other], "still the one current file after a render");

  step("text a node's field refused moves with its node on Add node and Remove");
  await setYaml(production);
  await valid();
  await idle();
  await field("spec.nodes[3].labels").fill("not-a-label");
  await page.waitForSelector("#preview.stale");
  await idle();
  await page.click("#add-node");
  await idle();
  assert.equal(await field("spec.nodes[3].labels").inputValue(), "not-a-label", "kept by Add node");
  assert.equal(await field("spec.nodes[3].labels").getAttribute("aria-invalid"), "true");
  await page.click("table.nodes tbody tr:nth-child(2) .remove-node");
  await idle();
  assert.equal(await field("spec.nodes[2].labels").inputValue(), "not-a-label", "moved up a row with its node by Remove");
  assert.equal(await field("spec.nodes[2].labels").getAttribute("aria-invalid"), "true");
  assert.equal(await field("spec.nodes[3].labels").getAttribute("aria-invalid"), null);
  const moved = (await meaning(await yaml())).spec.nodes;
  assert.deepEqual(await rowsShow(), moved.map((n, k) => [n.name, n.address, n.role, n.zone, k === 2 ? "not-a-label" : Object.entries(n.labels || {}).map(([a, b]) => `${a}=${b}`).join(", ")]));
  assert.match(await page.textContent("#status"), /1 error/);
  await field("spec.nodes[2].labels").fill("");
  await idle();
  await valid();

  step("after form edits (each render gives again only the files that changed), the digest shown and every file are the CLI's");
  await field("spec.istio.istiod.replicas").fill("4");
  await idle();
  await valid();
  const edited = await yaml();
  // The page's spec file is meshbundle.yaml (the files name it).
  fs.mkdirSync(path.join(work, "edited"));
  const editedPath = path.join(work, "edited", "meshbundle.yaml");
  fs.writeFileSync(editedPath, edited);
  const outDir = path.join(work, "render-edited");
  // `render` prints the tree digest on stderr, beside its notes.
  const printed = execFileSync("sh", ["-c", '"$0" render "$1" -o "$2" 2>&1', bin, editedPath, outDir], { encoding: "utf8" });
  assert.equal((await page.textContent("#digest")).match(/tree digest (\S+)/)[1], printed.match(/tree digest (\S+)/)[1], "the digest shown is the CLI's");
  const fromCli = execFileSync("find", [outDir, "-type", "f"], { encoding: "utf8" }).trim().split("\n").map((f) => path.relative(outDir, f)).sort();
  const listedNow = await listed();
  assert.deepEqual([...listedNow].sort(), fromCli, "the same files");
  for (const f of listedNow) {
    const text = await page.evaluate((p) => window.meshbundleApi.file_text(p).then((r) => r.text), f);
    assert.equal(text, fs.readFileSync(path.join(outDir, f), "utf8"), `${f} is the CLI's`);
  }

  step("a list or map edited in the form changes only the items that changed: comments and quoting stay");
  const commented = production.replace(/(\n {6}hosts:\n)((?: {8}- [^\n]*\n)+)/, (all, head, items) => head + items.replace(/\n$/, "  # primary\n") + "        # more below\n");
  assert.notEqual(commented, production, "the ingress hosts are commented");
  await setYaml(commented);
  await valid();
  await idle();
  const hosts = field("spec.istio.ingressGateway.hosts");
  await hosts.fill((await hosts.inputValue()) + ", extra.example.internal");
  await page.waitForFunction(() => /extra\.example\.internal/.test(document.getElementById("yaml").value));
  await idle();
  const withExtra = await yaml();
  assert.match(withExtra, /# primary/);
  assert.match(withExtra, /# more below/);
  // A key renamed in a map stays where it was, with its value and comment.
  const sysctls = field("spec.tuning.sysctl");
  await setYaml(production.replace('      net.core.somaxconn: "32768"', '      net.core.somaxconn: "32768" # listen queue'));
  await valid();
  await idle();
  await sysctls.fill((await sysctls.inputValue()).replace("net.core.somaxconn=", "net.ipv4.tcp_fin_timeout="));
  await page.waitForFunction(() => /tcp_fin_timeout/.test(document.getElementById("yaml").value));
  await idle();
  assert.match(await yaml(), /      net\.core\.netdev_max_backlog: "16384"\n      net\.ipv4\.tcp_fin_timeout: "32768" # listen queue\n/);
  assert.ok(!(await yaml()).includes("somaxconn"));

  step("Start from replaces the text, and one click brings it back");
  const mine = (await yaml()) + "# mine\n";
  await setYaml(mine);
  await valid();
  // The choice says the text is no example, so that each can be chosen.
  assert.equal(await page.inputValue("#example"), "");
  assert.equal(await page.$eval("#example", (s) => s.selectedOptions[0].textContent), "(your spec)");
  await page.selectOption("#example", "lab");
  await page.waitForSelector("#undo-load:not([hidden])");
  assert.notEqual(await yaml(), mine);
  assert.equal(await page.inputValue("#example"), "lab");
  await page.click("#undo-load");
  await page.waitForFunction((t) => document.getElementById("yaml").value === t, mine);
  await valid();
  assert.equal(await page.inputValue("#example"), "");
  await page.selectOption("#example", "production");
  await page.waitForFunction((t) => document.getElementById("yaml").value === t, production);
  await valid();
  assert.equal(await page.inputValue("#example"), "production");
  await page.click("#undo-load");
  await page.waitForFunction((t) => document.getElementById("yaml").value === t, mine);
  await valid();
  // Offered while the text is the one put in: an edit since would be lost.
  await page.selectOption("#example", "production");
  await page.waitForFunction((t) => document.getElementById("yaml").value === t, production);
  await valid();
  assert.ok(await page.isVisible("#undo-load"));
  await setYaml(production.replace("  timezone: ", "  # edited after\n  timezone: "));
  await valid();
  assert.ok(!(await page.isVisible("#undo-load")), "no Undo once the text was edited");

  step("a choice or a switch written as none of its values shows what is written, not a value the spec does not hold");
  await setYaml(production.replace("accessLogging: true", "accessLogging: yes").replace(/(\n {4}cni: )\w+/, "$1weave"));
  await page.waitForFunction(() => /2 errors/.test(document.getElementById("status").textContent));
  assert.equal(await field("spec.kubernetes.cni").inputValue(), "weave");
  assert.ok(await field("spec.istio.accessLogging").evaluate((i) => i.indeterminate), "the switch is neither on nor off");
  await setYaml(production);
  await valid();
  assert.ok(!(await field("spec.istio.accessLogging").evaluate((i) => i.indeterminate)));
  assert.equal(await field("spec.kubernetes.cni").evaluate((s) => [...s.options].some((o) => o.value === "weave")), false, "the written value's choice goes once fixed");

  step("a part turned off and on again gives back its text");
  const withTls = await yaml();
  await field("spec.istio.ingressGateway.tls").click();
  await page.waitForFunction((t) => document.getElementById("yaml").value !== t, withTls);
  await idle();
  await field("spec.istio.ingressGateway.tls").click();
  await page.waitForFunction((t) => document.getElementById("yaml").value === t, withTls);
  await valid();

  step("a reload right after typing keeps the text");
  const fresh = production.replace("  timezone: ", "  # kept across a reload\n  timezone: ");
  await setYaml(fresh);
  await page.reload();
  await page.waitForSelector("html[data-ready=true]");
  assert.equal(await yaml(), fresh);

  step("a link that is not one the page writes says so");
  await page.goto(page_url + "#spec=!!!not-a-spec");
  await page.waitForSelector("html[data-ready=true]");
  await page.waitForFunction(() => /link's spec could not be read/.test(document.getElementById("status").textContent));
  assert.ok(!(await page.evaluate(() => location.hash)), "the fragment is dropped");

  assert.deepEqual(errors, [], "no page error");
  step("ok");
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
}
