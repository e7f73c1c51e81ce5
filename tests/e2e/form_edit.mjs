// End-to-end test of the configurator's form as an editor of the user's
// YAML, in Debian's Chromium from file:// with the network off:
//  - a form edit changes only its line: the downloaded spec is the
//    production example but for that line, every comment kept;
//  - while the YAML does not parse, the form is read-only with a banner
//    giving the line, and the text is never replaced;
//  - `4e` in a number field shows an error at the field, keeps the text and
//    leaves the YAML alone;
//  - a misspelt key shows at the field it is a misspelling of;
//  - routes, JWT issuers, gateway ports and node labels are edited in the
//    form and read back;
//  - after form edits the config .tar.gz is byte-identical to what
//    `meshbundle render --tar` writes for the downloaded spec;
//  - messages: the status after loading a file gives its error count, an
//    alias bomb is reported in a sentence, and an `ingressGateway:` with only
//    `hosts` validates (the rest defaults, as the README says);
//  - Add twice makes two items to fill in, not one value listed twice;
//  - the file goes back as it came: CRLF line ends, a byte order mark, and
//    a spec written as JSON (form edits write JSON into it).
//
//   node tests/e2e/form_edit.mjs      (after web/build.sh and cargo build)
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
const production = fs.readFileSync(path.join(repo, "core/examples/production.yaml"), "utf8");
fs.mkdirSync(out, { recursive: true });
assert.ok(fs.existsSync(path.join(repo, "web/dist/index.html")), "web/dist is not built: run web/build.sh");
assert.ok(fs.existsSync(bin), `${bin} is not built: cargo build`);

const comments = (t) => t.split("\n").filter((l) => l.trimStart().startsWith("#")).length;
// The lines that differ, as [old, new] pairs, for texts of the same length.
function changedLines(a, b) {
  const x = a.split("\n");
  const y = b.split("\n");
  assert.equal(y.length, x.length, "same number of lines");
  return x.map((l, i) => [l, y[i]]).filter(([l, m]) => l !== m);
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), "meshbundle-e2e-form-"));
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

