// The GPU answers one request at a time: requests wait in arrival order (first in, first out),
// and each job starts only after the one before it has ended, whether it succeeded or failed.
// A single device queue gains nothing from interleaving two generations, and one at a time
// keeps GPU memory to one inference state.

export class GpuQueue {
  private tail: Promise<void> = Promise.resolve();
  private waitingJobs = 0;
  private runningJob = false;

  /** Jobs that have not started yet. */
  get waiting(): number {
    return this.waitingJobs;
  }

  /** Whether a job is running now. */
  get busy(): boolean {
    return this.runningJob;
  }

  /** Runs `job` after every job queued before it; resolves or rejects with its result. */
  run<T>(job: () => Promise<T>): Promise<T> {
    this.waitingJobs++;
    const result = this.tail.then(async () => {
      this.waitingJobs--;
      this.runningJob = true;
      try {
        return await job();
      } finally {
        this.runningJob = false;
      }
    });
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /** Resolves once every job queued so far has ended. */
  idle(): Promise<void> {
    return this.tail;
  }
}
