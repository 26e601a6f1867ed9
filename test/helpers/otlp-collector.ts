/**
 * An OTLP/HTTP traces receiver for tests: POST /v1/traces with an ExportTraceServiceRequest in
 * protobuf, decoded with OpenTelemetry's own definitions (test/fixtures/opentelemetry-proto, loaded
 * by protobufjs), never with the exporter's code. Spans come out as plain objects.
 */
import { join } from "node:path";
import protobuf from "protobufjs";

const PROTO_ROOT = join(import.meta.dir, "..", "fixtures", "opentelemetry-proto");
const SERVICE_PROTO = "opentelemetry/proto/collector/trace/v1/trace_service.proto";

export type AttrValue = string | number | boolean | null;

export interface ReceivedSpan {
  traceIdHex: string;
  spanIdHex: string;
  /** "" for a root span. */
  parentSpanIdHex: string;
  name: string;
  /** SPAN_KIND_* number. */
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, AttrValue>;
  /** STATUS_CODE_UNSET 0, OK 1, ERROR 2. */
  statusCode: number;
  statusMessage: string;
  /** The resource's attributes (service.name…) and the instrumentation scope's name. */
  resource: Record<string, AttrValue>;
  scopeName: string;
}

export interface OtlpCollector {
  readonly tracesUrl: string;
  readonly spans: ReceivedSpan[];
  /** Requests received, and the content types they came with. */
  readonly requests: { contentType: string | null; bytes: number }[];
  /** Resolves once `pred` holds for the spans received so far (checked on each export), or rejects after `ms`. */
  waitFor(what: string, pred: (spans: ReceivedSpan[]) => boolean, ms: number): Promise<void>;
  stop(): void;
}

let requestType: protobuf.Type | null = null;

async function exportRequestType(): Promise<protobuf.Type> {
  if (requestType) return requestType;
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(PROTO_ROOT, target);
  await root.load(SERVICE_PROTO, { keepCase: true });
  requestType = root.lookupType("opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest");
  return requestType;
}

interface AnyValue {
  string_value?: string;
  bool_value?: boolean;
  int_value?: string;
  double_value?: number;
}
interface KeyValue {
  key: string;
  value?: AnyValue;
}

function attrsOf(list: KeyValue[] | undefined): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {};
  for (const kv of list ?? []) {
    const v = kv.value ?? {};
    out[kv.key] =
      v.string_value !== undefined
        ? v.string_value
        : v.bool_value !== undefined
          ? v.bool_value
          : v.int_value !== undefined
            ? Number(v.int_value)
            : v.double_value !== undefined
              ? v.double_value
              : null;
  }
  return out;
}

const hex = (b: Uint8Array | undefined): string => (b ? Buffer.from(b).toString("hex") : "");

/** Decodes one request body (exported for the decoder's own test). */
export async function decodeTraces(body: Uint8Array): Promise<ReceivedSpan[]> {
  const type = await exportRequestType();
  const msg = type.toObject(type.decode(body), { longs: String, bytes: Uint8Array, defaults: false }) as {
    resource_spans?: {
      resource?: { attributes?: KeyValue[] };
      scope_spans?: {
        scope?: { name?: string };
        spans?: {
          trace_id?: Uint8Array;
          span_id?: Uint8Array;
          parent_span_id?: Uint8Array;
          name?: string;
          kind?: number;
          start_time_unix_nano?: string;
          end_time_unix_nano?: string;
          attributes?: KeyValue[];
          status?: { code?: number; message?: string };
        }[];
      }[];
    }[];
  };
  const out: ReceivedSpan[] = [];
  for (const rs of msg.resource_spans ?? []) {
    const resource = attrsOf(rs.resource?.attributes);
    for (const ss of rs.scope_spans ?? []) {
      for (const s of ss.spans ?? []) {
        out.push({
          traceIdHex: hex(s.trace_id),
          spanIdHex: hex(s.span_id),
          parentSpanIdHex: hex(s.parent_span_id),
          name: s.name ?? "",
          kind: s.kind ?? 0,
          startNs: BigInt(s.start_time_unix_nano ?? "0"),
          endNs: BigInt(s.end_time_unix_nano ?? "0"),
          attributes: attrsOf(s.attributes),
          statusCode: s.status?.code ?? 0,
          statusMessage: s.status?.message ?? "",
          resource,
          scopeName: ss.scope?.name ?? "",
        });
      }
    }
  }
  return out;
}

/** Listens on 127.0.0.1 (a free port). */
export async function startOtlpCollector(): Promise<OtlpCollector> {
  await exportRequestType();
  const spans: ReceivedSpan[] = [];
  const requests: { contentType: string | null; bytes: number }[] = [];
  const waiters: { pred: (s: ReceivedSpan[]) => boolean; resolve: () => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      if (w.pred(spans)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (req.method !== "POST" || url.pathname !== "/v1/traces") return new Response("not found", { status: 404 });
      const body = new Uint8Array(await req.arrayBuffer());
      requests.push({ contentType: req.headers.get("content-type"), bytes: body.byteLength });
      try {
        spans.push(...(await decodeTraces(body)));
      } catch (err) {
        return new Response(`cannot decode: ${(err as Error).message}`, { status: 400 });
      }
      check();
      // An empty ExportTraceServiceResponse.
      return new Response(new Uint8Array(0), { headers: { "content-type": "application/x-protobuf" } });
    },
  });
  return {
    tracesUrl: `http://127.0.0.1:${server.port}/v1/traces`,
    spans,
    requests,
    waitFor(what, pred, ms) {
      if (pred(spans)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const w = {
          pred,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`timed out after ${ms} ms waiting for ${what}; spans received: ${[...new Set(spans.map((s) => s.name))].join(", ")}`));
        }, ms);
        waiters.push(w);
      });
    },
    stop: () => void server.stop(true),
  };
}
