/** How much of the client's input an error message repeats: enough to recognise it, not a 16 KiB header sent back. */
const ECHOED = 200;

/** `text` (a path, a header the client sent) cut to 200 characters with an ellipsis, for an error message, or a name shown (the dashboard's methods and task names, the task label of metrics). */
export function echo(text: string): string {
  return text.length > ECHOED ? `${text.slice(0, ECHOED)}…` : text;
}
