/* The alarm map's functions (dash-extensions Namespace("cityops", "alarms")) and the
   wall's alarm flash. Colours: levels I red, II orange, III yellow, IV blue (METRICS.md). */
(function () {
  var NET = {gas: "#c58cff", water: "#39d0e0", heating: "#ff7ab6"};
  var LEVEL = {1: "#ff3b3b", 2: "#ff8a1a", 3: "#ffd633", 4: "#2f7bff"};
  var ROMAN = {1: "Ⅰ", 2: "Ⅱ", 3: "Ⅲ", 4: "Ⅳ"};
  function esc(v) { return window.cityops.esc(v); }
  function token(v) { return String(v === null || v === undefined ? "" : v).replace(/[^A-Za-z0-9_-]/g, ""); }

  window.cityops = Object.assign(window.cityops || {}, {
    alarms: {
      levelColour: function (level) { return LEVEL[level] || "#888"; },
      outline: function (feature) {
        return {color: "#34548c", weight: 1, fillColor: "#0f1d38", fillOpacity: 0.25};
      },
      /* one sensor: a small dot in its network's colour */
      sensorPoint: function (feature, latlng, context) {
        var n = (context && context.hideout && context.hideout.network) || feature.properties.n;
        return L.circleMarker(latlng, {radius: 3, stroke: false, fillColor: NET[n] || "#9fc3ff",
                                       fillOpacity: 0.85, interactive: false});
      },
      /* a cluster: its count in a disc of its network's colour, larger for more sensors */
      sensorCluster: function (feature, latlng, index, context) {
        var n = (context && context.hideout && context.hideout.network) || "gas";
        var c = feature.properties.point_count;
        var size = c < 50 ? 26 : c < 300 ? 34 : 42;
        var icon = L.divIcon({
          html: '<div style="background:' + (NET[n] || "#9fc3ff") + '"><span>' +
                esc(feature.properties.point_count_abbreviated) + "</span></div>",
          className: "sensor-cluster", iconSize: L.point(size, size)});
        return L.marker(latlng, {icon: icon});
      },
      /* an alarm: a level-coloured marker; unacknowledged ones pulse */
      alarmPoint: function (feature, latlng, context) {
        var p = feature.properties;
        var sel = context && context.hideout && context.hideout.selected === p.id;
        var cls = "alarm-dot lv" + token(p.level) + (p.status === "active" ? " unacked" : "") +
                  (p.overdue ? " overdue" : "") + (sel ? " selected" : "");
        var size = p.level <= 2 ? 30 : 22;
        var icon = L.divIcon({html: '<div class="' + cls + '">' + (ROMAN[p.level] || "?") + "</div>",
                              className: "alarm-icon", iconSize: L.point(size, size)});
        var m = L.marker(latlng, {icon: icon, zIndexOffset: 10000 * (5 - p.level), riseOnHover: true});
        /* p.text: the server's words for it in the page's language (no internal codes) */
        m.bindTooltip((ROMAN[p.level] || "?") + " · " +
                      (p.text ? esc(p.text) : esc(p.network) + " · " + esc(p.kind) + " · " + esc(p.sensor)),
                      {className: "area-label", direction: "top"});
        return m;
      },
      alarmFilter: function (feature, context) {
        var h = (context && context.hideout) || {};
        var p = feature.properties;
        return (h.networks || []).indexOf(p.network) >= 0 && (h.levels || []).indexOf(p.level) >= 0 &&
               (h.status || []).indexOf(p.status) >= 0;
      },
      teamPoint: function (feature, latlng) {
        var p = feature.properties;
        var icon = L.divIcon({html: '<div class="team-box team-' + token(p.status) + '">' + esc(p.id) + "</div>",
                              className: "team-icon", iconSize: L.point(34, 18)});
        var m = L.marker(latlng, {icon: icon, zIndexOffset: 500});
        m.bindTooltip(p.text ? esc(p.text) : esc(p.name) + " · " + esc(p.status), {className: "area-label", direction: "top"});
        return m;
      }
    },
    wallAlarms: {
      /* a new level I/II alarm id (not in the ids seen before) → flash; beep when sound is on */
      flash: function (serious, seen, sound) {
        var ids = (serious || []).map(function (a) { return a.alarm_id; });
        if (seen === undefined || seen === null) { return [ids, window.dash_clientside.no_update]; }
        var fresh = (serious || []).filter(function (a) { return seen.indexOf(a.alarm_id) < 0; });
        if (!fresh.length) { return [ids, window.dash_clientside.no_update]; }
        if (sound) {
          try {
            var ctx = new (window.AudioContext || window.webkitAudioContext)();
            var o = ctx.createOscillator(); o.frequency.value = 880; o.connect(ctx.destination);
            o.start(); o.stop(ctx.currentTime + 0.4);
          } catch (e) { /* no audio device: the flash is enough */ }
        }
        fresh.sort(function (a, b) { return a.level - b.level; });
        return [ids, {alarm: fresh[0], at: Date.now(), n: fresh.length}];
      }
    }
  });
})();
