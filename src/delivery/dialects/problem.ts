// Why a dialect header was not honoured: a value the gateway cannot read (`invalid`), or a
// request it cannot carry out (`unsupported`). controls.ts turns each into the refusal's text.
export type Problem = { kind: 'invalid'; text: string } | { kind: 'unsupported'; text: string };

export const invalid = (text: string): Problem => ({ kind: 'invalid', text });
export const unsupported = (text: string): Problem => ({ kind: 'unsupported', text });
