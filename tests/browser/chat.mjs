#!/usr/bin/env node
// Drive the web chat page with Debian's Chromium through playwright-core.
//
//   node tests/browser/chat.mjs --url http://127.0.0.1:PORT --persona bargain_hunter \
//     --message "can you recommend a phone?" --expect "Best value smartphones" \
//     --screenshot var/shot.png [--timeout 30000] [--viewport 390x844] [--rate Helpful] [--shop]
//     [--survey "a comment"]
//
// --rate also draws the quick reply's emoji (👍) in a canvas with the page's own font
// stack and counts coloured pixels: without a colour emoji font it is a black box.
// --survey presses Close chat after the answer, waits for the survey question in the panel,
// presses the score 4, types the comment at the comment question and waits for the chat to
// close (body[data-chat=closed]).
// --shop expects product cards under the answer, clicks "Compare" on the first card
// (waits for the comparison table) and then "Add to cart" (waits for the cart answer).
// Picks the persona, signs in, waits for the "Signed in as" header, sends the
// message with Enter and waits for a bot bubble containing --expect. Prints one
// JSON line: {"ok": true, "persona", "sender", "reply"} and exits 0, or
// {"ok": false, "error"} and exits 1 (with a screenshot when one can be taken).
// Browsers come from scripts/install_browser.sh (chromium + node_modules).
import { existsSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

// Playwright messages carry ANSI colours and multi-line call logs; keep one plain line.
function oneLine(err) {
  const text = String(err && err.message ? err.message : err);
  return text.replace(/\u001b\[[0-9;]*m/g, "").split("\n")[0].trim();
}

function emit(result) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      url: { type: "string" },
      persona: { type: "string" },
      message: { type: "string" },
      expect: { type: "string" },
      screenshot: { type: "string" },
      timeout: { type: "string", default: "30000" },
      viewport: { type: "string", default: "1280x800" },
      rate: { type: "string" },
      shop: { type: "boolean", default: false },
      survey: { type: "string" },
    },
  });
  for (const name of ["url", "persona", "message", "expect"]) {
    if (!values[name]) throw new Error(`--${name} is required`);
  }
  const timeout = Number(values.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0) throw new Error("--timeout must be milliseconds > 0");
  const m = /^(\d+)x(\d+)$/.exec(values.viewport);
  if (!m) throw new Error("--viewport must look like 390x844");
  return { ...values, timeout, viewport: { width: Number(m[1]), height: Number(m[2]) } };
}

