// UTF-7 (RFC 2152), which WHATWG TextDecoder does not know: Outlook 2000 and Exchange wrote
// bodies and encoded words in it, and undecoded they read `Fr+APY-sche`. Direct characters pass
// through; `+…-` holds modified base64 of UTF-16 code units; `+-` is a literal plus.
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) VALUE[B64.charCodeAt(i)] = i;

export function decodeUtf7(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const c = bytes[i] as number;
    if (c !== 0x2b) {
      out += String.fromCharCode(c);
      i++;
      continue;
    }
    i++;
    if (bytes[i] === 0x2d) {
      out += '+';
      i++;
      continue;
    }
    // Accumulate 6 bits per base64 character; every 16 bits is one UTF-16 code unit.
    let bits = 0;
    let acc = 0;
    const units: number[] = [];
    while (i < bytes.length) {
      const b = bytes[i] as number;
      const v = b < 128 ? (VALUE[b] as number) : -1;
      if (v < 0) break;
      acc = (acc << 6) | v;
      bits += 6;
      if (bits >= 16) {
        bits -= 16;
        units.push((acc >> bits) & 0xffff);
      }
      acc &= (1 << bits) - 1;
      i++;
    }
    // The shift sequence ends at the first non-base64 character; a "-" there is absorbed.
    if (bytes[i] === 0x2d) i++;
    for (let u = 0; u < units.length; u += 4096) out += String.fromCharCode(...units.slice(u, u + 4096));
  }
  return out;
}
