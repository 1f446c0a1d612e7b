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
      layer.once("add", function () { window.cityops.map.watch(layer._map); });
    },
    /* the wall map fills its panel: fitted to its shapes whenever the panel's size changes
       (4K, a spliced wall, the chips and legend settling, emergency mode's other layout) */
    watch: function (map) {
      if (!map || map._cityopsWatched) { return; }
      map._cityopsWatched = true;
      var fit = function () {
        map.invalidateSize();
        var b = null;
        map.eachLayer(function (l) {
          if (l.feature && l.getBounds) {
            var lb = l.getBounds();
            b = b ? b.extend(lb) : L.latLngBounds(lb.getSouthWest(), lb.getNorthEast());
          }
        });
        if (b && b.isValid()) { map.fitBounds(b, {padding: [6, 6], animate: false}); }
      };
      var later = function () { clearTimeout(map._cityopsFit); map._cityopsFit = setTimeout(fit, 120); };
      if (window.ResizeObserver) { new ResizeObserver(later).observe(map.getContainer()); }
      map.on("layeradd", later);
      later();
    }
  }
});
