/**
 * DICOM Upper Layer state machine, PS3.8 section 9.2, transcribed as data.
 *
 * STATES is Tables 9-1 to 9-5 (9.2.1), ACTIONS is Tables 9-6 to 9-9 (9.2.2), EVENTS is the row headings of
 * Table 9-10 and STATE_TABLE is its body (9.2.3). A missing (state, event) pair is a blank cell in the standard:
 * the standard defines no action for it. Nothing here adds to or corrects the standard.
 */

/** PS3.8 9.2.1, Tables 9-1 to 9-5. */
export const STATES = {
  // No association
  Sta1: 'Idle',
  // Association establishment
  Sta2: 'Transport connection open (Awaiting A-ASSOCIATE-RQ PDU)',
  Sta3: 'Awaiting local A-ASSOCIATE response primitive (from local user)',
  Sta4: 'Awaiting transport connection opening to complete (from local transport service)',
  Sta5: 'Awaiting A-ASSOCIATE-AC or A-ASSOCIATE-RJ PDU',
  // Data transfer
  Sta6: 'Association established and ready for data transfer',
  // Association release
  Sta7: 'Awaiting A-RELEASE-RP PDU',
  Sta8: 'Awaiting local A-RELEASE response primitive (from local user)',
  Sta9: 'Release collision requestor side; awaiting A-RELEASE response (from local user)',
  Sta10: 'Release collision acceptor side; awaiting A-RELEASE-RP PDU',
  Sta11: 'Release collision requestor side; awaiting A-RELEASE-RP PDU',
  Sta12: 'Release collision acceptor side; awaiting A-RELEASE response primitive (from local user)',
  // Waiting for transport connection close
  Sta13: 'Awaiting Transport Connection Close Indication (Association no longer exists)',
} as const;
/** A state of PS3.8 Table 9-10 (Sta1 to Sta13). */
export type StateName = keyof typeof STATES;

/** PS3.8 9.2.3, the events (rows) of Table 9-10. */
export const EVENTS = {
  Evt1: 'A-ASSOCIATE Request (local user)',
  Evt2: 'Transport Conn. Confirm (local transport service)',
  Evt3: 'A-ASSOCIATE-AC PDU (received on transport connection)',
  Evt4: 'A-ASSOCIATE-RJ PDU (received on transport connection)',
  Evt5: 'Transport Connection Indication (local transport service)',
  Evt6: 'A-ASSOCIATE-RQ PDU (received on transport connection)',
  Evt7: 'A-ASSOCIATE response primitive (accept)',
  Evt8: 'A-ASSOCIATE response primitive (reject)',
  Evt9: 'P-DATA request primitive',
  Evt10: 'P-DATA-TF PDU',
  Evt11: 'A-RELEASE Request primitive',
  Evt12: 'A-RELEASE-RQ PDU (received on open transport connection)',
  Evt13: 'A-RELEASE-RP PDU (received on transport connection)',
  Evt14: 'A-RELEASE Response primitive',
  Evt15: 'A-ABORT Request primitive',
  Evt16: 'A-ABORT PDU (received on open transport connection)',
  Evt17: 'Transport connection closed indication (local transport service)',
  Evt18: 'ARTIM timer expired (Association reject/release timer)',
  Evt19: 'Unrecognized or invalid PDU received',
} as const;
/** An event of PS3.8 Table 9-10 (Evt1 to Evt19). */
export type EventName = keyof typeof EVENTS;

/**
 * PS3.8 9.2.2, Tables 9-6 to 9-9: each action's description and its next state as the standard gives it.
 * AE-6 and AR-8 are the two actions with two possible next states; the condition is in the description.
 */
