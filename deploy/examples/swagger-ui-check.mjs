// Drives the Swagger UI of both services in headless Chromium, the way a user would:
//
//   0. both services answer GET /health;
//   1. each UI lists the expected operations;
//   2. product UI: "Authorize" with an admin's token, then POST /products through "Try it out" /
//      "Execute" answers 201 with the product;
//   3. order UI: "Authorize" with a customer's token, then POST /orders for 2 units of it answers
//      201; over plain HTTP, the order then becomes `confirmed` and the product's stock drops
//      from 5 to 3.
//
// Screenshots of both UIs (and of the page at a failure) go to the output folder.
// Started by swagger-ui-check.sh, which installs playwright-core and Chromium first:
//
//   node deploy/examples/swagger-ui-check.mjs [ORDER_URL] [PRODUCT_URL]
//
// Environment: SHOP_ADMIN_TOKEN and SHOP_CUSTOMER_TOKEN (bearer tokens the services trust;
// swagger-ui-check.sh makes them), SWAGGER_UI_CHECK_DIR (where playwright-core is installed and
// the screenshots go, default target/swagger-ui-check), CHROMIUM (the browser, default
// /usr/bin/chromium), HEADED=1 to watch the browser.

import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const ORDER_URL = (process.argv[2] || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const PRODUCT_URL = (process.argv[3] || 'http://127.0.0.1:3000').replace(/\/+$/, '');
const OUT_DIR = resolve(process.env.SWAGGER_UI_CHECK_DIR || join(here, '../../target/swagger-ui-check'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ADMIN_TOKEN = process.env.SHOP_ADMIN_TOKEN || '';
const CUSTOMER_TOKEN = process.env.SHOP_CUSTOMER_TOKEN || '';

// Bounds of each wait: a UI rendering its operations, an "Execute" answering, an order settling.
const RENDER_TIMEOUT_MS = 20_000;
const EXECUTE_TIMEOUT_MS = 15_000;
const SETTLE_TIMEOUT_MS = 30_000;

const EXPECTED_OPERATIONS = {
  product: [
    'POST /products', 'GET /products/{id}', 'GET /products', 'PATCH /products/{id}',
    'POST /products/{id}/stock-adjustments', 'GET /products/{id}/stock-adjustments',
    'GET /products/{id}/stock-adjustments/{adjustment_id}', 'GET /health', 'GET /health/ready',
    'GET /admin/dead-letters', 'POST /admin/dead-letters/replay',
  ],
  order: [
    'POST /orders', 'GET /orders/{id}', 'GET /orders', 'GET /orders/product/{product_id}',
    'PATCH /orders/{id}', 'DELETE /orders/{id}', 'POST /orders/{id}/cancel', 'POST /orders/{id}/ship',
    'POST /orders/{id}/deliver', 'GET /orders/{id}/history', 'POST /admin/cache/warmup', 'GET /health',
    'GET /health/ready', 'GET /admin/dead-letters', 'POST /admin/dead-letters/replay',
  ],
};

// playwright-core lives in OUT_DIR/node_modules, outside this folder's module resolution.
const { chromium } = createRequire(join(OUT_DIR, 'package.json'))('playwright-core');

class CheckError extends Error {}
const fail = (message) => {
  throw new CheckError(message);
};
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
const ok = (message) => console.log(`ok    ${message}`);

// Runs one named check and returns what BODY returns. Prints the check's summary line (with the
// detail when BODY returns a string), or the reason it failed, then rethrows.
async function check(name, body) {
  try {
    const result = await body();
    ok(typeof result === 'string' ? `${name}: ${result}` : name);
    return result;
  } catch (error) {
    // Playwright's messages carry terminal colours.
    const message = (error instanceof Error ? error.message : String(error)).replace(/\x1b\[[0-9;]*m/g, '');
    console.log(`FAIL  ${name}: ${message}`);
    if (error instanceof Error) error.reported = true;
    throw error;
  }
}

// Plain HTTP from node, for what the UIs do not show; with TOKEN, as its bearer.
async function getJson(url, token) {
  const headers = { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
  let response;
  try {
    response = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    fail(`GET ${url}: ${error.cause?.code || error.cause?.message || error.message}: is the service running?`);
  }
  const text = await response.text();
  if (response.status !== 200) fail(`GET ${url}: HTTP ${response.status}: ${text}`);
  return JSON.parse(text);
}

// Opens a Swagger UI, waits for its operations, and returns them as "METHOD /path".
async function openUi(page, baseUrl) {
  const url = `${baseUrl}/swagger-ui/`;
  const response = await page.goto(url, { waitUntil: 'domcontentloaded', timeout: RENDER_TIMEOUT_MS });
  if (!response || response.status() !== 200) fail(`GET ${url}: HTTP ${response?.status()}`);
  await page
    .locator('.opblock')
    .first()
    .waitFor({ timeout: RENDER_TIMEOUT_MS })
    .catch(async () => {
      const error = await page.locator('.errors-wrapper, .loading-container').first().textContent().catch(() => '');
      fail(`${url}: no operation rendered within ${RENDER_TIMEOUT_MS / 1000}s ${error ? `(page says: ${error.trim()})` : ''}`);
    });
  return page.$$eval('.opblock', (blocks) =>
    blocks.map((block) => {
      const method = block.querySelector('.opblock-summary-method')?.textContent.trim().toUpperCase();
      const path = block.querySelector('.opblock-summary-path');
      // The path text may be split by <wbr>; data-path holds it whole.
      const text = path?.getAttribute('data-path') || path?.textContent.replace(/\u200b/g, '').trim();
      return `${method} ${text}`;
    }),
  );
}

async function checkOperations(page, service, baseUrl) {
  return check(`${service} UI lists its operations`, async () => {
    const listed = await openUi(page, baseUrl);
    const missing = EXPECTED_OPERATIONS[service].filter((operation) => !listed.includes(operation));
    if (missing.length) fail(`missing ${missing.join(', ')} (listed: ${listed.join(', ') || 'none'})`);
    return EXPECTED_OPERATIONS[service].join(', ');
  });
}

// Clicks "Authorize", pastes TOKEN as the bearer value, applies it and closes the dialog, as a
// user would before trying out an operation that needs credentials.
async function authorize(page, token) {
  await page.locator('.auth-wrapper button.authorize').click();
  const value = page.locator('#auth-bearer-value');
  await value.waitFor({ timeout: RENDER_TIMEOUT_MS }).catch(() => {
    fail('the "Authorize" dialog offers no bearer token field: does the document declare the scheme?');
  });
  await value.fill(token);
  await page.locator('.auth-container button[aria-label="Apply credentials"]').click();
  await page.locator('.auth-container h6', { hasText: 'Authorized' }).waitFor({ timeout: RENDER_TIMEOUT_MS });
  await page.locator('.auth-container button.btn-done').click();
  if (!(await page.locator('.auth-wrapper button.authorize.locked').count())) {
    fail('the "Authorize" button does not show the credentials as applied');
  }
  return 'bearer token applied';
}

// Expands an operation, clicks "Try it out", types BODY into the request body, clicks "Execute",
// and returns the live response as shown: { status: '201', text, body: parsed text, block }.
async function tryItOut(page, method, path, body) {
  const block = page
    .locator(`.opblock.opblock-${method.toLowerCase()}`)
    .filter({ has: page.locator(`.opblock-summary-path[data-path="${path}"]`) });
  if ((await block.count()) !== 1) fail(`${method} ${path}: ${await block.count()} operation blocks`);

  await block.locator('.opblock-summary-control').click();
  await block.locator('.try-out__btn').click({ timeout: RENDER_TIMEOUT_MS });
  const textarea = block.locator('textarea.body-param__text');
  await textarea.fill(body, { timeout: RENDER_TIMEOUT_MS });
  // The textarea reports its value to Swagger UI with a debounce (or on blur): leave it, and make
  // sure the value stuck before executing.
  await textarea.blur();
  const typed = await textarea.inputValue();
  if (typed !== body) fail(`${method} ${path}: the request body reads ${typed}`);
  await block.locator('button.execute').click();

  // The live response: a table with a header row ("Code", "Details") and one row of data.
  const live = block.locator('.responses-wrapper .live-responses-table tbody tr.response');
  await live.first().waitFor({ timeout: EXECUTE_TIMEOUT_MS }).catch(() => {
    fail(`${method} ${path}: no live response within ${EXECUTE_TIMEOUT_MS / 1000}s after "Execute"`);
  });
  const code = (await live.first().locator('.response-col_status').textContent()).trim();
  const text = await live
    .first()
    .locator('.response-col_description .highlight-code pre, .response-col_description pre.microlight')
    .first()
    .textContent({ timeout: EXECUTE_TIMEOUT_MS })
    .catch(async () => fail(`${method} ${path}: status ${code}, no response body shown: ${await live.first().textContent()}`));
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    fail(`${method} ${path}: the response body shown is not JSON: ${text.slice(0, 300)}`);
  }
  return { status: code, body: parsed, text, block };
}

// Saves NAME.png, the whole page, and with BLOCK, NAME-operation.png: that operation up close,
// from its title down to the live response (leaving out the documented responses below).
async function screenshot(page, name, block) {
  const file = join(OUT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  if (block) {
    const top = await block.boundingBox();
    const live = await block.locator('.live-responses-table').boundingBox();
    const scrollY = await page.evaluate(() => window.scrollY);
    if (top && live) {
      await page.screenshot({
        path: join(OUT_DIR, `${name}-operation.png`),
        fullPage: true,
        clip: { x: top.x, y: top.y + scrollY, width: top.width, height: live.y + live.height - top.y + 8 },
      });
    }
  }
  return file;
}

async function waitForOrder(id) {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  for (;;) {
    const order = await getJson(`${ORDER_URL}/orders/${id}`, CUSTOMER_TOKEN);
    if (order.status !== 'pending') return order;
    if (Date.now() > deadline) fail(`order ${id} still pending after ${SETTLE_TIMEOUT_MS / 1000}s`);
    await new Promise((done) => setTimeout(done, 200));
  }
}

async function main() {
  mkdirSync(OUT_DIR, { recursive: true });
  // Screenshots of an earlier run would mislead.
  for (const file of readdirSync(OUT_DIR)) if (file.endsWith('.png')) rmSync(join(OUT_DIR, file));
  console.log(`order service:   ${ORDER_URL}\nproduct service: ${PRODUCT_URL}\nscreenshots:     ${OUT_DIR}\n`);
  if (!ADMIN_TOKEN || !CUSTOMER_TOKEN) {
    console.log('FAIL  SHOP_ADMIN_TOKEN and SHOP_CUSTOMER_TOKEN must hold bearer tokens (swagger-ui-check.sh makes them)');
    process.exitCode = 1;
    return;
  }

  const profile = mkdtempSync(join(tmpdir(), 'swagger-ui-check-'));
  let context;
  let page;
  let current = 'startup';
  try {
    await check('the services answer /health', async () => {
      const states = [];
      for (const url of [PRODUCT_URL, ORDER_URL]) states.push(`${url} ${(await getJson(`${url}/health`)).status}`);
      return states.join(', ');
    });
    const headless = process.env.HEADED !== '1';
    context = await check('Chromium starts', () =>
      // A fresh profile, and nothing that phones home: the check must not depend on the internet.
      chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless,
        viewport: { width: 1280, height: 900 },
        args: [
          ...(headless ? ['--headless'] : []),
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      }),
    );
    page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(RENDER_TIMEOUT_MS);
    page.on('pageerror', (error) => console.log(`      (page error: ${error.message})`));

    // Product UI: the operations, then a product created through "Try it out".
    current = 'product-ui';
    await checkOperations(page, 'product', PRODUCT_URL);
    await check('product UI: Authorize as an admin', () => authorize(page, ADMIN_TOKEN));
    const name = `swagger-ui-check-${Date.now()}-${process.pid}`;
    const request = { name, price: '19.99', stock: 5 };
    const created = await check('product UI: POST /products via Try it out', async () => {
      const response = await tryItOut(page, 'POST', '/products', JSON.stringify(request, null, 2));
      if (response.status !== '201') fail(`expected status 201, got ${response.status}: ${response.text}`);
      const { id, name: echoed, stock } = response.body;
      if (!id || echoed !== name || stock !== 5) fail(`the response is not the product sent: ${response.text}`);
      return response;
    });
    const product = created.body;
    console.log(`      status ${created.status}, product ${product.id}, stock ${product.stock}`);
    await screenshot(page, 'product-ui', created.block);

    // Order UI: the operations, then an order of 2 units through "Try it out".
    current = 'order-ui';
    await checkOperations(page, 'order', ORDER_URL);
    await check('order UI: Authorize as a customer', () => authorize(page, CUSTOMER_TOKEN));
    const placed = await check('order UI: POST /orders via Try it out', async () => {
      const body = { items: [{ product_id: product.id, quantity: 2 }] };
      const response = await tryItOut(page, 'POST', '/orders', JSON.stringify(body, null, 2));
      if (response.status !== '201') fail(`expected status 201, got ${response.status}: ${response.text}`);
      const { id, items } = response.body;
      if (!id || items?.[0]?.product_id !== product.id || items[0].quantity !== 2) {
        fail(`the response is not the order sent: ${response.text}`);
      }
      return response;
    });
    const order = placed.body;
    console.log(`      status ${placed.status}, order ${order.id} ${order.status}, total ${order.total}`);
    await screenshot(page, 'order-ui', placed.block);

    // The outcome, over plain HTTP.
    current = 'outcome';
    const settled = await check('the order is confirmed', async () => {
      const result = await waitForOrder(order.id);
      if (result.status !== 'confirmed') {
        fail(`expected confirmed, got ${result.status} ${result.rejection_reason ?? ''}`.trim());
      }
      return result;
    });
    const after = await check('the product stock is 3', async () => {
      const read = await getJson(`${PRODUCT_URL}/products/${product.id}`);
      if (read.stock !== 3) fail(`expected stock 3, got ${read.stock}`);
      return read;
    });

    const shots = readdirSync(OUT_DIR).filter((file) => file.endsWith('.png'));
    console.log(
      `\nall checks passed in ${elapsed()}: product ${product.id} stock 5 -> ${after.stock}, ` +
        `order ${settled.id} ${settled.status}\nscreenshots in ${OUT_DIR}: ${shots.join(', ')}`,
    );
  } catch (error) {
    if (page) {
      const file = await screenshot(page, `${current}-failure`).catch(() => null);
      if (file) console.log(`      screenshot of the page: ${file}`);
    }
    if (!error.reported) console.log(`FAIL  ${current}: ${error.stack || error}`);
    console.log(`\nswagger-ui-check: failed after ${elapsed()}`);
    process.exitCode = 1;
  } finally {
    await context?.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
}

await main();
