/** Entry point: parse the flags, start the app, exit with its code. */
import { parseConfig } from "./config.ts";
import { startApp } from "./app.ts";
import { createLogger, describeError } from "./log.ts";

function main(): void {
  let parsed;
  try {
    parsed = parseConfig(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`error: ${describeError(err)}\n`);
    process.exit(2);
  }
  if (parsed.kind !== "run") {
    process.stdout.write(parsed.text + "\n");
    process.exit(0);
  }
  const { verbosity, timestamp, logFormat } = parsed.config;
  const log = createLogger({ verbosity, timestamp, format: logFormat });
  const app = startApp(parsed.config, log);
  app.done.then((code) => process.exit(code));
}

main();
