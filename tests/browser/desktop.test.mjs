// The console as the desktop app shows it, against a Realms gateway in desktop mode (run.sh
// starts `desktop-gateway`, which writes its per-launch console secret to a file). The page gets
// `window.__REALMS_DESKTOP__` before it loads, as the desktop webview's initialization script
// does: the local person goes straight in, without a password or a sign-in page. A page without
// the secret (any other local program or site) gets nothing from the console API.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const DESKTOP = process.env.DESKTOP_URL ?? "http://127.0.0.1:8081";
const SECRET = readFileSync(process.env.DESKTOP_SECRET_FILE ?? "desktop-secret", "utf8").trim();
const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), "artifacts");
mkdirSync(ARTIFACTS, { recursive: true });

let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
});

/** A page like the desktop window's: the console secret injected before any script runs. */
async function desktopWindow() {
  const context = await browser.newContext({ locale: "en-US", viewport: { width: 1280, height: 800 } });
  await context.addInitScript((secret) => {
    window.__REALMS_DESKTOP__ = { consoleSecret: secret };
  }, SECRET);
  const page = await context.newPage();
  const errors = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(`${page.url()}: ${msg.text()}`);
  });
  page.on("pageerror", (err) => errors.push(`${page.url()}: ${err.message}`));
  const visited = [];
  page.on("framenavigated", (frame) => {
    if (frame === page.mainFrame()) visited.push(new URL(frame.url()).pathname);
  });
  return { context, page, errors, visited };
}

test("the desktop window opens the console signed in, never showing a sign-in page", async () => {
  const { context, page, errors, visited } = await desktopWindow();
  await page.goto(`${DESKTOP}/`);
  await page.waitForURL(/\/dashboard$/);
  await page.getByRole("button", { name: "Account menu" }).waitFor();
  assert.ok(!visited.includes("/login"), `visited ${visited.join(", ")}`);
  // The local person is the root of this install: admin pages open.
  await page.goto(`${DESKTOP}/admin/channels`);
  await page.locator("main h1").waitFor();
  assert.match(page.url(), /\/admin\/channels$/);
  // Signing out would not stick in the desktop window, so it is not offered.
  await page.getByRole("button", { name: "Account menu" }).click();
  await page.getByRole("menu").waitFor();
  assert.equal(await page.getByRole("button", { name: "Sign out" }).count(), 0);
  await page.screenshot({ path: join(ARTIFACTS, "40-desktop-window.png") });
  // The sign-in page itself goes straight on.
  await page.goto(`${DESKTOP}/login?next=%2Ftokens`);
  await page.waitForURL(/\/tokens$/);
  assert.deepEqual(errors, [], `console errors:\n${errors.join("\n")}`);
  await context.close();
});

test("a desktop window whose session ended signs in again by itself", async () => {
  const { context, page, visited } = await desktopWindow();
  await page.goto(`${DESKTOP}/dashboard`);
  await page.getByRole("button", { name: "Account menu" }).waitFor();
  await context.clearCookies();
  await page.goto(`${DESKTOP}/usage`);
  await page.locator("main h1").waitFor();
  await page.getByRole("button", { name: "Account menu" }).waitFor();
  assert.match(page.url(), /\/usage$/);
  assert.ok(!visited.includes("/login"), `visited ${visited.join(", ")}`);
  const cookies = await context.cookies();
  assert.ok(cookies.some((c) => c.name === "realms_session"), "a new session");
  await context.close();
});

test("without the console secret the gateway's console API answers nothing", async () => {
  const context = await browser.newContext({ locale: "en-US" });
  const page = await context.newPage();
  await page.goto(`${DESKTOP}/`);
  // No global: the browser behaviour is the usual one, and the API refuses it.
  await page.waitForURL(/\/login/);
  const answer = await page.evaluate(async () => {
    const response = await fetch("/api/desktop/session", { method: "POST" });
    return { status: response.status, body: await response.json(), cors: response.headers.get("access-control-allow-origin") };
  });
  assert.equal(answer.status, 401);
  assert.equal(answer.body.error.code, "console_secret_required");
  assert.equal(answer.cors, null);
  await context.close();
});
