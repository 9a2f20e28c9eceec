/**
 * AE titles, PS3.5 6.2 (VR AE): at most 16 characters of the default repertoire, no control
 * characters and no backslash; leading and trailing spaces are not significant, so a title
 * of spaces only is empty and not allowed.
 */
export const AE_TITLE_MAX_LENGTH = 16;

/** Drops the padding of an AE title: spaces, and the NULs some peers pad with. */
export function trimAeTitle(title: string): string {
  return title.replace(/^[ \0]+|[ \0]+$/g, '');
}

/**
 * Checks an AE title and returns it without its padding, ready to compare.
 * Throws a RangeError that says what is wrong.
 */
export function normalizeAeTitle(title: string): string {
  const trimmed = trimAeTitle(title);
  if (trimmed.length === 0) {
    throw new RangeError(`Invalid AE title ${JSON.stringify(title)}: empty or only spaces`);
  }
  if (trimmed.length > AE_TITLE_MAX_LENGTH) {
    throw new RangeError(`Invalid AE title ${JSON.stringify(title)}: ${trimmed.length} characters, at most ${AE_TITLE_MAX_LENGTH}`);
  }
  for (let i = 0; i < trimmed.length; i++) {
    const code = trimmed.charCodeAt(i);
    if (code < 0x20 || code >= 0x7f) {
      throw new RangeError(`Invalid AE title ${JSON.stringify(title)}: character ${i} (0x${code.toString(16)}) is not printable ASCII`);
    }
    if (code === 0x5c) {
      throw new RangeError(`Invalid AE title ${JSON.stringify(title)}: backslash is not allowed`);
    }
  }
  return trimmed;
}
