/** What the static file servers share: their root from argv, their ready line, exit on SIGTERM. */
export function staticRoot(): string {
  const root = process.argv[2];
  if (root === undefined) throw new Error('usage: node <server>.js <root folder>');
  return root;
}

export function readyLine(port: number): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => process.exit(0));
  process.stdout.write(`${JSON.stringify({ port })}\n`);
}
