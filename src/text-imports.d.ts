/** Bun imports `with { type: "text" }` as the file's contents (bundled into the compiled binary). */
declare module "*.sql" {
  const text: string;
  export default text;
}
