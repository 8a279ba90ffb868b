/**
 * The model card of a pretrained backbone (MODEL.md + a validation-curve SVG), written only from the
 * pretraining run's own log, so every number in it can be traced to a logged line.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readJsonl, writeAtomic } from './runfiles';
import { loadCorpora, joinWithEot, ngramBaselines, type PretrainConfig } from './pretrain';

interface LogEntry {
  kind: string;
  step?: number;
  loss?: number;
  bpb?: number;
  time?: number;
  tokensPerSec?: number;
  perCorpus?: { corpus: string; loss: number }[];
  text?: string;
  params?: number;
  trainBytes?: number;
  backend?: string;
}

/** A small line chart of (step, value) series as standalone SVG. */
export function lineChartSvg(series: { name: string; color: string; points: [number, number][] }[], title: string, yLabel: string): string {
  const W = 640, H = 360, L = 60, R = 20, T = 40, B = 50;
  const xs = series.flatMap((s) => s.points.map((p) => p[0])), ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  const y0 = Math.floor(Math.min(...ys) * 2) / 2, y1 = Math.ceil(Math.max(...ys) * 2) / 2;
  const sx = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y: number) => T + (1 - (y - y0) / Math.max(y1 - y0, 1e-9)) * (H - T - B);
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`];
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`, `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${title}</text>`);
  for (let i = 0; i <= 5; i++) {
    const y = y0 + ((y1 - y0) * i) / 5;
    out.push(`<line x1="${L}" x2="${W - R}" y1="${sy(y)}" y2="${sy(y)}" stroke="#ddd"/>`, `<text x="${L - 6}" y="${sy(y) + 4}" text-anchor="end">${y.toFixed(2)}</text>`);
    const x = x0 + ((x1 - x0) * i) / 5;
    out.push(`<text x="${sx(x)}" y="${H - B + 18}" text-anchor="middle">${Math.round(x)}</text>`);
  }
  out.push(`<text x="${W / 2}" y="${H - 10}" text-anchor="middle">step</text>`, `<text x="16" y="${H / 2}" transform="rotate(-90 16 ${H / 2})" text-anchor="middle">${yLabel}</text>`);
  series.forEach((s, i) => {
    const d = s.points.map((p, j) => `${j === 0 ? 'M' : 'L'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    out.push(`<text x="${W - R - 150}" y="${T + 16 * (i + 1)}" fill="${s.color}">${s.name}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** 24.3M → "24.3 Mflop". */
function fmtM(flops: number): string {
  return `${(flops / 1e6).toFixed(1)} Mflop`;
}

/** Write MODEL.md and val-curve.svg into `outDir` from the pretraining run in `runDir`. */
export function writeModelCard(runDir: string, outDir: string, dataDirectory: string): string {
  const config = JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8')) as PretrainConfig;
  const log = readJsonl<LogEntry>(path.join(runDir, 'log.jsonl'));
  const start = log.find((e) => e.kind === 'start');
  const vals = log.filter((e) => e.kind === 'val');
  const trains = log.filter((e) => e.kind === 'train');
  const samples = log.filter((e) => e.kind === 'sample');
  const changes = log.filter((e) => e.kind === 'config-change') as (LogEntry & { changes: Record<string, [unknown, unknown]> })[];
  if (vals.length === 0) throw new Error(`${runDir}/log.jsonl has no validation entries yet`);
  const first = vals[0], last = vals[vals.length - 1];
  const steps = last.step ?? 0;
  const tokensSeen = steps * config.batchSize * config.seqLen;
  const hours = (last.time ?? 0) / 3600;
  // the median over every logged window up to the card's step: the machine is shared, single windows vary
  const rates = trains.filter((e) => (e.step ?? 0) <= steps).map((e) => e.tokensPerSec ?? 0).sort((a, b) => a - b);
  const tokPerSec = rates.length ? rates[Math.floor(rates.length / 2)] : 0;

  const m = config.model;
  const nParams = start?.params ?? 0;
  const flopsPerToken = 6 * nParams + 12 * (m.n_layer ?? 0) * (m.n_embd ?? 0) * config.seqLen;
  const gpt2SmallFlops = 6 * 124e6 + 12 * 12 * 768 * 1024;

  const corpora = loadCorpora(dataDirectory, config.corpora, config.valFraction);
  const baseline = ngramBaselines(joinWithEot(corpora.map((c) => c.train)), joinWithEot(corpora.map((c) => c.val)));

  fs.mkdirSync(outDir, { recursive: true });
  // the card's sources travel with it
  fs.copyFileSync(path.join(runDir, 'log.jsonl'), path.join(outDir, 'pretrain-log.jsonl'));
  fs.copyFileSync(path.join(runDir, 'config.json'), path.join(outDir, 'pretrain-config.json'));
  const svg = lineChartSvg(
    [
      { name: 'train loss', color: '#999', points: trains.map((e) => [e.step!, e.loss!]) },
      { name: 'validation loss', color: '#c33', points: vals.map((e) => [e.step!, e.loss!]) },
    ],
    `${config.name}: cross-entropy (nats per byte)`, 'loss',
  );
  writeAtomic(path.join(outDir, 'val-curve.svg'), svg);

  const card = `# GPT-2-nano

A GPT-2 (the architecture of GPT-2 small, in packages/gpt2) pretrained by this project's own engine on
English text, shipped as the default FPT backbone because real GPT-2 weights cannot be downloaded here.
${steps < config.maxSteps ? `**Training in progress: step ${steps} of ${config.maxSteps}.** The run's full state is in \`models/gpt2-nano-training\`; continue it with
\`npx fpt pretrain packages/fpt/configs/pretrain-nano.json --run-dir models/gpt2-nano-training --resume\`, then re-export.

` : ''}Every number below comes from the run's log, \`pretrain-log.jsonl\` beside this file (config: \`pretrain-config.json\`).

| | |
|---|---|
| layers / heads / width | ${m.n_layer} / ${m.n_head} / ${m.n_embd} |
| positions | ${m.n_positions} (trained on windows of ${config.seqLen}) |
| vocabulary | 257: bytes 0-255 and <|endoftext|> = 256 between documents |
| parameters | ${start?.params?.toLocaleString('en-US') ?? '?'} |
| data | ${config.corpora.map((c) => path.basename(c)).join(', ')} (../shared/data/text-corpora); ${(start?.trainBytes ?? 0).toLocaleString('en-US')} training bytes; the last ${100 * config.valFraction}% of every corpus held out |
| optimizer | AdamW (β ${config.betas.join(', ')}, weight decay ${config.weightDecay} on matrices), lr ${config.lr} → ${config.minLr} (warmup ${config.warmupSteps}, cosine to step ${config.maxSteps}), clip ${config.clip}, batch ${config.batchSize} x ${config.seqLen} |
${changes.map((e) => `| changed on resume at step ${e.step} | ${Object.entries(e.changes).map(([k, [a, b]]) => `${k} ${JSON.stringify(a)} → ${JSON.stringify(b)}`).join(', ')} |\n`).join('')}| steps / tokens seen | ${steps.toLocaleString('en-US')} / ${tokensSeen.toLocaleString('en-US')} |
| wall time | ${hours.toFixed(2)} h on 2 CPU cores (backend ${start?.backend ?? '?'}), median ${tokPerSec.toFixed(0)} tokens/s over the logged steps |

## Why this size

Training cost per token is about 6·N + 12·L·C·T flops (N parameters, L layers, width C, context T; the
estimate of nanoGPT's \`estimate_mfu\`): ${fmtM(flopsPerToken)} here. At the measured ${tokPerSec.toFixed(0)} tokens/s the
engine sustains ${(flopsPerToken * tokPerSec / 1e9).toFixed(1)} GFLOP/s of model flops on the 2 cores (shared with other work), and the
${steps.toLocaleString('en-US')} steps (${(tokensSeen / 1e6).toFixed(1)}M tokens) took ${hours.toFixed(1)} h. GPT-2 small's shape (124M parameters, 12 × 768, T = 1024)
costs ${fmtM(gpt2SmallFlops)} per token, ${(gpt2SmallFlops / flopsPerToken).toFixed(0)}× more: in the same hours it would see ${((tokensSeen * flopsPerToken) / gpt2SmallFlops / 1e6).toFixed(2)}M tokens,
too few to learn English. Bytes as tokens keep the embedding and the LM head (tied) at 257 × ${m.n_embd}
(${((257 * (m.n_embd ?? 0)) / Math.max(nParams, 1) * 100).toFixed(0)}% of the parameters); GPT-2's 50,257-token BPE would need ${((50257 * (m.n_embd ?? 0)) / 1e6).toFixed(1)}M parameters there, more
than the ${m.n_layer} blocks together, and its softmax over 50,257 logits would dominate every step. Windows of ${config.seqLen}
bytes keep attention cheap while training; the ${m.n_positions} position embeddings are there so every FPT task's
sequence fits (positions past ${config.seqLen} are trained by FPT itself, which fine-tunes them).

## Validation (held-out text, nats per byte; bits per byte = nats / ln 2)

| model | loss | bits per byte |
|---|---|---|
| byte unigram (add-one, fit on the training bytes) | ${baseline.unigram.toFixed(4)} | ${(baseline.unigram / Math.LN2).toFixed(3)} |
| byte bigram (add-one) | ${baseline.bigram.toFixed(4)} | ${(baseline.bigram / Math.LN2).toFixed(3)} |
| this model untrained (step ${first.step}) | ${first.loss!.toFixed(4)} | ${(first.loss! / Math.LN2).toFixed(3)} |
| **this model, step ${steps}** | **${last.loss!.toFixed(4)}** | **${(last.loss! / Math.LN2).toFixed(3)}** |

Per corpus at step ${steps}: ${(last.perCorpus ?? []).map((p) => `${p.corpus} ${p.loss.toFixed(3)}`).join(', ')}.

![validation curve](val-curve.svg)

## Samples (temperature 0.8, top-k 40)

${samples.slice(-3).map((s) => `Step ${s.step}:\n\n\`\`\`\n${s.text}\n\`\`\``).join('\n\n')}

## Use

\`\`\`sh
npx fpt generate --model models/gpt2-nano --prompt "The king"
npx fpt train packages/fpt/configs/mnist.fpt.json        # FPT on this backbone
\`\`\`

\`config.json\` keeps GPT-2's dropouts (0.1) for FPT training, as the reference code; pretraining ran with
dropout ${config.dropout}. \`models/gpt2-nano-random\` is the same configuration at its seeded random init,
for the random-init baseline.
`;
  writeAtomic(path.join(outDir, 'MODEL.md'), card);
  return card;
}
