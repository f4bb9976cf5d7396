// Charts on uPlot (vendored, loaded as the global `uPlot` before the page's modules run).

import { colour, count, date, decimal } from "./dom.js";

const charts = new Map(); // container element -> its uPlot
const HEIGHT = 200;

const resizer = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const chart = charts.get(entry.target);
    const width = Math.floor(entry.contentRect.width);
    if (chart && width > 0 && width !== chart.width) chart.setSize({ width, height: chart.height });
  }
});

function draw(el, options, data) {
  charts.get(el)?.destroy();
  el.replaceChildren();
  const width = Math.max(el.clientWidth, 280);
  const chart = new uPlot({ width, height: HEIGHT, ...options }, data, el);
  charts.set(el, chart);
  resizer.observe(el);
  return chart;
}

const utc = (seconds) => uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC");

/** Events per time bin, one series per event type (bars when there is one series). */
export function histogramChart(el, histogram, summaryLabel) {
  const single = histogram.series.length === 1;
  const series = histogram.series.map((s, n) => ({
    label: s.name,
    stroke: colour(n),
    fill: single ? `${colour(n)}99` : undefined,
    width: single ? 0 : 1.5,
    paths: single
      ? uPlot.paths.bars({ size: [0.9, 40], align: 1 })
      : uPlot.paths.stepped({ align: 1 }),
    points: { show: false },
    value: (u, v) => (v === null ? "–" : count(v)),
  }));
  const total = histogram.series.reduce((sum, s) => sum + s.counts.reduce((a, b) => a + b, 0), 0);
  el.setAttribute(
    "aria-label",
    `${summaryLabel}: ${count(total)} events in ${histogram.x.length} ${histogram.unit}s` +
      ` from ${date(histogram.x[0])} to ${date(histogram.x[histogram.x.length - 1])}`,
  );
  const bins = { label: histogram.unit, value: (u, v) => (v === null ? "–" : date(v)) };
  return draw(
    el,
    {
      tzDate: utc,
      scales: { x: { time: true } },
      series: [bins, ...series],
      axes: [{}, { label: `events per ${histogram.unit}`, size: 60 }],
    },
    [histogram.x, ...histogram.series.map((s) => s.counts)],
  );
}

/** The training curve: loss per epoch (left axis) and a validation metric (right axis). */
export function curveChart(el, curve) {
  const metric = pickMetric(curve);
  const epochs = curve.map((row) => row.epoch);
  const loss = curve.map((row) => row.loss);
  const valid = curve.map((row) => (metric ? (row.valid[metric] ?? null) : null));
  const last = curve[curve.length - 1];
  el.setAttribute(
    "aria-label",
    `Training curve over ${curve.length} epochs; last loss ${decimal(last?.loss, 3)}` +
      (metric ? `, last validation ${metric} ${decimal(last?.valid?.[metric], 4)}` : ""),
  );
  const points = { show: curve.length < 40, size: 6 };
  return draw(
    el,
    {
      scales: { x: { time: false }, metric: {} },
      series: [
        { label: "epoch" },
        { label: "loss", stroke: colour(0), width: 2, points, value: (u, v) => decimal(v, 3) },
        {
          label: `validation ${metric || ""}`,
          stroke: colour(1),
          width: 2,
          scale: "metric",
          points,
          value: (u, v) => decimal(v, 4),
        },
      ],
      axes: [
        { label: "epoch", incrs: [1, 2, 5, 10, 20, 50, 100] },
        { label: "loss", size: 55 },
        { label: metric || "", side: 1, scale: "metric", size: 60, grid: { show: false } },
      ],
    },
    [epochs, loss, valid],
  );
}

function pickMetric(curve) {
  const keys = Object.keys(curve.find((row) => Object.keys(row.valid).length)?.valid || {});
  return keys.includes("NDCG@10") ? "NDCG@10" : keys[0] || null;
}

/** Lines over positions 1..n (e.g. interest weights over a history); `names` label the x values. */
export function linesChart(el, rows, seriesNames, names, yLabel) {
  const xs = rows.map((_, n) => n + 1);
  const columns = seriesNames.map((_, j) => rows.map((row) => row[j]));
  return draw(
    el,
    {
      scales: { x: { time: false } },
      series: [
        { label: "event", value: (u, v) => (v === null ? "–" : `${v}: ${names[v - 1] ?? ""}`) },
        ...seriesNames.map((name, j) => ({
          label: name,
          stroke: colour(j),
          width: 2,
          points: { show: rows.length < 60, size: 5 },
          value: (u, v) => decimal(v, 3),
        })),
      ],
      axes: [{ label: "event in the history (oldest first)" }, { label: yLabel, size: 55 }],
    },
    [xs, ...columns],
  );
}
