/**
 * Every benchmark in one run (`npm run bench`): sketches, drift evaluation, ingest, agent, fleet. Prints
 * one table and writes bench/results.json. What each row measures: bench/README.md.
 * `EF_BENCH_FLEET_DEVICES` sets the fleet bench's N (default 10,000).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runDriftEval } from './drift-eval.js';
import { runFleetBench } from './fleet.js';
import { runIngestBench } from './ingest.js';
import { printTable, writeResults, type BenchRow } from './lib/report.js';
import { runSketchBench } from './sketches.js';

interface Bench {
  readonly name: string;
  run(): Promise<BenchRow[]>;
}

/**
 * HOOK: the agent bench (bench/agent.ts, `runAgentBench`) is written separately. It is loaded when
 * its compiled module exists, so this runner builds with or without it; once it is in, replace this
 * with a static import like the others.
 */
async function agentBench(): Promise<Bench | undefined> {
  const url = new URL('./agent.js', import.meta.url);
  if (!existsSync(fileURLToPath(url))) return undefined;
  const mod = (await import(url.href)) as { runAgentBench?: () => Promise<BenchRow[]> };
  const run = mod.runAgentBench;
  return run === undefined ? undefined : { name: 'agent', run };
}

const benches: Bench[] = [
  { name: 'sketches', run: runSketchBench },
  { name: 'drift', run: async () => (await runDriftEval()).rows },
  { name: 'ingest', run: runIngestBench },
];
const agent = await agentBench();
if (agent === undefined) console.log('agent: bench/agent.ts not present; its rows are skipped');
else benches.push(agent);
const fleetDevices = Number(process.env.EF_BENCH_FLEET_DEVICES ?? 10_000);
benches.push({ name: 'fleet', run: () => runFleetBench({ devices: fleetDevices }) });

const rows: BenchRow[] = [];
let failed = false;
for (const b of benches) {
  const started = performance.now();
  try {
    rows.push(...(await b.run()));
    console.log(`${b.name}: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } catch (err) {
    failed = true;
    console.error(`${b.name}: failed:`, err);
  }
}
console.log('');
printTable(rows);
for (const r of rows) if (r.note !== undefined) console.log(`${r.group} / ${r.name}: ${r.note}`);
const benchDir = fileURLToPath(
  new URL(import.meta.url.includes('/dist/') ? '../' : './', import.meta.url),
);
writeResults(`${benchDir}results.json`, rows);
if (failed) process.exitCode = 1;
