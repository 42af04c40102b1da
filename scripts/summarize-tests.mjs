// Prints one closing line for the whole suite, "kleidi: N passed, N failed",
// from vitest's JSON report and the conformance harness's summary (if any).
import { existsSync, readFileSync } from 'node:fs';

const [vitestFile, ...conformanceFiles] = process.argv.slice(2);
let passed = 0;
let failed = 0;
let skipped = 0;
if (vitestFile && existsSync(vitestFile)) {
  const v = JSON.parse(readFileSync(vitestFile, 'utf8'));
  passed += v.numPassedTests ?? 0;
  failed += (v.numFailedTests ?? 0) + (v.numTotalTestSuites && !v.success && !v.numFailedTests ? 1 : 0);
  skipped += (v.numPendingTests ?? 0) + (v.numTodoTests ?? 0);
} else {
  failed += 1; // no report means vitest did not run
}
for (const file of conformanceFiles) {
  if (!existsSync(file)) {
    failed += 1; // a conformance run that wrote no summary did not finish
    continue;
  }
  const c = JSON.parse(readFileSync(file, 'utf8'));
  passed += c.passed ?? 0;
  failed += c.failed ?? 0;
}
console.log(`kleidi: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
