import { readFileSync } from 'node:fs';
import { demo } from './demo.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

const USAGE = `dimse-rx ${pkg.version}: DICOM networking for Node.js as RxJS streams

Usage:
  dimse-rx demo        show what this build can do
  dimse-rx --version   print the version
  dimse-rx --help      this text
`;

export async function main(args: readonly string[], out: (line: string) => void = console.log): Promise<number> {
  const [command] = args;
  if (command === '--version' || command === '-v') {
    out(pkg.version);
    return 0;
  }
  if (command === 'demo') {
    await demo(pkg.version, out);
    return 0;
  }
  if (command === undefined || command === '--help' || command === '-h') {
    out(USAGE);
    return command === undefined ? 1 : 0;
  }
  out(`dimse-rx: unknown command '${command}'\n\n${USAGE}`);
  return 2;
}
