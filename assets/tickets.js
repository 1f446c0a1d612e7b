/* /tickets and /overdue in the browser: map colours by metric, grid formatters. */
window.cityops = window.cityops || {};
window.cityops.tickets = {
  /* "—" for an empty value; rates as percentages, hours and scores with one decimal */
  format: function (v, kind) {
    if (v === null || v === undefined || (typeof v === "number" && isNaN(v))) { return "—"; }
    if (kind === "rate") { return (100 * v).toFixed(1) + "%"; }
    if (kind === "hours" || kind === "score") { return Number(v).toFixed(1); }
    return Number(v).toLocaleString("en-US");
  },
  /* numerator / denominator of a rate cell, for its tooltip */
  ratio: function (params) {
    var d = params.data || {}, f = params.colDef.field;
    var num = d[f + "_num"], den = d[f + "_den"];
    if (den === undefined) { return ""; }
    var n = Math.round(num * 10) / 10;
    return n.toLocaleString("en-US") + " / " + Number(den).toLocaleString("en-US");
  },
  /* colour of a child area by hideout.values[code]: red (bad) → green (good), blue for volumes */
  areaStyle: function (feature, context) {
    var h = (context && context.hideout) || {}, code = feature.properties.code;
    var v = (h.values || {})[code];
    var selected = h.selected && h.selected === code;
    var edge = {color: selected ? "#ffffff" : "#9fc3ff", weight: selected ? 4 : 1.2};
    if (h.scoped && !(code in (h.values || {}))) {   /* outside the viewer's scope: an outline, no number */
      return {color: "#34548c", weight: 1, fillOpacity: 0, opacity: 0.5};
    }
    if (v === null || v === undefined) {
      return Object.assign({fillColor: "#2a3347", fillOpacity: 0.55, dashArray: "4 4"}, edge);
    }
    /* the server's fixed scale per metric (metrics/ticket_scale.py): a colour means the same everywhere */
    if (h.colours && h.colours[code]) { return Object.assign({fillColor: h.colours[code], fillOpacity: 0.72}, edge); }
    var span = (h.max - h.min) || 1, x = Math.max(0, Math.min(1, (v - h.min) / span));
    var good = ["#d83a3a", "#ff7a1a", "#ffd633", "#8fd14f", "#35d07f"];
    var plain = ["#12305e", "#1f5fa8", "#2f8fd8", "#5fb6ff", "#a8d8ff"];
    var stops = h.better === "none" ? plain : good;
    if (h.better === "low") { x = 1 - x; }
    var colour = stops[Math.min(stops.length - 1, Math.floor(x * (stops.length - 1) + 0.5))];
    return Object.assign({fillColor: colour, fillOpacity: 0.72}, edge);
  },
  hoverStyle: function () { return {weight: 4, color: "#ffffff"}; },
  areaTooltip: function (feature, layer, context) {
    layer.bindTooltip(function () {
      var h = (context && context.hideout) || {}, code = feature.properties.code, esc = window.cityops.esc;
      var txt = (h.text || {})[code];
      return esc(feature.properties.name) + "<br>" + esc(h.label) + " " + (txt === undefined ? "—" : esc(txt));
    }, {className: "area-label", sticky: true});
  }
};
/* dash-ag-grid looks its functions up here */
window.dashAgGridFunctions = window.dashAgGridFunctions || {};
window.dashAgGridFunctions.tkFormat = function (v, kind) { return window.cityops.tickets.format(v, kind); };
window.dashAgGridFunctions.tkRatio = function (params) { return window.cityops.tickets.ratio(params); };
/* /overdue: the step light as a dot, and "how long overdue" (negative: time left) */
window.dashAgGridFunctions.odLate = function (hours, lang) {
  if (hours === null || hours === undefined) { return "—"; }
  var zh = lang !== "en", h = Math.abs(hours), d = Math.floor(h / 24), r = Math.floor(h % 24),
      m = Math.floor((h * 60) % 60);
  var txt = d > 0 ? (zh ? d + "天" + r + "小时" : d + " d " + r + " h")
                  : (zh ? r + "小时" + m + "分" : r + " h " + m + " min");
  if (hours >= 0) { return txt; }
  return zh ? "剩 " + txt : txt + " left";
};
window.dashAgGridFunctions.odLightOrder = function (a, b) {
  var rank = {red: 3, yellow: 2, green: 1};
  return (rank[a] || 0) - (rank[b] || 0);
};
window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {};
window.dashAgGridComponentFunctions.odLight = function (props) {
  var v = props.value || "";
  return React.createElement("span", {className: "od-light od-light-" + v, title: v});
};
