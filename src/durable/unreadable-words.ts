/** How much of a bad value's text an error keeps, to repair it by hand. */
const KEPT = 200;

/** `text` quoted as an error shows it: its first KEPT characters. */
export function quoted(text: string): string {
  return JSON.stringify(text.length > KEPT ? `${text.slice(0, KEPT)}…` : text);
}

/**
 * Why a stored task's parts (`noun`: a row's columns, a job's fields) are bad, each named with its text:
 * `its column X ("…") is not valid JSON of its shape (edited by hand?), replaced` (the default backoff named).
 */
export function badParts(noun: string, bad: readonly string[], backoffOk: boolean, replaced: string): string {
  return `its ${noun} ${bad.join(`, its ${noun} `)} ${bad.length === 1 ? 'is' : 'are'} not valid JSON of its shape (edited by hand?), `
    + `${replaced}${backoffOk ? '' : ' (the backoff by the default one)'}`;
}
