/**
 * @fpt-ts/autograd: reverse-mode automatic differentiation over @fpt-ts/tensor, nn modules,
 * optimizers and gradcheck.
 */
export * from './variable';
export * as F from './functional';
export * from './nn';
export * from './optim';
export * from './gradcheck';
export * from './init';
export * from './demo';
