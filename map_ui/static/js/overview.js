/* GridMap overview (/overview, 一屏统览·五级联动): city → district → street → community → grid with
 * /stats/{code} (the last level: /grids/{code}); key figures, the children's table, and a choropleth of
 * the 人房关联率 on the communities (/communities.geojson) with the grids of a community on top.
 * No token needed: the figures are aggregates. The URL fragment keeps the place: #code=<code>. */
(function () {
  "use strict";
  var GM = window.GM, esc = GM.esc, fmt = GM.fmt, $ = GM.$;

  var ROOT = "150100000000";
  var LEVEL = { province: "省区", city: "市", county: "旗县区", town: "街道", village: "社区", grid: "网格" };
  var CHILD = { province: "市", city: "旗县区", county: "街道（苏木乡镇）", town: "社区（嘎查村）", village: "网格" };
  var PREFIX = { province: 2, city: 4, county: 6, town: 9, village: 12 };
  var BREAKS = [0.9, 0.95, 0.98, 0.99, 0.995];
  var COLORS = ["#d7191c", "#f46d43", "#fdae61", "#fee08b", "#a6d96a", "#1a9641"];
  var NODATA = "#cfd4da";

  var stats = {};      // code → /stats/{code}
  var grids = {};      // grid code → /grids/{code}
  var communities = null;
  var current = null;
  var seq = 0;

  var map = GM.map("map");
  var areaLayer = L.layerGroup().addTo(map);
  var gridLayer = L.layerGroup().addTo(map);
  var legend = L.control({ position: "bottomright" });
  legend.onAdd = function () {
    var d = L.DomUtil.create("div", "map-legend");
    var rows = ["<b>人房关联率</b>"];
    for (var i = COLORS.length - 1; i >= 0; i--) {
      var lo = i ? BREAKS[i - 1] : null, hi = i < BREAKS.length ? BREAKS[i] : null;
      rows.push("<i style=\"background:" + COLORS[i] + "\"></i>" +
        (lo === null ? "< " + GM.pct(hi, 1) : hi === null ? "≥ " + GM.pct(lo, 1) : GM.pct(lo, 1) + " – " + GM.pct(hi, 1)));
    }
    rows.push("<i style=\"background:" + NODATA + "\"></i>无数据");
    d.innerHTML = rows.join("<br>");
    return d;
  };
  legend.addTo(map);

  function color(r) {
    if (r === null || r === undefined) return NODATA;
    for (var i = 0; i < BREAKS.length; i++) if (r < BREAKS[i]) return COLORS[i];
    return COLORS[COLORS.length - 1];
  }

  function getStats(code) {
    if (stats[code]) return Promise.resolve(stats[code]);
    return GM.api("/stats/" + code).then(function (s) { stats[code] = s; return s; });
  }

  function getGrid(code) {
    if (grids[code]) return Promise.resolve(grids[code]);
    return GM.api("/grids/" + code).then(function (g) { grids[code] = g; return g; });
  }

  /* Run fn over items, at most n at a time. */
  function pool(items, n, fn) {
    var i = 0, out = new Array(items.length);
    function next() {
      if (i >= items.length) return Promise.resolve();
      var k = i++;
      return fn(items[k]).then(function (r) { out[k] = r; }, function () { out[k] = null; }).then(next);
    }
    var runners = [];
    for (var j = 0; j < Math.min(n, items.length); j++) runners.push(next());
    return Promise.all(runners).then(function () { return out; });
  }

  /* The codes above `code`, from the city down (division codes: 4, 6, 9, 12 significant digits). */
  function ancestors(code) {
    var c12 = code.slice(0, 12), out = [];
    [4, 6, 9].forEach(function (n) {
      var a = (c12.slice(0, n) + "000000000000").slice(0, 12);
      if (a !== c12 && out.indexOf(a) < 0) out.push(a);
    });
    if (code.length === 15) out.push(c12);
    return out;
  }

  function crumbs(code, name) {
    var up = ancestors(code);
    return Promise.all(up.map(function (a) { return getStats(a).then(function (s) { return s; }, function () { return { code: a, name: a }; }); }))
      .then(function (list) {
        $("#crumbs").innerHTML = list.map(function (s) {
          return "<a data-code=\"" + esc(s.code) + "\">" + esc(s.name) + "</a><span class=\"sep\">›</span>";
        }).join("") + "<span class=\"here\">" + esc(name) + "</span>";
        Array.prototype.forEach.call($("#crumbs").querySelectorAll("a[data-code]"), function (a) {
          a.addEventListener("click", function () { go(a.getAttribute("data-code")); });
        });
      });
  }

  function kpi(label, value, sub) {
    return "<div class=\"kpi\"><span>" + esc(label) + "</span><b>" + value + "</b>" + (sub ? "<span>" + sub + "</span>" : "") + "</div>";
  }

  function short(name) {
    return String(name || "").replace(/居民委员会$|居委会$|村民委员会$|委员会$/, "");
  }

  // -- an administrative area ---------------------------------------------------------------------------
  function showArea(s, my) {
    $("#area-title").textContent = s.name + "（" + (LEVEL[s.level] || s.level) + "）";
    $("#as-of").textContent = "数据时间 " + String(s.as_of || "").replace("T", " ").slice(0, 16);
    $("#kpis").innerHTML =
      kpi("网格", fmt(s.grids)) +
      kpi("户数", fmt(s.households)) +
      kpi("居民", fmt(s.residents)) +
      kpi("人房关联率", "<span id=\"link-rate\">" + GM.pct(s.link_rate) + "</span>",
        "已关联 " + fmt(s.linked_residents) + " 人" + (s.unlinked_residents ? "，未关联 " + fmt(s.unlinked_residents) + " 人" : ""));
    $("#kids-title").textContent = "下级" + (CHILD[s.level] || "") + "（" + s.children.length + "）";
    var isVillage = s.level === "village";
    $("#kids").innerHTML = "<thead><tr><th>名称</th><th>网格</th><th>户数</th><th>居民</th><th>" + (isVillage ? "编码" : "关联率") + "</th></tr></thead><tbody>" +
      s.children.map(function (k) {
        var can = isVillage || k.households || k.grids;
        return "<tr class=\"" + (can ? "drill" : "") + "\" data-code=\"" + esc(k.code) + "\"><td>" + esc(short(k.name)) + "</td><td>" + fmt(k.grids) +
          "</td><td>" + fmt(k.households) + "</td><td>" + fmt(k.residents) + "</td><td class=\"rate\" data-rate=\"" + esc(k.code) + "\">" +
          (isVillage ? esc(k.code.slice(-3)) : "…") + "</td></tr>";
      }).join("") + "</tbody>";
    Array.prototype.forEach.call($("#kids").querySelectorAll("tr.drill"), function (tr) {
      tr.addEventListener("click", function () { go(tr.getAttribute("data-code")); });
    });
    $("#note").textContent = isVillage ?
      "人房关联率按社区统计；地图上的网格标注户数，点击网格或表格行进入网格。" :
      "地图按社区显示人房关联率；点击地图或表格行进入下一级。";

    // children's link rates (their own /stats) for the table
    if (!isVillage) {
      pool(s.children, 6, function (k) { return getStats(k.code); }).then(function (list) {
        if (my !== seq) return;
        list.forEach(function (ks) {
          if (!ks) return;
          var td = $("#kids").querySelector("td[data-rate=\"" + ks.code + "\"]");
          if (td) td.textContent = GM.pct(ks.link_rate, 1);
        });
      });
    }
    return drawCommunities(s, my);
  }

  /* The communities under `s`, coloured by their link rate; at a community, its grids too. */
  function drawCommunities(s, my) {
    var n = PREFIX[s.level] || 12;
    var prefix = s.code.slice(0, n);
    var feats = communities.features.filter(function (f) { return f.properties.code.slice(0, n) === prefix; });
    return pool(feats, 6, function (f) { return getStats(f.properties.code); }).then(function (list) {
      if (my !== seq) return;
      areaLayer.clearLayers();
      gridLayer.clearLayers();
      var rate = {};
      list.forEach(function (cs) { if (cs) rate[cs.code] = cs.link_rate; });
      var layer = L.geoJSON(GM.toMap({ type: "FeatureCollection", features: feats }), {
        style: function (f) {
          var here = s.level === "village";
          return { color: "#444", weight: here ? 3 : 1.5, fillColor: color(rate[f.properties.code]), fillOpacity: here ? 0.35 : 0.7 };
        },
        onEachFeature: function (f, l) {
          var p = f.properties;
          if (s.level !== "village") {
            l.bindTooltip(esc(short(p.name)) + "<br>" + GM.pct(rate[p.code], 1), { permanent: true, direction: "center", className: "gm-area-label" });
            l.on("click", function () { go(childContaining(s, p.code)); });
          }
        }
      }).addTo(areaLayer);
      if (s.level === "village") return drawGrids(s, my, layer);
      if (feats.length) map.fitBounds(layer.getBounds(), { padding: [20, 20], animate: false });
    });
  }

  function childContaining(s, communityCode) {
    var hit = s.children.filter(function (k) {
      var m = PREFIX[k.level] || 12;
      return communityCode.slice(0, m) === k.code.slice(0, m);
    })[0];
    return hit ? hit.code : communityCode;
  }

  function drawGrids(s, my, communityLayer) {
    return pool(s.children.map(function (k) { return k.code; }), 6, getGrid).then(function (list) {
      if (my !== seq) return;
      list.forEach(function (g) {
        if (!g || !g.boundary) return;
        L.geoJSON(GM.toMap(g.boundary), { style: { color: "#b3202a", weight: 2, fillOpacity: 0.05, fillColor: "#b3202a" } })
          .bindTooltip("<b>" + esc(short(g.name || g.code).replace(/^.*社区/, "")) + "</b>" + fmt(g.households) + " 户",
            { permanent: true, direction: "center", className: "gm-grid-label" })
          .on("click", function () { go(g.code); })
          .addTo(gridLayer);
      });
      var b = communityLayer.getBounds();
      if (b.isValid()) map.fitBounds(b, { padding: [20, 20], animate: false });
    });
  }

  // -- a grid -----------------------------------------------------------------------------------------
  function showGrid(g, my) {
    $("#area-title").textContent = (g.name || g.code) + "（网格）";
    $("#as-of").textContent = "";
    $("#kpis").innerHTML =
      kpi("楼栋", fmt(g.buildings)) +
      kpi("户数", fmt(g.households)) +
      kpi("居民", fmt(g.residents), "流动人口 " + fmt(g.floating_residents) + " 人") +
      kpi("入住率", GM.pct(g.occupancy, 1), "已住 " + fmt(g.occupied_dwellings) + " / " + fmt(g.dwellings) + " 套");
    var tags = Object.keys(g.care_groups || {});
    $("#kids-title").textContent = "网格信息";
    $("#kids").innerHTML = "<tbody>" +
      "<tr><td>网格编码</td><td colspan=\"4\">" + esc(g.code) + "</td></tr>" +
      "<tr><td>所属社区</td><td colspan=\"4\">" + esc(g.community || "") + "</td></tr>" +
      (g.worker ? "<tr><td>网格员</td><td colspan=\"4\">" + esc(g.worker.name) + (g.worker.phone ? " · " + esc(g.worker.phone) : "") + "</td></tr>" : "") +
      tags.map(function (t) { return "<tr><td>" + esc(t) + "</td><td colspan=\"4\">" + fmt(g.care_groups[t]) + " 人</td></tr>"; }).join("") +
      "</tbody>";
    var cs = stats[g.community_code];
    $("#note").innerHTML = "人房关联率按社区统计" + (cs ? "：" + esc(short(cs.name)) + " " + GM.pct(cs.link_rate) : "") +
      "。网格员可在 <a href=\"/worker#grid=" + esc(g.code) + "\">我的网格</a> 查看楼盘表。";
    return getStats(g.community_code).then(function (c) {
      if (my !== seq) return;
      areaLayer.clearLayers();
      gridLayer.clearLayers();
      var comm = communities.features.filter(function (f) { return f.properties.code === g.community_code; });
      L.geoJSON(GM.toMap({ type: "FeatureCollection", features: comm }), {
        interactive: false, style: { color: "#444", weight: 1.5, dashArray: "6 4", fillColor: color(c.link_rate), fillOpacity: 0.2 }
      }).addTo(areaLayer);
      var gl = L.geoJSON(GM.toMap(g.boundary), { style: { color: "#b3202a", weight: 3.5, fillColor: color(c.link_rate), fillOpacity: 0.5 } })
        .bindTooltip("<b>" + esc(g.name || g.code) + "</b>" + fmt(g.households) + " 户", { permanent: true, direction: "center", className: "gm-grid-label" })
        .addTo(gridLayer);
      map.fitBounds(gl.getBounds(), { padding: [30, 30], animate: false });
    });
  }

  // -- navigation ---------------------------------------------------------------------------------------
  function go(code) {
    var my = ++seq;
    current = code;
    if (location.hash !== "#code=" + code) history.replaceState(null, "", "#code=" + code);
    GM.clearMessage($("#msg"));
    document.body.setAttribute("aria-busy", "true");
    var work = code.length === 15 ?
      getGrid(code).then(function (g) { return Promise.all([crumbs(code, g.name || code), showGrid(g, my)]); }) :
      getStats(code).then(function (s) { return Promise.all([crumbs(code, s.name), showArea(s, my)]); });
    return work.catch(function (err) {
      GM.showError($("#msg"), err, "读取 " + code + " ", { 404: "没有这个区划或网格" });
    }).then(function () {
      if (my === seq) {
        document.body.setAttribute("aria-busy", "false");
        document.body.setAttribute("data-code", code);
      }
    });
  }

  function start() {
    var m = /code=(\d{12}|\d{15})/.exec(location.hash);
    go(m ? m[1] : ROOT);
  }

  GM.api("/communities.geojson").then(function (fc) {
    communities = fc;
    start();
  }, function (err) {
    communities = { type: "FeatureCollection", features: [] };
    GM.showError($("#msg"), err, "读取社区边界");
    start();
  });
  window.addEventListener("hashchange", function () {
    var m = /code=(\d{12}|\d{15})/.exec(location.hash);
    if (m && m[1] !== current) go(m[1]);
  });
  window.gridmapOverview = { go: go, stats: stats, map: map };
})();
