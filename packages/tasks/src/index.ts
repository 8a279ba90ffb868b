/**
 * @fpt-ts/tasks: the seven FPT tasks as plain typed arrays (no tensor dependency).
 *
 *   const task = createTask('mnist', { dataDir });            // info: tokens, tokenDim, classes, ...
 *   const b = task.batch('train', step, 16, seed);             // seeded, resumable training batch
 *   const k = task.batch(task.info.evalSplit, i, 16, seed);    // the reference's K random eval batches
 *   for (const e of task.evalSet(task.info.evalSplit, 64).batches()) ...   // the full held-out split
 */
export * from './types';
export * from './tasks';
export * from './bits';
export * from './listops';
export * from './listops-task';
export * from './mnist';
export * from './cifar';
export * from './homology';
export * from './image';
export * from './image-task';
export * from './idx';
export * from './tar';
export * from './rng';
export * from './sampler';
export * from './paths';
export * from './fetch';
export * from './datasets';
export * from './stats';
export * from './cli';