export const ACTIONS = {
  // Table 9-6, Association Establishment Related Actions
  'AE-1': { description: 'Issue TRANSPORT CONNECT request primitive to local transport service', next: 'Sta4' },
  'AE-2': { description: 'Send A-ASSOCIATE-RQ-PDU', next: 'Sta5' },
  'AE-3': { description: 'Issue A-ASSOCIATE confirmation (accept) primitive', next: 'Sta6' },
  'AE-4': { description: 'Issue A-ASSOCIATE confirmation (reject) primitive and close transport connection', next: 'Sta1' },
  'AE-5': { description: 'Issue Transport connection response primitive; start ARTIM timer', next: 'Sta2' },
  'AE-6': {
    description:
      'Stop ARTIM timer and if A-ASSOCIATE-RQ acceptable by service-provider: issue A-ASSOCIATE indication primitive ' +
      '(next state is Sta3); otherwise: issue A-ASSOCIATE-RJ-PDU and start ARTIM timer (next state is Sta13)',
    next: ['Sta3', 'Sta13'],
  },
  'AE-7': { description: 'Send A-ASSOCIATE-AC PDU', next: 'Sta6' },
  'AE-8': { description: 'Send A-ASSOCIATE-RJ PDU and start ARTIM timer', next: 'Sta13' },
  // Table 9-7, Data Transfer Related Actions
  'DT-1': { description: 'Send P-DATA-TF PDU', next: 'Sta6' },
  'DT-2': { description: 'Send P-DATA indication primitive', next: 'Sta6' },
  // Table 9-8, Association Release Related Actions
  'AR-1': { description: 'Send A-RELEASE-RQ PDU', next: 'Sta7' },
  'AR-2': { description: 'Issue A-RELEASE indication primitive', next: 'Sta8' },
  'AR-3': { description: 'Issue A-RELEASE confirmation primitive, and close transport connection', next: 'Sta1' },
  'AR-4': { description: 'Issue A-RELEASE-RP PDU and start ARTIM timer', next: 'Sta13' },
  'AR-5': { description: 'Stop ARTIM timer', next: 'Sta1' },
  'AR-6': { description: 'Issue P-DATA indication', next: 'Sta7' },
  'AR-7': { description: 'Issue P-DATA-TF PDU', next: 'Sta8' },
  'AR-8': {
    description: 'Issue A-RELEASE indication (release collision): if association-requestor, next state is Sta9; if not, Sta10',
    next: ['Sta9', 'Sta10'],
  },
  'AR-9': { description: 'Send A-RELEASE-RP PDU', next: 'Sta11' },
  'AR-10': { description: 'Issue A-RELEASE confirmation primitive', next: 'Sta12' },
  // Table 9-9, Association Abort Related Actions
  'AA-1': { description: 'Send A-ABORT PDU (service-user source) and start (or restart if already started) ARTIM timer', next: 'Sta13' },
  'AA-2': { description: 'Stop ARTIM timer if running. Close transport connection', next: 'Sta1' },
  'AA-3': {
    description:
      'If (service-user initiated abort): issue A-ABORT indication and close transport connection; ' +
      'otherwise (service-provider initiated abort): issue A-P-ABORT indication and close transport connection',
    next: 'Sta1',
  },
  'AA-4': { description: 'Issue A-P-ABORT indication primitive', next: 'Sta1' },
  'AA-5': { description: 'Stop ARTIM timer', next: 'Sta1' },
  'AA-6': { description: 'Ignore PDU', next: 'Sta13' },
  'AA-7': { description: 'Send A-ABORT PDU', next: 'Sta13' },
  'AA-8': {
    description: 'Send A-ABORT PDU (service-provider source), issue an A-P-ABORT indication, and start ARTIM timer',
    next: 'Sta13',
  },
} as const satisfies Record<string, { description: string; next: StateName | readonly StateName[] }>;
/** An action of PS3.8 Table 9-10 (AE-1, DT-2, AR-8, AA-3...). */
export type ActionName = keyof typeof ACTIONS;

/**
 * PS3.8 Table 9-10, read column by column: the action for each (state, event) pair that has one.
 * 123 cells: Sta1 2, Sta2 10, Sta3 12, Sta4 3, Sta5 10, Sta6 12, Sta7 10, Sta8 12, Sta9 11, Sta10 10, Sta11 10, Sta12 11, Sta13 10.
 */
