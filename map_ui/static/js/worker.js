/* GridMap grid worker page (/worker), phone first: the worker's own grids (GET /me scopes), the grid's
 * boundary and figures (GET /grids/{code}), its numbered buildings (GET /grids/{code}/buildings.geojson,
 * scope-checked), a building's 楼盘表 (GET /buildings/{id}/table), search by name or ID number
 * (POST /search/persons) and by address (GET /search/addresses), printing (window.print()).
 * A grid or building outside the worker's scope answers 403: the page says so and shows nothing of it.
 * The URL fragment selects on load: #grid=<code>, #building=<id>. */
(function () {
  "use strict";
  var GM = window.GM, esc = GM.esc, fmt = GM.fmt, $ = GM.$;

  var USE = { rented: "出租", vacant: "空置", commercial: "商铺" };
  var BUSE = { residential: "住宅", bungalow: "平房", commercial: "商业", school: "学校", office: "办公", hospital: "医院", other: "其他" };
  var SCOPE_403 = { 403: "不在您的负责范围内，不能查看其中的住户" };

  var S = { user: null, grid: null, info: null, buildings: null, searchBy: "person", table: null, hitBuilding: null };
  var map = null, boundaryLayer = null, buildingLayer = null, numberLayer = null;
  var layersById = {}, markersById = {};

  function msg(kind, text, detail) {
    if (kind === null) return GM.clearMessage($("#msg"));
    GM.message($("#msg"), kind, text, detail);
  }

  function hashParams() {
    var out = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
      var i = kv.indexOf("=");
      if (i > 0) out[decodeURIComponent(kv.slice(0, i))] = decodeURIComponent(kv.slice(i + 1));
    });
    return out;
  }

  function ensureMap() {
    if (map) { map.invalidateSize(); return; }
    map = GM.map("map", { tap: true });
    boundaryLayer = L.layerGroup().addTo(map);
    buildingLayer = L.layerGroup().addTo(map);
    numberLayer = L.layerGroup().addTo(map);
  }

  /* Forget everything about the current grid: nothing of a refused grid stays on screen. */
  function clearGrid() {
    S.grid = null; S.info = null; S.buildings = null;
    $("#download-map").disabled = true;
    $("#content").hidden = true;
    $("#title").textContent = "我的网格";
    document.title = "我的网格 · GridMap";
    $("#info").innerHTML = "";
    $("#blist").innerHTML = "";
    $("#results").innerHTML = "";
    $("#bcount").textContent = "0";
    GM.clearMessage($("#search-msg"));
    if (map) { boundaryLayer.clearLayers(); buildingLayer.clearLayers(); numberLayer.clearLayers(); }
    layersById = {}; markersById = {};
    closeSheet();
  }

  // -- the grid ---------------------------------------------------------------------------------------
  function loadGrid(code) {
    clearGrid();
    msg("info", "正在打开网格 " + code + "…");
    history.replaceState(null, "", "#grid=" + code);
    return GM.api("/grids/" + code + "/buildings.geojson").then(function (fc) {
      return GM.api("/grids/" + code).then(function (info) {
        S.grid = code; S.info = info; S.buildings = fc;
        $("#download-map").disabled = false;
        msg(null);
        renderGrid();
      });
    }).catch(function (err) {
      clearGrid();
      GM.showError($("#msg"), err, "打开网格 " + code + " ", {
        403: "该网格不在您的负责范围内，无权查看其中的楼栋和住户",
        404: "没有这个网格（或它不在现行方案中）"
      });
      $("#msg").setAttribute("data-status", String(err.status || ""));
    });
  }

  function renderGrid() {
    var i = S.info, fc = S.buildings;
    $("#content").hidden = false;
    ensureMap();
    $("#title").textContent = i.name || ("网格 " + i.code);
    document.title = (i.name || i.code) + " · 以房找人 · GridMap";
    var tags = Object.keys(i.care_groups || {}).map(function (k) {
      return "<span class=\"tag\">" + esc(k) + " " + fmt(i.care_groups[k]) + "</span>";
    }).join("");
    $("#info").innerHTML =
      "<div><b>" + esc(i.name || i.code) + "</b> <span class=\"hint\">" + esc(i.code) + " · " + esc(i.community || "") + "</span></div>" +
      (i.worker ? "<div class=\"hint\">网格员：" + esc(i.worker.name) + (i.worker.phone ? " · <a href=\"tel:" + esc(i.worker.phone) + "\">" + esc(i.worker.phone) + "</a>" : "") + "</div>" : "") +
      "<div class=\"figures\">" +
      "<div><b>" + fmt(i.buildings) + "</b><span>楼栋</span></div>" +
      "<div><b>" + fmt(i.households) + "</b><span>户</span></div>" +
      "<div><b>" + fmt(i.residents) + "</b><span>居民</span></div>" +
      "<div><b>" + fmt(i.floating_residents) + "</b><span>流动人口</span></div>" +
      "<div><b>" + fmt(i.dwellings) + "</b><span>房屋</span></div>" +
      "<div><b>" + GM.pct(i.occupancy, 0) + "</b><span>入住率</span></div>" +
      "</div>" + (tags ? "<div class=\"tags\" title=\"重点人群\">" + tags + "</div>" : "") +
      "<p class=\"print-only hint\">以房找人图 · 打印时间：" + new Date().toLocaleString("zh-CN") + "</p>";

    boundaryLayer.clearLayers(); buildingLayer.clearLayers(); numberLayer.clearLayers();
    layersById = {}; markersById = {};
    var bd = L.geoJSON(GM.toMap(i.boundary), {
      interactive: false, style: { color: "#b3202a", weight: 3.5, fill: true, fillColor: "#b3202a", fillOpacity: 0.04 }
    }).addTo(boundaryLayer);
    L.geoJSON(GM.toMap(fc), {
      style: function (f) { return bstyle(f.properties, false); },
      onEachFeature: function (f, layer) {
        var p = f.properties;
        (layersById[p.id] = layersById[p.id] || []).push(layer);
        layer.on("click", function () { openTable(p.id); });
        var at = p.at ? L.latLng(p.at[1], p.at[0]) : layer.getBounds().getCenter(); // already in map coordinates
        var mk = L.marker(at, {
          icon: L.divIcon({ className: "", html: "<div class=\"gm-bnum\" data-b=\"" + esc(p.id) + "\">" + p.seq + "</div>", iconSize: [22, 20], iconAnchor: [11, 10] }),
          keyboard: false, title: label(p)
        }).on("click", function () { openTable(p.id); }).addTo(numberLayer);
        markersById[p.id] = mk;
      }
    }).addTo(buildingLayer);
    map.fitBounds(bd.getBounds(), { padding: [12, 12], maxZoom: 19, animate: false });

    $("#bcount").textContent = fc.features.length;
    $("#blist").innerHTML = fc.features.map(function (f) {
      var p = f.properties;
      return "<li data-b=\"" + esc(p.id) + "\" tabindex=\"0\"><span class=\"seq\">" + p.seq + "</span><span class=\"name\">" + esc(label(p)) +
        (p.part ? "<span class=\"hint\">（" + esc(p.part) + " 单元）</span>" : "") + "</span><span class=\"hh\">" +
        (p.households ? fmt(p.households) + " 户" : esc(BUSE[p.use] || "")) + " · " + fmt(p.floors) + " 层</span></li>";
    }).join("");
    Array.prototype.forEach.call($("#blist").querySelectorAll("li"), function (li) {
      li.addEventListener("click", function () { openTable(li.getAttribute("data-b")); });
      li.addEventListener("keydown", function (ev) { if (ev.key === "Enter") openTable(li.getAttribute("data-b")); });
    });
  }

  function label(p) {
    return (p.compound ? p.compound + " " : "") + (p.number || p.id);
  }

  function bstyle(p, hit) {
    return {
      color: hit ? "#000" : "#555", weight: hit ? 3 : 1,
      fillColor: hit ? "#ffd400" : (p.households ? "#8fb3d9" : "#d0d0d0"), fillOpacity: hit ? 0.95 : 0.75
    };
  }

  function highlightBuilding(id) {
    var prev = S.hitBuilding;
    S.hitBuilding = id;
    [prev, id].forEach(function (b) {
      if (!b) return;
      (layersById[b] || []).forEach(function (l) { l.setStyle(bstyle(l.feature.properties, b === id)); });
      var el = document.querySelector(".gm-bnum[data-b=\"" + b + "\"]");
      if (el) el.classList.toggle("hit", b === id);
      var li = $("#blist").querySelector("li[data-b=\"" + b + "\"]");
      if (li) li.classList.toggle("hit", b === id);
    });
    if (id && layersById[id] && map) map.panTo(layersById[id][0].getBounds().getCenter());
  }

  // -- the 楼盘表 -------------------------------------------------------------------------------------
  function closeSheet() {
    $("#sheet").hidden = true;
    $("#units").innerHTML = "";
    $("#detail").innerHTML = "";
    $("#sheet-meta").innerHTML = "";
    GM.clearMessage($("#sheet-msg"));
    S.table = null;
    document.body.classList.remove("sheet-open");
  }

  function openTable(buildingId, dwellingId) {
    closeSheet();
    $("#sheet").hidden = false;
    document.body.classList.add("sheet-open");
    $("#sheet-title").textContent = "楼盘表";
    GM.message($("#sheet-msg"), "info", "正在读取楼盘表…");
    highlightBuilding(buildingId);
    return GM.api("/buildings/" + encodeURIComponent(buildingId) + "/table").then(function (t) {
      S.table = t;
      GM.clearMessage($("#sheet-msg"));
      renderTable(t, dwellingId);
    }).catch(function (err) {
      $("#units").innerHTML = "";
      GM.showError($("#sheet-msg"), err, "打开楼盘表", {
        403: "该楼栋不在您负责的网格内，无权查看住户",
        404: "没有这栋楼"
      });
      $("#sheet-msg").setAttribute("data-status", String(err.status || ""));
    });
  }

  function renderTable(t, dwellingId) {
    $("#sheet-title").textContent = (t.compound ? t.compound + " " : "") + (t.number || t.building_id) + " 楼盘表";
    $("#sheet-meta").innerHTML = esc(t.building_id) + " · " + fmt(t.floors) + " 层 · " + fmt(t.units) + " 个单元 · " +
      fmt(t.dwellings) + " 套房屋 · " + fmt(t.residents) + " 位居民" +
      (t.restricted_to_parts ? "<br>仅显示您负责的部分：" + esc(t.restricted_to_parts.join("、")) + " 单元" : "") +
      "<br><span class=\"care-dot\">●</span> 有重点人群　<span style=\"color:#888\">■</span> 空置";
    var byId = {};
    $("#units").innerHTML = t.table.map(function (u) {
      var width = Math.max.apply(null, u.floors.map(function (f) { return f.dwellings.length; }).concat([1]));
      return "<div class=\"unit\"><h3>" + u.unit + " 单元</h3><div class=\"scroll\"><table class=\"lpb\"><tbody>" +
        u.floors.map(function (f) {
          var cells = f.dwellings.map(function (d) {
            byId[d.dwelling_id] = d;
            var care = d.residents.some(function (r) { return r.care_tags && r.care_tags.length; });
            var names = d.residents.slice(0, 3).map(function (r) {
              return "<span class=\"who\">" + (r.care_tags && r.care_tags.length ? "<span class=\"care-dot\">●</span>" : "") + esc(r.name) + "</span>";
            }).join("") + (d.residents.length > 3 ? "<span class=\"who hint\">等 " + d.residents.length + " 人</span>" : "");
            var cls = (d.use === "vacant" || !d.residents.length ? "vacant" : "") + (care ? " care" : "");
            return "<td class=\"" + cls + "\" data-d=\"" + esc(d.dwelling_id) + "\"><span class=\"room\">" + esc(d.room) + "</span>" +
              (USE[d.use] ? "<span class=\"use\">" + USE[d.use] + "</span>" : "") + names + "</td>";
          });
          while (cells.length < width) cells.push("<td class=\"vacant\"></td>");
          return "<tr><th>" + f.floor + " 层</th>" + cells.join("") + "</tr>";
        }).join("") + "</tbody></table></div></div>";
    }).join("") || "<p class=\"hint\">这栋楼没有登记房屋。</p>";
    Array.prototype.forEach.call($("#units").querySelectorAll("td[data-d]"), function (td) {
      td.addEventListener("click", function () { showDwelling(byId[td.getAttribute("data-d")], td); });
    });
    if (dwellingId && byId[dwellingId]) {
      var td = $("#units").querySelector("td[data-d=\"" + dwellingId + "\"]");
      showDwelling(byId[dwellingId], td);
      td.scrollIntoView({ block: "center", inline: "center" });
    }
  }

  function showDwelling(d, td) {
    Array.prototype.forEach.call($("#units").querySelectorAll("td.hit"), function (x) { x.classList.remove("hit"); });
    if (td) td.classList.add("hit");
    $("#detail").innerHTML = "<div class=\"dwelling-detail\" id=\"dwelling\"><b>" + esc(d.address || d.room) + "</b>" +
      (USE[d.use] ? " <span class=\"tag quiet\">" + USE[d.use] + "</span>" : "") +
      (d.residents.length ? "<table><thead><tr><th>姓名</th><th>性别</th><th>出生</th><th>关系</th><th>类别</th><th>电话</th></tr></thead><tbody>" +
        d.residents.map(function (r) {
          return "<tr><td>" + esc(r.name) + "</td><td>" + esc(r.sex || "") + "</td><td>" + esc(r.birth_year || "") + "</td><td>" +
            esc(r.relation || "") + "</td><td>" + esc(r.residence_type || "") + "</td><td>" +
            (r.phone ? "<a href=\"tel:" + esc(r.phone) + "\">" + esc(r.phone) + "</a>" : "") + "</td></tr>" +
            "<tr><td colspan=\"6\" class=\"hint\">身份证 " + esc(r.id_number || "—") +
            (r.care_tags && r.care_tags.length ? " " + r.care_tags.map(function (c) { return "<span class=\"tag\">" + esc(c) + "</span>"; }).join(" ") : "") +
            "</td></tr>";
        }).join("") + "</tbody></table>" : "<p class=\"hint\">无登记居民</p>") + "</div>";
  }

  // -- search -----------------------------------------------------------------------------------------
  function setSearchBy(by) {
    S.searchBy = by;
    $("#by-person").classList.toggle("on", by === "person");
    $("#by-address").classList.toggle("on", by === "address");
    $("#q").placeholder = by === "person" ? "姓名或身份证号" : "地址，如 3号楼2单元501、幸福小区3-2-501";
    $("#results").innerHTML = "";
    GM.clearMessage($("#search-msg"));
  }

  function search(q) {
    q = q.trim();
    if (!q) return;
    $("#results").innerHTML = "";
    GM.message($("#search-msg"), "info", "正在查找…");
    var call = S.searchBy === "person" ?
      GM.api("/search/persons", { method: "POST", body: { q: q, limit: 20 } }) :
      GM.api("/search/addresses?q=" + encodeURIComponent(q) + "&limit=20");
    call.then(function (r) {
      if (!r.items.length) {
        GM.message($("#search-msg"), "warn", "没有找到" + (S.searchBy === "person" ? "此人" : "此地址") + "（只查找您负责的网格）");
        return;
      }
      GM.clearMessage($("#search-msg"));
      $("#results").innerHTML = r.items.map(function (it, k) {
        var inGrid = S.grid && (it.grids || []).indexOf(S.grid) >= 0;
        var head = S.searchBy === "person" ?
          esc(it.name) + " <span class=\"sub\">" + esc(it.sex || "") + " " + esc(it.birth_year || "") + " " + esc(it.residence_type || "") + "</span>" +
            (it.care_tags || []).map(function (c) { return " <span class=\"tag\">" + esc(c) + "</span>"; }).join("") :
          esc(it.address || ((it.compound || "") + it.number + it.unit + "单元" + it.room));
        var sub = S.searchBy === "person" ? esc(it.address || "（未关联房屋）") : esc((it.compound || "") + " " + (it.number || ""));
        return "<li data-k=\"" + k + "\">" + head + "<div class=\"sub\">" + sub + (inGrid ? "" : " · 其他网格") + "</div></li>";
      }).join("") + (r.next_offset ? "<li class=\"hint\">结果较多，只显示前 20 条，请输入更完整的信息</li>" : "");
      Array.prototype.forEach.call($("#results").querySelectorAll("li[data-k]"), function (li) {
        li.addEventListener("click", function () {
          var it = r.items[+li.getAttribute("data-k")];
          if (it.building_id) openTable(it.building_id, it.dwelling_id);
        });
      });
    }).catch(function (err) {
      GM.showError($("#search-msg"), err, "查找", {
        403: "此人不在您负责的网格内",
        422: S.searchBy === "person" ? "请输入至少两个字的姓名，或完整的身份证号" : "请输入小区名称或楼号、单元、门牌号"
      });
    });
  }

  // -- wiring -----------------------------------------------------------------------------------------
  $("#by-person").addEventListener("click", function () { setSearchBy("person"); });
  $("#by-address").addEventListener("click", function () { setSearchBy("address"); });
  $("#search").addEventListener("submit", function (ev) { ev.preventDefault(); search($("#q").value); });
  $("#sheet-close").addEventListener("click", function () { closeSheet(); highlightBuilding(null); });
  $("#sheet-print").addEventListener("click", function () { window.print(); });
  $("#print").addEventListener("click", function () { window.print(); });
  // the standalone 以房找人 map (GET /grids/{code}/map with the token: residents within scope), saved as a file
  $("#download-map").addEventListener("click", function () {
    var code = S.grid;
    if (!code) return;
    var btn = this;
    btn.disabled = true;
    GM.api("/grids/" + code + "/map", { raw: true }).then(function (r) { return r.blob(); }).then(function (blob) {
      var a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = code + "-以房找人图.html";
      document.body.appendChild(a);
      a.click();
      setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    }).catch(function (err) {
      GM.showError($("#msg"), err, "下载以房找人图", { 403: "该网格不在您的负责范围内" });
    }).then(function () { btn.disabled = !S.grid; });
  });
  $("#grid").addEventListener("change", function () { if (this.value) loadGrid(this.value); });
  $("#grid-go").addEventListener("click", function () {
    var c = $("#grid-code").value.trim();
    if (/^\d{15}$/.test(c)) loadGrid(c);
    else msg("warn", "网格编码是 15 位数字");
  });
  document.addEventListener("keydown", function (ev) { if (ev.key === "Escape" && !$("#sheet").hidden) closeSheet(); });
  // the printed map is another size: fit the grid into it before printing, and back after
  function refit() {
    if (!map || !S.info) return;
    map.invalidateSize();
    boundaryLayer.eachLayer(function (l) { map.fitBounds(l.getBounds(), { padding: [12, 12], maxZoom: 19, animate: false }); });
  }
  window.addEventListener("beforeprint", refit);
  window.addEventListener("afterprint", refit);

  function start(u) {
    S.user = u;
    clearGrid();
    if (!u) {
      $("#pick-card").hidden = true;
      msg("info", "请在上方输入访问令牌登录（网格员令牌由街道管理员发放）。");
      return;
    }
    $("#pick-card").hidden = false;
    var mine = u.role === "worker" ? u.scopes.filter(function (s) { return /^\d{15}$/.test(s); }) : [];
    $("#grid").innerHTML = "<option value=\"\">选择我的网格…</option>" +
      mine.map(function (c) { return "<option value=\"" + c + "\">" + c + "</option>"; }).join("");
    $("#grid").hidden = !mine.length;
    $("#grid-code").hidden = $("#grid-go").hidden = u.role === "worker";
    var want = hashParams();
    var code = want.grid || mine[0];
    if (want.building && !want.grid) {
      msg(null);
      openTable(want.building);
      return;
    }
    if (code) {
      $("#grid").value = mine.indexOf(code) >= 0 ? code : "";
      if (mine.indexOf(code) < 0 && !$("#grid-code").hidden) $("#grid-code").value = code;
      loadGrid(code).then(function () { if (want.building && S.grid) openTable(want.building); });
    } else {
      msg("info", "请输入要查看的 15 位网格编码。");
    }
    // grid names for the picker
    mine.forEach(function (c) {
      GM.api("/grids/" + c).then(function (g) {
        var o = $("#grid").querySelector("option[value=\"" + c + "\"]");
        if (o && g.name) o.textContent = g.name;
      }).catch(function () {});
    });
  }

  GM.loginBox($("#login"), start);
  window.gridmapWorker = {
    state: S, loadGrid: loadGrid, openTable: openTable,
    get markers() { return markersById; },
    get map() { return map; }
  };
})();
