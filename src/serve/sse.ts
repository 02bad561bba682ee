// Server-sent events as OpenAI streams them: each event is one line `data: <JSON>` and a blank
// line, and the stream ends with `data: [DONE]`. An error after the stream has started (the
// HTTP status is already 200) is sent as an event `data: {"error": {...}}`, which OpenAI's
// clients raise as an APIError.
import type { ServerResponse } from 'node:http';

export class SseWriter {
  private started = false;

  constructor(private readonly res: ServerResponse) {}

  /** Whether the client can still receive events. */
  get open(): boolean {
    return !this.res.writableEnded && !this.res.destroyed;
  }

  /** Sends the headers (once) and one event holding `value` as JSON. */
  send(value: unknown): void {
    if (!this.started) {
      this.res.writeHead(200, {
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-cache',
        Connection: 'keep-alive',
        'X-Accel-Buffering': 'no',
      });
      this.started = true;
    }
    if (this.open) this.res.write(`data: ${JSON.stringify(value)}\n\n`);
  }

  /** Ends the stream with `data: [DONE]`. */
  done(): void {
    if (this.open) this.res.end('data: [DONE]\n\n');
  }

  /** Ends the stream with an error event (no [DONE]: the answer is incomplete). */
  fail(error: unknown): void {
    if (this.open) this.res.end(`data: ${JSON.stringify(error)}\n\n`);
  }
}
