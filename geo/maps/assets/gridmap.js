/* GridMap: the 以房找人 map of a grid. Draws the grid, its neighbours and its buildings from the data
 * embedded in the page, opens a building's 楼盘表 on click and finds a person or an address (以人找房).
 * Works offline: no request leaves the page (the basemap, when one is configured, aside).
 * The URL fragment selects on load: #b=<building id>, #d=<dwelling id>, #q=<search text>. */
(function () {
  "use strict";

  var USE = { rented: "出租", vacant: "空置", commercial: "商铺" };

  function esc(s) {
    return String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function colorFor(m, v, noData) {
    if (v === null || v === undefined) return noData;
    for (var i = 0; i < m.breaks.length; i++) if (v < m.breaks[i]) return m.colors[i];
    return m.colors[m.colors.length - 1];
  }

  function norm(s) {
    return String(s || "").replace(/\s+/g, "").toLowerCase();
  }

  function init(map, data) {
    var container = map.getContainer();
    var measures = {};
    data.measures.forEach(function (m) { measures[m.key] = m; });
    var state = { measure: data.measure, selected: null, layers: {} };
    var buildings = {};
    var labels = []; // {t: tooltip, rank}: drawn from the highest rank down, skipping those that would overlap
    data.buildings.features.forEach(function (f) { buildings[f.properties.id] = f.properties; });
    var dwellingOf = {};
    Object.keys(data.dwellings).forEach(function (bid) {
      data.dwellings[bid].forEach(function (d) { d.b = bid; dwellingOf[d.id] = d; });
    });
    if (!data.basemap) map.setMaxZoom(21);

    // -- layers -----------------------------------------------------------------------------------
    L.geoJSON(data.neighbours, {
      interactive: false,
      style: function () {
        return { color: data.colors.neighbour, weight: 1.5, dashArray: "5 4", fill: false };
      },
      onEachFeature: function (f, layer) {
        var c = f.properties.code || "";
        var t = L.tooltip({ permanent: true, direction: "center", className: "gm-nb-label" })
          .setLatLng(f.properties.at || layer.getBounds().getCenter())
          .setContent(esc(f.properties.name || c.slice(-3))).addTo(map);
        labels.push({ t: t, rank: -1 });
      }
    }).addTo(map);
    var boundary = L.geoJSON(data.boundary, {
      interactive: false,
      style: { color: data.colors.grid, weight: 3.5, fill: true, fillOpacity: 0.03 }
    }).addTo(map);

    function styleOf(p) {
      var m = measures[state.measure];
      var sel = state.selected === p.id;
      return {
        color: sel ? data.colors.selected : "#555",
        weight: sel ? 4 : 1,
        fillColor: colorFor(m, p[m.field], data.colors.noData),
        fillOpacity: 0.85
      };
    }
    var buildingLayer = L.geoJSON(data.buildings, {
      style: function (f) { return styleOf(f.properties); },
      onEachFeature: function (f, layer) {
        var p = f.properties;
        state.layers[p.id] = layer;
        layer.on("click", function () { select(p.id, null, false); });
        if (p.at) {
          var t = L.tooltip({ permanent: true, direction: "center", interactive: true, className: "gm-label" })
            .setLatLng(p.at).setContent(esc(p.label)).addTo(map)
            .on("click", function () { select(p.id, null, false); });
          labels.push({ t: t, id: p.id, rank: (p.use === "residential" ? 100000 : 0) + p.households });
        }
      }
    }).addTo(map);
    var titleBox = document.getElementById("gm-title");
    var top = titleBox ? Math.min(titleBox.offsetHeight + 20, container.clientHeight / 3) : 20;
    var extent = boundary.getBounds().isValid() ? boundary.getBounds() : buildingLayer.getBounds();
    if (extent.isValid()) {
      map.fitBounds(extent, { paddingTopLeft: [20, top], paddingBottomRight: [20, 20] });
    }
    labels.sort(function (a, b) { return b.rank - a.rank; });
    function declutter() {
      var els = labels.map(function (l) { return l.t.getElement(); });
      els.forEach(function (el) { if (el) el.style.visibility = ""; });
      var boxes = els.map(function (el) { return el ? el.getBoundingClientRect() : null; });
      var shown = [];
      var first = state.selected;
      boxes.forEach(function (r, i) {
        if (!r) return;
        var keep = labels[i].id === first || !shown.some(function (s) {
          return r.left < s.right && r.right > s.left && r.top < s.bottom && r.bottom > s.top;
        });
        if (keep) shown.push(r); else els[i].style.visibility = "hidden";
      });
    }
    map.on("zoomend moveend", declutter);
    L.control.scale({ imperial: false, metric: true, maxWidth: 160, position: "bottomleft" }).addTo(map);

    // -- overlays (title, north arrow, legend and search are in the page; moved onto the map) -----
    var printButton = document.getElementById("gm-print");
    if (printButton) printButton.addEventListener("click", function () { window.print(); });
    ["gm-title", "gm-north", "gm-legend", "gm-search"].forEach(function (id) {
      var node = document.getElementById(id);
      if (node) {
        container.appendChild(node);
        L.DomEvent.disableClickPropagation(node);
        L.DomEvent.disableScrollPropagation(node);
      }
    });

    function drawLegend() {
      var m = measures[state.measure];
      var box = document.getElementById("gm-legend-classes");
      if (!box) return;
      var html = "";
      m.classes.forEach(function (c) {
        html += '<div><span class="gm-swatch" style="background:' + c.color + '"></span>' + esc(c.label) + "</div>";
      });
      html += '<div><span class="gm-swatch" style="background:' + data.colors.noData + '"></span>无数据（非住宅或无人）</div>';
      box.innerHTML = html;
      var title = document.getElementById("gm-legend-title");
      if (title) title.textContent = m.label;
    }
    var select_ = document.getElementById("gm-measure");
    if (select_) {
      select_.addEventListener("change", function () {
        state.measure = select_.value;
        buildingLayer.eachLayer(function (l) { l.setStyle(styleOf(l.feature.properties)); });
        drawLegend();
      });
    }

    // -- the 楼盘表 panel --------------------------------------------------------------------------
    var panel = L.DomUtil.create("div", "gm-panel", container);
    panel.id = "gm-panel";
    L.DomEvent.disableClickPropagation(panel);
    L.DomEvent.disableScrollPropagation(panel);

    function personHtml(i, hit) {
      var p = data.people[i];
      var meta = [p.s, p.a === null || p.a === undefined ? "" : p.a + "岁", p.rel, p.t].filter(Boolean).join(" ");
      var tip = [p.ph ? "电话 " + p.ph : "", p.id ? "身份证 " + p.id : ""].filter(Boolean).join(" · ");
      var tags = (p.c || []).map(function (t) { return '<span class="gm-tag">' + esc(t) + "</span>"; }).join("");
      return '<li class="gm-person' + (p.c && p.c.length ? " gm-care" : "") + (hit ? " gm-hit" : "") +
        '" data-person="' + i + '"' + (tip ? ' title="' + esc(tip) + '"' : "") + ">" + esc(p.n) +
        ' <span class="gm-meta">' + esc(meta) + "</span>" + tags + "</li>";
    }

    function dwellingHtml(d, hitPerson) {
      var care = d.p.some(function (i) { return data.people[i].c && data.people[i].c.length; });
      var cls = "gm-dw" + (d.p.length ? "" : " gm-empty") + (care ? " gm-has-care" : "");
      var use = USE[d.use] ? ' <span class="gm-use">' + USE[d.use] + "</span>" : "";
      var html = '<div class="' + cls + '" id="gm-dw-' + esc(d.id) + '" data-dwelling="' + esc(d.id) + '">' +
        '<div class="gm-room">' + esc(d.r) + use + "</div>";
      if (d.p.length) {
        html += "<ul>" + d.p.map(function (i) { return personHtml(i, i === hitPerson); }).join("") + "</ul>";
      } else {
        html += "<div>无登记人员</div>";
      }
      return html + "</div>";
    }

    function tableHtml(bid, hitPerson) {
      var ds = data.dwellings[bid] || [];
      if (!ds.length) return "<p>本楼栋没有登记的房屋。</p>";
      var units = [], floors = [], cells = {};
      ds.forEach(function (d) {
        var u = d.u === null ? 0 : d.u, f = d.f === null ? 0 : d.f;
        if (units.indexOf(u) < 0) units.push(u);
        if (floors.indexOf(f) < 0) floors.push(f);
        (cells[f + ":" + u] = cells[f + ":" + u] || []).push(d);
      });
      units.sort(function (a, b) { return a - b; });
      floors.sort(function (a, b) { return b - a; });
      var html = '<table class="gm-table"><thead><tr><th>楼层</th>';
      units.forEach(function (u) { html += "<th>" + (u ? u + "单元" : "—") + "</th>"; });
      html += "</tr></thead><tbody>";
      floors.forEach(function (f) {
        html += "<tr><th>" + (f ? (f < 0 ? "地下" + -f : f) + "层" : "—") + "</th>";
        units.forEach(function (u) {
          html += "<td>" + (cells[f + ":" + u] || []).map(function (d) { return dwellingHtml(d, hitPerson); }).join("") + "</td>";
        });
        html += "</tr>";
      });
      return html + "</tbody></table>";
    }

    function openPanel(bid, hitDwelling, hitPerson) {
      var p = buildings[bid];
      var groups = Object.keys(p.groups || {}).map(function (k) {
        return "<span>" + esc(k) + " " + p.groups[k] + "</span>";
      }).join("");
      var occ = p.occupancy === null || p.occupancy === undefined ? "—" : Math.round(p.occupancy * 100) + "%";
      panel.innerHTML = '<button class="gm-close" title="关闭" aria-label="关闭">×</button>' +
        "<h2>" + esc(p.title) + (p.part ? "（" + esc(p.part) + "）" : "") + "</h2>" +
        '<div class="gm-sub">' + p.floors + "层 · " + p.units + "个单元 · " + p.households + "户 · 入住率 " + occ +
        " · " + p.residents + "人" + (p.care ? " · 重点人群 " + p.care + "人" : "") + "</div>" +
        (groups ? '<div class="gm-groups">' + groups + "</div>" : "") + tableHtml(bid, hitPerson);
      panel.className = "gm-panel gm-open";
      panel.setAttribute("data-building", bid);
      panel.querySelector(".gm-close").addEventListener("click", closePanel);
      if (hitDwelling) {
        var cell = document.getElementById("gm-dw-" + hitDwelling);
        if (cell) {
          L.DomUtil.addClass(cell, "gm-hit");
          if (cell.scrollIntoView) cell.scrollIntoView({ block: "center" });
        }
      } else {
        panel.scrollTop = 0;
      }
    }

    function closePanel() {
      panel.className = "gm-panel";
      var prev = state.selected;
      state.selected = null;
      if (prev && state.layers[prev]) state.layers[prev].setStyle(styleOf(buildings[prev]));
    }

    function select(bid, did, pan, person) {
      if (!buildings[bid]) return false;
      var prev = state.selected;
      state.selected = bid;
      if (prev && state.layers[prev]) state.layers[prev].setStyle(styleOf(buildings[prev]));
      var layer = state.layers[bid];
      layer.setStyle(styleOf(buildings[bid]));
      layer.bringToFront();
      if (pan) map.panTo(layer.getBounds().getCenter());
      openPanel(bid, did, person === undefined ? null : person);
      declutter();
      container.setAttribute("data-selected", bid);
      return true;
    }

    // -- search (以人找房 / 以房找人) ---------------------------------------------------------------
    var input = document.getElementById("gm-q");
    var results = document.getElementById("gm-results");

    function search(q) {
      q = norm(q);
      var out = [];
      if (!q) return out;
      var short = /^(\d+)[-－](\d+)[-－]([\w]+)$/.exec(q);
      data.people.forEach(function (p, i) {
        if (out.length < 50 && norm(p.n).indexOf(q) >= 0) {
          var d = dwellingOf[p.d];
          out.push({ text: p.n + " · " + d.a, b: d.b, d: d.id, p: i });
        }
      });
      Object.keys(dwellingOf).forEach(function (id) {
        var d = dwellingOf[id], b = buildings[d.b];
        var hit = norm(d.a).indexOf(q) >= 0;
        if (!hit && short) {
          hit = b.label.indexOf(short[1] + "号") === 0 && String(d.u) === short[2] && norm(d.r).indexOf(short[3]) === 0;
        }
        if (hit && out.length < 80) out.push({ text: d.a, b: d.b, d: d.id });
      });
      Object.keys(buildings).forEach(function (id) {
        var b = buildings[id];
        if (norm(b.title).indexOf(q) >= 0 || norm(b.label) === q) out.unshift({ text: b.title, b: id, d: null });
      });
      return out.slice(0, 50);
    }

    function showResults(list) {
      results.innerHTML = "";
      if (!list.length) {
        if (input.value.trim()) results.innerHTML = '<li class="gm-none">没有找到</li>';
        return;
      }
      list.forEach(function (r) {
        var li = document.createElement("li");
        li.textContent = r.text;
        li.tabIndex = 0;
        li.addEventListener("click", function () { select(r.b, r.d, true, r.p); });
        li.addEventListener("keydown", function (e) { if (e.key === "Enter") select(r.b, r.d, true, r.p); });
        results.appendChild(li);
      });
    }

    if (input) {
      input.addEventListener("input", function () { showResults(search(input.value)); });
      input.addEventListener("keydown", function (e) {
        if (e.key === "Enter") {
          var r = search(input.value);
          if (r.length) select(r[0].b, r[0].d, true, r[0].p);
        }
      });
    }

    // -- the URL fragment ---------------------------------------------------------------------------
    var params = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
      var i = kv.indexOf("=");
      if (i > 0) params[kv.slice(0, i)] = decodeURIComponent(kv.slice(i + 1));
    });
    if (params.q && input) {
      input.value = params.q;
      var found = search(params.q);
      showResults(found);
      if (found.length) select(found[0].b, found[0].d, true, found[0].p);
    } else if (params.d && dwellingOf[params.d]) {
      select(dwellingOf[params.d].b, params.d, true);
    } else if (params.b) {
      select(params.b, null, true);
    }
    declutter();
    container.setAttribute("data-ready", "1");
    window.gridmap = { map: map, data: data, select: select, search: search, close: closePanel };
  }

  window.GridMapUI = { init: init };
})();
