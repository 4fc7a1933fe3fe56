// Client-chosen text that goes into a log line (a username, a HELO name): bounded and without
// control characters, so a client can neither flood the log (an 8 KiB username would make an
// 8 KiB line per attempt) nor forge lines for a reader that splits on line breaks.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

export function logText(text: string, max = 64): string {
  const flat = text.replace(CONTROL, '?');
  return flat.length > max ? `${flat.slice(0, max)}...(${flat.length} chars)` : flat;
}
