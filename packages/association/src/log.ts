import createDebug from 'debug';

/** Silent unless DEBUG names them: `DEBUG=dimse-rx:*`. */
export const log = {
  fsm: createDebug('dimse-rx:fsm'),
  pdu: createDebug('dimse-rx:pdu'),
  net: createDebug('dimse-rx:net'),
};
