// vigil dashboard: table filter/sort, charts (Plotly, served locally), live agent series, job runs.
"use strict";
(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const enc = encodeURIComponent;
  const COLORS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"];
  const LAYOUT = {margin: {l: 50, r: 20, t: 30, b: 40}, hovermode: "closest", legend: {orientation: "h"}};
  const CONFIG = {responsive: true, displaylogo: false};

  async function getJSON(url, options) {
    const r = await fetch(url, Object.assign({credentials: "same-origin"}, options || {}));
    const body = await r.json().catch(() => ({}));
    if (!r.ok) { throw new Error(typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail || r.status)); }
    return body;
  }
  function showError(el, err) { el.innerHTML = ""; const p = document.createElement("p"); p.className = "error"; p.textContent = String(err.message || err); el.appendChild(p); }

  // -- tables: client-side filter and sort ------------------------------------------------------
  $$("input[data-filter]").forEach((input) => {
    const table = $(input.dataset.filter);
    if (!table) return;
    input.addEventListener("input", () => {
      const q = input.value.trim().toLowerCase();
      $$("tbody tr", table).forEach((tr) => { tr.hidden = q !== "" && !tr.textContent.toLowerCase().includes(q); });
    });
    if (input.form) input.form.addEventListener("submit", (e) => { if (table) e.preventDefault(); });
  });
  $$("table th[data-sort]").forEach((th) => {
    th.classList.add("sortable-header");
    th.addEventListener("click", () => {
      const table = th.closest("table"), tbody = $("tbody", table);
      const idx = Array.from(th.parentNode.children).indexOf(th);
      const asc = th.dataset.dir !== "asc";
      $$("th", th.parentNode).forEach((h) => delete h.dataset.dir);
      th.dataset.dir = asc ? "asc" : "desc";
      const num = th.dataset.sort === "num";
      const key = (tr) => {
        const cell = tr.children[idx]; if (!cell) return num ? -Infinity : "";
        const raw = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.trim();
        if (!num) return raw.toLowerCase();
        const v = parseFloat(raw); return isNaN(v) ? -Infinity : v;
      };
      const rows = $$("tr", tbody).filter((tr) => !tr.classList.contains("empty"));
      rows.sort((a, b) => { const x = key(a), y = key(b); return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1); });
      rows.forEach((tr) => tbody.appendChild(tr));
    });
  });
  $$("select[data-autosubmit]").forEach((s) => s.addEventListener("change", () => s.form.submit()));

  // -- metric curves (experiment page and compare page) ----------------------------------------
  async function drawMetric(div, key) {
    const runs = div.dataset.runs;
    const url = "/api/v1/ui/metric-series?experiment=" + enc(div.dataset.experiment) + "&key=" + enc(key) + (runs ? "&runs=" + enc(runs) : "");
    try {
      const data = await getJSON(url);
      const traces = [];
      const time = data.x_axis === "time";
      data.runs.forEach((s) => { if (time) s.x = s.x.map((v) => new Date(v * 1000).toISOString()); });
      data.runs.forEach((s, i) => {
        const color = COLORS[i % COLORS.length];
        if (s.downsampled) {
          traces.push({x: s.x, y: s.max, mode: "lines", line: {width: 0}, hoverinfo: "skip", showlegend: false, name: "run " + s.run + " max"});
          traces.push({x: s.x, y: s.min, mode: "lines", line: {width: 0}, fill: "tonexty", fillcolor: color + "33", hoverinfo: "skip", showlegend: false, name: "run " + s.run + " min"});
        }
        traces.push({x: s.x, y: s.mean, mode: s.x.length > 1 ? "lines" : "markers", name: "run " + s.run, line: {color: color}, marker: {color: color}});
      });
      const shown = traces.filter((t) => t.showlegend !== false);
      await Plotly.react(div, traces, Object.assign({}, LAYOUT, {title: {text: key, font: {size: 14}}, xaxis: {title: {text: time ? "time (UTC)" : "step"}}}), CONFIG);
      div.dataset.traces = String(shown.length);
    } catch (err) { showError(div, err); }
  }
  const metricSelect = $("#metric");
  ["#metric-chart", "#compare-chart"].forEach((sel) => {
    const div = $(sel);
    if (!div || !metricSelect) return;
    drawMetric(div, metricSelect.value);
    metricSelect.addEventListener("change", () => drawMetric(div, metricSelect.value));
  });

  // -- run selection -> compare -----------------------------------------------------------------
  const compare = $("#compare");
  if (compare) {
    const chosen = [];
    $$("input.run-select").forEach((box) => box.addEventListener("change", () => {
      const i = chosen.indexOf(box.value);
      if (box.checked && i < 0) chosen.push(box.value);
      if (!box.checked && i >= 0) chosen.splice(i, 1);
      compare.disabled = chosen.length < 2;
      const chart = $("#metric-chart");
      if (chart && metricSelect) { chart.dataset.runs = chosen.join(","); drawMetric(chart, metricSelect.value); }
    }));
    compare.addEventListener("click", () => {
      if (chosen.length >= 2) window.location = "/compare?experiment=" + enc(compare.dataset.experiment) + "&runs=" + chosen.join(",");
    });
  }

  // -- drift: snapshot timeline and distribution overlays ---------------------------------------
  const timeline = $("#timeline");
  if (timeline) {
    const snaps = JSON.parse(timeline.dataset.snapshots || "[]");
    const caps = JSON.parse(timeline.dataset.captures || "[]");
    const t = (s) => new Date(s * 1000).toISOString();
    const traces = [{x: snaps.map((s) => t(s.dt)), y: snaps.map((s) => s.rows), mode: "markers+lines", name: "snapshot rows",
                     text: snaps.map((s, i) => "snapshot " + i + (s.label ? " (" + s.label + ")" : "")), marker: {size: 9, color: COLORS[0]}}];
    if (caps.length) {
      traces.push({x: caps.map((c) => t(c.dt)), y: caps.map((c) => c.p_value), yaxis: "y2", mode: "markers", name: "captured comparison (Simes p)",
                   marker: {size: 11, symbol: caps.map((c) => c.drift ? "x" : "circle"), color: caps.map((c) => c.drift ? "#c44e52" : "#55a868")},
                   text: caps.map((c) => c.drift ? "drift: " + (c.drifted_columns || []).join(", ") : "no drift")});
    }
    Plotly.newPlot(timeline, traces, Object.assign({}, LAYOUT, {yaxis: {title: {text: "rows"}}, yaxis2: {title: {text: "p"}, overlaying: "y", side: "right", type: "log"}}), CONFIG);
  }
  const driftTable = $("#drift-columns");
  if (driftTable) {
    const dist = $("#dist-chart");
    const show = async (tr) => {
      $$("tr.selected", driftTable).forEach((r) => r.classList.remove("selected"));
      tr.classList.add("selected");
      const col = tr.dataset.column;
      try {
        const d = await getJSON("/api/v1/ui/distribution?name=" + enc(driftTable.dataset.monitor) + "&column=" + enc(col) + "&i=" + driftTable.dataset.i + "&j=" + driftTable.dataset.j);
        await Plotly.react(dist, [
          {x: d.labels, y: d.baseline, type: "bar", name: "baseline (snapshot " + d.pair[0] + ")", marker: {color: COLORS[0]}, opacity: 0.6},
          {x: d.labels, y: d.current, type: "bar", name: "current (snapshot " + d.pair[1] + ")", marker: {color: COLORS[1]}, opacity: 0.6},
        ], Object.assign({}, LAYOUT, {barmode: "overlay", title: {text: col + " (" + d.kind + "): share per " + (d.kind === "numeric" ? "bin" : "category"), font: {size: 14}},
                                      xaxis: {type: "category"}, yaxis: {title: {text: "share"}, tickformat: ".0%"}}), CONFIG);
      } catch (err) { showError(dist, err); }
    };
    $$("tbody tr[data-column]", driftTable).forEach((tr) => tr.addEventListener("click", () => show(tr)));
    const first = $("tbody tr.drift", driftTable) || $("tbody tr[data-column]", driftTable);
    if (first) show(first);
  }

  // -- agents: live series, several agents overlaid, anomalies marked -----------------------------
  const agentChart = $("#agent-chart");
  if (agentChart) {
    const select = $("#agent-metric");
    const selected = () => $$("input.agent-select:checked").map((b) => b.value);
    const label = (s) => [s.metric, s.stat, s.class !== null && s.class !== undefined ? "class " + s.class : null, s.feature, s.category].filter((v) => v !== null && v !== undefined).join(" · ");
    const params = (s) => ["stat", "class", "feature", "category"].filter((k) => s[k] !== null && s[k] !== undefined).map((k) => "&" + (k === "class" ? "cls" : k) + "=" + enc(s[k])).join("");
    let series = [];
    async function loadMetrics() {
      const agents = $$("input.agent-select").map((b) => b.value);
      const seen = new Map();
      for (const a of agents.slice(0, 5)) {
        try { (await getJSON("/api/v1/ui/agent-metrics?agent=" + enc(a))).series.forEach((s) => { if (!seen.has(label(s))) seen.set(label(s), s); }); } catch (err) { /* an agent without windows */ }
      }
      series = Array.from(seen.values());
      const preferred = ["pred1 · mean", "accuracy", "estimated_accuracy"];
      select.innerHTML = "";
      series.forEach((s, i) => { const o = document.createElement("option"); o.value = String(i); o.textContent = label(s); select.appendChild(o); });
      const pick = series.findIndex((s) => preferred.includes(label(s)));
      if (pick >= 0) select.value = String(pick);
    }
    async function refresh() {
      const s = series[Number(select.value)];
      const agents = selected();
      if (!s || !agents.length) { Plotly.react(agentChart, [], LAYOUT, CONFIG); return; }
      try {
        const data = await getJSON("/api/v1/series?metric=" + enc(s.metric) + "&agents=" + agents.map(enc).join(",") + params(s));
        const traces = data.series.map((ser, i) => ({x: ser.points.map((p) => new Date(p.t * 1000).toISOString()), y: ser.points.map((p) => p.value),
                                                     mode: "lines+markers", name: "agent " + ser.agent_id, line: {color: COLORS[i % COLORS.length]}}));
        const rows = [];
        for (const a of agents) {
          const al = await getJSON("/api/v1/agents/" + enc(a) + "/alerts?limit=500");
          al.alerts.forEach((x) => rows.push(Object.assign({agent: a}, x)));
          const hits = al.alerts.filter((x) => x.labels && x.labels.metric === s.metric && ["stat", "class", "feature", "category"].every((k) => (x.labels[k] === undefined ? null : x.labels[k]) === (s[k] === null || s[k] === undefined ? null : String(s[k]))));
          if (hits.length) traces.push({x: hits.map((h) => new Date(h.details.window_end * 1000).toISOString()), y: hits.map((h) => h.details.value), mode: "markers", name: "anomaly (" + a + ")",
                                        marker: {color: "#c44e52", size: 13, symbol: "x"}, text: hits.map((h) => h.summary)});
        }
        await Plotly.react(agentChart, traces, Object.assign({}, LAYOUT, {title: {text: label(s), font: {size: 14}}}), CONFIG);
        const tbody = $("#agent-alerts tbody");
        tbody.innerHTML = "";
        rows.sort((a, b) => b.fired_at - a.fired_at).slice(0, 20).forEach((x) => {
          const tr = document.createElement("tr");
          [new Date(x.fired_at * 1000).toISOString().replace("T", " ").slice(0, 19), x.agent, x.severity, x.summary].forEach((v) => { const td = document.createElement("td"); td.textContent = v; tr.appendChild(td); });
          tbody.appendChild(tr);
        });
        $("#last-refresh").textContent = new Date().toISOString().replace("T", " ").slice(0, 19) + " UTC";
      } catch (err) { showError(agentChart, err); }
    }
    const every = Math.max(0.5, parseFloat(agentChart.dataset.refreshS || "5")) * 1000;
    loadMetrics().then(refresh);
    select.addEventListener("change", refresh);
    $$("input.agent-select").forEach((b) => b.addEventListener("change", refresh));
    setInterval(() => { if ($("#auto-refresh").checked && !document.hidden) refresh(); }, every);
  }

  // -- jobs: run now ------------------------------------------------------------------------------
  $$("button.run-now").forEach((button) => button.addEventListener("click", async () => {
    const status = $("#job-status");
    const name = button.dataset.job;
    button.disabled = true;
    status.textContent = "running " + name + " ...";
    try {
      const r = await getJSON("/api/v1/ui/jobs/run?name=" + enc(name), {method: "POST", headers: {"X-Vigil-CSRF": "1"}});
      status.textContent = name + ": " + r.status + (r.error ? " (" + r.error + ")" : "") + " in " + r.duration_s.toFixed(2) + " s";
      status.className = "status " + r.status;
      setTimeout(() => { window.location = "/jobs?name=" + enc(name); }, 1200);
    } catch (err) { status.textContent = name + ": failed to start: " + err.message; status.className = "status failed"; }
    button.disabled = false;
  }));
})();
