/**
 * gradcheck: compare autograd gradients with float64 central finite differences.
 *
 * The function's output is reduced to a scalar with a fixed random weighting R (so every output element
 * matters): L = Σ fn(x) ⊙ R. For each input element, the numeric derivative (L(x+ε) − L(x−ε)) / 2ε is
 * compared with the analytic dL/dx from backward(). All arithmetic runs in float64.
 */
import { Tensor, Generator, ops, randn, withBackend } from '@fpt-ts/tensor';
import { Variable, noGrad } from './variable';

export interface GradcheckOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
  seed?: number;
  /** Which inputs to differentiate (default: all float inputs). */
  wrt?: boolean[];
  /** Backend for the analytic pass (the numeric pass always runs on ref in float64). */
  backend?: string;
  /** Dtype of the analytic pass: float64 (default) or float32 (to check a float32-only fast backend). */
  analyticDType?: 'float64' | 'float32';
}

export interface GradcheckResult {
  ok: boolean;
  maxAbsError: number;
  /** One line per offending element (at most 10), empty when ok. */
  failures: string[];
}

export function gradcheck(fn: (...xs: Variable[]) => Variable, inputs: readonly Tensor[], options: GradcheckOptions = {}): GradcheckResult {
  const eps = options.eps ?? 1e-6;
  const atol = options.atol ?? 1e-5;
  const rtol = options.rtol ?? 1e-3;
  const wrt = options.wrt ?? inputs.map((t) => t.isFloat());
  const x64 = inputs.map((t) => (t.isFloat() ? t.astype('float64').clone() : t));

  // The random weighting R, drawn once from the output's shape.
  const probe = withBackend('ref', () => noGrad(() => fn(...x64.map((t) => new Variable(t)))));
  const R = randn(probe.shape, { dtype: 'float64', generator: new Generator(options.seed ?? 0) });
  const weighted = (out: Variable) => ops.sum(ops.mul(out.data, R)).item();

  // Analytic: backward of Σ out ⊙ R
  const adt = options.analyticDType ?? 'float64';
  const vars = x64.map((t, i) => new Variable(t.isFloat() ? t.astype(adt).clone() : t, { requiresGrad: wrt[i] }));
  const run = () => {
    const out = fn(...vars);
    out.backward(R.astype(out.dtype === 'float64' ? 'float64' : 'float32'));
  };
  if (options.backend) withBackend(options.backend, run);
  else run();

  // Numeric: central differences, one element at a time, on ref in float64
  const failures: string[] = [];
  let maxAbsError = 0;
  withBackend('ref', () => noGrad(() => {
    x64.forEach((x, i) => {
      if (!wrt[i]) return;
      const analytic = vars[i].grad?.astype('float64').contiguous().data ?? new Float64Array(x.size);
      const data = x.data as Float64Array;
      for (let j = 0; j < data.length; j++) {
        const orig = data[j];
        data[j] = orig + eps;
        const plus = weighted(fn(...x64.map((t) => new Variable(t))));
        data[j] = orig - eps;
        const minus = weighted(fn(...x64.map((t) => new Variable(t))));
        data[j] = orig;
        const numeric = (plus - minus) / (2 * eps);
        const err = Math.abs(numeric - analytic[j]);
        maxAbsError = Math.max(maxAbsError, err);
        if (!(err <= atol + rtol * Math.abs(numeric)) && failures.length < 10) {
          failures.push(`input ${i} element ${j}: analytic ${analytic[j]} vs numeric ${numeric}`);
        }
      }
    });
  }));
  return { ok: failures.length === 0, maxAbsError, failures };
}
