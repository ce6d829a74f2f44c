// The `weights` event that cpe/steering.cpp writes for each publication of a service's
// weights: "<outcome>: <reason>; weights <key>=<w> <key>=<w> ..." with the candidates that
// have a weight, each key "vcpe/instance address/wan" (select.cpp candidate_key).

export interface Publication {
  outcome: string;
  reason: string;
  weights: Map<string, number>; // candidate key -> weight (0..1000), only those with one
  active: string[]; // the keys, sorted
}

export function parseWeights(detail: string): Publication | null {
  const at = detail.lastIndexOf('; weights');
  const colon = detail.indexOf(': ');
  if (at < 0 || colon < 0 || colon > at) return null;
  const weights = new Map<string, number>();
  for (const kv of detail.slice(at + '; weights'.length).trim().split(/\s+/).filter(Boolean)) {
    const eq = kv.lastIndexOf('=');
    const w = Number(kv.slice(eq + 1));
    if (eq <= 0 || !Number.isFinite(w)) return null;
    weights.set(kv.slice(0, eq), w);
  }
  return { outcome: detail.slice(0, colon), reason: detail.slice(colon + 2, at), weights, active: [...weights.keys()].sort() };
}

// One colour per candidate, by its place among the service's candidates (the Services
// page's bar, table swatches and weights chart alike); the text always names it too.
const kColours = ['#2563eb', '#7c3aed', '#0d9488', '#d97706', '#db2777', '#4b5563', '#65a30d', '#0891b2'];
export const colourAt = (i: number) => kColours[i % kColours.length];
