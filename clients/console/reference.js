// The deployment's counties and agencies (reference.json beside the
// console's files), offered as suggestions in the forms: the daemon's tables
// decide what exists. SLOT: an API listing regions and agencies would
// replace the file.

import { get } from './api.js';
import { h } from './ui.js';

let reference = null;

// The lists, fetched once; empty when the file is missing.
export async function loadReference() {
  if (!reference) {
    try {
      reference = await get('/console/reference.json');
    } catch (e) {
      reference = { regions: [], agencies: [] };
    }
  }
  return reference;
}

// A <datalist> of one list ("regions" or "agencies"), filled when loaded.
export function datalist(id, kind) {
  const dl = h('datalist', { id });
  loadReference().then((ref) => {
    for (const r of ref[kind] || []) dl.append(h('option', { value: r.code }, r.name));
  });
  return dl;
}
