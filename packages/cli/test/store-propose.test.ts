/** `dimse-rx store --propose`: which transfer syntaxes are proposed, and what that does with a peer that wants another. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeDataset, encodeFileMetaInformation, TransferSyntax } from '@dimse-rx/dimse';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../src/main.js';
import { answering, CT, capture, jsonLines, startScp, writeStudy } from './support.js';

const { ExplicitVrLittleEndian: EXPLICIT_LE, ImplicitVrLittleEndian: IMPLICIT_LE, ExplicitVrBigEndian: EXPLICIT_BE } = TransferSyntax;
const DEFLATED = '1.2.840.10008.1.2.1.99';

describe('dimse-rx store --propose', () => {
  let work: string;
  const stops: (() => unknown)[] = [];
  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'dimse-rx-propose-'));
  });
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
    await rm(work, { recursive: true, force: true });
  });

  /** A peer that takes CT in implicit VR little endian only, as some old archives do. */
  const implicitOnly = async () => {
    const peer = await startScp(
      answering(() => 0),
      { abstractSyntaxes: { [CT]: [IMPLICIT_LE] } },
    );
    stops.push(peer.stop);
    return peer;
  };

  const proposed = (peer: Awaited<ReturnType<typeof implicitOnly>>) =>
    peer.associations.map((a) => a.negotiation.presentationContexts.map((pc) => pc.proposedTransferSyntaxes));

  it('all (the default): the file in its own syntax alone, then a context of the others; converted when only another is accepted', async () => {
    const [file] = await writeStudy(work, 1, 1);
    const peer = await implicitOnly();
    const c = capture();
    expect(await main(['store', '127.0.0.1', String(peer.port), file!.path], c.io)).toBe(0);
    expect(proposed(peer)).toEqual([[[EXPLICIT_LE], [EXPLICIT_LE, IMPLICIT_LE, DEFLATED, EXPLICIT_BE]]]);
    expect(c.out[0]).toMatch(
      new RegExp(
        `^stored .*image-0\\.dcm: success \\(0x0000\\), sent as ${IMPLICIT_LE.replaceAll('.', '\\.')} \\(Implicit VR Little Endian\\)`,
      ),
    );
  });

  it('own: nothing else, so a peer that wants another syntax gets nothing and the file fails with a code', async () => {
    const [file] = await writeStudy(work, 1, 2);
    const peer = await implicitOnly();
    const c = capture();
    expect(await main(['store', '127.0.0.1', String(peer.port), file!.path, '--propose', 'own', '--json'], c.io)).toBe(1);
    expect(proposed(peer)).toEqual([[[EXPLICIT_LE]]]);
    expect(jsonLines(c.out)[0]).toMatchObject({ file: file!.path, result: 'failed', code: 'NO_PRESENTATION_CONTEXT' });
  });

  it('little-endian, and a list of UIDs', async () => {
    const [file] = await writeStudy(work, 1, 3);
    const peer = await implicitOnly();
    expect(await main(['store', '127.0.0.1', String(peer.port), file!.path, '--propose', 'little-endian'], capture().io)).toBe(0);
    expect(
      await main(['store', '127.0.0.1', String(peer.port), file!.path, '--propose', `${EXPLICIT_BE},${IMPLICIT_LE}`], capture().io),
    ).toBe(0);
    expect(proposed(peer)).toEqual([
      [[EXPLICIT_LE], [EXPLICIT_LE, IMPLICIT_LE]],
      [[EXPLICIT_LE], [EXPLICIT_BE, IMPLICIT_LE]],
    ]);
  });

  it('a file whose meta header disagrees with its data set is sent with the data set UIDs, and the line says so', async () => {
    const [file] = await writeStudy(work, 1, 4);
    const dataSet = file!.dataSet;
    const wrongMeta = encodeFileMetaInformation({
      mediaStorageSopClassUid: CT,
      mediaStorageSopInstanceUid: '1.2.3.999',
      transferSyntaxUid: EXPLICIT_LE,
    });
    const path = join(work, 'disagreeing.dcm');
    await writeFile(path, Buffer.concat([wrongMeta, dataSet]));
    const received: string[] = [];
    const peer = await startScp((info, data) => {
      received.push(info.sopInstanceUid);
      return answering(() => 0)(info, data);
    });
    stops.push(peer.stop);
    const c = capture();
    expect(await main(['store', '127.0.0.1', String(peer.port), path], c.io)).toBe(0);
    expect(received).toEqual([file!.uid]);
    expect(c.out[0]).toMatch(
      /^stored .*disagreeing\.dcm: success \(0x0000\); the meta header's SOP Instance UID \(0002,0003\) 1\.2\.3\.999 is not the data set's/,
    );
    // A bare data set (no Part 10 header) goes too.
    const bare = join(work, 'bare.dcm');
    await writeFile(bare, encodeDataset({ SOPClassUID: CT, SOPInstanceUID: '1.2.3.1000', Modality: 'CT' }, IMPLICIT_LE));
    const b = capture();
    expect(await main(['store', '127.0.0.1', String(peer.port), bare, '--json'], b.io)).toBe(0);
    expect(jsonLines(b.out)[0]).toMatchObject({
      result: 'stored',
      sopInstanceUid: '1.2.3.1000',
      warnings: [expect.stringMatching(/no Part 10 header/)],
    });
  });
});
