import type { StandardSchemaV1 } from '@standard-schema/spec';
import { describe } from '../util/describe.js';
import { BadRequest } from './errors.js';

export type { StandardSchemaV1 } from '@standard-schema/spec';

/** One reason input was refused: where in it (`['items', 0, 'price']`, empty for the whole) and why. */
export interface ValidationIssue {
  path: (string | number)[];
  message: string;
}

/** How many issues a ValidationError keeps: a 1 MB body failing at each of its 500,000 items gave a 67 MB answer. */
const MAX_ISSUES = 100;

/**
 * Input that a schema refused: a 400 whose body lists its issues, with their
 * path and message (`{ error: { status, message, issues } }` in JSON): the
 * first 100, the message counting the rest.
 */
export class ValidationError extends BadRequest {
  override readonly code: string = 'CODA_VALIDATION_FAILED';
  readonly issues: readonly ValidationIssue[];

  constructor(what: string, issues: readonly ValidationIssue[]) {
    const kept = issues.slice(0, MAX_ISSUES);
    const more = issues.length - kept.length;
    super(`invalid ${what}: ${kept.map(describeIssue).join('; ')}${more > 0 ? `; and ${more.toLocaleString('en-US')} more issues` : ''}`);
    this.issues = kept;
  }
}

function describeIssue(issue: ValidationIssue): string {
  return issue.path.length === 0 ? issue.message : `${issue.path.join('.')}: ${issue.message}`;
}

/**
 * Validates `value` with any Standard Schema (zod, valibot, arktype, ...):
 * its output, or a `ValidationError` (400) naming `what` and every issue.
 */
export async function validate<Schema extends StandardSchemaV1>(schema: Schema, value: unknown, what: string): Promise<StandardSchemaV1.InferOutput<Schema>> {
  const standard = (schema as Partial<StandardSchemaV1> | null)?.['~standard'];
  if (standard === undefined || typeof standard.validate !== 'function') {
    throw new TypeError(`${what}: the schema must be a Standard Schema (zod, valibot, arktype, ...: an object with a '~standard' property), got ${describe(schema)}`);
  }
  let result = standard.validate(value);
  if (result instanceof Promise) result = await result;
  if (result.issues !== undefined) throw new ValidationError(what, result.issues.map(issueOf));
  return result.value as StandardSchemaV1.InferOutput<Schema>;
}

function issueOf(issue: StandardSchemaV1.Issue): ValidationIssue {
  const path = (issue.path ?? []).map((segment) => {
    const key = typeof segment === 'object' ? segment.key : segment;
    return typeof key === 'number' ? key : String(key);
  });
  return { path, message: issue.message };
}

/** Query parameters (or form fields) as an object for a schema: a name given once is a value, twice or more an array. */
export function entriesObject<V>(entries: Iterable<[string, V]>): Record<string, V | V[]> {
  const object: Record<string, V | V[]> = Object.create(null);
  for (const [name, value] of entries) {
    const seen = object[name];
    if (seen === undefined) object[name] = value;
    else if (Array.isArray(seen)) seen.push(value);
    else object[name] = [seen, value];
  }
  return object;
}
