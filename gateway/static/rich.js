// Voltmart rich answers (responses/rich.py): product cards, a comparison table, a cart.
// window.VoltmartRich.render(payload, onAction) returns an element, or null for anything
// that is not ours. Every value is set with textContent, never as HTML; buttons call
// onAction(payload, title) so the chat sends them like quick replies.
"use strict";

(() => {
  const MAX_CARDS = 6;
  const MAX_ROWS = 20;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  const str = (v) => (typeof v === "string" ? v : "");

  function actionButtons(buttons, onAction) {
    const row = el("div", "card-actions");
    for (const b of Array.isArray(buttons) ? buttons.slice(0, 3) : []) {
      if (!b || typeof b.title !== "string" || typeof b.payload !== "string") continue;
      if (!b.payload.startsWith("/")) continue;
      const button = el("button", "chip card-action", b.title);
      button.type = "button";
      button.addEventListener("click", () => onAction(b.payload, b.title));
      row.append(button);
    }
    return row;
  }

  function card(p, onAction) {
    const node = el("article", "card");
    node.dataset.testid = "product-card";
    node.append(el("h3", "card-name", str(p.name)));
    const price = el("p", "card-price");
    if (str(p.deal_price)) {
      price.append(el("span", "deal", p.deal_price), " ", el("s", "was", str(p.price)));
      if (Number.isFinite(p.discount_pct)) price.append(" ", el("span", "off", `−${p.discount_pct}%`));
    } else {
      price.append(el("span", "", str(p.price)));
    }
    node.append(price);
    const stock = ["in_stock", "low", "out"].includes(p.stock) ? p.stock : "in_stock";
    node.append(el("p", `card-stock ${stock}`, str(p.stock_label)));
    if (str(p.key_spec)) node.append(el("p", "card-spec", p.key_spec));
    if (str(p.note)) node.append(el("p", "card-note", p.note));  // the model's reason, if any
    node.append(actionButtons(p.buttons, onAction));
    return node;
  }

  function products(payload, onAction) {
    const wrap = el("section", "rich cards");
    wrap.setAttribute("aria-label", str(payload.title) || "Products");
    const list = Array.isArray(payload.products) ? payload.products.slice(0, MAX_CARDS) : [];
    for (const p of list) if (p && typeof p === "object") wrap.append(card(p, onAction));
    return list.length ? wrap : null;
  }

  function comparison(payload) {
    const names = Array.isArray(payload.products) ? payload.products.map(str) : [];
    const rows = Array.isArray(payload.rows) ? payload.rows.slice(0, MAX_ROWS) : [];
    if (names.length < 2 || !rows.length) return null;
    const wrap = el("div", "rich compare");
    const table = el("table", "compare-table");
    table.dataset.testid = "comparison-table";
    table.append(el("caption", "", str(payload.title)));
    const head = el("tr");
    head.append(el("th", "", ""));
    for (const n of names) {
      const th = el("th", "", n);
      th.scope = "col";
      head.append(th);
    }
    const thead = el("thead");
    thead.append(head);
    table.append(thead);
    const body = el("tbody");
    for (const r of rows) {
      if (!r || !Array.isArray(r.values)) continue;
      const tr = el("tr");
      const th = el("th", "", str(r.label));
      th.scope = "row";
      tr.append(th);
      names.forEach((_, i) => tr.append(el("td", "", str(r.values[i]))));
      body.append(tr);
    }
    table.append(body);
    wrap.append(table);
    return wrap;
  }

  function cart(payload, onAction) {
    const items = Array.isArray(payload.items) ? payload.items : [];
    if (!items.length) return null;
    const wrap = el("section", "rich cart");
    wrap.dataset.testid = "cart";
    wrap.append(el("h3", "cart-title", str(payload.title)));
    const list = el("ul", "cart-items");
    for (const i of items) {
      if (!i || typeof i !== "object") continue;
      const li = el("li");
      li.append(el("span", "qty", `${Number(i.quantity) || 1} ×`), " ",
        el("span", "name", str(i.name)), el("span", "line", str(i.line_total)));
      list.append(li);
    }
    wrap.append(list, el("p", "cart-total", `Total: ${str(payload.total)}`));
    wrap.append(actionButtons(payload.buttons, onAction));
    return wrap;
  }

  const RENDERERS = { products, comparison, cart };

  function render(payload, onAction) {
    if (!payload || typeof payload !== "object" || payload.voltmart !== 1) return null;
    const renderer = RENDERERS[payload.type];
    return renderer ? renderer(payload, onAction) : null;
  }

  window.VoltmartRich = { render };
})();
