// FreshMart dashboard: live updates over a websocket, stock search, system refresh.
// Plain JavaScript, no build step. The server renders every page; this script only keeps it live.
"use strict";

(function () {
  const body = document.body;
  const store = body.dataset.store || "";
  const tz = body.dataset.tz || undefined;
  const page = body.dataset.page || "";
  const moneyFmt = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
  const countFmt = new Intl.NumberFormat("en-US");
  const alertTimeFmt = new Intl.DateTimeFormat("en-US", {
    month: "short", day: "numeric", hour: "numeric", minute: "2-digit", second: "2-digit", timeZone: tz, timeZoneName: "short",
  });
  const TICKER_MAX = 30;

  const $ = (sel) => document.querySelector(sel);
  const money = (c) => moneyFmt.format((c || 0) / 100);
  const setText = (sel, text) => { const el = $(sel); if (el) el.textContent = text; };
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };

  // Store picker.
  const picker = $("#store-picker");
  if (picker) {
    picker.addEventListener("change", () => {
      location.href = picker.value ? "/stores/" + encodeURIComponent(picker.value) : "/";
    });
  }

  // Revenue figures and the department chart.
  function renderRevenue(rev) {
    if (!rev) return;
    setText("#rev-total", money(rev.total_cents));
    setText("#rev-sales", countFmt.format(rev.sales));
    setText("#rev-avg", money(rev.avg_cents));
    setText("#rev-items", countFmt.format(rev.items));
    renderChart(rev.by_dept || []);
  }

  const SVG = "http://www.w3.org/2000/svg";
  function renderChart(depts) {
    const svg = $("#dept-chart");
    if (!svg) return;
    const top = depts.reduce((m, d) => Math.max(m, d.cents), 0);
    const rows = svg.querySelectorAll("g");
    if (rows.length !== depts.length) {
      while (svg.firstChild) svg.removeChild(svg.firstChild);
      depts.forEach(() => {
        const g = document.createElementNS(SVG, "g");
        const name = document.createElementNS(SVG, "text");
        name.setAttribute("class", "dept"); name.setAttribute("x", "0"); name.setAttribute("y", "18");
        const bar = document.createElementNS(SVG, "rect");
        bar.setAttribute("x", "130"); bar.setAttribute("y", "4"); bar.setAttribute("rx", "4"); bar.setAttribute("height", "20");
        const val = document.createElementNS(SVG, "text");
        val.setAttribute("class", "val"); val.setAttribute("y", "18"); val.setAttribute("dx", "138");
        g.append(name, bar, val);
        svg.appendChild(g);
      });
      svg.setAttribute("viewBox", "0 0 560 " + Math.max(1, depts.length) * 28);
    }
    svg.querySelectorAll("g").forEach((g, i) => {
      const d = depts[i];
      const w = top > 0 && d.cents > 0 ? Math.max(2, 330 * d.cents / top) : 0;
      g.setAttribute("transform", "translate(0," + i * 28 + ")");
      const [name, bar, val] = g.children;
      name.textContent = d.name;
      bar.setAttribute("width", String(w));
      val.setAttribute("x", String(w));
      val.textContent = money(d.cents);
    });
  }

  // Sales ticker.
  function tickerRow(s) {
    const li = el("li", "new");
    li.dataset.sale = s.sale_id;
    li.append(
      el("span", "time", s.local_time),
      el("span", "who", s.store_id + " · " + s.register),
      el("span", "what", s.summary),
      el("span", "items", s.items + (s.items === 1 ? " item" : " items")),
      el("span", "amount", money(s.total_cents)),
    );
    return li;
  }
  function addSales(sales) {
    const list = $("#ticker");
    if (!list || sales.length === 0) return;
    const empty = list.querySelector(".empty");
    if (empty) empty.remove();
    const frag = document.createDocumentFragment();
    sales.slice(-TICKER_MAX).reverse().forEach((s) => frag.appendChild(tickerRow(s)));
    list.insertBefore(frag, list.firstChild);
    while (list.children.length > TICKER_MAX) list.removeChild(list.lastChild);
  }
  function replaceTicker(sales) {
    const list = $("#ticker");
    if (!list) return;
    list.textContent = "";
    if (!sales || sales.length === 0) {
      list.appendChild(el("li", "empty", "No sales yet today."));
      return;
    }
    sales.slice(0, TICKER_MAX).forEach((s) => { const r = tickerRow(s); r.className = ""; list.appendChild(r); });
  }

  // Stock table rows.
  const LABEL = { ok: "In stock", low: "Low", out: "Out" };
  function updateStock(row) {
    const tr = document.querySelector('#stock-table tr[data-sku="' + CSS.escape(row.sku) + '"]');
    if (!tr) return;
    tr.className = "st-" + row.status;
    tr.querySelector(".onhand").textContent = row.on_hand;
    const badge = tr.querySelector(".badge");
    badge.className = "badge " + row.status;
    badge.textContent = LABEL[row.status] || row.status;
    const upd = tr.querySelector(".updated");
    if (upd && row.updated) upd.textContent = row.updated;
  }
  function countStock() {
    const table = $("#stock-table");
    if (!table) return;
    setText("#low-count", table.querySelectorAll("tr.st-low").length);
    setText("#out-count", table.querySelectorAll("tr.st-out").length);
  }

  // Alerts feed.
  function addAlert(a) {
    const list = $("#alerts");
    if (!list) return;
    if (a.alert_id && list.querySelector('[data-alert="' + CSS.escape(a.alert_id) + '"]')) return;
    const empty = list.querySelector(".empty");
    if (empty) empty.remove();
    const li = el("li", "alert new " + a.kind);
    li.dataset.alert = a.alert_id;
    const what = el("span", "what");
    let qty = a.on_hand + " on hand · threshold " + a.threshold;
    if (!store && a.store_name) qty += " · " + a.store_name;
    what.append(el("strong", "", a.name), document.createTextNode(" "), el("span", "sku", a.sku), el("span", "qty", qty));
    const t = el("time", "", a.local_time);
    t.dateTime = a.at;
    if (store) { try { t.textContent = alertTimeFmt.format(new Date(a.at)); } catch (e) { /* keep the server's text */ } }
    li.append(el("span", "badge " + a.kind, a.label), what, t);
    list.insertBefore(li, list.firstChild);
    while (list.children.length > 50) list.removeChild(list.lastChild);
  }

  // Chain page: per-store cells.
  function updateStoreRow(rev) {
    if (!rev || !rev.store_id) return;
    setText("#rev-" + CSS.escape(rev.store_id), money(rev.total_cents));
    setText("#sales-" + CSS.escape(rev.store_id), countFmt.format(rev.sales));
  }

  // Messages are applied once per animation frame, so a busy store does not redraw per sale.
  let pending = [];
  let scheduled = false;
  function enqueue(m) {
    pending.push(m);
    if (!scheduled) {
      scheduled = true;
      // requestAnimationFrame does not run in background tabs; a timer keeps the page current.
      (document.hidden ? (f) => setTimeout(f, 250) : requestAnimationFrame)(flush);
    }
  }
  function flush() {
    scheduled = false;
    const batch = pending;
    pending = [];
    const sales = [];
    let rev = null;
    let chain = null;
    let stockChanged = false;
    for (const m of batch) {
      switch (m.type) {
        case "snapshot":
          sales.length = 0;
          replaceTicker(m.ticker);
          rev = store ? m.revenue : m.chain;
          break;
        case "sale":
          sales.push(m.sale);
          if (store) rev = m.revenue; else { chain = m.chain; updateStoreRow(m.revenue); }
          break;
        case "revenue":
          if (store) rev = m.revenue; else { chain = m.chain; updateStoreRow(m.revenue); }
          break;
        case "stock":
          updateStock(m.stock);
          stockChanged = true;
          break;
        case "alert":
          addAlert(m.alert);
          break;
      }
    }
    addSales(sales);
    renderRevenue(rev || chain);
    if (stockChanged) countStock();
  }

  // The websocket, reconnecting by itself with a growing pause.
  const status = $("#live-status");
  function setStatus(cls, text) {
    if (!status) return;
    status.className = "status " + cls;
    status.textContent = text;
  }
  let delay = 500;
  let connectedBefore = false;
  function connect() {
    if (page === "system") { setStatus("live", "Auto-refresh"); return; }
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(proto + "//" + location.host + "/ws" + (store ? "?store=" + encodeURIComponent(store) : ""));
    ws.onopen = () => {
      delay = 500;
      setStatus("live", "Live");
      if (connectedBefore) refreshFragments();
      connectedBefore = true;
    };
    ws.onmessage = (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      enqueue(m);
    };
    ws.onclose = () => {
      setStatus("connecting", "Reconnecting…");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 5000);
    };
    ws.onerror = () => { /* onclose follows and reconnects */ };
  }

  // Stock search and filters: fetch the table again from the server.
  const filter = $("#stock-filter");
  let searchTimer = 0;
  async function refreshStock() {
    if (!filter) return;
    const params = new URLSearchParams(new FormData(filter));
    try {
      const resp = await fetch("/fragments/stock?" + params.toString());
      if (!resp.ok) return;
      $("#stock-body").innerHTML = await resp.text();
      countStock();
    } catch (e) { /* offline: the next reconnect refreshes */ }
  }
  async function refreshAlerts() {
    const box = $("#alerts-body");
    if (!box || !store) return;
    try {
      const resp = await fetch("/fragments/alerts?store=" + encodeURIComponent(store));
      if (resp.ok) box.innerHTML = await resp.text();
    } catch (e) { /* offline */ }
  }
  // Chain page: the per-store rows, which the snapshot does not carry.
  async function refreshStores() {
    if (store || page !== "chain") return;
    try {
      const resp = await fetch("/api/live");
      if (!resp.ok) return;
      const live = await resp.json();
      (live.stores || []).forEach((s) => updateStoreRow(s.Revenue));
    } catch (e) { /* offline */ }
  }
  function refreshFragments() { refreshStock(); refreshAlerts(); refreshStores(); }
  if (filter) {
    filter.addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(refreshStock, 250); });
    filter.addEventListener("change", refreshStock);
  }

  // System page: refresh the tables every few seconds.
  if (page === "system") {
    setInterval(async () => {
      try {
        const resp = await fetch("/fragments/system");
        if (!resp.ok) { setStatus("down", "Refresh failed"); return; }
        const box = $("#system-body");
        const open = new Set([...box.querySelectorAll("details[open]")].map((d) => d.dataset.group));
        box.innerHTML = await resp.text();
        box.querySelectorAll("details").forEach((d) => { if (open.has(d.dataset.group)) d.open = true; });
        setStatus("live", "Auto-refresh");
      } catch (e) { setStatus("down", "Server unreachable"); }
    }, 3000);
  }

  connect();
})();
