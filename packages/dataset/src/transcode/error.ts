/** A data set that cannot be converted: malformed, truncated, or encapsulated (compressed) pixel data. */
export class TranscodeError extends Error {
  override readonly name = 'TranscodeError';
  /** Byte offset in the (inflated) input data set where the problem was found. */
  readonly offset: number;

  constructor(message: string, offset: number, options?: ErrorOptions) {
    super(`${message} (at byte ${offset} of the data set)`, options);
    this.offset = offset;
  }
}
