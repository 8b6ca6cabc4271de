import secureJson from 'secure-json-parse';
import type { BodySettings } from './body-options.js';
import { BadRequest } from './errors.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/**
 * Parses a JSON body: 400 when it nests deeper than `maxJsonDepth`, is
 * malformed, or holds a key that could poison a prototype (unless the
 * settings say to remove or ignore such keys).
 */
export function parseJson(text: string, settings: BodySettings): unknown {
  if (nestsDeeper(text, settings.maxJsonDepth)) {
    throw new BadRequest(`JSON body nested deeper than ${settings.maxJsonDepth} levels; raise createApp({ body: { maxJsonDepth } }) to allow more`);
  }
  try {
    return secureJson.parse(text, null, settings.json);
  } catch (error) {
    throw refusal(text, settings, error as Error);
  }
}

/**
 * Whether arrays and objects nest deeper than `max`: one pass over the text,
 * brackets inside strings skipped, so that a body nested 100,000 deep costs
 * what its length costs and never reaches the parser.
 */
function nestsDeeper(text: string, max: number): boolean {
  // A depth needs as many opening brackets: a short text cannot be too deep.
  if (text.length <= max) return false;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === QUOTE) i = stringEnd(text, i);
    else if (code === OPEN_ARRAY || code === OPEN_OBJECT) {
      if (++depth > max) return true;
    } else if (code === CLOSE_ARRAY || code === CLOSE_OBJECT) depth--;
  }
  return false;
}

/** The index of the quote that closes the string opened at `start` (the text's end if none does). */
function stringEnd(text: string, start: number): number {
  for (let quote = text.indexOf('"', start + 1); quote !== -1; quote = text.indexOf('"', quote + 1)) {
    // Escaped when an odd number of backslashes comes before it. Each run of
    // backslashes is counted once, so the scan stays linear.
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote;
  }
  return text.length;
}

/** Only JSON's whitespace (RFC 8259 2): String's trim() also takes a form feed, a no-break space or U+2028, which JSON refuses as any other character. */
const JSON_BLANKS = /^[\t\n\r ]*$/;

/**
 * secure-json-parse throws the same SyntaxError for malformed JSON and for a
 * forbidden key, and names no key: on this rare path, parse again to tell
 * which it was.
 */
function refusal(text: string, settings: BodySettings, error: Error): BadRequest {
  if (JSON_BLANKS.test(text)) return new BadRequest('empty JSON body: the Content-Type is JSON but the body has nothing to parse');
  if (!parses(text, 'ignore', 'ignore')) return new BadRequest(`malformed JSON body: ${error.message}`);
  const [key, option] = settings.json.protoAction === 'error' && !parses(text, 'error', 'ignore')
    ? ['__proto__', 'onProtoPoisoning']
    : ['constructor.prototype', 'onConstructorPoisoning'];
  return new BadRequest(
    `JSON body has a "${key}" key (prototype poisoning); createApp({ body: { ${option} } }) can remove or ignore such keys instead`,
  );
}

function parses(text: string, protoAction: 'error' | 'ignore', constructorAction: 'ignore'): boolean {
  try {
    secureJson.parse(text, null, { protoAction, constructorAction });
    return true;
  } catch {
    return false;
  }
}
