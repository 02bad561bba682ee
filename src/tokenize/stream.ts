// Streaming detokenization: text for each generated id as soon as it is complete.
//
// Decoding one id at a time is wrong in two ways: a tokenizer's decoder treats the first token
// of a call specially (Llama's decoder strips the leading space; GPT-2's glues bytes together),
// and a character split over several byte tokens decodes to U+FFFD until its last byte arrives.
// So each push decodes a short window twice, with and without the ids not yet shown, and emits
// the difference:
//
//   ids:   … [start ─── shown) [shown ─── end)
//   before = decode(ids[start, shown)),  after = decode(ids[start, end)),  new text = after − before
//
// Both decodes begin at the same token, so whatever the decoder does at the start of a call
// affects them alike. While `after` ends in U+FFFD the new text is held back; once it is emitted
// the window slides: start moves to the old `shown`, and `shown` to the end.
import type { TextTokenizer } from './tokenizer.js';

/** How many prompt ids open the first window: enough context for the decoders' start rules. */
const PROMPT_CONTEXT = 8;
const REPLACEMENT = '\uFFFD';

export class StreamDecoder {
  private readonly tok: TextTokenizer;
  /** The ids of the window; ids[0, shown) have been shown, ids[shown, length) have not. */
  private ids: number[];
  private shown: number;
  /** decode(ids[0, shown)), computed once per window. */
  private shownText: string | null = null;

  /**
   * `promptIds` are the ids the generated ones follow; their text is not emitted, but it is the
   * context that decides, e.g., whether the first generated word keeps its leading space.
   */
  constructor(tok: TextTokenizer, promptIds: number[] = []) {
    this.tok = tok;
    this.ids = promptIds.slice(Math.max(0, promptIds.length - PROMPT_CONTEXT));
    this.shown = this.ids.length;
  }

  /** Adds one generated id; returns the text it completes (often '', e.g. mid-character). */
  push(id: number): string {
    this.ids.push(id);
    const text = this.pending();
    if (text === '' || text.endsWith(REPLACEMENT)) return '';
    this.slide();
    return text;
  }

  /** Whatever is still held back (an incomplete character shows as U+FFFD), at the end of a stream. */
  flush(): string {
    const text = this.pending();
    this.slide();
    return text;
  }

  /** Text of the ids not yet shown, as it reads after the ones that were. */
  private pending(): string {
    this.shownText ??= this.tok.decode(this.ids.slice(0, this.shown));
    const after = this.tok.decode(this.ids);
    // After ≥ before except in rare clean-up cases (" ," → ","), which can only shorten; then
    // wait for more ids rather than emit a wrong tail.
    return after.length > this.shownText.length ? after.slice(this.shownText.length) : '';
  }

  /** The ids shown so far become the next window's context; older ones are dropped. */
  private slide(): void {
    this.ids = this.ids.slice(this.shown);
    this.shown = this.ids.length;
    this.shownText = null;
  }
}
