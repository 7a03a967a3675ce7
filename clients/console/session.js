// Who the browser's certificate is. The API has no "who am I" endpoint, so
// the console asks what it may read: a queue answers only an agency, the
// access-request list an agency or an administrator, the supervision list a
// procuratorate. Everyone else is taken for an operator's seat (a gateway
// has nothing to do here; the daemon refuses what it may not do anyway).
// SLOT: a GET /v1/me (role, agency, approver) would replace these probes.

import { ApiError, get } from './api.js';

export const me = {
  role: null,           // "agency", "admin" or "operator"
  agency: null,         // the agency's code, once an assignment showed it
  procuratorate: false, // may read the supervision list
};

// Note the agency's code from assignments it was given.
export function learnAgency(assignments) {
  if (me.role === 'agency' && !me.agency) {
    const a = (assignments || []).find((x) => x.agency);
    if (a) {
      me.agency = a.agency;
      window.dispatchEvent(new Event('console:agency'));
    }
  }
}

// Whether a probe was refused for the client's role (403 forbidden).
function refused(e) {
  return e instanceof ApiError && e.status === 403 && e.code === 'forbidden';
}

// Find out the role; throws the ApiError of a certificate the daemon refuses.
export async function whoami() {
  try {
    const q = await get('/v1/queue?limit=1');
    me.role = 'agency';
    learnAgency(q.assignments);
    try {
      await get('/v1/supervision/overdue');
      me.procuratorate = true;
    } catch (e) {
      if (!refused(e)) throw e;
    }
    return me;
  } catch (e) {
    if (!refused(e)) throw e;
  }
  try {
    await get('/v1/access-requests?state=pending');
    me.role = 'admin';
  } catch (e) {
    if (!refused(e)) throw e;
    me.role = 'operator';
  }
  return me;
}
