// Node and path states for the topology: the truth from the daemon, in three words.
import { DecisionItem, InstanceItem, PathItem } from './api';

export type State = 'up' | 'degraded' | 'down' | 'unknown';

// A path is degraded when it is up but the selector keeps it out of some decision for a
// reason other than being down (an SLA bound), when it loses probes, or while flap
// damping holds it.
export function pathState(p: PathItem | undefined, decisions: DecisionItem[]): State {
  if (!p) return 'unknown';
  if (p.state === 'down') return 'down';
  if (p.state !== 'up') return 'unknown';
  const sla = decisions.some(
    (d) => d.wan === p.wan && d.vcpe === p.vcpe && d.excluded && d.excluded !== 'none' && d.health === 'ok',
  );
  if (sla || (p.loss_pct ?? 0) >= 1 || (p.held_ms ?? null) !== null) return 'degraded';
  return 'up';
}

// A WAN or vCPE: up when all its paths are, down when none is, degraded in between.
export function combine(states: State[]): State {
  if (!states.length) return 'unknown';
  if (states.every((s) => s === 'up')) return 'up';
  if (states.every((s) => s === 'down')) return 'down';
  if (states.every((s) => s === 'unknown')) return 'unknown';
  return states.some((s) => s === 'up' || s === 'degraded') ? 'degraded' : 'down';
}

export const instanceState = (i: InstanceItem): State => (i.available ? 'up' : 'down');

export const unique = <T,>(xs: T[]) => [...new Set(xs)];
