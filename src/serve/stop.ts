// Stop sequences at the level of text, as OpenAI applies them: the answer ends just before the
// first place where any stop string appears, and the stop string itself is not part of it.
//
// The answer arrives in pieces (streamed), and a stop string may be split over several of them.
// So text is held back while it could still be the start of a stop string: after each piece,
// everything up to the longest suffix of the unsent text that is a proper prefix of some stop
// string is sent; that suffix waits for the next piece. Nothing sent can later turn out to be
// part of a stop string (a match that began in sent text would have made that text such a
// suffix), so a stream never shows text that the full answer does not have.

export class StopMatcher {
  private held = '';
  /** Whether a stop string was found. */
  private found = false;
  /** Whether the answer is over (a stop string found, or finish() called). */
  private done = false;

  /** `emit` receives the answer's text in order; `stops` are non-empty strings. */
  constructor(
    private readonly stops: readonly string[],
    private readonly emit: (text: string) => void,
  ) {}

  /** Whether a stop string has been found (nothing more is emitted after it). */
  get stopped(): boolean {
    return this.found;
  }

  /** One more piece of the answer. */
  push(piece: string): void {
    if (this.done || piece === '') return;
    const text = this.held + piece;
    let first = -1;
    for (const s of this.stops) {
      const at = text.indexOf(s);
      if (at >= 0 && (first < 0 || at < first)) first = at;
    }
    if (first >= 0) {
      this.found = true;
      this.done = true;
      this.held = '';
      this.send(text.slice(0, first));
      return;
    }
    const keep = this.partialStopSuffix(text);
    this.held = text.slice(text.length - keep);
    this.send(text.slice(0, text.length - keep));
  }

  /** At the end of the answer (EOS or the token limit): what was held back is part of it after all. */
  finish(): void {
    if (this.done) return;
    this.done = true;
    const rest = this.held;
    this.held = '';
    this.send(rest);
  }

  /** The length of the longest suffix of `text` that is a proper prefix of a stop string. */
  private partialStopSuffix(text: string): number {
    let best = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, text.length); n > best; n--) {
        if (text.endsWith(s.slice(0, n))) {
          best = n;
          break;
        }
      }
    }
    return best;
  }

  private send(text: string): void {
    if (text !== '') this.emit(text);
  }
}
