/**
 * DICOM files on disk: only their start is read, until the parser of their kind (a Part 10 meta
 * group, or any DICOM file with its data set's SOP UIDs) has what it needs. One reader serves
 * both, with the event loop (a server) or with blocking reads (a command line scanning files).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { type DicomFileHeader, inspectDicom } from './dicom-file.js';
import { type NeedMore, Part10Error, type Part10Header, parseMeta } from './part10.js';

/** What is read first: a meta group and the head of a small data set fit. */
const FIRST_READ = 4096;

/** Parses the start of a file of `size` bytes: its result, or how many bytes it needs. */
type StartParser<T> = (bytes: Buffer, size: number, path: string) => T | NeedMore;

const needsMore = <T extends object>(result: T | NeedMore): result is NeedMore => 'needed' in result;

/**
 * A larger buffer for a start that needs `needed` bytes, the `filled` ones already read copied
 * in: twice the size at least, never past the file. A file read whole that still needs more is
 * truncated, and says so (no read could ever satisfy it).
 */
function grow(buffer: Buffer, filled: number, needed: number, size: number, path: string): Buffer {
  if (filled >= size) throw new Part10Error(`${path}: truncated meta information (needs ${needed} bytes)`);
  const grown = Buffer.allocUnsafe(Math.min(size, Math.max(needed, buffer.length * 2)));
  buffer.copy(grown, 0, 0, filled);
  return grown;
}

const shrank = (path: string, filled: number, size: number) =>
  new Part10Error(`${path}: the file shrank while being read (${filled} of ${size} bytes)`);

/** Opens a file and reads its start until `parse` has what it needs. The caller closes the handle. */
async function openReading<T extends object>(
  path: string,
  parse: StartParser<T>,
  firstRead = FIRST_READ,
  allocate: (size: number) => Buffer = Buffer.allocUnsafe,
): Promise<{ readonly result: T; readonly handle: FileHandle; readonly start: Buffer }> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const wanted = Math.max(firstRead, FIRST_READ);
    // From the allocator whatever the file's size (a pool recycles its buffers: a file smaller
    // than the first read must not get a fresh one each time), used up to the file's size.
    let buffer = allocate(wanted).subarray(0, Math.min(size, wanted));
    let filled = 0;
    for (;;) {
      while (filled < buffer.length) {
        const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
        if (bytesRead === 0) throw shrank(path, filled, size);
        filled += bytesRead;
      }
      const result = parse(buffer, size, path);
      if (!needsMore(result)) return { result, handle, start: buffer };
      buffer = grow(buffer, filled, result.needed, size, path);
    }
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}

/** `openReading` with blocking reads; closes the file. Not for servers: it blocks the event loop while the disk answers. */
function readSyncWith<T extends object>(path: string, parse: StartParser<T>): T {
  const fd = openSync(path, 'r');
  try {
    let buffer: Buffer = Buffer.allocUnsafe(FIRST_READ);
    let filled = readSync(fd, buffer, 0, buffer.length, 0);
    for (;;) {
      // Short of what was asked: the file ends here, and that is its size.
      const size = filled < buffer.length ? filled : fstatSync(fd).size;
      const result = parse(buffer.subarray(0, filled), size, path);
      if (!needsMore(result)) return result;
      buffer = grow(buffer, filled, result.needed, size, path);
      while (filled < buffer.length) {
        const n = readSync(fd, buffer, filled, buffer.length - filled, filled);
        if (n === 0) throw shrank(path, filled, size);
        filled += n;
      }
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads the Part 10 header of a file, reading only its start (4 KiB, more if the meta group is
 * longer). Throws Part10Error for a file that is not DICOM Part 10 or whose meta group is broken.
 */
export async function readPart10Header(path: string): Promise<Part10Header> {
  const { result, handle } = await openReading(path, parseMeta);
  await handle.close();
  return result;
}

/** readPart10Header with blocking reads, for a command line scanning many files before it starts. */
export const readPart10HeaderSync = (path: string): Part10Header => readSyncWith(path, parseMeta);

/** An open DICOM file: its header, the bytes read from its start, the handle to read on with. */
export interface OpenDicomFile {
  readonly header: DicomFileHeader;
  readonly handle: FileHandle;
  /** The file's first bytes (at least up to the data set). */
  readonly start: Buffer;
}

/**
 * Opens a DICOM file (Part 10 or a bare data set) and reads its header with its first
 * `firstRead` bytes, so a small file costs one open and one read. The caller closes the handle.
 * Throws Part10Error for a file that is not DICOM.
 */
export async function openDicomFile(path: string, firstRead = FIRST_READ, allocate?: (size: number) => Buffer): Promise<OpenDicomFile> {
  const { result, handle, start } = await openReading(path, inspectDicom, firstRead, allocate);
  return { header: result, handle, start };
}

/** The header of a DICOM file (Part 10 or a bare data set), reading only its start. Throws Part10Error. */
export async function readDicomFileHeader(path: string): Promise<DicomFileHeader> {
  const { header, handle } = await openDicomFile(path);
  await handle.close();
  return header;
}

/**
 * readDicomFileHeader with blocking reads, for a command line scanning many files before it
 * starts. Not for servers: it blocks the event loop while the disk answers.
 */
export const readDicomFileHeaderSync = (path: string): DicomFileHeader => readSyncWith(path, inspectDicom);
