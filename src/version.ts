/** Name and version shown by `--version`, `--help`, the default Electrum banner and the startup log. */
export const NAME = "electrs-bun";
export const VERSION = "0.1.0";