async function run(opts, state) {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found; run scripts/install_browser.sh`);
  const { chromium } = await import("playwright-core").catch((err) => {
    throw new Error(`cannot load playwright-core (${oneLine(err)}); run scripts/install_browser.sh`);
  });
  state.browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: opts.timeout,
  });
  const phone = opts.viewport.width < 600;
  const context = await state.browser.newContext({
    viewport: opts.viewport,
    deviceScaleFactor: phone ? 2 : 1,
    isMobile: phone,
    hasTouch: phone,
  });
  context.setDefaultTimeout(opts.timeout);
  const page = await context.newPage();
  state.page = page;
  const pageErrors = [];
  page.on("pageerror", (err) => pageErrors.push(String(err && err.message ? err.message : err)));
  page.on("console", (msg) => { if (msg.type() === "error") pageErrors.push(msg.text()); });

  const resp = await page.goto(opts.url, { waitUntil: "load" });
  if (!resp || !resp.ok()) throw new Error(`GET ${opts.url} answered ${resp ? resp.status() : "nothing"}`);

  const picker = page.getByTestId("persona");
  const offered = await picker.locator("option").evaluateAll((els) => els.map((e) => e.value));
  if (!offered.includes(opts.persona)) {
    throw new Error(`persona ${opts.persona} is not offered (${offered.join(", ")})`);
  }
  await picker.selectOption(opts.persona);
  await page.getByTestId("signin").click();
  const whoami = page.getByTestId("whoami");
  await waitFor(page, whoami, /Signed in as/, "the signed-in header", opts.timeout);
  const header = (await whoami.textContent()).trim();

  const input = page.getByTestId("message-input");
  await input.fill(opts.message);
  const botsBefore = await page.locator(".msg.bot").count();
  await input.press("Enter");

  const expected = page.locator(".msg.bot", { hasText: opts.expect });
  await waitFor(page, expected.first(), null, `a bot reply containing ${JSON.stringify(opts.expect)}`,
    opts.timeout);
  const replies = await page.locator(".msg.bot").allTextContents();
  await page.getByTestId("send").waitFor({ state: "visible" });
  await page.waitForFunction(() => document.getElementById("typing")?.hidden !== false,
    null, { timeout: opts.timeout });

  // --rate: click the quick reply with this title under the answer and wait for the thanks.
  let rated = null;
  if (opts.rate) {
    const button = page.locator(".replies .chip.reply", { hasText: opts.rate }).last();
    await waitFor(page, button, null, `a quick reply titled ${JSON.stringify(opts.rate)}`, opts.timeout);
    const before = await page.locator(".msg.bot").count();
    await button.click();
    const next = page.locator(".msg.bot").nth(before);
    await waitFor(page, next, null, "the answer to the quick reply", opts.timeout);
    rated = (await next.textContent()).trim();
    const disabled = await page.locator(".replies").last().locator("button:disabled").count();
    if (disabled === 0) throw new Error("quick replies stay clickable after use");
  }

  let emoji = null;
  if (opts.rate) emoji = await emojiPixels(page);
  let shop = null;
  if (opts.shop) shop = await shopFlow(page, opts.timeout);
  let survey = null;
  if (opts.survey) survey = await surveyFlow(page, opts.survey, opts.timeout);

  if (opts.screenshot) await screenshot(page, opts.screenshot);
  if (pageErrors.length) throw new Error(`page errors: ${pageErrors.join("; ")}`);
  const sender = (/Signed in as (\S+)/.exec(header) || [])[1] || "";
  return {
    ok: true, persona: opts.persona, sender, reply: replies[botsBefore] ?? replies[0], rated,
    emoji, shop, survey,
  };
}

// The 👍 drawn with the font stack the quick replies use: coloured pixels mean a colour
// emoji glyph was found; a missing font draws a monochrome box or nothing.
async function emojiPixels(page) {
  return page.evaluate(() => {
    const button = document.querySelector(".replies .chip.reply") || document.body;
    const family = getComputedStyle(button).fontFamily;
    const canvas = document.createElement("canvas");
    canvas.width = 64;
    canvas.height = 64;
    const ctx = canvas.getContext("2d");
    ctx.font = `40px ${family}`;
    ctx.textBaseline = "top";
    ctx.fillStyle = "#000";
    ctx.fillText("\u{1F44D}", 4, 4);
    const data = ctx.getImageData(0, 0, 64, 64).data;
    let inked = 0;
    let coloured = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] < 128) continue;
      inked += 1;
      const hi = Math.max(data[i], data[i + 1], data[i + 2]);
      const lo = Math.min(data[i], data[i + 1], data[i + 2]);
      if (hi - lo > 60) coloured += 1;
    }
    return { inked, coloured, family };
  });
}

async function shopFlow(page, timeout) {
  const cards = page.getByTestId("product-card");
  await waitFor(page, cards.first(), null, "product cards", timeout);
  const names = (await cards.locator(".card-name").allTextContents()).map((t) => t.trim());
  const stock = (await cards.locator(".card-stock").allTextContents()).map((t) => t.trim());
  await cards.first().locator(".card-action", { hasText: "Compare" }).click();
  const table = page.getByTestId("comparison-table").last();
  await waitFor(page, table, null, "the comparison table", timeout);
  const columns = (await table.locator("thead th").allTextContents()).map((t) => t.trim());
  const rows = await table.locator("tbody tr").count();
  await page.waitForFunction(() => document.getElementById("typing")?.hidden !== false,
    null, { timeout });
  const before = await page.locator(".msg.bot").count();
  // The first card that can go into the cart (an out-of-stock card offers a notification).
  const buyable = page.getByTestId("product-card")
    .filter({ has: page.locator(".card-action", { hasText: "Add to cart" }) }).first();
  const addedName = (await buyable.locator(".card-name").textContent()).trim();
  await buyable.locator(".card-action", { hasText: "Add to cart" }).click();
  const added = page.locator(".msg.bot").nth(before);
  await waitFor(page, added, null, "the answer to Add to cart", timeout);
  return { names, stock, columns, rows, addedName, added: (await added.textContent()).trim() };
}

async function surveyFlow(page, comment, timeout) {
  const idle = () => page.waitForFunction(
    () => document.getElementById("typing")?.hidden !== false, null, { timeout });
  await idle();
  await page.getByTestId("close-chat").click();
  const question = page.locator(".msg.bot", { hasText: "how satisfied are you" }).last();
  await waitFor(page, question, null, "the survey question after Close chat", timeout);
  await idle();
  const stillOpen = await page.evaluate(() => document.body.dataset.chat);
  await page.locator(".replies").last().locator(".chip.reply", { hasText: /^4$/ }).click();
  const ask = page.locator(".msg.bot", { hasText: "Anything you'd like to add?" }).last();
  await waitFor(page, ask, null, "the comment question", timeout);
  await idle();
  const input = page.getByTestId("message-input");
  await input.fill(comment);
  await input.press("Enter");
  await page.waitForFunction(() => document.body.dataset.chat === "closed", null, { timeout });
  const bots = await page.locator(".msg.bot").allTextContents();
  const notices = await page.locator(".msg.notice").allTextContents();
  return {
    question: (await question.textContent()).trim(),
    stillOpen,
    thanks: bots[bots.length - 1].trim(),
    closed: notices[notices.length - 1].trim(),
    inputDisabled: await page.getByTestId("message-input").isDisabled(),
  };
}

// Wait for a locator (optionally with text matching re), but fail early with the
// page's own error notice if one appears, so failures say what the user saw.
async function waitFor(page, locator, re, what, timeout) {
  const target = re ? locator.filter({ hasText: re }) : locator;
  const notice = page.locator(".msg.notice.error").last();
  const winner = await Promise.race([
    target.waitFor({ state: "visible", timeout }).then(() => "ok"),
    notice.waitFor({ state: "visible", timeout }).then(() => "error"),
  ]).catch((err) => {
    throw new Error(`timed out after ${timeout} ms waiting for ${what}: ${oneLine(err)}`);
  });
  if (winner === "error" && !(await target.isVisible())) {
    throw new Error(`waiting for ${what}, the page said: ${(await notice.textContent()).trim()}`);
  }
}

async function screenshot(page, path) {
  const file = resolve(path);
  mkdirSync(dirname(file), { recursive: true });
  await page.screenshot({ path: file, fullPage: true, animations: "disabled" });
}

async function main() {
  const state = { browser: null, page: null };
  let opts;
  try {
    opts = parseOptions(process.argv.slice(2));
    const result = await run(opts, state);
    emit(result);
    process.exitCode = 0;
  } catch (err) {
    if (state.page && opts && opts.screenshot) {
      await screenshot(state.page, opts.screenshot).catch(() => {});
    }
    emit({ ok: false, error: oneLine(err) });
    process.exitCode = 1;
  } finally {
    if (state.browser) await state.browser.close().catch(() => {});
  }
}

await main();
