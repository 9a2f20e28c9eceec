import { echo, VERIFICATION_SOP_CLASS, withAssociation } from '@dimse-rx/dimse';
import { lastValueFrom, timeout } from 'rxjs';
import { describeOptions, parseArgs, port, UsageError } from '../args.js';
import { COMMON_OPTIONS, commonSettings, describeError, type Output } from './common.js';
import { associationOptions, IDENTITY_OPTIONS, TLS_OPTIONS } from './connection.js';
import { errorCode } from './error-code.js';

const OPTIONS = [...COMMON_OPTIONS, ...TLS_OPTIONS, ...IDENTITY_OPTIONS];

export const ECHO_USAGE = `Usage: dimse-rx echo HOST PORT [options]
C-ECHO (Verification): is the peer there, and does it accept us?

Options:
${describeOptions(OPTIONS)}`;

const TRANSFER_SYNTAXES = ['1.2.840.10008.1.2.1', '1.2.840.10008.1.2'];

export async function echoCommand(args: readonly string[], out: Output): Promise<number> {
  const parsed = parseArgs(args, OPTIONS);
  const { positionals, options } = parsed;
  if (positionals.length !== 2) throw new UsageError('echo takes HOST and PORT');
  const [host] = positionals as [string, string];
  const settings = commonSettings(options);
  const target = { host, port: port(positionals[1]) };
  const connection = associationOptions(parsed, settings, target);
  const started = performance.now();
  try {
    // Scoped: released once the C-ECHO is answered, aborted when the peer does not answer in time.
    const status = await lastValueFrom(
      withAssociation(
        {
          ...connection,
          presentationContexts: [{ abstractSyntax: VERIFICATION_SOP_CLASS, transferSyntaxes: TRANSFER_SYNTAXES }],
        },
        (association) => echo(association).pipe(timeout(settings.dimseTimeoutMs)),
      ),
    );
    const ms = Math.round(performance.now() - started);
    const code = `0x${status.code.toString(16).padStart(4, '0')}`;
    if (settings.json)
      out.json({ command: 'echo', host, port: target.port, status: status.code, kind: status.kind, meaning: status.meaning, ms });
    else out.line(`C-ECHO ${host}:${target.port}: ${status.meaning} (${code}) in ${ms} ms`);
    return status.kind === 'success' ? 0 : 1;
  } catch (error) {
    if (settings.json) out.json({ command: 'echo', host, port: target.port, error: describeError(error), code: errorCode(error) });
    else out.error(`dimse-rx echo: ${describeError(error)}`);
    return 1;
  }
}
