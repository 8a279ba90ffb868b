/**
 * The `fpt` command: one entry point for every job. Each subcommand lives in commands/<name>.ts and
 * declares its options; this file parses the command line, selects the compute backend, and dispatches.
 */
import { parseArgs, type ParseArgsConfig } from 'util';
import {
  setBackend, describeBackend, backendNames, setGpuMode, getBackend, registerBackend, profiledBackend, formatProfile, type KernelProfile,
} from '@fpt-ts/tensor';
import { COMMANDS, type Command } from './commands';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Options every computing subcommand accepts. */
export const BACKEND_OPTIONS: Options = {
  backend: { type: 'string' },
  'gpu-mode': { type: 'string' },
  profile: { type: 'boolean' },
};

function usage(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'usage: fpt <command> [options]      (fpt <command> --help for its options)',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    'common options: --backend ref|cpu|gpujs (or FPT_BACKEND), --gpu-mode MODE (or FPT_GPU_MODE),',
    '                --data-dir DIR (or FPT_DATA_DIR), FPT_THREADS=N for the cpu backend,',
    '                --profile (time every kernel call; a table of kernels by total time at the end)',
  ].join('\n');
}

/**
 * Select the backend from --backend / --gpu-mode (env vars are read by the registry itself); with
 * --profile, a profiled copy of it (see profiledBackend), whose profile is returned.
 */
export function selectBackend(values: Record<string, unknown>): KernelProfile | null {
  if (typeof values['gpu-mode'] === 'string') setGpuMode(values['gpu-mode']); // validates the mode name
  const name = typeof values.backend === 'string' ? values.backend : undefined;
  if (name !== undefined) {
    if (!backendNames().includes(name)) throw new Error(`--backend ${name}: unknown backend (available: ${backendNames().join(', ')})`);
    setBackend(name);
  }
  if (process.env.FPT_VERBOSE) console.error(describeBackend());
  if (!values.profile) return null;
  const profiled = profiledBackend(getBackend());
  registerBackend(profiled.name, () => profiled);
  setBackend(profiled.name);
  return profiled.profile;
}

export async function runCommand(cmd: Command, args: string[]): Promise<number> {
  const options: Options = { help: { type: 'boolean', short: 'h' }, ...(cmd.computes ? BACKEND_OPTIONS : {}), ...cmd.options };
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    console.error(`fpt ${cmd.name}: ${(e as Error).message}\n\n${cmd.usage}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(cmd.usage);
    return 0;
  }
  const profile = cmd.computes ? selectBackend(parsed.values) : null;
  const t0 = performance.now();
  try {
    return (await cmd.run(parsed.values as Record<string, string | boolean | string[] | undefined>, parsed.positionals)) ?? 0;
  } finally {
    if (profile) console.error(formatProfile(profile, performance.now() - t0));
  }
}

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (cmd === undefined) {
    console.error(`fpt: unknown command '${name}'\n\n${usage()}`);
    process.exitCode = 2;
    return;
  }
  try {
    process.exitCode = await runCommand(cmd, rest);
  } catch (e) {
    console.error(`fpt ${name}: ${(e as Error).message}`);
    if (process.env.FPT_DEBUG) console.error((e as Error).stack);
    process.exitCode = 1;
  }
}
