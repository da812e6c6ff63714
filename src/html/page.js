// pointlime report: the table, the cards and a WebGL point viewer, hand-written, no library.
// The data comes from the page itself: a JSON block (#pl-data) and one `PL.scan(i, header,
// base64)` call per scan, inline or in a script file beside the page (`--assets`), which is
// loaded when its view opens (browsers refuse `fetch` on file:// pages; a script tag is allowed).
// The binary layout of a scan is written by src/html/scan.rs; the colour table comes from the
// library's colour maps, so the page shows each value in the viewer's colour.
"use strict";

const PL = (() => {
  const scans = {};
  const waiting = {};
  const errors = [];
  let data = null;
  let lut = null;

  function noteError(message) {
    errors.push(String(message));
    document.body.dataset.errors = String(errors.length);
    const box = document.getElementById("pl-errors");
    box.textContent = errors.join("\n");
    box.hidden = false;
  }
  window.addEventListener("error", (e) => noteError(e.message || "script error"));
  window.addEventListener("unhandledrejection", (e) => noteError(e.reason));

  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  };
  const hexBytes = (hex) => {
    const out = new Uint8Array(hex.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
    return out;
  };
  // Three significant digits, plain or scientific, as the viewer's legend writes numbers.
  const fmt = (v) => {
    if (v === null || v === undefined || Number.isNaN(v)) return "";
    if (v === 0) return "0";
    const a = Math.abs(v);
    if (a >= 1e-3 && a < 1e4) return v.toFixed(Math.max(0, 2 - Math.floor(Math.log10(a))));
    return v.toExponential(2);
  };
  const segmentText = (s) => `${s.part || "#" + s.segment}: ${fmt(s.coefficient)}`;
  const competenceText = (r) => {
    if (r.competence === null || r.competence === undefined) return "no competence statistics";
    return r.in_domain === false
      ? `competence ${fmt(r.competence)}: outside what the model was trained on`
      : `competence ${fmt(r.competence)}: looks like the model's training scans`;
  };

  // ---------------------------------------------------------------- summary, table, cards
  // With true classes: how many scored scans the model got right.
  function labelledLine(ok) {
    const labelled = ok.filter((r) => r.truth !== null && r.truth !== undefined);
    if (!labelled.length) return null;
    const right = labelled.filter((r) => r.correct).length;
    return el("div", { id: "accuracy" },
      `${right} of ${labelled.length} labelled scans predicted right (${fmt(100 * right / labelled.length)}%)`);
  }

  function summary() {
    const rows = data.rows;
    const ok = rows.filter((r) => r.status === "ok");
    const failed = rows.filter((r) => r.status === "failed");
    const flagged = ok.filter((r) => r.in_domain === false);
    const counts = {};
    for (const r of ok) counts[r.predicted] = (counts[r.predicted] || 0) + 1;
    const box = document.getElementById("summary");
    const classes = el("table", {}, el("tr", {}, el("th", {}, "predicted class"), el("th", {}, "scans")));
    for (const [c, n] of Object.entries(counts).sort((a, b) => b[1] - a[1])) {
      classes.append(el("tr", {}, el("td", {}, c), el("td", { class: "num" }, String(n))));
    }
    const run = data.run || {};
    const when = new Date(data.generated * 1000).toISOString().replace("T", " ").slice(0, 19);
    const facts = el("div", { class: "box" },
      el("div", {}, `${rows.length} files: ${ok.length} scored, ${failed.length} failed, `
        + `${rows.length - ok.length - failed.length} skipped`),
      el("div", { class: flagged.length ? "flag" : "" },
        `${flagged.length} flagged by the competence check`),
      labelledLine(ok),
      el("div", {}, run.explain === false
        ? `model ${run.model || "?"}; classified only, no explanations (batch --no-explain)`
        : `model ${run.model || "?"}, method ${run.method || "?"}, `
          + `${run.samples ?? "?"} samples, seed ${run.seed ?? "?"}`),
      el("div", { class: "muted" }, `${fmt(data.total_seconds)} s of scan time; page written ${when} UTC`));
    const settings = el("details", {}, el("summary", {}, "all settings"),
      el("pre", {}, JSON.stringify(run.settings || {}, null, 1)));
    box.append(el("div", { class: "grid" }, facts, el("div", {}, classes), settings));
    if (flagged.length) {
      const list = el("ul", {});
      for (const r of flagged) list.append(el("li", {}, `${r.path}: ${r.predicted} (${competenceText(r)})`));
      box.append(el("h2", {}, "Flagged scans"), list);
    }
    if (failed.length) {
      const list = el("ul", {});
      for (const r of failed) list.append(el("li", { class: "flag" }, r.error || r.path));
      box.append(el("h2", {}, "Failures"), list);
    }
  }

  const columns = [
    { key: "path", title: "path" },
    { key: "status", title: "status" },
    { key: "predicted", title: "predicted" },
    { key: "truth", title: "true class", optional: true },
    { key: "probability", title: "p", num: true },
    { key: "competence", title: "competence", num: true },
    { key: "r2", title: "R²", num: true },
    { key: "top_segments", title: "top segments", text: (r) => r.top_segments.map(segmentText).join(" | ") },
    { key: "miou", title: "mIoU", num: true, optional: true },
    { key: "regions", title: "regions", optional: true,
      text: (r) => (r.regions || []).map((g) => `${g.region}: ${g.class}, ${g.points} points`).join(" | ") },
    { key: "points", title: "points", num: true },
    { key: "seconds", title: "s", num: true },
    { key: "error", title: "error", optional: true },
  ];
  let sortKey = null;
  let sortDir = 1;

  function table() {
    const used = columns.filter((c) => !c.optional || data.rows.some((r) => {
      const v = r[c.key];
      return v !== null && v !== undefined && !(Array.isArray(v) && v.length === 0);
    }));
    const head = el("tr", {});
    for (const c of used) {
      const th = el("th", { "data-key": c.key }, c.title);
      th.addEventListener("click", () => {
        sortDir = sortKey === c.key ? -sortDir : 1;
        sortKey = c.key;
        for (const h of head.children) h.removeAttribute("data-sort");
        th.dataset.sort = sortDir > 0 ? "asc" : "desc";
        fill();
      });
      head.append(th);
    }
    head.append(el("th", {}, "3D"));
    const tbody = el("tbody", {});
    const tableEl = el("table", { id: "scans" }, el("thead", {}, head), tbody);
    document.getElementById("scans-wrap").append(tableEl);
    const filter = document.getElementById("filter");
    const show = document.getElementById("show");
    filter.addEventListener("input", fill);
    show.addEventListener("change", fill);

    function fill() {
      const needle = filter.value.trim().toLowerCase();
      let rows = data.rows.map((r, i) => [r, i]).filter(([r]) => {
        if (show.value === "flagged" && r.in_domain !== false) return false;
        if (show.value !== "all" && show.value !== "flagged" && r.status !== show.value) return false;
        if (!needle) return true;
        const segments = r.top_segments.map(segmentText).join(" ");
        return [r.path, r.predicted, r.truth, r.status, r.error, segments]
          .some((v) => v && v.toLowerCase().includes(needle));
      });
      if (sortKey) {
        const col = columns.find((c) => c.key === sortKey);
        const value = (r) => (col.text ? col.text(r) : r[sortKey]);
        rows.sort(([a], [b]) => {
          const x = value(a), y = value(b);
          if (x === null || x === undefined) return 1;
          if (y === null || y === undefined) return -1;
          return (col.num ? x - y : String(x).localeCompare(String(y))) * sortDir;
        });
      }
      tbody.replaceChildren();
      for (const [r, i] of rows) {
        const tr = el("tr", { class: r.status, "data-row": String(i) });
        for (const c of used) {
          const v = c.text ? c.text(r) : r[c.key];
          const td = el("td", c.num ? { class: "num" } : {}, c.num ? fmt(v) : (v ?? ""));
          if (c.key === "competence" && r.in_domain === false) td.classList.add("flag");
          if (c.key === "truth" && r.correct === false) td.classList.add("flag");
          tr.append(td);
        }
        tr.append(el("td", {}, r.view === null ? "" :
          el("button", { class: "open", onclick: () => openView(i, 0, null) }, "open")));
        tbody.append(tr);
      }
      document.getElementById("shown").textContent = `${rows.length} of ${data.rows.length} rows`;
      // The cards follow the table's filter.
      const visible = new Set(rows.map(([, i]) => i));
      for (const [i, card] of cardOf) card.hidden = !visible.has(i);
    }
    const hash = new URLSearchParams(location.hash.slice(1));
    if (hash.has("filter")) filter.value = hash.get("filter");
    fill();
  }

  const cardOf = new Map();
  function cards() {
    const box = document.getElementById("cards");
    data.rows.forEach((r, i) => {
      if (r.status !== "ok") return;
      const list = el("ol", {});
      for (const c of r.top_classes) list.append(el("li", {}, `${c.class} ${fmt(c.probability)}`));
      const card = el("div", { class: "card" },
        r.thumb ? el("img", { src: r.thumb, loading: "lazy", alt: r.path }) : null,
        el("h3", {}, r.path), list,
        el("div", { class: r.in_domain === false ? "flag" : "muted" }, competenceText(r)),
        r.view === null ? null : el("button", { onclick: () => openView(i, 0, null) }, "3D view"));
      cardOf.set(i, card);
      box.append(card);
    });
  }

  // ---------------------------------------------------------------- the 3D view
  function decode(scan) {
    const h = scan.header;
    const text = atob(scan.b64);
    const bytes = new Uint8Array(text.length);
    for (let k = 0; k < text.length; k++) bytes[k] = text.charCodeAt(k);
    const n = h.n;
    let o = 0;
    const pos = new Uint16Array(bytes.buffer, o, 3 * n); o += 6 * n;
    const seg = new Uint16Array(bytes.buffer, o, n); o += 2 * n;
    const classes = h.classes.map((c) => {
      const imp = new Int8Array(bytes.buffer, o, n); o += n;
      let pv = null;
      if (c.point_range !== null) { pv = new Int8Array(bytes.buffer, o, n); o += n; }
      return Object.assign({}, c, { imp, pv });
    });
    let pred = null;
    if (h.predicted) { pred = bytes.subarray(o, o + n); o += n; }
    const segColours = bytes.subarray(o, o + 3 * h.nseg); o += 3 * h.nseg;
    if (o !== bytes.length) throw new Error(`${h.path}: view data of ${bytes.length} bytes, expected ${o}`);
    return { h, pos, seg, classes, pred, segColours };
  }

  function modesOf(v, cls) {
    const modes = ["signed"];
    if (v.h.nseg > 0) modes.push("segments");
    if (v.classes[cls].sets.length) modes.push("sets");
    if (v.classes[cls].pv) modes.push("point-values");
    if (v.pred) modes.push("predicted");
    return modes;
  }

  function colours(v, state) {
    const n = v.h.n;
    const out = new Uint8Array(3 * n);
    const c = v.classes[state.cls];
    const grey = data.no_value;
    const put = (k, r, g, b) => { out[3 * k] = r; out[3 * k + 1] = g; out[3 * k + 2] = b; };
    const signed = (k, q) => {
      if (q === -128) { put(k, grey[0], grey[1], grey[2]); return; }
      const i = 3 * Math.round((q + 127) * 255 / 254);
      put(k, lut[i], lut[i + 1], lut[i + 2]);
    };
    const dim = (x) => Math.round(0.3 * x + 0.7 * 0.25 * 255);
    if (state.mode === "signed") for (let k = 0; k < n; k++) signed(k, c.imp[k]);
    else if (state.mode === "point-values") for (let k = 0; k < n; k++) signed(k, c.pv[k]);
    else if (state.mode === "segments") {
      for (let k = 0; k < n; k++) {
        const s = v.seg[k];
        if (s === 65535) put(k, grey[0], grey[1], grey[2]);
        else put(k, v.segColours[3 * s], v.segColours[3 * s + 1], v.segColours[3 * s + 2]);
      }
    } else if (state.mode === "sets") {
      const members = new Set(c.sets[state.set % c.sets.length]);
      for (let k = 0; k < n; k++) {
        if (members.has(v.seg[k])) signed(k, c.imp[k]);
        else put(k, dim(grey[0]), dim(grey[1]), dim(grey[2]));
      }
    } else if (state.mode === "predicted") {
      const table = v.h.predicted.colours.map(hexBytes);
      for (let k = 0; k < n; k++) {
        const p = v.pred[k];
        const col = p === 255 ? grey : table[p];
        put(k, col[0], col[1], col[2]);
      }
    }
    return out;
  }

  // Column-major 4×4 matrices, as WebGL takes them.
  function perspective(fovy, aspect, near, far) {
    const f = 1 / Math.tan(fovy / 2), nf = 1 / (near - far);
    return [f / aspect, 0, 0, 0, 0, f, 0, 0, 0, 0, (far + near) * nf, -1, 0, 0, 2 * far * near * nf, 0];
  }
  function lookAt(eye, up) {
    const sub = (a, b) => a.map((x, i) => x - b[i]);
    const norm = (a) => { const l = Math.hypot(...a) || 1; return a.map((x) => x / l); };
    const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
    const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    const z = norm(sub(eye, [0, 0, 0])), x = norm(cross(up, z)), y = cross(z, x);
    return [x[0], y[0], z[0], 0, x[1], y[1], z[1], 0, x[2], y[2], z[2], 0, -dot(x, eye), -dot(y, eye), -dot(z, eye), 1];
  }
  function multiply(a, b) {
    const out = new Array(16).fill(0);
    for (let c = 0; c < 4; c++) for (let r = 0; r < 4; r++) for (let k = 0; k < 4; k++) out[4 * c + r] += a[4 * k + r] * b[4 * c + k];
    return out;
  }

  const FOV = 45 * Math.PI / 180;
  let gl = null, program = null, buffers = null, view = null;
  const state = { row: null, cls: 0, mode: "signed", set: 0, size: 3, yaw: 0, pitch: 0.35, distance: 1 };

  function setupGl() {
    const canvas = document.getElementById("canvas");
    gl = canvas.getContext("webgl", { antialias: false, preserveDrawingBuffer: true });
    if (!gl) throw new Error("this browser has no WebGL: the 3D view needs it");
    const compile = (type, source) => {
      const s = gl.createShader(type);
      gl.shaderSource(s, source);
      gl.compileShader(s);
      if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
      return s;
    };
    program = gl.createProgram();
    gl.attachShader(program, compile(gl.VERTEX_SHADER,
      "attribute vec3 a_pos; attribute vec3 a_col; uniform mat4 u_mvp; uniform vec3 u_half;"
      + "uniform float u_size; varying vec3 v_col;"
      + "void main() { vec3 p = (a_pos * 2.0 - 1.0) * u_half; gl_Position = u_mvp * vec4(p, 1.0);"
      + " gl_PointSize = u_size; v_col = a_col; }"));
    gl.attachShader(program, compile(gl.FRAGMENT_SHADER,
      "precision mediump float; varying vec3 v_col; void main() { gl_FragColor = vec4(v_col, 1.0); }"));
    gl.linkProgram(program);
    if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(program));
    buffers = { pos: gl.createBuffer(), col: gl.createBuffer() };
    let drag = null;
    canvas.addEventListener("pointerdown", (e) => { drag = [e.clientX, e.clientY]; canvas.setPointerCapture(e.pointerId); });
    canvas.addEventListener("pointerup", () => { drag = null; });
    canvas.addEventListener("pointermove", (e) => {
      if (!drag) return;
      state.yaw -= (e.clientX - drag[0]) * 0.01;
      state.pitch = Math.max(-1.55, Math.min(1.55, state.pitch + (e.clientY - drag[1]) * 0.01));
      drag = [e.clientX, e.clientY];
      draw();
    });
    canvas.addEventListener("wheel", (e) => {
      e.preventDefault();
      state.distance *= Math.exp(e.deltaY * 0.001);
      draw();
    }, { passive: false });
    window.addEventListener("resize", () => { if (view) draw(); });
    document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeView(); });
  }

  function draw() {
    const canvas = gl.canvas;
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(canvas.clientWidth * dpr));
    canvas.height = Math.max(1, Math.round(canvas.clientHeight * dpr));
    gl.viewport(0, 0, canvas.width, canvas.height);
    gl.clearColor(0x20 / 255, 0x20 / 255, 0x20 / 255, 1);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    gl.enable(gl.DEPTH_TEST);
    gl.useProgram(program);
    const radius = Math.hypot(...view.h.half) || 1;
    const d = state.distance * radius / Math.sin(FOV / 2) * 1.05;
    const eye = [d * Math.cos(state.pitch) * Math.sin(state.yaw),
      -d * Math.cos(state.pitch) * Math.cos(state.yaw), d * Math.sin(state.pitch)];
    const mvp = multiply(perspective(FOV, canvas.width / canvas.height, d / 100, d + 2 * radius),
      lookAt(eye, [0, 0, 1]));
    gl.uniformMatrix4fv(gl.getUniformLocation(program, "u_mvp"), false, new Float32Array(mvp));
    gl.uniform3fv(gl.getUniformLocation(program, "u_half"), new Float32Array(view.h.half));
    gl.uniform1f(gl.getUniformLocation(program, "u_size"), state.size * dpr);
    const bind = (buffer, name, size, type) => {
      const at = gl.getAttribLocation(program, name);
      gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
      gl.enableVertexAttribArray(at);
      gl.vertexAttribPointer(at, size, type, true, 0, 0);
    };
    bind(buffers.pos, "a_pos", 3, gl.UNSIGNED_SHORT);
    bind(buffers.col, "a_col", 3, gl.UNSIGNED_BYTE);
    gl.drawArrays(gl.POINTS, 0, view.h.n);
  }

  function recolour() {
    gl.bindBuffer(gl.ARRAY_BUFFER, buffers.col);
    gl.bufferData(gl.ARRAY_BUFFER, colours(view, state), gl.STATIC_DRAW);
    panel();
    draw();
  }

  function legend() {
    const box = document.getElementById("legend");
    box.replaceChildren();
    const c = view.classes[state.cls];
    const key = document.getElementById("key");
    key.replaceChildren();
    if (state.mode === "segments") { box.hidden = true; key.textContent = `${view.h.nseg} segments, one colour each`; return; }
    if (state.mode === "predicted") {
      box.hidden = true;
      view.h.predicted.names.forEach((name, k) => {
        const sw = el("span", { class: "sw", style: `background:#${view.h.predicted.colours[k]}` });
        key.append(el("div", {}, sw, name));
      });
      return;
    }
    box.hidden = false;
    const range = state.mode === "point-values" ? c.point_range : c.range;
    const stops = [];
    for (let i = 0; i <= 16; i++) {
      const j = 3 * Math.round(i * 255 / 16);
      stops.push(`rgb(${lut[j]},${lut[j + 1]},${lut[j + 2]}) ${(100 * i / 16).toFixed(1)}%`);
    }
    box.append(el("div", { class: "title" }, state.mode === "point-values" ? "point value" : "importance"),
      el("div", { class: "bar", style: `background: linear-gradient(to top, ${stops.join(", ")})` }),
      el("div", { class: "ticks" }, el("span", {}, fmt(range)), el("span", {}, "0"), el("span", {}, fmt(-range))));
  }

  function panel() {
    const c = view.classes[state.cls];
    const row = data.rows[state.row];
    const p = document.getElementById("panel");
    p.replaceChildren();
    const classSel = el("select", { id: "class-select" });
    view.classes.forEach((k, i) => {
      const o = el("option", { value: String(i) }, k.probability === null ? k.name : `${k.name} (p = ${fmt(k.probability)})`);
      if (i === state.cls) o.selected = true;
      classSel.append(o);
    });
    classSel.addEventListener("change", () => { state.cls = Number(classSel.value); fixMode(); recolour(); linkHere(); });
    const modeSel = el("select", { id: "mode-select" });
    for (const m of modesOf(view, state.cls)) {
      const o = el("option", { value: m }, m);
      if (m === state.mode) o.selected = true;
      modeSel.append(o);
    }
    modeSel.addEventListener("change", () => { state.mode = modeSel.value; recolour(); linkHere(); });
    const size = el("input", { type: "range", min: "1", max: "10", step: "0.5", value: String(state.size) });
    size.addEventListener("input", () => { state.size = Number(size.value); draw(); });
    p.append(el("div", {}, el("b", {}, view.h.path)),
      el("div", { class: "muted" }, `${view.h.n} of ${view.h.total} points shown`
        + (view.h.n < view.h.total ? " (decimated, every segment kept)" : "")),
      el("label", {}, "class ", classSel), el("label", {}, "colour ", modeSel));
    if (state.mode === "sets") {
      const setSel = el("select", {});
      c.sets.forEach((s, i) => {
        const o = el("option", { value: String(i) },
          `set ${i + 1}: ${s.length} segments alone give p = ${fmt(c.set_probabilities[i])}`);
        if (i === state.set % c.sets.length) o.selected = true;
        setSel.append(o);
      });
      setSel.addEventListener("change", () => { state.set = Number(setSel.value); recolour(); });
      p.append(el("label", {}, "sufficient set ", setSel));
    }
    p.append(el("label", {}, "point size ", size));
    if (c.method) p.append(el("div", {}, `method ${c.method}` + (c.r2 === null ? "" : `, surrogate R² = ${fmt(c.r2)}`)));
    if (!c.trusted) p.append(el("div", { class: "flag" }, "NOT TO BE TRUSTED: the model was not trained on scans like this one"));
    if (row) p.append(el("div", { class: row.in_domain === false ? "flag" : "" }, competenceText(row)));
    p.append(el("div", { class: "muted" }, "drag to orbit, wheel to zoom, Esc to close"));
    legend();
  }

  function fixMode() {
    if (!modesOf(view, state.cls).includes(state.mode)) state.mode = "signed";
  }

  // The address of what is on view, to share; the body's data says the same to a test.
  function linkHere() {
    history.replaceState(null, "", `#view=${state.row}&class=${state.cls}&mode=${state.mode}`);
    document.body.dataset.viewClass = view.classes[state.cls].name;
    document.body.dataset.viewMode = state.mode;
  }

  // Row i's view data, then `then`; a row's view index (`row.view`) keys the scans.
  function load(i, then) {
    const row = data.rows[i];
    if (scans[row.view]) { then(scans[row.view]); return; }
    waiting[row.view] = () => then(scans[row.view]);
    const script = el("script", { src: row.asset });
    script.addEventListener("error", () => noteError(`${row.asset}: cannot load this scan's view; `
      + "keep the report's assets directory beside the page"));
    document.body.append(script);
  }

  function openView(i, cls, mode) {
    const started = performance.now();
    load(i, (scan) => {
      view = decode(scan);
      if (!gl) setupGl();
      Object.assign(state, { row: i, cls: Math.min(cls, view.classes.length - 1), set: 0, yaw: 0, pitch: 0.35, distance: 1 });
      state.mode = mode || "signed";
      fixMode();
      document.getElementById("viewer").classList.add("open");
      gl.bindBuffer(gl.ARRAY_BUFFER, buffers.pos);
      gl.bufferData(gl.ARRAY_BUFFER, view.pos, gl.STATIC_DRAW);
      recolour();
      gl.finish();
      document.body.dataset.openMs = (performance.now() - started).toFixed(1);
      document.body.dataset.view = String(i);
      document.body.dataset.viewPath = view.h.path;
      linkHere();
    });
  }

  function closeView() {
    document.getElementById("viewer").classList.remove("open");
    view = null;
    delete document.body.dataset.view;
    history.replaceState(null, "", "#");
  }

  function start() {
    data = JSON.parse(document.getElementById("pl-data").textContent);
    lut = hexBytes(data.lut);
    document.getElementById("close").addEventListener("click", closeView);
    summary();
    cards();
    table();
    // A link to one scan's view: #view=ROW&class=C&mode=M (and #filter=TEXT filters the table).
    const hash = new URLSearchParams(location.hash.slice(1));
    if (hash.has("view")) {
      const i = Number(hash.get("view"));
      if (data.rows[i] && data.rows[i].view !== null) openView(i, Number(hash.get("class") || 0), hash.get("mode"));
      else noteError(`#view=${hash.get("view")}: no such scan view`);
    }
    document.body.dataset.ready = "1";
  }
  document.addEventListener("DOMContentLoaded", () => {
    try { start(); } catch (e) { noteError(String(e)); }
  });

  return {
    scan(i, header, b64) {
      scans[i] = { header, b64 };
      const then = waiting[i];
      if (then) { delete waiting[i]; try { then(); } catch (e) { noteError(String(e)); } }
    },
  };
})();
