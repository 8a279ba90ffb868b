/**
 * @fpt-ts/fpt: the Frozen Pretrained Transformer, its baselines, the trainer and the `fpt` CLI.
 */
export * from './model';
export * from './parity';