const step = (s) => console.log(`e2e form: ${s}`);
try {
  const page = context.pages()[0] || (await context.newPage());
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  const yaml = () => page.inputValue("#yaml");
  const field = (p) => page.locator(`[data-path='${p}']`);
  const errorOf = async (p) => page.locator(`#${await field(p).getAttribute("id")}-error`).textContent();
  // Waits until the YAML text holds `s` (a string, or a RegExp).
  const waitYaml = (s) => page.waitForFunction(([src, flags, str]) => {
    const y = document.getElementById("yaml").value;
    return str !== null ? y.includes(str) : new RegExp(src, flags).test(y);
  }, s instanceof RegExp ? [s.source, s.flags, null] : [null, null, s]);
  const waitYamlIs = (t) => page.waitForFunction((t) => document.getElementById("yaml").value === t, t);
  // Waits until every edit and check has run.
  const settle = async () => {
    await page.evaluate(() => new Promise((r) => setTimeout(r, 300)));
    await page.waitForFunction(() => document.documentElement.dataset.busy === "false");
  };
  async function downloadSpec(name) {
    const [dl] = await Promise.all([page.waitForEvent("download"), page.click("#download-spec")]);
    const p = path.join(work, name);
    await dl.saveAs(p);
    return fs.readFileSync(p, "utf8");
  }

  step(`open ${page_url} with the network off`);
  await page.goto(page_url);
  await page.waitForSelector("html[data-ready=true]", { timeout: 20000 });
  await page.waitForFunction(() => /valid; \d+ files/.test(document.getElementById("status").textContent));
  assert.equal(await yaml(), production, "the production example, as written");

  step("a form edit changes one line of the user's file");
  await field("spec.registry").fill("10.0.0.6:5000");
  await waitYaml("registry: 10.0.0.6:5000");
  const edited = await downloadSpec("edited.yaml");
  assert.deepEqual(changedLines(production, edited), [["  registry: 10.0.0.5:5000", "  registry: 10.0.0.6:5000"]]);
  assert.equal(comments(edited), comments(production), "every comment line kept");
  assert.ok(comments(production) >= 45);

  step("a number field with `4e` shows the error there and leaves the YAML");
  const replicas = "spec.istio.ingressGateway.replicas";
  await field(replicas).fill("4e");
  await page.waitForFunction((p) => document.querySelector(`[data-path='${p}']`).getAttribute("aria-invalid") === "true", replicas);
  assert.match(await errorOf(replicas), /`4e` is not a (whole )?number/);
  // Another edit lands after it: the replicas line is untouched meanwhile.
  await field("spec.istio.network").fill("network2");
  await waitYaml("network: network2");
  assert.equal(await field(replicas).inputValue(), "4e", "the text typed is kept");
  assert.deepEqual(changedLines(edited, await yaml()), [["    network: network1", "    network: network2"]]);
  await field(replicas).fill("-1");
  await page.waitForFunction((p) => /`-1` is below 0: enter 0 or more/.test(document.getElementById(document.querySelector(`[data-path='${p}']`).id + "-error").textContent), replicas);
  await field(replicas).fill("2.5");
  await page.waitForFunction((p) => /`2\.5` is not a whole number/.test(document.getElementById(document.querySelector(`[data-path='${p}']`).id + "-error").textContent), replicas);
  await field(replicas).fill("3");
  await page.waitForFunction((p) => document.querySelector(`[data-path='${p}']`).getAttribute("aria-invalid") === null, replicas);
  assert.equal(await errorOf(replicas), "");
  assert.deepEqual(changedLines(edited, await yaml()), [["    network: network1", "    network: network2"]]);

  step("broken YAML: the form is read-only with a banner, the text is kept");
  const good = await yaml();
  const broken = good.replace("    podSubnet: 10.244.0.0/16", "    podSubnet 10.244.0.0/16");
  await page.fill("#yaml", broken);
  await page.waitForSelector("#yaml-broken:not([hidden])");
  const banner = await page.textContent("#yaml-broken");
  assert.match(banner, /does not parse \(line \d+, column \d+: /);
  assert.match(banner, /read-only/);
  assert.ok(await field("spec.timezone").isDisabled(), "form fields are disabled");
  assert.ok(await page.isDisabled("#add-node"));
  // Even an input event forced on a field does not touch the text.
  await field("spec.timezone").evaluate((el) => { el.value = "Etc/GMT"; el.dispatchEvent(new Event("input", { bubbles: true })); });
  await page.evaluate(() => new Promise((r) => setTimeout(r, 600)));
  assert.equal(await yaml(), broken, "the broken text is never replaced");
  await page.fill("#yaml", good);
  await page.waitForSelector("#yaml-broken[hidden]", { state: "attached" });
  assert.ok(!(await field("spec.timezone").isDisabled()));
  await page.waitForFunction(() => /valid; \d+ files/.test(document.getElementById("status").textContent));

  step("a misspelt key shows at the field it is meant for");
  await page.fill("#yaml", good.replace("    podSubnet: 10.244.0.0/16", "    podSubnett: 10.244.0.0/16"));
  await page.waitForFunction(() => document.querySelector("[data-path='spec.kubernetes.podSubnet']").getAttribute("aria-invalid") === "true");
  assert.match(await errorOf("spec.kubernetes.podSubnet"), /podSubnett/);
  await page.fill("#yaml", good);
  await page.waitForFunction(() => document.querySelector("[data-path='spec.kubernetes.podSubnet']").getAttribute("aria-invalid") === null);
  assert.ok(await page.isVisible("#nav-other-problems"), "a list for problems without a field is linked from the navigation");

  step("a value of the wrong kind in the YAML shows at its field as written, not as the default");
  {
    const replicasPath = "spec.istio.istiod.replicas";
    const lots = good.replace("    istiod:\n      replicas: 2\n", "    istiod:\n      replicas: lots\n");
    assert.notEqual(lots, good);
    await page.fill("#yaml", lots);
    await page.waitForFunction((p) => document.querySelector(`[data-path='${p}']`).getAttribute("aria-invalid") === "true", replicasPath);
    assert.equal(await field(replicasPath).inputValue(), "lots");
    await field(replicasPath).fill("3");
    await waitYaml("    istiod:\n      replicas: 3\n");
    await page.waitForFunction((p) => document.querySelector(`[data-path='${p}']`).getAttribute("aria-invalid") === null, replicasPath);
    assert.equal(await field(replicasPath).inputValue(), "3");
    await page.fill("#yaml", good);
    await settle();
  }

  step("routes: add, edit and remove in the form");
  const beforeRoute = await yaml();
  await page.click("button[data-table='spec.istio.ingressGateway.routes']");
  await page.waitForSelector("[data-path='spec.istio.ingressGateway.routes[1].service']");
  await field("spec.istio.ingressGateway.routes[1].service").fill("api");
  await waitYaml("          service: api\n");
  await field("spec.istio.ingressGateway.routes[1].port").fill("8081");
  await waitYaml("          port: 8081\n");
  await page.getByRole("button", { name: "Remove route 2" }).click();
  await waitYamlIs(beforeRoute);

  step("text the form refused stays, with its problem, when another table gains or loses a row");
  {
    const istiod = "spec.istio.istiod.replicas";
    const routePort = "spec.istio.ingressGateway.routes[0].port";
    await field(istiod).fill("1e");
    await field(routePort).fill("80o0");
    await page.waitForFunction((ps) => ps.every((p) => document.querySelector(`[data-path='${p}']`).getAttribute("aria-invalid") === "true"), [istiod, routePort]);
    // A row added to the gateway's ports (another table) rebuilds the form.
    await page.click("button[data-table='spec.istio.ingressGateway.service.ports']");
    await page.waitForSelector("[data-path='spec.istio.ingressGateway.service.ports[2].port']");
    await settle();
    assert.equal(await field(istiod).inputValue(), "1e");
    assert.equal(await field(routePort).inputValue(), "80o0");
    assert.match(await errorOf(istiod), /`1e` is not a (whole )?number/);
    assert.match(await errorOf(routePort), /`80o0` is not a (whole )?number/);
    assert.equal(await field(routePort).getAttribute("aria-invalid"), "true");
    // A route added: the routes changed, so the route's refused text is of
    // no route now; istiod's stays.
    await page.click("button[data-table='spec.istio.ingressGateway.routes']");
    await page.waitForSelector("[data-path='spec.istio.ingressGateway.routes[1].service']");
    await settle();
    assert.equal(await field(istiod).inputValue(), "1e");
    assert.equal(await errorOf(routePort), "");
    await field(istiod).fill("1");
    await page.waitForFunction((p) => document.querySelector(`[data-path='${p}']`).getAttribute("aria-invalid") === null, istiod);
    await page.fill("#yaml", beforeRoute);
    await settle();
  }

  step("a key that belongs elsewhere is not taken for a misspelling of a field");
  {
    const withRoutes = beforeRoute.replace("  egressGateway:\n", "  egressGateway:\n      routes: [{host: shop.example.internal, service: x, namespace: y, port: 80}]\n");
    assert.notEqual(withRoutes, beforeRoute);
    await page.fill("#yaml", withRoutes);
    await page.waitForFunction(() => /applies to the ingress gateway only/.test(document.getElementById("yaml-problems").textContent));
    assert.doesNotMatch(await errorOf("spec.istio.egressGateway.hosts"), /applies to the ingress gateway only/);
    assert.match(await page.textContent("#other-problems"), /spec\.istio\.egressGateway\.routes.*applies to the ingress gateway only/);
    await page.fill("#yaml", beforeRoute);
    await settle();
  }

  step("the last node removed, then Add node: a block list again, on the site's network");
  {
    const lab = fs.readFileSync(path.join(repo, "core/examples/lab.yaml"), "utf8");
    await page.fill("#yaml", lab);
    await settle();
    let rows = await page.$$eval("table.nodes tbody tr", (trs) => trs.length);
    while (rows > 0) {
      await page.getByRole("button", { name: "Remove node 1", exact: true }).click();
      await page.waitForFunction((n) => document.querySelectorAll("table.nodes tbody tr").length === n - 1, rows);
      rows--;
    }
    await waitYaml("  nodes: []\n");
    await page.click("#add-node");
    await page.waitForFunction(() => document.querySelectorAll("table.nodes tbody tr").length === 1);
    await waitYaml(/\n  nodes:\n    - name: worker-1\n      address: 192\.168\.56\.\d+\n/);
    assert.doesNotMatch(await yaml(), /nodes: \[/);
    // Add port on a NodePort gateway: a port and a node port no port has.
    const ports = "spec.istio.ingressGateway.service.ports";
    const before = (await yaml()).match(/nodePort: \d+/g).length;
    await page.click(`button[data-table='${ports}']`);
    await page.waitForFunction((n) => (document.getElementById("yaml").value.match(/nodePort: \d+/g) || []).length === n + 1, before);
    await settle();
    assert.match(await yaml(), /nodePort: 30000\n/);
    assert.doesNotMatch(await page.textContent("#yaml-problems"), /nodePort|node port/);
    await page.fill("#yaml", beforeRoute);
    await settle();
  }

  step("gateway ports and node labels");
  await field("spec.istio.ingressGateway.service.ports[1].targetPort").fill("8444");
  await waitYaml("targetPort: 8444");
  assert.deepEqual(changedLines(beforeRoute, await yaml()), [["            targetPort: 8443", "            targetPort: 8444"]]);
  await field("spec.nodes[3].labels").fill("disk=ssd, rack=r1");
  await waitYaml("      labels:\n        disk: ssd\n        rack: r1\n");
  await page.waitForFunction(() => /valid; \d+ files/.test(document.getElementById("status").textContent));

  step("JWT issuers");
  const beforeJwt = await yaml();
  await page.getByRole("button", { name: "Add issuer" }).click();
  await page.waitForSelector("[data-path='spec.security.jwt.issuers[0].issuer']");
  assert.equal(await field("spec.security.jwt.issuers[0].issuer").inputValue(), "https://idp.example.internal");
  await field("spec.security.jwt.issuers[0].issuer").fill("https://login.example.internal");
  await waitYaml("issuer: https://login.example.internal");
  await page.getByRole("button", { name: "Remove issuer 1" }).click();
  await page.waitForSelector("[data-path='spec.security.jwt.issuers[0].issuer']", { state: "detached" });
  // The spec had no `jwt:`: removing the one issuer added gives back the
  // text from before, not `jwt:` holding an empty list.
  await page.waitForFunction((t) => document.getElementById("yaml").value === t, beforeJwt);
  await page.waitForFunction(() => /valid; \d+ files/.test(document.getElementById("status").textContent));

  step("Add twice: two new items are two problems to fix, not one value listed twice");
  const beforeTwice = await yaml();
  for (const button of ["Add issuer", "Add allow rule"]) {
    await page.getByRole("button", { name: button }).click();
    await page.getByRole("button", { name: button }).click();
  }
  await page.waitForSelector("[data-path='spec.security.jwt.issuers[1].issuer']");
  // A new issuer is one the list does not have.
  assert.equal(await field("spec.security.jwt.issuers[0].issuer").inputValue(), "https://idp.example.internal");
  assert.equal(await field("spec.security.jwt.issuers[1].issuer").inputValue(), "https://idp-2.example.internal");
  await settle();
  const twice = await page.textContent("#yaml-problems");
  assert.match(twice, /spec\.security\.authorization\.allow\[\d+\]\.name/, "the empty names of the new rules are problems");
  assert.doesNotMatch(twice, /twice/, "two empty new items are not one value listed twice");
  // Back to the text from before (Undo-free: the editor takes it).
  await page.evaluate((t) => {
    const ta = document.getElementById("yaml");
    ta.value = t;
    ta.dispatchEvent(new Event("input", { bubbles: true }));
  }, beforeTwice);
  await settle();
  await page.waitForFunction(() => /valid; \d+ files/.test(document.getElementById("status").textContent));

  step("after form edits, the .tar.gz is byte-identical to meshbundle render");
  const specText = await downloadSpec("meshbundle.yaml");
  assert.equal(comments(specText), comments(production));
  const [tarDl] = await Promise.all([page.waitForEvent("download"), page.click("#download-tar")]);
  const tarPath = path.join(work, "browser.tar.gz");
  await tarDl.saveAs(tarPath);
  execFileSync(bin, ["render", path.join(work, "meshbundle.yaml"), "-o", path.join(work, "render"), "--tar", path.join(work, "cli.tar.gz")], { stdio: "pipe" });
  assert.ok(fs.readFileSync(tarPath).equals(fs.readFileSync(path.join(work, "cli.tar.gz"))), "byte-identical to meshbundle render --tar");
  // The CLI's own edit of the original gives the same file as the form's.
  const cliSpec = path.join(work, "cli.yaml");
  fs.writeFileSync(cliSpec, production);
  for (const [p, v] of [["spec.registry", "10.0.0.6:5000"], ["spec.istio.network", "network2"],
    ["spec.istio.ingressGateway.service.ports[1].targetPort", "8444"], ["spec.nodes[3].labels", "{disk: ssd, rack: r1}"]]) {
    execFileSync(bin, ["spec", "set", p, v, "-f", cliSpec], { stdio: "pipe" });
  }
  assert.equal(fs.readFileSync(cliSpec, "utf8"), specText, "meshbundle spec set makes the same file");

  step("messages: the error count after loading a file, an alias bomb in a sentence");
  const bad = path.join(work, "c.yaml");
  fs.writeFileSync(bad, production.replace("    podSubnet:", "    podSubnett:").replace("  registry: 10.0.0.5:5000", "  registry: ''"));
  await page.setInputFiles("#load-spec", bad);
  await page.waitForFunction(() => /^loaded c\.yaml: \d+ errors?, see Problems/.test(document.getElementById("status").textContent));
  let bomb = "a0: &a0 [x, x]\n";
  for (let i = 1; i < 22; i++) bomb += `a${i}: &a${i} [*a${i - 1}, *a${i - 1}]\n`;
  await page.fill("#yaml", bomb);
  await page.waitForSelector("#yaml-broken:not([hidden])");
  const problems = await page.textContent("#yaml-problems");
  assert.match(problems, /the YAML expands to more than a site spec can hold/);
  assert.doesNotMatch(problems + (await page.textContent("#yaml-broken")), /budget|Nodes \{/);

  step("a hand-written ingressGateway with only hosts validates; its default ports are edited in the form");
  const start = production.indexOf("    ingressGateway:\n");
  const end = production.indexOf("    egressGateway:\n");
  const partial = production.slice(0, start) + "    ingressGateway:\n      hosts:\n        - shop.example.internal\n" + production.slice(end);
  await page.fill("#yaml", partial);
  await page.waitForFunction(() => /valid; \d+ files/.test(document.getElementById("status").textContent));
  assert.doesNotMatch(await page.textContent("#yaml-problems"), /required|missing/);
  assert.equal(await field("spec.istio.ingressGateway.service.ports[1].targetPort").inputValue(), "8443", "the default ports are shown");
  await field("spec.istio.ingressGateway.service.ports[1].targetPort").fill("8444");
  await waitYaml("targetPort: 8444");
  await page.waitForFunction(() => /valid; \d+ files/.test(document.getElementById("status").textContent));
  const partialEdited = await downloadSpec("partial.yaml");
  assert.ok(partialEdited.startsWith(production.slice(0, start)) && partialEdited.endsWith(production.slice(end)), "only the ingress gateway's lines change");
  const [tar2] = await Promise.all([page.waitForEvent("download"), page.click("#download-tar")]);
  await tar2.saveAs(path.join(work, "partial.tar.gz"));
  // The page names its spec meshbundle.yaml, which the rendered files carry.
  fs.mkdirSync(path.join(work, "partial"), { recursive: true });
  fs.copyFileSync(path.join(work, "partial.yaml"), path.join(work, "partial", "meshbundle.yaml"));
  execFileSync(bin, ["render", path.join(work, "partial", "meshbundle.yaml"), "-o", path.join(work, "render2"), "--tar", path.join(work, "cli2.tar.gz")], { stdio: "pipe" });
  assert.ok(fs.readFileSync(path.join(work, "partial.tar.gz")).equals(fs.readFileSync(path.join(work, "cli2.tar.gz"))), "byte-identical to meshbundle render --tar");

  step("spaces or a number too large in a number field: an error there, the YAML kept");
  const istiodReplicas = "spec.istio.istiod.replicas";
  const httpsPort = "spec.istio.ingressGateway.service.ports[1].port";
  await page.fill("#yaml", production);
  await page.waitForFunction(() => /valid; \d+ files/.test(document.getElementById("status").textContent));
  const fieldError = (p, re) => page.waitForFunction(([p, src]) => new RegExp(src).test(document.getElementById(document.querySelector(`[data-path='${p}']`).id + "-error").textContent), [p, re.source]);
  await field(istiodReplicas).fill(" ");
  await fieldError(istiodReplicas, /^only spaces: enter a number/);
  await field(httpsPort).fill("99999999999");
  await fieldError(httpsPort, /`99999999999` is too large: a number here is at most 4294967295/);
  await settle();
  assert.equal(await yaml(), production, "neither reached the YAML");
  await field(istiodReplicas).fill("2");
  await field(httpsPort).fill("443");
  await settle();

  step("an emptied required field keeps its key; an optional one typed again comes back in its place");
  await field("spec.registry").fill("");
  await field("spec.registry").press("Tab");
  await fieldError("spec.registry", /^`registry` is required: enter a value/);
  await settle();
  assert.equal(await yaml(), production, "the registry stays");
  await field("spec.registry").fill("10.0.0.5:5000");
  const commented = production.replace("    istiod:\n      replicas: 2\n", "    istiod:\n      replicas: 2   # two, for a rolling restart\n");
  await page.fill("#yaml", commented);
  await page.waitForFunction(() => /valid; \d+ files/.test(document.getElementById("status").textContent));
  await field(istiodReplicas).fill("");
  await field(istiodReplicas).press("Tab");
  await waitYaml(/istiod:\n      hpa:/);
  await field(istiodReplicas).fill("3");
  await waitYaml("replicas: 3   # two, for a rolling restart\n");
  assert.equal(await yaml(), commented.replace("replicas: 2   #", "replicas: 3   #"), "in its place, with its comment");

  step("a map value with a comma, in quotes; an alias named in one sentence");
  await page.fill("#yaml", production);
  await page.waitForFunction(() => /valid; \d+ files/.test(document.getElementById("status").textContent));
  await field("spec.istio.istiod.env").fill('EXTRA_HOSTS="a.example.internal,b.example.internal", PILOT_PUSH_THROTTLE=100');
  await waitYaml("EXTRA_HOSTS: a.example.internal,b.example.internal");
  await settle();
  await page.locator("#form").click({ position: { x: 2, y: 2 } });
  await settle();
  assert.equal(await field("spec.istio.istiod.env").inputValue(), 'EXTRA_HOSTS="a.example.internal,b.example.internal", PILOT_PUSH_THROTTLE=100', "shown again as typed");
  await field("spec.istio.istiod.env").fill('A="open');
  await fieldError("spec.istio.istiod.env", /is not quoted right/);
  // The egress gateway's resources are those of the ingress gateway.
  const egressResources = "      resources:\n        requests:\n          cpu: 200m\n          memory: 256Mi\n        limits:\n          cpu: \"1\"\n          memory: 512Mi\n      service:\n        type: ClusterIP";
  const ingressAt = production.indexOf("    ingressGateway:\n");
  const resourcesAt = production.indexOf("      resources:\n", ingressAt);
  assert.ok(production.includes(egressResources) && resourcesAt > ingressAt);
  const anchored = (production.slice(0, resourcesAt) + "      resources: &gwres\n" + production.slice(resourcesAt + "      resources:\n".length))
    .replace(egressResources, "      resources: *gwres\n      service:\n        type: ClusterIP");
  await page.fill("#yaml", anchored);
  await page.waitForFunction(() => /valid; \d+ files/.test(document.getElementById("status").textContent));
  const egressCpu = "spec.istio.egressGateway.resources.requests.cpu";
  await field(egressCpu).fill("300m");
  await fieldError(egressCpu, /^`spec\.istio\.egressGateway\.resources` is an alias \(`\*gwres`\), the value anchored as `&gwres` elsewhere \(edit it where `&gwres` is, or write this value out in the YAML\)$/);
  await settle();
  assert.equal(await yaml(), anchored, "the YAML is left alone");
  assert.doesNotMatch(await page.textContent("#yaml-problems"), /\) \(/, "one hint to a problem");

  step("a spec with CRLF line ends is downloaded with them");
  const crlf = production.replace(/\n/g, "\r\n");
  fs.writeFileSync(path.join(work, "crlf.yaml"), crlf);
  await page.setInputFiles("#load-spec", path.join(work, "crlf.yaml"));
  await page.waitForFunction(() => /^loaded crlf\.yaml/.test(document.getElementById("status").textContent));
  await field("spec.registry").fill("10.0.0.6:5000");
  await waitYaml("registry: 10.0.0.6:5000");
  assert.equal(await downloadSpec("crlf-out.yaml"), crlf.replace("registry: 10.0.0.5:5000", "registry: 10.0.0.6:5000"), "CRLF kept, one line changed");

  step("a spec with a byte order mark is downloaded with it, and validated as the CLI does");
  const bom = "\ufeff" + production;
  fs.writeFileSync(path.join(work, "bom.yaml"), bom);
  await page.setInputFiles("#load-spec", path.join(work, "bom.yaml"));
  await page.waitForFunction(() => /^loaded bom\.yaml: no errors/.test(document.getElementById("status").textContent));
  await field("spec.registry").fill("10.0.0.6:5000");
  await waitYaml("registry: 10.0.0.6:5000");
  assert.equal(await downloadSpec("bom-out.yaml"), bom.replace("registry: 10.0.0.5:5000", "registry: 10.0.0.6:5000"), "the mark kept, one line changed");
  // A link keeps it too.
  await page.click("#copy-link");
  await page.waitForFunction(() => document.getElementById("share-link").value.includes("#spec="));
  const bomLink = await page.inputValue("#share-link");
  const linkTab = await context.newPage();
  await linkTab.goto(bomLink);
  await linkTab.waitForSelector("html[data-ready=true]", { timeout: 30000 });
  await linkTab.waitForFunction(() => document.documentElement.dataset.busy === "false");
  const [bomDl] = await Promise.all([linkTab.waitForEvent("download"), linkTab.click("#download-spec")]);
  await bomDl.saveAs(path.join(work, "bom-link.yaml"));
  assert.equal(fs.readFileSync(path.join(work, "bom-link.yaml"), "utf8"), bom.replace("registry: 10.0.0.5:5000", "registry: 10.0.0.6:5000"), "the link opens the spec with its mark");
  await linkTab.close();
  // A secrets file with a mark is no more a spec than one without.
  fs.writeFileSync(path.join(work, "bom-secrets.yaml"), "\ufeffkind: SiteSecrets\nsite: x\n");
  await page.setInputFiles("#load-spec", path.join(work, "bom-secrets.yaml"));
  await page.waitForFunction(() => /holds secrets: nothing was loaded/.test(document.getElementById("status").textContent));

  step("a spec written as JSON stays JSON after form edits");
  // The production example as JSON, as json.dumps(..., indent=2) writes it.
  const asJson = execFileSync("python3", ["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin), indent=2))"],
    { input: production, encoding: "utf8" });
  fs.writeFileSync(path.join(work, "site.json"), asJson);
  await page.setInputFiles("#load-spec", path.join(work, "site.json"));
  await page.waitForFunction(() => /^loaded site\.json: no errors/.test(document.getElementById("status").textContent));
  await field("spec.registry").fill("10.0.0.6:5000");
  await field("spec.istio.network").fill("network 2");
  await page.getByRole("button", { name: "Add node" }).click();
  await page.waitForFunction(() => /"network": "network 2"/.test(document.getElementById("yaml").value));
  await settle();
  const jsonOut = await downloadSpec("site-out.json");
  const read = JSON.parse(jsonOut);
  assert.equal(read.spec.registry, "10.0.0.6:5000");
  assert.equal(read.spec.istio.network, "network 2");
  assert.equal(read.spec.nodes.length, JSON.parse(asJson).spec.nodes.length + 1, "the node added is in the JSON");

  step("nothing left the page");
  const remote = requests.filter((u) => !/^(file|data|blob):/.test(u));
  assert.deepEqual(remote, [], "no network request");
  assert.deepEqual(errors, [], "no page error");
  await page.screenshot({ path: path.join(out, "form_edit.png"), fullPage: true });
  step("ok");
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
}
