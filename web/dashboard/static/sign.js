// The sign page: a browser standing in for a shelf label. It connects to the signs hub with
// the device token from its URL (?token=), shows the snapshot, applies updates, acknowledges
// every version it shows, and reconnects with since=<the version shown> after a drop.
(function () {
  "use strict";
  var root = document.getElementById("sign");
  var statusEl = document.getElementById("sign-status");
  var labels = document.getElementById("labels");
  var params = new URLSearchParams(location.search);
  var token = params.get("token");
  var tz = root.dataset.tz || undefined;
  var items = new Map(); // sku -> item, in the order the hub listed them
  var version = null; // the version shown
  var backoff = 500;

  function status(cls, text) {
    statusEl.className = "status " + cls;
    statusEl.textContent = text;
  }

  if (!token) {
    var form = document.getElementById("sign-token");
    form.hidden = false;
    status("offline", "No token");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      params.set("token", form.elements.token.value.trim());
      location.search = params.toString();
    });
    return;
  }

  function money(cents) {
    return "$" + (cents / 100).toFixed(2);
  }

  function ends(iso) {
    try {
      return new Intl.DateTimeFormat("en-US", { timeZone: tz, month: "short", day: "numeric" }).format(new Date(iso));
    } catch (e) {
      return iso.slice(0, 10);
    }
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function label(it) {
    var card = el("article", "label badge-" + it.badge + (it.promo_title ? " promo" : ""));
    card.dataset.sku = it.sku;
    if (it.promo_title) {
      var p = el("div", "promo-badge");
      p.appendChild(el("span", "promo-title", it.promo_title));
      if (it.promo_ends_at) p.appendChild(el("span", "promo-ends", "ends " + ends(it.promo_ends_at)));
      card.appendChild(p);
    }
    card.appendChild(el("h2", "name", it.name));
    card.appendChild(el("p", "price", money(it.price_cents)));
    if (it.regular_price_cents) {
      var was = el("p", "regular");
      was.appendChild(document.createTextNode("was "));
      was.appendChild(el("s", "regular-price", money(it.regular_price_cents)));
      card.appendChild(was);
    }
    if (it.unit_price) card.appendChild(el("p", "unit", it.unit_price));
    card.appendChild(el("p", "sku", it.sku));
    if (it.badge === "out") card.appendChild(el("div", "band out", "Out of stock"));
    else if (it.badge === "low") card.appendChild(el("div", "band low", "Low stock"));
    return card;
  }

  function render() {
    var frag = document.createDocumentFragment();
    items.forEach(function (it) { frag.appendChild(label(it)); });
    labels.replaceChildren(frag);
    root.dataset.version = version === null ? "" : String(version);
  }

  function connect() {
    var q = new URLSearchParams({ store_id: root.dataset.store, token: token });
    if (root.dataset.skus) q.set("skus", root.dataset.skus);
    else q.set("aisle", root.dataset.aisle);
    if (version !== null) q.set("since", String(version));
    var ws = new WebSocket(root.dataset.ws + "?" + q.toString());
    ws.onopen = function () { backoff = 500; };
    ws.onmessage = function (ev) {
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (f.type === "snapshot") items.clear();
      (f.items || []).forEach(function (it) { items.set(it.sku, it); });
      version = f.version;
      render();
      status("live", "Live · v" + version);
      ws.send(JSON.stringify({ type: "ack", version: f.version }));
    };
    ws.onclose = function (ev) {
      status("offline", ev.code === 1006 && version === null ? "Cannot connect (token or network); retrying" : "Reconnecting…");
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 15000);
    };
  }
  connect();
})();
