// FreshMart dashboard: live updates over a websocket (sales, stock, alerts, complaint spikes,
// complaints, new daily reports), stock search, system refresh, the finance page's day picker.
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

  // Complaint spikes: on a store page in #spikes beside the stock alerts, on the chain view the
  // active ones of every store in #active-spikes. Every message carries the spike as it now
  // stands and its rank (higher is later: complaints only join, resolution follows, merged is
  // final), so a state older than one already shown (a snapshot racing a live message) is
  // ignored. Merged spikes disappear: the spike they joined carries their complaints.
  const SPIKES_MAX = 50;
  const ranks = new Map(); // alert id -> highest rank seen
  const MERGED = 2 ** 62;
  function noteRanks(root) {
    if (!root) return;
    root.querySelectorAll("[data-alert][data-rank]").forEach((e) => ranks.set(e.dataset.alert, Number(e.dataset.rank)));
  }
  // placeholder shows the container's "nothing here" row when it has no spike, and only then.
  function placeholder(container, make) {
    const rows = container.querySelectorAll("[data-alert]").length;
    const ph = container.querySelector(".empty");
    if (rows === 0 && !ph) container.appendChild(make());
    if (rows > 0 && ph) ph.remove();
  }
  function emptySpikes() { return el("li", "empty", "No complaint spikes."); }
  function emptyActive() {
    const tr = el("tr", "empty");
    const td = el("td", "empty", "No active complaint spikes.");
    td.colSpan = 5;
    tr.appendChild(td);
    return tr;
  }
  function spikeItem(s) {
    const li = el("li", "alert spike new " + s.status);
    li.dataset.alert = s.alert_id;
    li.dataset.sku = s.sku;
    li.dataset.rank = String(s.rank);
    const qty = el("span", "qty");
    qty.append(el("span", "spike-count", String(s.count)), document.createTextNode(" complaint" + (s.count === 1 ? "" : "s") + " · "),
      el("span", "window", s.window), document.createTextNode(" · "), el("span", "ends", s.ends));
    const what = el("span", "what");
    what.append(el("strong", "", s.name), document.createTextNode(" "), el("span", "sku", s.sku), qty);
    const t = el("time", "", s.local_time);
    t.dateTime = s.opened_at;
    li.append(el("span", "badge spike-" + s.status, s.label), what, t);
    return li;
  }
  function activeSpikeRow(s) {
    const tr = el("tr", "new");
    tr.dataset.alert = s.alert_id;
    tr.dataset.sku = s.sku;
    tr.dataset.store = s.store_id;
    tr.dataset.rank = String(s.rank);
    const a = el("a", "", s.store_id + " · " + s.store_name);
    a.href = "/stores/" + encodeURIComponent(s.store_id);
    const storeCell = el("td");
    storeCell.appendChild(a);
    tr.append(storeCell, el("td", "sku", s.sku), el("td", "", s.name), el("td", "num spike-count", String(s.count)), el("td", "since", s.since));
    return tr;
  }
  function removeSpike(id) {
    ranks.set(id, MERGED);
    document.querySelectorAll('#spikes [data-alert="' + CSS.escape(id) + '"], #active-spikes [data-alert="' + CSS.escape(id) + '"]')
      .forEach((e) => e.remove());
  }
  function applySpike(s) {
    if (!s || !s.alert_id) return;
    (s.merged_alert_ids || []).forEach(removeSpike);
    const known = ranks.get(s.alert_id);
    if (known !== undefined && known > s.rank) return;
    const changed = known !== s.rank;
    ranks.set(s.alert_id, s.rank);
    if (s.status === "merged") removeSpike(s.alert_id);
    const sel = '[data-alert="' + CSS.escape(s.alert_id) + '"]';
    const list = $("#spikes");
    if (list && s.status !== "merged") {
      const li = spikeItem(s);
      if (!changed) li.classList.remove("new");
      const old = list.querySelector(sel);
      if (old) list.replaceChild(li, old); else list.insertBefore(li, list.firstChild);
      const rows = list.querySelectorAll("[data-alert]");
      for (let i = SPIKES_MAX; i < rows.length; i++) rows[i].remove();
    }
    if (list) placeholder(list, emptySpikes);
    const table = $("#active-spikes tbody");
    if (table) {
      const old = table.querySelector(sel);
      if (s.status === "active") {
        const tr = activeSpikeRow(s);
        if (!changed) tr.classList.remove("new");
        if (old) table.replaceChild(tr, old); else table.insertBefore(tr, table.firstChild);
      } else if (old) {
        old.remove();
      }
      placeholder(table, emptyActive);
    }
  }

  // Chain-wide spikes (chain view).
  const CHAIN_SPIKES_MAX = 10;
  function applyChainSpike(c) {
    const table = $("#chain-spikes tbody");
    if (!c || !table) return;
    const old = table.querySelector('[data-alert="' + CSS.escape(c.alert_id) + '"]');
    const stores = (c.store_ids || []).length;
    if (old && Number(old.dataset.stores || 0) > stores) return;
    const tr = el("tr", "new");
    tr.dataset.alert = c.alert_id;
    tr.dataset.sku = c.sku;
    tr.dataset.stores = String(stores);
    tr.append(el("td", "sku", c.sku), el("td", "", c.name), el("td", "", c.vendor_id + (c.vendor_name ? " · " + c.vendor_name : "")),
      el("td", "stores", c.stores), el("td", "", c.local_time));
    if (old) table.replaceChild(tr, old); else table.insertBefore(tr, table.firstChild);
    const empty = table.querySelector(".empty");
    if (empty) empty.remove();
    const rows = table.querySelectorAll("[data-alert]");
    for (let i = CHAIN_SPIKES_MAX; i < rows.length; i++) rows[i].remove();
  }

  // A store's complaints, newest filed first.
  const COMPLAINTS_MAX = 50;
  function addComplaint(c) {
    const list = $("#complaints");
    if (!list || !c || list.querySelector('[data-complaint="' + CSS.escape(c.complaint_id) + '"]')) return;
    const empty = list.querySelector(".empty");
    if (empty) empty.remove();
    const li = el("li", "new");
    li.dataset.complaint = c.complaint_id;
    li.dataset.at = c.filed_at;
    const t = el("time", "", c.local_time);
    t.dateTime = c.filed_at;
    const product = el("span", "product");
    if (c.sku) product.append(el("span", "sku", c.sku), document.createTextNode(" " + (c.name || "")));
    else product.appendChild(el("span", "none", "No product"));
    const txt = el("span", "text", c.excerpt);
    txt.title = c.text;
    li.append(t, product, el("span", "badge cat", c.category_label), el("span", "channel", c.channel_label), txt);
    const at = Date.parse(c.filed_at);
    const before = [...list.querySelectorAll("[data-complaint]")].find((e) => Date.parse(e.dataset.at) < at);
    list.insertBefore(li, before || null);
    while (list.children.length > COMPLAINTS_MAX) list.removeChild(list.lastChild);
  }

  // Daily reports. A "report" message says a date has a new version of its report: the finance
  // page fetches its body again when the date is one it shows (the day or the chart's days) in an
  // older version; a store page its headline when the report is newer than the one it shows.
  let financeTimer = 0;
  function applyReport(n) {
    if (!n || !n.date) return;
    const box = $("#finance-body");
    if (box) {
      if (n.date < box.dataset.from || n.date > box.dataset.date) return;
      let versions = {};
      try { versions = JSON.parse(box.dataset.versions || "{}"); } catch (e) { /* refresh */ }
      if (n.version > (versions[n.date] || 0)) {
        clearTimeout(financeTimer);
        financeTimer = setTimeout(refreshFinance, 150);
      }
      return;
    }
    const h = $("#headline-body .headline");
    if (h && store && (n.store_ids || []).includes(store)) {
      const date = h.dataset.date || "";
      if (n.date > date || (n.date === date && n.version > Number(h.dataset.version || 0))) {
        refreshBox("#headline-body", "/fragments/headline?store=" + encodeURIComponent(store));
      }
    }
  }
  async function refreshFinance() {
    const box = $("#finance-body");
    if (!box) return;
    try {
      const resp = await fetch("/fragments/finance?date=" + encodeURIComponent(box.dataset.date));
      if (!resp.ok) return;
      const open = new Set([...box.querySelectorAll("details[open]")].map((d) => d.dataset.store));
      const html = await resp.text();
      const now = $("#finance-body");
      if (!now) return;
      now.outerHTML = html;
      const fresh = $("#finance-body");
      if (!fresh) return;
      fresh.querySelectorAll("details").forEach((d) => { if (open.has(d.dataset.store)) d.open = true; });
      fresh.classList.add("updated");
    } catch (e) { /* offline: the next reconnect refreshes */ }
  }

  // The finance page's day picker goes to the day once a whole date is entered (typing a year
  // passes through years 0002, 0020… first).
  const dayPicker = $("#day-picker");
  if (dayPicker) {
    const input = dayPicker.querySelector("input[name=date]");
    input.addEventListener("change", () => {
      if (input.value && input.value >= "2000-01-01" && input.checkValidity()) dayPicker.submit();
    });
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
        case "spike":
          applySpike(m.spike);
          break;
        case "chain_spike":
          applyChainSpike(m.chain_spike);
          break;
        case "complaint":
          addComplaint(m.complaint);
          break;
        case "report":
          applyReport(m.report);
          break;
      }
      if (m.type === "snapshot") {
        // What the broker delivered since the dashboard started, folded into the rendered page.
        (m.spikes || []).slice().reverse().forEach(applySpike);
        (m.chain_spikes || []).slice().reverse().forEach(applyChainSpike);
        (m.complaints || []).forEach(addComplaint);
        (m.reports || []).forEach(applyReport);
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
    const query = page === "finance" ? "?view=finance" : store ? "?store=" + encodeURIComponent(store) : "";
    const ws = new WebSocket(proto + "//" + location.host + "/ws" + query);
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
  // refreshBox replaces a box's content by a fragment of the server's, taking the spike ranks it
  // shows as the ones known.
  async function refreshBox(sel, url) {
    const box = $(sel);
    if (!box) return;
    try {
      const resp = await fetch(url);
      if (!resp.ok) return;
      box.innerHTML = await resp.text();
      noteRanks(box);
    } catch (e) { /* offline: the next reconnect refreshes */ }
  }
  function refreshAlerts() {
    if (!store) return;
    refreshBox("#alerts-body", "/fragments/alerts?store=" + encodeURIComponent(store));
    refreshBox("#complaints-body", "/fragments/complaints?store=" + encodeURIComponent(store));
    refreshBox("#headline-body", "/fragments/headline?store=" + encodeURIComponent(store));
    refreshBox("#price-accuracy-body", "/fragments/price-accuracy?store=" + encodeURIComponent(store));
  }
  function refreshSpikes() {
    if (store || page !== "chain") return;
    refreshBox("#spikes-body", "/fragments/spikes");
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
  function refreshFragments() { refreshStock(); refreshAlerts(); refreshStores(); refreshSpikes(); refreshFinance(); }
  if (filter) {
    filter.addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(refreshStock, 250); });
    filter.addEventListener("change", refreshStock);
  }

  // Store page: price accuracy changes with every sale; read it again every 15 seconds.
  if (store && $("#price-accuracy-body")) {
    setInterval(() => refreshBox("#price-accuracy-body", "/fragments/price-accuracy?store=" + encodeURIComponent(store)), 15000);
  }

  // Store page: the signs panel follows the signs' connections and acknowledgements, which the
  // pricing service keeps (not an event the page receives); read it again every 5 seconds.
  if (store && $("#signs-body")) {
    setInterval(() => refreshBox("#signs-body", "/fragments/signs?store=" + encodeURIComponent(store)), 5000);
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

  noteRanks(document);
  connect();
})();
