// A sparkline: an SVG polyline over the last values (no chart library; attributes only,
// nothing the CSP would refuse). Gaps (null) break the line.
export function Spark(props: { values: (number | null)[]; label: string; min?: number; max?: number }) {
  const w = 120, h = 28;
  const xs = props.values;
  const nums = xs.filter((v): v is number => v !== null && Number.isFinite(v));
  const lo = props.min ?? Math.min(...nums, 0);
  let hi = props.max ?? Math.max(...nums, lo + 1e-9);
  if (hi <= lo) hi = lo + 1;
  let d = '';
  let pen = false;
  xs.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) {
      pen = false;
      return;
    }
    const x = xs.length > 1 ? (i * w) / (xs.length - 1) : w;
    const y = h - 2 - ((v - lo) / (hi - lo)) * (h - 4);
    d += `${pen ? 'L' : 'M'}${x.toFixed(1)} ${y.toFixed(1)}`;
    pen = true;
  });
  return (
    <svg class="spark" viewBox={`0 0 ${w} ${h}`} width={w} height={h} role="img" aria-label={`${props.label}: ${nums.length} points`}
         data-points={nums.length} data-series={props.label}>
      <path d={d} />
    </svg>
  );
}
