// A small uPlot time series. uPlot styles its elements through the CSSOM (el.style.x = ...),
// which the CSP's style-src 'self' allows; its stylesheet comes with ours.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Series {
  label: string;
  unit: string;
  stroke: string;
  fill?: string; // the area down to 0 (a stacked chart: cumulative series, top one first)
  step?: boolean; // a value holds until the next point (published weights)
  value?: (index: number) => string; // the legend's value at a point, if not the plotted one
}

export function Chart(props: { id: string; title: string; series: Series[]; data: uPlot.AlignedData; height?: number;
                               yMax?: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef(props);
  latest.current = props;

  useEffect(() => {
    const el = box.current!;
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: props.height ?? 140,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, ...(props.yMax ? { y: { range: [0, props.yMax] as uPlot.Range.MinMax } } : {}) },
      axes: [{}, { size: 50, values: (_u, vals) => vals.map((v) => `${+v.toFixed(2)}${props.series[0].unit}`) }],
      series: [{}, ...props.series.map((s, i): uPlot.Series => ({
        label: s.label, stroke: s.stroke, width: 1.5, spanGaps: false,
        ...(s.fill ? { fill: s.fill } : {}),
        ...(s.step ? { paths: uPlot.paths.stepped!({ align: 1 }) } : {}),
        // Read at hover time from the newest props: the data changes without a remount.
        ...(s.value ? { value: (_u: uPlot, v: number | null, _s: number, idx: number | null) =>
          (idx === null || v === null ? '–' : latest.current.series[i]?.value?.(idx) ?? String(v)) } : {}),
      }))],
    };
    const u = new uPlot(opts, props.data, el);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height: opts.height }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [props.id]);

  useEffect(() => {
    plot.current?.setData(props.data);
  }, [props.data]);

  const n = props.data[0]?.length ?? 0;
  // The newest point of the first series (for the browser test: what the chart shows now).
  const ys = props.data[1] as (number | null | undefined)[] | undefined;
  const last = n && ys ? ys[n - 1] : null;
  // ... and its oldest point's time (history read back: older than the page).
  return (
    <figure class="chart" data-chart={props.id} data-points={n} data-last={last ?? undefined}
            data-first-t={n ? props.data[0][0] : undefined} data-last-t={n ? props.data[0][n - 1] : undefined}>
      <figcaption>{props.title}</figcaption>
      <div ref={box} />
    </figure>
  );
}
