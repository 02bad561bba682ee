// Choosing the next token from a row of logits, with Hugging Face's order of logits warpers:
// temperature, then top-k, then top-p (nucleus), then a draw from the softmax. Temperature 0
// is greedy (argmax; the lowest id wins a tie, as torch.argmax).

export interface SamplingOptions {
  /** 0 = greedy. */
  temperature?: number;
  /** Keep the k most likely tokens; 0 = off. */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p; 1 = off. */
  topP?: number;
}

/** A seeded generator of uniform numbers in [0, 1) (SplitMix32-style; exact across runs and platforms). */
export class SeededRandom {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    z = (z ^ (z >>> 16)) >>> 0;
    return z / 2 ** 32;
  }
}

export function argmax(logits: ArrayLike<number>, offset = 0, n = logits.length - offset): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (logits[offset + i] > logits[offset + best]) best = i;
  return best;
}

export function validateSampling(o: SamplingOptions): void {
  const { temperature = 0, topK = 0, topP = 1 } = o;
  if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new Error(`temperature must be a number ≥ 0, got ${temperature}`);
  if (!Number.isInteger(topK) || topK < 0) throw new Error(`top-k must be an integer ≥ 0, got ${topK}`);
  if (!(topP > 0 && topP <= 1)) throw new Error(`top-p must be in (0, 1], got ${topP}`);
}

/** The next token id from `logits[offset .. offset + n)`. */
export function sampleToken(logits: ArrayLike<number>, o: SamplingOptions, rng: SeededRandom, offset = 0, n = logits.length - offset): number {
  const { temperature = 0, topK = 0, topP = 1 } = o;
  if (temperature === 0) return argmax(logits, offset, n);

  // Candidates sorted by logit, descending (stable: lower id first among equals).
  let ids = Array.from({ length: n }, (_, i) => i).sort((a, b) => logits[offset + b] - logits[offset + a] || a - b);
  if (topK > 0 && topK < n) ids = ids.slice(0, topK);

  const scaled = ids.map((i) => logits[offset + i] / temperature);
  const max = scaled[0];
  const weights = scaled.map((s) => Math.exp(s - max));
  const total = weights.reduce((a, b) => a + b, 0);
  let probs = weights.map((w) => w / total);

  if (topP < 1) {
    // Keep tokens until the cumulative probability reaches topP (always at least one).
    let cum = 0;
    let keep = 0;
    while (keep < probs.length && cum < topP) cum += probs[keep++];
    ids = ids.slice(0, keep);
    const kept = probs.slice(0, keep);
    const sum = kept.reduce((a, b) => a + b, 0);
    probs = kept.map((p) => p / sum);
  }

  let u = rng.next();
  for (let i = 0; i < ids.length; i++) {
    u -= probs[i];
    if (u < 0) return ids[i];
  }
  return ids[ids.length - 1];
}
