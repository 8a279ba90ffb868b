/**
 * @fpt-ts/fpt: the Frozen Pretrained Transformer, its baselines, the trainer and the `fpt` CLI.
 */
export * from './model';
export * from './lstm';
export * from './experiment';
export * from './trainer';
export * from './parity';
export * from './paths';
export * from './pretrain';
export * from './params';
export * from './runfiles';
export * from './modelcard';
export * from './table';
export { main, runCommand } from './cli';
