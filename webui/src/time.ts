// Times as the appliance shows them: local time, 24-hour, zero-padded ("14:03:07",
// "2026-12-02 14:03:07"), as syslog and router CLIs print them: sortable and the same on
// every operator's browser. Not Intl / toLocale*: a page's first locale format loads the
// ICU locale data, 65-90 ms on the lab's machine, on the overview's path to its first
// data render (docs/BENCHMARKS.md "Web UI first load").
const two = (n: number) => String(n).padStart(2, '0');

export function clock(ms: number): string {
  const d = new Date(ms);
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

export function dateTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${clock(ms)}`;
}
