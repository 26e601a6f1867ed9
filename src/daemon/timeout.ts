/** A node call the servers will not wait on forever (a client is waiting): DaemonUnreachableError after `ms`. */
import { DaemonUnreachableError } from "../errors.ts";

export async function withTimeout<T>(method: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DaemonUnreachableError(`${method}: bitcoind did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
