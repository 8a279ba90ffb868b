/**
 * createTask(name, options): the seven tasks by their reference names, with the reference code's choices
 * as defaults and the paper's text / later corrections as options (see TASK_HELP).
 */
import { BitMemoryOptions, BitXorOptions, createBitMemoryTask, createBitXorTask } from './bits';
import { CifarOptions, createCifar10GrayTask, createCifar10Task } from './cifar';
import { createHomologyTask, HomologyOptions } from './homology';
import { createListOpsTask, ListOpsOptions } from './listops-task';
import { createMnistTask, MnistOptions } from './mnist';
import { Task, TASK_NAMES, TaskName } from './types';

export interface TaskOptionsMap {
  'bit-memory': BitMemoryOptions;
  'bit-xor': BitXorOptions;
  listops: ListOpsOptions;
  mnist: MnistOptions;
  cifar10: CifarOptions;
  'cifar10-gray': CifarOptions;
  'remote-homology': HomologyOptions;
}

const COMMON_KEYS = ['dataDir', 'cacheDir', 'log'];

/** The option names each task accepts; anything else is rejected, so a typo in a config cannot pass silently. */
export const TASK_OPTION_KEYS: Record<TaskName, readonly string[]> = {
  'bit-memory': [...COMMON_KEYS, 'n', 'numPatterns', 'patchSize', 'evalSize'],
  'bit-xor': [...COMMON_KEYS, 'n', 'numPatterns', 'patchSize', 'evalSize'],
  listops: [...COMMON_KEYS, 'tokenization', 'maxLength', 'padTo', 'source', 'generatorSeed', 'sizes', 'generator', 'shuffleBuffer'],
  mnist: [...COMMON_KEYS, 'imageSize'],
  cifar10: [...COMMON_KEYS, 'source', 'augment'],
  'cifar10-gray': [...COMMON_KEYS, 'source', 'augment'],
  'remote-homology': [...COMMON_KEYS, 'maxLength', 'longTrain', 'longEval', 'bucketMultiplier'],
};

/** What each task is, its options, and which choice is the reference code's and which the paper's. */
export const TASK_HELP: Record<TaskName, string> = {
  'bit-memory':
    '5 strings of 1000 random +-1 bits and a query (one of them, bits zeroed w.p. 0.5) -> 120 tokens x 50; predict the ' +
    '1000 query bits from the last 20 tokens (100 logits each). Options: n (1000), numPatterns (5), patchSize (50), evalSize (1000).',
  'bit-xor':
    'Two random 5-bit strings, one bit per token -> 10 tokens x 1; predict their XOR from the last 5 tokens. ' +
    'Options: n (5), numPatterns (2), patchSize (1; the reference run.py default 50 must be overridden). evalSet = all 1024 inputs.',
  listops:
    'LRA ListOps, 10 classes, eval on val. Options: tokenization "lra" (reference: brackets dropped, vocab 15) | "brackets" ' +
    '(closing brackets kept, vocab 16); maxLength 512 (reference) | any | null (no truncation); padTo "max-length" (reference) | ' +
    '"longest"; source "auto" | "files" (<dataDir>/listops/basic_*.tsv) | "generate" (LRA generator, seeded, cached); ' +
    'generatorSeed (0); sizes (96000/2000/2000); shuffleBuffer (1024 as tf.data in the reference; 0 = full shuffle).',
  mnist:
    'MNIST, 4x4 patches of [0, 1] pixels, eval on the test set. Options: imageSize 28 (reference code: 49 tokens x 16) | 32 ' +
    '(paper text: zero-padded, 64 tokens x 16).',
  cifar10:
    'CIFAR-10, 4x4 RGB patches -> 64 tokens x 48 (the paper text says 16), normalized with the CIFAR mean/std; training ' +
    'augmentation crop(pad 4) + flip + rotation(20). Options: source "auto" | "binary" | "jpeg"; augment (true).',
  'cifar10-gray':
    'CIFAR-10 LRA: grayscale, one pixel per token -> 1024 tokens x 1, normalized to [-1, 1], same augmentation. ' +
    'Options: source "auto" | "binary" | "jpeg"; augment (true).',
  'remote-homology':
    'TAPE remote homology (1195 folds, head 1200), IUPAC tokens with <cls>/<sep>, length-bucketed batches, eval on valid ' +
    '(reference) with eval batches 4x the training batch. Options: maxLength 1024; longTrain "discard-batch" (reference) | ' +
    '"truncate"; longEval "count-wrong" (paper x0.9739) | "truncate"; bucketMultiplier (100).',
};

const FACTORIES: { [N in TaskName]: (options: TaskOptionsMap[N]) => Task } = {
  'bit-memory': createBitMemoryTask,
  'bit-xor': createBitXorTask,
  listops: createListOpsTask,
  mnist: createMnistTask,
  cifar10: createCifar10Task,
  'cifar10-gray': createCifar10GrayTask,
  'remote-homology': createHomologyTask,
};

export function isTaskName(name: string): name is TaskName {
  return (TASK_NAMES as readonly string[]).includes(name);
}

export function createTask<N extends TaskName>(name: N, options?: TaskOptionsMap[N]): Task {
  if (!isTaskName(name)) throw new Error(`unknown task "${String(name)}" (tasks: ${TASK_NAMES.join(', ')})`);
  const opts = options ?? ({} as TaskOptionsMap[N]);
  const allowed = TASK_OPTION_KEYS[name];
  const unknown = Object.keys(opts).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    throw new Error(`${name}: unknown option(s) ${unknown.join(', ')} (accepted: ${allowed.join(', ')})\n  ${TASK_HELP[name]}`);
  }
  const factory: (options: TaskOptionsMap[N]) => Task = FACTORIES[name];
  return factory(opts);
}
