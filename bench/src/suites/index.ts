/**
 * The suites, by the name given on the command line (`npm run bench -- <suite>`). To add one (e.g. `step`
 * once GPT-2 exists): write suites/<name>.ts exporting a `Suite` and add one line here.
 */
import type { Suite } from '../harness';
import { ceilingSuite, matmulSuite } from './matmul';
import { layernormSuite, softmaxSuite } from './rows';
import { attentionSuite } from './attention';
import { stepSuite } from './step';

export const SUITES: Record<string, Suite> = {
  matmul: matmulSuite,
  ceiling: ceilingSuite,
  softmax: softmaxSuite,
  layernorm: layernormSuite,
  attention: attentionSuite,
  step: stepSuite,
};
