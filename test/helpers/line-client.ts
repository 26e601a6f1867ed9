/** A newline-delimited JSON-RPC client for the Electrum tests: calls by id, notifications kept. */
import * as net from "node:net";

export class LineClient {
  private buf = "";
  private next = 1;
  private readonly waiting = new Map<number, (m: { result?: unknown; error?: { code: number; message: string } }) => void>();
  /** Every line received, in order. */
  readonly lines: string[] = [];
  /** Messages without an id: notifications, and a refusal's error (id null). */
  readonly notifications: { method: string; params: unknown[]; error?: unknown }[] = [];
  private notified: (() => void)[] = [];
  readonly closed: Promise<void>;

  private constructor(private readonly sock: net.Socket) {
    sock.setEncoding("utf8");
    sock.on("data", (s: string) => {
      this.buf += s;
      let nl: number;
      while ((nl = this.buf.indexOf("\n")) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        this.lines.push(line);
        const msg = JSON.parse(line);
        if (msg.id === undefined || msg.id === null) {
          this.notifications.push(msg.error ? { method: msg.method, params: msg.params, error: msg.error } : { method: msg.method, params: msg.params });
          for (const n of this.notified.splice(0)) n();
        } else {
          this.waiting.get(msg.id)?.(msg);
          this.waiting.delete(msg.id);
        }
      }
    });
    sock.on("error", () => {});
    this.closed = new Promise((r) =>
      sock.once("close", () => {
        // A call the server will never answer fails instead of hanging the test.
        for (const done of this.waiting.values()) done({ error: { code: -1, message: "connection closed before the answer" } });
        this.waiting.clear();
        r();
      }),
    );
  }

  static connect(port: number): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host: "127.0.0.1", port });
      sock.once("connect", () => resolve(new LineClient(sock)));
      sock.once("error", reject);
    });
  }

  call(method: string, params: unknown[] = []): Promise<{ result?: unknown; error?: { code: number; message: string } }> {
    const id = this.next++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.sock.write(JSON.stringify({ jsonrpc: "2.0", id, method, params }) + "\n");
    });
  }

  async result<R>(method: string, params: unknown[] = []): Promise<R> {
    const m = await this.call(method, params);
    if (m.error) throw new Error(`${method}: ${m.error.message}`);
    return m.result as R;
  }

  /** Resolves with the first notification (already received or to come) that `match` accepts. */
  async notification(match: (n: { method: string; params: unknown[] }) => boolean, ms = 20_000): Promise<{ method: string; params: unknown[] }> {
    const end = Date.now() + ms;
    for (;;) {
      const hit = this.notifications.find(match);
      if (hit) return hit;
      const left = end - Date.now();
      if (left <= 0) throw new Error(`no matching notification within ${ms} ms (got ${JSON.stringify(this.notifications)})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.notified.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** This end's port (the server sees the client by it). */
  get localPort(): number {
    return this.sock.localPort ?? 0;
  }

  close(): void {
    this.sock.destroy();
  }
}

