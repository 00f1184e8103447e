// A readers-writer lock between garbage collection and everything that makes a blob
// live. Commits (blob on disk + ownership row), publishes (check blobs + move a name)
// take it shared and run concurrently; a GC deletion pass takes it exclusive, so it never
// deletes a blob between "it is stored" and "someone relies on it".
// In-process only: GC runs inside the fileserver (POST /v1/admin/gc) for this reason.
export class GcLock {
  private readers = 0;
  private writer = false;
  /** FIFO; whoever wakes a waiter takes the lock on its behalf (no gap to slip into). */
  private readonly waiting: { exclusive: boolean; wake: () => void }[] = [];

  async shared<T>(fn: () => Promise<T> | T): Promise<T> {
    // Queue behind a waiting writer: a steady upload stream must not starve GC forever.
    if (this.writer || this.waiting.length) await this.wait(false);
    else this.readers++;
    try { return await fn(); } finally { this.readers--; this.next(); }
  }

  async exclusive<T>(fn: () => Promise<T> | T): Promise<T> {
    if (this.writer || this.readers > 0 || this.waiting.length) await this.wait(true);
    else this.writer = true;
    try { return await fn(); } finally { this.writer = false; this.next(); }
  }

  private wait(exclusive: boolean): Promise<void> {
    return new Promise((wake) => this.waiting.push({ exclusive, wake }));
  }

  private next(): void {
    if (this.writer) return;
    const first = this.waiting[0];
    if (!first) return;
    if (first.exclusive) {
      if (this.readers === 0) { this.waiting.shift(); this.writer = true; first.wake(); }
      return;
    }
    while (this.waiting.length && !this.waiting[0]!.exclusive) { this.waiting.shift()!.wake(); this.readers++; }
  }
}