export const STATE_TABLE: Readonly<Record<StateName, Partial<Record<EventName, ActionName>>>> = {
  Sta1: { Evt1: 'AE-1', Evt5: 'AE-5' },
  Sta2: {
    Evt3: 'AA-1',
    Evt4: 'AA-1',
    Evt6: 'AE-6',
    Evt10: 'AA-1',
    Evt12: 'AA-1',
    Evt13: 'AA-1',
    Evt16: 'AA-2',
    Evt17: 'AA-5',
    Evt18: 'AA-2',
    Evt19: 'AA-1',
  },
  Sta3: {
    Evt3: 'AA-8',
    Evt4: 'AA-8',
    Evt6: 'AA-8',
    Evt7: 'AE-7',
    Evt8: 'AE-8',
    Evt10: 'AA-8',
    Evt12: 'AA-8',
    Evt13: 'AA-8',
    Evt15: 'AA-1',
    Evt16: 'AA-3',
    Evt17: 'AA-4',
    Evt19: 'AA-8',
  },
  Sta4: { Evt2: 'AE-2', Evt15: 'AA-2', Evt17: 'AA-4' },
  Sta5: {
    Evt3: 'AE-3',
    Evt4: 'AE-4',
    Evt6: 'AA-8',
    Evt10: 'AA-8',
    Evt12: 'AA-8',
    Evt13: 'AA-8',
    Evt15: 'AA-1',
    Evt16: 'AA-3',
    Evt17: 'AA-4',
    Evt19: 'AA-8',
  },
  Sta6: {
    Evt3: 'AA-8',
    Evt4: 'AA-8',
    Evt6: 'AA-8',
    Evt9: 'DT-1',
    Evt10: 'DT-2',
    Evt11: 'AR-1',
    Evt12: 'AR-2',
    Evt13: 'AA-8',
    Evt15: 'AA-1',
    Evt16: 'AA-3',
    Evt17: 'AA-4',
    Evt19: 'AA-8',
  },
  Sta7: {
    Evt3: 'AA-8',
    Evt4: 'AA-8',
    Evt6: 'AA-8',
    Evt10: 'AR-6',
    Evt12: 'AR-8',
    Evt13: 'AR-3',
    Evt15: 'AA-1',
    Evt16: 'AA-3',
    Evt17: 'AA-4',
    Evt19: 'AA-8',
  },
  Sta8: {
    Evt3: 'AA-8',
    Evt4: 'AA-8',
    Evt6: 'AA-8',
    Evt9: 'AR-7',
    Evt10: 'AA-8',
    Evt12: 'AA-8',
    Evt13: 'AA-8',
    Evt14: 'AR-4',
    Evt15: 'AA-1',
    Evt16: 'AA-3',
    Evt17: 'AA-4',
    Evt19: 'AA-8',
  },
  Sta9: {
    Evt3: 'AA-8',
    Evt4: 'AA-8',
    Evt6: 'AA-8',
    Evt10: 'AA-8',
    Evt12: 'AA-8',
    Evt13: 'AA-8',
    Evt14: 'AR-9',
    Evt15: 'AA-1',
    Evt16: 'AA-3',
    Evt17: 'AA-4',
    Evt19: 'AA-8',
  },
  Sta10: {
    Evt3: 'AA-8',
    Evt4: 'AA-8',
    Evt6: 'AA-8',
    Evt10: 'AA-8',
    Evt12: 'AA-8',
    Evt13: 'AR-10',
    Evt15: 'AA-1',
    Evt16: 'AA-3',
    Evt17: 'AA-4',
    Evt19: 'AA-8',
  },
  Sta11: {
    Evt3: 'AA-8',
    Evt4: 'AA-8',
    Evt6: 'AA-8',
    Evt10: 'AA-8',
    Evt12: 'AA-8',
    Evt13: 'AR-3',
    Evt15: 'AA-1',
    Evt16: 'AA-3',
    Evt17: 'AA-4',
    Evt19: 'AA-8',
  },
  Sta12: {
    Evt3: 'AA-8',
    Evt4: 'AA-8',
    Evt6: 'AA-8',
    Evt10: 'AA-8',
    Evt12: 'AA-8',
    Evt13: 'AA-8',
    Evt14: 'AR-4',
    Evt15: 'AA-1',
    Evt16: 'AA-3',
    Evt17: 'AA-4',
    Evt19: 'AA-8',
  },
  Sta13: {
    Evt3: 'AA-6',
    Evt4: 'AA-6',
    Evt6: 'AA-7',
    Evt10: 'AA-6',
    Evt12: 'AA-6',
    Evt13: 'AA-6',
    Evt16: 'AA-2',
    Evt17: 'AR-5',
    Evt18: 'AA-2',
    Evt19: 'AA-7',
  },
};
