// A strict reading of a scrape, by the rules of Prometheus's text format
// (0.0.4) and of OpenMetrics 1.0, for the metrics tests: every line one of
// the kinds the format has, each family's HELP and TYPE once and before its
// samples, its samples together, label values escaped as the format says, a
// histogram's buckets cumulative up to a +Inf that is its _count, with a
// _sum; OpenMetrics' families named without a counter's _total, and its
// # EOF last. Returns the problems found, none for a valid scrape.

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
const SAMPLE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*)?,?\\})? (\\S+)(?: -?\\d+)?$`);
// NaN and Inf in any case: Prometheus reads values with Go's ParseFloat, OpenMetrics' grammar is ABNF (prom-client writes Nan).
const VALUE = /^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?inf(?:inity)?|nan)$/i;
const TYPES = ['counter', 'gauge', 'histogram', 'summary', 'untyped', 'unknown', 'info', 'stateset', 'gaugehistogram'];
/** The names a family's samples have, by its type: OpenMetrics', the text format's are the family's own name or these. */
const SUFFIXES: Record<string, string[]> = {
  counter: ['_total', '_created'], histogram: ['_bucket', '_sum', '_count', '_created'], summary: ['', '_sum', '_count', '_created'],
};

interface Family {
  type?: string;
  help: boolean;
  /** Whether another family's samples came after this one's. */
  closed: boolean;
  /** Histogram series by their labels but `le`: buckets in order, and the _count and _sum seen. */
  series: Map<string, { buckets: [number, number][]; count?: number; sum?: number }>;
}

export function expositionProblems(text: string, openMetrics: boolean): string[] {
  const problems: string[] = [];
  const families = new Map<string, Family>();
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  else problems.push('the last line has no line feed');
  if (openMetrics) {
    if (lines.at(-1) !== '# EOF') problems.push('OpenMetrics: the last line is not # EOF');
    else lines.pop();
  }
  let current: string | undefined;
  const family = (name: string): Family => {
    let found = families.get(name);
    if (found === undefined) families.set(name, found = { help: false, closed: false, series: new Map() });
    return found;
  };
  for (const line of lines) {
    if (line === '') {
      if (openMetrics) problems.push('OpenMetrics: an empty line');
      continue;
    }
    const meta = /^# (HELP|TYPE|UNIT) (\S+)(?: (.*))?$/.exec(line);
    if (meta !== null) {
      const [, kind, name, rest = ''] = meta;
      if (!new RegExp(`^${NAME}$`).test(name!)) problems.push(`${kind} of a bad name: ${line}`);
      const f = family(name!);
      if (f.series.size > 0 || (f.closed)) problems.push(`${kind} after ${name}'s samples: ${line}`);
      if (kind === 'HELP') {
        if (f.help) problems.push(`a second HELP for ${name}`);
        f.help = true;
        const bad = openMetrics ? /\\[^\\n"]|\\$|(?<!\\)"/ : /\\[^\\n]|\\$/;
        if (bad.test(rest.replace(/\\\\/g, ''))) problems.push(`HELP text not escaped: ${line}`);
      } else if (kind === 'TYPE') {
        if (f.type !== undefined) problems.push(`a second TYPE for ${name}`);
        if (!TYPES.includes(rest)) problems.push(`an unknown type: ${line}`);
        if (openMetrics && rest === 'counter' && name!.endsWith('_total')) problems.push(`OpenMetrics: a counter family named with _total: ${line}`);
        f.type = rest;
      }
      continue;
    }
    if (line.startsWith('#')) {
      if (openMetrics) problems.push(`OpenMetrics: a comment line: ${line}`);
      continue;
    }
    const match = SAMPLE.exec(line);
    if (match === null) {
      problems.push(`not a sample line: ${line}`);
      continue;
    }
    const [, sampleName, labelText = '', value] = match;
    if (!VALUE.test(value!)) problems.push(`not a value: ${line}`);
    const owner = ownerOf(families, sampleName!, openMetrics);
    if (owner === undefined) {
      problems.push(`a sample of no TYPE declared before it: ${line}`);
      continue;
    }
    const [name, f] = owner;
    if (current !== name) {
      if (f.closed) problems.push(`${name}'s samples are not together: ${line}`);
      if (current !== undefined) families.get(current)!.closed = true;
      current = name;
    }
    const labels = [...labelText.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map(([, key, v]) => [key!, v!] as const);
    if (new Set(labels.map(([key]) => key)).size !== labels.length) problems.push(`a label given twice: ${line}`);
    if (f.type === 'histogram') noteHistogram(f, sampleName!.slice(name.length), labels, Number(value), line, problems);
  }
  for (const [name, f] of families) {
    if (f.type === undefined) problems.push(`${name} has no TYPE`);
    for (const [key, series] of f.series) {
      const { buckets, count, sum } = series;
      if (buckets.at(-1)?.[0] !== Infinity) problems.push(`${name}{${key}} has no +Inf bucket`);
      for (let i = 1; i < buckets.length; i++) {
        if (buckets[i]![0] <= buckets[i - 1]![0]) problems.push(`${name}{${key}}: le not increasing`);
        if (buckets[i]![1] < buckets[i - 1]![1]) problems.push(`${name}{${key}}: buckets not cumulative`);
      }
      if (count === undefined || sum === undefined) problems.push(`${name}{${key}} has no _count or no _sum`);
      else if (buckets.at(-1)?.[1] !== count) problems.push(`${name}{${key}}: the +Inf bucket is not _count`);
    }
  }
  return problems;
}

/** The family a sample belongs to: its own name's, or the one its suffix says. */
function ownerOf(families: Map<string, Family>, sample: string, openMetrics: boolean): [string, Family] | undefined {
  for (const [name, f] of families) {
    if (f.type === undefined) continue;
    // The text format names a counter's family as its samples (x_total); OpenMetrics without the suffix.
    const suffixes = SUFFIXES[f.type] ?? [''];
    const allowed = f.type === 'counter' && !openMetrics ? [''] : suffixes;
    if (allowed.some((suffix) => name + suffix === sample)) return [name, f];
  }
  return undefined;
}

function noteHistogram(f: Family, suffix: string, labels: (readonly [string, string])[], value: number, line: string, problems: string[]): void {
  const key = labels.filter(([k]) => k !== 'le').map(([k, v]) => `${k}="${v}"`).sort().join(',');
  let series = f.series.get(key);
  if (series === undefined) f.series.set(key, series = { buckets: [] });
  if (suffix === '_bucket') {
    const le = labels.find(([k]) => k === 'le')?.[1];
    if (le === undefined) problems.push(`a bucket without le: ${line}`);
    else series.buckets.push([le === '+Inf' ? Infinity : Number(le), value]);
  } else if (suffix === '_count') {
    series.count = value;
  } else if (suffix === '_sum') {
    series.sum = value;
  }
}
