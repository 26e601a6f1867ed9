/**
 * The OpenTelemetry backend of Tracing (trace/tracing.ts): the SDK's BasicTracerProvider, its
 * BatchSpanProcessor (a bounded queue: 2,048 spans by default, the rest dropped, so a collector
 * that is down costs no memory) and the OTLP/HTTP protobuf exporter. Loaded only with
 * --otlp-tracing (app.ts imports it dynamically).
 *
 * Nothing is registered globally (no global tracer provider, no global context manager): the
 * current span is kept in this instance's own AsyncLocalStorage and parents are passed to the
 * tracer explicitly. The SDK's own settings come from the standard variables it reads itself
 * (OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_MAX_QUEUE_SIZE, OTEL_EXPORTER_OTLP_HEADERS,
 * OTEL_EXPORTER_OTLP_TIMEOUT…); the endpoint and service name come from config.ts.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { ROOT_CONTEXT, SpanStatusCode, trace, type Span as OtelSpanApi, type Tracer } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from "@opentelemetry/sdk-trace-base";
import type { Logger } from "../log.ts";
import { displayUrl, type Span, type SpanAttrs, type Tracing, type TracingSettings } from "./tracing.ts";

/** How long a stop waits for the last spans to go out (the app's whole shutdown has 4 s). */
const SHUTDOWN_FLUSH_MS = 1_500;
/** ExportResultCode.SUCCESS (the enum lives in @opentelemetry/core, a dependency of the SDK, not one of ours). */
const EXPORT_SUCCESS = 0;
type ExportDone = Parameters<SpanExporter["export"]>[1];

class OtelSpan implements Span {
  constructor(readonly inner: OtelSpanApi) {}
  setAttributes(attrs: SpanAttrs): void {
    this.inner.setAttributes(attrs);
  }
  fail(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.inner.recordException(err instanceof Error ? err : message);
    this.inner.setStatus({ code: SpanStatusCode.ERROR, message });
  }
  end(): void {
    this.inner.end();
  }
}

/**
 * The exporter, saying once that the collector cannot be reached (not once per batch of spans, and
 * never per span), and once that it answers again.
 */
class WarnOnceExporter implements SpanExporter {
  private failing = false;
  constructor(
    private readonly inner: SpanExporter,
    private readonly url: string,
    private readonly log: Logger,
  ) {}
  export(spans: ReadableSpan[], done: ExportDone): void {
    this.inner.export(spans, (result) => {
      if (result.code !== EXPORT_SUCCESS && !this.failing) {
        this.failing = true;
        this.log.warn(
          `cannot export traces to ${this.url} (${result.error?.message ?? "export failed"}); spans are dropped until the collector answers (logged once)`,
        );
      } else if (result.code === EXPORT_SUCCESS && this.failing) {
        this.failing = false;
        this.log.info(`exporting traces to ${this.url} again`);
      }
      done(result);
    });
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

export class OtelTracing implements Tracing {
  readonly enabled = true;
  private readonly current = new AsyncLocalStorage<OtelSpan>();
  private readonly provider: BasicTracerProvider;
  private readonly tracer: Tracer;

  constructor(settings: TracingSettings & { serviceVersion: string }, log: Logger) {
    const exporter = new WarnOnceExporter(new OTLPTraceExporter({ url: settings.tracesUrl }), displayUrl(settings.tracesUrl), log);
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ "service.name": settings.serviceName, "service.version": settings.serviceVersion }),
      spanProcessors: [new BatchSpanProcessor(exporter)],
    });
    this.tracer = this.provider.getTracer("electrs-bun", settings.serviceVersion);
  }

  inSpan<T>(name: string, attrs: SpanAttrs | undefined, fn: (span: Span) => T, parent?: Span | null): T {
    const span = this.startSpan(name, attrs, parent);
    let result: T;
    try {
      result = this.current.run(span, fn, span);
    } catch (err) {
      span.fail(err);
      span.end();
      throw err;
    }
    if (result instanceof Promise) {
      return result.then(
        (value: unknown) => {
          span.end();
          return value;
        },
        (err: unknown) => {
          span.fail(err);
          span.end();
          throw err;
        },
      ) as T;
    }
    span.end();
    return result;
  }

  startSpan(name: string, attrs?: SpanAttrs, parent?: Span | null): OtelSpan {
    const from = parent === undefined ? this.current.getStore() : parent;
    const ctx = from instanceof OtelSpan ? trace.setSpan(ROOT_CONTEXT, from.inner) : ROOT_CONTEXT;
    return new OtelSpan(this.tracer.startSpan(name, attrs ? { attributes: attrs } : undefined, ctx));
  }

  withSpan<T>(span: Span, fn: () => T): T {
    return span instanceof OtelSpan ? this.current.run(span, fn) : fn();
  }

  async shutdown(): Promise<void> {
    const timer = new Promise<void>((resolve) => setTimeout(resolve, SHUTDOWN_FLUSH_MS).unref());
    await Promise.race([this.provider.shutdown().catch(() => {}), timer]);
  }
}
