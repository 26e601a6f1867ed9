/**
 * Tracing as the rest of the code sees it: spans with attributes and parent links, passed in as a
 * dependency like the logger. Off by default (NO_TRACING: nothing is recorded, nothing from
 * OpenTelemetry is loaded); `--otlp-tracing` swaps in the OpenTelemetry backend (trace/otel.ts).
 *
 * The current span follows the async flow (an AsyncLocalStorage in the backend): a span started
 * inside `inSpan`'s function, after any number of awaits, is its child. That is how one block's
 * path, from the ZMQ wake-up through the main-loop turn, the RPC calls, the batch and the mempool
 * update to the Electrum notifications, ends up in one trace.
 */

export type SpanAttrs = Readonly<Record<string, string | number | boolean>>;

export interface Span {
  setAttributes(attrs: SpanAttrs): void;
  /** Status ERROR with the error's message (an exception event). */
  fail(err: unknown): void;
  end(): void;
}

export interface Tracing {
  readonly enabled: boolean;
  /**
   * Runs `fn` in a new span that is the current span inside it: a child of `parent` when given,
   * else of the span the caller runs in (a root span when there is none). The span ends when `fn`
   * returns or, for a promise, settles; a throw or a rejection marks it failed and is passed on.
   */
  inSpan<T>(name: string, attrs: SpanAttrs | undefined, fn: (span: Span) => T, parent?: Span | null): T;
  /** A span the caller ends (one that does not wrap a function, e.g. a batch of blocks); a child of the current span. */
  startSpan(name: string, attrs?: SpanAttrs, parent?: Span | null): Span;
  /** Runs `fn` with `span` as the current span. */
  withSpan<T>(span: Span, fn: () => T): T;
  /** Exports what is still queued (bounded in time), then stops. */
  shutdown(): Promise<void>;
}

export const NOOP_SPAN: Span = Object.freeze({
  setAttributes() {},
  fail() {},
  end() {},
});

/** Tracing off: each call costs a function call and nothing is kept. */
export const NO_TRACING: Tracing = Object.freeze({
  enabled: false,
  inSpan: <T>(_name: string, _attrs: SpanAttrs | undefined, fn: (span: Span) => T): T => fn(NOOP_SPAN),
  startSpan: (): Span => NOOP_SPAN,
  withSpan: <T>(_span: Span, fn: () => T): T => fn(),
  shutdown: async () => {},
});

/** Where to send spans and under which service name (config.ts reads them from the OTEL_* variables). */
export interface TracingSettings {
  /** The OTLP/HTTP traces URL, e.g. http://127.0.0.1:4318/v1/traces. */
  readonly tracesUrl: string;
  readonly serviceName: string;
}

/** A URL as logs may show it: credentials in it (`https://user:token@collector/…`) replaced. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username === "" && u.password === "") return url;
    u.username = "redacted";
    u.password = "";
    return u.toString();
  } catch {
    return "<invalid URL>";
  }
}
