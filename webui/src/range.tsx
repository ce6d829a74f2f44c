// The time range picker of the chart pages: live (the last 5 min, then what arrives),
// 15 min, 1 h, 24 h up to now, or a custom [from, to] (history only, nothing live added).
import { useState } from 'preact/hooks';

export interface Range {
  id: 'live' | '15m' | '1h' | '24h' | 'custom';
  label: string;
  ms: number; // the span up to now; for custom, to - from
  from?: number; // custom only, unix ms
  to?: number;
}

export const kRanges: Range[] = [
  { id: 'live', label: 'Live (5 min)', ms: 5 * 60_000 },
  { id: '15m', label: '15 min', ms: 15 * 60_000 },
  { id: '1h', label: '1 h', ms: 60 * 60_000 },
  { id: '24h', label: '24 h', ms: 24 * 60 * 60_000 },
];

// [from, to] as of `now`; `live`: what arrives now belongs to the range.
export function span(r: Range, now = Date.now()): { from: number; to: number; live: boolean } {
  return r.id === 'custom' ? { from: r.from!, to: r.to!, live: false } : { from: now - r.ms, to: now, live: true };
}
// Changes when the range does (an effect's dependency).
export const rangeKey = (r: Range) => (r.id === 'custom' ? `custom:${r.from}-${r.to}` : r.id);

// A datetime-local input's value for unix ms, in the browser's time zone.
export const localInput = (ms: number) => new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 16);

export function RangePicker(props: { id: string; value: Range; onChange: (r: Range) => void; note?: string }) {
  const [open, setOpen] = useState(false);
  const [from, setFrom] = useState(localInput(Date.now() - 3600_000));
  const [to, setTo] = useState(localInput(Date.now()));
  const [error, setError] = useState<string | null>(null);
  const custom = props.value.id === 'custom';
  const show = (e: Event) => {
    e.preventDefault();
    const f = new Date(from).getTime();
    const t = new Date(to).getTime();
    if (!Number.isFinite(f) || !Number.isFinite(t)) return setError('enter both times');
    if (f >= t) return setError('must be before "To"');
    setError(null);
    props.onChange({ id: 'custom', label: 'custom', ms: t - f, from: f, to: t });
  };
  const fid = `${props.id}-from`;
  return (
    <div class="rangepicker">
      <div class="toolbar" role="group" aria-label="Time range">
        {kRanges.map((r) => (
          <button type="button" class={r.id === props.value.id ? 'on' : ''} aria-pressed={r.id === props.value.id}
                  onClick={() => { setOpen(false); props.onChange(r); }}>{r.label}</button>
        ))}
        <button type="button" class={custom ? 'on' : ''} aria-pressed={custom} aria-expanded={open}
                data-testid={`${props.id}-custom`} onClick={() => setOpen(!open)}>Custom</button>
        {props.note && <span class="muted">{props.note}</span>}
      </div>
      {open && (
        <form class="toolbar filters" aria-label="Custom time range" onSubmit={show}>
          <div>
            <label for={fid}>From</label>
            <input id={fid} type="datetime-local" value={from} onInput={(e) => setFrom((e.target as HTMLInputElement).value)}
                   {...(error ? { 'aria-invalid': 'true' as const, 'aria-describedby': `${fid}-error` } : {})} />
            {error && <p class="error" id={`${fid}-error`} role="alert">{error}</p>}
          </div>
          <div>
            <label for={`${props.id}-to`}>To</label>
            <input id={`${props.id}-to`} type="datetime-local" value={to} onInput={(e) => setTo((e.target as HTMLInputElement).value)} />
          </div>
          <div><span aria-hidden="true">&nbsp;</span><button type="submit" data-testid={`${props.id}-show`}>Show</button></div>
        </form>
      )}
    </div>
  );
}
