/**
 * @fpt-ts/gpt2: GPT-2 on @fpt-ts/autograd, HuggingFace checkpoints (safetensors), the byte-level BPE
 * tokenizer, and generation.
 */
export * from './config';
export * from './model';
export * from './checkpoint';
export * from './generate';
export * from './safetensors';
export * from './tokenizer';
