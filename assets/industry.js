/* /industry (亩均效益): map styles, grid formatters and the grade badge. Grade colours
   match layouts/industry.py GRADE_COLOURS and assets/industry.css. */
(function () {
  var COLOURS = {A: "#35d07f", B: "#3ba7ff", C: "#ffb020", D: "#ff4d4f"};
  var NONE = "#8ea0c0";
  function num(v, digits) {
    if (v === null || v === undefined || v === "" || (typeof v === "number" && isNaN(v))) { return "—"; }
    var x = Number(v);
    if (Math.abs(x) < 0.5 * Math.pow(10, -digits)) { x = 0; }   /* no "-0.0" for a tiny refund */
    return x.toLocaleString("en-US", {minimumFractionDigits: digits, maximumFractionDigits: digits});
  }
  window.cityops = Object.assign(window.cityops || {}, {});
  window.cityops.industry = {
    num: num,
    pct: function (v) { return (v === null || v === undefined) ? "—" : (100 * v).toFixed(2) + "%"; },
    /* an enterprise as a circle marker coloured by grade */
    point: function (feature, latlng) {
      var g = feature.properties.grade;
      return L.circleMarker(latlng, {radius: 6, color: "#0b1220", weight: 1,
        fillColor: COLOURS[g] || NONE, fillOpacity: 0.9});
    },
    pointTooltip: function (feature, layer) {
      var p = feature.properties;
      var esc = window.cityops.esc;
      layer.bindTooltip(esc(p.name) + "<br>" + (p.grade ? esc(p.grade) : "—") + " · " + esc(num(p.tax, 2)),
        {className: "area-label"});
    },
    areaStyle: function () {
      return {fillColor: "#12305e", fillOpacity: 0.35, color: "#5b86c9", weight: 1.2};
    },
    areaTooltip: function (feature, layer) {
      layer.bindTooltip(window.cityops.esc(feature.properties.name), {className: "area-label", sticky: true});
    }
  };
  /* grid cell renderers (dash-ag-grid looks them up here) */
  var comps = window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {};
  comps.GradeBadge = function (props) {
    var g = props.value;
    return React.createElement("span", {className: "grade-badge grade-" + (g || "none")}, g || "—");
  };
  /* valueFormatter {"function": "indNum(params.value, 1)"} resolves names here */
  var fns = window.dashAgGridFunctions = window.dashAgGridFunctions || {};
  fns.indNum = num;
  fns.indPct = window.cityops.industry.pct;
})();
