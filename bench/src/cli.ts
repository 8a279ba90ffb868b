/**
 * npm run bench -- <suite>[,<suite>…|all] [--json FILE] [--quick] [--only cpu,tfjs-wasm,…]
 * npm run bench -- --report FILE
 *
 * Runs each case on every available backend (bench/src/backends), validating before timing, and prints one
 * line per case: suite, backend, shape, median ms, GFLOP/s. --json appends the same as JSON lines.
 */
import * as os from 'os';
import { BACKENDS } from './backends';
import { reporter, type Options, type SuiteContext } from './harness';
import { SUITES } from './suites';
import { report, reportRuns } from './report';

function parse(argv: string[]): { suites: string[]; options: Options; help?: boolean; report?: string } {
  const options: Options = { quick: false, json: null, only: null };
  const suites: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') return { suites: [], options, help: true };
    if (a === '--report') return { suites: [], options, report: argv[i + 1] ?? '' };
    if (a === '--quick') options.quick = true;
    else if (a === '--json') options.json = argv[++i] ?? null;
    else if (a === '--only') options.only = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else suites.push(...a.split(',').filter(Boolean));
  }
  if (suites.length === 1 && suites[0] === 'all') suites.splice(0, 1, ...Object.keys(SUITES));
  return { suites, options };
}

async function main(): Promise<void> {
  const { suites, options, help, report: reportFile } = parse(process.argv.slice(2));
  const usage = [
    `usage: npm run bench -- <${Object.keys(SUITES).join('|')}|all>[,…] [--json FILE] [--quick] [--only backend,…]`,
    '       npm run bench -- --report FILE      (Markdown tables of a --json results file)',
    '       npm run bench -- --report F1,F2,…   (the GPT-2 GEMM shapes across several runs)',
    '',
    'Each case is validated against a float64 reference before it is timed (benchmark.js), then printed as',
    'suite, backend, shape, median ms and GFLOP/s; --json appends the same rows as JSON lines.',
    `backends: ${BACKENDS.map((b) => b.name).join(', ')} (an anchor that is not installed is skipped)`,
  ].join('\n');
  if (help) {
    console.log(usage);
    return;
  }
  if (reportFile !== undefined) {
    if (!reportFile) throw new Error('--report needs a results FILE (written by --json)');
    const files = reportFile.split(',');
    process.stdout.write(files.length > 1 ? reportRuns(files) : report(reportFile));
    return;
  }
  const unknown = suites.filter((s) => !(s in SUITES));
  if (suites.length === 0 || unknown.length > 0) {
    if (unknown.length > 0) console.error(`unknown suite ${unknown.join(', ')}`);
    console.error(usage);
    process.exitCode = 2;
    return;
  }
  console.log(`# ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const backends = [];
  for (const b of BACKENDS) {
    if (options.only && !options.only.includes(b.name)) continue;
    const ok = await b.init();
    if (ok === true) {
      backends.push(b);
      console.log(`# ${b.name}: ${b.describe?.() ?? ''}`);
    } else {
      console.log(`# ${b.name}: skipped (${ok})`);
    }
  }
  const rep = reporter(options);
  const ctx: SuiteContext & { rows: typeof rep.rows } = { backends, options, record: rep.record, rows: rep.rows };
  for (const s of suites) await SUITES[s](ctx);
  console.log(`# done, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

main().then(() => process.exit(process.exitCode ?? 0), (e) => {
  console.error(e);
  process.exit(1);
});
