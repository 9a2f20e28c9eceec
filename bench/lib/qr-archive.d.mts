// Types of qr-archive.mjs, for the TypeScript tests that start a filled dcmqrscp.

/** The layout of the generated archive: counts of each level under the one above. */
export interface ArchiveLayoutOptions {
  /** Defaults to 2. */
  readonly patients?: number;
  /** Defaults to 2. */
  readonly studiesPerPatient?: number;
  /** Defaults to 2. */
  readonly seriesPerStudy?: number;
  /** Defaults to 3. */
  readonly instancesPerSeries?: number;
}

/** One series of the layout: the sample study's seed, its image count, and the attributes every image gets. */
export interface LayoutSeries {
  readonly seed: number;
  readonly count: number;
  readonly attributes: {
    readonly PatientName: string;
    readonly PatientID: string;
    readonly StudyInstanceUID: string;
    readonly StudyDate: string;
    readonly StudyID: string;
    readonly AccessionNumber: string;
    readonly StudyDescription: string;
    readonly SeriesInstanceUID: string;
    readonly SeriesNumber: number;
    readonly SeriesDescription: string;
  };
}

/** A series of an explicit layout: its images may have pixels of their own size. */
export interface ArchiveSeries extends LayoutSeries {
  readonly rows?: number;
  readonly columns?: number;
}

export function archiveLayout(options?: ArchiveLayoutOptions): LayoutSeries[];

export interface QrArchiveOptions extends ArchiveLayoutOptions {
  /** dcmqrscp's AE title; DCMQRSCP unless set. */
  readonly aeTitle?: string;
  /** Move destinations dcmqrscp knows: AE title -> port on 127.0.0.1, or host and port. */
  readonly destinations?: Readonly<Record<string, number | { readonly host: string; readonly port: number }>>;
  /** Pixels of each image (16 bits each); 8 x 8 unless set. */
  readonly rows?: number;
  readonly columns?: number;
  /** dcmqrscp's log level on its output. */
  readonly verbose?: '-v' | '-d';
  /** Maximum PDU dcmqrscp receives; 65536 unless set. */
  readonly maxPdu?: number;
  /** A free port on 127.0.0.1 unless set. */
  readonly port?: number;
  /** Where config, sources and storage go; a new temporary folder (removed by stop()) unless set. */
  readonly directory?: string;
  /** dcmqrscp -s: one process for every association instead of a fork for each. */
  readonly singleProcess?: boolean;
  /** The layout series by series (instead of the counts of ArchiveLayoutOptions). */
  readonly series?: readonly ArchiveSeries[];
  /** With `directory`: serve a folder filled before with the same layout as it is. */
  readonly reuse?: boolean;
}

/** One instance dcmqrscp stored. */
export interface ArchivedFile {
  /** The file in dcmqrscp's storage area. */
  readonly path: string;
  /** The generated file storescu sent. */
  readonly source: string;
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly transferSyntaxUid: string;
  readonly patientId: string;
  readonly patientName: string;
  readonly studyInstanceUid: string;
  readonly studyDate: string;
  readonly seriesInstanceUid: string;
}

export interface QrArchive {
  readonly port: number;
  readonly aeTitle: string;
  readonly directory: string;
  /** dcmqrscp's storage area (its files and index.dat). */
  readonly storageDir: string;
  readonly configFile: string;
  /** Every instance stored, sorted by file name. */
  readonly files: readonly ArchivedFile[];
  /** dcmqrscp's stdout and stderr so far (the last 4 MiB). */
  readonly output: () => string;
  /** Settles with dcmqrscp's exit code (null on a signal) once it has ended. */
  readonly exited: Promise<number | null>;
  /** Stops dcmqrscp (SIGTERM, then SIGKILL after 2 s) and removes the folder it made. */
  readonly stop: () => Promise<void>;
}

export function startQrArchive(options?: QrArchiveOptions): Promise<QrArchive>;
