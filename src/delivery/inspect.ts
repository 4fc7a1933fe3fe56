// First look at a parsed message, before any API call: who it claims to be from, and what the
// control headers ask for. Refusals here are the sender's own problem (554 5.6.0).
import type { Mailbox, ParsedMessage } from '../mime/types.ts';
import type { Refusal } from './outcome.ts';
import { readControls, type Controls } from './controls.ts';

export { CONTROL_HEADER_NAMES, type Controls, type Tracking } from './controls.ts';

export type InspectResult = { ok: true; from: Mailbox; controls: Controls } | { ok: false; refusal: Refusal };

// A deliberately loose shape check (local@domain, no spaces): the sender directory decides
// whether the address is one of the account's confirmed senders.
const ADDRESS = /^[^\s@]+@[^\s@]+$/;

export function inspectMessage(msg: ParsedMessage): InspectResult {
  // RFC 5322 §3.6 allows one From and one Sender. Two of either let a message show one identity
  // to the gateway and another to the recipient's client (docs/threat-model.md T-08).
  if (msg.fromHeaderCount === 0) return invalid('missing From header');
  if (msg.fromHeaderCount > 1) return invalid('duplicate From header');
  if (msg.senderHeaderCount > 1) return invalid('duplicate Sender header');
  const [from, ...more] = msg.from;
  if (!from) return invalid('From header has no address');
  if (more.length > 0)
    return invalid(`From header holds ${msg.from.length} addresses; Cakemail sends from exactly one sender`);
  if (!ADDRESS.test(from.address))
    return invalid(`From address "${from.address.slice(0, 100)}" is not an email address`);

  const controls = readControls(msg.headers);
  if (!controls.ok) return invalid(controls.reason);
  return { ok: true, from, controls: controls.controls };
}

function invalid(reason: string): InspectResult {
  return { ok: false, refusal: { kind: 'content_invalid', reason } };
}
