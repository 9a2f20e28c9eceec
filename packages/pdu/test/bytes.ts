/** Small builders for test vectors, written from the standard's field layouts (PS3.8 9.3). */
export const u8 = (v: number) => [v & 0xff];
export const u16 = (v: number) => [(v >> 8) & 0xff, v & 0xff];
export const u32 = (v: number) => [(v >>> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];
export const ascii = (s: string) => [...Buffer.from(s, 'latin1')];
export const zeros = (n: number) => new Array<number>(n).fill(0);
/** A 16-byte AE title field, space padded. */
export const ae = (s: string) => ascii(s.padEnd(16, ' '));
/** An item: type (1), reserved (1), item-length (2), value. */
export const item = (type: number, ...value: number[][]) => {
  const body = value.flat();
  return [type, 0, ...u16(body.length), ...body];
};
/** A PDU: type (1), reserved (1), PDU-length (4), body. */
export const pdu = (type: number, ...body: number[][]) => {
  const flat = body.flat();
  return Buffer.from([type, 0, ...u32(flat.length), ...flat]);
};
/** A length-prefixed field (2-byte length). */
export const field = (...value: number[][]) => {
  const flat = value.flat();
  return [...u16(flat.length), ...flat];
};
