// Re-render a start-time result (bench/results/starts*.json) as Markdown next to it, with
// the ratios, targets and SVG chart recomputed by the current code: for when the table's layout changes and the
// measurement need not be repeated.
//   node dist/bench/lib/render-starts.js bench/results/starts.json [...more.json]
import { readFileSync, writeFileSync } from 'node:fs';
import { parseStartsReport, startsChartSvg, startsMarkdown, startsRatios, startsTargets } from './report.js';

for (const file of process.argv.slice(2)) {
  const report = parseStartsReport(readFileSync(file, 'utf8'));
  for (const c of report.contenders) c.failures ??= [];
  report.ratios = startsRatios(report.contenders);
  report.targets = startsTargets(report);
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  writeFileSync(file.replace(/\.json$/, '.md'), startsMarkdown(report));
  writeFileSync(file.replace(/\.json$/, '.svg'), startsChartSvg(report));
  console.log(`rendered ${file.replace(/\.json$/, '.md')}`);
}
