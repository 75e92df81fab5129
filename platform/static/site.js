// Live matches: listens to /events (server-sent events) and shows each new match as a card at
// the top of the page. The site works without this script; it only adds the live view.
(function () {
  "use strict";
  if (!window.EventSource) { return; }
  var box = document.getElementById("live");
  if (!box) { return; }
  // One stream while the page is shown. A page left for another stays in the browser's
  // back/forward cache; a stream left open there keeps one of the few connections a browser
  // allows per host, and after six pages every new page waits. So the stream closes on
  // `pagehide` and opens again on `pageshow` (also when the page comes back from that cache).
  var source = null;
  function open() {
    if (source) { return; }
    source = new EventSource("/events");
    source.addEventListener("match", show);
  }
  function close() {
    if (!source) { return; }
    source.close();
    source = null;
  }
  window.addEventListener("pagehide", close);
  window.addEventListener("pageshow", open);
  window.addEventListener("beforeunload", close);
  open();
  function show(e) {
    var m;
    try { m = JSON.parse(e.data); } catch (err) { return; }
    var card = document.createElement("article");
    card.className = "card live";
    card.setAttribute("data-listing-id", String(m.listing_id));
    var body = document.createElement("div");
    body.className = "body";
    var label = document.createElement("p");
    label.className = "meta";
    label.textContent = "New match for “" + (m.search_name || "your saved search") + "”";
    var h = document.createElement("h3");
    var a = document.createElement("a");
    a.href = "/listings/" + encodeURIComponent(String(m.listing_id));
    a.textContent = m.title || "A new listing";
    h.appendChild(a);
    var price = document.createElement("p");
    price.className = "price";
    price.textContent = m.price || "";
    var place = document.createElement("p");
    place.className = "meta";
    place.textContent = m.place || "";
    body.appendChild(label);
    body.appendChild(h);
    body.appendChild(price);
    body.appendChild(place);
    card.appendChild(body);
    box.insertBefore(card, box.firstChild);
  }
})();
