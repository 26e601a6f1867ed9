/**
 * Request bodies with BS-new's limits: at most 1,000,000 bytes (413 `Request body too large`) and
 * the whole body within 30 s (408 `Request timeout`). Read here, chunk by chunk, rather than by
 * Bun.serve's own limit, because Bun answers an oversized body itself (no CORS header, not our
 * text) and has no body deadline at all.
 */
import { concatBytes } from "../bitcoin/bytes.ts";
import { HttpError } from "./errors.ts";

/** BS-new's MAX_BODY_SIZE and REQUEST_BODY_TIMEOUT. */
export const MAX_BODY_BYTES = 1_000_000;
export const BODY_TIMEOUT_MS = 30_000;

const tooLarge = () => new HttpError(413, "Request body too large");

export async function readBody(request: Request, maxBytes: number, timeoutMs: number): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) throw tooLarge();
  const stream = request.body;
  if (!stream) return new Uint8Array(0);
  const reader = stream.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), deadline]);
      if (next === "timeout") throw new HttpError(408, "Request timeout");
      if (next.done) break;
      total += next.value.length;
      if (total > maxBytes) throw tooLarge();
      chunks.push(next.value);
    }
  } catch (err) {
    reader.cancel().catch(() => {});
    // A stream error (the client went away mid-body) is BS-new's 400 with the error's text.
    throw err instanceof HttpError ? err : new HttpError(400, err instanceof Error ? err.message : String(err));
  } finally {
    clearTimeout(timer);
  }
  return chunks.length === 1 ? chunks[0]! : concatBytes(...chunks);
}
