/** Tasks past which a turn's registrations are written in several transactions (about a few milliseconds' work each on SQLite). */
export const CHUNK_SIZE = 1000;

/**
 * Splits `items` into batches of at most `size`, in order of first appearance, never splitting one `unit`'s items (a
 * request's registrations: all of them are written or none). A unit of more than `size` is a batch of its own; items
 * without a unit (an enqueue) stand alone.
 */
export function chunksByUnit<T extends { unit: object | undefined }>(items: readonly T[], size: number): T[][] {
  const units = new Map<object, T[]>();
  const groups: T[][] = [];
  for (const item of items) {
    let group = item.unit === undefined ? undefined : units.get(item.unit);
    if (group === undefined) {
      group = [];
      if (item.unit !== undefined) units.set(item.unit, group);
      groups.push(group);
    }
    group.push(item);
  }
  const chunks: T[][] = [];
  let chunk: T[] = [];
  for (const group of groups) {
    if (chunk.length > 0 && chunk.length + group.length > size) {
      chunks.push(chunk);
      chunk = [];
    }
    // Pushed one by one: a group spread as arguments throws a RangeError past some 125,000.
    for (const item of group) chunk.push(item);
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}
