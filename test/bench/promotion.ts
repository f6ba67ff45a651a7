/**
 * `npm run bench:promotion` (node --import tsx test/bench/promotion.ts [--seeds N]): where a promotion plan stops a
 * canary that regresses once it reaches 25%, with the default detectors (issue 17, the step gate: docs/promotion.md).
 * A real agent per run (test/helpers/promotion-drive.ts: real OTel SDK spans over OTLP/HTTP in synthetic time, 100
 * requests per cohort a look, baseline 1% errors), steps 1/5/25/50/100 with 6 looks each, a `noop` router. The canary
 * is healthy (1%) until the plan's share is 25%, then fails at the given rate. Per rate and seed: the outcome, the
 * share it was decided at, the look, and how many looks the step gate held the share. Prints a markdown table, writes
 * bench-results/promotion.json. A healthy canary (1%) held by the gate is a chance hold (it costs looks, not a release).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { type Cleanups, promotionConfig, promotionDrive } from '../helpers/promotion-drive.js';

const RATES = [0.3, 0.1, 0.05, 0.02, 0.01];
const seedsArg = process.argv.indexOf('--seeds');
const SEEDS = seedsArg > 0 ? Number(process.argv[seedsArg + 1]) : 5;

interface Run {
  rate: number;
  seed: number;
  outcome: string;
  share: number;
  look: number;
  heldLooks: number;
}

async function once(rate: number, seed: number): Promise<Run> {
  const cleanups: Cleanups = [];
  try {
    const config = promotionConfig('{ via: router, steps: [1, 5, 25, 50, 100], minLooksPerStep: 6 }');
    const drive = await promotionDrive(config, 'bench-promotion', cleanups, { seed });
    const share = () => drive.promoteSteps().at(-1) ?? 0;
    let heldLooks = 0;
    await drive.run({
      canaryErrors: () => (share() >= 25 ? rate : 0.01),
      afterLook() {
        const why = drive.started.agent.registry.get('checkout:2.0')?.promotion?.why ?? '';
        if (why.startsWith('looks worse within')) heldLooks++;
      },
      maxLooks: 80,
    });
    const d = drive.decisions[0];
    return { rate, seed, outcome: d?.outcome ?? 'running', share: share(), look: d?.look ?? -1, heldLooks };
  } finally {
    for (const c of cleanups.reverse()) await c();
  }
}

const runs: Run[] = [];
for (const rate of RATES)
  for (let seed = 1; seed <= SEEDS; seed++) {
    const r = await once(rate, seed);
    runs.push(r);
    console.error(`rate ${rate} seed ${seed}: ${r.outcome} at ${r.share}% (look ${r.look}), held ${r.heldLooks} looks`);
  }

console.log('| canary errors from 25% | outcomes (share: runs) | median look | runs held by the gate |');
console.log('|---|---|---|---|');
for (const rate of RATES) {
  const mine = runs.filter((r) => r.rate === rate);
  const by = new Map<string, number>();
  for (const r of mine) by.set(`${r.outcome} at ${r.share}%`, (by.get(`${r.outcome} at ${r.share}%`) ?? 0) + 1);
  const looks = mine.map((r) => r.look).sort((a, b) => a - b);
  const outcomes = [...by].map(([k, n]) => `${k}: ${n}`).join(', ');
  const held = mine.filter((r) => r.heldLooks > 0).length;
  console.log(`| ${rate * 100}% | ${outcomes} | ${looks[Math.floor(looks.length / 2)]} | ${held} of ${mine.length} |`);
}
mkdirSync('bench-results', { recursive: true });
writeFileSync('bench-results/promotion.json', JSON.stringify({ seeds: SEEDS, runs }, null, 2));
