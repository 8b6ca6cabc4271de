import type { HttpResponse } from './response.js';

/** Adds `field` to the response's `Vary` (RFC 9110 12.5.5), unless it is there already or `Vary: *`. */
export function addVary(response: HttpResponse, field: string): void {
  const current = response.headers.get('vary');
  if (current === null) {
    response.headers.set('vary', field);
    return;
  }
  const fields = current.toLowerCase().split(',').map((name) => name.trim());
  if (fields.includes('*') || fields.includes(field.toLowerCase())) return;
  response.headers.set('vary', `${current}, ${field}`);
}
