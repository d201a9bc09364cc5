// Renders one trace as a Jaeger-like waterfall in an HTML page and screenshots it to PNG with
// headless Chromium. The trace is the JSON that crates/testkit/tests/observability.rs writes to
// target/observability/trace-*.json: an array of spans with service_name, trace_id, span_id,
// parent_span_id, name, kind, attributes, links, status_error, start_unix_nanos, end_unix_nanos.
//
// One row per span, in the parent/child tree (children by start time, indented by depth); a bar
// placed by start/end relative to the trace start, labelled with its duration; colour by span
// kind; a few key attributes under the name. Started by render.sh, which installs playwright-core
// and Chromium first:
//
//   node deploy/observability/trace-view/render.mjs TRACE.json OUT.png
//
// Environment: TRACE_VIEW_DIR (where playwright-core is installed and the HTML page goes, default
// target/swagger-ui-check), CHROMIUM (the browser, default /usr/bin/chromium), WIDTH (of the page in
// CSS pixels, default 1400).

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const OUT_DIR = resolve(process.env.TRACE_VIEW_DIR || join(here, '../../../target/swagger-ui-check'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const WIDTH = Number(process.env.WIDTH || 1400);

// Attributes worth a glance, in this order, when a span has them.
const KEY_ATTRIBUTES = [
  'http.request.method', 'http.route', 'http.response.status_code', 'url.full',
  'messaging.system', 'messaging.destination.name', 'routing_key', 'messaging.outcome',
];

const KIND_COLOURS = {
  Server: '#2f6fd6',
  Client: '#11998e',
  Producer: '#e07b16',
  Consumer: '#8e44ad',
  Internal: '#7f8c8d',
  Unspecified: '#95a5a6',
};

const escape = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

// Nanoseconds since the epoch exceed 2^53: JSON.parse rounds them to ~256 ns, far below what a
// millisecond scale shows.
const ms = (nanos) => nanos / 1e6;
const formatMs = (value) => `${value < 10 ? value.toFixed(2) : value.toFixed(1)} ms`;

/// The spans in display order, each with its depth: a depth-first walk of the parent/child tree,
/// children by start time. Spans whose parent is not in the trace are roots.
function walk(spans) {
  const ids = new Set(spans.map((s) => s.span_id));
  const children = new Map();
  const roots = [];
  for (const span of spans) {
    if (span.parent_span_id && ids.has(span.parent_span_id)) {
      if (!children.has(span.parent_span_id)) children.set(span.parent_span_id, []);
      children.get(span.parent_span_id).push(span);
    } else {
      roots.push(span);
    }
  }
  const byStart = (a, b) => a.start_unix_nanos - b.start_unix_nanos;
  const rows = [];
  const visit = (span, depth) => {
    rows.push({ span, depth, orphan: depth === 0 && Boolean(span.parent_span_id) });
    for (const child of (children.get(span.span_id) || []).sort(byStart)) visit(child, depth + 1);
  };
  for (const root of roots.sort(byStart)) visit(root, 0);
  return rows;
}

function niceStep(total) {
  const raw = total / 6;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((f) => f * power).find((step) => step >= raw);
}

function renderHtml(spans) {
  if (!Array.isArray(spans) || spans.length === 0) throw new Error('the trace has no spans');
  const start = Math.min(...spans.map((s) => s.start_unix_nanos));
  const end = Math.max(...spans.map((s) => s.end_unix_nanos));
  const total = Math.max(ms(end - start), 0.001);
  const pct = (nanos) => (ms(nanos - start) / total) * 100;
  const services = [...new Set(spans.map((s) => s.service_name || '(unknown)'))];
  // One service.name for every span (e.g. both services in one test process): said once in the
  // header rather than on every row.
  const badges = services.length > 1;
  const traceIds = [...new Set(spans.map((s) => s.trace_id))];
  const kinds = Object.keys(KIND_COLOURS).filter((kind) => spans.some((s) => s.kind === kind));

  const step = niceStep(total);
  const ticks = [];
  for (let t = 0; t <= total + 1e-9; t += step) ticks.push(t);

  const rows = walk(spans).map(({ span, depth, orphan }) => {
    const colour = KIND_COLOURS[span.kind] || KIND_COLOURS.Unspecified;
    const left = pct(span.start_unix_nanos);
    const width = Math.max(pct(span.end_unix_nanos) - left, 0);
    const duration = formatMs(ms(span.end_unix_nanos - span.start_unix_nanos));
    const labelOnLeft = left + width > 78;
    const attrs = KEY_ATTRIBUTES.filter((key) => span.attributes?.[key] !== undefined)
      .filter((key) => !(key === 'http.request.method' && span.name.startsWith(span.attributes[key])))
      .filter((key) => !(key === 'http.route' && span.name.endsWith(span.attributes[key])))
      .map((key) => `<span class="attr"><span class="key">${escape(key)}</span>=${escape(span.attributes[key])}</span>`);
    const tags = [
      `<span class="kind" style="color:${colour};border-color:${colour}">${escape(span.kind.toLowerCase())}</span>`,
      span.status_error ? '<span class="tag error">error</span>' : '',
      span.links?.length ? `<span class="tag">${span.links.length} link${span.links.length > 1 ? 's' : ''}</span>` : '',
      orphan ? '<span class="tag">parent not captured</span>' : '',
    ].join('');
    const guides = Array.from({ length: depth }, (_, i) => `<span class="guide" style="left:${i * 18 + 6}px"></span>`).join('');
    return `
      <div class="row${span.status_error ? ' failed' : ''}">
        <div class="label" style="padding-left:${depth * 18 + 8}px">
          ${guides}
          <div class="line1">${badges ? `<span class="service">${escape(span.service_name || '(unknown)')}</span> ` : ''}<span class="name">${escape(span.name)}</span>${tags}</div>
          ${attrs.length ? `<div class="attrs">${attrs.join(' ')}</div>` : ''}
        </div>
        <div class="timeline">
          ${ticks.map((t) => `<span class="grid" style="left:${(t / total) * 100}%"></span>`).join('')}
          <span class="bar" style="left:${left}%;width:${width}%;background:${colour}"></span>
          <span class="duration" style="${labelOnLeft ? `right:${100 - left}%;padding-right:6px` : `left:${left + width}%;padding-left:6px`}">${duration}</span>
        </div>
      </div>`;
  });

  const legend = kinds
    .map((kind) => `<span class="legend"><span class="swatch" style="background:${KIND_COLOURS[kind] || KIND_COLOURS.Unspecified}"></span>${escape(kind.toLowerCase())}</span>`)
    .join('');
  const axis = ticks
    .map((t) => `<span class="tick" style="left:${(t / total) * 100}%">${`${Number(t.toFixed(3))} ms`}</span>`)
    .join('');

  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Trace ${escape(traceIds.join(', '))}</title>
<style>
  * { box-sizing: border-box; }
  body { margin: 0; width: ${WIDTH}px; font: 15px/1.35 "Liberation Sans", "DejaVu Sans", Helvetica, Arial, sans-serif; color: #1d2330; background: #fff; padding-bottom: 12px; }
  header { padding: 18px 24px 14px; border-bottom: 1px solid #d8dde6; background: #f5f7fa; }
  h1 { margin: 0 0 6px; font-size: 21px; font-weight: 600; }
  h1 .id { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 17px; color: #4a5568; font-weight: normal; }
  .meta { color: #4a5568; font-size: 14px; }
  .meta b { color: #1d2330; }
  .legend { margin-left: 16px; font-size: 13px; }
  .swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
  .head, .row { display: grid; grid-template-columns: 610px 1fr; }
  .head { border-bottom: 1px solid #d8dde6; font-size: 12px; color: #4a5568; }
  .head .label { padding: 6px 8px; font-weight: 600; }
  .head .timeline { height: 28px; }
  .tick { position: absolute; top: 8px; transform: translateX(-50%); white-space: nowrap; }
  .tick:first-child { transform: none; }
  .row { border-bottom: 1px solid #eef0f4; }
  .row:nth-child(even) { background: #fafbfc; }
  .row.failed { background: #fff1f0; }
  .label { position: relative; padding: 7px 8px; border-right: 1px solid #d8dde6; min-width: 0; }
  .guide { position: absolute; top: 0; bottom: 0; border-left: 1px solid #d2d7e0; }
  .line1 { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  .service { display: inline-block; font-size: 12px; color: #fff; background: #4a5568; border-radius: 3px; padding: 0 5px; margin-right: 4px; vertical-align: 1px; }
  .name { font-weight: 600; }
  .kind, .tag { display: inline-block; font-size: 11px; border: 1px solid; border-radius: 3px; padding: 0 4px; margin-left: 6px; vertical-align: 1px; }
  .tag { color: #4a5568; border-color: #b8c0cc; }
  .tag.error { color: #c0392b; border-color: #c0392b; font-weight: 600; }
  .attrs { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 12px; color: #4a5568; margin-top: 2px; }
  .attr { display: inline-block; max-width: 100%; margin-right: 10px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; vertical-align: top; }
  .key { color: #8a94a6; }
  .timeline { position: relative; margin: 0 70px 0 14px; }
  .grid { position: absolute; top: 0; bottom: 0; border-left: 1px dashed #e3e7ee; }
  .bar { position: absolute; top: 50%; height: 14px; margin-top: -7px; min-width: 2px; border-radius: 2px; }
  .duration { position: absolute; top: 50%; transform: translateY(-50%); font-size: 12px; color: #1d2330; white-space: nowrap; }
</style></head>
<body>
  <header>
    <h1>Trace <span class="id">${escape(traceIds.join(', '))}</span></h1>
    <div class="meta">total <b>${formatMs(total)}</b> &nbsp;·&nbsp; <b>${spans.length}</b> spans &nbsp;·&nbsp;
      ${badges ? 'services' : 'service.name'}: <b>${services.map(escape).join(', ')}</b> ${legend}</div>
  </header>
  <div class="head"><div class="label">${badges ? 'Service &amp; span' : 'Span'}</div><div class="timeline">${axis}</div></div>
  ${rows.join('')}
</body></html>`;
}

async function main() {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) {
    console.error('usage: node render.mjs TRACE.json OUT.png');
    process.exit(2);
  }
  const spans = JSON.parse(readFileSync(input, 'utf8'));
  const html = renderHtml(spans);
  mkdirSync(OUT_DIR, { recursive: true });
  const pageFile = join(OUT_DIR, `${basename(input).replace(/\.json$/, '')}.html`);
  writeFileSync(pageFile, html);

  // playwright-core lives in OUT_DIR/node_modules, outside this folder's module resolution.
  const { chromium } = createRequire(join(OUT_DIR, 'package.json'))('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'trace-view-'));
  let context;
  try {
    // A fresh profile, and nothing that phones home: the page is self-contained.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: WIDTH, height: 600 },
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    });
    const page = context.pages()[0] || (await context.newPage());
    await page.setContent(html, { waitUntil: 'load' });
    // As tall as the waterfall, no blank space under it.
    const height = await page.evaluate(() => Math.ceil(document.body.getBoundingClientRect().height));
    await page.setViewportSize({ width: WIDTH, height });
    mkdirSync(dirname(resolve(output)), { recursive: true });
    await page.screenshot({ path: output, fullPage: true });
  } finally {
    await context?.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
  const ids = new Set(spans.map((s) => s.trace_id));
  console.log(`${spans.length} spans of trace ${[...ids].join(', ')} -> ${output} (page: ${pageFile})`);
}

await main();
