/**
 * The subcommands of `fpt`, in the order `fpt --help` lists them. A command is a small module:
 * its options (node's util.parseArgs format), a usage text, and `run`.
 */
import type { ParseArgsConfig } from 'util';
import { parity } from './parity';
import { demo } from './demo';
import { dataCommand } from './data';
import { tableCommand } from './table';
import { generateCommand } from './generate';
import { trainCommand } from './train';
import { paramsCommand } from './params';
import { pretrainCommand } from './pretrain';

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** Takes --backend / --gpu-mode. */
  computes: boolean;
  run(values: OptionValues, positionals: string[]): Promise<number | void> | number | void;
}

export const COMMANDS: Command[] = [trainCommand, tableCommand, paramsCommand, pretrainCommand, generateCommand, parity, dataCommand, demo];
