// Redraws the benchmark's charts (docs/img/bench-*.svg) from the figures in docs/benchmarks.md:
// `npm run docs:gen` writes them, `npm run docs:check` (CI) only compares and exits 1 when a chart
// is missing, stale or left over, or the page links a chart no figures draw. The bench draws the
// same files from its JSON when it writes the page (scripts/bench.mjs); see tools/bench-charts.ts.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { charts, figuresFromPage, syncCharts } from './bench-charts.js';

const docs = fileURLToPath(new URL('../docs/', import.meta.url));
const check = process.argv.includes('--check');
const page = readFileSync(`${docs}benchmarks.md`, 'utf8');
const files = charts(figuresFromPage(page));
const problems = syncCharts(docs, page, files, check ? 'check' : 'write');
for (const p of problems) console.error(p);
if (problems.length) {
  if (check) console.error('run `npm run docs:gen` and commit the result');
  process.exit(1);
}
if (!check) console.log(`docs/img: ${files.length} benchmark charts current`);
