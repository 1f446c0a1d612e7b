/* Functions the pages call in the browser, under one namespace: window.cityops.
   esc(): every string that came from a feed goes through it before it reaches HTML
   (Leaflet tooltips and divIcons set innerHTML). */
window.cityops = Object.assign(window.cityops || {}, {
  esc: function (v) {
    if (v === null || v === undefined) { return ""; }
    return String(v).replace(/[&<>"'`=\/]/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "`": "&#96;",
              "=": "&#61;", "/": "&#47;"}[c];
    });
  },
  clock: function (tz) {
    try {
      return new Intl.DateTimeFormat("zh-CN", {timeZone: tz || "Asia/Shanghai", year: "numeric",
        month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
        hour12: false}).format(new Date());
    } catch (e) { return new Date().toLocaleString(); }
  },
  map: {
    /* colour an area by hideout.values[code] relative to hideout.max (blue → red) */
    areaStyle: function (feature, context) {
      var h = (context && context.hideout) || {};
      var v = (h.values || {})[feature.properties.code] || 0;
      var max = Math.max(h.max || 1, 1);
      var x = Math.min(v / max, 1);
      var stops = ["#12305e", "#1f5fa8", "#2f8fd8", "#ffd633", "#ff7a1a", "#ff4d4f"];
      var colour = stops[Math.min(stops.length - 1, Math.floor(x * (stops.length - 1) + 0.5))];
      var overdue = (h.overdue || {})[feature.properties.code] || 0;
      return {fillColor: colour, fillOpacity: 0.78, color: overdue > 0 ? "#ff4d4f" : "#9fc3ff",
              weight: overdue > 0 ? 2.5 : 1};
    },
    areaTooltip: function (feature, layer, context) {
      layer.bindTooltip(function () {
        var h = (context && context.hideout) || {}, esc = window.cityops.esc;
        var code = feature.properties.code;
        var v = (h.values || {})[code] || 0, o = (h.overdue || {})[code] || 0;
        return esc(feature.properties.name) + "<br>" + esc(h.label) + " " + esc(v) + (o ? " · ⚠ " + esc(o) : "");
      }, {className: "area-label", sticky: true});
    }
  }
});
