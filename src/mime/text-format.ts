// postal-mime's text renderers (HTML → text, text → HTML, the header block of a message shown
// inside another), used when a body has a part of one kind only or shows an inline message.
// postal-mime ships them in its package but does not export them (its `exports` map lists only
// the entry point), so they are loaded from beside the resolved entry: the same code, pinned by
// the same version, rather than a copy of it here.
import type { Address } from 'postal-mime';

export interface HeaderFields {
  from?: Address;
  subject?: string;
  date?: string;
  to?: Address[];
  cc?: Address[];
}

export interface TextFormat {
  htmlToText(html: string): string;
  textToHtml(text: string): string;
  formatTextHeader(message: HeaderFields): string;
  formatHtmlHeader(message: HeaderFields): string;
}

let loading: Promise<TextFormat> | null = null;

export function loadTextFormat(): Promise<TextFormat> {
  loading ??= import(new URL('./text-format.js', import.meta.resolve('postal-mime')).href) as Promise<TextFormat>;
  return loading;
}
